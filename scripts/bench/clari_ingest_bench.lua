-- Sends the records of an NDJSON file to Clari's bulk ingestion
-- (clari.submit "ingest_bulk", data.json files of at most 10 MB, one Job
-- each), then waits until every Job has ended. Run by
-- scripts/bench/clari_ingest.py against a standalone `moonport sim`.
--
--   moonport run scripts/bench/clari_ingest_bench.lua PATH
--
-- Prints "RESULT files=N records=N submit_s=S wait_s=S".
local clari = require "clari"
local moonport = require "moonport"

local path = assert(arg[1], "usage: clari_ingest_bench.lua PATH")
local t0 = moonport.now()
local jobs = clari.submit("ingest_bulk", "opportunity", path, {source_entity = "crm"})
local t1 = moonport.now()
clari.poll(jobs, {interval = 0.2})
local t2 = moonport.now()
local records = 0
for _, job in ipairs(jobs) do
  assert(job.vendor_status == "SUCCESS", "job " .. job.id .. " ended " .. tostring(job.vendor_status))
  records = records + job.ref.records
end
print(string.format("RESULT files=%d records=%d submit_s=%.3f wait_s=%.3f", #jobs, records, t1 - t0, t2 - t1))
