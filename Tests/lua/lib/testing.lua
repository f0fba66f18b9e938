-- A small test harness for Lua-level tests run by `moonport run`.
-- Each file: local t = require "testing"; t.test("name", function() ... end); t.done()
local testing = {}
local passed, failed = 0, 0

function testing.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL ", name, "\n", tostring(err), "\n")
  end
end

function testing.equal(actual, expected, what)
  if actual ~= expected then
    error(string.format("%s: expected %q, got %q", what or "value", tostring(expected), tostring(actual)), 2)
  end
end

--- Calls fn, expects it to raise; returns the error object.
function testing.raises(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error, got none", 2) end
  return err
end

function testing.done()
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 then os.exit(1) end
end

return testing
