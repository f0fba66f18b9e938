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
local records = require "moonport.records"

local csv = {
  read = native.read,
  writer = native.writer,
}

-- csv.write(path, rows [, opts]) -> number of rows written (rows: a list, or
-- a function returning the next row, nil at the end). It has no function
-- line here: its doc block is in moonport.native_docs.lua, with csv.read's.
csv.write = records.write_function(native)

return csv
