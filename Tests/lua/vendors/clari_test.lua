-- clari against the simulator: every function, error body and status word.
-- The simulator follows Clari's OpenAPI document (001_5f3c65e90f1cda6d.txt);
-- this file runs once per simulator variant (clari.job, clari.jobs_listing,
-- clari.audit_page_cap, clari.bulk_errors).
local t = require "testing"
local tmp = t.tmp
local clari = require "clari"
local json = require "json"
local http = require "http"

local function requests() return t.sim_stats().requests end
local function created(s, k) return ((s.created or {}).clari or {})[k] or 0 end
local base, key, partner = os.getenv("CLARI_BASE_URL"), os.getenv("CLARI_API_KEY"), os.getenv("CLARI_PARTNER_KEY")

local function records(n, prefix, bad)
  local out = {}
  for i = 1, n do out[i] = {id = prefix .. i, createdAt = 1000, updatedAt = i == bad and 1 or 2000} end
  return out
end

t.test("status words map to Job statuses", function()
  local want = {SCHEDULED = "queued", STARTED = "running", DONE = "done", FAILED = "failed", CANCELLED = "cancelled",
    ABORTED = "cancelled", QUEUED = "queued", IN_PROGRESS = "running", SUCCESS = "done", VALIDATION_FAILED = "failed",
    VALIDATION_ERROR = "failed"}
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

-- Defect 5: time_period is optional (001_5f3c65e90f1cda6d.txt:171: the current quarter).
t.test("forecast export without time_period exports the current quarter", function()
  local job = clari.export("forecast", {forecast_id = "renewals", format = "csv"})
  job:wait({interval = 0.1})
  local r = job:download(tmp("current.csv"))
  local csv = require "csv"
  local it = csv.read(r.path)
  local row = it()
  local y, m = os.date("!%Y"), tonumber(os.date("!%m"))
  t.equal(row.timePeriod, string.format("%s_Q%d", y, (m - 1) // 3 + 1), "the current quarter")
end)

-- Defect 5: crm_total / crm_closed (001_5f3c65e90f1cda6d.txt:290) and an unknown forecast (:256).
t.test("crm_total is refused with type_not_supported, an unknown forecast with no_such_forecast_config", function()
  local before = created(t.sim_stats(), "export_jobs")
  local e = t.raises(clari.export, "forecast", {forecast_id = "net_new", types = {"forecast", "crm_total"}})
  t.equal(e.kind, "http"); t.equal(e.status, 400); t.equal(e.code, "type_not_supported")
  t.contains(e.message, "not supported")
  e = t.raises(clari.export, "forecast", {forecast_id = "no_such_forecast", time_period = "2024_Q1"})
  t.equal(e.kind, "http"); t.equal(e.status, 400); t.equal(e.code, "no_such_forecast_config")
  t.equal(e.vendor, "clari")
  t.equal(e.details.namespace, "fcw")
  t.contains(e.message, "no_such_forecast")
  t.equal(created(t.sim_stats(), "export_jobs"), before, "nothing created")
end)

-- Defect 5: activity dates are date-times with an offset (:2049), activity_types optional (:2023).
t.test("activity export: dates with an offset, activity_types optional; audit actor ids are integers", function()
  local a = clari.export("activity", {start_date = "2024-01-01T00:00:00-08:00", end_date = "2024-01-07T00:00:00+05:30"})
  local a2 = clari.export("activity", {activity_types = {"MEETING", "EMAIL_SENT"}, start_date = "2024-01-01", end_date = "2024-01-31"})
  local b = clari.export("audit_events", {date_from = "2024-01-01", session_type = "WEB", actor_id = 1002})
  clari.poll({a, a2, b}, {interval = 0.1})
  t.equal(a.status, "done"); t.equal(b.status, "done")
  local ra = a:download(tmp("a.json"))
  t.equal(ra.rows > 0, true, "activities of every type")
  local types = {}
  for _, act in ipairs(a2:result().activities) do types[act.activityType] = true end
  t.equal(types.MEETING or types.EMAIL_SENT, true); t.equal(types.EMAIL_RECEIVED, nil, "only the types asked for")
  local items = b:result().items
  t.equal(type(items), "table")
  for _, ev in ipairs(items) do t.equal(tostring(ev.actorId), "1002", "actorId filter") end
  -- A string of digits is read as the integer id.
  local b2 = clari.export("audit_events", {actor_id = "1003"})
  t.equal(b2.kind, "audit_events")
end)

t.test("arguments are checked before anything is sent", function()
  local n = requests()
  local cases = {
    {"nope", {}}, {"forecast", {time_period = "2024_Q1"}}, {"forecast", {forecast_id = "x", time_period = "Q1 2024"}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", format = "xml"}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", types = {"bogus"}}},
    {"forecast", {forecast_id = "x", time_period = "2024_Q1", typo = 1}},
    {"activity", {start_date = "2024-01-01"}}, {"activity", {start_date = "a", end_date = "b", activity_types = {"CALL"}}},
    -- A date-time needs its UTC offset.
    {"activity", {start_date = "2024-01-01T00:00:00", end_date = "2024-03-31"}},
    {"activity", {start_date = "2024-01-01", end_date = "2024-03-31", activity_types = {}}},
    {"audit_events", {session_type = "DESKTOP"}},
    {"audit_events", {actor_id = "u-1001"}}, {"audit_events", {actor_id = 1.5}},
  }
  for i, c in ipairs(cases) do
    local e = t.raises(clari.export, c[1], c[2])
    t.equal(e.kind, "validation", "case " .. i)
    t.equal(e.vendor, "clari", "case " .. i)
  end
  t.equal(t.raises(clari.submit, "ingest", "bad entity!", {}).kind, "validation")
  -- Ingestion requests go one after another (isLastBatch must come last): no concurrency option.
  t.contains(t.raises(clari.submit, "ingest", "opportunity", {}, {concurrency = 4}).message, "concurrency")
  -- Records need the sourceEntity they are filed under.
  t.contains(t.raises(clari.submit, "ingest_bulk", "opportunity", records(2, "v")).message, "source_entity")
  t.equal(t.raises(clari.opportunities, "x").kind, "validation")
  t.equal(t.raises(clari.picklist_add, "opportunity", "stage", "list", {"A"}).kind, "validation")
  t.equal(t.raises(clari.picklist_get, "opportunity", {"a,b"}).kind, "validation")
  t.equal(t.raises(function() for _ in clari.audit_events{limit = 1001} do end end).kind, "validation")
  t.equal(requests(), n, "requests sent")
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

t.test("a wrong API key or partner key raises auth with Clari's message, never the key", function()
  local function answer(path, headers)
    local res = http.request{method = "GET", url = base .. path, headers = headers, raise = false, retry = false}
    return clari.response_error(res, "GET", path)
  end
  local e = answer("/v4/admin/limits", {apikey = "wrong-key-abc123"})
  t.equal(e.kind, "auth"); t.equal(e.status, 401)
  t.contains(e.message, "Invalid authentication credentials")
  t.contains(e.message, "CLARI_API_KEY")
  t.equal(tostring(e):find("wrong-key-abc123", 1, true), nil)
  -- A wrong partner key on ingestion: [{errorCode: INVALID_PARTNER_KEY}] (001_5f3c65e90f1cda6d.txt:1708).
  e = answer("/v2/ingest/schema/opportunity/field", {apikey = key, partnerkey = "wrong-partner-xyz"})
  t.equal(e.kind, "auth"); t.equal(e.code, "INVALID_PARTNER_KEY")
  t.contains(e.message, "Unauthorized PartnerKey")
  -- The ingestion job's own 401 body {error} (:1949).
  e = answer("/v2/ingest/job/x", {apikey = "wrong-key-abc123", partnerkey = partner})
  t.equal(e.kind, "auth"); t.contains(e.message, "Invalid authentication credentials")
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
  local mine
  for _, j in ipairs(list) do if j.id == job.id then mine = j end end
  t.equal(mine.kind, "forecast", "kind from the upper-case module")
  clari.cancel(job)
  t.equal(job.status, "cancelled")
  t.equal(job.vendor_status == "CANCELLED" or job.vendor_status == "ABORTED", true, tostring(job.vendor_status))
  -- Cancelling a finished job: 400 export_failed_to_cancel, raised as an http error with its code.
  local done = clari.export("forecast", {forecast_id = "net_new", time_period = "2022_Q2"})
  done:wait({interval = 0.1})
  local e = t.raises(done.cancel, done)
  t.equal(e.kind, "http"); t.equal(e.status, 400); t.equal(e.code, "export_failed_to_cancel")
  t.equal(done.status, "done")
end)

-- Defect 14: a cancel whose answer was lost is sent again; the repeat meets
-- 400 export_failed_to_cancel; the job is read again: it is cancelled.
t.test("a cancel whose answer was lost reads the job instead of failing on the repeat", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2022_Q3"})
  -- The first PATCH takes effect and its answer is lost; the http layer sends it again.
  local C = clari.Client
  local original, fired = C.request, false
  C.request = function(self, m, path, opts)
    if m == "PATCH" and not fired then
      fired = true
      C.request = original
      local once = {}
      for k, v in pairs(opts or {}) do once[k] = v end
      once.retry = false
      t.sim_faults("lost:1", 1)
      local lost = pcall(original, self, m, path, once)
      t.sim_faults("", 1)
      t.equal(lost, false, "the first answer was lost")
      return original(self, m, path, opts)
    end
    return original(self, m, path, opts)
  end
  local ok, e = pcall(clari.cancel, job)
  C.request = original
  t.equal(fired, true)
  t.equal(ok, true, tostring(e))
  t.equal(job.status, "cancelled")
end)

-- Defect 12 (Clari): a page capped below `limit` (variant clari.audit_page_cap=50) does not end the listing.
t.test("audit_events follows nextLink over every page, whatever the page size", function()
  local n = 0
  for event in clari.audit_events{date_from = "2020-01-01", limit = 100} do n = n + 1; t.equal(type(event), "table") end
  local m = 0
  for _ in clari.audit_events{date_from = "2020-01-01"} do m = m + 1 end
  -- The same filter as an export: the file holds every event.
  local job = clari.export("audit_events", {date_from = "2020-01-01"})
  job:wait({interval = 0.1})
  local all = #job:result().items
  t.equal(all > 100, true, "more than one page")
  t.equal(n, all, "events over pages of 100")
  t.equal(m, all, "events over pages of 1000")
  local e = t.raises(function() for _ in clari.audit_events{date_from = "not a date"} do end end)
  t.equal(e.status, 400); t.equal(e.code, "invalid_parameter")
end)

t.test("opportunities are fetched 100 ids a request; the 4xx body [{statusCode, ...}] is read", function()
  local ids = {}
  for i = 1, 250 do ids[i] = string.format("006%012d", i) end
  local before = t.sim_stats().vendorRequests
  local list = clari.opportunities(ids)
  local after = t.sim_stats().vendorRequests
  t.equal(type(list), "table")
  t.equal((after.clari or 0) - (before.clari or 0), 3, "requests for 250 ids")
  -- No oppId: Clari's own example (001_5f3c65e90f1cda6d.txt:1327).
  local e = t.raises(clari.default_client().call, clari.default_client(), "GET", "/v4/opportunity")
  t.equal(e.kind, "http"); t.equal(e.status, 400); t.equal(e.code, "400")
  t.contains(e.message, "invalid query parameter: oppId is required")
end)

t.test("ingest splits into requests of at most 100 records and reads ingestion errors", function()
  local before = t.sim_stats()
  local out = clari.submit("ingest", "opportunity", {{sourceEntity = "crm", records = records(250, "r")}}, {mode = "incremental", last_batch = true})
  t.equal(next(out), nil)
  local after = t.sim_stats()
  t.equal(created(after, "ingest_requests") - created(before, "ingest_requests"), 3)
  local e = t.raises(clari.submit, "ingest", "opportunity", {{sourceEntity = "crm", records = {{id = "x", createdAt = 5, updatedAt = 1}}}})
  t.equal(e.status, 400); t.equal(e.code, "INVALID_INPUT_FORMAT")
  t.contains(e.message, "updatedAt should be greater than or equal to createdAt")
end)

-- Defect 1: the bulk file has the /ingest/entity structure [{sourceEntity, records}]
-- (001_5f3c65e90f1cda6d.txt:1370); a bare array of records is refused by the simulator.
t.test("ingest_bulk files carry Clari's [{sourceEntity, records}] structure and succeed", function()
  local path = tmp("records.ndjson")
  local f = assert(io.open(path, "w"))
  for i = 1, 50 do f:write(json.encode({id = "b" .. i, createdAt = 1, updatedAt = 2}), "\n") end
  f:close()
  local before = t.sim_stats()
  local jobs = clari.submit("ingest_bulk", "opportunity", path, {source_entity = "crm", mode = "initial", last_batch = true})
  t.equal(#jobs, 1)
  clari.poll(jobs, {interval = 0.1})
  t.equal(jobs[1].vendor_status, "SUCCESS")
  t.equal(created(t.sim_stats(), "records_received") - created(before, "records_received"), 50)
  -- Clari's own structure, several source entities in one file.
  local two = clari.submit("ingest_bulk", "account", {{sourceEntity = "a", records = records(3, "x")},
    {sourceEntity = "b", records = records(2, "y")}})
  clari.poll(two, {interval = 0.1})
  t.equal(two[1].vendor_status, "SUCCESS")
  t.equal(two[1].ref.records, 5)
end)

-- Defect 2: GET /v2/ingest/job answers 400 VALIDATION_ERROR and 500 FAILED
-- (001_5f3c65e90f1cda6d.txt:1902, :1979): a failed job, never retried.
t.test("an ingestion job answered 400 VALIDATION_ERROR or 500 FAILED is a failed job, not retried", function()
  local bad = clari.submit("ingest_bulk", "opportunity", records(3, "z", 2), {source_entity = "crm"})
  local e = t.raises(clari.poll, bad, {interval = 0.1})
  t.equal(e.kind, "job_failed"); t.equal(bad[1].vendor_status, "VALIDATION_ERROR")
  t.contains(e.message, "updatedAt should be greater than or equal to createdAt")
  local failing = clari.submit("ingest_bulk", "opportunity", records(2, "w"), {source_entity = "sim-fail"})
  local started = require("moonport").now()
  local before = t.sim_stats().vendorRequests.clari
  e = t.raises(clari.poll, failing, {interval = 0.1, timeout = 60})
  t.equal(e.kind, "job_failed"); t.equal(failing[1].vendor_status, "FAILED")
  t.contains(e.message, "Bulk ingestion job failed")
  local reads = t.sim_stats().vendorRequests.clari - before
  t.equal(reads < 20, true, "status reads: " .. reads)
  t.equal(require("moonport").now() - started < 15, true, "the 500 FAILED answer is not retried")
end)

-- Defect 13: a bulk ingest answered 400 raises the error object, not "attempt to use a closed file".
t.test("a bulk ingest answered 400 raises Clari's error object", function()
  local e = t.raises(clari.submit, "ingest_bulk", "lead", records(2, "q"), {source_entity = "crm"})
  t.equal(type(e), "table", "an error object: " .. tostring(e))
  t.equal(e.kind, "http"); t.equal(e.status, 400); t.equal(e.code, "INVALID_INPUT_FORMAT")
  t.contains(e.message, "Entity is not valid/enabled for integration")
end)

t.test("the simulator refuses a bulk file that is a bare array of records", function()
  local file = tmp("bare.json")
  local f = assert(io.open(file, "w")); f:write(json.encode(records(2, "bare"))); f:close()
  local res = http.request{method = "POST", url = base .. "/v2/ingest/bulk/entity/opportunity", raise = false, retry = false,
    auth = {key_header = "apikey", key = key, secret_header = "partnerkey", secret = partner},
    multipart = {{name = "FileData", file = file, filename = "data.json", content_type = "application/json"}}}
  if t.variant("clari.bulk_errors") == "submit" then
    t.equal(res.status, 400)
    t.equal(res:json()[1].errorCode, "INVALID_INPUT_FORMAT")
  else
    t.equal(res.status, 202)
    local job = clari.default_client():job("ingest_bulk", res:json().jobId, {entity = "opportunity"})
    local e = t.raises(job.wait, job, {interval = 0.1})
    t.equal(e.kind, "job_failed"); t.equal(job.vendor_status, "VALIDATION_ERROR")
    t.contains(e.message, "sourceEntity is missing dataSet")
  end
end)

t.test("ingest_bulk splits at 10 MB", function()
  local saved = clari.max_bulk_bytes
  clari.max_bulk_bytes = 2000
  local recs = {}
  for i = 1, 100 do recs[i] = {id = "s" .. i, createdAt = 1, updatedAt = 2, note = string.rep("x", 50)} end
  local ok, jobs = pcall(clari.submit, "ingest_bulk", "opportunity", recs, {source_entity = "crm"})
  clari.max_bulk_bytes = saved
  assert(ok, tostring(jobs))
  t.equal(#jobs > 3, true, "several parts")
  local total = 0
  for _, j in ipairs(jobs) do total = total + j.ref.records end
  t.equal(total, 100)
  clari.poll(jobs, {interval = 0.1})
  for _, j in ipairs(jobs) do t.equal(j.vendor_status, "SUCCESS") end
end)

-- Issue 16: the records of an NDJSON file go to Clari's data.json files in
-- Swift (ndjson.native.parts), never through ndjson.read and Lua tables.
local function bulk_sends(fn)
  local C = clari.Client
  local original = C.request
  local sent = {}
  C.request = function(self, m, path, opts)
    if m == "POST" and path:find("/v2/ingest/bulk/entity/", 1, true) then
      sent[#sent + 1] = {body = t.slurp(opts.multipart[1].file), last = (opts.query or {}).isLastBatch}
    end
    return original(self, m, path, opts)
  end
  local ndjson = require "ndjson"
  local read = ndjson.read
  ndjson.read = function() error("ndjson.read was called: the records became Lua values", 0) end
  local saved = clari.max_bulk_bytes
  clari.max_bulk_bytes = 2000
  local ok, r = pcall(fn)
  clari.max_bulk_bytes = saved
  ndjson.read = read
  C.request = original
  return sent, ok, r
end

local function ndjson_file(name, lines)
  local path = tmp(name)
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  return path
end

t.test("ingest_bulk from an NDJSON file: records go natively into files of Clari's structure, split by size", function()
  local lines, want = {}, {}
  for i = 1, 80 do
    -- Spaces, CRLF, blank lines, keys in any order, escapes and non-ASCII text.
    lines[#lines + 1] = string.format('{ "note" : "caf\195\169 \\"%d\\"\\u00e9 %s", "id":"nd%d" ,"createdAt": 1, "updatedAt": 2.5, "tags":[ true, null ] }%s',
      i, string.rep("z", 40), i, i % 3 == 0 and "\r" or "")
    if i % 10 == 0 then lines[#lines + 1] = "   " end
    want[i] = {id = "nd" .. i, note = "caf\195\169 \"" .. i .. "\"\195\169 " .. string.rep("z", 40)}
  end
  local path = ndjson_file("native.ndjson", lines)
  local before = t.sim_stats()
  local sent, ok, jobs = bulk_sends(function()
    return clari.submit("ingest_bulk", "opportunity", path, {source_entity = "crm", mode = "initial", last_batch = true})
  end)
  assert(ok, type(jobs) == "table" and jobs.message or tostring(jobs))
  t.equal(#sent > 3, true, "several files: " .. #sent)
  t.equal(#jobs, #sent)
  local n, total = 0, 0
  for i, s in ipairs(sent) do
    t.equal(#s.body <= 2000, true, "file " .. i .. " is " .. #s.body .. " bytes")
    t.equal(s.last, i == #sent and "true" or "false", "isLastBatch of file " .. i)
    local body = json.decode(s.body)
    t.equal(#body, 1); t.equal(body[1].sourceEntity, "crm")
    t.equal(jobs[i].ref.records, #body[1].records)
    for _, r in ipairs(body[1].records) do
      n = n + 1
      t.equal(r.id, want[n].id); t.equal(r.note, want[n].note)
      t.equal(r.createdAt, 1); t.equal(r.updatedAt, 2.5); t.equal(r.tags[1], true); t.equal(r.tags[2], json.null)
    end
    total = total + jobs[i].ref.records
    -- Copied as written, without the whitespace between tokens.
    t.equal(s.body:find(", ", 1, true) == nil and s.body:find('" :', 1, true) == nil, true, "no whitespace kept")
  end
  t.equal(n, 80); t.equal(total, 80)
  clari.poll(jobs, {interval = 0.1})
  for _, j in ipairs(jobs) do t.equal(j.vendor_status, "SUCCESS") end
  t.equal(created(t.sim_stats(), "records_received") - created(before, "records_received"), 80)
end)

t.test("ingest_bulk from an NDJSON file: a bad line names the file and the line; files before it are sent", function()
  local lines = {}
  for i = 1, 60 do lines[i] = json.encode({id = "bl" .. i, createdAt = 1, updatedAt = 2, note = string.rep("q", 50)}) end
  lines[45] = '{"id": "bl45", "createdAt": 1,, "updatedAt": 2}'
  local path = ndjson_file("badline.ndjson", lines)
  local submit = function() return clari.submit("ingest_bulk", "opportunity", path, {source_entity = "crm"}) end
  local sent, ok, e = bulk_sends(submit)
  t.equal(ok, false)
  t.equal(e.kind, "validation"); t.equal(e.file, path); t.equal(e.line, 45)
  t.contains(e.message, path); t.contains(e.message, "line 45")
  -- ~100-byte records, files of 2,000 bytes: the files of records 1-38 went before line 45 was read.
  t.equal(#sent, 2)
  for _, s in ipairs(sent) do t.equal(s.last, "false") end
  -- A value that is not a record, and a record no file can carry: raised
  -- when reached, before the file the records before it fill is sent.
  lines[45] = json.encode({id = "bl45", createdAt = 1, updatedAt = 2})
  lines[7] = '"just a string"'
  path = ndjson_file("scalar.ndjson", lines)
  sent, ok, e = bulk_sends(submit)
  t.equal(ok, false); t.equal(#sent, 0)
  t.equal(e.kind, "validation"); t.equal(e.file, path); t.equal(e.line, 7)
  t.contains(e.message, "record 7 must be a table (a JSON object), got string")
  lines[7] = json.encode({id = "big", createdAt = 1, updatedAt = 2, note = string.rep("w", 3000)})
  path = ndjson_file("big.ndjson", lines)
  sent, ok, e = bulk_sends(submit)
  t.equal(ok, false); t.equal(#sent, 0)
  t.equal(e.kind, "validation"); t.equal(e.file, path); t.equal(e.line, 7)
  t.contains(e.message, string.format("one record is %d bytes, more than a 2000-byte file can carry", #lines[7]))
end)

t.test("ingest_bulk from an NDJSON file: after a lost answer the same file is sent again, every record once in the jobs", function()
  local lines = {}
  for i = 1, 30 do lines[i] = json.encode({id = "la" .. i, createdAt = 1, updatedAt = 2, note = string.rep("l", 50)}) end
  local path = ndjson_file("lost.ndjson", lines)
  local before = t.sim_stats()
  local C = clari.Client
  local lost = false
  local sent, ok, jobs = bulk_sends(function()
    local original = C.request
    C.request = function(self, m, p, opts)
      if not lost and m == "POST" and p:find("/v2/ingest/bulk/entity/", 1, true) then
        -- The simulator takes the file and drops the connection before answering;
        -- the request is then repeated as the transport repeats it (safe_to_repeat).
        lost = true
        local once = {}
        for k, v in pairs(opts) do once[k] = v end
        once.retry = false
        t.sim_faults("lost:1", 1)
        local okl, err = pcall(original, self, m, p, once)
        t.sim_faults("", 1)
        t.equal(okl, false); t.equal(err.kind, "network")
      end
      return original(self, m, p, opts)
    end
    local okc, r = pcall(clari.submit, "ingest_bulk", "opportunity", path, {source_entity = "crm"})
    C.request = original
    if not okc then error(r, 0) end
    return r
  end)
  assert(ok, type(jobs) == "table" and jobs.message or tostring(jobs))
  t.equal(lost, true)
  -- sent: the file whose answer was lost, the same file again, then the rest.
  t.equal(#jobs, #sent - 1)
  t.equal(sent[2].body, sent[1].body, "the repeat is the same file")
  local total = 0
  for _, j in ipairs(jobs) do total = total + j.ref.records end
  t.equal(total, 30)
  clari.poll(jobs, {interval = 0.1})
  for _, j in ipairs(jobs) do t.equal(j.vendor_status, "SUCCESS") end
  -- Clari lists no ingestion jobs to look the lost one up in: the same file
  -- is sent again (records are upserted by id), never a different one.
  local after = t.sim_stats()
  local function dups(s) return ((s.duplicates or {}).clari or {}).ingestion_jobs or 0 end
  t.equal(created(after, "ingestion_jobs") - created(before, "ingestion_jobs"), #sent)
  t.equal(dups(after) - dups(before), 1, "the repeat is the same file")
end)

-- Defect 4: GET /v2/ingest/schema/{entity}/field?fieldNames=A,B → {A: [values], B: [values]} (001_5f3c65e90f1cda6d.txt:2437).
t.test("picklists: add, then get one field, several, or all", function()
  local added = clari.picklist_add("opportunity", "region", "multipicklist", {"EMEA", "APAC"})
  t.contains(added.message, "updated successfully")
  local values = clari.picklist_get("opportunity", "region")
  t.equal(#values, 2); t.equal(values[1], "EMEA")
  local two = clari.picklist_get("opportunity", {"region", "stage"})
  t.equal(#two.region, 2); t.equal(type(two.stage), "table")
  t.equal(two.forecastCategory, nil, "only the fields asked for")
  local all = clari.picklist_get("opportunity")
  t.equal(type(all.forecastCategory), "table")
  t.equal(clari.picklist_get("opportunity", "no_such_field"), nil)
  local e = t.raises(clari.picklist_add, "opportunity", "no_such_field", "picklist", {"A"})
  t.equal(e.status, 400); t.equal(e.code, "INVALID_INPUT_FORMAT"); t.contains(e.message, "not defined in schema")
end)

-- Defect 3: the lookup after a lost answer reads Clari's real job (flat or
-- wrapped, module FORECAST, epoch-millisecond times, no parameters).
t.test("an export whose answer is lost is adopted, not submitted twice", function()
  local before = t.sim_stats()
  local fired = t.lose_next(clari.Client, "POST", "/v4/export/forecast/")
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2021_Q1"})
  t.equal(fired(), true, "the answer was lost")
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created(after, "export_jobs") - created(before, "export_jobs"), 1, "export jobs created")
  t.equal(type(job.id), "string")
  job:refresh()
  t.equal(job.raw.module == "FORECAST" or (job.raw.job or {}).module == "FORECAST", true, "Clari's module word")
end)

t.test("a cut-off answer (truncate) to an activity export is adopted too", function()
  local before = t.sim_stats()
  local fired = t.lose_next(clari.Client, "POST", "/v4/export/activity", "truncate")
  local job = clari.export("activity", {start_date = "2021-02-01", end_date = "2021-02-03"})
  t.equal(fired(), true)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created(after, "export_jobs") - created(before, "export_jobs"), 1)
  t.equal(job.kind, "activity")
end)

-- Exactly once, fail safe: when another export of the same kind appeared
-- meanwhile, the lookup cannot tell which is ours: nothing is sent again.
t.test("a lost export answer with two candidate jobs raises 'may have been created', sends nothing again", function()
  local C = clari.Client
  local original = C.request
  C.request = function(self, m, path, opts)
    if m == "POST" and path:find("/v4/export/forecast/", 1, true) then
      C.request = original
      t.sim_faults("lost:1", 1)
      local ok, res = pcall(original, self, m, path, opts)
      t.sim_faults("", 1)
      -- Someone else (another tool) starts the same kind of export meanwhile.
      http.request{method = "POST", url = base .. "/v4/export/forecast/net_new", json = {timePeriod = "2020_Q4"},
        auth = {header = "apikey", value = key}}
      if ok then return res end
      error(res, 0)
    end
    return original(self, m, path, opts)
  end
  -- Two free export slots: ours and the other.
  while (clari.limits().availableConcurrentLimit or 0) < 2 do require("task").sleep(0.1) end
  local before = t.sim_stats()
  local e = t.raises(clari.export, "forecast", {forecast_id = "net_new", time_period = "2020_Q3"})
  C.request = original
  t.equal(type(e), "table")
  t.contains(e.message, "may have been created")
  t.contains(e.message, "clari.jobs()")
  t.equal(created(t.sim_stats(), "export_jobs") - created(before, "export_jobs"), 2, "ours and the other, nothing more")
end)

-- Review H1: GET /v4/export/jobs lists only the caller's jobs (001_5f3c65e90f1cda6d.txt:711) while
-- /v4/admin/limits lists the whole organisation's (:803); another user's job answers 403 (:512).
local other_user_key = "sandbox-clari-other-user-key"

-- Runs `fn` with our next forecast export POST lost with `fault` ("reset": it never
-- reached Clari), after `meanwhile()` ran (someone else's export).
local function with_lost_forecast(fault, meanwhile, fn)
  local C = clari.Client
  local original = C.request
  C.request = function(self, m, path, opts)
    if m == "POST" and path:find("/v4/export/forecast/", 1, true) then
      C.request = original
      meanwhile()
      t.sim_faults(fault .. ":1", 1)
      local ok, res = pcall(original, self, m, path, opts)
      t.sim_faults("", 1)
      if ok then return res end
      error(res, 0)
    end
    return original(self, m, path, opts)
  end
  while (clari.limits().availableConcurrentLimit or 0) < 2 do require("task").sleep(0.1) end
  local ok, res = pcall(fn)
  C.request = original
  if not ok then error(res, 0) end
  return res
end

local function other_export(api_key, body)
  local res = http.request{method = "POST", url = base .. "/v4/export/forecast/net_new", json = body,
    auth = {header = "apikey", value = api_key}}
  return tostring(res:json().jobId)
end

t.test("a lost export never adopts another user's export (ours never reached Clari: it is sent again)", function()
  local other
  local before = t.sim_stats()
  local job = with_lost_forecast("reset", function() other = other_export(other_user_key, {timePeriod = "2019_Q2"}) end,
    function() return clari.export("forecast", {forecast_id = "net_new", time_period = "2019_Q1"}) end)
  t.equal(type(other), "string")
  t.equal(job.id ~= other, true, "another user's job is not ours")
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created(after, "export_jobs") - created(before, "export_jobs"), 2, "the other user's and ours")
  job:refresh()  -- ours: Clari shows it to us
  t.equal(job.raw.module == "FORECAST" or (job.raw.job or {}).module == "FORECAST", true)
end)

t.test("a lost export is adopted when another user's export appeared meanwhile", function()
  local other
  local before = t.sim_stats()
  local job = with_lost_forecast("lost", function() other = other_export(other_user_key, {timePeriod = "2019_Q4"}) end,
    function() return clari.export("forecast", {forecast_id = "net_new", time_period = "2019_Q3"}) end)
  t.equal(job.id ~= other, true)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created(after, "export_jobs") - created(before, "export_jobs"), 2, "nothing sent twice")
end)

-- Review M4: json.null in fileType or currency is an absent value, not a mismatch.
t.test("a lost export whose job shows fileType and currency as null is adopted, not sent again", function()
  local C = clari.Client
  local original = C.request
  C.request = function(self, m, path, opts)
    local res = original(self, m, path, opts)
    if m == "GET" and path:match("^/v4/export/jobs/[^/]+$") then
      local decoded = json.decode(res.body)
      local j = type(decoded.job) == "table" and decoded.job or decoded
      j.fileType, j.currency = json.null, json.null
      local text = json.encode(decoded)
      return setmetatable({body = text, json = function() return json.decode(text) end}, {__index = res})
    end
    return res
  end
  -- A free export slot: the lost request must create the job.
  while (clari.limits().availableConcurrentLimit or 0) < 1 do require("task").sleep(0.1) end
  local before = t.sim_stats()
  local fired = t.lose_next(clari.Client, "POST", "/v4/export/forecast/")
  local ok, job = pcall(clari.export, "forecast", {forecast_id = "net_new", time_period = "2022_Q1", format = "csv", currency = "EUR"})
  C.request = original
  assert(ok, type(job) == "table" and job.message or tostring(job))
  t.equal(fired(), true)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created(after, "export_jobs") - created(before, "export_jobs"), 1, "not sent twice")
end)

t.test("a lost export with only a same-kind job of another file type raises 'may have been created'", function()
  local before = t.sim_stats()
  local e = t.raises(with_lost_forecast, "reset", function() other_export(key, {timePeriod = "2018_Q2", exportFormat = "CSV"}) end,
    function() return clari.export("forecast", {forecast_id = "net_new", time_period = "2018_Q1", format = "json"}) end)
  t.equal(type(e), "table")
  t.contains(e.message, "may have been created")
  t.equal(created(t.sim_stats(), "export_jobs") - created(before, "export_jobs"), 1, "only the other one: nothing sent again")
end)

-- Review M1: isLastBatch marks the last batch of initial data (001_5f3c65e90f1cda6d.txt:1405):
-- only the last file of a split ingest_bulk carries it.
t.test("ingest_bulk split in several files sends isLastBatch=true on the last file only", function()
  local C = clari.Client
  local original = C.request
  local sent = {}
  C.request = function(self, m, path, opts)
    if m == "POST" and path:find("/v2/ingest/bulk/entity/", 1, true) then
      sent[#sent + 1] = (opts.query or {}).isLastBatch
    end
    return original(self, m, path, opts)
  end
  local saved = clari.max_bulk_bytes
  clari.max_bulk_bytes = 2000
  local recs = {}
  for i = 1, 60 do recs[i] = {id = "lb" .. i, createdAt = 1, updatedAt = 2, note = string.rep("y", 50)} end
  local ok, jobs = pcall(clari.submit, "ingest_bulk", "account", recs, {source_entity = "crm", mode = "initial", last_batch = true})
  clari.max_bulk_bytes = saved
  C.request = original
  assert(ok, type(jobs) == "table" and jobs.message or tostring(jobs))
  t.equal(#sent > 2, true, "several files")
  t.equal(#sent, #jobs)
  for i = 1, #sent - 1 do t.equal(sent[i], "false", "file " .. i) end
  t.equal(sent[#sent], "true", "the last file")
end)

-- Review M8: the API key goes with every page; a nextLink on another server is not followed.
t.test("audit_events does not follow a nextLink to another server or to plain http", function()
  local C = clari.Client
  local original = C.request
  local urls = {}
  for _, link in ipairs{"https://evil.example.com/v4/audit/events?cursor=1",
                        (base:gsub("^http:", "https:")) .. "/v4/audit/events?cursor=1"} do
    urls = {}
    C.request = function(self, m, path, opts)
      urls[#urls + 1] = opts and opts.url or path
      if #urls == 1 then
        local text = json.encode{items = {{id = "e1"}}, actors = {}, nextLink = link}
        return {status = 200, body = text, headers = {["content-type"] = "application/json"}, json = function() return json.decode(text) end}
      end
      return original(self, m, path, opts)
    end
    local got = {}
    local ok, e = pcall(function() for event in clari.audit_events{limit = 1} do got[#got + 1] = event end end)
    C.request = original
    t.equal(ok, false, link)
    t.equal(e.kind, "validation"); t.contains(e.message, "another server")
    t.equal(#got, 1, "the first page's events came first")
    t.equal(#urls, 1, "nothing sent to " .. link)
  end
  -- A relative link is read against the base URL.
  local n = 0
  C.request = function(self, m, path, opts)
    n = n + 1
    if n == 1 then
      local text = json.encode{items = {{id = "e1"}}, actors = {}, nextLink = "/clari/v4/audit/events?limit=1&cursor=1"}
      return {status = 200, body = text, headers = {["content-type"] = "application/json"}, json = function() return json.decode(text) end}
    end
    if n == 2 then t.equal(opts.url, base:match("^(%a+://[^/]+)") .. "/clari/v4/audit/events?limit=1&cursor=1") end
    return original(self, m, path, opts)
  end
  local ok, e = pcall(function() local it = clari.audit_events{limit = 1}; it(); it() end)
  C.request = original
  assert(ok, type(e) == "table" and e.message or tostring(e))
  t.equal(n >= 2, true)
end)

-- Review (Low): /v4/admin/limits fields that are json.null raise no raw Lua error.
t.test("an export refused by a limit, with json.null in the limits, waits for a slot instead of a raw error", function()
  local C = clari.Client
  local original = C.request
  local refused = false
  local quota_body = json.encode{code = "export_monthly_quota_reached", namespace = "exports",
    message = "The monthly quota limit of 1000 or concurrent limit of 3 has been reached."}
  local limits_body = '{"jobs": {"concurrentLimit": 3, "monthlyQuota": 1000, "submittedJobIds": null, "runningJobIds": null, '
    .. '"availableConcurrentLimit": 0, "availableMonthlyQuota": null}}'
  C.request = function(self, m, path, opts)
    local body
    if m == "POST" and not refused then refused = true; body = quota_body
    elseif path == "/v4/admin/limits" and refused then body = limits_body end
    if body then
      return {status = m == "POST" and 400 or 200, body = body, headers = {["content-type"] = "application/json"},
        json = function() return json.decode(body) end}
    end
    return original(self, m, path, opts)
  end
  local ok, job = pcall(clari.export, "forecast", {forecast_id = "net_new", time_period = "2017_Q1"})
  C.request = original
  assert(ok, type(job) == "table" and tostring(job.message) or tostring(job))
  t.equal(refused, true)
  t.equal(type(job.id), "string")
end)

-- Review (Low): Clari's documented forecast result is one flat list of cells (001_5f3c65e90f1cda6d.txt:620).
t.test("a forecast JSON result as one flat list of cells is not miscounted", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2016_Q1"})
  job:wait({interval = 0.1})
  local C = clari.Client
  local original = C.request
  local flat = {"User", "Email", "Data Value", "Jain", "name@s-clari.com", "0"}
  C.request = function(self, m, path, opts)
    if m == "GET" and path:find("/results", 1, true) and opts and opts.stream_to then
      local text = json.encode(flat)
      local f = assert(io.open(opts.stream_to, "wb")); f:write(text); f:close()
      return {status = 200, bytes = #text, headers = {}}
    end
    return original(self, m, path, opts)
  end
  local ok, r = pcall(job.download, job, tmp("flat.json"))
  C.request = original
  assert(ok, type(r) == "table" and tostring(r.message) or tostring(r))
  t.equal(r.rows, nil, "rows cannot be told in a flat list")
  t.equal(r.bytes > 0, true)
end)

-- Review (Low): a body quoted in an error message is masked like any vendor error body.
t.test("an export answered without a jobId quotes the body with secrets masked", function()
  local C = clari.Client
  local original = C.request
  local text = json.encode{echo = key, note = "no job id"}
  C.request = function(self, m, path, opts)
    if m == "POST" then
      return {status = 200, body = text, headers = {["content-type"] = "application/json"}, json = function() return json.decode(text) end}
    end
    return original(self, m, path, opts)
  end
  local ok, e = pcall(clari.export, "forecast", {forecast_id = "net_new", time_period = "2015_Q1"})
  C.request = original
  t.equal(ok, false)
  t.equal(e.kind, "validation"); t.contains(e.message, "without a jobId")
  t.equal(e.message:find(key, 1, true), nil, "the API key is masked")
end)

-- Defect 5: the quota is a rolling 30-day window (001_5f3c65e90f1cda6d.txt:832).
t.test("a spent export quota raises rate_limited, naming the rolling 30-day window", function()
  local C = clari.Client
  local original = C.request
  local quota_body = json.encode{code = "export_monthly_quota_reached", namespace = "exports",
    message = "The monthly quota limit of 2 or concurrent limit of 3 has been reached."}
  local limits_body = json.encode{jobs = {concurrentLimit = 3, monthlyQuota = 2, submittedJobIds = {"a", "b"},
    availableConcurrentLimit = 3, availableMonthlyQuota = 0}}
  C.request = function(self, m, path, opts)
    local body = (m == "POST" and quota_body) or (path == "/v4/admin/limits" and limits_body) or nil
    if body then
      local res = {status = m == "POST" and 400 or 200, body = body, headers = {["content-type"] = "application/json"}}
      res.json = function(r) return json.decode(r.body) end
      return res
    end
    return original(self, m, path, opts)
  end
  local ok, e = pcall(clari.export, "forecast", {forecast_id = "net_new"})
  C.request = original
  t.equal(ok, false)
  t.equal(e.kind, "rate_limited"); t.equal(e.code, "export_monthly_quota_reached")
  t.contains(e.message, "2 of 2 exports used in the last 30 days")
  t.contains(e.message, "rolling 30-day window")
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
