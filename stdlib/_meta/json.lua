---@meta json

-- The doc blocks of json, written in Swift (Sources/MoonportCore/JSON/).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local json = {}

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

return json
