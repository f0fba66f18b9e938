-- The HTTP test server the http tests talk to over loopback
-- (Tests/CLITests/TestHTTPServer.swift lists its routes), started by the
-- XCTest method that runs the file: its URL, a second server (another
-- origin) and a port nothing listens on come in the environment.
local http = require "http"
local moonport = require "moonport"

local server = {}

local function need(name)
  local value = os.getenv(name)
  if not value then error(name .. " is not set: run this file through its XCTest method (Tests/CLITests/HTTPTests.swift)", 2) end
  return value
end

--- The server's base URL, e.g. http://127.0.0.1:PORT.
server.BASE = need("MOONPORT_TEST_HTTP_URL")
--- A second server: another origin.
server.OTHER = need("MOONPORT_TEST_HTTP_OTHER_URL")
--- A port on 127.0.0.1 that nothing listens on.
server.CLOSED_PORT = tonumber(need("MOONPORT_TEST_CLOSED_PORT"))
--- Short retries, so the tests stay fast.
server.FAST = {attempts = 3, base = 0.01}

--- How many requests `path` (with query key=`key`) got.
function server.hits(path, key)
  return http.get(server.BASE .. "/__hits", {query = {path = path, key = key}, retry = false}):json().count
end

--- The error object of a call that must fail.
function server.catch(f, ...)
  local ok, e = pcall(f, ...)
  if ok then error("expected an error, the call succeeded", 2) end
  if type(e) ~= "table" then error("expected an error object, got " .. tostring(e), 2) end
  return e
end

--- The values of fn(...) and the wall time the call took, in seconds, last.
function server.timed(fn, ...)
  local start = moonport.now()
  local out = table.pack(fn(...))
  out[out.n + 1] = moonport.now() - start
  return table.unpack(out, 1, out.n + 1)
end

--- A fresh empty folder under the run's temporary folder.
local folders = 0
function server.folder(name)
  folders = folders + 1
  local path = (os.getenv("TMPDIR") or "/tmp") .. "/http-" .. name .. "-" .. folders
  assert(os.execute("mkdir -p '" .. path .. "'"))
  return path
end

--- The names in a folder, sorted, joined by ",".
function server.listing(folder)
  local ls = assert(io.popen("ls -A '" .. folder .. "'"))
  local names = {}
  for name in ls:lines() do names[#names + 1] = name end
  ls:close()
  table.sort(names)
  return table.concat(names, ",")
end

--- `size` bytes of a pattern of period #cycle.
function server.pattern(cycle, size)
  return (cycle:rep(size // #cycle + 1)):sub(1, size)
end

--- The bytes /download?size=N serves: (i * 7 + 3) % 251.
function server.download_bytes(size)
  local cycle = {}
  for i = 0, 250 do cycle[#cycle + 1] = string.char((i * 7 + 3) % 251) end
  return server.pattern(table.concat(cycle), size)
end

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) ~= 0 and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
  crc_table[i] = c
end

--- CRC-32 (zlib's) of a string, as the server reports it.
function server.crc32(s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do crc = crc_table[(crc ~ s:byte(i)) & 0xFF] ~ (crc >> 8) end
  return crc ~ 0xFFFFFFFF
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Base64 (RFC 4648, padded), to spell the expected Basic credentials.
function server.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local four = {}
    for k = 3, 0, -1 do
      local d = (n >> (6 * k)) & 63
      four[#four + 1] = alphabet:sub(d + 1, d + 1)
    end
    if not b then four[3], four[4] = "=", "=" elseif not c then four[4] = "=" end
    out[#out + 1] = table.concat(four)
  end
  return table.concat(out)
end

return server
