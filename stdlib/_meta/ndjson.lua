---@meta ndjson

-- The doc blocks of ndjson: the reader and writer written in Swift
-- (Sources/MoonportCore/Records/), and ndjson.write, which stdlib/ndjson.lua
-- makes with moonport.records (no function line to sit above).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local ndjson = {}

--- The reader that ndjson.read returns with its iterator (the 2nd and 4th
--- values): the file is closed when the for loop ends, also by break or
--- error, or by reader:close().
---@class ndjson.Reader
---@field close fun(self: ndjson.Reader)  closes the file (the iterator then raises kind = "usage")
local NDJSONReader = {}

--- An NDJSON file being written (ndjson.writer): values go to a temporary
--- file that becomes `path` at w:close(), or at the end of a
--- `local w <close> = ...` block that ends without an error. On an error,
--- w:abort(), or a writer collected without being closed, the temporary
--- file is removed and `path` is left as it was.
---@class ndjson.Writer
---@field write fun(self: ndjson.Writer, value: any)  writes one value as one line of JSON; nil raises kind = "validation" (write json.null for a JSON null)
---@field close fun(self: ndjson.Writer): integer  writes the file (fsynced, renamed over path); the number of lines written
---@field abort fun(self: ndjson.Writer)  drops what was written; path is left as it was
local NDJSONWriter = {}

--- Reads an NDJSON file (one JSON value a line), streaming: each step
--- gives the next value, decoded as json.decode does, and its line number.
--- Blank lines are skipped; CRLF and a UTF-8 byte order mark are accepted;
--- a line may be of any length. The file is closed when the loop ends, also
--- by break or error.
---   for value, line in ndjson.read("in.ndjson") do ... end
--- Raises kind = "validation" (with `file`, `line` and `offset`) when the
--- file cannot be read or a line is not JSON.
---@param path string  the file to read
---@return fun():any iterator  each call: the next value (nil at the end) and its line number
---@return ndjson.Reader reader
---@return nil
---@return ndjson.Reader closing  closes the file when a generic for ends
function ndjson.read(path) end

--- Opens an NDJSON file for writing value by value (one compact JSON text
--- a line, LF line ends); the file appears at `path` only once the writer
--- is closed (w:close(), or the end of a `local w <close> = ...` block
--- without an error).
---   local w <close> = ndjson.writer("out.ndjson"); w:write({id = 1})
--- Raises kind = "validation" for a bad option or when the file cannot be created.
---@param path string  the file to write
---@param opts? {sort_keys?: boolean}
---@return ndjson.Writer writer
function ndjson.writer(path, opts) end

--- Writes values to an NDJSON file, one JSON text a line, and returns how
--- many were written; `path` is replaced only once all are written.
--- `items` is a list, or an iterator function that is driven in Lua, so it
--- may block and yield (an HTTP pager can feed ndjson.write directly).
--- Raises kind = "validation" for a bad option, a table that is not a list,
--- or a value that cannot be encoded (nil included: write json.null), with
--- `file` and `item`; the file is then left as it was.
---   ndjson.write("goals.ndjson", quantive.goals.list{})
---@param path string  the file to write
---@param items any[]|fun():any  the values: a list, or an iterator returning the next value (nil at the end)
---@param opts? {sort_keys?: boolean}
---@return integer lines  the lines written
function ndjson.write(path, items, opts) end

return ndjson
