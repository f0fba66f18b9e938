--- Shared by the csv and ndjson modules: the module itself, with
--- `write(path, list_or_iterator [, opts])` over a format's native writer; and what a download reports about the
--- file it wrote (its size, its rows).
local args = require "moonport.args"

local records = {}

local function fill(w, items, state)
  for item in items, state do w:write(item) end
end

--- The `write` function of a format whose native module has write(path, list, opts)
--- and writer(path, opts). A list is written by one native call; an iterator is
--- driven here, in Lua, so it may block and yield (an HTTP pager can feed it).
function records.write_function(native)
  return function(path, items, opts)
    -- write(path, fmt.read(other)): the reader came along as the iterator's
    -- state, not as options.
    local state
    if type(items) == "function" and opts ~= nil and type(opts) ~= "table" then state, opts = opts, nil end
    if type(items) ~= "function" then
      local ok, n = pcall(native.write, path, items, opts)
      if not ok then args.rethrow(n) end
      return n
    end
    local opened, writer = pcall(native.writer, path, opts)
    if not opened then args.rethrow(writer) end
    local w <close> = writer
    local ok, err = pcall(fill, w, items, state)
    if not ok then args.rethrow(err) end
    return w:close()
  end
end

--- The module a record format's scripts see (csv, ndjson): `read` and
--- `writer` as the native module has them, `write` made by write_function.
function records.module(native)
  return {
    read = native.read,
    writer = native.writer,
    write = records.write_function(native),
  }
end

--- Size of a file in bytes, or nil when it cannot be opened.
function records.file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

--- Data rows of a CSV file (the header row not counted): its records, of
--- any width, counted natively (csv.native.count with header = false),
--- without making a Lua value per row. Raises kind = "validation" (with
--- `file` and `line`) for a quoted field that is never closed, or a file
--- that cannot be read.
---@param path string  a CSV file (comma-separated)
---@return integer rows
function records.count_csv_rows(path)
  local ok, n = pcall(require("csv.native").count, path, {header = false})
  if not ok then args.rethrow(n) end
  return math.max(0, n - 1)
end

--- Lines of an NDJSON (or text) file that hold something besides white space
--- (space, tab, CR, VT, FF; blank lines not counted), counted natively
--- (ndjson.native.count) without reading them as JSON. Raises
--- kind = "validation" (with `file`) for a file that cannot be read.
---@param path string  the file
---@return integer lines
function records.count_lines(path)
  local ok, n = pcall(require("ndjson.native").count, path)
  if not ok then args.rethrow(n) end
  return n
end

return records
