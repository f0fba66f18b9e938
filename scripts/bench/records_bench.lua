-- csv / ndjson streaming benchmark, for moonport and for stock lua5.4:
--
--   moonport run scripts/bench/records_bench.lua moonport FORMAT MODE FILE [OUT]
--   lua5.4       scripts/bench/records_bench.lua lua      FORMAT MODE FILE [OUT]
--
-- FORMAT: csv | ndjson. MODE: "read" (iterate every row/value), "copy" (read
-- and write every row to OUT, streaming), "noop" (load the modules only: the
-- memory baseline). The "lua" implementation is the plain reference: io.lines
-- with a pattern split on "," for CSV (it does not handle quotes: a lower
-- bound of the work), lua-cjson per line for NDJSON. Prints one line
-- "RESULT rows=N seconds=S" that scripts/bench/records.py reads; seconds is
-- os.clock() (the process's CPU time).
local impl, format, mode, path, out = arg[1], arg[2], arg[3], arg[4], arg[5]
assert(impl and format and mode and path, "usage: records_bench.lua IMPL FORMAT MODE FILE [OUT]")
local clock = os.clock

local rows = 0
local t0

if impl == "moonport" then
  local csv, ndjson = require "csv", require "ndjson"
  if mode == "noop" then
    -- nothing
  elseif format == "csv" then
    t0 = clock()
    if mode == "read" then
      for _ in csv.read(path) do rows = rows + 1 end
    else
      local it, reader = csv.read(path)
      rows = csv.write(out, it, {header = reader:header()})
    end
  else
    t0 = clock()
    if mode == "read" then
      for _ in ndjson.read(path) do rows = rows + 1 end
    else
      rows = ndjson.write(out, (ndjson.read(path)))
    end
  end
else
  local cjson = format == "ndjson" and require "cjson" or nil
  if mode == "noop" then
    -- nothing
  elseif format == "csv" then
    t0 = clock()
    local lines = io.lines(path)
    local names = {}
    for name in (lines() .. ","):gmatch("([^,]*),") do names[#names + 1] = name end
    local f
    if mode == "copy" then
      f = assert(io.open(out, "wb"))
      f:setvbuf("full", 65536)
      f:write(table.concat(names, ","), "\n")
    end
    local quote_needed = '[,"\r\n]'
    for line in lines do
      local row, i = {}, 0
      for field in (line .. ","):gmatch("([^,]*),") do
        i = i + 1
        row[names[i] or i] = field
      end
      rows = rows + 1
      if f then
        local fields = {}
        for k = 1, #names do
          local v = row[names[k]] or ""
          if v:find(quote_needed) then v = '"' .. v:gsub('"', '""') .. '"' end
          fields[k] = v
        end
        f:write(table.concat(fields, ","), "\n")
      end
    end
    if f then f:close() end
  else
    t0 = clock()
    local decode, encode = cjson.decode, cjson.encode
    local f
    if mode == "copy" then
      f = assert(io.open(out, "wb"))
      f:setvbuf("full", 65536)
    end
    for line in io.lines(path) do
      if line:find("%S") then
        local v = decode(line)
        rows = rows + 1
        if f then f:write(encode(v), "\n") end
      end
    end
    if f then f:close() end
  end
end

print(string.format("RESULT rows=%d seconds=%.6f", rows, t0 and clock() - t0 or 0))
