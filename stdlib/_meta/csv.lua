---@meta csv

-- The doc blocks of csv: the reader and writer written in Swift
-- (Sources/MoonportCore/Records/), and csv.write, which stdlib/csv.lua makes
-- with moonport.records.module (no function line to sit above).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local csv = {}

--- The reader that csv.read returns with its iterator (the 2nd and 4th
--- values): the file is closed when the for loop ends, also by break or
--- error, or by reader:close().
---@class csv.Reader
---@field close fun(self: csv.Reader)  closes the file (the iterator then raises kind = "usage")
---@field header fun(self: csv.Reader): string[]|nil  the column names (nil when read with header = false)
local CSVReader = {}

--- A CSV file being written (csv.writer): rows go to a temporary file that
--- becomes `path` at w:close(), or at the end of a `local w <close> = ...`
--- block that ends without an error. On an error, w:abort(), or a writer
--- collected without being closed, the temporary file is removed and
--- `path` is left as it was.
---@class csv.Writer
---@field write fun(self: csv.Writer, row: table)  writes a row: a list of fields, or a record keyed by column name; raises kind = "validation" for a row that does not fit (the writer stays usable)
---@field close fun(self: csv.Writer): integer  writes the file (fsynced, renamed over path); the number of rows written (the header not counted)
---@field abort fun(self: csv.Writer)  drops what was written; path is left as it was
local CSVWriter = {}

--- Reads a CSV file (RFC 4180) row by row, streaming: memory does not grow
--- with the file. With header = true (the default) the first record names
--- the columns and each row is a table keyed by them; with header = false
--- each row is a list of fields. Every field is a string ("" when empty);
--- empty lines are skipped; a UTF-8 byte order mark is skipped. Each step
--- gives the row and the line it starts on. The file is closed when the
--- loop ends, also by break or error.
---   for row, line in csv.read("in.csv") do print(line, row.email) end
---   for fields in csv.read("in.csv", {header = false, separator = ";"}) do ... end
--- Raises kind = "validation" (with `file` and `line`) when the file cannot
--- be read, a header name is empty or repeated, a row has more fields than
--- the header (or fewer, unless strict = false: the missing ones are nil),
--- or a quoted field is never closed; and for a bad option.
---@param path string  the file to read
---@param opts? {header?: boolean, separator?: string, strict?: boolean}  separator: one byte ("," by default, ";", "\t", "|")
---@return fun():table|nil iterator  each call: the next row (nil at the end) and its line number
---@return csv.Reader reader
---@return nil
---@return csv.Reader closing  closes the file when a generic for ends
function csv.read(path, opts) end

--- Opens a CSV file for writing row by row; the file appears at `path`
--- only once the writer is closed (w:close(), or the end of a
--- `local w <close> = ...` block without an error). Rows are lists of
--- fields or records keyed by column; the columns are opts.header, or the
--- sorted keys of the first record. Fields are strings, numbers, booleans,
--- nil or json.null (nil and json.null are written empty), quoted only
--- where needed.
---   local w <close> = csv.writer("out.csv", {header = {"id", "name"}})
---   for _, r in ipairs(records) do w:write(r) end
--- opts.crlf: CRLF line ends; opts.extra = "ignore" leaves out the fields
--- of a record that are not columns (by default they raise).
--- Raises kind = "validation" for a bad option or when the file cannot be created.
---@param path string  the file to write
---@param opts? {header?: string[], separator?: string, crlf?: boolean, extra?: "error"|"ignore"}
---@return csv.Writer writer
function csv.writer(path, opts) end

--- Writes rows to a CSV file, as csv.writer does, and returns how many
--- were written; `path` is replaced only once all are written. `items` is a
--- list, or an iterator function that is driven in Lua, so it may block
--- and yield (an HTTP pager can feed csv.write directly): csv.write(out,
--- csv.read(other)) copies a file.
--- Raises kind = "validation" for a bad option, a table that is not a list
--- (a single record: wrap it in {record}), or a row that does not fit (with
--- `file` and `row`); the file is then left as it was.
---   csv.write("out.csv", rows, {header = {"id", "email"}})
---@param path string  the file to write
---@param items table[]|fun():table|nil  the rows: a list, or an iterator returning the next row (nil at the end)
---@param opts? {header?: string[], separator?: string, crlf?: boolean, extra?: "error"|"ignore"}
---@return integer rows  the rows written (the header not counted)
function csv.write(path, items, opts) end

return csv
