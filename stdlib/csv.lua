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
local records = require "moonport.records"

-- csv.read and csv.writer are native; csv.write(path, rows [, opts]) ->
-- number of rows written (rows: a list, or a function returning the next
-- row, nil at the end) is made by moonport.records. Their doc blocks are in
-- _meta/csv.lua.
return records.module(require "csv.native")
