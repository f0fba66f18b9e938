-- Bodies streamed from disk: `multipart` (file parts and text fields) and
-- `body_file`, checked by the test server's own MIME parser. Run by
-- HTTPTests.testUploads (Tests/CLITests/HTTPTests.swift).
local t = require "testing"
local http = require "http"
local json = require "json"
local server = require "http_server"
local BASE, FAST, hits, catch = server.BASE, server.FAST, server.hits, server.catch

local cycle = {}
for i = 0, 255 do cycle[#cycle + 1] = string.char((i * 13 + 5) % 256) end
cycle = table.concat(cycle)

--- A file of `size` bytes ((i * 13 + 5) % 256) in `dir`: its path and CRC-32.
local function make_file(dir, name, size)
  local bytes = server.pattern(cycle, size)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path, server.crc32(bytes)
end

t.test("multipart sends fields and streams file parts", function()
  local path, crc = make_file(server.folder("multipart"), "data.json", 3000000)
  local res = http.post(BASE .. "/multipart", {multipart = {
    {name = "FileData", file = path, content_type = "application/json"},
    {name = "note", value = "hello \"world\""},
    {name = "renamed", file = path, filename = "other name.json"},
  }})
  local m = res:json()
  local p = m.parts
  t.equal(m.multipart, true, "multipart")
  t.equal(#p, 3, "#parts")
  t.equal(m.content_length, m.received, "Content-Length is what was sent")
  t.equal(p[1].name, "FileData", "1 name")
  t.equal(p[1].filename, "data.json", "1 filename")
  t.equal(p[1].content_type, "application/json", "1 content_type")
  t.equal(p[1].size, 3000000, "1 size")
  t.equal(p[1].crc32, crc, "1 crc32")
  t.equal(p[2].name, "note", "2 name")
  t.equal(p[2].text, "hello \"world\"", "2 text")
  t.equal(p[2].filename, json.null, "2 has no filename")
  t.equal(p[3].filename, "other name.json", "3 filename")
  t.equal(p[3].content_type, "application/octet-stream", "3 content_type")
  t.equal(p[3].crc32, crc, "3 crc32")
  t.equal(m.content_type:match("^multipart/form%-data; boundary=") ~= nil, true, "content_type " .. m.content_type)
end)

t.test("multipart keyed by name is sorted, and the boundary replaces Content-Type", function()
  local path = make_file(server.folder("keyed"), "rows.csv", 10)
  local m = http.post(BASE .. "/multipart", {
    headers = {["Content-Type"] = "text/plain"},
    multipart = {b = "2", a = 1, file = {file = path, content_type = "text/csv"}},
  }):json()
  local names = {}
  for i, p in ipairs(m.parts) do names[i] = p.name end
  t.equal(table.concat(names, ","), "a,b,file", "names")
  t.equal(m.parts[1].text, "1", "a")
  t.equal(m.parts[3].filename, "rows.csv", "filename")
  t.equal(m.parts[3].content_type, "text/csv", "content_type")
  t.equal(m.multipart, true, "multipart")
end)

t.test("body_file is streamed as the whole body", function()
  local path, crc = make_file(server.folder("body"), "events.ndjson", 2500001)
  local d = http.post(BASE .. "/digest", {body_file = path, headers = {["Content-Type"] = "application/x-ndjson"}}):json()
  t.equal(d.method, "POST", "method")
  t.equal(d.content_type, "application/x-ndjson", "content_type")
  t.equal(d.content_length, 2500001, "content_length")
  t.equal(d.size, 2500001, "size")
  t.equal(d.crc32, crc, "crc32")
end)

t.test("a streamed body is sent again on a retry", function()
  local path = make_file(server.folder("retry"), "part.bin", 400000)
  local res = http.put(BASE .. "/status/503-then-200?key=up1", {body_file = path, retry = FAST})
  t.equal(res.status, 200, "status")
  t.equal(res.attempts, 2, "attempts")
  t.equal(hits("/status/503-then-200", "up1"), 2, "hits")
end)

t.test("upload arguments are checked before anything is sent", function()
  local dir = server.folder("bad")
  local ok_file = make_file(dir, "ok.bin", 5)
  local missing = dir .. "/missing.json"
  local url = BASE .. "/multipart?key=bad"
  local errors = {
    catch(http.post, url, {multipart = {{name = "f", file = missing}}}),
    catch(http.post, url, {multipart = {{file = ok_file}}}),
    catch(http.post, url, {multipart = {{name = "x", value = "1", file = ok_file}}}),
    catch(http.post, url, {multipart = {{name = "x", bogus = 1}}}),
    catch(http.post, url, {multipart = {}}),
    catch(http.post, url, {multipart = {"text"}}),
    catch(http.post, url, {multipart = {a = true}}),
    catch(http.post, url, {multipart = {{name = "a", value = "1"}}, body = "x"}),
    catch(http.post, url, {body_file = dir}),
    catch(http.post, url, {body_file = 42}),
    catch(http.post, url, {multipart = {{name = "a\r\nX-Injected: 1", value = "1"}}}),
  }
  local kinds, messages = {}, {}
  for i, e in ipairs(errors) do kinds[i] = e.kind; messages[i] = e.message end
  t.equal(table.concat(kinds, ","), ("validation,"):rep(11):sub(1, -2), "kinds")
  t.equal(hits("/multipart", "bad"), 0, "nothing reached the server")
  local all = table.concat(messages, "\n")
  for _, needle in ipairs({"missing.json", "multipart[1].name is required", "both value and file", "unknown field 'bogus'",
                           "no parts", "multipart[1] must be a table", "multipart.a must be a string or a table",
                           "not several", "is not a regular file", "body_file", "line break"}) do
    t.contains(all, needle, "no message says '" .. needle .. "'")
  end
end)

t.done()
