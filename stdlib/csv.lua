--- csv: read and write CSV files (RFC 4180), streaming: memory does not grow
--- with the file.
---
---   for row, line in csv.read("in.csv") do ... end        -- rows keyed by the header
---   for fields in csv.read("in.csv", {header=false}) do ... end
---   csv.write("out.csv", rows [, {header={"id","name"}}]) -- a list or an iterator function
---   local w <close> = csv.writer("out.csv", opts); w:write(row) ...  -- committed at the end of the block
---
--- Reading and writing are native (the csv.native module). An iterator given
--- to csv.write is driven here, in Lua, so it may block and yield (an HTTP
--- pager can feed csv.write directly); a list is written by one native call.
local native = require "csv.native"

local csv = {
  read = native.read,
  writer = native.writer,
}

local function fill(w, rows, state)
  for row in rows, state do w:write(row) end
end

--- Errors of w:write point at the caller of csv.write (not at this file).
local function rethrow(err, level)
  if type(err) == "table" and getmetatable(err) ~= nil
     and (err.where == nil or err.where == "" or tostring(err.where):find("^stdlib/csv%.lua:")) then
    local info = debug.getinfo(level + 1, "Sl")
    if info and info.currentline and info.currentline > 0 then
      err.where = info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  error(err, 0)
end

--- csv.write(path, rows [, opts]) -> number of rows written.
--- rows: a list of rows, or a function returning the next row (nil at the end).
function csv.write(path, rows, opts)
  -- csv.write(path, csv.read(other)): the reader came along as the
  -- iterator's state, not as options.
  local state
  if type(rows) == "function" and opts ~= nil and type(opts) ~= "table" then state, opts = opts, nil end
  if type(rows) ~= "function" then
    local ok, n = pcall(native.write, path, rows, opts)
    if not ok then rethrow(n, 2) end
    return n
  end
  local opened, writer = pcall(native.writer, path, opts)
  if not opened then rethrow(writer, 2) end
  local w <close> = writer
  local ok, err = pcall(fill, w, rows, state)
  if not ok then rethrow(err, 2) end
  return w:close()
end

return csv
