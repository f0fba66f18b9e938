-- Submits ROWS generated rows to Claravine's ds-campaigns in 1,000-row parts,
-- then waits until every transaction is Complete. Run by
-- scripts/bench/claravine.py against a standalone `moonport sim`.
--
--   moonport run scripts/bench/claravine_bench.lua map ROWS CONCURRENCY
--       task.map over the parts, concurrency CONCURRENCY: each task builds
--       its 1,000 rows and submits them (one claravine.submit per part)
--   moonport run scripts/bench/claravine_bench.lua csv PATH CONCURRENCY
--       one claravine.submit of a CSV file (streamed), CONCURRENCY parts
--       in flight
--
--   moonport run scripts/bench/claravine_bench.lua rows ROWS
--       only builds the rows of the parts (nothing is sent): the script's
--       own share of the task.map run; prints "RESULT rows=N cpu_s=S"
--
-- Prints "RESULT parts=N rows=N submit_s=S wait_s=S".
local claravine = require "claravine"
local moonport, task = require "moonport", require "task"

local mode, source, concurrency = arg[1], arg[2], tonumber(arg[3]) or 16
local DATASET = "ds-campaigns"
local FIELDS = {"campaign_id", "campaign_name", "channel", "region", "start_date", "budget"}
local CHANNELS = {"search", "social", "display", "email", "video"}
local REGIONS = {"NA", "EMEA", "APAC", "LATAM"}

-- Row i, the same as scripts/bench/claravine.py's row(i).
local function row(i)
  return {
    string.format("C%07d", i), "Campaign " .. i, CHANNELS[i % 5 + 1], REGIONS[i % 4 + 1],
    string.format("2024-%02d-%02d", i % 12 + 1, i % 28 + 1), tostring((i * 37) % 100000),
  }
end

if mode == "rows" then
  -- The script's own work alone: the rows of every part built as task.map's
  -- tasks build them, and nothing sent (CPU time of the building).
  local n = math.tointeger(tonumber(source)) or error("ROWS must be an integer")
  local c0, built = os.clock(), 0
  for p = 1, (n + 999) // 1000 do
    local part = {}
    for i = (p - 1) * 1000 + 1, math.min(p * 1000, n) do part[#part + 1] = row(i) end
    built = built + #part
  end
  print(string.format("RESULT rows=%d cpu_s=%.3f", built, os.clock() - c0))
  return
end

local t0 = moonport.now()
local jobs, rows
if mode == "map" then
  rows = math.tointeger(tonumber(source)) or error("ROWS must be an integer")
  local parts = {}
  for p = 1, (rows + 999) // 1000 do parts[p] = p end
  jobs = task.map(parts, function(p)
    local part = {}
    for i = (p - 1) * 1000 + 1, math.min(p * 1000, rows) do part[#part + 1] = row(i) end
    return claravine.submit("data", DATASET, {name = "bench part " .. p, fields = FIELDS, rows = part})[1]
  end, {concurrency = concurrency})
elseif mode == "csv" then
  jobs = claravine.submit("data", DATASET, {name = "bench csv", fields = FIELDS, rows = source},
                          {concurrency = concurrency})
  rows = 0
  for _, j in ipairs(jobs) do rows = rows + j.ref.rows end
else
  error("usage: claravine_bench.lua map ROWS CONCURRENCY | csv PATH CONCURRENCY")
end
local t1 = moonport.now()
claravine.poll(jobs, {interval = 0.2, quiet = true})
local t2 = moonport.now()
for _, j in ipairs(jobs) do
  assert(j.status == "done", j.id .. " is " .. tostring(j.status))
end
print(string.format("RESULT parts=%d rows=%d submit_s=%.3f wait_s=%.3f", #jobs, rows, t1 - t0, t2 - t1))
