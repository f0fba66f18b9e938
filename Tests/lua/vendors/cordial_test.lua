-- The cordial binding against the simulator. Run with:
--   MOONPORT_SIM_SPEED=20 moonport run --sandbox -I Tests/lua/lib Tests/lua/vendors/cordial_test.lua
-- (testing.lua is in Tests/lua/lib: found without -I too.)
package.path = (arg and arg[0] or ""):gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local t = require "testing"
local tmp = t.tmp
local invalid = t.invalid
local cordial = require "cordial"
local json = require "json"
local state = require "state"

t.sim_reset()
-- The simulator's account, like a real one, holds finished exports made before the run.
local history = #cordial.jobs()

local uniq = tostring(os.time()) .. "-" .. tostring(math.random(100000, 999999))
local function name(what) return "mp-" .. what .. "-" .. uniq end

local SECRET = "s3-secret-" .. uniq
local PASSWORD = "sftp-password-" .. uniq
local function s3(extra)
  local d = {type = "s3", aws_bucket = "moonport-test-exports", aws_region = "us-east-1", path = "cordial/trends",
    aws_access_key_id = "AKIAMOONPORTTEST", aws_secret_access_key = SECRET}
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end
local function sftp(extra)
  local d = {type = "sftp", server = "sftp.example.com", port = 2222, username = "exports", password = PASSWORD, path = "out"}
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end
local function trends(what, dest, extra)
  local p = {name = name(what), audiences = {"VIP customers", "App users"}, start = "2024-01-01", stop = "2024-01-31",
    destination = dest or s3()}
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end
local function no_secret(text, what)
  assert(not tostring(text):find(SECRET, 1, true), (what or "text") .. " shows the S3 secret: " .. tostring(text))
  assert(not tostring(text):find(PASSWORD, 1, true), (what or "text") .. " shows the password: " .. tostring(text))
end
local function created() return (t.sim_stats().created.cordial or {}).exports or 0 end

--- The JSON bodies of the POSTs sent while fn runs.
local function posted(fn)
  local orig, sent = cordial.Client.request, {}
  cordial.Client.request = function(self, m, path, opts)
    if m == "POST" then sent[#sent + 1] = opts and opts.json end
    return orig(self, m, path, opts)
  end
  local ok, r = pcall(fn)
  cordial.Client.request = orig
  if not ok then error(r, 0) end
  return sent, r
end

--- Runs fn while Cordial's job list (GET /v2/jobs) is rewritten by
--- rewrite(list, query) (bare or under data, whichever the simulator
--- answers), or answered by another path when rewrite is a string (a 404
--- of Cordial's).
local function with_job_list(rewrite, fn)
  local orig = cordial.Client.call
  cordial.Client.call = function(self, m, path, opts)
    if m == "GET" and path == "/v2/jobs" then
      if type(rewrite) == "string" then return orig(self, m, rewrite, opts) end
      local body = orig(self, m, path, opts)
      local query = opts and opts.query or {}
      if body[1] == nil and type(body.data) == "table" then body.data = rewrite(body.data, query) return body end
      return rewrite(body, query)
    end
    return orig(self, m, path, opts)
  end
  local ok, r = pcall(fn)
  cordial.Client.call = orig
  if not ok then error(r, 0) end
  return r
end

--- Reads a CSV file as a list of rows (lists of fields).
local function csv_rows(path)
  local out = {}
  for row in require("csv").read(path, {header = false}) do out[#out + 1] = row end
  return out
end

t.test("status words", function()
  local s = cordial.statuses
  t.equal(s.Scheduled, "queued")
  t.equal(s.Pending, "queued")
  t.equal(s.Throttled, "queued")
  t.equal(s.Processing, "running")
  t.equal(s.Done, "done")
  t.equal(s.Failed, "failed")
  t.equal(cordial.vendor, "cordial")
  -- Cordial's words are matched without regard to case.
  local c = cordial.default_client()
  t.equal(c:job("export", "x", {}, {_id = "x", status = "DONE"}).status, "done")
  t.equal(c:job("export", "x", {}, {_id = "x", status = "processing"}).vendor_status, "Processing")
end)

t.test("audience trends export: started, polled, done", function()
  local before = t.sim_stats()
  local job = cordial.export("audience_trends", trends("trends"))
  t.equal(job.kind, "audience_trends")
  t.equal(job.vendor, "cordial")
  t.equal(job.status, "queued")
  t.equal(type(job.id), "string")
  local after = t.sim_stats()
  t.equal(after.created.cordial.exports - (before.created.cordial.exports or 0), 1)
  t.equal(after.created.cordial.audiencetrendsexport - (before.created.cordial.audiencetrendsexport or 0), 1)
  job:refresh()
  assert(job.status == "queued" or job.status == "running" or job.status == "done", job.status)
  t.equal(cordial.poll(job, {interval = 0.05}), job)
  t.equal(job.status, "done")
  t.equal(job.vendor_status, "Done")
  t.equal(job.raw.jobName, name("trends"))
  t.equal(job.raw.totalItems, 2, "a row per audience")
  t.equal(job.raw.metadata.exportType, "csv")
  no_secret(tostring(job), "tostring(job)")
  t.equal(job.ref.destination.aws_bucket, "moonport-test-exports")
end)

t.test("contacts export with every option", function()
  local job = cordial.export("contacts", {name = name("contacts"), export_type = "json", destination = sftp(),
    fields = {"email", "first_name", "city"}, lists = {"VIP customers"}, show_header = false, compress = false})
  t.equal(job.kind, "contacts")
  job:wait{interval = 0.05}
  t.equal(job.status, "done")
  t.equal(job.raw.metadata.exportType, "json")
  assert(job.raw.totalItems > 0, "contacts on the list")
  local csvjob = cordial.export("contacts", {name = name("contacts-csv"), destination = s3(), compress = true})
  csvjob:wait{interval = 0.05}
  t.equal(csvjob.raw.totalItems, 200)
  if t.variant("cordial.s3_path") == "file" then
    -- The S3 path is the file's key: its last part names the file.
    t.equal(csvjob.raw.metadata.fileName, "trends")
  else
    assert(csvjob.raw.metadata.fileName:find("%.csv%.gz$"), csvjob.raw.metadata.fileName)
  end
end)

t.test("download: s3 read back with SigV4; other destinations say where the file went", function()
  local job = cordial.export("audience_trends", trends("dl-s3"))
  local r = job:download(tmp("trends.csv"))  -- waits for the job first
  t.equal(job.status, "done")
  t.equal(r.path, tmp("trends.csv"))
  t.equal(r.bytes > 0, true)
  t.equal(type(r.rows), "number")
  local r2 = cordial.download(job, tmp("trends2.csv"))
  t.equal(r2.bytes, r.bytes)
  -- A wrong secret key: S3 refuses the signature; auth error, key not shown, no file left.
  local bad = cordial.export("audience_trends", trends("dl-bad"))
  bad.ref.destination.aws_secret_access_key = "wrong-secret-key-000"
  local err = t.raises(bad.download, bad, tmp("bad.csv"))
  t.equal(err.kind, "auth")
  t.equal(tostring(err):find("wrong-secret-key-000", 1, true), nil)
  t.equal(io.open(tmp("bad.csv"), "rb"), nil, "no file left behind")

  local sjob = cordial.export("contacts", {name = name("dl-sftp"), destination = sftp()})
  sjob:wait{interval = 0.05}
  err = t.raises(sjob.download, sjob, tmp("contacts.csv"))
  t.equal(err.kind, "usage")
  t.contains(err.message, "the export was delivered to sftp://sftp.example.com:2222/out/" .. name("dl-sftp") .. ".csv")
  t.contains(err.message, "moonport can only read back s3 destinations")
  no_secret(tostring(err), "the error")

  local gjob = cordial.export("contacts", {name = name("dl-gcs"), destination = {type = "gcs", gcs_bucket = "exports-bucket"}})
  gjob:wait{interval = 0.05}
  err = t.raises(gjob.download, gjob, tmp("contacts.csv"))
  t.contains(err.message, "gcs://exports-bucket/" .. name("dl-gcs") .. ".csv")
  invalid(function() gjob:download(5) end, "argument #1 (path) must be a string")
end)

t.test("a failed export raises job_failed with Cordial's message", function()
  local job = cordial.export("audience_trends", trends("fail", s3{aws_bucket = "sim-fail"}))
  local err = t.raises(job.wait, job, {interval = 0.05})
  t.equal(err.kind, "job_failed")
  t.equal(err.code, "Failed")
  t.contains(err.message, "STORAGE_CONNECTION_ERROR")
  t.equal(job.status, "failed")
  t.equal(job.vendor_status, "Failed")
  t.contains(job.error, "could not connect to sim-fail")
  no_secret(tostring(err), "the error")
  err = t.raises(job.download, job, tmp("x.csv"))
  t.equal(err.kind, "usage")
  t.contains(err.message, "ended failed")
end)

t.test("export: arguments are checked before anything is sent", function()
  invalid(function() cordial.export("segments", {}) end, "argument #1 (kind) must be one of audience_trends, contacts")
  invalid(function() cordial.export("contacts") end, "argument #2 (params) must be a table, got nil")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = "has space"})) end,
    "name may only contain letters, numbers and dashes")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = "under_score"})) end, "only contain letters, numbers and dashes")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = ""})) end, "only contain letters, numbers and dashes")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = 7})) end, "field 'name' must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = {}})) end, "field 'audiences' must not be empty")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = "VIP customers"})) end, "field 'audiences' must be a list")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = {1}})) end, "field 'audiences'[1] must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {start = "January"})) end, "start must be a date")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {stop = "2024-13-01"})) end, "stop must be a date")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {start = "2024-02-01", stop = "2024-01-01"})) end, "stop is before start")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {stop = 20240101})) end, "field 'stop' must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audience = {"a"}})) end, "unknown audience_trends parameter 'audience'")
  invalid(function() cordial.export("contacts", {name = "a", export_type = "xml", destination = s3()}) end,
    "field 'export_type' must be one of csv, json, txt, got 'xml'")
  invalid(function() cordial.export("contacts", {name = "a", destination = s3(), fields = "email"}) end, "field 'fields' must be a list")
  invalid(function() cordial.export("contacts", {name = "a", destination = s3(), lists = {}}) end, "field 'lists' must not be empty")
  invalid(function() cordial.export("contacts", {name = "a", destination = s3(), show_header = "yes"}) end, "field 'show_header' must be a boolean")
  invalid(function() cordial.export("contacts", {name = "a", destination = s3(), compress = 1}) end, "field 'compress' must be a boolean")
  invalid(function() cordial.export("contacts", {name = "a", destination = s3(), showHeader = true}) end, "unknown contacts parameter 'showHeader'")
end)

t.test("destinations are checked, and their secrets never echoed", function()
  local function bad(dest, needle)
    local err = invalid(function() cordial.export("contacts", {name = "a", destination = dest}) end, needle)
    no_secret(tostring(err), "the error")
  end
  bad("s3", "field 'destination' must be a table")
  bad(s3{type = "dropbox"}, "destination.type must be one of aws, ftp, gcs, s3, sftp (in upper or lower case), got 'dropbox'")
  bad({path = "x"}, "destination.type is required")
  bad(s3{type = false}, "destination.type must be a string")
  bad(s3{aws_secret_access_key = ""}, "destination.aws_secret_access_key must not be empty")
  bad(s3{aws_access_key_id = false}, "destination.aws_access_key_id must be a string")
  bad(s3{aws_bucket = "Bad_Bucket"}, "destination.aws_bucket must be an S3 bucket name")
  bad(s3{aws_secret = SECRET}, "unknown destination field 'aws_secret'")
  bad(s3{path = "../etc"}, "destination.path must be a path without . or .. parts")
  bad(s3{endpoint = "ftp://x"}, "destination.endpoint must be an http(s) URL")
  bad(sftp{password = false}, "destination.password must be a string")
  bad(sftp{password = ""}, "destination.password or destination.savedKey is required for type sftp")
  local no_server = sftp()
  no_server.server = nil
  bad(no_server, "destination.server is required for type sftp")
  bad(sftp{port = 70000}, "destination.port must be a port number")
  bad(sftp{port = "ssh"}, "destination.port must be a port number")
  bad(sftp{port = {}}, "destination.port must be an integer")
  bad({type = "gcs"}, "destination.gcs_bucket is required for type gcs")
  bad({type = "ftp", server = "h", username = "u", savedKey = PASSWORD, port = "0"}, "destination.port must be a port number")
end)

t.test("the vendor's errors: 404 RECORD_NOT_FOUND, 400 VALIDATION_ERROR", function()
  local err = t.raises(cordial.export, "audience_trends", trends("no-audience", nil, {audiences = {"Nobody"}}))
  t.equal(err.kind, "http")
  t.equal(err.status, 404)
  t.equal(err.code, "RECORD_NOT_FOUND")
  t.equal(err.vendor, "cordial")
  t.contains(err.message, "Audience \"Nobody\" not found")
  t.equal(err.details.errorKey, "RECORD_NOT_FOUND")
  no_secret(tostring(err), "the error")
  -- A body the binding would never send (no audiences): Cordial's 400.
  err = t.raises(cordial.default_client().call, cordial.default_client(), "POST", "/v2/audiencetrendsexport",
    {json = {name = name("no-audiences"), exportType = "csv", selected_timeframe_start = "2024-01-01",
      selected_timeframe_end = "2024-01-02"}})
  t.equal(err.status, 400)
  t.equal(err.code, "VALIDATION_ERROR")
  t.contains(err.message, "audiences")
  err = t.raises(cordial.job, "000000000000000000000000")
  t.equal(err.status, 404)
  t.equal(err.code, "RECORD_NOT_FOUND")
  invalid(function() cordial.job() end, "argument #1 (id) must be a string, got nil")
  invalid(function() cordial.job("") end, "id must not be empty")
end)

t.test("401 with a wrong key", function()
  -- Under --sandbox a client's own key is not used: this runs in a process
  -- of its own, without --sandbox, against the simulator's URL.
  local key = "wrong-key-" .. uniq
  local script = tmp("wrong-key.lua")
  local f = assert(io.open(script, "wb"))
  f:write(string.format([[
local cordial, json = require "cordial", require "json"
local c = cordial.client{api_key = %q}
local ok, err = pcall(c.jobs, c, {page = 1})
local ok2, err2 = pcall(c.export, c, "audience_trends", {name = "unauth", audiences = {"VIP customers"},
  start = "2024-01-01", stop = "2024-01-02"})
print("RESULT " .. json.encode{kind = err.kind, status = err.status, code = err.code, message = err.message,
  text = tostring(err), client = tostring(c), status2 = err2.status, text2 = tostring(err2)})
]], key))
  f:close()
  local cmd = string.format("env -u MOONPORT_SANDBOX CORDIAL_API_KEY=%s CORDIAL_BASE_URL=%q HOME=%s %q run --state %q %q 2>&1",
    key, os.getenv("CORDIAL_BASE_URL"), tmp("home"), arg[-1], tmp("wrong-key.sqlite"), script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  os.remove(tmp("wrong-key.sqlite"))
  local line = assert(out:match("RESULT (%b{})"), out)
  local r = json.decode(line)
  t.equal(r.kind, "auth")
  t.equal(r.status, 401)
  t.equal(r.code, "UNAUTHORIZED")
  t.contains(r.message, "(check ")
  t.contains(r.message, "api_key")
  t.equal(r.status2, 401)
  assert(not out:find(key, 1, true), "the key is not in the output: " .. out)
end)

t.test("500 and 429", function()
  t.sim_faults("500:1", 1)
  local err = t.raises(cordial.jobs, {page = 1})
  t.sim_faults("")
  t.equal(err.kind, "http")
  t.equal(err.status, 500)
  t.equal(err.code, "INTERNAL_SERVER_ERROR")
  t.equal(err.retryable, true)
  t.sim_faults("429:1", 1)
  err = t.raises(cordial.jobs, {page = 1})
  -- The last 429 said X-Rate-Limit-Remaining: 0 for 1 s; http keeps that
  -- budget per host, and the simulator's own routes share the host.
  require("task").sleep(1.2)
  t.sim_faults("")
  t.equal(err.kind, "rate_limited")
  t.equal(err.status, 429)
end)

t.test("jobs listing and job(id)", function()
  local all = cordial.jobs()
  assert(#all >= 5, "the jobs started so far: " .. #all)
  for _, j in ipairs(all) do t.equal(getmetatable(j), getmetatable(all[1])) end
  local named = cordial.jobs{job_name = name("trends")}
  t.equal(#named, 1)
  t.equal(named[1].kind, "export", "a listed job: Cordial's listing does not say which export it is")
  t.equal(named[1].status, "done")
  t.equal(named[1].raw.jobName, name("trends"))
  local failed = cordial.jobs{status = "Failed"}
  assert(#failed >= 1)
  for _, j in ipairs(failed) do t.equal(j.status, "failed") end
  local page = cordial.jobs{page = 1, per_page = 2}
  if t.variant("cordial.paging") == "ignored" then
    t.equal(#page, #all, "a service that ignores paging gives every job on any page")
  elseif t.variant("cordial.paging") == "capped_ignored" then
    t.equal(#page, 2)
    t.equal(cordial.jobs{page = 2, per_page = 2}[1].id, page[1].id, "page ignored: the first page again")
    -- Full pages repeated: the listing cannot be had whole, and says so rather than ending short.
    local e = t.raises(cordial.jobs, {per_page = 2})
    t.equal(e.kind, "validation")
    t.contains(e.message, "only 2 items could be listed")
  else
    t.equal(#page, 2)
    local page2 = cordial.jobs{page = 2, per_page = 2}
    assert(page2[1].id ~= page[1].id and page2[1].id ~= page[2].id)
  end
  -- Every page when page is not given, a small page size.
  if t.variant("cordial.paging") ~= "capped_ignored" then t.equal(#cordial.jobs{per_page = 2}, #all) end
  local one = cordial.job(named[1].id)
  t.equal(one.id, named[1].id)
  t.equal(one.status, "done")
  -- A job cordial did not start here: its destination is unknown.
  local err = t.raises(one.download, one, tmp("x.csv"))
  t.equal(err.kind, "usage")
  t.contains(err.message, "destination is")
  -- The export resource is not a collection of exports: jobs are read through the jobs resource.
  local e = t.raises(cordial.default_client().call, cordial.default_client(), "GET", "/v2/audiencetrendsexport")
  t.equal(e.status, 405)
  invalid(function() cordial.jobs{status = "Finished"} end, "option 'status' must be one of Done, Failed, Pending, Processing, Scheduled, Throttled")
  invalid(function() cordial.jobs{page = 0} end, "page must be >= 1")
  invalid(function() cordial.jobs{per_page = 1001} end, "per_page must be between 1 and 1000")
  invalid(function() cordial.jobs{jobName = "x"} end, "unknown option 'jobName'")
  invalid(function() cordial.jobs("x") end, "argument #1 (options) must be a table")
end)

t.test("jobs cannot be cancelled", function()
  local job = cordial.jobs{per_page = 1, page = 1}[1]
  local err = t.raises(job.cancel, job)
  t.equal(err.kind, "usage")
  t.contains(err.message, "cannot be cancelled")
end)

t.test("Jobs come back from state.once with their destination", function()
  local key = "cordial export " .. uniq
  local job = state.once(key, function() return cordial.export("audience_trends", trends("state")) end)
  local again = state.once(key, function() error("not run again") end)
  t.equal(again.id, job.id)
  t.equal(again.kind, "audience_trends")
  no_secret(tostring(again), "tostring(job)")
  again:wait{interval = 0.05}
  t.equal(again.status, "done")
  local r = again:download(tmp("again.csv"))
  t.equal(r.bytes > 0, true)
  state.forget(key)
end)

t.test("export exactly once when the answer is lost", function()
  local before = t.sim_stats()
  -- The POST takes effect and its answer is lost; the lookup is answered.
  local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
  local job = cordial.export("audience_trends", trends("lost"))
  t.equal(fired(), true, "the answer was lost")
  local after = t.sim_stats()
  t.equal(after.faults.lost - before.faults.lost, 1, "the answer was lost once")
  t.equal(after.created.cordial.exports - before.created.cordial.exports, 1, "created once")
  t.equal(after.duplicates.total, 0)
  local named = cordial.jobs{job_name = name("lost")}
  t.equal(#named, 1)
  t.equal(job.id, named[1].id, "the job it created was adopted")
  job:wait{interval = 0.05}
  t.equal(job.status, "done")
end)

t.test("contacts export: a cut-off answer is adopted too", function()
  local before = t.sim_stats()
  local fired = t.lose_next(cordial.Client, "POST", "/v2/contactexports", "truncate")
  local job = cordial.export("contacts", {name = name("truncated"), destination = sftp()})
  t.equal(fired(), true, "the answer was cut off")
  local after = t.sim_stats()
  t.equal(after.faults.truncate - before.faults.truncate, 1)
  t.equal(after.created.cordial.exports - before.created.cordial.exports, 1, "created once")
  t.equal(after.duplicates.total, 0)
  t.equal(cordial.jobs{job_name = name("truncated")}[1].id, job.id)
end)

t.test("a missing credential names the variable to set", function()
  local script = tmp("plain.lua")
  local f = assert(io.open(script, "wb"))
  f:write('local ok, err = pcall(require("cordial").jobs) print(err.kind, err.message)')
  f:close()
  local cmd = string.format("env -u CORDIAL_API_KEY HOME=%s %q run --state %q %q 2>&1", tmp("home"), arg[-1], tmp("plain.sqlite"), script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  os.remove(tmp("plain.sqlite"))
  t.contains(out, "auth")
  t.contains(out, "no API key: set CORDIAL_API_KEY")
end)

t.test("no duplicates over the run", function()
  t.equal(t.sim_stats().duplicates.total, 0)
end)

t.test("a reused name: only a job made after the attempt began is adopted", function()
  local reused = name("reused")
  local first = cordial.export("audience_trends", trends("reused"))
  local before = t.sim_stats()
  local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
  local second = cordial.export("audience_trends", trends("reused"))
  t.equal(fired(), true, "the answer was lost")
  assert(second.id ~= first.id, "the older job of that name is not adopted")
  local after = t.sim_stats()
  t.equal(after.created.cordial.exports - before.created.cordial.exports, 1, "sent once")
  t.equal(#cordial.jobs{job_name = reused}, 2)
  -- (The simulator counts a reused name as a duplicate: that is the user's choice here.)
end)

---------------------------------------------------------------------------
-- Cordial's API documentation, point by point
---------------------------------------------------------------------------

t.test("destination is optional: {type = 'aws'} or none leaves the file on the Jobs page of the UI", function()
  local sent, job = posted(function()
    return cordial.export("audience_trends", trends("ui-aws", {type = "aws"}))
  end)
  t.equal(sent[1].destination.type, "aws")
  local none
  sent, none = posted(function()
    local p = trends("ui-none")
    p.destination = nil
    return cordial.export("audience_trends", p)
  end)
  t.equal(sent[1].destination, nil, "no destination sent")
  for _, j in ipairs{job, none} do
    j:wait{interval = 0.05}
    t.equal(j.status, "done")
    local err = t.raises(j.download, j, tmp("ui.csv"))
    t.equal(err.kind, "usage")
    t.contains(err.message, "Jobs page of Cordial's UI")
    t.contains(err.message, "30 days")
    t.contains(err.message, j.ref.name .. ".csv")
    t.equal(t.exists(tmp("ui.csv")), false)
  end
  -- The contacts export takes no destination either.
  local c = cordial.export("contacts", {name = name("ui-contacts")})
  t.equal(c:wait{interval = 0.05}.status, "done")
end)

t.test("destination types in upper or lower case, sent as the user gave them", function()
  local sent = posted(function()
    cordial.export("audience_trends", trends("upper-s3", s3{type = "S3"}))
    cordial.export("contacts", {name = name("upper-sftp"), destination = sftp{type = "SFTP"}})
    cordial.export("contacts", {name = name("upper-gcs"), destination = {type = "GCS", gcs_bucket = "exports-bucket"}})
    cordial.export("contacts", {name = name("upper-aws"), destination = {type = "AWS"}})
  end)
  t.equal(sent[1].destination.type, "S3")
  t.equal(sent[2].destination.type, "SFTP")
  t.equal(sent[3].destination.type, "GCS")
  t.equal(sent[4].destination.type, "AWS")
  local job = cordial.jobs{job_name = name("upper-s3")}[1]
  t.equal(job.raw.jobName, name("upper-s3"))
end)

t.test("FTP and SFTP need a port (a number or a numeric string); S3 needs aws_region", function()
  local function bad(dest, needle)
    local err = invalid(function() cordial.export("contacts", {name = "a", destination = dest}) end, needle)
    no_secret(tostring(err), "the error")
  end
  local no_port = sftp()
  no_port.port = nil
  bad(no_port, "destination.port is required for type sftp")
  bad({type = "ftp", server = "ftp.example.com", username = "u", password = PASSWORD}, "destination.port is required for type ftp")
  local no_region = s3()
  no_region.aws_region = nil
  bad(no_region, "destination.aws_region is required for type s3")
  -- Cordial's SFTP example sends the port as the string "21".
  local sent = posted(function()
    return cordial.export("audience_trends", trends("port-string", sftp{port = "21", path = "/"}))
  end)
  t.equal(sent[1].destination.port, "21")
  -- A bucket name like the one of Cordial's S3 example.
  local job = cordial.export("audience_trends", trends("my-bucket", s3{aws_bucket = "my_bucket", path = "folder"}))
  t.equal(job:download(tmp("my_bucket.csv")).rows, 2)
end)

t.test("S3 path: the folder, or the folder and the file; both are read back", function()
  -- Cordial's documentation: "path to folder and file" (/folder/contactsExport.csv), and the example "folder".
  -- The simulator's reading (cordial.s3_path): a file extension names the file, always a folder, or always the file.
  local reading = t.variant("cordial.s3_path")
  local function key(path, what)
    local file = name(what) .. ".csv"
    if reading == "folder" then return path .. "/" .. file end
    if reading == "file" then return path end
    return path:match("%.csv$") and path or (path .. "/" .. file)
  end
  local cases = {
    {path = "folder", key = key("folder", "s3-folder"), what = "s3-folder"},
    {path = "/folder/sub", key = key("folder/sub", "s3-slash"), what = "s3-slash"},
    {path = "/folder/trendsExport.csv", key = key("folder/trendsExport.csv", "s3-file"), what = "s3-file"},
    {path = nil, key = name("s3-root") .. ".csv", what = "s3-root"},
    -- Cordial's documentation: a trailing slash gives a doubled one.
    {path = "folder/", key = "folder//" .. name("s3-trailing") .. ".csv", what = "s3-trailing"},
  }
  for _, case in ipairs(cases) do
    local dest = s3()
    dest.path = case.path
    local job = cordial.export("audience_trends", trends(case.what, dest))
    local r = job:download(tmp(case.what .. ".csv"))
    t.equal(r.rows, 2, case.what)
    t.equal(job.raw.result.location, "s3://moonport-test-exports/" .. case.key, case.what)
  end
end)

t.test("the file has a column per day of the timeframe and a row per audience", function()
  local job = cordial.export("audience_trends", trends("layout", s3(), {audiences = {"VIP customers", "App users", "Winback 90d"},
    start = "2024-02-27", stop = "2024-03-02T18:00:00Z"}))
  local sent = job.ref
  local r = job:download(tmp("layout.csv"))
  t.equal(r.rows, 3, "a row per audience")
  local rows = csv_rows(tmp("layout.csv"))
  t.equal(#rows, 4, "the header and three audiences")
  t.equal(#rows[1], 1 + 5, "the audience column and 5 days (2024 is a leap year)")
  t.equal(rows[1][2], "2024-02-27")
  t.equal(rows[1][4], "2024-02-29")
  t.equal(rows[1][6], "2024-03-02")
  t.equal(rows[2][1], "VIP customers")
  t.equal(rows[4][1], "Winback 90d")
  for i = 2, 4 do
    t.equal(#rows[i], 6)
    for k = 2, 6 do assert(math.tointeger(tonumber(rows[i][k])), "a count: " .. tostring(rows[i][k])) end
  end
  t.equal(sent.name, name("layout"))
end)

t.test("the timeframe is sent as dates", function()
  local sent = posted(function()
    return cordial.export("audience_trends", trends("dates", nil, {start = "2024-01-01T00:00:00Z", stop = "2024-01-03T23:00:00+02:00"}))
  end)
  t.equal(sent[1].selected_timeframe_start, "2024-01-01")
  t.equal(sent[1].selected_timeframe_end, "2024-01-03")
end)

t.test("jobs listing: every job, when Cordial serves fewer a page than asked or ignores paging", function()
  -- More jobs than a capped page (20) holds.
  for i = 1, 22 do cordial.export("contacts", {name = name("many-" .. i), destination = sftp()}) end
  local total = created()
  local before = t.sim_stats().requests
  local all = cordial.jobs()
  local sent = t.sim_stats().requests - before
  if t.variant("cordial.paging") == "capped_ignored" then
    -- A bare list, no total, 20 a page and the page ignored: 20 jobs cannot be told from a cap of 20
    -- (a warning says so); a full page asked for and repeated raises instead.
    t.equal(#all, 20)
    local e = t.raises(cordial.jobs, {per_page = 7})
    t.equal(e.kind, "validation")
    return
  end
  t.equal(#all, history + total, "every job Cordial has: the account's earlier ones and this run's")
  assert(sent <= 4, "requests for the listing: " .. sent)
  local ids = {}
  for _, j in ipairs(all) do
    t.equal(ids[j.id], nil, "each job once")
    ids[j.id] = true
  end
  t.equal(#cordial.jobs{per_page = 7}, history + total)
end)

t.test("exactly once when Cordial's job list names its fields id and name", function()
  local rename = function(list)
    local out = {}
    for i, j in ipairs(list) do out[i] = {id = j._id, name = j.jobName, status = j.status, createdAt = j.times.start} end
    return out
  end
  local before = created()
  local job = with_job_list(rename, function()
    local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
    local j = cordial.export("audience_trends", trends("renamed"))
    t.equal(fired(), true, "the answer was lost")
    return j
  end)
  t.equal(created() - before, 1, "created once")
  t.equal(cordial.jobs{job_name = name("renamed")}[1].id, job.id, "the job it created was adopted")
end)

t.test("exactly once: a job list without names fails safe, naming the export and where to look", function()
  local strip = function(list)
    local out = {}
    for i, j in ipairs(list) do out[i] = {status = j.status} end
    return out
  end
  local before = created()
  local err = with_job_list(strip, function()
    local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
    local e = t.raises(cordial.export, "audience_trends", trends("nameless"))
    t.equal(fired(), true, "the answer was lost")
    return e
  end)
  t.equal(created() - before, 1, "sent once, never again")
  t.equal(err.kind, "network")
  t.equal(err.retryable, false)
  t.contains(err.message, "export '" .. name("nameless") .. "' may have been created")
  t.contains(err.message, "Jobs page of Cordial's UI")
  t.contains(err.message, "Nothing was sent again")
end)

t.test("exactly once: without a job list at all, exports still start and a lost answer fails safe", function()
  local before = created()
  local job = with_job_list("/v2/no-such-listing", function()
    return cordial.export("contacts", {name = name("no-list")})
  end)
  t.equal(created() - before, 1)
  t.equal(job.status, "queued")
  local err = with_job_list("/v2/no-such-listing", function()
    local fired = t.lose_next(cordial.Client, "POST", "/v2/contactexports")
    local e = t.raises(cordial.export, "contacts", {name = name("no-list-lost")})
    t.equal(fired(), true, "the answer was lost")
    return e
  end)
  t.equal(created() - before, 2, "the lost one sent once, never again")
  t.contains(err.message, "contacts export '" .. name("no-list-lost") .. "' may have been created")
  t.contains(err.message, "job list could not be read")
  t.contains(err.message, "cordial.jobs{job_name = \"" .. name("no-list-lost") .. "\"}")
end)

---------------------------------------------------------------------------
-- Exactly once where Cordial's documentation is silent about the job list
---------------------------------------------------------------------------

--- Runs fn while GET /v2/jobs answers as a service would that ignores the
--- jobName filter and the page, lists the oldest first and serves at most
--- `cap` jobs, saying how many it has (total).
local function with_capped_oldest_first(cap, fn)
  local orig = cordial.Client.call
  cordial.Client.call = function(self, m, path, opts)
    if not (m == "GET" and path == "/v2/jobs") then return orig(self, m, path, opts) end
    -- Every job the simulator has, whatever its paging reading (newest first).
    local all, seen, page = {}, {}, 1
    while page <= 100 do
      local body = orig(self, m, path, {query = {page = page, per_page = 1000}})
      local list = body[1] == nil and type(body.data) == "table" and body.data or body
      local new = 0
      for _, j in ipairs(list) do
        if not seen[j._id] then seen[j._id] = true; all[#all + 1] = j; new = new + 1 end
      end
      if new == 0 then break end
      page = page + 1
    end
    local oldest = {}
    for i = #all, 1, -1 do oldest[#oldest + 1] = all[i] end
    local shown = {}
    for i = 1, math.min(cap, #oldest) do shown[i] = oldest[i] end
    return {data = json.array(shown), total = #oldest}
  end
  local ok, r = pcall(fn)
  cordial.Client.call = orig
  if not ok then error(r, 0) end
  return r
end

t.test("exactly once: a job list that ignores the page under a cap fails safe, and is not listed short", function()
  local before = created()
  local err = with_capped_oldest_first(2, function()
    local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
    local e = t.raises(cordial.export, "audience_trends", trends("capped-lost"))
    t.equal(fired(), true, "the answer was lost")
    return e
  end)
  t.equal(created() - before, 1, "sent once, never again")
  t.equal(err.retryable, false)
  t.contains(err.message, "export '" .. name("capped-lost") .. "' may have been created")
  t.contains(err.message, "could not be read whole")
  local e2 = with_capped_oldest_first(2, function() return t.raises(cordial.jobs) end)
  t.equal(e2.kind, "validation")
  t.contains(e2.message, "only 2 of the")
end)

t.test("exactly once: 'no job of that name' is trusted only once the job list has shown an export of this run by name", function()
  -- A fresh client: this process has not yet seen what its job list gives.
  local fresh = cordial.client{}
  local before = created()
  -- A job list that never lists anything (it does not find jobs by the name asked).
  local err = with_job_list(function() return json.array({}) end, function()
    local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
    local e = t.raises(fresh.export, fresh, "audience_trends", trends("unproven"))
    t.equal(fired(), true, "the answer was lost")
    return e
  end)
  t.equal(created() - before, 1, "sent once, never again")
  t.equal(err.retryable, false)
  t.contains(err.message, "export '" .. name("unproven") .. "' may have been created")
  t.contains(err.message, "cannot be trusted")
  -- Nor does a list prove anything whose jobs (the account's earlier ones too) carry no names, or one
  -- that names its jobs but does not show them when asked for their name.
  local strip = function(list, query)
    if query.jobName then return json.array({}) end
    local out = {}
    for i, j in ipairs(list) do out[i] = {_id = j._id, status = j.status} end
    return out
  end
  local unfiltered = function(list, query) if query.jobName then return json.array({}) end return list end
  for i, rewrite in ipairs({strip, unfiltered}) do
    local what = "unproven-" .. i
    local e = with_job_list(rewrite, function()
      local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport")
      local e = t.raises(cordial.client{}.export, cordial.client{}, "audience_trends", trends(what))
      t.equal(fired(), true, "the answer was lost")
      return e
    end)
    t.equal(created() - before, 1 + i, "sent once, never again")
    t.contains(e.message, "export '" .. name(what) .. "' may have been created")
    t.contains(e.message, "cannot be trusted")
  end
  before = created()
  -- The real list finds this run's exports by name: an answer lost before the export was made is sent again.
  local other = cordial.client{}
  local fired = t.lose_next(cordial.Client, "POST", "/v2/audiencetrendsexport", "reset")
  local job = other:export("audience_trends", trends("proven"))
  t.equal(fired(), true, "the request was reset before it took effect")
  t.equal(created() - before, 1, "the export that was never made is made once")
  t.equal(cordial.jobs{job_name = name("proven")}[1].id, job.id)
end)

t.test("a lost first export of a run is resolved when the job list names its earlier jobs: sent again once, no duplicate", function()
  assert(history > 0, "the account has jobs from before the run")
  for _, j in ipairs(cordial.jobs{page = 1, per_page = 100}) do
    if j.raw.jobName:find("^contacts%-") then t.equal(j.status, "done", "an earlier export") end
  end
  -- A run that has made no export yet: a copy of the binding of its own (no export claimed, no listing seen).
  local loaded, modules = package.loaded.cordial, require("moonport.client").modules
  package.loaded.cordial = nil
  local ok, first_run = pcall(require, "cordial")
  package.loaded.cordial, modules.cordial = loaded, loaded
  assert(ok, first_run)
  assert(first_run ~= cordial, "a fresh copy of the binding")
  local before = t.sim_stats()
  -- Its very first export is answered 500 (the export is not made): Cordial's list has no job of that name,
  -- and it finds the account's earlier jobs by name, so the export is sent again, once.
  local fired = t.lose_next(first_run.Client, "POST", "/v2/audiencetrendsexport", "500")
  local job = first_run.export("audience_trends", trends("first-lost"))
  t.equal(fired(), true, "the first answer was a 500")
  local after = t.sim_stats()
  t.equal(after.created.cordial.exports - before.created.cordial.exports, 1, "sent again once: one export made")
  t.equal(after.duplicates.total, before.duplicates.total, "no duplicate")
  local named = cordial.jobs{job_name = name("first-lost")}
  t.equal(#named, 1, "one job of that name")
  t.equal(named[1].id, job.id)
  job:wait{interval = 0.05}
  t.equal(job.status, "done")
end)

t.done()
