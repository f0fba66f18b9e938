-- moonport.vendor: what every binding shares (credentials, errors, Job, poll, create).
local t = require "testing"
local V = require "moonport.vendor"
local clari = require "clari"
local state = require "state"
local json = require "json"

t.test("answers of the wrong JSON type raise validation naming the request; right ones pass", function()
  for _, bad in ipairs{"42", "null", '"ok"', "[1, 2]", '{"jobs": [3]}', '{"other": []}'} do
    local e = t.raises(V.list, "clari", json.decode(bad), "GET /v4/export/jobs", {"jobs"})
    t.equal(e.kind, "validation", bad)
    t.contains(e.message, "clari: GET /v4/export/jobs")
    t.contains(e.message, "expected")
  end
  t.equal(#V.list("clari", json.decode('{"jobs": [{"id": 1}, {"id": 2}]}'), "GET /x", {"jobs"}), 2)
  t.equal(#V.list("clari", json.decode("[]"), "GET /x"), 0)
  t.equal(#V.list("clari", json.decode("{}"), "GET /x"), 0)
  for _, bad in ipairs{"42", "null", "[{}]", '"x"'} do
    t.equal(t.raises(V.object, "clari", json.decode(bad), "GET /v4/admin/limits").kind, "validation", bad)
  end
  t.equal(V.object("clari", json.decode('{"a": 1}'), "GET /x").a, 1)
end)

t.test("an error body of any shape gives the error object, never a raw Lua error", function()
  local claravine = require "claravine"
  local bodies = {'{"code": null, "message": "nul"}', '[null]', '[1]', '{"error": {"code": "BAD", "message": "bad"}}',
    '"text"', "42", '{"code": {"x": 1}, "message": ["a"]}', "<html>oops</html>"}
  for _, M in ipairs{clari, claravine} do
    for _, status in ipairs{400, 429, 503} do
      for _, body in ipairs(bodies) do
        local e = M.response_error({status = status, body = body, headers = {}, reason = "Reason"}, "GET", "/p")
        t.equal(type(e), "table", body)
        t.equal(e.kind, status == 429 and "rate_limited" or "http", body)
        t.equal(e.status, status, body)
        t.equal(e.code == nil or type(e.code) == "string", true, body)
        t.contains(e.message, "GET /p answered " .. status)
      end
    end
  end
  -- A code and message of the vendor's own shape are kept.
  local e = clari.response_error({status = 400, body = '{"code": "invalid_jobId", "message": "No such job"}', headers = {}}, "GET", "/j")
  t.equal(e.code, "invalid_jobId")
  t.contains(e.message, "No such job")
end)

t.test("a missing credential raises auth naming the variable, and tostring(client) shows no secret", function()
  local c = clari.client{api_key = "given-secret-value-123"}
  t.equal(tostring(c):find("given-secret-value-123", 1, true), nil)
  for k in pairs(c) do t.equal(k == "api_key", false, "credential field on the client table") end
  -- Outside the sandbox, with no variable and no credentials file: a real moonport run.
  local cmd = string.format("env -u CLARI_API_KEY -u MOONPORT_SANDBOX -u XDG_CONFIG_HOME HOME=/nonexistent-home %q run -e %q 2>&1",
    arg[-1], 'local ok, e = pcall(require("clari").limits); print(e.kind, e.message)')
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  t.contains(out, "auth")
  t.contains(out, "no API key: set CLARI_API_KEY")
end)

t.test("unknown client fields and bad types are validation errors", function()
  local e = t.raises(clari.client, {api_kee = "x"})
  t.equal(e.kind, "validation")
  t.contains(e.message, "unknown field 'api_kee'")
  e = t.raises(clari.client, {api_key = 42})
  t.contains(e.message, "field 'api_key' must be a string")
end)

t.test("poll validates its options and rejects what is not a Job", function()
  local e = t.raises(clari.poll, {{id = "x"}})
  t.equal(e.kind, "validation")
  t.contains(e.message, "item 1 must be a Job, got table")
  e = t.raises(clari.poll, {}, {intervall = 1})
  t.contains(e.message, "unknown option 'intervall'")
end)

t.test("poll times out with kind timeout and says which jobs are still running", function()
  local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q3"})
  local e = t.raises(clari.poll, job, {interval = 0.05, timeout = 0.01})
  t.equal(e.kind, "timeout")
  t.contains(e.message, tostring(job.id))
  job:cancel()
  t.equal(job.status, "cancelled")
end)

t.test("a Job stored by state.once comes back alive and can be refreshed", function()
  local job = state.once("core-test-job", function()
    return clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q4"})
  end)
  local again = state.once("core-test-job", function() error("must not run twice") end)
  t.equal(again.id, job.id)
  t.equal(getmetatable(again), getmetatable(job))
  again:wait({interval = 0.1})
  t.equal(again.status, "done")
end)

t.test("the state.once journal adopts what an interrupted run created", function()
  -- Simulate a run that sent the export and died before the answer: the
  -- journal holds the intent; the rerun must find the job, not send again.
  local before = t.sim_stats()
  local first
  local ok = pcall(state.once, "core-test-interrupted", function()
    first = clari.export("forecast", {forecast_id = "net_new", time_period = "2023_Q1"})
    error("killed")
  end)
  t.equal(ok, false)
  -- The journal entry now says "created"; the rerun adopts it.
  local job = state.once("core-test-interrupted", function()
    return clari.export("forecast", {forecast_id = "net_new", time_period = "2023_Q1"})
  end)
  t.equal(job.id, first.id)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
end)

t.test("one argument checker, one message shape, located at the script's line", function()
  local args = require "moonport.args"
  local cases = {
    {"batch.chunks", "argument #2 (size)", 0, "integer >= 1", "batch.chunks: argument #2 (size) must be an integer >= 1, got 0"},
    {"batch.chunks", "argument #2 (size)", 1.5, "integer >= 1", "batch.chunks: argument #2 (size) must be an integer >= 1, got 1.5"},
    {"f", "option 'x'", "s", "number", "f: option 'x' must be a number, got string"},
    {"f", "argument #1 (key)", "", "non-empty string", "f: argument #1 (key) must be a non-empty string, got ''"},
    {"f", "argument #1 (key)", nil, "string", "f: argument #1 (key) must be a string, got nil"},
    {"f", "option 'mode'", "x", {a = true, b = true}, "f: option 'mode' must be one of a, b, got 'x'"},
    {"f", "option 'mode'", 3, {a = true}, "f: option 'mode' must be one of a, got number"},
  }
  for _, c in ipairs(cases) do
    local e = t.raises(function() args.check(c[1], c[2], c[3], c[4]) end)
    t.equal(e.kind, "validation", c[5])
    t.equal(e.message, c[5])
    t.contains(tostring(e.where), "core_test.lua:", c[5])
  end
  t.equal(args.check("f", "x", nil, "string", true), nil)
  t.equal(args.check("f", "x", 3, "integer >= 1"), 3)
  -- A vendor's function: the error carries the vendor.
  local e = t.raises(args.check, {fname = "clari.export", vendor = "clari"}, "argument #1 (kind)", 5, "string")
  t.equal(e.vendor, "clari")
  t.equal(e.message, "clari.export: argument #1 (kind) must be a string, got number")
  e = t.raises(args.check_known, "f", "option", {colour = 1}, {color = true, size = true})
  t.equal(e.message, "f: unknown option 'colour' (known: color, size)")
  -- Through a stdlib module, the error points at this line, not inside the stdlib.
  local line = debug.getinfo(1, "l").currentline + 1
  e = t.raises(function() require("batch").chunks({1}, 0) end)
  t.contains(tostring(e.where), "core_test.lua:" .. line .. ":")
  e = t.raises(function() clari.poll({}, {interval = 0}) end)
  t.equal(e.message, "clari.poll: option 'interval' must be a number > 0, got 0")
  t.contains(tostring(e.where), "core_test.lua:")
end)

t.test("retrying and 'may have been created' are read from the error's facts, never its message", function()
  local function err(kind, message, fields) return require("moonport").error(kind, message, fields) end
  -- The message says "connection refused"; the fact says the request may have taken effect.
  t.equal(V.outcome_unknown(err("network", "POST /x: connection refused", {may_have_taken_effect = true})), true)
  t.equal(V.outcome_unknown(err("network", "POST /x: the server closed the connection", {may_have_taken_effect = false})), false)
  t.equal(V.outcome_unknown(err("validation", "clari.export: argument #1 (kind) must be a string, got nil")), false)
  t.equal(V.outcome_unknown("a raw error"), false)
  t.equal(V.transient(err("http", "GET /x answered 500", {status = 500, retryable = true})), true)
  t.equal(V.transient(err("http", "GET /x answered 500", {status = 500, retryable = false})), false)
  t.equal(V.transient(err("network", "GET /x: connection reset")), false)
  -- The vendor's error for an answer carries the http module's verdict on its status.
  for status, facts in pairs{[400] = {false, false}, [429] = {true, false}, [500] = {true, true}, [503] = {true, false}} do
    local e = clari.response_error({status = status, body = '{"message": "x"}', headers = {}}, "POST", "/v4/export")
    t.equal(e.retryable, facts[1], "retryable " .. status)
    t.equal(e.may_have_taken_effect, facts[2], "may_have_taken_effect " .. status)
  end
end)

t.done()
