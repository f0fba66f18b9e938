-- HTTP benchmark client for moonport (driven by scripts/bench/http.py):
--
--   moonport run scripts/bench/http_bench.lua gets URL N CONCURRENCY EXPECTED_BYTES
--   moonport run scripts/bench/http_bench.lua download URL OUT
--
-- "gets": N small GETs of URL through task.map(list, fn, {concurrency = C});
-- every answer must be 200 with a body of EXPECTED_BYTES bytes (anything else,
-- or a request that raises, counts as an error and the script exits 1 at
-- the end). "download": http.get(URL, {stream_to = OUT}).
--
-- moonport has no wall clock for scripts, so the driver times the work: the
-- script prints "START" (flushed) just before the first request and
-- "RESULT ..." right after the last; the driver stamps each line as it
-- arrives on the pipe. os.clock() (CPU time of the work) is in RESULT.
local http = require "http"
local task = require "task"

local mode = arg[1]

local function mark(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

if mode == "gets" then
  local url, n, concurrency, expected = arg[2], math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4])),
    math.tointeger(tonumber(arg[5]))
  assert(url and n and concurrency and expected, "usage: http_bench.lua gets URL N CONCURRENCY EXPECTED_BYTES")
  local list = {}
  for i = 1, n do list[i] = i end
  local ok_count, errors, retried = 0, 0, 0
  local first_error
  local opts = {raise = false}
  mark("START")
  local t0 = os.clock()
  task.map(list, function()
    local ok, res = pcall(http.get, url, opts)
    if ok and res.status == 200 and #res.body == expected then
      ok_count = ok_count + 1
      if res.attempts > 1 then retried = retried + 1 end
    else
      errors = errors + 1
      if not first_error then
        first_error = ok and string.format("status %d, %d bytes", res.status, #res.body) or tostring(res)
      end
    end
  end, {concurrency = concurrency})
  local cpu = os.clock() - t0
  mark(string.format("RESULT ok=%d errors=%d retried=%d cpu=%.6f", ok_count, errors, retried, cpu))
  if errors > 0 then
    io.stderr:write("http_bench: ", errors, " of ", n, " requests failed; first: ", first_error, "\n")
    os.exit(1)
  end
elseif mode == "download" then
  local url, out = arg[2], arg[3]
  assert(url and out, "usage: http_bench.lua download URL OUT")
  mark("START")
  local t0 = os.clock()
  local res = http.get(url, {stream_to = out})
  local cpu = os.clock() - t0
  mark(string.format("RESULT status=%d bytes=%d resumes=%d cpu=%.6f", res.status, res.bytes, res.resumes or 0, cpu))
  if res.status ~= 200 then os.exit(1) end
else
  error("usage: http_bench.lua gets|download ...")
end
