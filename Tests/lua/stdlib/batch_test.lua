-- batch: chunks, by_bytes, run (streaming, concurrency bounds, errors).
local t = require "testing"
local tmp = t.tmp
local batch = require "batch"
local task = require "task"
local csv = require "csv"
local ndjson = require "ndjson"
local json = require "json"

-- An iterator over 1..n that counts how many items were taken from it.
local function counting(n)
  local src = {read = 0, calls = 0}
  src.next = function()
    src.calls = src.calls + 1
    if src.read < n then
      src.read = src.read + 1
      return src.read
    end
  end
  return src
end

local function range(n)
  local out = {}
  for i = 1, n do out[i] = i end
  return out
end

t.test("chunks splits a list in order, the last chunk short", function()
  local got = {}
  for chunk, i in batch.chunks(range(7), 3) do got[#got + 1] = i .. ":" .. table.concat(chunk, ",") end
  t.equal(table.concat(got, " "), "1:1,2,3 2:4,5,6 3:7")
  local n = 0
  for _ in batch.chunks({}, 5) do n = n + 1 end
  t.equal(n, 0, "chunks of an empty list")
  got = {}
  for chunk in batch.chunks(range(6), 3) do got[#got + 1] = #chunk end
  t.equal(table.concat(got, ","), "3,3", "an exact multiple has no empty chunk")
end)

t.test("chunks streams: an iterator is read one chunk at a time, never ahead", function()
  local src = counting(10)
  local next_chunk = batch.chunks(src.next, 4)
  t.equal(src.read, 0, "nothing read before the first chunk is asked for")
  local c1 = next_chunk()
  t.equal(#c1, 4)
  t.equal(src.read, 4, "after chunk 1")
  local c2, i2 = next_chunk()
  t.equal(i2, 2)
  t.equal(c2[1], 5)
  t.equal(src.read, 8, "after chunk 2")
  local c3 = next_chunk()
  t.equal(#c3, 2)
  t.equal(next_chunk(), nil)
  t.equal(next_chunk(), nil, "stays finished")
  t.equal(src.calls, 11, "the end is read once")
end)

t.test("chunks reads CSV (rows keyed by header), NDJSON and {fields=, rows=}", function()
  local path = tmp("rows.csv")
  csv.write(path, {{id = "a1", n = "1"}, {id = "a2", n = "2"}, {id = "a3", n = "3"}}, {header = {"id", "n"}})
  local chunks = {}
  for chunk in batch.chunks(path, 2) do chunks[#chunks + 1] = chunk end
  t.equal(#chunks, 2)
  t.equal(chunks[1][2].id, "a2")
  t.equal(chunks[2][1].n, "3")
  local arrays = batch.chunks(path, 10, {header = false})()
  t.equal(#arrays, 4, "header = false: the header row comes as a row")
  t.equal(arrays[1][1], "id")

  local nd = tmp("rows.ndjson")
  ndjson.write(nd, {{x = 1}, {x = 2}, {x = 3}})
  local all = {}
  for chunk in batch.chunks(nd, 2) do for _, v in ipairs(chunk) do all[#all + 1] = v.x end end
  t.equal(table.concat(all, ","), "1,2,3")
  local txt = tmp("rows.txt")
  ndjson.write(txt, {{x = 9}})
  t.equal(batch.chunks(txt, 1, {format = "ndjson"})()[1].x, 9, "format overrides the extension")

  local first = batch.chunks({fields = {"a", "b"}, rows = {{1, 2}, {3, 4}}}, 5)()
  t.equal(first[2].a, 3)
  t.equal(first[2].b, 4)
  local it = batch.items({fields = {"k"}, rows = {{"v"}}})
  t.equal(it().k, "v")
  t.equal(it(), nil)
end)

t.test("bad arguments raise validation errors naming the argument, at the caller's line", function()
  local e = t.raises(function() local _ = batch.chunks({1}, 0) end)
  t.equal(e.kind, "validation")
  t.contains(e.message, "batch.chunks: argument #2 (size) must be an integer >= 1, got 0")
  t.contains(tostring(e.where), "batch_test.lua:")
  e = t.raises(batch.chunks, {1}, 1.5)
  t.contains(e.message, "got 1.5")
  e = t.raises(batch.chunks, 42, 10)
  t.contains(e.message, "argument #1 (items) must be a list, an iterator function or a CSV/NDJSON file path, got number")
  e = t.raises(batch.chunks, tmp("does-not-exist.csv"), 10)
  t.contains(e.message, "cannot read the file")
  local unknown = tmp("data.bin")
  local f = assert(io.open(unknown, "w")); f:write("x"); f:close()
  e = t.raises(batch.chunks, unknown, 10)
  t.contains(e.message, "cannot tell the format")
  e = t.raises(batch.chunks, {1}, 1, {fromat = "csv"})
  t.contains(e.message, "unknown option 'fromat'")
  e = t.raises(batch.items, {1}, {format = "xml"})
  t.contains(e.message, "batch.items: option 'format' must be one of csv, ndjson, got 'xml'")
  e = t.raises(batch.run, {1}, 1, function() end, {format = "tsv"})
  t.contains(e.message, "batch.run: option 'format' must be")
end)

t.test("by_bytes keeps each chunk's JSON array within max_bytes, in order", function()
  local items = {}
  for i = 1, 50 do items[i] = {id = i, name = string.rep("x", i % 7)} end
  local max = 120
  local seen, chunks = {}, 0
  for chunk, i, bytes in batch.by_bytes(items, max) do
    chunks = chunks + 1
    t.equal(i, chunks, "index")
    local encoded = json.encode(json.array(chunk))
    t.equal(#encoded, bytes, "bytes is the size of the chunk as a JSON array")
    t.equal(bytes <= max, true, "chunk " .. i .. " is " .. bytes .. " bytes")
    for _, item in ipairs(chunk) do seen[#seen + 1] = item.id end
  end
  t.equal(#seen, 50)
  for k = 1, 50 do t.equal(seen[k], k, "item order") end
  t.equal(chunks > 1, true)
  -- Exactly at the limit: ["aaa","bbb"] is 13 bytes.
  local sizes = {}
  for chunk, _, bytes in batch.by_bytes({"aaa", "bbb", "ccc"}, 13) do sizes[#sizes + 1] = #chunk .. "/" .. bytes end
  t.equal(table.concat(sizes, " "), "2/13 1/7")
end)

t.test("by_bytes reads at most one item past a chunk, and takes an encode function", function()
  local src = counting(20)
  local next_chunk = batch.by_bytes(src.next, 10, function(n) return string.rep("n", 3) end)
  -- Each item is 3 bytes: [aaa,bbb] is 9, a third would be 13.
  local c1 = next_chunk()
  t.equal(#c1, 2)
  t.equal(src.read, 3, "one item read past the first chunk")
  local c2 = next_chunk()
  t.equal(c2[1], 3, "the item that did not fit starts the next chunk")
  t.equal(src.read, 5)
end)

t.test("by_bytes raises on an item too big alone and on a bad encode", function()
  local e = t.raises(function()
    for _ in batch.by_bytes({"ok", string.rep("z", 50)}, 20) do end
  end)
  t.equal(e.kind, "validation")
  t.contains(e.message, "item 2 takes 52 bytes encoded, more than max_bytes (20)")
  e = t.raises(function() for _ in batch.by_bytes({1}, 20, function() return 5 end) do end end)
  t.contains(e.message, "the result of encode for item 1 must be a string, got number")
  e = t.raises(batch.by_bytes, {1}, 2)
  t.contains(e.message, "max_bytes) must be an integer >= 3")
  e = t.raises(batch.by_bytes, {1}, 10, "json")
  t.contains(e.message, "argument #3 (encode) must be a function")
end)

t.test("run returns fn's results in chunk order, the item count and the chunk count", function()
  local results, items, chunks = batch.run(range(25), 10, function(chunk, i)
    task.sleep((4 - i) * 0.01)   -- later chunks finish first
    return i .. ":" .. #chunk .. ":" .. chunk[1]
  end, {concurrency = 3})
  t.equal(items, 25)
  t.equal(chunks, 3)
  t.equal(table.concat(results, " "), "1:10:1 2:10:11 3:5:21")
  local r, n, k = batch.run({}, 10, function() error("never") end)
  t.equal(#r, 0)
  t.equal(n, 0)
  t.equal(k, 0)
end)

t.test("run keeps at most `concurrency` chunks in flight and reads no further ahead", function()
  local src = counting(100)
  local in_flight, most, size, limit = 0, 0, 5, 3
  local bad_reads = {}
  local results, items, chunks = batch.run(src.next, size, function(chunk, i)
    in_flight = in_flight + 1
    most = math.max(most, in_flight)
    -- Chunk i started: at most the chunks up to i + limit - 1 have been read.
    if src.read > (i + limit - 1) * size then bad_reads[#bad_reads + 1] = i .. ":" .. src.read end
    task.sleep(0.01 + (i % 3) * 0.01)
    in_flight = in_flight - 1
    return chunk[#chunk]
  end, {concurrency = limit})
  t.equal(most, limit, "most chunks in flight at once")
  t.equal(table.concat(bad_reads, " "), "", "chunks read too far ahead")
  t.equal(items, 100)
  t.equal(chunks, 20)
  for i = 1, 20 do t.equal(results[i], i * size, "result " .. i) end
end)

t.test("run with an iterator that yields keeps chunks whole and in order", function()
  local n = 0
  local function slow()
    n = n + 1
    if n > 30 then return nil end
    task.sleep(0.002)   -- as an HTTP pager would
    return n
  end
  local results = batch.run(slow, 4, function(chunk)
    task.sleep(0.005)
    return table.concat(chunk, ",")
  end, {concurrency = 4})
  t.equal(#results, 8)
  local k = 0
  for i, text in ipairs(results) do
    for v in text:gmatch("%d+") do
      k = k + 1
      t.equal(tonumber(v), k, "item " .. k .. " in chunk " .. i)
    end
  end
  t.equal(k, 30)
end)

t.test("run: an error of fn is raised unchanged after the chunks in flight finish; no new chunk starts", function()
  local moonport = require "moonport"
  local boom = moonport.error("http", "vendor said no", {status = 502, vendor = "claravine"})
  local started, finished = {}, {}
  local e = t.raises(batch.run, range(100), 10, function(chunk, i)
    started[#started + 1] = i
    if i == 3 then task.sleep(0.01); error(boom, 0) end
    task.sleep(0.05)
    finished[#finished + 1] = i
    return i
  end, {concurrency = 2})
  t.equal(rawequal(e, boom), true, "the very error object")
  t.equal(e.kind, "http")
  t.equal(e.status, 502)
  t.equal(e.vendor, "claravine")
  -- 1 and 2 start; 3 takes the place of the first to end and fails; the one
  -- in flight with it (4) finishes; nothing after it starts.
  t.equal(#started <= 4, true, "started: " .. table.concat(started, ","))
  local fin = {}
  for _, i in ipairs(finished) do fin[i] = true end
  for _, i in ipairs(started) do
    if i ~= 3 then t.equal(fin[i], true, "chunk " .. i .. " in flight finished") end
  end
end)

t.test("run: when several chunks fail, the error of the lowest index is raised", function()
  local e = t.raises(batch.run, range(4), 1, function(_, i)
    if i == 2 then task.sleep(0.05); error("second failed", 0) end
    if i == 3 then error("third failed", 0) end
  end, {concurrency = 4})
  t.equal(e, "second failed")
  -- An error of the items iterator is raised too.
  local k = 0
  e = t.raises(batch.run, function()
    k = k + 1
    if k == 7 then error("bad row 7", 0) end
    return k
  end, 3, function() end, {concurrency = 2})
  t.equal(e, "bad row 7")
end)

t.test("run checks its arguments before reading anything", function()
  local src = counting(10)
  local e = t.raises(batch.run, src.next, 5, "not a function")
  t.equal(e.kind, "validation")
  t.contains(e.message, "batch.run: argument #3 (fn) must be a function, got string")
  e = t.raises(batch.run, src.next, 5, function() end, {concurrency = 0})
  t.contains(e.message, "option 'concurrency' must be an integer >= 1, got 0")
  e = t.raises(batch.run, src.next, 5, function() end, {concurency = 2})
  t.contains(e.message, "unknown option 'concurency'")
  e = t.raises(batch.run, src.next, 5, function() end, 4)
  t.contains(e.message, "argument #4 (options) must be a table")
  t.equal(src.calls, 0, "nothing read")
end)

t.test("run reads a CSV path and runs inside state.once like any task", function()
  local state = require "state"
  local path = tmp("big.csv")
  local rows = {}
  for i = 1, 2345 do rows[i] = {id = "r" .. i, v = tostring(i)} end
  csv.write(path, rows, {header = {"id", "v"}})
  local calls = 0
  local sums = state.once("batch-test-csv-" .. tmp(""), function()
    local results, items = batch.run(path, 1000, function(chunk)
      calls = calls + 1
      local s = 0
      for _, r in ipairs(chunk) do s = s + tonumber(r.v) end
      return s
    end, {concurrency = 2})
    t.equal(items, 2345)
    return results
  end)
  t.equal(#sums, 3)
  t.equal(sums[1] + sums[2] + sums[3], 2345 * 2346 // 2)
  local again = state.once("batch-test-csv-" .. tmp(""), function() error("must not run twice") end)
  t.equal(again[3], sums[3])
  t.equal(calls, 3)
end)

t.test("a table that is not a list nor {fields=, rows=} raises instead of reading as empty", function()
  local sent = 0
  local function send() sent = sent + 1 end
  local cases = {
    {{rows = {{1}}}, "batch.run: argument #1 (items) has rows but no fields = {names...}"},
    {{fields = {"a", 1}, rows = {{1, 2}}}, "batch.run: argument #1 (items): fields[2] must be a field name (a string), got number"},
    {{fields = "a", rows = {{1}}}, "batch.run: argument #1 (items): fields must be a list of field names (strings), got string"},
    {{fields = {"a"}, rows = "x"}, "batch.run: argument #1 (items): rows must be a list of rows, got string"},
    {{items = {{id = 1}}, totalCount = 1},
      "batch.run: argument #1 (items) is a table with keys items, totalCount, not a list; pass the list itself (answer.items)"},
    {{data = {{id = 1}}, next = "cursor"}, "is a table with keys data, next, not a list; pass the list itself (answer.data)"},
    {{name = "x", count = 0}, "is a table with keys count, name, not a list; pass the list itself (answer.items, for example)"},
  }
  for i, case in ipairs(cases) do
    local e = t.raises(batch.run, case[1], 10, send)
    t.equal(e.kind, "validation", "case " .. i)
    t.contains(e.message, case[2], "case " .. i)
  end
  t.equal(sent, 0, "nothing was sent")
  -- The other readers raise the same way, naming themselves.
  local e = t.raises(batch.chunks, {items = {1}, total = 1}, 10)
  t.contains(e.message, "batch.chunks: argument #1 (items) is a table with keys items, total, not a list")
  e = t.raises(batch.items, {rows = {}})
  t.contains(e.message, "batch.items: argument #1 (items) has rows but no fields")
  e = t.raises(batch.by_bytes, {totalCount = 0}, 100)
  t.contains(e.message, "batch.by_bytes: argument #1 (items) is a table with keys totalCount, not a list")
  local many = {}
  for k = 1, 10 do many["k" .. k] = k end
  e = t.raises(batch.items, many)
  t.contains(e.message, "keys k1, k10, k2, k3, k4, k5, k6, k7, ..., not a list", "at most 8 keys named")
  -- An empty table is an empty list; {fields=, rows=} reads as rows keyed by field, extra keys allowed.
  local results, n, chunks = batch.run({}, 10, send)
  t.equal(#results, 0)
  t.equal(n, 0)
  t.equal(chunks, 0)
  t.equal(sent, 0)
  local chunk = batch.chunks({fields = {"a", "b"}, rows = {{1, 2}}, total = 1}, 10)()
  t.equal(chunk[1].b, 2)
  t.equal(batch.items({fields = {}, rows = {}})(), nil, "no fields and no rows: empty")
end)

os.remove(tmp("rows.csv")); os.remove(tmp("rows.ndjson")); os.remove(tmp("rows.txt"))
os.remove(tmp("data.bin")); os.remove(tmp("big.csv"))

t.done()
