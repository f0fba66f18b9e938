-- The quantive binding against the simulator. Run with:
--   MOONPORT_SIM_SPEED=20 moonport run --sandbox -I Tests/lua/lib Tests/lua/vendors/quantive_test.lua
-- (testing.lua is in Tests/lua/lib: found without -I too.)
package.path = (arg and arg[0] or ""):gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local t = require "testing"
local tmp = t.tmp
local slurp = t.slurp
local exists = t.exists
local invalid = t.invalid
local quantive = require "quantive"
local json = require "json"
local csv = require "csv"
local ndjson = require "ndjson"
local state = require "state"

t.sim_reset()

local function requests() return t.sim_stats().requests end

local uniq = tostring(os.time()) .. "-" .. tostring(math.random(100000, 999999))
local function goal_name(what) return "moonport test " .. what .. " " .. uniq end

local sessions = quantive.sessions()
local current
for _, s in ipairs(sessions) do if s.status == "open" then current = s end end

t.test("status words", function()
  t.equal(quantive.statuses.DONE, "done")
  t.equal(quantive.vendor, "quantive")
end)

t.test("sessions: the previous, current and next quarter", function()
  t.equal(#sessions, 3)
  assert(current, "an open session")
  t.equal(type(current.id), "string")
  t.equal(type(current.title), "string")
  invalid(function() quantive.sessions("open") end, "argument #1 (options) must be a table")
  invalid(function() quantive.sessions{status = "open"} end, "unknown option 'status'")
end)

t.test("goals.list: every goal over every page", function()
  local before = requests()
  local names = {}
  for g in quantive.goals.list{limit = 5} do names[#names + 1] = g.name end
  t.equal(#names, 12, "seeded goals")
  t.equal(requests() - before, 3, "pages of 5 (5, 5, then a short page of 2)")
  -- A page size that divides the total: stops at totalCount, no empty page asked for.
  before = requests()
  local n = 0
  for _ in quantive.goals.list{filter = {sessionId = current.id}, limit = 3} do n = n + 1 end
  t.equal(n, 9, "goals of the current session")
  if t.variant("quantive.total") == "absent" then
    t.equal(requests() - before, 4, "three full pages, then an empty one says it is over")
  else
    t.equal(requests() - before, 3, "three full pages, then totalCount says it is over")
  end
end)

t.test("goals.list: filter as a table or a string, sort, fields", function()
  local n = 0
  for g in quantive.goals.list{filter = json.encode({sessionId = current.id})} do
    t.equal(g.sessionId, current.id)
    n = n + 1
  end
  t.equal(n, 9)
  local one = {}
  for g in quantive.goals.list{filter = {name = "Expand into EMEA"}} do one[#one + 1] = g end
  t.equal(#one, 1)
  t.equal(one[1].name, "Expand into EMEA")
  local ops = 0
  for _ in quantive.goals.list{filter = {name = {["$in"] = {"Expand into EMEA", "Grow net new ARR"}}}} do ops = ops + 1 end
  t.equal(ops, 2, "an operator filter")
  local sorted = {}
  for g in quantive.goals.list{sort = "name"} do sorted[#sorted + 1] = g.name end
  for i = 2, #sorted do assert(sorted[i - 1] <= sorted[i], "sorted by name") end
  local desc = {}
  for g in quantive.goals.list{sort = {"-name"}} do desc[#desc + 1] = g.name end
  t.equal(desc[1], sorted[#sorted])
  for g in quantive.goals.list{fields = {"name", "sessionId"}} do
    local keys = {}
    for k in pairs(g) do keys[#keys + 1] = k end
    table.sort(keys)
    t.equal(table.concat(keys, ","), "id,name,sessionId")
  end
  for g in quantive.goals.list{fields = "name"} do t.equal(g.ownerId, nil) end
end)

t.test("goals.list{tags=}: Quantive's filter by tag (?tags=Test Tag)", function()
  local tag = "Test Tag " .. uniq
  local g = quantive.goals.create{name = goal_name("tagged"), sessionId = current.id, tags = {{title = tag}}}
  local other = quantive.goals.create{name = goal_name("tagged 2"), sessionId = current.id, tags = {"other " .. uniq}}
  local found = {}
  for x in quantive.goals.list{tags = tag} do found[#found + 1] = x end
  t.equal(#found, 1)
  t.equal(found[1].id, g.id)
  local both = 0
  for _ in quantive.goals.list{tags = {tag, {title = "other " .. uniq}}} do both = both + 1 end
  t.equal(both, 2, "several tags: goals with any of them")
  t.equal(#quantive.export("goals", {tags = tag}):result(), 1, "export by tag")
  invalid(function() quantive.goals.list{tags = 5} end, "option 'tags' must be a list")
  invalid(function() quantive.goals.list{tags = {{name = "x"}}} end, "option 'tags'[1].title must be a string, got nil")
  quantive.goals.delete(g.id)
  quantive.goals.delete(other.id)
end)

t.test("a listing longer than what the service serves a request (a cap, skip ignored, no total) is listed whole", function()
  local planned
  for _, s in ipairs(sessions) do if s.status == "planned" then planned = s end end
  local bulk, goals = "bulk " .. uniq, {}
  for i = 1, 110 do goals[i] = {name = goal_name("bulk " .. i), sessionId = planned.id, tags = {bulk}} end
  local jobs = quantive.submit("goals", nil, goals)
  t.equal(#jobs, 110)
  local function count(it)
    local n, seen = 0, {}
    for g in it do
      t.equal(seen[g.id], nil, "goal " .. tostring(g.id) .. " listed twice")
      seen[g.id] = true
      n = n + 1
    end
    return n
  end
  t.equal(count(quantive.goals.list{}), 122, "every goal, pages of 100 asked")
  t.equal(count(quantive.goals.list{tags = bulk}), 110)
  t.equal(count(quantive.goals.list{limit = 1000}), 122)
  t.equal(count(quantive.goals.list{limit = 30, sort = "name"}), 122)
  local job = quantive.export("goals", {})
  t.equal(job:download(tmp("bulk.ndjson")).rows, 122, "the export has every goal")
  os.remove(tmp("bulk.ndjson"))
  t.equal(#job:result(), 122)
  for _, j in ipairs(jobs) do quantive.goals.delete(j.id) end
  t.equal(count(quantive.goals.list{}), 12)
end)

t.test("paging against answers that cannot be had whole, or capped without a total (stubbed answers)", function()
  local all = {}
  for i = 1, 158 do all[i] = {id = string.format("g%03d", i), name = "goal " .. i} end
  local asked = 0
  local function stub(serve)
    local c = quantive.client{}
    c.call = function(_, method, path, opts)
      t.equal(method .. " " .. path, "GET /v1/goals")
      asked = asked + 1
      return serve(opts.query.skip, opts.query.limit)
    end
    return c
  end
  -- Skip ignored, at most 50 a request, totalCount 158: it cannot be listed whole, and says so.
  local c = stub(function(_, limit)
    local items = {}
    for i = 1, math.min(50, limit) do items[i] = all[i] end
    return {items = items, totalCount = 158}
  end)
  local got = 0
  local err = t.raises(function() for _ in c.goals.list{} do got = got + 1 end end)
  t.equal(err.kind, "validation")
  t.contains(err.message, "only 50 of the 158 goals")
  t.equal(got, 50)
  -- Skip honoured, at most 50 a request, no totalCount: every goal, then an empty page.
  asked = 0
  c = stub(function(skip, limit)
    local items = {}
    for i = skip + 1, math.min(skip + math.min(50, limit), #all) do items[#items + 1] = all[i] end
    return {items = items}
  end)
  got = 0
  for g in c.goals.list{} do got = got + 1; t.equal(g.id, all[got].id) end
  t.equal(got, 158)
  t.equal(asked, 4, "four pages, the last shorter than those before")
  -- A bare list instead of {items}: read too; something else is a validation error.
  c = stub(function(skip) return skip == 0 and {all[1], all[2]} or {} end)
  got = 0
  for _ in c.goals.list{} do got = got + 1 end
  t.equal(got, 2)
  c = stub(function() return {items = "none"} end)
  t.equal(t.raises(function() for _ in c.goals.list{} do end end).kind, "validation")
end)

t.test("goals.list: arguments are checked before anything is sent", function()
  invalid(function() quantive.goals.list{limit = 0} end, "limit (the page size) must be between 1 and 1000")
  invalid(function() quantive.goals.list{limit = 1001} end, "between 1 and 1000")
  invalid(function() quantive.goals.list{limit = "10"} end, "option 'limit' must be an integer, got string")
  invalid(function() quantive.goals.list{skip = 10} end, "unknown option 'skip'")
  invalid(function() quantive.goals.list{filter = 5} end, "option 'filter' must be a string")
  invalid(function() quantive.goals.list{sort = {1}} end, "option 'sort'[1] must be a string")
  invalid(function() quantive.goals.list{fields = true} end, "option 'fields' must be a list")
  invalid(function() quantive.goals.list{filter = {[1] = "x"}} end, "filter cannot be sent as JSON")
  invalid(function() quantive.goals.list("all") end, "argument #1 (options) must be a table")
end)

t.test("goals.get: a goal, and 404", function()
  local first
  for g in quantive.goals.list{limit = 1} do first = first or g end
  local g = quantive.goals.get(first.id)
  t.equal(g.id, first.id)
  t.equal(g.name, first.name)
  local err = t.raises(quantive.goals.get, "000000000000000000000000")
  t.equal(err.kind, "http")
  t.equal(err.status, 404)
  t.equal(err.vendor, "quantive")
  t.equal(err.retryable, false)
  t.contains(err.message, "Goal 000000000000000000000000 not found")
  t.equal(err.details.message, "Goal 000000000000000000000000 not found")
  invalid(function() quantive.goals.get() end, "argument #1 (id) must be a string, got nil")
  invalid(function() quantive.goals.get({}) end, "argument #1 (id) must be a string")
  invalid(function() quantive.goals.get("") end, "id must not be empty")
end)

t.test("goals.create, update and delete", function()
  local before = t.sim_stats()
  local g = quantive.goals.create{name = goal_name("crud"), sessionId = current.id, description = "made by a test",
    tags = {"growth", {title = "product"}}}
  assert(type(g.id) == "string" and #g.id > 0, "an id")
  t.equal(g.name, goal_name("crud"))
  t.equal(g.tags[1].title, "growth")
  t.equal(g.tags[2].title, "product")
  if t.variant("quantive.goal_dates") ~= "absent" then
    assert(require("dates").read(g.dateCreated) > os.time() - 300, "created just now")
  else
    t.equal(g.dateCreated, nil, "the goal_dates=absent reading gives no dates")
  end
  local after = t.sim_stats()
  t.equal((after.created.quantive.goals or 0) - (before.created.quantive.goals or 0), 1)
  local u = quantive.goals.update(g.id, {description = "changed", attainment = 0.5})
  t.equal(u.description, "changed")
  t.equal(u.attainment, 0.5)
  t.equal(quantive.goals.get(g.id).description, "changed")
  t.equal(quantive.goals.delete(g.id), true)
  t.equal(t.sim_stats().created.quantive.goals_deleted - (before.created.quantive.goals_deleted or 0), 1)
  local err = t.raises(quantive.goals.get, g.id)
  t.equal(err.status, 404)
end)

t.test("goals.create: checked before anything is sent; the vendor's 400", function()
  invalid(function() quantive.goals.create() end, "argument #1 (goal) must be a table, got nil")
  invalid(function() quantive.goals.create{sessionId = current.id} end, "argument #1 (goal).name must be a string, got nil")
  invalid(function() quantive.goals.create{name = "  ", sessionId = current.id} end, "must not be empty")
  invalid(function() quantive.goals.create{name = "x"} end, "argument #1 (goal).sessionId must be a string, got nil")
  invalid(function() quantive.goals.create{name = "x", sessionId = 5} end, "sessionId must be a string, got number")
  invalid(function() quantive.goals.create{name = "x", sessionId = current.id, tags = "growth"} end, "tags must be a list")
  invalid(function() quantive.goals.create{name = "x", sessionId = current.id, tags = {{label = "a"}}} end, "tags[1].title must be a string, got nil")
  invalid(function() quantive.goals.create{name = "x", sessionId = current.id, ownerId = 7} end, "ownerId must be a string")
  invalid(function() quantive.goals.create{name = "x", sessionId = current.id, id = "abc"} end, "must not have an id")
  local err = t.raises(quantive.goals.create, {name = goal_name("bad session"), sessionId = "nope"})
  t.equal(err.kind, "http")
  t.equal(err.status, 400)
  t.contains(err.message, "session nope does not exist")
  t.equal(t.sim_stats().duplicates.total, 0)
end)

t.test("goals.update and delete: checks and 404", function()
  invalid(function() quantive.goals.update(nil, {name = "x"}) end, "argument #1 (id) must be a string, got nil")
  invalid(function() quantive.goals.update("abc") end, "argument #2 (changes) must be a table, got nil")
  invalid(function() quantive.goals.update("abc", {}) end, "argument #2 (changes) is empty")
  invalid(function() quantive.goals.update("abc", {name = 3}) end, "argument #2 (changes).name must be a string")
  invalid(function() quantive.goals.delete(false) end, "argument #1 (id) must be a string")
  local err = t.raises(quantive.goals.update, "000000000000000000000000", {description = "x"})
  t.equal(err.status, 404)
  t.equal(err.kind, "http")
  local first
  for g in quantive.goals.list{limit = 1} do first = first or g end
  err = t.raises(quantive.goals.update, first.id, {ownerId = "not-a-user"})
  t.equal(err.status, 400)
  t.contains(err.message, "is not a user of this account")
  -- A delete whose first attempt is answered 404: the goal never was there.
  err = t.raises(quantive.goals.delete, "000000000000000000000000")
  t.equal(err.status, 404)
  t.equal(err.kind, "http")
end)

t.test("goals.create exactly once when the answer is lost", function()
  local before = t.sim_stats()
  -- The POST takes effect and its answer is lost; the lookup is answered.
  local fired = t.lose_next(quantive.Client, "POST", "/v1/goals")
  local g = quantive.goals.create{name = goal_name("lost"), sessionId = current.id}
  t.equal(fired(), true, "the answer was lost")
  t.equal(g.name, goal_name("lost"))
  local after = t.sim_stats()
  t.equal(after.faults.lost - before.faults.lost, 1, "the answer was lost once")
  t.equal(after.created.quantive.goals - before.created.quantive.goals, 1, "created once")
  t.equal(after.duplicates.total, 0)
  local n = 0
  for x in quantive.goals.list{filter = {name = goal_name("lost")}} do n = n + 1; t.equal(x.id, g.id) end
  t.equal(n, 1)
  quantive.goals.delete(g.id)
end)

t.test("goals.create: a cut-off answer is adopted too", function()
  local before = t.sim_stats()
  local fired = t.lose_next(quantive.Client, "POST", "/v1/goals", "truncate")
  local g = quantive.goals.create{name = goal_name("truncated"), sessionId = current.id}
  t.equal(fired(), true, "the answer was cut off")
  t.equal(g.name, goal_name("truncated"))
  local after = t.sim_stats()
  t.equal(after.faults.truncate - before.faults.truncate, 1)
  t.equal(after.created.quantive.goals - before.created.quantive.goals, 1, "created once")
  t.equal(after.duplicates.total, 0)
  quantive.goals.delete(g.id)
end)

t.test("goals.create: the lookup checks name and session itself (filter and sort are not in Quantive's documentation)", function()
  -- Another client made a goal just before (not ours, within the clock skew).
  local q = quantive.default_client()
  local theirs = q:call("POST", "/v1/goals", {json = {name = goal_name("theirs"), sessionId = current.id}})
  -- A service that ignores filter and sort: the lookup sees every goal, oldest first.
  local original = quantive.Client.call
  quantive.Client.call = function(self, method, path, opts)
    if method == "GET" and path == "/v1/goals" and opts and opts.query then
      local query = {}
      for k, v in pairs(opts.query) do if k ~= "filter" and k ~= "sort" then query[k] = v end end
      opts = {query = query}
    end
    return original(self, method, path, opts)
  end
  local before = t.sim_stats()
  local fired = t.lose_next(quantive.Client, "POST", "/v1/goals")
  local ok, g = pcall(quantive.goals.create, {name = goal_name("ours"), sessionId = current.id})
  quantive.Client.call = original
  t.equal(fired(), true)
  t.equal(ok, true, tostring(g))
  t.equal(g.name, goal_name("ours"), "adopted our goal, not theirs")
  t.equal(g.id ~= theirs.id, true)
  t.equal(t.sim_stats().created.quantive.goals - before.created.quantive.goals, 1, "created once")
  quantive.goals.delete(g.id)
  quantive.goals.delete(theirs.id)
end)

t.test("goals.update: a PATCH whose answer was lost is sent again (the same changes), and the change holds", function()
  local g = quantive.goals.create{name = goal_name("patch lost"), sessionId = current.id}
  local before = t.sim_stats()
  local fired = t.lose_next(quantive.Client, "PATCH", "/v1/goals/")
  local u = quantive.goals.update(g.id, {description = "changed while the answer was lost"})
  t.equal(fired(), true)
  t.equal(u.description, "changed while the answer was lost")
  t.equal(quantive.goals.get(g.id).description, "changed while the answer was lost")
  local after = t.sim_stats()
  t.equal(after.faults.lost - before.faults.lost, 1)
  quantive.goals.delete(g.id)
end)

t.test("goals.delete: a retry's 404 after a lost answer is success", function()
  local g = quantive.goals.create{name = goal_name("delete lost"), sessionId = current.id}
  local before = t.sim_stats()
  local fired = t.lose_next(quantive.Client, "DELETE", "/v1/goals/")
  t.equal(quantive.goals.delete(g.id), true)
  t.equal(fired(), true, "the answer was lost")
  local after = t.sim_stats()
  t.equal(after.faults.lost - before.faults.lost, 1)
  t.equal(after.created.quantive.goals_deleted - before.created.quantive.goals_deleted, 1)
  t.equal(t.raises(quantive.goals.get, g.id).status, 404)
end)

t.test("export goals: a Job done at once, downloaded as CSV, NDJSON and JSON", function()
  local before = requests()
  local job = quantive.export("goals", {filter = {sessionId = current.id}, sort = "name"})
  t.equal(requests(), before, "nothing is sent to start it")
  t.equal(job.status, "done")
  t.equal(job.vendor_status, "DONE")
  t.equal(job.kind, "goals")
  t.equal(job.vendor, "quantive")
  job:refresh()
  t.equal(job.status, "done")
  t.equal(quantive.poll(job), job)
  t.equal(job:wait(), job)
  t.equal(requests(), before, "refresh and poll send nothing")
  t.contains(tostring(job), "quantive goals job")

  local p = tmp("goals.csv")
  local r = job:download(p)
  t.equal(r.path, p)
  t.equal(r.rows, 9)
  t.equal(r.bytes, #slurp(p))
  local rows = {}
  for row in csv.read(p) do rows[#rows + 1] = row end
  t.equal(#rows, 9)
  t.equal(rows[1].sessionId, current.id)
  assert(rows[1].name <= rows[2].name, "sorted")
  t.equal(json.decode(rows[1].tags)[1].title ~= nil, true, "nested values as JSON")
  t.equal(json.decode(rows[1].metrics).n, nil)
  local header = slurp(p):match("^[^\n]*")
  t.contains(header, "id,name,")
  t.contains(header, t.variant("quantive.goal_dates") == "absent" and "sessionId" or "dateCreated")

  p = tmp("goals.ndjson")
  r = quantive.download(job, p)
  t.equal(r.rows, 9)
  local n = 0
  for v in ndjson.read(p) do n = n + 1; t.equal(v.sessionId, current.id) end
  t.equal(n, 9)
  t.equal(job:download(tmp("goals.jsonl")).rows, 9)

  p = tmp("goals.json")
  r = job:download(p)
  t.equal(r.rows, 9)
  local list = json.decode(slurp(p))
  t.equal(#list, 9)
  t.equal(list[1].sessionId, current.id)

  local result = job:result()
  t.equal(#result, 9)
  t.equal(result[1].name, list[1].name)

  local err = invalid(function() job:download(tmp("goals.xlsx")) end, "give a path ending in .csv, .ndjson, .jsonl or .json")
  t.equal(exists(tmp("goals.xlsx")), false)
  invalid(function() job:download(42) end, "argument #1 (path) must be a string")
  for _, s in ipairs{"goals.csv", "goals.ndjson", "goals.jsonl", "goals.json"} do os.remove(tmp(s)) end
end)

t.test("export goals: fields and an empty result", function()
  local job = quantive.export("goals", {fields = {"name"}})
  local p = tmp("names.csv")
  t.equal(job:download(p).rows, 12)
  t.equal(slurp(p):match("^[^\n]*"), "id,name")
  os.remove(p)
  job = quantive.export("goals", {filter = {name = "no such goal " .. uniq}})
  p = tmp("none.json")
  t.equal(job:download(p).rows, 0)
  t.equal(slurp(p), "[]")
  os.remove(p)
  t.equal(#job:result(), 0)
end)

t.test("export: arguments are checked", function()
  invalid(function() quantive.export("sessions") end, "argument #1 (kind) must be one of goals, got 'sessions'")
  invalid(function() quantive.export("goals", "x") end, "argument #2 (params) must be a table")
  invalid(function() quantive.export("goals", {filters = {}}) end, "unknown goals parameter 'filters'")
  invalid(function() quantive.export("goals", {sort = 1}) end, "option 'sort' must be a list")
end)

t.test("export Jobs come back from state.once and still download", function()
  local key = "quantive export " .. uniq
  local job = state.once(key, function() return quantive.export("goals", {filter = {sessionId = current.id}}) end)
  local again = state.once(key, function() error("not run again") end)
  t.equal(again.kind, "goals")
  t.equal(again.status, "done")
  local p = tmp("again.ndjson")
  t.equal(again:download(p).rows, 9)
  os.remove(p)
  state.forget(key)
end)

t.test("submit goals: each created once, done Jobs", function()
  local before = t.sim_stats()
  local jobs = quantive.submit("goals", nil, {
    {name = goal_name("submit 1"), sessionId = current.id},
    {name = goal_name("submit 2"), sessionId = current.id, tags = {"sales"}},
  })
  t.equal(#jobs, 2)
  for i, job in ipairs(jobs) do
    t.equal(job.kind, "goal")
    t.equal(job.status, "done")
    t.equal(job.vendor_status, "DONE")
    t.equal(job.raw.name, goal_name("submit " .. i))
    t.equal(job.id, job.raw.id)
    t.equal(job:result().id, job.id)
  end
  local after = t.sim_stats()
  t.equal(after.created.quantive.goals - before.created.quantive.goals, 2)
  -- From an iterator too.
  local i = 0
  local more = quantive.submit("goals", nil, function()
    i = i + 1
    if i <= 1 then return {name = goal_name("submit iter"), sessionId = current.id} end
  end)
  t.equal(#more, 1)
  t.equal(more[1].raw.name, goal_name("submit iter"))
  t.equal(t.sim_stats().duplicates.total, 0)
  local err = t.raises(jobs[1].download, jobs[1], tmp("x.json"))
  t.equal(err.kind, "usage")
  for _, j in ipairs(jobs) do quantive.goals.delete(j.id) end
  quantive.goals.delete(more[1].id)
end)

t.test("submit: every goal is checked before the first is sent", function()
  invalid(function() quantive.submit("goal", nil, {}) end, "argument #1 (kind) must be one of goals")
  invalid(function() quantive.submit("goals", current.id, {}) end, "argument #2 (target) must be nil")
  invalid(function() quantive.submit("goals", nil, 5) end, "argument #3 (goals) must be a list")
  invalid(function() quantive.submit("goals", nil, {}, {concurrency = 2}) end, "goals take no options (got 'concurrency')")
  invalid(function()
    quantive.submit("goals", nil, {{name = goal_name("never"), sessionId = current.id}, {name = "no session"}})
  end, "goals[2].sessionId must be a string, got nil")
  t.equal(#quantive.submit("goals", nil, {}), 0)
end)

t.test("explicit clients: goals bound to the client, methods", function()
  local c = quantive.client{api_token = os.getenv("QUANTIVE_API_TOKEN"), account_id = os.getenv("QUANTIVE_ACCOUNT_ID"),
    base_url = os.getenv("QUANTIVE_BASE_URL")}
  local n = 0
  for _ in c.goals.list{limit = 100} do n = n + 1 end
  t.equal(n, 12)
  n = 0
  for _ in c.goals:list{} do n = n + 1 end
  t.equal(n, 12, "goals:list{} works too")
  t.equal(#c:sessions(), 3)
  local job = c:export("goals", {})
  t.equal(#job:result(), 12)
  local first
  for g in c.goals.list{limit = 1} do first = first or g end
  t.equal(c.goals.get(first.id).id, first.id)
  t.equal(c:goals_get(first.id).id, first.id)
  assert(quantive.goals ~= c.goals, "each client has its own goals table")
  local other = quantive.client{api_token = "wrong"}
  assert(other.goals ~= c.goals)
  invalid(function() quantive.client{token = "x"} end, "unknown field 'token'")
  invalid(function() quantive.client{api_token = 5} end, "field 'api_token' must be a string")
end)

t.test("401 with a wrong token, 403 with a wrong account", function()
  local secret = "wrong-token-" .. uniq
  local c = quantive.client{api_token = secret}
  local q = quantive.default_client()
  local err = t.raises(q.request, q, "GET", "/v1/goals", {auth = {bearer = secret,
    headers = {["gtmhub-accountId"] = os.getenv("QUANTIVE_ACCOUNT_ID")}}})
  t.equal(err.kind, "auth")
  t.equal(err.status, 401)
  t.equal(err.vendor, "quantive")
  t.contains(err.message, "Unauthorized")
  t.contains(err.message, "check QUANTIVE_API_TOKEN and QUANTIVE_ACCOUNT_ID")
  assert(not tostring(err):find(secret, 1, true), "the token is not in the error")
  assert(not tostring(c):find(secret, 1, true), "the token is not in tostring(client)")
  err = t.raises(q.request, q, "GET", "/v1/goals/abc", {auth = {bearer = os.getenv("QUANTIVE_API_TOKEN"),
    headers = {["gtmhub-accountId"] = "someone-else"}}})
  t.equal(err.kind, "auth")
  t.equal(err.status, 403)
  t.contains(err.message, "Forbidden")
end)

t.test("500 and 429 bodies", function()
  local first
  for g in quantive.goals.list{limit = 1} do first = first or g end
  t.sim_faults("500:1", 1)
  local err = t.raises(quantive.goals.get, first.id)
  t.sim_faults("")
  t.equal(err.kind, "http")
  t.equal(err.status, 500)
  t.equal(err.retryable, true)
  t.equal(type(err.details.message), "string")
  t.contains(err.message, err.details.message)
  t.sim_faults("429:1", 1)
  err = t.raises(quantive.goals.get, first.id)
  t.sim_faults("")
  t.equal(err.kind, "rate_limited")
  t.equal(err.status, 429)
  t.equal(err.vendor, "quantive")
  t.equal(err.retryable, true)
end)

-- A second moonport, without --sandbox, with the variables unset.
local function run_plain(env_unset, code)
  local script = tmp("plain.lua")
  local f = assert(io.open(script, "wb"))
  f:write(code)
  f:close()
  local home = tmp("home")
  local cmd = string.format("env %s HOME=%s %q run --state %q %q 2>&1", env_unset, home, arg[-1], tmp("plain.sqlite"), script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  os.remove(tmp("plain.sqlite"))
  return out
end

t.test("a missing credential names the variable to set", function()
  local out = run_plain("-u QUANTIVE_API_TOKEN", [[
    local quantive = require "quantive"
    local ok, err = pcall(quantive.sessions)
    print(err.kind, err.message)
  ]])
  t.contains(out, "auth")
  t.contains(out, "no API token: set QUANTIVE_API_TOKEN")
  out = run_plain("-u QUANTIVE_ACCOUNT_ID", [[
    local ok, err = pcall(require("quantive").sessions)
    print(err.kind, err.message)
  ]])
  t.contains(out, "no account id: set QUANTIVE_ACCOUNT_ID")
end)

t.test("region picks the base URL; other values are refused", function()
  local out = run_plain("-u QUANTIVE_BASE_URL -u QUANTIVE_REGION", [[
    local quantive = require "quantive"
    print("eu=" .. quantive.client():base_url())
    print("us=" .. quantive.client{region = "us"}:base_url())
    print("US=" .. quantive.client{region = "US"}:base_url())
    local ok, err = pcall(quantive.client, {region = "mars"})
    print("bad=" .. err.kind .. " " .. err.message)
  ]])
  t.contains(out, "eu=https://app.gtmhub.com/api")
  t.contains(out, "us=https://app.us.gtmhub.com/api")
  t.contains(out, "US=https://app.us.gtmhub.com/api")
  t.contains(out, "bad=validation")
  t.contains(out, "region must be \"eu\" or \"us\"")
  out = run_plain("-u QUANTIVE_BASE_URL QUANTIVE_REGION=us", [[
    print("env=" .. require("quantive").client():base_url())
  ]])
  t.contains(out, "env=https://app.us.gtmhub.com/api")
  out = run_plain("-u QUANTIVE_BASE_URL QUANTIVE_REGION=apac", [[
    local ok, err = pcall(require("quantive").sessions)
    print("envbad=" .. err.kind .. " " .. err.message)
  ]])
  t.contains(out, "envbad=validation")
  t.contains(out, "got 'apac'")
end)

-- Goals these tests create twice on purpose (the simulator counts a second
-- goal of the same name and session as a duplicate).
local meant_duplicates = 0

t.test("goals.create: a lost create never adopts an older goal of its name and session; it is sent once", function()
  -- A goal of that name made just before by someone else (not this process).
  local theirs = quantive.default_client():call("POST", "/v1/goals", {json = {name = goal_name("older"),
    sessionId = current.id}})
  meant_duplicates = meant_duplicates + 1
  local before = t.sim_stats()
  -- The POST never reaches Quantive: the connection is reset before it has any effect.
  local fired = t.lose_next(quantive.Client, "POST", "/v1/goals", "reset")
  local ok, g = pcall(quantive.goals.create, {name = goal_name("older"), sessionId = current.id})
  t.equal(fired(), true)
  t.equal(ok, true, tostring(type(g) == "table" and g.message or g))
  t.equal(g.id ~= theirs.id, true, "the older goal is not adopted")
  t.equal(t.sim_stats().created.quantive.goals - before.created.quantive.goals, 1, "sent again once it was found not created")
  quantive.goals.delete(g.id)
  quantive.goals.delete(theirs.id)
end)

t.test("goals.create: when the goals cannot all be listed, a lost create is not sent again ('may have been created')", function()
  -- A service that ignores skip and filter, gives no total, and holds more
  -- goals than one request gives: none of those it gives is ours.
  local others = {}
  for i = 1, 1000 do others[i] = {id = string.format("other%05d", i), name = "someone else's " .. i, sessionId = current.id} end
  local original = quantive.Client.call
  quantive.Client.call = function(self, method, path, opts)
    if method == "GET" and path == "/v1/goals" then
      local items = {}
      for i = 1, math.min(opts.query.limit or 100, #others) do items[i] = others[i] end
      return {items = items}
    end
    return original(self, method, path, opts)
  end
  local before = t.sim_stats()
  local fired = t.lose_next(quantive.Client, "POST", "/v1/goals")
  local ok, e = pcall(quantive.goals.create, {name = goal_name("unlistable"), sessionId = current.id})
  quantive.Client.call = original
  t.equal(fired(), true)
  t.equal(ok, false, "not sent again")
  t.equal(e.kind, "network")
  t.contains(e.message, "may have been created")
  t.contains(e.message, goal_name("unlistable"))
  t.contains(e.message, "could not all be listed")
  t.equal(t.sim_stats().created.quantive.goals - before.created.quantive.goals, 1, "created once")
  for g in quantive.goals.list{filter = {name = goal_name("unlistable")}} do quantive.goals.delete(g.id) end
end)

t.test("no duplicates over the whole run", function()
  t.equal(t.sim_stats().duplicates.total, meant_duplicates, "only the goals made twice on purpose")
end)

t.done()
