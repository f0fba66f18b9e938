-- claravine against the simulator: every function, error body and status word.
local t = require "testing"
local tmp = t.tmp
local claravine = require "claravine"
local csv = require "csv"
local json = require "json"

local fields = {"campaign_id", "campaign_name", "channel"}
local function rows(n, prefix)
  local out = {}
  for i = 1, n do out[i] = {(prefix or "c") .. i, "Campaign " .. i, "email"} end
  return out
end

t.test("status words map to Job statuses", function()
  t.equal(claravine.statuses.Pending, "running")  -- vendors.md: Pending = running
  t.equal(claravine.statuses.Complete, "done")
  t.equal(claravine.statuses.Failed, "failed")
end)

t.test("datasets and transactions", function()
  local ds = claravine.datasets()
  t.equal(#ds >= 3, true)
  t.equal(type(ds[1].uuid), "string")
  local list = claravine.transactions("ds-campaigns", {start_date = "2000-01-01", end_date = "2100-01-01"})
  t.equal(type(list), "table")
end)

t.test("submit splits into 1,000-row parts named 'NAME (part i of n)', poll, data, export", function()
  local jobs = claravine.submit("data", "ds-campaigns", {name = "Split test", fields = fields, rows = rows(2500)})
  t.equal(#jobs, 3)
  t.equal(jobs[1].ref.name, "Split test (part 1 of 3)")
  t.equal(jobs[3].ref.rows, 500)
  claravine.poll(jobs, {interval = 0.1})
  for _, j in ipairs(jobs) do t.equal(j.status, "done"); t.equal(j.vendor_status, "Complete") end
  local d = claravine.data("ds-campaigns", jobs[2].id)
  t.equal(#d.rows, 1000)
  t.equal(d.rows[1][1], "c1001")
  local job = claravine.export("transaction", {dataset = "ds-campaigns", transaction = jobs[3].id})
  t.equal(job.status, "done")
  local r = job:download(tmp("t.csv"))
  t.equal(r.rows, 500)
  local n = 0
  for row in csv.read(tmp("t.csv")) do n = n + 1; t.equal(row.channel, "email") end
  t.equal(n, 500)
  local rj = claravine.download(job, tmp("t.json"))
  t.equal(#json.decode(io.open(tmp("t.json")):read("a")).rows, 500)
  t.equal(rj.rows, 500)
  t.equal(t.raises(job.download, job, tmp("t.xml")).kind, "validation")
end)

t.test("rows from a CSV path (fields from its header) and from an iterator", function()
  local path = tmp("in.csv")
  csv.write(path, rows(1200, "p"), {header = fields})
  local jobs = claravine.submit("data", "ds-campaigns", {name = "From file", rows = path}, {concurrency = 2})
  t.equal(#jobs, 2)
  t.equal(jobs[2].ref.rows, 200)
  local i = 0
  local it = function() i = i + 1; if i <= 1001 then return {campaign_id = "k" .. i, campaign_name = "n", channel = "web"} end end
  local more = claravine.submit("data", "ds-campaigns", {name = "From iterator", fields = fields, rows = it})
  t.equal(#more, 2)
  t.equal(more[2].ref.name, "From iterator (part 2 of 2)")
  claravine.poll(more, {interval = 0.1})
  t.equal(claravine.data("ds-campaigns", more[2].id).rows[1][3], "web")
end)

t.test("invalid data fails the transaction silently: poll raises job_failed", function()
  local jobs = claravine.submit("data", "ds-campaigns", {name = "Bad", fields = {"campaign_id"}, rows = {{"x"}}})
  local e = t.raises(claravine.poll, jobs, {interval = 0.1})
  t.equal(e.kind, "job_failed")
  t.equal(jobs[1].vendor_status, "Failed")
  t.contains(e.message, "required fields")
end)

t.test("arguments are checked before anything is sent", function()
  local n = t.sim_stats().requests
  for _, c in ipairs{
    {"rows", "ds-campaigns", {name = "x", fields = fields, rows = {}}},
    {"data", 5, {name = "x", fields = fields, rows = {}}},
    {"data", "ds-campaigns", {fields = fields, rows = {}}},
    {"data", "ds-campaigns", {name = "x", rows = {{"a"}}}},
    {"data", "ds-campaigns", {name = "x", fields = {1}, rows = {}}},
    {"data", "ds-campaigns", {name = "x", fields = fields, rows = "/no/such/file.csv"}},
    {"data", "ds-campaigns", {name = "x", fields = fields, rows = {}, extra = 1}},
  } do
    t.equal(t.raises(claravine.submit, c[1], c[2], c[3]).kind, "validation")
  end
  t.equal(t.raises(claravine.transactions, "ds-campaigns", {start_date = "01/02/2024"}).kind, "validation")
  t.equal(t.raises(claravine.export, "dataset", {}).kind, "validation")
  t.equal(t.sim_stats().requests, n)
end)

t.test("error bodies {code, message}: 401 as auth, 404 as http", function()
  local c = claravine.client{api_key = "wrong-key-xyz", api_secret = "wrong-secret-xyz"}
  local e = t.raises(c.datasets, c)
  t.equal(e.kind, "auth"); t.equal(e.status, 401); t.equal(e.code, "unauthorized")
  t.equal(tostring(e):find("wrong-secret-xyz", 1, true), nil)
  t.contains(e.message, "CLARAVINE_API_SECRET")
  local nf = t.raises(claravine.transactions, "ds-nope")
  t.equal(nf.status, 404); t.equal(nf.code, "not_found"); t.equal(nf.kind, "http")
  local tooearly = claravine.submit("data", "ds-campaigns", {name = "Early", fields = fields, rows = rows(1)})
  local e2 = t.raises(claravine.data, "ds-campaigns", tooearly[1].id)
  t.equal(e2.code, "transaction_not_complete")
end)

t.test("a part whose answer is lost is found by name and adopted, not sent twice", function()
  local before = t.sim_stats()
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local jobs = claravine.submit("data", "ds-campaigns", {name = "Lost answer", fields = fields, rows = rows(1500)})
  t.equal(fired(), true)
  t.equal(#jobs, 2)
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(after.created.claravine.transactions - (before.created.claravine.transactions or 0), 2)
  claravine.poll(jobs, {interval = 0.1})
end)

t.done()
