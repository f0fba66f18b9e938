-- clari against the simulator: every function, error body and status word.
local t = require "testing"
local tmp = t.tmp
local clari = require "clari"
local json = require "json"

local function requests() return t.sim_stats().requests end

t.test("status words map to Job statuses", function()
  local want = {SCHEDULED = "queued", STARTED = "running", DONE = "done", FAILED = "failed", CANCELLED = "cancelled",
    ABORTED = "cancelled", QUEUED = "queued", IN_PROGRESS = "running", SUCCESS = "done", VALIDATION_FAILED = "failed"}
  for word, status in pairs(want) do t.equal(clari.statuses[word], status, word) end
end)

t.test("forecast export as CSV: export, poll, download with rows counted", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv",
    types = {"forecast", "quota"}, currency = "USD", include_historical = false, schedule = "none"})
  t.equal(job.vendor, "clari"); t.equal(job.kind, "forecast")
  clari.poll(job, {interval = 0.1})
  t.equal(job.status, "done"); t.equal(job.vendor_status, "DONE")
  t.equal(type(job.raw), "table")
  local r = clari.download(job, tmp("f.csv"))
  t.equal(r.path, tmp("f.csv"))
  t.equal(r.bytes > 0, true)
  local lines = 0
  for _ in io.lines(r.path) do lines = lines + 1 end
  t.equal(r.rows, lines - 1)
end)

t.test("forecast export as JSON: job:result() decodes it", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q2"})
  job:wait({interval = 0.1})
  local result = job:result()
  t.equal(type(result), "table")
  t.equal(type(result[1]), "table", "header row")
  local r = job:download(tmp("f.json"))
  t.equal(r.rows, #result - 1)
end)

t.test("activity and audit exports", function()
  local a = clari.export("activity", {activity_types = {"MEETING", "EMAIL_SENT"}, start_date = "2024-01-01", end_date = "2024-03-31"})
  local b = clari.export("audit_events", {date_from = "2024-01-01", session_type = "WEB"})
  clari.poll({a, b}, {interval = 0.1})
  t.equal(a.status, "done"); t.equal(b.status, "done")
  local ra = a:download(tmp("a.json"))
  t.equal(type(ra.rows), "number")
  t.equal(type(b:result().items), "table")
end)

t.test("arguments are checked before anything is sent", function()
  local n = requests()
  local cases = {
    {"nope", {}}, {"forecast", {time_period = "2024_Q1"}}, {"forecast", {forecast_id = "x", time_period = "Q1 2024"}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", format = "xml"}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", types = {"bogus"}}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", typo = 1}},
    {"activity", {start_date = "2024-01-01"}}, {"activity", {start_date = "a", end_date = "b", activity_types = {"CALL"}}},
    -- Clari needs at least one activity type.
    {"activity", {start_date = "2024-01-01", end_date = "2024-03-31"}},
    {"activity", {start_date = "2024-01-01", end_date = "2024-03-31", activity_types = {}}},
    {"audit_events", {session_type = "DESKTOP"}},
  }
  for i, c in ipairs(cases) do
    local e = t.raises(clari.export, c[1], c[2])
    t.equal(e.kind, "validation", "case " .. i)
    t.equal(e.vendor, "clari", "case " .. i)
  end
  t.equal(t.raises(clari.submit, "ingest", "bad entity!", {}).kind, "validation")
  -- Ingestion requests go one after another (isLastBatch must come last): no concurrency option.
  t.contains(t.raises(clari.submit, "ingest", "opportunity", {}, {concurrency = 4}).message, "concurrency")
  t.equal(t.raises(clari.opportunities, "x").kind, "validation")
  t.equal(t.raises(clari.picklist_add, "opportunity", "stage", "list", {"A"}).kind, "validation")
  t.equal(requests(), n, "requests sent")
end)

t.test("export error body {code, message} becomes the error object", function()
  local e = t.raises(clari.export, "forecast", {forecast_id = "no_such_forecast", time_period = "2024_Q1"})
  t.equal(e.kind, "http"); t.equal(e.status, 404); t.equal(e.code, "forecast_not_found")
  t.equal(e.vendor, "clari")
  t.equal(e.details.code, "forecast_not_found")
end)

t.test("a failed export raises job_failed with the vendor's message", function()
  local job = clari.export("forecast", {forecast_id = "sim-fail", time_period = "2024_Q1"})
  local e = t.raises(job.wait, job, {interval = 0.1})
  t.equal(e.kind, "job_failed")
  t.equal(job.status, "failed"); t.equal(job.vendor_status, "FAILED")
  t.contains(e.message, tostring(job.id))
  local d = t.raises(job.download, job, tmp("never.csv"))
  t.equal(d.kind, "usage")
end)

t.test("a wrong API key raises auth with the status, never the key", function()
  local c = clari.client{api_key = "wrong-key-abc123"}
  local e = t.raises(c.limits, c)
  t.equal(e.kind, "auth"); t.equal(e.status, 401)
  t.contains(e.message, "Invalid authentication credentials")
  t.contains(e.message, "CLARI_API_KEY")
  t.equal(tostring(e):find("wrong-key-abc123", 1, true), nil)
end)

t.test("jobs, limits, cancel", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2022_Q1"})
  local l = clari.limits()
  t.equal(type(l.concurrentLimit), "number")
  local found = false
  for _, id in ipairs(l.submittedJobIds) do if id == job.id then found = true end end
  t.equal(found, true, "submitted job listed")
  local list = clari.jobs()
  t.equal(getmetatable(list[1]), getmetatable(job))
  clari.cancel(job)
  t.equal(job.status, "cancelled"); t.equal(job.vendor_status, "CANCELLED")
  -- Cancelling a finished job: 400 from Clari, as an http error with its code.
  local done = clari.export("forecast", {forecast_id = "net_new", time_period = "2022_Q2"})
  done:wait({interval = 0.1})
  local e = t.raises(done.cancel, done)
  t.equal(e.status, 400); t.equal(e.code, "invalid_job_state")
end)

t.test("audit_events iterates over every page; audit errors {errors=[...]} are read", function()
  local n = 0
  for event in clari.audit_events{date_from = "2020-01-01"} do n = n + 1; t.equal(type(event), "table") end
  t.equal(n > 100, true, "more than one page")
  local e = t.raises(function() for _ in clari.audit_events{date_from = "not a date"} do end end)
  t.equal(e.status, 400); t.equal(e.code, "invalid_parameter")
end)

t.test("opportunities are fetched 100 ids a request", function()
  local ids = {}
  for i = 1, 250 do ids[i] = string.format("006%012d", i) end
  local before = t.sim_stats().vendorRequests
  local list = clari.opportunities(ids)
  local after = t.sim_stats().vendorRequests
  t.equal(type(list), "table")
  t.equal((after.clari or 0) - (before.clari or 0), 3, "requests for 250 ids")
end)

t.test("ingest splits into requests of at most 100 records and reads ingestion errors", function()
  local records = {}
  for i = 1, 250 do records[i] = {id = "r" .. i, createdAt = 1000, updatedAt = 2000} end
  local before = t.sim_stats()
  local out = clari.submit("ingest", "opportunity", {{sourceEntity = "crm", records = records}}, {mode = "incremental", last_batch = true})
  t.equal(next(out), nil)
  local after = t.sim_stats()
  local function counter(s, k) return (s.created.clari or {})[k] or 0 end
  t.equal(counter(after, "ingest_requests") - counter(before, "ingest_requests"), 3)
  local e = t.raises(clari.submit, "ingest", "opportunity", {{sourceEntity = "crm", records = {{id = "x", createdAt = 5, updatedAt = 1}}}})
  t.equal(e.status, 400); t.equal(e.code, "INVALID_RECORD")
  t.contains(e.message, "updatedAt")
end)

t.test("ingest_bulk sends data.json parts and returns Jobs that succeed or fail validation", function()
  local path = tmp("records.ndjson")
  local f = assert(io.open(path, "w"))
  for i = 1, 50 do f:write(json.encode({id = "b" .. i, createdAt = 1, updatedAt = 2}), "\n") end
  f:close()
  local jobs = clari.submit("ingest_bulk", "opportunity", path, {mode = "initial", last_batch = true})
  t.equal(#jobs, 1)
  clari.poll(jobs, {interval = 0.1})
  t.equal(jobs[1].vendor_status, "SUCCESS")
  local bad = clari.submit("ingest_bulk", "opportunity", {{id = "z", createdAt = 9, updatedAt = 1}})
  local e = t.raises(clari.poll, bad, {interval = 0.1})
  t.equal(e.kind, "job_failed"); t.equal(bad[1].vendor_status, "VALIDATION_FAILED")
end)

t.test("ingest_bulk splits at 10 MB", function()
  local saved = clari.max_bulk_bytes
  clari.max_bulk_bytes = 2000
  local records = {}
  for i = 1, 100 do records[i] = {id = "s" .. i, createdAt = 1, updatedAt = 2, note = string.rep("x", 50)} end
  local ok, jobs = pcall(clari.submit, "ingest_bulk", "opportunity", records)
  clari.max_bulk_bytes = saved
  assert(ok, tostring(jobs))
  t.equal(#jobs > 3, true, "several parts")
  local total = 0
  for _, j in ipairs(jobs) do total = total + j.ref.records end
  t.equal(total, 100)
end)

t.test("picklists: add then get", function()
  local added = clari.picklist_add("opportunity", "region", "multipicklist", {"EMEA", "APAC"})
  t.equal(added.fieldName, "region")
  local got = clari.picklist_get("opportunity", "region")
  t.equal(got.fieldType, "multipicklist")
  local e = t.raises(clari.picklist_get, "opportunity", "no_such_field")
  t.equal(e.status, 404); t.equal(e.code, "FIELD_NOT_FOUND")
end)

t.test("an export whose answer is lost is adopted, not submitted twice", function()
  local before = t.sim_stats()
  local fired = t.lose_next(clari.Client, "POST", "/v4/export/forecast/")
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2021_Q1"})
  t.equal(fired(), true, "the answer was lost")
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  local created = ((after.created.clari or {}).export_jobs or 0) - ((before.created.clari or {}).export_jobs or 0)
  t.equal(created, 1, "export jobs created")
  t.equal(type(job.id), "string")
end)

t.test("a cut-off answer (truncate) to an export is adopted too", function()
  local before = t.sim_stats()
  local fired = t.lose_next(clari.Client, "POST", "/v4/export/forecast/", "truncate")
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2021_Q2"})
  t.equal(fired(), true)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal((after.created.clari.export_jobs or 0) - (before.created.clari.export_jobs or 0), 1)
  t.equal(type(job.id), "string")
end)

t.test("exports wait for a free slot when the concurrency limit is reached", function()
  local task = require "task"
  local l = clari.limits()
  local n = l.concurrentLimit + 2
  local jobs = task.map({1, 2, 3, 4, 5}, function(i)
    if i > n then return nil end
    return clari.export("forecast", {forecast_id = "net_new", time_period = "201" .. i .. "_Q1"})
  end, {concurrency = 5})
  clari.poll(jobs, {interval = 0.1})
  for _, j in ipairs(jobs) do t.equal(j.status, "done") end
end)

t.done()
