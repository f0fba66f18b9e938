--- ndjson: one JSON value per line (newline-delimited JSON), streaming.
---
---   for value, line in ndjson.read("in.ndjson") do ... end
---   ndjson.write("out.ndjson", list_or_iterator [, {sort_keys=true}])
---   local w <close> = ndjson.writer("out.ndjson"); w:write(value) ...  -- committed at the end of the block
---
--- Values are decoded and encoded by the json module (json.null for null).
--- An iterator given to ndjson.write is driven here, in Lua, so it may block
--- and yield; a list is written by one native call.
local records = require "moonport.records"

-- ndjson.read and ndjson.writer are native; ndjson.write(path, values [,
-- opts]) -> number of lines written (values: a list, or a function
-- returning the next value, nil at the end) is made by moonport.records.
-- Their doc blocks are in _meta/ndjson.lua.
return records.module(require "ndjson.native")
