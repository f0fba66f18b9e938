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

--- Expects text to contain `needle` (plain text, not a pattern).
function testing.contains(text, needle, what)
  if type(text) ~= "string" or not text:find(needle, 1, true) then
    error(string.format("%s: expected %q to contain %q", what or "text", tostring(text), needle), 2)
  end
end

--- The simulator's reading of a variant where the vendor's document is
--- silent (`moonport sim --list-variants`), or nil for its default reading.
--- Tests run once per reading: use it only where an expectation must differ.
function testing.variant(key)
  for k, v in (os.getenv("MOONPORT_SIM_VARIANT") or ""):gmatch("([^,=]+)=([^,]+)") do
    if k == key then return v end
  end
  return nil
end

-- The simulator behind --sandbox (MOONPORT_SIM_URL): its counters and faults.
local function sim(method, path, body)
  local http, json = require "http", require "json"
  local base = assert(os.getenv("MOONPORT_SIM_URL"), "run with --sandbox")
  local res = http.request{method = method, url = base .. path, json = body, retry = false}
  return res.body ~= "" and json.decode(res.body) or nil
end

--- GET /__sim/stats: {requests=, created={vendor={kind=n}}, duplicates={...}, total=...}
function testing.sim_stats() return sim("GET", "/__sim/stats") end
--- Injects faults from now on, e.g. testing.sim_faults("lost:1", 7); "" turns them off.
function testing.sim_faults(spec, seed) return sim("POST", "/__sim/faults", {spec = spec, seed = seed or 1}) end
--- Forgets everything the simulator received (counters and created objects).
function testing.sim_reset() return sim("POST", "/__sim/reset") end

--- Makes the simulator lose the answer to the next `method` request whose
--- path contains `fragment`, sent through the binding's Client class `C`
--- (the request takes effect; the connection drops with no answer). Every
--- other request is left alone. Returns a function telling whether it fired.
function testing.lose_next(C, method, fragment, kind)
  local original, fired = C.request, false
  C.request = function(self, m, path, opts)
    if not fired and m == method and path:find(fragment, 1, true) then
      fired = true
      C.request = original
      testing.sim_faults((kind or "lost") .. ":1", 1)
      local ok, res = pcall(original, self, m, path, opts)
      testing.sim_faults("", 1)
      if ok then return res end
      error(res, 0)
    end
    return original(self, m, path, opts)
  end
  return function() return fired end
end

-- Files: a temporary path per test file, and small readers.
local tmp_base = os.tmpname()
os.remove(tmp_base)

--- A path beside the system's temporary files, unique to this run: t.tmp("out.csv").
function testing.tmp(name) return tmp_base .. "-" .. name end

--- The whole content of a file (raises when it cannot be read).
function testing.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- Whether a file exists (can be opened).
function testing.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

--- Runs fn, expects it to raise kind = "validation" (from `vendor` when
--- given) with no request sent to the simulator; returns the error.
function testing.invalid(fn, needle, vendor)
  local before = testing.sim_stats().requests
  local err = testing.raises(fn)
  testing.equal(type(err), "table", "error object")
  testing.equal(err.kind, "validation", "kind of " .. tostring(err))
  if vendor then testing.equal(err.vendor, vendor, "vendor") end
  if needle then testing.contains(err.message, needle) end
  testing.equal(testing.sim_stats().requests, before, "requests sent for: " .. tostring(err))
  return err
end

function testing.done()
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 then os.exit(1) end
end

return testing
