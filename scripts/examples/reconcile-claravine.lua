-- Load this week's campaign taxonomy into a Claravine dataset in 1,000-row
-- batches, read every transaction back, and check that each row landed as
-- it was sent. The summary table of the steps goes to stderr; the
-- reconciliation report is the script's output. A rerun in the same week
-- with the same --state resumes: the batches already submitted are not sent
-- again (against the real API; under --sandbox every run starts a fresh
-- simulator, so give each sandbox run a fresh --state).
-- Run: moonport run --sandbox reconcile-claravine.lua [ROWS]
local claravine = require "claravine"
local workflow, batch, reconcile = require "workflow", require "batch", require "reconcile"
local dates, csv, task, moonport = require "dates", require "csv", require "task", require "moonport"

local dataset = "ds-campaigns"
local total = tonumber(arg[1] or "2500")
total = total and math.tointeger(total)
if not total or total < 1 then
  error(moonport.error("usage", "usage: reconcile-claravine.lua [ROWS] (ROWS a whole number >= 1, default 2500)"), 0)
end
local fields = {"campaign_id", "campaign_name", "channel", "region", "start_date", "budget"}
local week = dates.format(dates.start_of(dates.now(), "week"), "day")
local load_name = "Campaign taxonomy " .. week
local channels, regions = {"email", "search", "social", "display"}, {"EMEA", "NA", "APAC"}

workflow.run("campaigns to claravine", function(wf)
  -- The rows, as an upstream system would hand them over: a CSV file.
  local file = wf:step("generate", function()
    local path = "campaigns-" .. week .. ".csv"
    local i = 0
    local n = csv.write(path, function()
      i = i + 1
      if i > total then return nil end
      return {
        campaign_id = string.format("cmp-%s-%05d", week, i),
        campaign_name = "Campaign " .. i,
        channel = channels[i % #channels + 1],
        region = regions[i % #regions + 1],
        start_date = dates.format(dates.add(week, i % 7, "day"), "day"),
        budget = string.format("%.2f", 100 + (i * 37) % 5000 / 4),
      }
    end, {header = fields})
    wf:count("rows", n)
    return path
  end)

  -- One transaction per 1,000 rows, three in flight; the file is streamed.
  local jobs = wf:step("submit", function()
    local parts = batch.run(file, claravine.max_rows, function(chunk, i)
      local part = claravine.submit("data", dataset, {name = string.format("%s batch %d", load_name, i),
        fields = fields, rows = chunk})
      wf:count("rows sent", #chunk)
      return part[1]
    end, {concurrency = 3})
    wf:count("transactions", #parts)
    return parts
  end, {once = "claravine " .. dataset .. " " .. load_name .. " " .. total})

  wf:step("wait", function()
    claravine.poll(jobs, {interval = 1, timeout = 1800})
  end)

  local reported = wf:step("read back", function()
    local rows = {}
    local answers = task.map(jobs, function(job) return claravine.data(dataset, job.id) end, {concurrency = 4})
    for _, data in ipairs(answers) do
      for row in batch.items(data) do rows[#rows + 1] = row end
    end
    wf:count("rows read", #rows)
    return rows
  end)

  wf:step("reconcile", function()
    local result = reconcile.compare(file, reported, {key = "campaign_id", fields = fields})
    io.write(result:report())
    wf:count("matched", result.matched)
    result:check()
  end)
end)
