--- moonport.native_docs: the doc blocks (stdlib/README.md) of the public
--- functions that have no Lua `function` line of their own to sit above:
--- those implemented in Swift (json, moonport, csv.read, ndjson.read,
--- http.redact, state.path, task.sleep, task.wait, ...), and the few that
--- Lua makes without a function line (http.get and the other methods made
--- by one loop, csv.write and ndjson.write made by moonport.records, the
--- alias cordial.job). `moonport types` and the REPL's `help()` read these
--- blocks. The functions below are empty stubs on local tables: loading this
--- file defines nothing anywhere else and returns {}.
local json, moonport, csv, ndjson, http, state, task, cordial = {}, {}, {}, {}, {}, {}, {}, {}

---------------------------------------------------------------------------
-- Types the stubs name
---------------------------------------------------------------------------

--- The error object every moonport function raises: a table
--- with a `__tostring` that gives "file:line: message". Catch it with pcall
--- and look at its fields.
---   local ok, err = pcall(clari.export, "forecast", params)
---   if not ok and err.kind == "rate_limited" then ... end
---@class moonport.Error
---@field kind "http"|"auth"|"rate_limited"|"timeout"|"network"|"job_failed"|"validation"|"usage"|"interrupted"|"runtime"  what went wrong
---@field message string        what happened, in words (secrets masked)
---@field vendor string|nil     the vendor it came from
---@field status integer|nil    the HTTP status
---@field code string|nil       the vendor's error code (or status word, for job_failed)
---@field retryable boolean|nil whether trying again later may work
---@field details any           the vendor's decoded error body, or other detail (job_failed: {failed = Jobs})
---@field where string|nil      "file:line: " of the script's line that called into moonport
local Error = {}

--- A running or finished task, made by task.spawn; give it to task.wait.
---@class task.Handle
local Handle = {}

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

--- A file being written atomically (moonport.file_writer). `<close>` writes
--- it when the block ends normally and drops it when the block ends by an error.
---@class moonport.FileWriter
---@field write fun(self: moonport.FileWriter, text: string)  appends text; anything but a string raises kind = "validation"
---@field close fun(self: moonport.FileWriter): integer  writes the file (fsynced, renamed over path); the bytes written
---@field abort fun(self: moonport.FileWriter)  drops what was written; path is left as it was
local FileWriter = {}

---------------------------------------------------------------------------
-- json
---------------------------------------------------------------------------

--- Decodes JSON text (strict RFC 8259) into Lua values: objects and arrays
--- become tables (arrays with keys 1..n, `n` unset), null becomes
--- json.null, numbers without a fraction or an exponent that fit in 64 bits
--- become integers, the others floats. The tables keep a mark, so that
--- json.encode writes them back as [] or {} as they were.
--- Raises kind = "validation" for text that is not JSON (a UTF-8 byte order
--- mark included), with `offset`, the 1-based byte where it goes wrong (the
--- message also gives the line and column).
---   local t = json.decode('{"ids": [1, 2], "next": null}')  -- t.ids[2] == 2, t.next == json.null
---@param text string  the JSON text
---@return any value  the decoded value
function json.decode(text) end

--- Encodes a Lua value as JSON text. Tables marked by json.array or
--- json.object (or decoded by json.decode) encode as [] or {}; an unmarked
--- table with keys 1..n encodes as an array, one with string keys as an
--- object, an empty one as {}. nil and json.null encode as null; integers
--- stay integers; floats are written as the shortest text that reads back
--- as the same number, with a "." or an exponent.
--- opts.pretty: indented by two spaces, one item a line; opts.sort_keys:
--- object keys in byte order (the same value always gives the same text).
--- Raises kind = "validation", with `path` ("$.items[3].name"), for a cycle,
--- NaN or an infinity, a key that is not a string in an object (or an
--- array with holes or mixed keys), a function or other value JSON cannot
--- hold, a string that is not UTF-8, or an unknown option.
---   json.encode({name = "x", ids = json.array{}}, {sort_keys = true})  --> '{"ids":[],"name":"x"}'
---@param value any  the value to encode
---@param opts? {pretty?: boolean, sort_keys?: boolean}
---@return string text  the JSON text
function json.encode(value, opts) end

--- Marks a table so that it encodes as a JSON array ([] when it is empty)
--- and returns it. A table with a metatable of its own keeps it.
--- Raises kind = "validation" when `t` is not a table.
---   body.ids = json.array(ids)
---@param t table  the table to mark
---@return table t  the same table
function json.array(t) end

--- Marks a table so that it encodes as a JSON object ({} when it is empty)
--- and returns it. A table with a metatable of its own keeps it.
--- Raises kind = "validation" when `t` is not a table.
---@param t table  the table to mark
---@return table t  the same table
function json.object(t) end

--- Reads a JSON file and decodes it (as json.decode), without making a Lua
--- string of the whole file.
--- Raises kind = "validation" when the file cannot be read or is not JSON
--- (with `file`, and `offset` for a decoding error).
---@param path string  the file to read
---@return any value  the decoded value
function json.read(path) end

--- Encodes a value (as json.encode) and writes it to `path`, with a newline
--- at the end, through a temporary file that is fsynced and renamed over
--- `path`: the file is never left half written.
--- Raises kind = "validation" as json.encode does, or when the file cannot
--- be written (with `file`).
---@param path string  the file to write
---@param value any    the value to encode
---@param opts? {pretty?: boolean, sort_keys?: boolean}
---@return integer bytes  the bytes written
function json.write(path, value, opts) end

--- JSON's null: the one value that json.decode gives for null and that
--- json.encode writes as null (nil cannot be kept in a table). A userdata;
--- tostring gives "json.null".
---   if row.email == json.null then ... end
---@type userdata
json.null = nil

---------------------------------------------------------------------------
-- moonport
---------------------------------------------------------------------------

--- Makes a moonport error object (it does not raise it: use
--- `error(moonport.error(...), 0)`). `fields` may set vendor, status, code,
--- retryable and details, and any other field, which is kept as it is.
--- `level` says whose line `where` names, as error() takes it (1, the
--- default: the caller of moonport.error; 2: its caller); moonport's own
--- stdlib lines are skipped.
--- Raises kind = "validation" for an unknown kind.
---   error(moonport.error("validation", "rows: the file is empty", {file = path}), 0)
---@param kind "http"|"auth"|"rate_limited"|"timeout"|"network"|"job_failed"|"validation"|"usage"|"interrupted"|"runtime"
---@param message string  what happened
---@param fields? table   more fields of the error object
---@param level? integer  whose position `where` names
---@return moonport.Error err  the error object
function moonport.error(kind, message, fields, level) end

--- Writes one line to stderr, with the time and the level; "debug" lines
--- show only with -v. Secrets seen so far are masked. The log module
--- (log.info("%d rows", n)) formats and calls this.
--- Raises kind = "validation" for an unknown level.
---@param level "debug"|"info"|"warn"|"error"
---@param text string  the line
function moonport.log(level, text) end

--- The wall clock: seconds since 1970-01-01 UTC, with a fraction.
---@return number seconds
function moonport.now() end

--- Shows `text` as the progress line at the bottom of a terminal (it is
--- rewritten in place; "" clears it). Does nothing when stderr is not a
--- terminal. Secrets seen so far are masked.
---@param text string  the progress text, or "" to clear the line
function moonport.progress(text) end

--- A duration for people, as the progress line writes it: "42 s",
--- "3 min 05 s", "1 h 02 min" (whole seconds, rounded down; below 0 is 0 s).
---   log.info("waited %s", moonport.duration(elapsed))
---@param seconds number  the duration
---@return string text
function moonport.duration(seconds) end

--- Opens `path` for writing text atomically: the pieces go to a temporary
--- file beside it (`PATH.tmp-PID-N`), and w:close() fsyncs it and renames it
--- over path, so path is either as it was or complete. w:abort(), an error
--- inside a `<close>` block, or the writer being collected removes the
--- temporary file; one that a killed run left is removed by the next write
--- of the same path. The same writer as csv.writer and ndjson.writer.
---   local w <close> = moonport.file_writer("out.json")
---   w:write(json.encode(value))
---   w:close()
--- Raises kind = "validation" (with `file`) when the file cannot be created.
---@param path string  the file to write
---@return moonport.FileWriter writer
function moonport.file_writer(path) end

--- The version of moonport (it is also in the User-Agent of every request).
---@type string
moonport.version = nil

--- Whether moonport runs with -v / --verbose (debug lines and HTTP exchanges shown).
---@type boolean
moonport.verbose = nil

--- Whether stderr is a terminal (then progress lines are shown).
---@type boolean
moonport.stderr_is_terminal = nil

---------------------------------------------------------------------------
-- csv
---------------------------------------------------------------------------

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

---------------------------------------------------------------------------
-- ndjson
---------------------------------------------------------------------------

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

---------------------------------------------------------------------------
-- http
---------------------------------------------------------------------------

--- The text with every secret value seen so far (auth values, secret
--- headers and query values sent, the secrets of the credentials profile)
--- replaced by ***.
---@param text string  any text (a body, a message)
---@return string text  the text, masked
function http.redact(text) end

--- Sends a GET request: http.request with method = "GET" and url = `url`
--- (opts: the other fields of http.request). Raises as http.request does,
--- and kind = "validation" when `opts` is not a table.
---   local items = http.get(url, {query = {page = 2}, auth = {bearer = token}}):json()
---@param url string  the URL
---@param opts? table  the other fields of http.request (query, headers, timeout, retry, stream_to, auth, raise, ...)
---@return http.Response res
function http.get(url, opts) end

--- Sends a POST request: http.request with method = "POST" and url = `url`
--- (opts: the body and the other fields of http.request). Raises as
--- http.request does, and kind = "validation" when `opts` is not a table.
---   http.post(url, {json = {name = "x"}})
---@param url string  the URL
---@param opts? table  the other fields of http.request (json, form, body, body_file, multipart, safe_to_repeat, ...)
---@return http.Response res
function http.post(url, opts) end

--- Sends a PUT request: http.request with method = "PUT" and url = `url`.
--- Raises as http.request does, and kind = "validation" when `opts` is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.put(url, opts) end

--- Sends a PATCH request: http.request with method = "PATCH" and url =
--- `url`. Raises as http.request does, and kind = "validation" when `opts`
--- is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.patch(url, opts) end

--- Sends a DELETE request: http.request with method = "DELETE" and url =
--- `url`. Raises as http.request does, and kind = "validation" when `opts`
--- is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.delete(url, opts) end

--- Sends a HEAD request (the status and headers, no body): http.request
--- with method = "HEAD" and url = `url`. Raises as http.request does, and
--- kind = "validation" when `opts` is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.head(url, opts) end

---------------------------------------------------------------------------
-- state
---------------------------------------------------------------------------

--- The path of the state database (--state PATH; .moonport/state.sqlite
--- under the current directory by default), or with --state postgres://...
--- the URL without its user and password. The file is created only when
--- state is first used.
---@return string path
function state.path() end

---------------------------------------------------------------------------
-- task
---------------------------------------------------------------------------

--- Waits for a task made by task.spawn and returns its function's results;
--- if it raised, its error is raised here. Other tasks run meanwhile. A
--- finished task can be waited for again.
--- Raises kind = "validation" when `handle` is not a task of task.spawn,
--- "usage" when a task waits for itself or the call cannot wait.
---   local h = task.spawn(fetch, url); ...; local body = task.wait(h)
---@param handle task.Handle  what task.spawn returned
---@return any ...  the task's results
function task.wait(handle) end

--- Sleeps for `seconds` (fractions allowed); other tasks run meanwhile.
--- Raises kind = "validation" for a number that is negative or not finite.
---@param seconds number  how long to sleep
function task.sleep(seconds) end

---------------------------------------------------------------------------
-- cordial
---------------------------------------------------------------------------

--- The Cordial job with this id as a Job, its status read now: the same
--- function as `cordial.job_by_id(id)` (see cordial.Client:job_by_id). Not
--- to be confused with `client:job(kind, id, ref, raw)`, the constructor
--- every vendor client has. A Job found this way has no destination, so
--- its download raises kind = "usage".
--- Raises kind = "validation" for an id that is not a non-empty string.
---@param id string  the job's id
---@return moonport.Job job
function cordial.job(id) end

return {}
