-- Lua-level checks of the runtime, run by moonport itself (Tests/CLITests/LuaScriptTests.swift, LuaTestFile).
local t = require "testing"
local moonport = require "moonport"

t.test("error objects carry kind, message, fields and position", function()
  local function fail() error(moonport.error("http", "Clari answered 503", {vendor = "clari", status = 503, retryable = true, details = {error = "busy"}})) end
  local err = t.raises(fail)
  t.equal(err.kind, "http")
  t.equal(err.vendor, "clari")
  t.equal(err.status, 503)
  t.equal(err.retryable, true)
  t.equal(err.details.error, "busy")
  -- "where" names the script as moonport was given it (here, a full path).
  t.equal(tostring(err):match("[^/]*$"), "runtime_test.lua:6: Clari answered 503")
end)

t.test("moonport.error checks its arguments", function()
  local err = t.raises(moonport.error, "nonsense", "x")
  t.equal(err.kind, "validation")
  assert(err.message:find("unknown kind 'nonsense'"), err.message)
  err = t.raises(moonport.error, "http")
  t.equal(err.message, "moonport.error: argument #2 (message) must be a string, got no value")
end)

t.test("coroutines behave as in stock Lua", function()
  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
  t.equal(gen() + gen() + gen(), 6)
  local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b) return c * 2 end)
  local ok, v = coroutine.resume(co, 1, 2)
  t.equal(v, 3)
  ok, v = coroutine.resume(co, 5)
  t.equal(v, 10)
  t.equal(coroutine.status(co), "dead")
  ok, v = coroutine.resume(co)
  t.equal(ok, false)
  t.equal(v, "cannot resume dead coroutine")
  local bad = coroutine.wrap(function() error("inside") end)
  local ok2, e = pcall(bad)
  assert(not ok2 and e:find("inside"), e)
  -- The main chunk runs as a task, but looks like the main thread to the script, as in lua5.4.
  local _, ismain = coroutine.running()
  t.equal(ismain, true)
  t.equal(coroutine.isyieldable(), false)
  local ok3, e3 = pcall(coroutine.yield, 1)
  t.equal(ok3, false)
  t.equal(e3, "attempt to yield from outside a coroutine")
end)

t.test("moonport.duration: the one duration formatter", function()
  t.equal(moonport.duration(0), "0 s")
  t.equal(moonport.duration(59.9), "59 s")
  t.equal(moonport.duration(185), "3 min 05 s")
  t.equal(moonport.duration(3720), "1 h 02 min")
  t.equal(moonport.duration(-3), "0 s")
  t.equal(t.raises(moonport.duration, "soon").kind, "validation")
end)

t.test("log formats and validates", function()
  local log = require "log"
  log.info("log test %d", 1)
  local err = t.raises(log.info, "%d", "not a number")
  t.equal(err.kind, "validation")
end)

t.done()
