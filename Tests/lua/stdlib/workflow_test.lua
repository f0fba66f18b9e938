-- workflow: named, timed steps; the summary table; failures; resumable steps.
local t = require "testing"
local tmp = t.tmp
local workflow = require "workflow"
local task = require "task"
local moonport = require "moonport"
local clari = require "clari"

local quiet = {print = false}

t.test("steps run in order, return their results, and are timed", function()
  local seen
  local a, b = workflow.run("simple", function(wf)
    seen = wf
    local x = wf:step("first", function() task.sleep(0.05); return 1, 2 end)
    local y = wf:step("second", function() return x + 10 end)
    return x, y
  end, quiet)
  t.equal(a, 1)
  t.equal(b, 11)
  local s = seen:summary()
  t.equal(s.name, "simple")
  t.equal(s.status, "ok")
  t.equal(#s.steps, 2)
  t.equal(s.steps[1].name, "first")
  t.equal(s.steps[1].status, "ok")
  t.equal(s.steps[1].duration >= 0.04, true, "first took the sleep: " .. s.steps[1].duration)
  t.equal(s.steps[2].duration < s.steps[1].duration, true)
  t.equal(s.duration >= s.steps[1].duration, true)
  t.equal(s.error, nil)
end)

t.test("counts and notes go to the running step, or to the workflow outside any step", function()
  local seen
  workflow.run("counting", function(wf)
    seen = wf
    wf:step("load", function()
      wf:count("rows sent", 1000)
      t.equal(wf:count("rows sent", 500), 1500, "count returns the total")
      wf:count("parts")
      wf:note("dataset ds-campaigns")
      wf:step("inner", function() wf:count("retries", 2) end)
      wf:count("parts")
    end)
    wf:count("rows total", 1500)
    wf:note("all good")
    wf:skip("cleanup", "nothing to clean")
  end, quiet)
  local s = seen:summary()
  t.equal(s.steps[1].counts["rows sent"], 1500)
  t.equal(s.steps[1].counts.parts, 2)
  t.equal(s.steps[1].notes[1], "dataset ds-campaigns")
  t.equal(s.steps[2].name, "inner")
  t.equal(s.steps[2].counts.retries, 2)
  t.equal(s.steps[1].counts.retries, nil, "a nested step keeps its own counts")
  t.equal(s.counts["rows total"], 1500)
  t.equal(s.notes[1], "all good")
  t.equal(s.steps[3].name, "cleanup")
  t.equal(s.steps[3].status, "skipped")
  t.equal(s.steps[3].duration, nil)
  t.equal(s.steps[3].notes[1], "nothing to clean")
  local text = seen:report()
  t.contains(text, "workflow \"counting\": ok in ")
  t.contains(text, "step ")
  t.contains(text, "rows sent: 1500; parts: 2; dataset ds-campaigns")
  t.contains(text, "(workflow)")
  t.contains(text, "rows total: 1500; all good")
  t.equal(text:find("cleanup%s+skipped%s+%-%s+nothing to clean\n") ~= nil, true, "skipped line: " .. text)
  -- Columns line up: every step line has its status at the same offset.
  local col
  for line in text:gmatch("[^\n]+") do
    local s1 = line:find(" ok ") or line:find(" skipped ") or line:find(" status ")
    if s1 and line:sub(1, 2) == "  " then
      col = col or s1
      t.equal(s1, col, "status column in: " .. line)
    end
  end
end)

t.test("a failing step is marked failed and its error goes on unchanged", function()
  local boom = moonport.error("job_failed", "claravine: job t-1 failed (Failed): required fields", {vendor = "claravine"})
  local seen, after = nil, false
  local e = t.raises(workflow.run, "failing", function(wf)
    seen = wf
    wf:step("submit", function() wf:count("parts", 3) end)
    wf:step("poll", function() task.sleep(0.01); error(boom, 0) end)
    after = true
    wf:step("reconcile", function() end)
  end, quiet)
  t.equal(rawequal(e, boom), true, "the very error object")
  t.equal(e.kind, "job_failed")
  t.equal(after, false, "nothing after the failing step ran")
  local s = seen:summary()
  t.equal(s.status, "failed")
  t.equal(s.error, "job_failed: claravine: job t-1 failed (Failed): required fields")
  t.equal(#s.steps, 2)
  t.equal(s.steps[1].status, "ok")
  t.equal(s.steps[2].status, "failed")
  t.equal(s.steps[2].duration >= 0.01, true)
  t.equal(s.steps[2].error, "job_failed: claravine: job t-1 failed (Failed): required fields")
  local text = seen:report()
  t.contains(text, "workflow \"failing\": failed in ")
  t.equal(text:find("(workflow)", 1, true), nil, "the step's error is not repeated on the workflow's line")
  t.equal(text:find("poll%s+failed%s+[%d.]+ s%s+job_failed: claravine: job t%-1 failed") ~= nil, true, text)
  -- A string error (a plain error("...")) goes on as it was, position included.
  local e2 = t.raises(workflow.run, "plain", function(wf)
    wf:step("boom", function() error("plain failure") end)
  end, quiet)
  t.contains(e2, "workflow_test.lua:")
  t.contains(e2, "plain failure")
end)

t.test("an error raised between steps shows on the workflow's own line", function()
  local seen
  local e = t.raises(workflow.run, "between", function(wf)
    seen = wf
    wf:step("one", function() wf:count("rows", 2) end)
    error(moonport.error("usage", "no dataset configured"), 0)
  end, quiet)
  t.equal(e.kind, "usage")
  local text = seen:report()
  t.equal(text:find("\n  one%s+ok%s+[%d.]+ s%s+rows: 2\n") ~= nil, true, text)
  t.equal(text:find("\n  %(workflow%)%s+usage: no dataset configured\n") ~= nil, true, text)
  t.equal(seen:summary().error, "usage: no dataset configured")
end)

t.test("a failure caught inside the workflow leaves it ok, the step failed", function()
  local seen
  workflow.run("handled", function(wf)
    seen = wf
    local ok = pcall(wf.step, wf, "optional", function() error({kind = "http", message = "503"}) end)
    t.equal(ok, false)
    wf:step("after", function() end)
  end, quiet)
  local s = seen:summary()
  t.equal(s.status, "ok")
  t.equal(s.steps[1].status, "failed")
  t.equal(s.steps[1].error, "http: 503")
  t.equal(s.steps[2].status, "ok")
  t.contains(seen:report(), "(1 step failed and was handled)")
end)

t.test("a step with once runs once; a rerun gets its results back and shows it as resumed", function()
  local key = "workflow-test-once-" .. tmp("")
  local runs = 0
  local function flow(wf)
    local job = wf:step("export", function()
      runs = runs + 1
      wf:count("rows", 42)
      return clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q2"}), "second value"
    end, {once = key})
    wf:step("use", function() wf:count("jobs", 1) end)
    return job
  end
  local first_wf, second_wf
  local job1 = workflow.run("resumable", function(wf) first_wf = wf; return flow(wf) end, quiet)
  local job2 = workflow.run("resumable", function(wf)
    second_wf = wf
    local j, extra = wf:step("export", function() error("must not run twice") end, {once = key})
    t.equal(extra, "second value", "every result comes back")
    return j
  end, quiet)
  t.equal(runs, 1)
  t.equal(job2.id, job1.id)
  t.equal(getmetatable(job2), getmetatable(job1), "the Job comes back alive")
  local s1, s2 = first_wf:summary(), second_wf:summary()
  t.equal(s1.steps[1].status, "ok")
  t.equal(s1.steps[1].once, key)
  t.equal(s2.steps[1].status, "resumed")
  t.equal(s2.steps[1].counts.rows, 42, "the counts of the first run come back")
  t.contains(second_wf:report(), "resumed")
  job2:cancel()
end)

t.test("a step resumes from what a plain state.once stored under its key", function()
  local state = require "state"
  local key = "workflow-test-plain-once-" .. tmp("")
  state.once(key, function() return "from state.once", 7 end)
  local seen
  local a, b = workflow.run("migrated", function(wf)
    seen = wf
    return wf:step("load", function() error("must not run again") end, {once = key})
  end, quiet)
  t.equal(a, "from state.once")
  t.equal(b, 7)
  t.equal(seen:summary().steps[1].status, "resumed")
end)

t.test("a once step that fails stores nothing: the next run runs it again", function()
  local key = "workflow-test-once-fail-" .. tmp("")
  local tries = 0
  local function attempt()
    return workflow.run("retrying", function(wf)
      return wf:step("flaky", function()
        tries = tries + 1
        if tries == 1 then error(moonport.error("network", "connection reset"), 0) end
        return "done on try " .. tries
      end, {once = key})
    end, quiet)
  end
  local e = t.raises(attempt)
  t.equal(e.kind, "network")
  t.equal(attempt(), "done on try 2")
  t.equal(attempt(), "done on try 2", "then stored")
  t.equal(tries, 2)
end)

t.test("bad arguments raise validation; misuse raises usage", function()
  local e = t.raises(workflow.run, "", function() end)
  t.equal(e.kind, "validation")
  t.contains(e.message, "workflow.run: argument #1 (name) must be a non-empty string")
  e = t.raises(workflow.run, "x", "not a function")
  t.contains(e.message, "argument #2 (fn) must be a function, got string")
  e = t.raises(workflow.run, "x", function() end, {prnt = false})
  t.contains(e.message, "unknown option 'prnt'")
  local kept
  workflow.run("checks", function(wf)
    kept = wf
    e = t.raises(wf.step, "export", function() end)
    t.equal(e.kind, "usage")
    t.contains(e.message, "wf:step(...) (with a colon)")
    e = t.raises(wf.step, wf, "export", 5)
    t.equal(e.kind, "validation")
    t.contains(e.message, "wf:step: argument #2 (fn) must be a function, got number")
    e = t.raises(wf.step, wf, "export", function() end, {onse = "k"})
    t.contains(e.message, "unknown option 'onse' (known: once)")
    e = t.raises(wf.step, wf, "export", function() end, {once = 5})
    t.contains(e.message, "option 'once' must be a non-empty string")
    e = t.raises(wf.count, wf, "rows", "5")
    t.contains(e.message, "wf:count: argument #2 (n) must be a number, got string")
    e = t.raises(wf.note, wf, 5)
    t.contains(e.message, "wf:note: argument #1 (text) must be a string")
  end, quiet)
  e = t.raises(kept.step, kept, "late", function() end)
  t.equal(e.kind, "usage")
  t.contains(e.message, "after the workflow \"checks\" has finished")
  t.equal(kept:summary().status, "ok", "the summary is still there")
  t.equal(#kept:summary().steps, 0, "steps that raised on their arguments were not recorded")
end)

t.test("long notes are cut in the table; the summary keeps the whole error", function()
  local long = string.rep("very long message ", 20)
  local seen
  pcall(workflow.run, "long", function(wf)
    seen = wf
    wf:step("x", function() error(long, 0) end)
  end, quiet)
  local line = seen:report():match("\n  x [^\n]+")
  t.equal(#line < 150, true, "cut: " .. line)
  t.contains(line, "...")
  t.equal(seen:summary().steps[1].error, long)
end)

-- A script run by moonport itself: exit code, stdout and stderr apart.
local function run_child(name, source, state_path)
  local script = tmp(name .. ".lua")
  local f = assert(io.open(script, "w"))
  f:write(source)
  f:close()
  local out, err = tmp(name .. ".out"), tmp(name .. ".err")
  local cmd = string.format("%q run --state %q %q >%q 2>%q", arg[-1], state_path, script, out, err)
  local _, _, code = os.execute(cmd)
  local function slurp(p)
    local h = assert(io.open(p))
    local s = h:read("a")
    h:close()
    os.remove(p)
    return s
  end
  return code, slurp(out), slurp(err), script
end

t.test("moonport prints the table on stderr, keeps stdout clean, and a rerun shows resumed", function()
  local db = tmp("child-state.sqlite")
  local source = [[
local workflow = require "workflow"
local id = workflow.run("nightly load", function(wf)
  local v = wf:step("export", function()
    io.stderr:write("EXPORT RAN\n")
    wf:count("rows", 3)
    return {id = "x1"}
  end, {once = "child export"})
  wf:step("load", function() wf:count("rows sent", 3) end)
  return v.id
end)
workflow.run("silent one", function(wf) wf:step("s", function() end) end, {print = false})
print("result " .. id)
]]
  local code, out, err = run_child("resume", source, db)
  t.equal(code, 0, "exit code: " .. err)
  t.equal(out, "result x1\n", "stdout holds only the script's output")
  t.contains(err, "EXPORT RAN")
  t.contains(err, "workflow \"nightly load\": ok in ")
  t.equal(err:find("\n  export%s+ok%s+[%d.]+ s%s+rows: 3\n") ~= nil, true, err)
  t.equal(err:find("\n  load%s+ok%s+[%d.]+ s%s+rows sent: 3\n") ~= nil, true, err)
  t.equal(err:find("silent one", 1, true), nil, "print = false prints nothing")
  code, out, err = run_child("resume", source, db)
  t.equal(code, 0, "second run: " .. err)
  t.equal(out, "result x1\n")
  t.equal(err:find("EXPORT RAN", 1, true), nil, "the once step did not run again")
  t.equal(err:find("\n  export%s+resumed%s+[%d.]+ s%s+rows: 3\n") ~= nil, true, err)
  os.remove(db)
end)

t.test("a failing workflow exits 1 with the table and the SPEC error message", function()
  local source = [[
local workflow = require "workflow"
local dates = require "dates"
workflow.run("failing", function(wf)
  wf:step("parse", function() return dates.parse("2024-02-30") end)
  wf:step("never", function() end)
end)
print("not reached")
]]
  local db = tmp("child-fail.sqlite")
  local code, out, err, script = run_child("fail", source, db)
  t.equal(code, 1, "exit code: " .. err)
  t.equal(out, "", "nothing on stdout")
  t.contains(err, "workflow \"failing\": failed in ")
  t.equal(err:find("\n  parse%s+failed%s+[%d.]+ s%s+validation: dates.parse: argument #1: cannot read '2024%-02%-30'") ~= nil, true, err)
  t.equal(err:find("never", 1, true), nil, "the next step never started")
  -- The error as moonport reports it: where = the script's line, then the message.
  t.contains(err, script .. ":4: dates.parse: argument #1: cannot read '2024-02-30' as a date: day 30 is not in February 2024")
  os.remove(db); os.remove(script)
end)

os.remove(tmp("resume.lua"))

t.test("a failed step's error keeps the traceback of where it was raised", function()
  local function deep_in_the_script() error(moonport.error("validation", "bad row 7")) end
  local e = t.raises(workflow.run, "traceback", function(wf)
    wf:step("load", function() deep_in_the_script() end)
  end, quiet)
  t.equal(e.message, "bad row 7")
  t.contains(e.traceback, "deep_in_the_script")
end)

t.test("the summary table masks secrets as log lines do", function()
  -- The child inherits this sandbox's base URL and key; using the key registers it as a secret.
  local source = [[
local workflow, clari, moonport = require "workflow", require "clari", require "moonport"
clari.limits()
local key = os.getenv("CLARI_API_KEY")
workflow.run("leaky", function(wf)
  wf:step("load", function()
    wf:note("note " .. key)
    error(moonport.error("http", "bad " .. key))
  end)
end)
]]
  local code, _, err = run_child("mask", source, tmp("mask-state.sqlite"))
  t.equal(code, 1, err)
  t.contains(err, "note ***")
  t.contains(err, "bad ***")
  t.equal(err:find(os.getenv("CLARI_API_KEY"), 1, true), nil, "the key is printed: " .. err)
end)

t.done()
