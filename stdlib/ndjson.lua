--- ndjson: one JSON value per line (newline-delimited JSON), streaming.
---
---   for value, line in ndjson.read("in.ndjson") do ... end
---   ndjson.write("out.ndjson", list_or_iterator [, {sort_keys=true}])
---   local w <close> = ndjson.writer("out.ndjson"); w:write(value) ...  -- committed at the end of the block
---
--- Values are decoded and encoded by the json module (json.null for null).
--- An iterator given to ndjson.write is driven here, in Lua, so it may block
--- and yield; a list is written by one native call.
local native = require "ndjson.native"

local ndjson = {
  read = native.read,
  writer = native.writer,
}

local function fill(w, values, state)
  for value in values, state do w:write(value) end
end

local function rethrow(err, level)
  if type(err) == "table" and getmetatable(err) ~= nil
     and (err.where == nil or err.where == "" or tostring(err.where):find("^stdlib/ndjson%.lua:")) then
    local info = debug.getinfo(level + 1, "Sl")
    if info and info.currentline and info.currentline > 0 then
      err.where = info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  error(err, 0)
end

--- ndjson.write(path, values [, opts]) -> number of lines written.
--- values: a list, or a function returning the next value (nil at the end).
function ndjson.write(path, values, opts)
  -- ndjson.write(path, ndjson.read(other)): the reader came along as the
  -- iterator's state, not as options.
  local state
  if type(values) == "function" and opts ~= nil and type(opts) ~= "table" then state, opts = opts, nil end
  if type(values) ~= "function" then
    local ok, n = pcall(native.write, path, values, opts)
    if not ok then rethrow(n, 2) end
    return n
  end
  local opened, writer = pcall(native.writer, path, opts)
  if not opened then rethrow(writer, 2) end
  local w <close> = writer
  local ok, err = pcall(fill, w, values, state)
  if not ok then rethrow(err, 2) end
  return w:close()
end

return ndjson
