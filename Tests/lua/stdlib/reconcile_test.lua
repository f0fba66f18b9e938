-- reconcile: what was sent against what a vendor reports back.
local t = require "testing"
local tmp = t.tmp
local reconcile = require "reconcile"
local csv = require "csv"
local ndjson = require "ndjson"
local json = require "json"

local function rows(n, prefix)
  local out = {}
  for i = 1, n do out[i] = {id = (prefix or "c") .. i, name = "Campaign " .. i, budget = i * 10} end
  return out
end

t.test("identical rows: ok, every key matched, check returns the result", function()
  local r = reconcile.compare(rows(5), rows(5), {key = "id"})
  t.equal(r.ok, true)
  t.equal(r.sent, 5)
  t.equal(r.reported, 5)
  t.equal(r.matched, 5)
  t.equal(#r.missing + #r.unexpected + #r.changed, 0)
  t.equal(#r.duplicates.sent + #r.duplicates.reported, 0)
  t.equal(r:report(), "reconcile: 5 sent, 5 reported: all 5 matched\n")
  t.equal(tostring(r), r:report())
  t.equal(rawequal(reconcile.check(rows(5), rows(5), {key = "id"}).ok, true), true)
  t.equal(rawequal(r:check(), r), true)
end)

t.test("missing, unexpected, changed and duplicated keys, in input order", function()
  local sent = {
    {id = "a", name = "A", budget = 1},
    {id = "b", name = "B", budget = 2},
    {id = "c", name = "C", budget = 3},
    {id = "b", name = "B again", budget = 2},   -- duplicated in sent
    {id = "d", name = "D", budget = 4},
  }
  local reported = {
    {id = "d", name = "D", budget = 4},
    {id = "x", name = "X", budget = 9},          -- unexpected
    {id = "a", name = "A", budget = 100},        -- changed
    {id = "b", name = "b", budget = 3},          -- changed twice
    {id = "d", name = "D", budget = 4},          -- duplicated in reported
    {id = "x", name = "X", budget = 9},          -- unexpected, and duplicated
  }
  local r = reconcile.compare(sent, reported, {key = "id"})
  t.equal(r.ok, false)
  t.equal(r.sent, 5)
  t.equal(r.reported, 6)
  t.equal(r.matched, 1, "d")
  t.equal(table.concat(r.missing, ","), "c")
  t.equal(table.concat(r.unexpected, ","), "x")
  t.equal(table.concat(r.duplicates.sent, ","), "b")
  t.equal(table.concat(r.duplicates.reported, ","), "d,x")
  t.equal(#r.changed, 3)
  t.equal(r.changed[1].key, "a")
  t.equal(r.changed[1].field, "budget")
  t.equal(r.changed[1].sent, "1")
  t.equal(r.changed[1].reported, "100")
  t.equal(r.changed[2].key .. "." .. r.changed[2].field, "b.budget", "fields compared in sorted order")
  t.equal(r.changed[3].key .. "." .. r.changed[3].field, "b.name")
  t.equal(r.changed[3].sent, "B", "the first sent row of a duplicated key is the one compared")
  local text = r:report()
  t.contains(text, "reconcile: 5 sent, 6 reported: 1 matched, 1 missing, 1 unexpected, 2 changed, 3 duplicates\n")
  t.contains(text, "  missing: c\n")
  t.contains(text, "  unexpected: x\n")
  t.contains(text, "  changed: a budget: sent \"1\", reported \"100\", b budget: sent \"2\", reported \"3\"")
  t.contains(text, "  duplicated in sent: b\n")
  t.contains(text, "  duplicated in reported: d, x\n")
end)

t.test("values are compared as strings after normalising numbers", function()
  local n = reconcile.normalize
  t.equal(n(1), "1")
  t.equal(n("1"), "1")
  t.equal(n(1.0), "1")
  t.equal(n("1.0"), "1")
  t.equal(n("1.50"), "1.5")
  t.equal(n(".5"), "0.5")
  t.equal(n("1e3"), "1000")
  -- Numbers compare exactly: the shortest text that reads back as the same double.
  t.equal(n(0.1 + 0.2), "0.30000000000000004", "float arithmetic is not rounded away")
  t.equal(n("0.3"), "0.3")
  t.equal(n(1234567890.123456) == n("1234567890.123459"), false, "values apart in the 16th digit differ")
  t.equal(n("1234567890.123456"), "1234567890.123456")
  t.equal(n("+7"), "7")
  t.equal(n("-0"), "0")
  t.equal(n("007"), "007", "leading zeros stay text")
  t.equal(n("007.50"), "007.50", "leading zeros stay text, decimals too")
  t.equal(n("0.50"), "0.5")
  t.equal(n("12345678901234567891"), "12345678901234567891", "long ids keep every digit")
  t.equal(n(nil), "")
  t.equal(n(json.null), "")
  t.equal(n(""), "")
  t.equal(n(true), "true")
  t.equal(n({b = 1, a = {2}}), '{"a":[2],"b":1}')
  t.equal(n(" 1"), " 1", "spaces are not trimmed")
  t.equal(n("1-2"), "1-2")
  local r = reconcile.compare(
    {{id = 1, amount = 1, note = json.null, flag = true, zip = "007", big = "12345678901234567891"}},
    {{id = "1.0", amount = "1.0", note = "", flag = "true", zip = 7, big = "12345678901234567892"}},
    {key = "id"})
  t.equal(r.matched, 0)
  local fields = {}
  for _, c in ipairs(r.changed) do fields[#fields + 1] = c.field end
  t.equal(table.concat(fields, ","), "big,zip", "only the long id and the zero-padded zip differ")
end)

t.test("doubles apart beyond the 14th digit are changed; equal values written differently match", function()
  local r = reconcile.compare({{id = "a", amount = "1234567890.123456"}}, {{id = "a", amount = "1234567890.123459"}},
    {key = "id"})
  t.equal(r.ok, false)
  t.equal(#r.changed, 1)
  t.equal(r.changed[1].sent, "1234567890.123456")
  t.equal(r.changed[1].reported, "1234567890.123459")
  r = reconcile.compare({{id = "a", amount = 1234567890.123456}}, {{id = "a", amount = "1234567890.123459"}}, {key = "id"})
  t.equal(r.ok, false, "a number against a string, likewise")
  local n = reconcile.normalize
  t.equal(n(0.1), "0.1", "the shortest text that reads back")
  t.equal(n(1 / 3), "0.3333333333333333")
  t.equal(n(2 ^ 70), "1.1805916207174113e+21")
  t.equal(n(-2.5e-7), "-2.5e-07")
  local sent = {{id = 1, a = 1, b = 0.5, c = 1000, d = 1234567890.123456, e = 0.1 + 0.2, f = -2.5e-7}}
  local reported = {{id = "1", a = "1.0", b = ".5", c = "1e3", d = "1234567890.1234560", e = 0.30000000000000004,
    f = "-0.00000025"}}
  r = reconcile.compare(sent, reported, {key = "id"})
  t.equal(r.ok, true, "same values, written differently")
  t.equal(r.matched, 1)
end)

t.test("a side that is a table but not a list raises instead of reading as empty", function()
  local e = t.raises(reconcile.compare, {{id = "a"}}, {items = {{id = "a"}}, totalCount = 1}, {key = "id"})
  t.equal(e.kind, "validation")
  t.contains(e.message, "reconcile.compare: argument #2 (reported) is a table with keys items, totalCount, not a list; "
    .. "pass the list itself (answer.items)")
  e = t.raises(reconcile.compare, {rows = {{"a"}}}, {}, {key = "id"})
  t.contains(e.message, "reconcile.compare: argument #1 (sent) has rows but no fields")
  t.equal(reconcile.compare({}, {}, {key = "id"}).ok, true, "two empty tables are two empty lists")
end)

t.test("fields: only those are compared; by default every sent field but the key", function()
  local sent = {{id = "a", name = "A", budget = 1, internal = "x"}}
  local reported = {{id = "a", name = "A", budget = 1, vendor_only = "ignored"}}
  local r = reconcile.compare(sent, reported, {key = "id"})
  t.equal(r.ok, false)
  t.equal(r.changed[1].field, "internal")
  t.equal(r.changed[1].reported, "")
  r = reconcile.compare(sent, reported, {key = "id", fields = {"name", "budget"}})
  t.equal(r.ok, true, "internal is not compared")
  r = reconcile.compare(sent, {{id = "a", name = "Z"}}, {key = "id", fields = {"name"}})
  t.equal(r.changed[1].reported, "Z")
end)

t.test("keys: a function, a list of fields, a column of array rows", function()
  local r = reconcile.compare({{first = "Ada", last = "L", n = 1}}, {{first = "ada", last = "l", n = 1}},
    {key = function(row) return (row.first .. " " .. row.last):lower() end, fields = {"n"}})
  t.equal(r.ok, true)
  r = reconcile.compare(
    {{region = "eu", day = "2024-01-01", v = 1}, {region = "us", day = "2024-01-01", v = 2}},
    {{region = "eu", day = "2024-01-01", v = 1}, {region = "us", day = "2024-01-02", v = 2}},
    {key = {"region", "day"}})
  t.equal(table.concat(r.missing, ","), "us|2024-01-01")
  t.equal(table.concat(r.unexpected, ","), "us|2024-01-02")
  t.equal(r.matched, 1)
  r = reconcile.compare({{"k1", "x"}, {"k2", "y"}}, {{"k1", "x"}, {"k2", "z"}}, {key = 1})
  t.equal(#r.changed, 1)
  t.equal(r.changed[1].field, 2)
  t.equal(r.changed[1].key, "k2")
  t.contains(r:report(), "k2 2: sent \"y\", reported \"z\"")
end)

t.test("sides from CSV and NDJSON paths, iterators and {fields=, rows=}", function()
  local sent_path = tmp("sent.csv")
  csv.write(sent_path, {{"id", "name", "budget"}, {"c1", "One", "10"}, {"c2", "Two", "20"}, {"c3", "Three", "30"}})
  local reported_path = tmp("reported.ndjson")
  ndjson.write(reported_path, {{id = "c1", name = "One", budget = 10}, {id = "c2", name = "Two", budget = 20.0},
    {id = "c3", name = "Three", budget = 31}})
  local r = reconcile.compare(sent_path, reported_path, {key = "id"})
  t.equal(r.sent, 3)
  t.equal(r.reported, 3)
  t.equal(r.matched, 2)
  t.equal(r.changed[1].key, "c3")
  t.equal(r.changed[1].sent, "30")
  t.equal(r.changed[1].reported, "31")
  -- claravine.data's shape: {fields, rows as lists}.
  local back = {fields = {"id", "name", "budget"}, rows = {{"c1", "One", 10}, {"c2", "Two", 20}, {"c3", "Three", 30}}}
  t.equal(reconcile.compare(sent_path, back, {key = "id"}).ok, true)
  -- An iterator, read once.
  local i, calls = 0, 0
  local it = function()
    calls = calls + 1
    i = i + 1
    if i <= 3 then return {id = "c" .. i, name = ({"One", "Two", "Three"})[i], budget = i * 10} end
  end
  t.equal(reconcile.compare(sent_path, it, {key = "id"}).ok, true)
  t.equal(calls, 4)
  os.remove(sent_path); os.remove(reported_path)
end)

t.test("the report is bounded: the first keys, then 'and K more'", function()
  local r = reconcile.compare(rows(30), rows(5), {key = "id"})
  t.equal(#r.missing, 25)
  t.equal(r.missing[1], "c6", "missing in sent order")
  local text = r:report()
  t.contains(text, "  missing: c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, and 15 more\n")
  t.contains(r:report(3), "  missing: c6, c7, c8, and 22 more\n")
  t.equal(t.raises(r.report, r, 0).kind, "validation")
  t.equal(t.raises(r.report, "r").kind, "usage")
end)

t.test("check raises a validation error stating the counts, with details", function()
  local sent, reported = rows(150), rows(3)
  reported[2].budget = 999
  reported[4] = {id = "zz", name = "?", budget = 0}
  local e = t.raises(function() local _ = reconcile.check(sent, reported, {key = "id"}) end)
  t.equal(e.kind, "validation")
  t.contains(tostring(e.where), "reconcile_test.lua:")
  t.contains(e.message, "reconcile.check: 150 sent, 4 reported: 2 matched, 147 missing, 1 unexpected, 1 changed, 0 duplicates")
  t.contains(e.message, "missing c4, c5, c6, c7, c8, and 142 more")
  t.contains(e.message, "unexpected zz")
  t.contains(e.message, "changed c2 (budget)")
  t.equal(e.details.sent, 150)
  t.equal(e.details.matched, 2)
  t.equal(#e.details.missing, 100, "details keep the first 100 keys")
  t.equal(e.details.truncated, true)
  t.equal(e.details.changed[1].reported, "999")
  t.equal(e.details.unexpected[1], "zz")
  local r = reconcile.compare(sent, reported, {key = "id"})
  local e2 = t.raises(r.check, r)
  t.equal(e2.message, e.message)
end)

t.test("bad arguments and rows without a key raise validation errors", function()
  local e = t.raises(reconcile.compare, {}, {})
  t.equal(e.kind, "validation")
  t.contains(e.message, "argument #3 (options) must be a table, got nil")
  e = t.raises(reconcile.compare, {}, {}, {fields = {"a"}})
  t.contains(e.message, "option 'key' must be the field that identifies a row")
  e = t.raises(reconcile.compare, {}, {}, {key = true})
  t.contains(e.message, "option 'key' must be a field name, a column number, a list of them or a function(row), got boolean")
  e = t.raises(reconcile.compare, {}, {}, {key = "id", feilds = {}})
  t.contains(e.message, "unknown option 'feilds'")
  e = t.raises(reconcile.compare, {}, {}, {key = "id", fields = "name"})
  t.contains(e.message, "option 'fields' must be a list of field names")
  e = t.raises(reconcile.compare, 5, {}, {key = "id"})
  t.contains(e.message, "reconcile.compare: argument #1 (sent) must be a list, an iterator function or a CSV/NDJSON file path, got number")
  e = t.raises(reconcile.compare, {}, tmp("nope.csv"), {key = "id"})
  t.contains(e.message, "argument #2 (reported): cannot read the file")
  e = t.raises(reconcile.compare, {{id = "a"}, {name = "no id"}}, {}, {key = "id"})
  t.contains(e.message, "row 2 of sent has no key (field 'id' is empty)")
  e = t.raises(reconcile.compare, {{id = "a"}}, {{id = "a"}, {id = json.null}}, {key = "id"})
  t.contains(e.message, "row 2 of reported has no key")
  e = t.raises(reconcile.compare, {"a string row"}, {}, {key = "id"})
  t.contains(e.message, "row 1 of sent must be a table (or give key = function(row) ... end), got string")
  e = t.raises(reconcile.compare, {{id = 1}}, {}, {key = function() return nil end})
  t.contains(e.message, "row 1 of sent has no key (the key function returned nothing)")
end)

t.done()
