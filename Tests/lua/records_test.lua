-- Lua-level checks of csv and ndjson, run by moonport itself (Tests/CLITests/LuaScriptTests.swift).
local t = require "testing"
local tmp = t.tmp
local slurp = t.slurp
local exists = t.exists
local csv = require "csv"
local ndjson = require "ndjson"
local json = require "json"

t.test("csv round trip of records with awkward values", function()
  local p = tmp("a.csv")
  local rows = {
    {id = 1, name = 'Smith, "J"', note = "two\nlines"},
    {id = 2, name = " padded ", note = ""},
  }
  t.equal(csv.write(p, rows, {header = {"id", "name", "note"}}), 2)
  t.equal(slurp(p), 'id,name,note\n1,"Smith, ""J""","two\nlines"\n2," padded ",\n')
  local got = {}
  for row, line in csv.read(p) do got[#got + 1] = row.id .. "|" .. row.name .. "|" .. row.note .. "@" .. line end
  t.equal(table.concat(got, ";"), '1|Smith, "J"|two\nlines@2;2| padded |@4')
  os.remove(p)
end)

t.test("csv header=false, separator and crlf", function()
  local p = tmp("b.csv")
  csv.write(p, {{"a", "b;c"}, {1, true}}, {separator = ";", crlf = true})
  t.equal(slurp(p), 'a;"b;c"\r\n1;true\r\n')
  local got = {}
  for fields in csv.read(p, {header = false, separator = ";"}) do got[#got + 1] = table.concat(fields, ",") end
  t.equal(table.concat(got, "/"), "a,b;c/1,true")
  os.remove(p)
end)

t.test("csv errors carry kind, file and line", function()
  local p = tmp("c.csv")
  local f = assert(io.open(p, "wb"))
  f:write("a,b\n1,2\n3,4,5\n")
  f:close()
  local err = t.raises(function() for _ in csv.read(p) do end end)
  t.equal(err.kind, "validation")
  t.equal(err.file, p)
  t.equal(err.line, 3)
  assert(err.message:find("the row has 3 fields but the header has 2 columns", 1, true), err.message)
  assert(tostring(err):find("records_test.lua:", 1, true), tostring(err))
  err = t.raises(csv.read, tmp("missing.csv"))
  t.equal(err.kind, "validation")
  assert(err.message:find("No such file or directory", 1, true), err.message)
  err = t.raises(csv.write, p, {{1}}, {header = "id"})
  assert(err.message:find("field 'header' must be a list of column names", 1, true), err.message)
  os.remove(p)
end)

t.test("csv.write from a generator that yields, atomic on error", function()
  local p = tmp("d.csv")
  -- the generator runs in Lua: it may yield (here through a coroutine of its own)
  local gen = coroutine.wrap(function()
    for i = 1, 3 do coroutine.yield({n = i}) end
  end)
  t.equal(csv.write(p, gen), 3)
  t.equal(slurp(p), "n\n1\n2\n3\n")
  local err = t.raises(csv.write, p, function() error(require("moonport").error("http", "page 3 failed")) end)
  t.equal(err.kind, "http")
  t.equal(slurp(p), "n\n1\n2\n3\n")  -- the old file is untouched
  os.remove(p)
end)

t.test("blocking calls (task.sleep) in the generator and in the read loop", function()
  local ok, task = pcall(require, "task")
  if not ok or type(task) ~= "table" or not task.sleep then return end  -- no task module in this build
  local p = tmp("y.csv")
  local i = 0
  t.equal(csv.write(p, function() i = i + 1; if i <= 3 then task.sleep(0.001); return {i} end end), 3)
  local seen = {}
  for row in csv.read(p, {header = false}) do task.sleep(0.001); seen[#seen + 1] = row[1] end
  t.equal(table.concat(seen, ","), "1,2,3")
  os.remove(p)
end)

t.test("break out of a read loop closes the reader", function()
  local p = tmp("e.csv")
  csv.write(p, {{1}, {2}, {3}}, {header = {"x"}})
  local reader
  for row, _ in csv.read(p) do break end
  local it, r = csv.read(p)
  t.equal(it().x, "1")
  r:close()
  local err = t.raises(it)
  t.equal(err.kind, "usage")
  t.equal(json.encode(select(2, csv.read(p)):header()), '["x"]')
  os.remove(p)
end)

t.test("a write removes the temporary files a killed run left beside its target", function()
  local p = tmp("resumed.csv")
  local h = assert(io.popen("sh -c 'echo $$'"))
  local dead = assert(tonumber(h:read("l")))
  h:close()
  local stale, alive = p .. ".tmp-" .. dead .. "-12345", p .. ".tmp-1-678"  -- pid 1 is alive
  for _, f in ipairs{stale, alive} do assert(io.open(f, "w")):close() end
  csv.write(p, {{a = 1}})
  t.equal(io.open(stale), nil, "the dead process's temporary file is removed")
  local kept = io.open(alive)
  t.equal(kept ~= nil, true, "a live process's temporary file is kept")
  if kept then kept:close() end
  for _, f in ipairs{p, alive} do os.remove(f) end
end)

t.test("moonport.file_writer: text written atomically, the same writer as csv's and ndjson's", function()
  local moonport = require "moonport"
  local p = tmp("written.json")
  -- A temporary file a killed run left beside the target goes at the next write.
  local h = assert(io.popen("sh -c 'echo $$'"))
  local dead = assert(tonumber(h:read("l")))
  h:close()
  local stale = p .. ".tmp-" .. dead .. "-12345"
  assert(io.open(stale, "w")):close()
  local w = moonport.file_writer(p)
  t.equal(t.exists(stale), false, "the dead process's temporary file is removed")
  t.equal(t.exists(p), false, "nothing under the target's name before close")
  w:write('{"a": ')
  w:write("1}")
  t.equal(w:close(), 8, "close gives the bytes written")
  t.equal(t.slurp(p), '{"a": 1}')
  t.equal(w:close(), 8, "a second close changes nothing")
  -- abort, and an error in a <close> block, leave the target as it was.
  local a = moonport.file_writer(p)
  a:write("half")
  a:abort()
  t.equal(t.slurp(p), '{"a": 1}')
  t.equal(t.raises(a.close, a).kind, "usage")
  local ok = pcall(function()
    local b <close> = moonport.file_writer(p)
    b:write("half")
    error("stop")
  end)
  t.equal(ok, false)
  t.equal(t.slurp(p), '{"a": 1}')
  local e = t.raises(function() local c <close> = moonport.file_writer(p); c:write(42) end)
  t.equal(e.kind, "validation")
  t.contains(e.message, "argument #2 (text) must be a string, got number")
  e = t.raises(moonport.file_writer, tmp("no/such/folder.json"))
  t.equal(e.kind, "validation")
  t.contains(e.message, "cannot create a temporary file for")
  local left = {}
  local folder, base = p:match("^(.*)/([^/]*)$")
  local ls = assert(io.popen("ls -a '" .. folder .. "'"))
  for name in ls:lines() do if name:find(base, 1, true) == 1 and name ~= base then left[#left + 1] = name end end
  ls:close()
  t.equal(table.concat(left, " "), "", "no temporary file is left")
  os.remove(p)
end)

t.test("ndjson round trip and errors with line numbers", function()
  local p = tmp("f.ndjson")
  t.equal(ndjson.write(p, {{a = 1}, json.null, {1, 2}, "s"}), 4)
  t.equal(slurp(p), '{"a":1}\nnull\n[1,2]\n"s"\n')
  local got = {}
  for v, line in ndjson.read(p) do got[#got + 1] = line .. "=" .. json.encode(v) end
  t.equal(table.concat(got, " "), '1={"a":1} 2=null 3=[1,2] 4="s"')
  local f = assert(io.open(p, "ab"))
  f:write("\n{\"b\": }\n")
  f:close()
  local err = t.raises(function() for _ in ndjson.read(p) do end end)
  t.equal(err.kind, "validation")
  t.equal(err.line, 6)
  t.equal(err.offset, 7)
  assert(err.message:find("at byte 7 of line 6", 1, true), err.message)
  -- Two values on one line: the hint is to split them, not to use ndjson.read.
  local two = tmp("two.ndjson")
  f = assert(io.open(two, "wb"))
  f:write('{"a":1}{"b":2}\n')
  f:close()
  err = t.raises(function() for _ in ndjson.read(two) do end end)
  assert(err.message:find("each line holds one JSON value", 1, true), err.message)
  assert(not err.message:find("use ndjson.read", 1, true), err.message)
  t.contains(t.raises(json.decode, '{"a":1}{"b":2}').message, "use ndjson.read")
  os.remove(two)
  os.remove(p)
end)

t.test("ndjson.write from an iterator, and a writer with <close>", function()
  local p = tmp("g.ndjson")
  local i = 0
  t.equal(ndjson.write(p, function() i = i + 1; if i <= 3 then return {i = i} end end), 3)
  t.equal(slurp(p), '{"i":1}\n{"i":2}\n{"i":3}\n')
  do
    local w <close> = ndjson.writer(p)
    w:write({done = true})
  end
  t.equal(slurp(p), '{"done":true}\n')
  local err = t.raises(ndjson.write, p, {{bad = 0/0}})
  t.equal(err.kind, "validation")
  t.equal(slurp(p), '{"done":true}\n')
  os.remove(p)
  t.equal(exists(p), false)
end)

t.test("a reader can be written straight out (csv.write(p, csv.read(q)))", function()
  local csv, ndjson = require "csv", require "ndjson"
  local src, dst = os.tmpname(), os.tmpname()
  csv.write(src, {{id = "1", name = "a, b"}, {id = "2", name = "c"}}, {header = {"id", "name"}})
  t.equal(csv.write(dst, csv.read(src)), 2)
  local f = io.open(dst, "rb"); local copy = f:read("a"); f:close()
  t.equal(copy, 'id,name\n1,"a, b"\n2,c\n')
  ndjson.write(src, {{n = 1}, {n = 2}})
  t.equal(ndjson.write(dst, ndjson.read(src)), 2)
  os.remove(src); os.remove(dst)
end)

t.done()
