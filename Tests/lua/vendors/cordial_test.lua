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

t.test("status words", function()
  local s = cordial.statuses
  t.equal(s.Scheduled, "queued")
  t.equal(s.Pending, "queued")
  t.equal(s.Throttled, "queued")
  t.equal(s.Processing, "running")
  t.equal(s.Done, "done")
  t.equal(s.Failed, "failed")
  t.equal(cordial.vendor, "cordial")
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
  t.equal(job.raw.totalItems, 62, "31 days x 2 audiences")
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
  assert(csvjob.raw.metadata.fileName:find("%.csv%.gz$"), csvjob.raw.metadata.fileName)
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
  t.contains(err.message, "the export was delivered to sftp://sftp.example.com:2222/out/" .. name("dl-sftp") .. "-" .. sjob.id .. ".csv")
  t.contains(err.message, "moonport can only read back s3 and aws destinations")
  no_secret(tostring(err), "the error")

  local gjob = cordial.export("contacts", {name = name("dl-gcs"), destination = {type = "gcs", gcs_bucket = "exports-bucket"}})
  gjob:wait{interval = 0.05}
  err = t.raises(gjob.download, gjob, tmp("contacts.csv"))
  t.contains(err.message, "gcs://exports-bucket/" .. name("dl-gcs") .. "-" .. gjob.id .. ".csv")
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
  invalid(function() cordial.export("contacts") end, "argument #2 (params) is required")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = "has space"})) end,
    "name may contain only letters, digits and dashes")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = "under_score"})) end, "only letters, digits and dashes")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = string.rep("a", 129)})) end, "1 to 128")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {name = 7})) end, "field 'name' must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = {}})) end, "field 'audiences' must not be empty")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = "VIP customers"})) end, "field 'audiences' must be a list")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audiences = {1}})) end, "field 'audiences'[1] must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {start = "January"})) end, "start must be a date")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {stop = "2024-13-01"})) end, "stop must be a date")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {start = "2024-02-01", stop = "2024-01-01"})) end, "stop is before start")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {stop = 20240101})) end, "field 'stop' must be a string")
  invalid(function() cordial.export("audience_trends", trends("x", nil, {audience = {"a"}})) end, "unknown audience_trends parameter 'audience'")
  invalid(function() local p = trends("x"); p.destination = nil; cordial.export("audience_trends", p) end, "field 'destination' is required")
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
  bad(s3{type = "dropbox"}, "destination.type must be one of aws, ftp, gcs, s3, sftp, got 'dropbox'")
  bad(s3{type = false}, "destination.type must be a string")
  bad(s3{aws_secret_access_key = ""}, "destination.aws_secret_access_key must not be empty")
  bad(s3{aws_access_key_id = false}, "destination.aws_access_key_id must be a string")
  bad(s3{aws_bucket = "Bad_Bucket"}, "destination.aws_bucket must be an S3 bucket name")
  bad(s3{aws_secret = SECRET}, "unknown destination field 'aws_secret'")
  bad(s3{path = "../etc"}, "destination.path must be a relative folder")
  bad(s3{endpoint = "ftp://x"}, "destination.endpoint must be an http(s) URL")
  bad(sftp{password = false}, "destination.password must be a string")
  bad(sftp{password = ""}, "destination.password or destination.savedKey is required for type sftp")
  local no_server = sftp()
  no_server.server = nil
  bad(no_server, "destination.server is required")
  bad(sftp{port = 70000}, "destination.port must be a port number")
  bad(sftp{port = {}}, "destination.port must be an integer")
  bad({type = "gcs"}, "destination.gcs_bucket is required")
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
  err = t.raises(cordial.export, "audience_trends", trends("too-long", nil, {start = "2022-01-01", stop = "2024-01-01"}))
  t.equal(err.status, 400)
  t.equal(err.code, "VALIDATION_ERROR")
  t.contains(err.message, "at most a year")
  no_secret(tostring(err), "the error")
  err = t.raises(cordial.job, "000000000000000000000000")
  t.equal(err.status, 404)
  t.equal(err.code, "RECORD_NOT_FOUND")
  invalid(function() cordial.job() end, "argument #1 (id) is required")
  invalid(function() cordial.job("") end, "id must not be empty")
end)

t.test("401 with a wrong key", function()
  local key = "wrong-key-" .. uniq
  local c = cordial.client{api_key = key}
  local err = t.raises(c.jobs, c)
  t.equal(err.kind, "auth")
  t.equal(err.status, 401)
  t.equal(err.code, "UNAUTHORIZED")
  t.contains(err.message, "check CORDIAL_API_KEY")
  assert(not tostring(err):find(key, 1, true), "the key is not in the error")
  assert(not tostring(c):find(key, 1, true), "the key is not in tostring(client)")
  err = t.raises(c.export, c, "audience_trends", trends("unauth"))
  t.equal(err.status, 401)
  no_secret(tostring(err), "the error")
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
  t.equal(named[1].kind, "audience_trends")
  t.equal(named[1].status, "done")
  t.equal(named[1].raw.jobName, name("trends"))
  local failed = cordial.jobs{status = "Failed"}
  assert(#failed >= 1)
  for _, j in ipairs(failed) do t.equal(j.status, "failed") end
  local page = cordial.jobs{page = 1, per_page = 2}
  t.equal(#page, 2)
  local page2 = cordial.jobs{page = 2, per_page = 2}
  assert(page2[1].id ~= page[1].id and page2[1].id ~= page[2].id)
  -- Every page when page is not given, a small page size.
  t.equal(#cordial.jobs{per_page = 2}, #all)
  local one = cordial.job(named[1].id)
  t.equal(one.id, named[1].id)
  t.equal(one.status, "done")
  -- A job cordial did not start here: its destination is unknown.
  local err = t.raises(one.download, one, tmp("x.csv"))
  t.equal(err.kind, "usage")
  t.contains(err.message, "destination is")
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

t.done()
