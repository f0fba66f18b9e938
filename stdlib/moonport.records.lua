--- Shared by the csv and ndjson modules: `write(path, list_or_iterator [, opts])`
--- over a format's native writer.
local records = {}

local function fill(w, items, state)
  for item in items, state do w:write(item) end
end

--- Errors point at the caller of write (level: its level), not at the stdlib.
local function rethrow(err, level)
  if type(err) == "table" and getmetatable(err) ~= nil
     and (err.where == nil or err.where == "" or tostring(err.where):find("^stdlib/")) then
    local info = debug.getinfo(level + 1, "Sl")
    if info and info.currentline and info.currentline > 0 then
      err.where = info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  error(err, 0)
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
      if not ok then rethrow(n, 2) end
      return n
    end
    local opened, writer = pcall(native.writer, path, opts)
    if not opened then rethrow(writer, 2) end
    local w <close> = writer
    local ok, err = pcall(fill, w, items, state)
    if not ok then rethrow(err, 2) end
    return w:close()
  end
end

return records
