-- The crash test's workflow (reliability.py crash): export a 20,000-row Clari
-- forecast, load it into Claravine in 20 parts, 4 at a time, and wait until
-- every part landed. Both creating steps are inside state.once, so a run
-- killed at any moment and started again resumes: no part is sent twice.
local clari, claravine = require "clari", require "claravine"
local state, csv = require "state", require "csv"

local job = state.once("crash-export", function()
  return clari.export("forecast", {forecast_id = "sim-rows-20000", time_period = "2024_Q1", format = "csv"})
end)
job:wait({interval = 0.2})
job:download("forecast.csv")

local parts = state.once("crash-load", function()
  return claravine.submit("data", "ds-forecasts", {name = "Crash test forecast", rows = "forecast.csv"}, {concurrency = 4})
end)
claravine.poll(parts, {interval = 0.2})
local rows = 0
for _, p in ipairs(parts) do rows = rows + p.ref.rows end
print(string.format("%d parts, %d rows landed", #parts, rows))
