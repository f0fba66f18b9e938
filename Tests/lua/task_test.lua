-- task: spawn, wait, map, all; errors at wait; waiting inside pcall and the
-- script's own coroutines; finished tasks are collected. Run by
-- LuaScriptTests.testTask (what needs the host itself, a failure at the
-- end of the script, stays in Tests/MoonportCoreTests/TaskTests.swift).
local t = require "testing"
local task = require "task"
local moonport = require "moonport"

t.test("spawn and wait return every result, and a task can be waited for twice", function()
  local h = task.spawn(function(a, b) task.sleep(0.01) return a + b, "two", nil, 4 end, 1, 2)
  local a, b, c, d = task.wait(h)
  local a2 = task.wait(h)
  t.equal(a, 3, "a")
  t.equal(b, "two", "b")
  t.equal(c, nil, "c")
  t.equal(d, 4, "d")
  t.equal(a2, 3, "the second wait")
  t.equal(select("#", task.wait(h)), 4, "the number of results")
end)

t.test("waiting tasks overlap", function()
  local start = moonport.now()
  local hs = {}
  for i = 1, 50 do hs[i] = task.spawn(function() task.sleep(0.2) return i end) end
  local sum = 0
  for i = 1, 50 do sum = sum + task.wait(hs[i]) end
  t.equal(sum, 1275, "sum")
  local seconds = moonport.now() - start
  t.equal(seconds < 1.5, true, "50 sleeps of 0.2 s ran at the same time, took " .. seconds)
end)

t.test("map keeps the order and respects the concurrency limit", function()
  local active, most = 0, 0
  local out = task.map({5, 4, 3, 2, 1, 6, 7, 8, 9, 10}, function(x, i)
    active = active + 1
    most = math.max(most, active)
    task.sleep(0.001 * x)
    active = active - 1
    return x * 10 + i
  end, {concurrency = 3})
  t.equal(table.concat(out, ","), "51,42,33,24,15,66,77,88,99,110", "results")
  t.equal(most, 3, "most at once")
end)

t.test("map raises the failure of the lowest index and starts nothing after it", function()
  local started = 0
  local ok, e = pcall(task.map, {1, 2, 3, 4, 5, 6, 7, 8}, function(x)
    started = started + 1
    task.sleep(0.03 * x)  -- 1 ends first (3 starts), then 2 fails: no item after it starts
    if x == 2 or x == 3 then error("item " .. x .. " failed", 0) end
    return x
  end, {concurrency = 2})
  t.equal(ok, false, "ok")
  t.equal(e, "item 2 failed", "error")
  t.equal(started, 3, "items 1 and 2 ran together, 3 started when 1 finished, nothing after the failure")
end)

t.test("all, and argument checks", function()
  local r = task.all({function() task.sleep(0.02) return "a" end, function() return "b" end})
  local _, e1 = pcall(task.all, {function() end, 42})
  local _, e2 = pcall(task.map, {}, "not a function")
  local _, e3 = pcall(task.sleep, -1)
  local _, e4 = pcall(task.wait, {})
  local _, e5 = pcall(task.map, {1}, print, {concurrency = 0})
  t.equal(r[1] .. r[2], "ab", "all")
  t.equal(e1.kind, "validation", "all: kind")
  t.equal(e1.message, "task.all: item 2 must be a function, got number", "all: message")
  t.equal(e2.message, "task.map: argument #2 (fn) must be a function, got string", "map: message")
  t.equal(e3.kind, "validation", "sleep: kind")
  t.equal(e4.message, "task.wait: argument #1 (task) must be a moonport.task, got table", "wait: message")
  t.equal(e5.message, "task.map: concurrency must be an integer >= 1, got 0", "concurrency: message")
end)

t.test("errors surface at wait with the task's traceback", function()
  local file = debug.getinfo(1, "S").short_src:match("[^/]*$")
  local raised_at = debug.getinfo(1, "l").currentline + 1
  local function deep() error(moonport.error("network", "connection reset")) end
  local h = task.spawn(function() task.sleep(0.01) deep() end)
  local ok, e = pcall(task.wait, h)
  local plain_at = debug.getinfo(1, "l").currentline + 1
  local s = task.spawn(function() error("plain string") end)
  local ok2, e2 = pcall(task.wait, s)
  t.equal(ok, false, "ok")
  t.equal(e.kind, "network", "kind")
  t.equal(e.message, "connection reset", "message")
  t.contains(e.traceback, file .. ":" .. raised_at .. ": connection reset")
  t.equal(e.traceback:find("in upvalue 'deep'", 1, true) ~= nil or e.traceback:find("in local 'deep'", 1, true) ~= nil,
    true, "the traceback names deep: " .. e.traceback)
  t.equal(ok2, false, "ok2")
  local first = type(e2) == "string" and e2:match("^([^\n]*)\nstack traceback:") or tostring(e2)
  t.equal(first:match("[^/]*$"), file .. ":" .. plain_at .. ": plain string", "a plain error string with its traceback")
end)

t.test("waiting works inside pcall and the script's own coroutines", function()
  local h = task.spawn(function() task.sleep(0.01) return 5 end)
  local gen = coroutine.wrap(function()
    local _, x = pcall(task.wait, h)
    coroutine.yield(x)
    task.sleep(0.01)
    coroutine.yield(x * 2)
  end)
  local self_ok = pcall(function()
    local me
    me = task.spawn(function() task.sleep(0.01) return pcall(task.wait, me) end)
    return task.wait(me)
  end)
  task.wait(task.spawn(function() return pcall(task.wait, coroutine.running()) end))
  t.equal(gen(), 5, "first yield")
  t.equal(gen(), 10, "second yield")
  t.equal(self_ok, true, "a task waiting for itself does not fail the caller")
end)

t.test("many finished tasks are collected", function()
  collectgarbage()
  local before = collectgarbage("count")
  for _ = 1, 20 do
    local hs = {}
    for i = 1, 1000 do hs[i] = task.spawn(function() return i end) end
    for i = 1, 1000 do task.wait(hs[i]) end
  end
  collectgarbage() collectgarbage()
  local growth = collectgarbage("count") - before
  t.equal(growth < 512, true, "20,000 finished tasks left " .. growth .. " KB behind")
end)

t.done()
