-- Export a Clari forecast as CSV, wait for the job, download the file and
-- check it: the export / poll / download cycle, written with the `http`
-- module against Clari's API (the `clari` binding will do the same in one
-- line each).
--
--   moonport run --sandbox scripts/examples/sandbox-forecast-export.lua [OUT.csv] [FORECAST_ID]
--
-- Under --sandbox the built-in simulator answers and CLARI_BASE_URL and
-- CLARI_API_KEY point at it; against the real Clari, set them yourself.
local http = require "http"
local csv = require "csv"
local log = require "log"
local task = require "task"

local out = arg[1] or "forecast.csv"
local forecast = arg[2] or "net_new_arr"

local base = os.getenv("CLARI_BASE_URL") or "https://api.clari.com"
local key = os.getenv("CLARI_API_KEY")
if not key then error("set CLARI_API_KEY (or run with --sandbox)", 0) end
local auth = {header = "apikey", value = key}

-- 1. Start the export.
local started = http.post(base .. "/v4/export/forecast/" .. forecast, {auth = auth, json = {
  timePeriod = "2024_Q1",
  typesToExport = {"forecast", "quota", "forecast_updated"},
  currency = "USD",
  schedule = "NONE",
  includeHistorical = false,
  exportFormat = "CSV",
}}):json()
local id = started.jobId
log.info("export job %s started for forecast %s", id, forecast)

-- 2. Poll until the job ends: 1 s, then backing off to 10 s.
local job, wait = nil, 1
repeat
  task.sleep(wait)
  wait = math.min(wait * 1.5, 10)
  local body = http.get(base .. "/v4/export/jobs/" .. id, {auth = auth}):json()
  job = body.job or body  -- public clients see it wrapped, the spec shows it flat
  log.info("job %s: %s", id, job.status)
until job.status ~= "SCHEDULED" and job.status ~= "STARTED"
if job.status ~= "DONE" then error("export job " .. id .. " ended " .. job.status, 0) end

-- 3. Download the file (temporary file, fsync, rename: never a half file).
local res = http.get(base .. "/v4/export/jobs/" .. id .. "/results", {auth = auth, stream_to = out})

-- 4. Check it: every row has the header's fields, and sum the amounts.
local rows, total = 0, 0
for row in csv.read(out) do
  rows = rows + 1
  total = total + (tonumber(row.amount) or 0)
end
assert(rows > 0, "the export has no rows")
print(string.format("%s: %d bytes, %d rows, total amount %.2f", out, res.bytes, rows, total))
