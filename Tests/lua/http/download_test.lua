-- http stream_to against a real loopback server: the body goes to a file,
-- a dropped connection resumes with Range, a cut-short download leaves no
-- file. Run by HTTPTests.testDownloads (Tests/CLITests/HTTPTests.swift).
local t = require "testing"
local http = require "http"
local server = require "http_server"
local BASE, FAST, hits, catch = server.BASE, server.FAST, server.hits, server.catch

t.test("stream_to writes the body to a file, not to memory", function()
  local dir = server.folder("stream")
  local out = dir .. "/export.bin"
  local res = http.get(BASE .. "/download?size=5000000", {stream_to = out})
  t.equal(res.status, 200, "status")
  t.equal(res.bytes, 5000000, "bytes")
  t.equal(res.path, out, "path")
  t.equal(#res.body, 0, "no body in memory")
  t.equal(res.resumes, 0, "resumes")
  t.equal(t.slurp(out) == server.download_bytes(5000000), true, "the file holds the bytes served")
  t.equal(server.listing(dir), "export.bin", "no temporary file is left beside it")
end)

t.test("stream_to resumes with Range after a dropped connection", function()
  local dir = server.folder("resumed")
  local out = dir .. "/resumed.bin"
  local res = http.get(BASE .. "/download-drop?size=3000000&at=1200000&key=r1", {stream_to = out, retry = FAST})
  t.equal(res.bytes, 3000000, "bytes")
  t.equal(res.resumes, 1, "one drop, one Range request")
  t.equal(hits("/download-drop", "r1"), 2, "hits")
  t.equal(t.slurp(out) == server.download_bytes(3000000), true, "the file holds the bytes served")
  t.equal(server.listing(dir), "resumed.bin", "no temporary file is left")
end)

t.test("a cut-short download leaves no file and says so", function()
  local dir = server.folder("short")
  local out = dir .. "/short.bin"
  -- An old file under the name stays as it was.
  local f = assert(io.open(out, "wb"))
  f:write("previous")
  f:close()
  local e = catch(http.get, BASE .. "/download-short?size=100000&at=1000", {stream_to = out, retry = FAST})
  local e2 = catch(http.get, BASE .. "/download-norange?size=1000", {stream_to = dir .. "/no/such/folder/x.bin"})
  t.equal(e.kind, "network", "kind")
  t.contains(e.message, "broke off after 1000 bytes")
  t.equal(e2.kind, "validation", "an unwritable path is the caller's mistake")
  t.equal(t.slurp(out), "previous", "the old file")
  t.equal(server.listing(dir), "short.bin", "the temporary file was removed")
end)

t.test("stream_to of an error status raises and writes nothing", function()
  local dir = server.folder("error")
  local e = catch(http.get, BASE .. "/status/404", {stream_to = dir .. "/e.bin"})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 404, "status")
  t.equal(server.listing(dir), "", "nothing written")
end)

t.done()
