-- JSON decode/encode benchmark, for moonport and for stock lua5.4 + lua-cjson:
--
--   moonport run scripts/bench/json_bench.lua json   FILE [MODE]
--   lua5.4       scripts/bench/json_bench.lua cjson  FILE [MODE]
--
-- MODE: "decode" (read + decode) or "roundtrip" (read + decode + encode, the
-- default); "read" times moonport's json.read(FILE) instead (the file helper,
-- which reads and decodes without making a Lua string of the text). Prints one line "RESULT key=value ..." that scripts/bench/json.py
-- reads. Times are os.clock() (CPU time of the process, single-threaded
-- work). Peak memory per phase comes from Linux's VmHWM, reset before the
-- phase through /proc/self/clear_refs, so reading the file (which briefly
-- holds two copies of it) does not count as decoding.

local modname, path, mode = arg[1], arg[2], arg[3] or "roundtrip"
assert(modname and path, "usage: json_bench.lua MODULE FILE [decode|roundtrip]")
local json = require(modname)
local clock = os.clock

local function reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5"); f:close() end
end

local function peak_kb()
  local f = io.open("/proc/self/status", "r")
  if not f then return -1 end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)")) or -1
end

if mode == "read" then
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:close()
  collectgarbage()
  reset_peak()
  local t0 = clock()
  local value = json.read(path)
  local read_s = clock() - t0
  assert(type(value) == "table")
  print(string.format(
    "RESULT bytes=%d decode_s=%.6f encode_s=-1 decode_peak_kb=%d encode_peak_kb=-1 out_bytes=-1",
    size, read_s, peak_kb()))
  return
end

local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:seek("set", 0)
local text = f:read(size) -- one buffer of the exact size (read "a" would double it)
f:close()
assert(#text == size)
collectgarbage()
collectgarbage()

reset_peak()
local t0 = clock()
local value = json.decode(text)
local decode_s = clock() - t0
local decode_peak = peak_kb()
assert(type(value) == "table")

local encode_s, encode_peak, out_bytes = -1, -1, -1
if mode == "roundtrip" then
  text = nil
  collectgarbage()
  collectgarbage()
  reset_peak()
  t0 = clock()
  local out = json.encode(value)
  encode_s = clock() - t0
  encode_peak = peak_kb()
  out_bytes = #out
end

print(string.format(
  "RESULT bytes=%d decode_s=%.6f encode_s=%.6f decode_peak_kb=%d encode_peak_kb=%d out_bytes=%d",
  size, decode_s, encode_s, decode_peak, encode_peak, out_bytes))
