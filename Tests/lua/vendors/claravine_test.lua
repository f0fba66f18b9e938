-- claravine against the simulator: every function, error body and status word,
-- in each reading of what Claravine's API documentation leaves open
-- (moonport sim --list-variants: claravine.listing, claravine.create_answer,
-- claravine.status; claravine.listing=names_only gives names without creation times).
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

-- The listing carries names in the objects and wrapped readings; in the
-- default reading it is bare uuids, as Claravine's documentation says.
local named = t.variant("claravine.listing") ~= nil

local function created_transactions()
  return (t.sim_stats().created.claravine or {}).transactions or 0
end

t.test("status words map to Job statuses", function()
  t.equal(claravine.statuses.Pending, "running")
  t.equal(claravine.statuses.Complete, "done")
  t.equal(claravine.statuses.Failed, "failed")
end)

t.test("datasets and transactions: each item a table with its uuid, whatever the listing's shape", function()
  local ds = claravine.datasets()
  t.equal(#ds, 3)
  local uuids = {}
  for _, d in ipairs(ds) do
    t.equal(type(d), "table")
    uuids[d.uuid] = true
    t.equal(type(d.name), named and "string" or "nil", "name of " .. d.uuid)
  end
  t.equal(uuids["ds-campaigns"] and uuids["ds-forecasts"] and uuids["ds-creatives"], true, "the seeded datasets")
  local list = claravine.transactions("ds-campaigns", {start_date = "2000-01-01", end_date = "2100-01-01"})
  t.equal(#list, 4, "the seeded transactions")
  for _, tx in ipairs(list) do
    t.equal(type(tx.uuid), "string")
    if named then t.contains(tx.name, "Weekly taxonomy load") end
  end
  t.equal(#claravine.transactions("ds-campaigns", {start_date = "2999-01-01", end_date = "2999-12-31"}), 0, "dates")
  -- A seeded transaction reads back and exports.
  local data = claravine.data("ds-campaigns", list[1].uuid)
  t.equal(data.fields[1], "campaign_id")
  t.equal(#data.rows > 0, true)
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
  t.equal(#json.decode(t.slurp(tmp("t.json"))).rows, 500)
  t.equal(rj.rows, 500)
  t.equal(t.raises(job.download, job, tmp("t.xml")).kind, "validation")
end)

t.test("one part keeps its name; a keyed row's missing field is sent as \"\" (Claravine's empty value)", function()
  local jobs = claravine.submit("data", "ds-campaigns", {name = "Single part load", fields = {"campaign_id",
    "campaign_name", "channel", "region"}, rows = {{campaign_id = "s1", campaign_name = "One", channel = "web"}}})
  t.equal(#jobs, 1)
  t.equal(jobs[1].ref.name, "Single part load")
  if named then
    local found = false
    for _, tx in ipairs(claravine.transactions("ds-campaigns")) do
      if tx.uuid == jobs[1].id then t.equal(tx.name, "Single part load"); found = true end
    end
    t.equal(found, true, "the transaction is listed under the name given")
  end
  claravine.poll(jobs, {interval = 0.1})
  local d = claravine.data("ds-campaigns", jobs[1].id)
  t.equal(d.rows[1][4], "", "the missing region")
  t.equal(d.rows[1][3], "web")
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
  local c = claravine.default_client()
  local e = t.raises(c.request, c, "GET", "/v1/datasets", {auth = {key_header = "X-Api-Key", key = "wrong-key-xyz",
    secret_header = "X-Api-Secret", secret = "wrong-secret-xyz"}})
  t.equal(e.kind, "auth"); t.equal(e.status, 401); t.equal(e.code, "unauthorized")
  t.equal(tostring(e):find("wrong-secret-xyz", 1, true), nil)
  t.contains(e.message, "CLARAVINE_API_SECRET")
  local nf = t.raises(claravine.transactions, "ds-nope")
  t.equal(nf.status, 404); t.equal(nf.code, "not_found"); t.equal(nf.kind, "http")
  local tooearly = claravine.submit("data", "ds-campaigns", {name = "Early", fields = fields, rows = rows(1)})
  local e2 = t.raises(claravine.data, "ds-campaigns", tooearly[1].id)
  t.equal(e2.code, "transaction_not_complete")
end)

t.test("a part whose answer is lost is found (by name, or by its rows) and adopted, not sent twice", function()
  local before, n = t.sim_stats(), created_transactions()
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local jobs = claravine.submit("data", "ds-campaigns", {name = "Lost answer", fields = fields, rows = rows(1500)})
  t.equal(fired(), true)
  t.equal(#jobs, 2)
  t.equal(jobs[1].id ~= jobs[2].id, true, "two transactions")
  local after = t.sim_stats()
  t.equal(after.duplicates.total, before.duplicates.total, "duplicates")
  t.equal(created_transactions() - n, 2)
  claravine.poll(jobs, {interval = 0.1})
  t.equal(claravine.data("ds-campaigns", jobs[2].id).rows[1][1], "c1001", "each part adopted its own transaction")
end)

t.test("a lost part that then Failed: adopted by name, or 'may have been created' (naming it) from bare uuids", function()
  local n = created_transactions()
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local ok, res = pcall(claravine.submit, "data", "ds-campaigns", {name = "Lost and failed", fields = {"campaign_id"},
    rows = {{"x"}}})
  t.equal(fired(), true)
  t.equal(created_transactions() - n, 1, "sent once")
  t.equal(t.sim_stats().duplicates.total, 0)
  if named then
    t.equal(ok, true, tostring(res))
    t.equal(res[1].ref.name, "Lost and failed")
    t.equal(t.raises(claravine.poll, res, {interval = 0.1}).kind, "job_failed")
  else
    t.equal(ok, false)
    t.equal(type(res), "table")
    t.equal(res.kind, "network")
    t.contains(res.message, "may have been created")
    t.contains(res.message, "'Lost and failed'")
    t.contains(res.message, "ds-campaigns")
    t.contains(res.message, "Nothing was sent again")
  end
end)

-- A second moonport with the same environment (the simulator's URL and
-- credentials): `env` sets or unsets variables, e.g. "-u CLARAVINE_BASE_URL".
local function run_child(env, code, state_path)
  local script = tmp("child.lua")
  local f = assert(io.open(script, "wb"))
  f:write(code)
  f:close()
  local cmd = string.format("env %s %q run %s %q 2>&1", env or "", arg[-1],
    state_path and ("--state " .. string.format("%q", state_path)) or "", script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  return out
end

t.test("a run killed after sending a part: the rerun adopts it from the journal, never sends twice", function()
  local n = created_transactions()
  local db = tmp("crash.sqlite")
  local load = [[
    local claravine, state = require "claravine", require "state"
    local rows = {}
    for i = 1, 1500 do rows[i] = {"k" .. i, "Crash " .. i, "social"} end
    if arg[1] == "die" then
      local original = claravine.Client.request
      claravine.Client.request = function(self, method, path, opts)
        local res = original(self, method, path, opts)
        if method == "POST" then os.exit(7) end  -- dies before it sees the answer
        return res
      end
    end
    local jobs = state.once("crash load", function()
      return claravine.submit("data", "ds-campaigns", {name = "Crash load", fields = {"campaign_id", "campaign_name",
        "channel"}, rows = rows}, {concurrency = 1})
    end)
    claravine.poll(jobs, {interval = 0.1, quiet = true})
    print("parts=" .. #jobs .. " first=" .. jobs[1].ref.name .. " rows=" .. jobs[1].ref.rows + jobs[2].ref.rows)
  ]]
  local first = run_child("", load:gsub('arg%[1%] == "die"', "true"), db)
  t.equal(first:find("parts=", 1, true), nil, "the first run died: " .. first)
  t.equal(created_transactions() - n, 1, "the first part was sent")
  local second = run_child("", load, db)
  t.contains(second, "parts=2 first=Crash load (part 1 of 2) rows=1500")
  t.equal(created_transactions() - n, 2, "the first part adopted, the second sent")
  t.equal(t.sim_stats().duplicates.total, 0)
  os.remove(db)
end)

-- Transactions these tests create twice on purpose (the simulator counts a
-- second transaction of the same name in a dataset as a duplicate).
local meant_duplicates = 0

t.test("a rerun never adopts the transaction an earlier load of the same name made within the shared listing's "
  .. "seconds: it sends its own", function()
  local n = created_transactions()
  local db = tmp("rerun-shared.sqlite")
  -- Two loads of one name and the same rows, each in its own state.once,
  -- the second within snapshot_seconds of the first: the first completes,
  -- the second dies before its POST goes out. On the rerun, the first is
  -- done (skipped) and the second looks for what it may have made.
  local load = [[
    local claravine, state = require "claravine", require "state"
    local rows = {{"same-1", "Same", "email"}, {"same-2", "Same", "email"}}
    local function load() return claravine.submit("data", "ds-campaigns", {name = "Same name twice",
      fields = {"campaign_id", "campaign_name", "channel"}, rows = rows}) end
    local first = state.once("first load", load)
    if arg[1] == "die" then
      local original = claravine.Client.request
      claravine.Client.request = function(self, method, path, opts)
        if method == "POST" then os.exit(7) end  -- dies before the POST goes out
        return original(self, method, path, opts)
      end
    end
    local second = state.once("second load", load)
    print("first=" .. first[1].id .. " second=" .. second[1].id)
  ]]
  local died = run_child("", load:gsub('arg%[1%] == "die"', "true"), db)
  t.equal(died:find("first=", 1, true), nil, "the first run died: " .. died)
  t.equal(created_transactions() - n, 1, "the first load was sent, the second was not")
  local rerun = run_child("", load, db)
  local first, second = rerun:match("first=(%S+) second=(%S+)")
  t.equal(first ~= nil and first ~= second, true, "the second load is its own transaction: " .. rerun)
  t.equal(created_transactions() - n, 2, "the second load was sent on the rerun")
  meant_duplicates = meant_duplicates + 1
  os.remove(db)
end)


t.test("a lost part never adopts an older transaction of its name: it was not created, so it is sent once", function()
  local name = "Rerun after a failed load"
  -- A transaction of that name made earlier by someone else (an earlier
  -- run): it Failed.
  local old = claravine.default_client():call("POST", "/v1/datasets/ds-campaigns/data", {json = {
    transactionName = name, fields = json.array{"campaign_id"}, rows = json.array{json.array{"x"}}}})
  local old_id = old.transactionUuid or old.uuid
  meant_duplicates = meant_duplicates + 1
  local n = created_transactions()
  -- The POST never reaches Claravine: the connection is reset before it has any effect.
  local fired = t.lose_next(claravine.Client, "POST", "/data", "reset")
  -- The older transaction was made a moment ago: list the dataset afresh
  -- before the part (an earlier run is minutes older than a shared listing;
  -- the next test shows what happens within one).
  local shared = claravine.snapshot_seconds
  claravine.snapshot_seconds = 0
  local ok, jobs = pcall(claravine.submit, "data", "ds-campaigns", {name = name, fields = fields, rows = rows(3, "r")})
  claravine.snapshot_seconds = shared
  t.equal(fired(), true)
  t.equal(ok, true, tostring(type(jobs) == "table" and jobs.message or jobs))
  t.equal(jobs[1].id ~= old_id, true, "the older transaction of that name is not adopted")
  t.equal(created_transactions() - n, 1, "sent again once it was found not created")
  claravine.poll(jobs, {interval = 0.1})
  t.equal(jobs[1].vendor_status, "Complete")
end)

t.test("parts within snapshot_seconds share one listing of the dataset; a part of another name made in that "
  .. "window is never adopted", function()
  local listings = 0
  local C = claravine.Client
  local original = C.request
  C.request = function(self, m, path, opts)
    if m == "GET" and path:find("/transactions", 1, true) then listings = listings + 1 end
    return original(self, m, path, opts)
  end
  local ok, jobs = pcall(claravine.submit, "data", "ds-campaigns", {name = "Shared listing", fields = fields,
    rows = rows(2500, "s")}, {concurrency = 2})
  C.request = original
  t.equal(ok, true, tostring(type(jobs) == "table" and jobs.message or jobs))
  t.equal(#jobs, 3)
  -- (none when an earlier test listed the dataset less than snapshot_seconds ago)
  t.equal(listings <= 1, true, "at most one listing for the three parts, not one per part: " .. listings)
  -- A transaction made by someone else after the shared listing was taken,
  -- then a part whose answer is lost: the lookup tells them apart (by name,
  -- or by rows where the listing gives bare uuids) and adopts the part's own.
  claravine.default_client():call("POST", "/v1/datasets/ds-campaigns/data", {json = {
    transactionName = "Someone else's", fields = json.array{"campaign_id"}, rows = json.array{json.array{"z"}}}})
  local n = created_transactions()
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local ok2, jobs2 = pcall(claravine.submit, "data", "ds-campaigns", {name = "Shared listing, lost", fields = fields,
    rows = rows(4, "l")})
  t.equal(fired(), true)
  t.equal(ok2, true, tostring(type(jobs2) == "table" and jobs2.message or jobs2))
  t.equal(created_transactions() - n, 1, "the lost part was adopted, not sent twice")
  claravine.poll(jobs2, {interval = 0.1})
  t.equal(jobs2[1].vendor_status, "Complete")
end)

t.test("a lost part whose rows read back changed: adopted by name, or 'may have been created' from bare uuids", function()
  local n = created_transactions()
  -- Claravine's governance changed a value: the data reads back otherwise than sent.
  local original = claravine.Client.call
  claravine.Client.call = function(self, method, path, opts)
    local res = original(self, method, path, opts)
    if method == "GET" and path:find("/data/$") and type(res) == "table" and type(res.rows) == "table" then
      for _, r in ipairs(res.rows) do if r[3] == "email" then r[3] = "Email" end end
    end
    return res
  end
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local ok, res = pcall(claravine.submit, "data", "ds-campaigns", {name = "Normalised by Claravine", fields = fields,
    rows = rows(2, "g")})
  claravine.Client.call = original
  t.equal(fired(), true)
  t.equal(created_transactions() - n, 1, "sent once")
  if named then
    t.equal(ok, true, tostring(type(res) == "table" and res.message or res))
    t.equal(res[1].ref.name, "Normalised by Claravine")
  else
    t.equal(ok, false, "not sent again")
    t.equal(res.kind, "network")
    t.contains(res.message, "may have been created")
    t.contains(res.message, "'Normalised by Claravine'")
    t.contains(res.message, "as many as the part")
  end
end)

t.test("a listing item whose uuid is null is a validation error, not the id 'json.null'", function()
  local c = claravine.client{}
  c.call = function() return {{uuid = json.null, name = "x"}, {uuid = "ds-ok"}} end
  local e = t.raises(c.datasets, c)
  t.equal(e.kind, "validation")
  t.contains(e.message, "item 1 has no uuid")
  c.call = function() return {"ds-ok", json.null} end
  e = t.raises(c.datasets, c)
  t.equal(e.kind, "validation")
  t.contains(e.message, "item 2 is null")
end)

t.test("a status answer that is not a status: the error masks the secrets the body echoes", function()
  local c = claravine.client{}
  local secret = c:credential("api_secret")
  c.request = function()
    return {status = 200, headers = {}, body = "<html>proxy echo X-Api-Secret: " .. secret .. "</html>",
      json = function() error("not JSON") end}
  end
  local e = t.raises(c.export, c, "transaction", {dataset = "ds-campaigns", transaction = "tx-1"})
  t.equal(e.kind, "validation")
  t.contains(e.message, "where a status")
  t.equal(e.message:find(secret, 1, true), nil, "the secret is masked: " .. e.message)
end)

t.test("no base URL: kind = auth naming CLARAVINE_BASE_URL (each customer has its own host)", function()
  local out = run_child("-u CLARAVINE_BASE_URL -u MOONPORT_SANDBOX HOME=" .. tmp("home"), [[
    local claravine = require "claravine"
    local c = claravine.client()
    local ok, e = pcall(c.base_url, c)
    print("base_url ok=" .. tostring(ok) .. " " .. (ok and e or (e.kind .. " " .. e.message)))
    if not ok then
      local ok2, e2 = pcall(claravine.datasets)
      print("datasets ok=" .. tostring(ok2) .. " " .. (ok2 and "" or (e2.kind .. " " .. e2.message)))
    end
    print("given=" .. claravine.client{base_url = "https://acme.claravine.com/"}:base_url())
  ]])
  t.contains(out, "base_url ok=false auth claravine: no base URL")
  t.contains(out, "CLARAVINE_BASE_URL")
  t.contains(out, "https://CUSTOMER.claravine.com")
  t.contains(out, "datasets ok=false auth claravine: no base URL")
  t.contains(out, "base_url = ... to claravine.client{}")
  t.contains(out, "given=https://acme.claravine.com")
end)

t.test("a CSV path is sent in 1,000-row parts encoded natively: names, counts, a fields subset, bad column, ragged row, lost answer", function()
  local path = tmp("big.csv")
  local big = {}
  for i = 1, 2500 do big[i] = {"f" .. i, "Campaign \"" .. i .. "\"", i % 2 == 0 and "email" or "web", "EU"} end
  csv.write(path, big, {header = {"campaign_id", "campaign_name", "channel", "region"}})
  local n = created_transactions()
  local jobs = claravine.submit("data", "ds-campaigns", {name = "CSV parts", rows = path}, {concurrency = 2})
  t.equal(#jobs, 3)
  t.equal(created_transactions() - n, 3)
  for i, expect in ipairs{1000, 1000, 500} do
    t.equal(jobs[i].ref.name, string.format("CSV parts (part %d of 3)", i))
    t.equal(jobs[i].ref.rows, expect)
  end
  claravine.poll(jobs, {interval = 0.1})
  local d3 = claravine.data("ds-campaigns", jobs[3].id)
  t.equal(#d3.rows, 500)
  t.equal(d3.rows[1][1], "f2001")
  t.equal(d3.rows[1][2], 'Campaign "2001"')
  -- A subset of the columns, in another order.
  local sub = claravine.submit("data", "ds-campaigns", {name = "CSV subset",
    fields = {"channel", "campaign_name", "campaign_id"}, rows = path})
  t.equal(#sub, 3)
  claravine.poll(sub, {interval = 0.1})
  local d = claravine.data("ds-campaigns", sub[2].id)
  t.equal(#d.rows, 1000)
  t.equal(#d.fields, 3)
  t.equal(d.rows[1][1], "web")
  t.equal(d.rows[1][3], "f1001")
  -- A field that is not a column: validation naming it, nothing sent.
  local requests = t.sim_stats().requests
  local e = t.raises(claravine.submit, "data", "ds-campaigns", {name = "CSV bad", fields = {"campaign_id", "budget"}, rows = path})
  t.equal(e.kind, "validation")
  t.contains(e.message, "claravine.submit: field 'budget' is not a column of")
  t.equal(t.sim_stats().requests, requests, "nothing sent")
  -- A ragged row: reported with its line.
  local ragged = tmp("ragged.csv")
  local f = assert(io.open(ragged, "wb"))
  f:write("campaign_id,campaign_name,channel\nr1,n,web\nr2,n\n")
  f:close()
  local r = t.raises(claravine.submit, "data", "ds-campaigns", {name = "CSV ragged", rows = ragged})
  t.equal(r.kind, "validation")
  t.contains(r.message, "claravine.submit: ")
  t.contains(r.message, ":3:")
  t.equal(r.line, 3)
  -- A header column without a name, and a field that is not UTF-8: errors of
  -- claravine.submit, with no hint about csv.read's options.
  local unnamed = tmp("unnamed.csv")
  f = assert(io.open(unnamed, "wb")); f:write("a,b,\nx,y,\n"); f:close()
  r = t.raises(claravine.submit, "data", "ds-campaigns", {name = "CSV unnamed", rows = unnamed})
  t.equal(r.vendor, "claravine")
  t.contains(r.message, "claravine.submit: ")
  t.contains(r.message, "column 3 of the header has no name")
  t.equal(r.message:find("header=false", 1, true), nil, r.message)
  local latin1 = tmp("latin1.csv")
  f = assert(io.open(latin1, "wb")); f:write("a,b\nx,\xe9t\xe9\n"); f:close()
  r = t.raises(claravine.submit, "data", "ds-campaigns", {name = "CSV latin1", rows = latin1})
  t.equal(r.kind, "validation")
  t.equal(r.vendor, "claravine")
  t.contains(r.message, "not valid UTF-8")
  -- A ragged row in the third part: reported before the first part is sent.
  local late = tmp("late.csv")
  f = assert(io.open(late, "wb"))
  f:write("campaign_id,campaign_name,channel\n")
  for i = 1, 2500 do f:write(i == 2222 and "r,n\n" or ("r" .. i .. ",n,web\n")) end
  f:close()
  requests = t.sim_stats().requests
  r = t.raises(claravine.submit, "data", "ds-campaigns", {name = "CSV late ragged", rows = late})
  t.equal(r.line, 2223)
  t.equal(t.sim_stats().requests, requests, "nothing sent before the ragged row was found")
  -- A lost answer: the part is found (by name, or by its rows decoded from
  -- the encoded part) and adopted, not sent twice.
  local before, m = t.sim_stats(), created_transactions()
  local fired = t.lose_next(claravine.Client, "POST", "/data")
  local lost = claravine.submit("data", "ds-campaigns", {name = "CSV lost", rows = path})
  t.equal(fired(), true)
  t.equal(#lost, 3)
  t.equal(created_transactions() - m, 3)
  t.equal(t.sim_stats().duplicates.total, before.duplicates.total, "duplicates")
  claravine.poll(lost, {interval = 0.1})
  t.equal(claravine.data("ds-campaigns", lost[2].id).rows[1][1], "f1001", "each part adopted its own transaction")
end)

t.test("no duplicates over the whole run", function()
  t.equal(t.sim_stats().duplicates.total, meant_duplicates, "only the transactions made twice on purpose")
end)

t.done()
