-- The bad-input corpus of the reliability suite (scripts/reliability/run.py):
-- malformed input fed to json.decode / json.read, csv.read and ndjson.read.
--
--   moonport run scripts/reliability/bad_input.lua DIR [--list] [--only NAME,NAME...]
--
-- DIR is a scratch folder for the input files (written here). Each case
-- must give either the correct value or the error object of SPEC.md §2: a
-- table with kind = "validation" and a message that locates the problem (the
-- byte offset for JSON, `offset` set and "byte N" in the message; the line for
-- CSV/NDJSON, `line` set and named in the message), of a readable length. A
-- raised string, another kind, a wrong location, a wrong value or a case
-- slower than TIME_LIMIT seconds fails it; a crash or a hang kills the
-- process, which run.py notices (it prints "START name" before each case).
--
-- Output: one line per case ("ok   name: what happened" or "FAIL name: why"),
-- then one line "RESULT {json}" with the counts and the failed names.
local json, csv, ndjson = require "json", require "csv", require "ndjson"
local moonport = require "moonport"

local TIME_LIMIT = 20  -- seconds (wall) for one case: generous for a debug build on the 16 MB inputs
local MAX_MESSAGE = 1000  -- bytes: a message must not echo a huge input

local dir = assert(arg[1], "usage: bad_input.lua DIR [--list] [--only NAME,...]")
local list_only, only = false, nil
do
  local i = 2
  while arg[i] do
    if arg[i] == "--list" then list_only = true
    elseif arg[i] == "--only" then
      only = {}
      for name in (arg[i + 1] or ""):gmatch("[^,]+") do only[name] = true end
      i = i + 1
    else error("unknown argument " .. arg[i], 0) end
    i = i + 1
  end
end
io.stdout:setvbuf("line")

local cases = {}
local function case(name, run, expect) cases[#cases + 1] = {name = name, run = run, expect = expect} end

local function write(name, bytes)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

-- A function writing the file `name` (bytes: the content, or a function making it) and returning its path.
local function file(name, bytes)
  return function() return write(name, type(bytes) == "function" and bytes() or bytes) end
end

---------------------------------------------------------------------------
-- Judging an outcome
---------------------------------------------------------------------------

local function has(text, needle) return text:lower():find(needle:lower(), 1, true) ~= nil end

-- Whether `e` is the SPEC error the case expects. want: {offset = N | true,
-- line = N | true, mention = {"text", ...}}. Returns ok, description.
local function check_error(e, want)
  if type(e) ~= "table" then
    return false, "raised a " .. type(e) .. " (" .. tostring(e):sub(1, 200) .. "), not an error object"
  end
  local shown_ok, shown = pcall(tostring, e)
  if not shown_ok or type(shown) ~= "string" then return false, "tostring(error) failed" end
  if e.kind ~= "validation" then return false, "kind " .. tostring(e.kind) .. ", expected validation: " .. shown:sub(1, 300) end
  local m = e.message
  if type(m) ~= "string" or m == "" then return false, "no message" end
  if #m > MAX_MESSAGE then return false, string.format("message of %d bytes (more than %d)", #m, MAX_MESSAGE) end
  if not shown:find(m, 1, true) then return false, "tostring(error) does not show the message" end
  local where = {}
  if want.offset ~= nil then
    if math.type(e.offset) ~= "integer" then return false, "no integer offset field: " .. m end
    if want.offset ~= true and e.offset ~= want.offset then
      return false, string.format("offset %d, expected %d: %s", e.offset, want.offset, m)
    end
    if not m:find("byte " .. e.offset, 1, true) then return false, "the message does not say 'byte " .. e.offset .. "': " .. m end
    where[#where + 1] = "byte " .. e.offset
  end
  if want.line ~= nil then
    if math.type(e.line) ~= "integer" then return false, "no integer line field: " .. m end
    if want.line ~= true and e.line ~= want.line then
      return false, string.format("line %d, expected %d: %s", e.line, want.line, m)
    end
    if not (m:find(":" .. e.line .. ":", 1, true) or m:find("line " .. e.line, 1, true)) then
      return false, "the message does not name line " .. e.line .. ": " .. m
    end
    where[#where + 1] = "line " .. e.line
  end
  for _, needle in ipairs(want.mention or {}) do
    if not has(m, needle) then return false, "the message does not mention '" .. needle .. "': " .. m end
  end
  return true, "validation error" .. (#where > 0 and (" at " .. table.concat(where, ", ")) or "") .. ": "
    .. m:gsub("^[^:]*:%d+: ", "")
end

-- expect: {error = want} | {value = function(v) -> ok, what} | {error = want, value = fn} (either is correct)
local function judge(c, ok, result)
  local e = c.expect
  if ok then
    if not e.value then return false, "returned a value instead of raising a validation error" end
    local good, what = e.value(result)
    if good then return true, "value: " .. (what or "correct") end
    return false, "wrong value: " .. tostring(what)
  end
  if not e.error then
    return false, "raised instead of returning the value: " .. (type(result) == "table" and tostring(result.message) or tostring(result))
  end
  return check_error(result, e.error)
end

---------------------------------------------------------------------------
-- json.decode
---------------------------------------------------------------------------

-- text: a string, or a function making it (big inputs are made only when their case runs).
local function decode(text)
  return function() return json.decode(type(text) == "function" and text() or text) end
end
local function err(offset, ...) return {error = {offset = offset, mention = {...}}} end

local HTML_502 = '<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n'
  .. '<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n'

case("json/truncated-object", decode('{"a": [1, 2'), err(12, "end of input"))
case("json/truncated-string", decode('"abc'), err(5, "end of input"))
case("json/truncated-escape", decode('"\\u12'), err(true))
case("json/truncated-literal", decode('tru'), err(true))
case("json/truncated-number", decode('-'), err(2))
case("json/trailing-garbage", decode('{"a":1} xyz'), err(9))
case("json/trailing-second-value", decode('[1][2]'), err(4))
case("json/invalid-escape", decode('"\\q"'), err(2, "escape"))
case("json/invalid-unicode-escape", decode('"\\u12G4"'), err(true))
case("json/lone-high-surrogate", decode('"\\ud800"'), err(2, "surrogate"))
case("json/high-surrogate-then-letter", decode('"\\ud800\\u0041"'), err(true, "surrogate"))
case("json/lone-low-surrogate", decode('"\\udc00x"'), err(2, "surrogate"))
case("json/surrogate-pair", decode('"\\ud83d\\ude80"'), {value = function(v) return v == "\u{1F680}", string.format("%q", v) end})
case("json/invalid-utf8-ff", decode('"\xff"'), err(2, "UTF-8"))
case("json/invalid-utf8-overlong", decode('"\xc0\xaf"'), err(2, "UTF-8"))
case("json/invalid-utf8-truncated-sequence", decode('"\xe2\x82"'), err(2, "UTF-8"))
case("json/invalid-utf8-encoded-surrogate", decode('"\xed\xa0\x80"'), err(2, "UTF-8"))
case("json/invalid-utf8-above-10ffff", decode('"\xf4\x90\x80\x80"'), err(2, "UTF-8"))
case("json/invalid-utf8-outside-string", decode('[1]\xff'), err(4))
case("json/deep-nesting-100000-arrays", decode(function() return string.rep("[", 100000) end), err(true, "nesting"))
case("json/deep-nesting-100000-closed", decode(function() return string.rep("[", 100000) .. string.rep("]", 100000) end), err(true, "nesting"))
case("json/deep-nesting-100000-objects", decode(function() return string.rep('{"a":', 100000) end), err(true, "nesting"))
case("json/nesting-500-valid", decode(string.rep("[", 500) .. "1" .. string.rep("]", 500)), {value = function(v)
  local depth = 0
  while type(v) == "table" do depth, v = depth + 1, v[1] end
  return depth == 500 and v == 1, "depth " .. depth
end})
-- A huge exponent overflows to an infinity (as lua-cjson and Python do) or is refused with its offset.
local function is(x) return function(v) return v == x, tostring(v) end end
case("json/huge-exponent", decode('1e999999'), {value = is(math.huge), error = {offset = 1}})
case("json/huge-negative-exponent", decode('-1e400'), {value = is(-math.huge), error = {offset = 1}})
case("json/tiny-exponent", decode('1e-400'), {value = is(0.0), error = {offset = 1}})
case("json/100000-digit-number", decode(function() return "1" .. string.rep("0", 100000) end), {value = is(math.huge), error = {offset = 1}})
case("json/encode-decoded-infinity", function() return json.encode({json.decode("1e400")}) end,
  {error = {mention = {"inf"}}})
case("json/int64-max", decode("9223372036854775807"), {value = function(v)
  return math.type(v) == "integer" and v == math.maxinteger, math.type(v) .. " " .. tostring(v) end})
case("json/int64-min", decode("-9223372036854775808"), {value = function(v)
  return math.type(v) == "integer" and v == math.mininteger, math.type(v) .. " " .. tostring(v) end})
case("json/int64-max-plus-one", decode("9223372036854775808"), {value = function(v)
  return math.type(v) == "float" and v == 2.0 ^ 63, math.type(v) .. " " .. tostring(v) end})
case("json/NaN-literal", decode('NaN'), err(1, "NaN"))
case("json/Infinity-literal", decode('[Infinity]'), err(2, "infinit"))
case("json/negative-Infinity-literal", decode('-Infinity'), err(1, "infinit"))
case("json/lowercase-nan", decode('nan'), err(1))
case("json/empty-input", decode(''), err(1, "empty"))
case("json/whitespace-only", decode(' \t\r\n'), err(5))
-- RFC 8259 §8.1: a parser may ignore a byte order mark or refuse it.
case("json/byte-order-mark", decode('\xef\xbb\xbf{"a":1}'), {error = {offset = 1}, value = function(v)
  return type(v) == "table" and v.a == 1, "BOM skipped" end})
case("json/html-502-page", decode(HTML_502), err(1, "HTML"))
case("json/raw-nul-in-string", decode('{"a":"\0"}'), err(7))
case("json/nul-after-value", decode('{"a":1}\0'), err(8))
case("json/raw-newline-in-string", decode('"a\nb"'), err(3))
case("json/escaped-nul", decode('"\\u0000"'), {value = function(v) return v == "\0", string.format("%q", v) end})
case("json/single-quotes", decode("{'a':1}"), err(2))
case("json/trailing-comma", decode('[1,2,]'), err(5))
case("json/comment", decode('[1 /* x */]'), err(4))
case("json/unquoted-key", decode('{a:1}'), err(2))
case("json/leading-zero", decode('01'), err(2))
case("json/leading-dot", decode('.5'), err(1))
case("json/trailing-dot", decode('1.'), err(3))
case("json/plus-sign", decode('+1'), err(1))
case("json/hex-number", decode('0x10'), err(2))
case("json/missing-colon", decode('{"a" 1}'), err(6))
case("json/missing-value", decode('{"a":}'), err(6))
case("json/duplicate-key", decode('{"a":1,"a":2}'), {value = function(v)
  return type(v) == "table" and (v.a == 1 or v.a == 2), "a = " .. tostring(v.a) end})
case("json/not-a-string-nil", function() return json.decode(nil) end, {error = {mention = {"argument #1"}}})
case("json/not-a-string-table", function() return json.decode({}) end, {error = {mention = {"argument #1"}}})
case("json/16MB-string", decode(function() return '"' .. string.rep("x", 16 * 1024 * 1024) .. '"' end), {value = function(v)
  return type(v) == "string" and #v == 16 * 1024 * 1024, #v .. " bytes" end})
case("json/16MB-string-unterminated", decode(function() return '"' .. string.rep("x", 16 * 1024 * 1024) end), err(16 * 1024 * 1024 + 2, "end of input"))
case("json/1000000-item-array", decode(function() return "[" .. string.rep("1,", 999999) .. "1]" end), {value = function(v)
  return type(v) == "table" and #v == 1000000 and v[1000000] == 1, #v .. " items" end})
case("json/1000000-item-array-truncated", decode(function() return "[" .. string.rep("1,", 999999) end), err(2 * 999999 + 2))

-- json.read(path): the same parser on a file, the path in the message.
local function read_json(name, bytes) return function() return json.read(file(name, bytes)()) end end
case("json.read/truncated-file", read_json("truncated.json", '{"a": [1, 2'), err(12, "truncated.json"))
case("json.read/empty-file", read_json("empty.json", ""), err(1, "empty.json"))
case("json.read/invalid-utf8-file", read_json("invalid-utf8.json", '{"a":"\xff"}'), err(7, "invalid-utf8.json"))
case("json.read/deep-nesting-file", read_json("deep.json", string.rep("[", 100000)), err(true, "nesting"))
case("json.read/html-file", read_json("page.json", HTML_502), err(1, "HTML"))
case("json.read/missing-file", function() return json.read(dir .. "/no-such-file.json") end,
  {error = {mention = {"no-such-file.json"}}})

---------------------------------------------------------------------------
-- csv.read
---------------------------------------------------------------------------

-- Reads every row; returns them with the line each starts on.
-- path: a path, or a function writing the file and returning its path.
local function read_all(reader, path, opts)
  return function()
    if type(path) == "function" then path = path() end
    local rows, lines = {}, {}
    for row, line in reader(path, opts) do rows[#rows + 1] = row; lines[#lines + 1] = line end
    return {rows = rows, lines = lines}
  end
end
local function csv_case(name, bytes, opts, expect)
  case("csv/" .. name, read_all(csv.read, file(name .. ".csv", bytes), opts), expect)
end
local function line_err(line, ...) return {error = {line = line, mention = {...}}} end
-- Rows as a compact string, to compare with the expected one.
local function dump(rows)
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    if r[1] ~= nil or next(r) == nil then
      for i = 1, #r do cells[i] = r[i] end
    else
      local keys = {}
      for k in pairs(r) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do cells[#cells + 1] = k .. "=" .. r[k] end
    end
    out[#out + 1] = "[" .. table.concat(cells, "|") .. "]"
  end
  return table.concat(out)
end
local function rows_are(want, want_lines)
  return function(v)
    local got = dump(v.rows)
    local lines = table.concat(v.lines, ",")
    if got ~= want then return false, string.format("rows %q, expected %q", got, want) end
    if want_lines and lines ~= want_lines then return false, "lines " .. lines .. ", expected " .. want_lines end
    return true, #v.rows .. " rows " .. (#got <= 60 and got or got:sub(1, 60) .. "...") .. (want_lines and (" on lines " .. lines) or "")
  end
end

csv_case("unterminated-quote", 'a,b\n1,"unterminated\n2,3\n', nil, line_err(2, "never closed"))
csv_case("unterminated-quote-no-header", 'a,b\n1,"unterminated\n2,3\n', {header = false}, line_err(2, "never closed"))
csv_case("ragged-short-row", 'a,b,c\n1,2,3\n4,5\n6,7,8\n', nil, line_err(3, "2 fields"))
csv_case("ragged-long-row", 'a,b,c\n1,2,3\n4,5,6,7\n', nil, line_err(3, "4 fields"))
csv_case("ragged-short-row-not-strict", 'a,b,c\n1,2,3\n4,5\n', {strict = false},
  {value = rows_are("[a=1|b=2|c=3][a=4|b=5]", "2,3")})
csv_case("ragged-rows-no-header", 'a,b,c\n1,2,3\n4,5\n6,7,8,9\n', {header = false},
  {value = rows_are("[a|b|c][1|2|3][4|5][6|7|8|9]", "1,2,3,4")})
csv_case("error-line-after-multiline-field", 'a,b\n1,"x\ny"\n2,3,4\n', nil, line_err(4, "3 fields"))
csv_case("nul-bytes", 'a,b\n1,x\0y\n', nil, {value = rows_are("[a=1|b=x\0y]")})
csv_case("invalid-utf8", 'a,b\n1,\xff\xfe\xc0\n', nil, {value = rows_are("[a=1|b=\xff\xfe\xc0]")})
csv_case("empty-file", '', nil, {value = rows_are("")})
csv_case("header-only", 'a,b\n', nil, {value = rows_are("")})
csv_case("crlf-lf-cr-mix", 'a,b\r\n1,2\n3,4\r\n5,6\r7,8', nil,
  {value = rows_are("[a=1|b=2][a=3|b=4][a=5|b=6][a=7|b=8]", "2,3,4,5")})
csv_case("byte-order-mark", '\xef\xbb\xbfa,b\n1,2\n', nil, {value = rows_are("[a=1|b=2]")})
csv_case("quote-inside-unquoted-field", 'a,b\n1,x"y\n', nil, {value = rows_are('[a=1|b=x"y]')})
csv_case("text-after-closing-quote", 'a,b\n"ab"c,d\n', nil, line_err(2, "closing quote"))
csv_case("duplicate-header", 'a,a\n1,2\n', nil, line_err(1, "repeats"))
csv_case("empty-header-name", 'a,,c\n1,2,3\n', nil, line_err(1, "no name"))
local BIG = 16 * 1024 * 1024
csv_case("16MB-quoted-field", function() return 'a,b\n1,"' .. string.rep("x", BIG) .. '"\n2,3\n' end, nil, {value = function(v)
  local ok = #v.rows == 2 and #v.rows[1].b == BIG and v.rows[2].a == "2" and v.lines[2] == 3
  return ok, string.format("%d rows, field of %d bytes, second row on line %s", #v.rows, #(v.rows[1].b or ""), tostring(v.lines[2]))
end})
csv_case("16MB-unquoted-line", function() return 'a\n' .. string.rep("y", BIG) .. '\n' end, nil, {value = function(v)
  return #v.rows == 1 and #v.rows[1].a == BIG, #v.rows .. " rows" end})
csv_case("16MB-unterminated-quote", function() return 'a,b\n1,"' .. string.rep("x", BIG) end, nil, line_err(2, "never closed"))
-- Random bytes (a fixed LCG): any rows or a located validation error, never a crash.
local function random_bytes()
  local state, bytes = 12345, {}
  for i = 1, 200000 do
    state = (state * 1103515245 + 12345) % 2147483648
    bytes[i] = string.char((state >> 16) % 256)
  end
  return table.concat(bytes)
end
csv_case("random-bytes-no-header", random_bytes, {header = false}, {error = {line = true}, value = function(v)
  return #v.rows > 0, #v.rows .. " rows" end})
csv_case("random-bytes-with-header", random_bytes, nil, {error = {line = true}, value = function(v)
  return true, #v.rows .. " rows" end})
case("csv/missing-file", read_all(csv.read, dir .. "/no-such-file.csv"), {error = {mention = {"no-such-file.csv"}}})

---------------------------------------------------------------------------
-- ndjson.read
---------------------------------------------------------------------------

local function nd_case(name, bytes, expect)
  case("ndjson/" .. name, read_all(ndjson.read, file(name .. ".ndjson", bytes)), expect)
end
local function nd_err(line, offset, ...) return {error = {line = line, offset = offset, mention = {...}}} end
local function values_count(n, want_lines)
  return function(v)
    local lines = table.concat(v.lines, ",")
    return #v.rows == n and (want_lines == nil or lines == want_lines), #v.rows .. " values on lines " .. lines
  end
end

nd_case("invalid-line-in-the-middle", '{"a":1}\n{"a":\n{"b":2}\n', nd_err(2, 6, "end of input"))
nd_case("truncated-last-line", '{"a":1}\n{"b":[1,2', nd_err(2, 10, "end of input"))
nd_case("empty-file", '', {value = values_count(0)})
nd_case("blank-lines-and-crlf", '{"a":1}\r\n\r\n  \n{"a":2}\r\n', {value = values_count(2, "1,4")})
nd_case("byte-order-mark", '\xef\xbb\xbf{"a":1}\n', {value = values_count(1, "1")})
nd_case("invalid-utf8", '{"a":1}\n{"a":"\xff"}\n', nd_err(2, 7, "UTF-8"))
nd_case("nul-byte", '{"a":1}\n{"a":"x\0"}\n', nd_err(2, 8))
nd_case("two-values-on-a-line", '{"a":1} {"b":2}\n', nd_err(1, 9))
nd_case("deep-nesting", function() return '{"a":1}\n' .. string.rep("[", 100000) .. '\n' end, nd_err(2, true, "nesting"))
nd_case("html-page", HTML_502, nd_err(1, 1, "HTML"))
nd_case("NaN-value", '{"a":NaN}\n', nd_err(1, 6, "NaN"))
nd_case("16MB-line", function() return '{"a":"' .. string.rep("z", BIG) .. '"}\n{"b":1}\n' end, {value = function(v)
  return #v.rows == 2 and #v.rows[1].a == BIG and v.lines[2] == 2, #v.rows .. " values" end})
case("ndjson/missing-file", read_all(ndjson.read, dir .. "/no-such-file.ndjson"), {error = {mention = {"no-such-file.ndjson"}}})

---------------------------------------------------------------------------
-- Run
---------------------------------------------------------------------------

if list_only then
  for _, c in ipairs(cases) do print(c.name) end
  return
end

local total, passed, failed = 0, 0, {}
for _, c in ipairs(cases) do
  if only == nil or only[c.name] then
    total = total + 1
    print("START " .. c.name)
    local t0 = moonport.now()
    local ok, result = pcall(c.run)
    local secs = moonport.now() - t0
    local good, what = judge(c, ok, result)
    if good and secs > TIME_LIMIT then good, what = false, string.format("took %.1f s (limit %d s)", secs, TIME_LIMIT) end
    what = tostring(what):gsub("[^\32-\126]", function(ch) return string.format("\\x%02X", ch:byte()) end)
    if #what > 300 then what = what:sub(1, 300) .. "..." end
    print(string.format("%s %s: %s (%.3f s)", good and "ok  " or "FAIL", c.name, what, secs))
    if good then passed = passed + 1 else failed[#failed + 1] = c.name end
    result = nil
    collectgarbage()
  end
end
print("RESULT " .. json.encode({cases = total, ok = passed, failed = json.array(failed)}))
