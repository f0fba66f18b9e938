-- The mediarithmics binding against the simulator (--sandbox), run by moonport itself:
--   MOONPORT_SIM_SPEED=20 moonport run --sandbox -I Tests/lua/lib Tests/lua/vendors/mediarithmics_test.lua
local t = require "testing"
local tmp = t.tmp
local slurp = t.slurp
local exists = t.exists
local function invalid(fn, needle) return t.invalid(fn, needle, "mediarithmics") end
local mics = require "mediarithmics"
local json = require "json"
local state = require "state"
local V = require "moonport.vendor"
local log = require "log"

local NDJSON, CSV = "APPLICATION_X_NDJSON", "TEXT_CSV"
local fast = {interval = 0.1, timeout = 60}
local run_id = string.format("%d-%06d", os.time(), math.random(0, 999999))

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function stats() return t.sim_stats() end
local function requests() return stats().requests end
local function created(kind) return (stats().created.mediarithmics or {})[kind] or 0 end

--- Records the temporary files os.tmpname hands out while fn runs.
local function with_tmpnames(fn)
  local made, orig = {}, os.tmpname
  os.tmpname = function()
    local p = orig()
    made[#made + 1] = p
    return p
  end
  local ok, a = pcall(fn)
  os.tmpname = orig
  if not ok then error(a, 0) end
  return made, a
end

local function activities(n, tag)
  local out = {}
  for i = 1, n do
    out[i] = {["$user_account_id"] = "user-" .. i, ["$type"] = "SITE_VISIT", ["$ts"] = 1700000000000 + i,
      ["$events"] = json.array({{["$event_name"] = "visit", ["$properties"] = {tag = tag, n = i}}})}
  end
  return out
end

local function write_activities(path, n, tag)
  local f = assert(io.open(path, "wb"))
  for _, r in ipairs(activities(n, tag)) do f:write(json.encode(r), "\n") end
  f:close()
end

local function totals(jobs)
  local ok, bad = 0, 0
  for _, j in ipairs(jobs) do
    ok, bad = ok + j.raw.data.result.total_success, bad + j.raw.data.result.total_failure
  end
  return ok, bad
end

t.sim_reset()

local function activity_import(name)
  return mics.document_import{datamart = "1502", document_type = "USER_ACTIVITY", mime_type = NDJSON,
    encoding = "utf-8", name = name}
end

---------------------------------------------------------------------------
-- Status words and error bodies
---------------------------------------------------------------------------

t.test("every status word maps to its Job status", function()
  local want = {WAITING_DEPENDENT_JOB = "queued", SCHEDULED = "queued", PENDING = "queued", RUNNING = "running",
    SUCCEEDED = "done", SUCCESS = "done", FAILED = "failed", LOST = "failed", CANCELED = "cancelled"}
  local n = 0
  for word, status in pairs(want) do
    t.equal(mics.statuses[word], status, word)
    n = n + 1
  end
  for word in pairs(mics.statuses) do t.equal(want[word] ~= nil, true, "unexpected word " .. word) end
  t.equal(n, 9)
end)

t.test("a job built from a status response: status, vendor_status, error", function()
  local c = mics.default_client()
  local ref = {datamart = "1502", import = "1"}
  local j = c:job("documents", "7", ref, {status = "ok", data = {id = "7", status = "RUNNING"}})
  t.equal(j.status, "running")
  t.equal(j.vendor_status, "RUNNING")
  j = c:job("documents", "7", ref, {status = "ok", data = {id = "7", status = "FAILED",
    error = {message = "Every line of the file was rejected (3 lines)"},
    result = {total_success = 0, total_failure = 3, error_file_uri = "mics://errors.ndjson"}}})
  t.equal(j.status, "failed")
  t.contains(j.error, "Every line of the file was rejected (3 lines)")
  t.contains(j.error, "0 line(s) accepted, 3 rejected; errors in mics://errors.ndjson")
  j = c:job("documents", "7", ref, {status = "ok", data = {id = "7", status = "LOST", error = json.null}})
  t.equal(j.status, "failed")
  t.contains(j.error, "LOST")
  j = c:job("documents", "7", ref, {status = "ok", data = {id = "7", status = "CANCELED"}})
  t.equal(j.status, "cancelled")
  t.equal(j.error, nil)
end)

t.test("the error body gives code and message, with error_id", function()
  local code, message = mics._def.code_and_message({status = "error", error = "Datamart 9 not found", error_code = "NOT_FOUND",
    error_id = "abc-123"})
  t.equal(code, "NOT_FOUND")
  t.equal(message, "Datamart 9 not found (error_id abc-123)")
  t.equal(mics._def.code_and_message({status = "ok", data = {}}), nil)
end)

---------------------------------------------------------------------------
-- Clients and errors
---------------------------------------------------------------------------

t.test("client: the token is in no string; unknown fields are refused", function()
  local c = mics.client{api_token = "secret-token-123", base_url = os.getenv("MEDIARITHMICS_BASE_URL")}
  t.equal(tostring(c):find("secret-token-123", 1, true), nil)
  invalid(function() mics.client{api_key = "x"} end, "unknown field 'api_key'")
  invalid(function() mics.client{api_token = 12} end, "field 'api_token' must be a string")
end)

t.test("401 with a wrong token: kind auth, status 401, no token in the message", function()
  -- Under --sandbox a client's own token is not used: this runs in a process
  -- of its own, without --sandbox, against the simulator's URL.
  local token = "wrong-token-XYZ-987"
  local script = tmp("wrong-token.lua")
  write_file(script, string.format([[
local mics, json = require "mediarithmics", require "json"
local c = mics.client{api_token = %q}
local ok, err = pcall(c.document_imports, c, "1502")
local ok2, err2 = pcall(c.document_import, c, {datamart = "1502", document_type = "USER_ACTIVITY",
  mime_type = "APPLICATION_X_NDJSON", name = "x"})
print("RESULT " .. json.encode{kind = err.kind, status = err.status, code = err.code, vendor = err.vendor,
  text = tostring(err), body_status = err.details and err.details.status, kind2 = err2.kind, text2 = tostring(err2)})
]], token))
  local cmd = string.format("env -u MOONPORT_SANDBOX MEDIARITHMICS_API_TOKEN=%s MEDIARITHMICS_BASE_URL=%q HOME=%s %q run --state %q %q 2>&1",
    token, os.getenv("MEDIARITHMICS_BASE_URL"), tmp("home"), arg[-1], tmp("wrong-token.sqlite"), script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  os.remove(tmp("wrong-token.sqlite"))
  local r = json.decode(assert(out:match("RESULT (%b{})"), out))
  t.equal(r.kind, "auth")
  t.equal(r.status, 401)
  t.equal(r.code, "AUTHENTICATION_ERROR")
  t.equal(r.vendor, "mediarithmics")
  t.contains(r.text, "Authentication failed")
  t.contains(r.text, "error_id ")
  t.equal(r.body_status, "error")
  -- The same through document_import (the lookup fails first).
  t.equal(r.kind2, "auth")
  t.equal(out:find(token, 1, true), nil, "token in " .. out)
end)

t.test("404: unknown datamart, unknown import, unknown execution", function()
  local err = t.raises(function() mics.document_imports("9999") end)
  t.equal(err.kind, "http")
  t.equal(err.status, 404)
  t.equal(err.code, "NOT_FOUND")
  t.contains(err.message, "Datamart 9999 not found (error_id ")
  err = t.raises(function() mics.document_import{datamart = 9999, document_type = "USER_SEGMENT", mime_type = NDJSON, name = "x"} end)
  t.equal(err.status, 404)
  local ghost = {id = "1", datamart_id = "1502", mime_type = NDJSON}
  local made
  made, err = with_tmpnames(function() return t.raises(function() mics.submit("documents", ghost, {{a = 1}}) end) end)
  t.equal(err.status, 404)
  t.equal(err.code, "NOT_FOUND")
  t.contains(err.message, "Document import 1 not found in datamart 1502")
  t.equal(#made, 1)
  t.equal(exists(made[1]), false, "temporary part file removed after the error")
  err = t.raises(function() mics.executions(ghost) end)
  t.equal(err.status, 404)
  local imp = activity_import("Store visits")
  local j = mics.default_client():job("documents", "424242", {datamart = "1502", import = imp.id})
  err = t.raises(function() j:refresh() end)
  t.equal(err.status, 404)
  t.contains(err.message, "Execution 424242 not found")
  err = t.raises(function() mics.poll(j, fast) end)
  t.equal(err.status, 404)
end)

t.test("400: a bad body (encoding, a Content-Type that is not the import's)", function()
  local err = t.raises(function()
    mics.document_import{datamart = "1502", document_type = "USER_SEGMENT", mime_type = NDJSON, encoding = "latin-1",
      name = "latin " .. run_id}
  end)
  t.equal(err.kind, "http")
  t.equal(err.status, 400)
  t.equal(err.code, "BAD_REQUEST_DATA")
  t.contains(err.message, "encoding must be utf-8 (error_id ")
  t.equal(err.retryable, false)
  -- An import table that says NDJSON for the CSV import "CRM profiles".
  local crm
  for _, i in ipairs(mics.document_imports("1502")) do if i.name == "CRM profiles" then crm = i end end
  local before = created("executions")
  err = t.raises(function()
    mics.submit("documents", {id = crm.id, datamart_id = "1502", mime_type = NDJSON}, {{a = 1}})
  end)
  t.equal(err.status, 400)
  t.equal(err.code, "BAD_REQUEST_DATA")
  t.contains(err.message, "does not match the import's mime_type TEXT_CSV")
  t.equal(created("executions"), before)
end)

---------------------------------------------------------------------------
-- Document imports
---------------------------------------------------------------------------

t.test("document_imports: every import of a datamart, every page", function()
  local all = mics.document_imports("1502")
  t.equal(#all >= 2, true, "imports of 1502")
  local names = {}
  for _, i in ipairs(all) do
    t.equal(i.datamart_id, "1502")
    t.equal(type(i.id), "string")
    t.equal(i.raw.id, i.id)
    names[i.name] = i
  end
  t.equal(names["Store visits"].document_type, "USER_ACTIVITY")
  t.equal(names["Store visits"].mime_type, NDJSON)
  t.equal(names["CRM profiles"].mime_type, CSV)
  -- One item a page: the same imports, one request per page (and one more for the empty end).
  local size = mics.page_size
  mics.page_size = 1
  local before = requests()
  local ok, paged = pcall(mics.document_imports, 1502)
  local sent = requests() - before
  mics.page_size = size
  if t.variant("mediarithmics.paging") == "capped_ignored" then
    -- Pages of one, first_result ignored: the same import again; the listing raises rather than ending short.
    t.equal(ok, false)
    t.equal(paged.kind, "validation")
    t.contains(paged.message, "only 1 of the " .. #all .. " items could be listed")
    return
  end
  if not ok then error(paged, 0) end
  t.equal(#paged, #all)
  if t.variant("mediarithmics.paging") == "ignored" then
    t.equal(sent, 1, "a service that ignores paging gives every import at once")
  else
    t.equal(sent >= #all, true, "requests for " .. #all .. " pages: " .. sent)
  end
  for i = 1, #all do t.equal(paged[i].id, all[i].id) end
  invalid(function() mics.document_imports() end, "argument #1 (datamart) must be a string, got nil")
  invalid(function() mics.document_imports("15/02") end, "must be an id")
end)

t.test("document_import: found by name, created once otherwise", function()
  local before = created("document_imports")
  local visits = activity_import("Store visits")
  t.equal(visits.name, "Store visits")
  t.equal(visits.datamart_id, "1502")
  t.equal(visits.document_type, "USER_ACTIVITY")
  t.equal(visits.mime_type, NDJSON)
  t.equal(visits.encoding, "utf-8")
  t.equal(created("document_imports"), before, "an existing import is not created again")
  local name = "Web events " .. run_id
  local made = activity_import(name)
  t.equal(created("document_imports"), before + 1)
  t.equal(made.name, name)
  t.equal(made.raw.name, name)
  local again = activity_import(name)
  t.equal(again.id, made.id)
  t.equal(created("document_imports"), before + 1, "found by name the second time")
  local profiles = mics.document_import{datamart = "1509", document_type = "USER_PROFILE", mime_type = CSV,
    name = "Profiles " .. run_id}
  t.equal(profiles.mime_type, CSV)
  t.equal(profiles.datamart_id, "1509")
  t.equal(stats().duplicates.total, 0)
end)

t.test("document_import: a name taken by an import of another type is refused", function()
  local err = t.raises(function()
    mics.document_import{datamart = "1502", document_type = "USER_SEGMENT", mime_type = NDJSON, name = "CRM profiles"}
  end)
  t.equal(err.kind, "validation")
  t.contains(err.message, "already has an import named 'CRM profiles', of document_type USER_PROFILE and mime_type TEXT_CSV")
end)

t.test("document_import: arguments checked before anything is sent", function()
  local ok = {datamart = "1502", document_type = "USER_SEGMENT", mime_type = NDJSON, name = "n"}
  local function with(k, v)
    local s = {}
    for a, b in pairs(ok) do s[a] = b end
    s[k] = v
    return function() mics.document_import(s) end
  end
  invalid(function() mics.document_import() end, "argument #1 (import spec) must be a table, got nil")
  invalid(function() mics.document_import("x") end, "must be a table")
  invalid(with("datamart", nil), "field 'datamart' must be a string, got nil")
  invalid(with("datamart", 1.5), "field 'datamart' must be a string")
  invalid(with("document_type", "USER_THING"), "field 'document_type' must be one of USER_ACTIVITY, "
    .. "USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS, USER_PROFILE, USER_SEGMENT, got 'USER_THING'")
  invalid(with("document_type", nil), "field 'document_type' must be one of")
  invalid(with("mime_type", "application/json"), "field 'mime_type' must be one of APPLICATION_X_NDJSON, TEXT_CSV")
  invalid(with("name", nil), "field 'name' must be a string, got nil")
  invalid(with("name", "  "), "must not be blank")
  invalid(with("encoding", 8), "field 'encoding' must be a string")
  invalid(with("colour", "red"), "unknown field 'colour'")
  invalid(function()
    mics.document_import{datamart = "1502", document_type = "USER_ACTIVITY", mime_type = CSV, name = "n"}
  end, "USER_ACTIVITY documents are NDJSON only")
end)

---------------------------------------------------------------------------
-- submit
---------------------------------------------------------------------------

t.test("submit: an NDJSON file, one part, polled, with its result", function()
  local path = tmp("visits.ndjson")
  write_activities(path, 25, "one")
  local imp = activity_import("Store visits")
  local lines_before = created("lines_received")
  local jobs = mics.submit("documents", imp, path, {format = "ndjson"})
  t.equal(#jobs, 1)
  local j = jobs[1]
  t.equal(j.vendor, "mediarithmics")
  t.equal(j.kind, "documents")
  t.equal(j.ref.datamart, "1502")
  t.equal(j.ref.import, imp.id)
  t.equal(j.ref.lines, 25)
  t.equal(j.ref.bytes, #slurp(path))
  t.equal(j.status, "queued")
  t.equal(j.vendor_status, "PENDING")
  t.equal(mics.poll(jobs, fast), jobs)
  t.equal(j.status, "done")
  t.equal(j.vendor_status, "SUCCEEDED")
  t.equal(j.raw.status, "ok")
  t.equal(j.raw.data.result.total_success, 25)
  t.equal(j.raw.data.result.total_failure, 0)
  t.equal(j.raw.data.parameters.number_of_lines, 25)
  t.equal(created("lines_received") - lines_before, 25)
  local r = j:result()
  t.equal(r.total_success, 25)
  t.equal(r.total_failure, 0)
  os.remove(path)
end)

t.test("submit: records, strings as JSON lines, and an iterator", function()
  local imp = activity_import("Store visits")
  local recs = activities(10, "list")
  recs[11] = '{"$user_account_id":"raw","$type":"SITE_VISIT","$ts":1700000000000}'
  recs[12] = "not json at all"
  local jobs = mics.submit("documents", imp, recs)
  local i, src = 0, activities(7, "iter")
  local more = mics.submit("documents", imp, function() i = i + 1; return src[i] end)
  mics.poll({jobs[1], more[1]}, fast)
  t.equal(jobs[1].ref.lines, 12)
  local ok, bad = totals(jobs)
  t.equal(ok, 11)
  t.equal(bad, 1)
  t.equal(jobs[1].raw.data.result.error_file_uri:find("^mics://") ~= nil, true)
  t.equal(more[1]:result().total_success, 7)
  local before = requests()
  t.equal(#mics.submit("documents", imp, {}), 0, "nothing to send")
  t.equal(#mics.submit("documents", imp, function() return nil end), 0)
  t.equal(requests(), before)
end)

t.test("submit: a file split into several parts, lines adding up, no temporary file left", function()
  local path = tmp("many.ndjson")
  write_activities(path, 40, "split")
  local size = #slurp(path)
  local imp = activity_import("Store visits")
  local saved = mics.max_part_bytes
  mics.max_part_bytes = math.floor(size / 3.5)
  local before_exec, before_lines = created("executions"), created("lines_received")
  local made, jobs = with_tmpnames(function() return mics.submit("documents", imp, path) end)
  mics.max_part_bytes = saved
  t.equal(#jobs >= 4, true, "parts: " .. #jobs)
  t.equal(#made, #jobs, "one temporary file per part")
  for _, p in ipairs(made) do t.equal(exists(p), false, "left behind: " .. p) end
  local lines, bytes = 0, 0
  for i, j in ipairs(jobs) do
    t.equal(j.ref.part, i)
    t.equal(j.ref.bytes <= math.floor(size / 3.5), true, "part size")
    lines, bytes = lines + j.ref.lines, bytes + j.ref.bytes
  end
  t.equal(lines, 40)
  t.equal(bytes, size)
  t.equal(created("executions") - before_exec, #jobs)
  t.equal(created("lines_received") - before_lines, 40)
  mics.poll(jobs, fast)
  local ok, bad = totals(jobs)
  t.equal(ok, 40)
  t.equal(bad, 0)
  os.remove(path)
end)

t.test("submit: CSV rows (records, lists, a file), the header repeated in every part", function()
  local imp = mics.document_import{datamart = "1502", document_type = "USER_PROFILE", mime_type = CSV,
    name = "CSV profiles " .. run_id}
  -- Records keyed by column, with a header option, split into parts.
  local rows = {}
  for i = 1, 30 do rows[i] = {user_id = "u" .. i, email = "u" .. i .. "@example.com", note = i % 5 == 0 and 'says "hi", twice' or ""} end
  local saved = mics.max_part_bytes
  mics.max_part_bytes = 400
  local jobs = mics.submit("documents", imp, rows, {format = "csv", header = {"user_id", "email", "note"}})
  mics.max_part_bytes = saved
  t.equal(#jobs > 1, true, "parts: " .. #jobs)
  local lines = 0
  for _, j in ipairs(jobs) do lines = lines + j.ref.lines end
  t.equal(lines, 30)
  mics.poll(jobs, fast)
  local ok, bad = totals(jobs)
  t.equal(ok, 30, "every part's rows match its header")
  t.equal(bad, 0)
  -- Lists: the first row is the header.
  local listed = mics.submit("documents", imp, {{"user_id", "email"}, {"a", "a@x"}, {"b", "b@x"}})
  -- A file: a header line, then rows (one with a quoted comma).
  local path = tmp("profiles.csv")
  write_file(path, 'user_id,email\r\nc,c@x\r\n\r\nd,"d,@x"\r\ne,e@x')
  local filed = mics.submit("documents", imp, path)
  mics.poll({listed[1], filed[1]}, fast)
  t.equal(listed[1].raw.data.result.total_success, 2)
  t.equal(filed[1].ref.lines, 3)
  t.equal(filed[1].raw.data.result.total_success, 3)
  t.equal(filed[1].raw.data.result.total_failure, 0)
  -- A record with a quoted line break is never cut between two parts.
  write_file(path, 'user_id,email\n' .. 'f,f@x\n' .. 'g,"two\nlines"\n' .. 'h,h@x\n')
  mics.max_part_bytes = 30
  local cut = mics.submit("documents", imp, path)
  mics.max_part_bytes = saved
  t.equal(#cut, 3)
  t.equal(cut[2].ref.lines, 2, "the quoted record stays whole")
  t.equal(cut[2].ref.bytes, #'user_id,email\ng,"two\nlines"\n')
  mics.poll(cut[1], fast)
  -- A quote never closed: refused once it runs past a part's size, before anything is sent.
  write_file(path, 'user_id,email\n' .. 'i,"open\n' .. string.rep("j,j@x\n", 20))
  mics.max_part_bytes = 60
  invalid(function() mics.submit("documents", imp, path) end, "line 2: a quoted field is not closed within 60 bytes")
  mics.max_part_bytes = saved
  os.remove(path)
end)

t.test("submit: arguments checked before anything is sent", function()
  local imp = activity_import("Store visits")
  local path = tmp("check.ndjson")
  write_activities(path, 2, "check")
  invalid(function() mics.submit("files", imp, {}) end, "argument #1 (kind) must be one of documents")
  invalid(function() mics.submit("documents", nil, {}) end, "argument #2 (import) must be a table, got nil")
  invalid(function() mics.submit("documents", {name = "x"}, {}) end, "import.id must be a string, got nil")
  invalid(function() mics.submit("documents", {id = "1"}, {}) end, "import.datamart_id must be a string, got nil")
  invalid(function() mics.submit("documents", {id = "1", datamart_id = "1502", mime_type = "JSON"}, {}) end, "import.mime_type must be one of")
  invalid(function() mics.submit("documents", imp, 42) end, "argument #3 (data) must be a list, an iterator function or a file path")
  invalid(function() mics.submit("documents", imp) end, "got nil")
  invalid(function() mics.submit("documents", imp, {}, "ndjson") end, "argument #4 (options) must be a table")
  invalid(function() mics.submit("documents", imp, {}, {fromat = "ndjson"}) end, "unknown option 'fromat'")
  invalid(function() mics.submit("documents", imp, {}, {format = "xml"}) end, "option 'format' must be one of csv, ndjson")
  invalid(function() mics.submit("documents", imp, {}, {format = "csv"}) end,
    "format \"csv\" does not match the import's mime_type APPLICATION_X_NDJSON")
  invalid(function() mics.submit("documents", imp, path, {format = "csv"}) end, "looks like ndjson")
  invalid(function() mics.submit("documents", imp, tmp("missing.ndjson")) end, "cannot read")
  invalid(function() mics.submit("documents", imp, {}, {header = {"a"}}) end, "option 'header' is for CSV imports")
  invalid(function() mics.submit("documents", imp, {{a = 1}, {b = 2}, 3}) end, "record 3 must be a table")
  invalid(function() mics.submit("documents", imp, {{a = 1}, "two\nlines"}) end, "record 2 is a string with a line break")
  invalid(function() mics.submit("documents", imp, {{a = 1}, {f = function() end}}) end, "record 2 cannot be encoded as JSON")
  local saved = mics.max_part_bytes
  mics.max_part_bytes = 50
  invalid(function() mics.submit("documents", imp, {{a = 1}, {b = string.rep("x", 60)}}) end,
    "record 2 is 69 bytes, more than a part can carry (max_part_bytes = 50)")
  mics.max_part_bytes = saved
  local csv_imp = {id = "1", datamart_id = "1502", mime_type = CSV}
  invalid(function() mics.submit("documents", csv_imp, {{a = 1}, {a = 2, b = 3}}) end, "row 2 has a field 'b' that is not a column")
  invalid(function() mics.submit("documents", csv_imp, {{"a", "b"}, {1}}) end, "row 2 has 1 fields but the header has 2 columns")
  invalid(function() mics.submit("documents", csv_imp, {{a = {1}}}) end, "must be a string, number or boolean")
  invalid(function() mics.submit("documents", csv_imp, path) end,
    "format \"ndjson\" does not match the import's mime_type TEXT_CSV (give format = \"csv\")")
  invalid(function() mics.submit("documents", csv_imp, "x.csv", {header = {"a"}}) end, "a CSV file brings its own header")
  os.remove(path)
end)

t.test("an execution whose lines are all bad fails: poll raises job_failed", function()
  local imp = activity_import("Store visits")
  local path = tmp("bad.ndjson")
  write_file(path, "not json\n[1, 2]\n\"a string\"\n")
  local jobs = mics.submit("documents", imp, path)
  local err = t.raises(function() mics.poll(jobs, fast) end)
  t.equal(err.kind, "job_failed")
  t.equal(err.code, "FAILED")
  t.contains(err.message, "Every line of the file was rejected (3 lines)")
  t.contains(err.message, "0 line(s) accepted, 3 rejected")
  local j = jobs[1]
  t.equal(j.status, "failed")
  t.equal(j.vendor_status, "FAILED")
  t.equal(j.raw.data.result.total_failure, 3)
  err = t.raises(function() j:download(tmp("bad.json")) end)
  t.equal(err.kind, "usage")
  t.equal(exists(tmp("bad.json")), false)
  os.remove(path)
end)

t.test("cancel: a pending execution is CANCELED; a finished one cannot be", function()
  local imp = activity_import("Store visits")
  -- An execution is PENDING then RUNNING for 5 s of vendor time (a fraction
  -- of a second at MOONPORT_SIM_SPEED): on a busy machine it may end before
  -- the cancel arrives, so try again then.
  local j
  for attempt = 1, 5 do
    j = mics.submit("documents", imp, activities(5, "cancel " .. attempt))[1]
    local ok, e = pcall(j.cancel, j)
    if ok then
      t.equal(e, j)
      break
    end
    if not (type(e) == "table" and e.status == 400 and tostring(e.message):find("can no longer be canceled", 1, true)) or attempt == 5 then
      error(e, 0)
    end
  end
  t.equal(j.status, "cancelled")
  t.equal(j.vendor_status, "CANCELED")
  mics.poll(j, fast)  -- cancelled is terminal and not a failure
  t.equal(j.status, "cancelled")
  local err = t.raises(function() j:download(tmp("cancelled.json")) end)
  t.equal(err.kind, "usage")
  -- Finished: the vendor's 400.
  local done = mics.submit("documents", imp, activities(3, "cancel late"))[1]
  done:wait(fast)
  err = t.raises(function() mics.cancel(done) end)
  t.equal(err.kind, "http")
  t.equal(err.status, 400)
  t.equal(err.code, "BAD_REQUEST_DATA")
  t.contains(err.message, "can no longer be canceled")
  invalid(function() mics.cancel("63000") end, "argument #1 (job) must be a Job, got string")
end)

t.test("download: the execution's final record as JSON; result: data.result", function()
  local imp = activity_import("Store visits")
  local j = mics.submit("documents", imp, activities(6, "download"))[1]
  local path = tmp("exec.json")
  local info = mics.download(j, path)  -- waits for the end first
  t.equal(info.path, path)
  t.equal(info.rows, 1)
  t.equal(info.bytes, #slurp(path))
  local rec = json.decode(slurp(path))
  t.equal(rec.id, j.id)
  t.equal(rec.status, "SUCCEEDED")
  t.equal(rec.result.total_success, 6)
  t.equal(rec.parameters.number_of_lines, 6)
  t.equal(j.status, "done")
  local r = j:result()
  t.equal(r.total_success, 6)
  t.equal(r.total_failure, 0)
  invalid(function() j:download(42) end, "argument #1 (path) must be a string")
  os.remove(path)
end)

t.test("executions: newest first, limit and since", function()
  local imp = activity_import("Store visits")
  local a = mics.submit("documents", imp, activities(2, "exec a"))[1]
  local b = mics.submit("documents", imp, activities(3, "exec b"))[1]
  local list = mics.executions(imp)
  t.equal(#list >= 3, true)  -- with the seeded one a week ago
  t.equal(list[1].id, b.id)
  t.equal(list[2].id, a.id)
  t.equal(list[1].raw.status, "ok")
  t.equal(list[1].raw.data.parameters.number_of_lines, 3)
  t.equal(list[1].ref.import, imp.id)
  t.equal(#mics.executions(imp, {limit = 1}), 1)
  local recent = mics.executions(imp, {since = os.time() - 3600})
  t.equal(#recent < #list, true, "the seeded execution is a week old")
  list[1]:wait(fast)
  t.equal(list[1].status, "done")
  invalid(function() mics.executions() end, "argument #2 (import) must be a table, got nil")
  invalid(function() mics.executions(imp, {limit = 1.5}) end, "option 'limit' must be an integer")
  invalid(function() mics.executions(imp, {newest = true}) end, "unknown option 'newest'")
  invalid(function() mics.poll(list[1], {interval = "fast"}) end, "option 'interval' must be a number")
  invalid(function() mics.poll({42}) end, "item 1 must be a Job, got number")
end)

t.test("state.once: jobs come back alive with their datamart and import", function()
  local imp = activity_import("Store visits")
  local key = "mediarithmics test once " .. run_id
  local first = state.once(key, function() return mics.submit("documents", imp, activities(4, "once " .. run_id)) end)
  local before = requests()
  local again = state.once(key, function() error("must not run again") end)
  t.equal(requests(), before, "nothing sent the second time")
  t.equal(#again, 1)
  t.equal(again[1].id, first[1].id)
  t.equal(again[1].ref.datamart, "1502")
  t.equal(again[1].ref.import, imp.id)
  mics.poll(again, fast)
  t.equal(again[1].raw.data.result.total_success, 4)
end)

---------------------------------------------------------------------------
-- Exactly once
---------------------------------------------------------------------------

t.test("exactly once: every upload's answer lost, each execution adopted, none sent twice", function()
  t.sim_reset()
  local imp = activity_import("Store visits")
  local path = tmp("lost.ndjson")
  write_activities(path, 30, "lost " .. run_id)
  local saved = mics.max_part_bytes
  mics.max_part_bytes = math.floor(#slurp(path) / 2.5)
  local s0 = stats()
  -- Every request is lost while the upload runs; the look-up of what a lost
  -- upload created runs without faults (it is the only way to see anything).
  local call = mics.Client.call
  mics.Client.call = function(self, m, p, ...)
    if not (m == "GET" and p:match("/executions$")) then return call(self, m, p, ...) end
    t.sim_faults("")
    local r = table.pack(pcall(call, self, m, p, ...))
    t.sim_faults("lost:1", 1)
    if not r[1] then error(r[2], 0) end
    return r[2]
  end
  t.sim_faults("lost:1", 1)
  local ok, jobs = pcall(mics.submit, "documents", imp, path)
  t.sim_faults("")
  mics.Client.call = call
  mics.max_part_bytes = saved
  if not ok then error(jobs, 0) end
  local s1 = stats()
  t.equal(#jobs, 3)
  t.equal(s1.faults.lost - s0.faults.lost, 3, "every upload's answer was lost")
  t.equal(s1.created.mediarithmics.executions - (s0.created.mediarithmics.executions or 0), #jobs)
  t.equal(s1.duplicates.total, 0)
  local ids, lines = {}, 0
  for _, j in ipairs(jobs) do
    t.equal(ids[j.id], nil, "one execution per part")
    ids[j.id] = true
    lines = lines + j.ref.lines
  end
  t.equal(lines, 30)
  mics.poll(jobs, fast)
  t.equal(totals(jobs), 30)
  os.remove(path)
end)

t.test("exactly once: lost:1 around a submit in state.once; the rerun adopts, nothing twice", function()
  t.sim_reset()
  local imp = activity_import("Store visits")
  local path = tmp("rerun.ndjson")
  write_activities(path, 20, "rerun " .. run_id)
  local saved = mics.max_part_bytes
  mics.max_part_bytes = math.floor(#slurp(path) / 1.5)
  local key = "mediarithmics test rerun " .. run_id
  local function push() return state.once(key, function() return mics.submit("documents", imp, path) end) end
  -- Every answer is lost: fewer attempts per request keep the test short.
  local attempts = V.retry_attempts
  V.retry_attempts = 2
  t.sim_faults("lost:1", 1)
  local ok, err = pcall(push)
  t.sim_faults("")
  V.retry_attempts = attempts
  t.equal(ok, false, "every answer lost: the first run cannot finish")
  t.equal(err.kind, "network")
  t.contains(err.message, "checking whether it was created failed too")
  t.equal(created("executions"), 1, "the first part was created, its answer lost")
  local jobs = push()
  mics.max_part_bytes = saved
  t.equal(#jobs, 2)
  t.equal(created("executions"), 2, "one execution per part")
  t.equal(stats().duplicates.total, 0)
  t.equal(jobs[1].ref.lines + jobs[2].ref.lines, 20)
  mics.poll(jobs, fast)
  t.equal(totals(jobs), 20)
  os.remove(path)
end)

t.test("exactly once: injected 500s and resets on uploads are retried without duplicates", function()
  t.sim_reset()
  local imp = activity_import("Store visits")
  local before = created("executions")
  t.sim_faults("500:0.3,reset:0.2,truncate:0.1", 7)
  local ok, jobs = pcall(function()
    local out = {}
    for i = 1, 5 do out[i] = mics.submit("documents", imp, activities(3 + i, "faults " .. i .. " " .. run_id))[1] end
    return out
  end)
  t.sim_faults("")
  if not ok then error(jobs, 0) end
  t.equal(#jobs, 5)
  t.equal(created("executions") - before, 5)
  t.equal(stats().duplicates.total, 0)
  mics.poll(jobs, fast)
end)

---------------------------------------------------------------------------
-- mediarithmics' API documentation, point by point
---------------------------------------------------------------------------

t.test("a SUCCEEDED execution with rejected lines: job.rejected and a warning name the count and the error file", function()
  local imp = activity_import("Store visits")
  local recs = activities(6, "rejected " .. run_id)
  recs[7] = "not json"
  recs[8] = '{"$user_account_id":"no-ts","$type":"SITE_VISIT"}'
  recs[9] = '{"$user_account_id":"no-type","$ts":1700000000000}'
  local warned = {}
  local warn = log.warn
  log.warn = function(fmt, ...) warned[#warned + 1] = string.format(fmt, ...) end
  local ok, jobs = pcall(function() return mics.poll(mics.submit("documents", imp, recs), fast) end)
  log.warn = warn
  if not ok then error(jobs, 0) end
  local j = jobs[1]
  t.equal(j.status, "done")
  t.equal(j.vendor_status, "SUCCEEDED")
  t.equal(j.raw.data.result.total_success, 6)
  t.equal(j.raw.data.result.total_failure, 3)
  t.equal(type(j.rejected), "table", "job.rejected")
  t.equal(j.rejected.count, 3)
  t.equal(j.rejected.error_file_uri, j.raw.data.result.error_file_uri)
  t.equal(j.rejected.error_file_uri:find("^mics://") ~= nil, true)
  local said = table.concat(warned, "\n")
  t.contains(said, "rejected 3 line(s) of 9")
  t.contains(said, j.rejected.error_file_uri)
  t.equal(#warned, 1, "warned once: " .. said)
  j:refresh()
  t.equal(#warned, 1, "not again on the next refresh")
  -- Nothing rejected: nothing said.
  local clean = mics.poll(mics.submit("documents", imp, activities(2, "clean " .. run_id)), fast)[1]
  t.equal(clean.rejected, nil)
end)

t.test("executions are answered as mediarithmics' documentation shows them", function()
  local imp = activity_import("Store visits")
  local j = mics.submit("documents", imp, activities(3, "shape " .. run_id))[1]
  -- At creation: PENDING, parameters and result null.
  t.equal(j.raw.status, "ok")
  t.equal(j.raw.data.status, "PENDING")
  t.equal(j.raw.data.parameters, json.null)
  t.equal(j.raw.data.result, json.null)
  t.equal(j.raw.data.job_type, "DOCUMENT_IMPORT")
  mics.poll(j, fast)
  local d = j.raw.data
  t.equal(d.status, "SUCCEEDED")
  t.equal(d.parameters.number_of_lines, 3)
  t.equal(d.parameters.mime_type, NDJSON)
  t.equal(d.parameters.document_type, "USER_ACTIVITY")
  t.equal(d.result.total_success, 3)
  t.equal(d.result.total_failure, 0)
  t.equal(type(d.result.error_file_uri), "string")
  t.equal(j.rejected, nil, "an error file with nothing in it is no rejection")
end)

t.test("listings: every import and execution when mediarithmics serves fewer a page than asked", function()
  if t.variant("mediarithmics.paging") == "capped_ignored" then
    -- At most 20 a page and first_result ignored: past 20 imports nothing can tell whether a name is taken.
    local err
    for i = 1, 25 do
      local before = created("document_imports")
      local ok, e = pcall(mics.document_import, {datamart = "1509", document_type = "USER_SEGMENT", mime_type = NDJSON,
        name = string.format("Capped %02d %s", i, run_id)})
      if not ok then
        err = e
        t.equal(created("document_imports"), before, "nothing created when the listing cannot tell")
        break
      end
    end
    t.equal(type(err), "table", "document_import refuses once the listing cannot be read whole")
    t.equal(err.kind, "validation")
    t.contains(err.message, "cannot tell whether datamart 1509 already has an import named")
    local e2 = t.raises(mics.document_imports, "1509")
    t.equal(e2.kind, "validation")
    t.contains(e2.message, "only 20 of the")
    return
  end
  local names = {}
  for i = 1, 23 do
    names[i] = string.format("Paged %02d %s", i, run_id)
    mics.document_import{datamart = "1509", document_type = "USER_SEGMENT", mime_type = NDJSON, name = names[i]}
  end
  local all = mics.document_imports("1509")
  local seen = {}
  for _, i in ipairs(all) do
    t.equal(seen[i.id], nil, "each import once")
    seen[i.name] = true
    seen[i.id] = true
  end
  for _, n in ipairs(names) do t.equal(seen[n], true, n) end
  t.equal(#all >= 24, true, "the seeded import and 23 more: " .. #all)
  -- Found by name even past the first page.
  local before = created("document_imports")
  t.equal(mics.document_import{datamart = "1509", document_type = "USER_SEGMENT", mime_type = NDJSON, name = names[23]}.name, names[23])
  t.equal(created("document_imports"), before, "found, not created again")
  -- The executions of an import that has had many.
  local visits = activity_import("Store visits")
  for i = 1, 21 do mics.submit("documents", visits, activities(1, "paged " .. i .. " " .. run_id)) end
  local execs = mics.executions(visits)
  local total = mics.default_client():call("GET", "/v1/datamarts/1502/document_imports/" .. visits.id .. "/executions",
    {query = {first_result = 0, max_results = 1}}).total
  t.equal(#execs, total, "every execution the listing counts")
  t.equal(total > 20, true, "more executions than a capped page holds: " .. total)
end)

t.test("cancel: a CANCEL whose answer was lost reads the execution instead of failing", function()
  local imp = activity_import("Store visits")
  local j
  for attempt = 1, 5 do
    j = mics.submit("documents", imp, activities(4, "lost cancel " .. attempt .. " " .. run_id))[1]
    local fired = t.lose_next(mics.Client, "POST", "/action")
    local ok, e = pcall(j.cancel, j)
    t.equal(fired(), true, "the answer was lost")
    if ok then break end
    -- On a busy machine the execution may end before the cancel arrives.
    if not (type(e) == "table" and tostring(e.message):find("before it could be cancelled", 1, true)) or attempt == 5 then
      error(e, 0)
    end
  end
  t.equal(j.status, "cancelled")
  t.equal(j.vendor_status, "CANCELED")
end)

t.test("exactly once: a CSV part's lost answer is adopted, its header counted in number_of_lines or not", function()
  local imp = mics.document_import{datamart = "1502", document_type = "USER_PROFILE", mime_type = CSV,
    name = "Lost CSV " .. run_id}
  local before = created("executions")
  local fired = t.lose_next(mics.Client, "POST", "/executions")
  local jobs = mics.submit("documents", imp, {{"user_id", "email"}, {"a", "a@x"}, {"b", "b@x"}, {"c", "c@x"}})
  t.equal(fired(), true, "the answer was lost")
  t.equal(created("executions") - before, 1, "sent once")
  t.equal(stats().duplicates.total, 0)
  t.equal(#jobs, 1)
  mics.poll(jobs, fast)
  t.equal(jobs[1].raw.data.result.total_success, 3)
  local n = jobs[1].raw.data.parameters.number_of_lines
  t.equal(n, t.variant("mediarithmics.csv_lines") == "without_header" and 3 or 4)
end)

t.test("exactly once: executions that do not show their number of lines fail safe", function()
  local imp = activity_import("Store visits")
  local call = mics.Client.call
  mics.Client.call = function(self, m, p, ...)
    local body = call(self, m, p, ...)
    if m == "GET" and p:match("/executions$") then
      for _, d in ipairs(body.data) do d.parameters = json.null end
    end
    return body
  end
  local before = created("executions")
  local fired = t.lose_next(mics.Client, "POST", "/executions")
  local ok, err = pcall(mics.submit, "documents", imp, activities(5, "unsure " .. run_id))
  mics.Client.call = call
  t.equal(fired(), true, "the answer was lost")
  t.equal(ok, false, "not adopted blindly, not sent again")
  t.equal(created("executions") - before, 1, "sent once")
  t.equal(err.retryable, false)
  t.contains(err.message, "execution of part 1 (5 lines) of import " .. imp.id .. " may have been created")
  t.contains(err.message, "Nothing was sent again")
  t.contains(err.message, "mediarithmics.executions(import, {since = ")
end)

---------------------------------------------------------------------------
-- Listings whose order and paging mediarithmics' documentation does not give
---------------------------------------------------------------------------

--- Runs fn while every GET of a listing whose path ends with `suffix` is
--- answered as a service would that lists oldest first (reverse) and/or
--- ignores first_result under a page cap (cap): whatever the simulator's
--- variant, the whole listing is read and rewritten here.
local function with_listing(suffix, reverse, cap, fn)
  local call = mics.Client.call
  mics.Client.call = function(self, m, p, opts)
    if not (m == "GET" and p:sub(-#suffix) == suffix) then return call(self, m, p, opts) end
    local all, first = {}, 0
    repeat
      local body = call(self, m, p, {query = {first_result = first, max_results = 1000}})
      for _, d in ipairs(body.data) do all[#all + 1] = d end
      first = first + #body.data
    until #body.data == 0 or first >= body.total
    table.sort(all, function(a, b) return a.creation_date ~= nil and b.creation_date ~= nil and
      (reverse and a.creation_date < b.creation_date or (not reverse and a.creation_date > b.creation_date)) end)
    local shown = {}
    local from = cap and 0 or tonumber(opts.query.first_result)
    local n = cap and math.min(cap, tonumber(opts.query.max_results)) or tonumber(opts.query.max_results)
    for i = from + 1, math.min(#all, from + n) do shown[#shown + 1] = all[i] end
    return {status = "ok", data = json.array(shown), count = #shown, total = #all}
  end
  local ok, r = pcall(fn)
  mics.Client.call = call
  if not ok then error(r, 0) end
  return r
end

t.test("executions: since and limit hold, newest first, when mediarithmics lists the oldest first", function()
  local imp = mics.document_import{datamart = "1502", document_type = "USER_ACTIVITY", mime_type = NDJSON,
    name = "Oldest first " .. run_id}
  local a = mics.submit("documents", imp, activities(2, "old-first a"))[1]
  local b = mics.submit("documents", imp, activities(3, "old-first b"))[1]
  with_listing("/executions", true, nil, function()
    local list = mics.executions(imp)
    t.equal(#list, 2)
    t.equal(list[1].id, b.id, "newest first whatever the listing's order")
    t.equal(list[2].id, a.id)
    local recent = mics.executions(imp, {since = os.time() - 3600})
    t.equal(#recent, 2, "an older execution listed first does not end the listing")
    t.equal(mics.executions(imp, {limit = 1})[1].id, b.id, "limit keeps the newest")
    -- A lost upload is found among executions listed oldest first.
    local visits = activity_import("Store visits")
    local before = created("executions")
    local fired = t.lose_next(mics.Client, "POST", "/executions")
    local jobs = mics.submit("documents", visits, activities(6, "oldest first lost " .. run_id))
    t.equal(fired(), true, "the answer was lost")
    t.equal(created("executions") - before, 1, "sent once")
    t.equal(stats().duplicates.total, 0)
    t.equal(jobs[1].ref.lines, 6)
  end)
end)

t.test("exactly once: an executions listing that ignores first_result under a page cap fails safe", function()
  local visits = activity_import("Store visits")
  mics.submit("documents", visits, activities(1, "before cap " .. run_id))
  mics.submit("documents", visits, activities(1, "before cap 2 " .. run_id))
  local before = created("executions")
  local err = with_listing("/executions", true, 2, function()
    local fired = t.lose_next(mics.Client, "POST", "/executions")
    local ok, e = pcall(mics.submit, "documents", visits, activities(7, "capped lost " .. run_id))
    t.equal(fired(), true, "the answer was lost")
    t.equal(ok, false, "not taken as surely not sent")
    return e
  end)
  t.equal(created("executions") - before, 1, "sent once, never again")
  t.equal(stats().duplicates.total, 0)
  t.equal(err.retryable, false)
  t.contains(err.message, "may have been created")
  t.contains(err.message, "could not be read whole")
  t.contains(err.message, "Nothing was sent again")
  -- Listed for a person, the same listing raises rather than ending short.
  local e2 = with_listing("/executions", true, 2, function() return t.raises(mics.executions, visits) end)
  t.equal(e2.kind, "validation")
  t.contains(e2.message, "only 2 of the")
end)

t.test("document_import: an imports listing that ignores first_result under a page cap creates nothing", function()
  local before = created("document_imports")
  local err = with_listing("/document_imports", false, 1, function()
    return t.raises(mics.document_import, {datamart = "1502", document_type = "USER_PROFILE", mime_type = CSV,
      name = "CRM profiles"})
  end)
  t.equal(err.kind, "validation")
  t.contains(err.message, "cannot tell whether datamart 1502 already has an import named 'CRM profiles'")
  t.equal(created("document_imports"), before, "no second import of that name")
  local e2 = with_listing("/document_imports", false, 1, function() return t.raises(mics.document_imports, "1502") end)
  t.equal(e2.kind, "validation")
  t.contains(e2.message, "only 1 of the")
end)

t.test("an execution answered with a null body: a validation error, not a Lua error", function()
  local imp = activity_import("Store visits")
  local job = mics.submit("documents", imp, activities(2, "null body " .. run_id))[1]
  job.raw = nil
  local call = mics.Client.call
  mics.Client.call = function(self, m, p, ...)
    if m == "GET" and p:match("/executions/[^/]+$") then return json.null end
    return call(self, m, p, ...)
  end
  local ok1, e1 = pcall(job.download, job, tmp("null.json"))
  mics.Client.call = call
  t.equal(ok1, false)
  t.equal(type(e1), "table", "an error object: " .. tostring(e1))
  t.equal(e1.kind, "validation")
  t.contains(e1.message, "answered without the expected data object")
  os.remove(tmp("null.json"))
end)

t.done()
