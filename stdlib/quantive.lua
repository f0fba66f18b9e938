--- quantive: Quantive (formerly Gtmhub) goals and sessions, as Quantive's
--- API documentation describes them.
---
---   local quantive = require "quantive"
---   for goal in quantive.goals.list{tags = "Test Tag"} do ... end          -- every page
---   for goal in quantive.goals.list{filter = {sessionId = sid}, sort = "name"} do ... end
---   quantive.goals.get(id)
---   quantive.goals.create{name = "Grow ARR", sessionId = sid, ownerId = uid, description = "...", tags = {{title = "growth"}}}
---   quantive.goals.update(id, {description = "..."})     -- PATCH: only the changed fields
---   quantive.goals.delete(id)                            --> true
---   quantive.sessions()                                  --> {{id=, title=, status=, start=, end=}, ...}
---   local job = quantive.export("goals", {filter = {sessionId = sid}})   -- done at once
---   job:download("goals.csv")                            --> {path=, bytes=, rows=}  (.csv, .ndjson/.jsonl, .json)
---   job:result()                                         --> the goals, a list
---   quantive.submit("goals", nil, goals)                 --> a done Job (kind "goal") per goal created
---
--- On an explicit client the same functions are methods, and `goals` is a
--- table bound to the client: `local q = quantive.client{api_token = t, account_id = a}; q.goals.list{}`.
---
--- Credentials: QUANTIVE_API_TOKEN (Authorization: Bearer) and
--- QUANTIVE_ACCOUNT_ID (header gtmhub-accountId). Base: QUANTIVE_BASE_URL, else
--- https://app.gtmhub.com/api, or https://app.us.gtmhub.com/api (the US data
--- center: your Quantive address has ".us.gtmhub") when QUANTIVE_REGION
--- (client field `region`) is "us".
---
--- Options (snake_case): `tags` a tag title ("Test Tag", Quantive's filter by
--- tag) or a list of them; `filter` a table (sent JSON-encoded: {name = "x"},
--- {attainment = {["$gte"] = 0.5}}) or a JSON string; `sort` a string
--- ("name,-dateCreated") or a list of them; `fields` a string ("name,ownerId")
--- or a list; `limit` the page size asked for (1..1000, default 100).
--- Goals themselves use Quantive's own field names.
---
--- Paging (skip/limit, which Quantive's documentation does not describe):
--- pages are asked for until totalCount is reached or a page comes back
--- empty, so a service that serves fewer goals than asked never ends a
--- listing early; one that ignores skip is asked once for the most it
--- serves, and a listing it cannot give whole raises instead of ending short.
---
--- Exactly once: the goals of the same name and sessionId are listed before
--- a goal is created; when the answer is lost, a goal of that name and
--- session that was not listed then (nor claimed by this process) is
--- adopted, never created twice. When that cannot be told (the goals could
--- not all be listed, or two new ones appeared), nothing is sent again and
--- the error says the goal "may have been created", naming it. PATCH is repeated safely (the same changes again are
--- harmless). A DELETE whose first answer was lost and whose retry finds the
--- goal gone counts as done.
local V = require "moonport.vendor"
local args = require "moonport.args"
local json = require "json"
local csv = require "csv"
local ndjson = require "ndjson"
local log = require "log"
local moonport = require "moonport"
local P = require "moonport.paging"

-- Quantive's hosts: the US data center's (Quantive's documentation), and the
-- other data center's (not in Quantive's documentation, which names only the
-- US URL and says to check for '.us.gtmhub' in your address: assumed).
local bases = {
  eu = "https://app.gtmhub.com/api",
  us = "https://app.us.gtmhub.com/api",
}

local function region_base(region, where)
  if region == nil or region == "" then return bases.eu end
  local r = type(region) == "string" and region:lower() or region
  if bases[r] == nil then
    V.raise("quantive", "validation", string.format("%s: region must be \"eu\" or \"us\" (QUANTIVE_REGION or "
      .. "quantive.client{region=}), got %s", where or "quantive", type(region) == "string" and ("'" .. region .. "'") or type(region)))
  end
  return bases[r]
end

-- The kinds of Job of quantive (their functions are defined below).
local export_job, goal_job = {}, {}

--- A Quantive client, made by `quantive.client{api_token=, account_id=,
--- region=, base_url=, timeout=}`; its methods are the module's functions,
--- and its `goals` field is a goals table bound to it.
---@class quantive.Client: moonport.Client
---@field goals quantive.goals  list, get, create, update and delete, with this client
local quantive, Client = V.define{
  name = "quantive",
  base_env = "QUANTIVE_BASE_URL",
  default_base = function(c) return region_base(c:setting("region", "QUANTIVE_REGION")) end,
  credentials = {
    {field = "api_token", env = "QUANTIVE_API_TOKEN", what = "API token"},
    {field = "account_id", env = "QUANTIVE_ACCOUNT_ID", what = "account id"},
  },
  settings = {{field = "region", env = "QUANTIVE_REGION"}},
  auth = function(c)
    return {bearer = c:credential("api_token"), headers = {["gtmhub-accountId"] = c:credential("account_id")}}
  end,
  -- {message} with 400, 401, 402, 403, 404, 500 (Quantive's documentation shows no error body: assumed).
  code_and_message = function(b)
    if type(b) ~= "table" then return nil end
    local message = b.message or b.error
    if type(message) == "table" then message = message.message end
    return type(b.code) == "string" and b.code or nil, type(message) == "string" and message or nil
  end,
  -- Quantive has no job resource: exports and created goals are done at once.
  statuses = {DONE = "done"},
  jobs = {goals = export_job, goal = goal_job},
}

--- The page size of goals.list when opts.limit is not given.
---@type integer
quantive.page_size = 100
--- The largest page size Quantive accepts (goals.list's limit; also the page size of goal exports).
---@type integer
quantive.max_page_size = 1000
--- How far behind ours the vendor's clock may be (seconds), when the goal a
--- lost create made is looked up by its creation time (only when no list of
--- the goals could be taken before it was sent).
---@type number
quantive.clock_skew = 120

local function where(fname) return {vendor = "quantive", fname = "quantive." .. fname} end

-- A path segment, percent-encoded.
local function seg(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local dates = require "dates"
local batch = require "batch"

---------------------------------------------------------------------------
-- Options shared by list and export
---------------------------------------------------------------------------

-- "a,b" or {"a", "b"} -> "a,b".
local function comma_list(w, name, v)
  if v == nil then return nil end
  if type(v) == "string" then return v end
  args.check(w, name, v, "list")
  for i, item in ipairs(v) do args.check(w, name .. "[" .. i .. "]", item, "string") end
  return table.concat(v, ",")
end

--- The query of GET /v1/goals from the snake_case options (tags, filter, sort, fields).
local function goal_query(w, opts)
  local q = {}
  if opts.tags ~= nil then
    if type(opts.tags) == "string" then
      q.tags = opts.tags
    else
      args.check(w, "option 'tags'", opts.tags, "list")
      local titles = {}
      for i, tag in ipairs(opts.tags) do
        if type(tag) == "table" then
          args.check(w, "option 'tags'[" .. i .. "].title", tag.title, "string")
          tag = tag.title
        end
        titles[i] = args.check(w, "option 'tags'[" .. i .. "]", tag, "string")
      end
      q.tags = table.concat(titles, ",")
    end
  end
  if opts.filter ~= nil then
    if type(opts.filter) == "table" then
      local ok, text = pcall(json.encode, json.object(opts.filter))
      if not ok then
        V.raise("quantive", "validation", string.format("%s: filter cannot be sent as JSON: %s", w.fname,
          type(text) == "table" and text.message or tostring(text)))
      end
      q.filter = text
    else
      q.filter = args.check(w, "option 'filter'", opts.filter, "string")
    end
  end
  q.sort = comma_list(w, "option 'sort'", opts.sort)
  q.fields = comma_list(w, "option 'fields'", opts.fields)
  return q
end

-- The goals of one answer of GET /v1/goals: {items = [...]} (Quantive's
-- documentation reads `items`), or a bare list; and totalCount, if any.
local function goal_page(body)
  local items = V.list("quantive", body, "GET /v1/goals", {"items"})
  local total = type(body) == "table" and body[1] == nil and tonumber(body.totalCount) or nil
  return items, total
end

--- An iterator over every goal matching query (the shared pager: skip/limit,
--- until totalCount or an empty page; a page shorter than asked does not
--- end it). When Quantive answers a later page from the first goal again
--- (it ignores skip), the goals are asked for once more with the largest
--- page, and a listing that still cannot be had whole raises kind =
--- "validation" rather than ending short. With `report` (a table), such a
--- listing ends instead, and report.incomplete says why (a lookup must not
--- take an absence from it as sure). Nothing is sent before the first call.
local function iterate_goals(c, query, page_size, report)
  local first_id, whole = nil, false
  local function get(skip, limit)
    local q = {skip = skip, limit = limit}
    for k, v in pairs(query) do q[k] = v end
    return goal_page(c:call("GET", "/v1/goals", {query = q}))
  end
  local function fetch(offset, _, size)
    if whole then return {}, nil end
    local items, total = get(offset, size)
    if offset == 0 then
      first_id = items[1] and items[1].id
      return items, total
    end
    if first_id == nil or #items == 0 or items[1].id ~= first_id then return items, total end
    -- The first goal again: Quantive ignored skip. Ask once for the most a
    -- page holds and keep what was not given yet.
    whole = true
    local all, all_total = items, total
    if size < quantive.max_page_size then all, all_total = get(0, quantive.max_page_size) end
    all_total = all_total or total
    local rest = {}
    for i = offset + 1, #all do rest[#rest + 1] = all[i] end
    local have = offset + #rest
    if all_total ~= nil and have < all_total then
      local why = string.format("GET /v1/goals: Quantive ignored skip and serves at most %d goals a request, so only "
        .. "%d of the %d goals that match could be listed", #all, have, all_total)
      if report then report.incomplete = why
      else V.raise("quantive", "validation", why .. "; narrow the listing (tags=, filter=) so that fewer goals match") end
    end
    if all_total == nil and #all >= quantive.max_page_size then
      local why = string.format("GET /v1/goals ignored skip and gave %d goals, the most a request asks for, and no "
        .. "total; there may be more that cannot be listed this way", #all)
      if report then report.incomplete = why
      else log.warn("quantive: %s (narrow the listing with tags= or filter=)", why) end
    end
    return rest, all_total
  end
  local it, walk = P.items{size = page_size, fetch = fetch, vendor = "quantive", what = "GET /v1/goals",
    incomplete = report and "flag" or nil}
  if report == nil then return it end
  -- The shared pager's own findings (a page repeated where skip was ignored).
  return function()
    local g = it()
    if g == nil and type(walk) == "table" then
      report.incomplete = report.incomplete or walk.incomplete or walk.unsure
    end
    return g
  end
end

local function collect(it)
  local out = {}
  for item in it do out[#out + 1] = item end
  return json.array(out)
end

---------------------------------------------------------------------------
-- Goals
---------------------------------------------------------------------------

-- Goal ids this process has created or adopted: a lost answer is never
-- matched to a goal another task created.
local claimed = {}

-- quantive.goals.list{tags=, filter=, sort=, fields=, limit=}: its doc block is above `t.list = ...` in bind_goals.
local function goals_list(c, opts)
  local w = where("goals.list")
  if opts ~= nil then args.check(w, "argument #1 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {tags = true, filter = true, sort = true, fields = true, limit = true})
  local query = goal_query(w, opts)
  local limit = args.check(w, "option 'limit'", opts.limit, "integer", true) or quantive.page_size
  if limit < 1 or limit > quantive.max_page_size then
    V.raise("quantive", "validation", string.format("%s: limit (the page size) must be between 1 and %d, got %d",
      w.fname, quantive.max_page_size, limit))
  end
  return iterate_goals(c, query, limit)
end

local function check_id(w, id)
  if math.type(id) == "integer" then id = tostring(id) end
  args.check(w, "argument #1 (id)", id, "string")
  if id == "" then V.raise("quantive", "validation", w.fname .. ": id must not be empty") end
  return id
end

local function goals_get(c, id)
  id = check_id(where("goals.get"), id)
  return c:call("GET", "/v1/goals/" .. seg(id))
end

--- Checks the fields of a goal that moonport knows (others pass through to Quantive).
local function check_goal(w, goal, label, creating)
  args.check(w, label, goal, "table")
  local function field(name) return label .. "." .. name end
  if creating or goal.name ~= nil then
    args.check(w, field("name"), goal.name, "string")
    if not goal.name:find("%S") then V.raise("quantive", "validation", w.fname .. ": " .. field("name") .. " must not be empty") end
  end
  if creating or goal.sessionId ~= nil then args.check(w, field("sessionId"), goal.sessionId, "string") end
  if goal.ownerId ~= json.null then args.check(w, field("ownerId"), goal.ownerId, "string", true) end
  if goal.description ~= json.null then args.check(w, field("description"), goal.description, "string", true) end
  if goal.id ~= nil and creating then
    V.raise("quantive", "validation", w.fname .. ": " .. label .. " must not have an id (Quantive gives it one)")
  end
  if goal.tags ~= nil then
    args.check(w, field("tags"), goal.tags, "list")
    for i, tag in ipairs(goal.tags) do
      if type(tag) ~= "string" then
        args.check(w, field("tags") .. "[" .. i .. "]", tag, "table")
        args.check(w, field("tags") .. "[" .. i .. "].title", tag.title, "string")
      end
    end
  end
end

--- The body to send: a copy, tags given as strings become {title = s}.
local function goal_body(goal)
  local body = {}
  for k, v in pairs(goal) do body[k] = v end
  if goal.tags ~= nil then
    local tags = {}
    for i, tag in ipairs(goal.tags) do tags[i] = type(tag) == "string" and {title = tag} or tag end
    body.tags = json.array(tags)
  end
  return json.object(body)
end

-- The goals of body's name and session (filter is not in Quantive's
-- documentation: the name and session are checked here too), with their ids.
local function same_goals(c, body, report)
  local out = {}
  for g in iterate_goals(c, {filter = json.encode({name = body.name, sessionId = body.sessionId}),
    sort = "-dateCreated"}, quantive.page_size, report) do
    if type(g) == "table" and (type(g.id) == "string" or math.type(g.id) == "integer")
      and g.name == body.name and g.sessionId == body.sessionId then
      out[#out + 1] = g
    end
  end
  return out
end

--- The snapshot taken before a goal is created: the ids of the goals of its
--- name and session that exist already (`complete` false when the listing
--- could not be had whole). The lookup never adopts one of them.
local function goals_before(c, body)
  local report = {}
  local ids = {}
  for i, g in ipairs(same_goals(c, body, report)) do ids[i] = tostring(g.id) end
  return {ids = ids, complete = report.incomplete == nil}
end

--- The goal a lost create made: of the same name and sessionId, not claimed
--- by this process, and not there before it was sent (`snap`, taken then).
--- Where the snapshot is missing or partial, a goal not in it must have been
--- created at or after t0 (less the clock skew); one that gives no creation
--- time cannot be told from an older one. Returns the goal, or nil (surely
--- not created), or nil and what to check.
local function find_goal(c, body, snap, t0)
  local before = {}
  for _, id in ipairs(type(snap) == "table" and snap.ids or {}) do before[id] = true end
  local whole = type(snap) == "table" and snap.complete == true
  local report = {}
  local mine, unknown = {}, {}
  for _, g in ipairs(same_goals(c, body, report)) do
    local id = tostring(g.id)
    if not claimed[id] and not before[id] then
      if whole then
        mine[#mine + 1] = g
      else
        local created = dates.read(g.dateCreated or g.createdAt)
        if created == nil then unknown[#unknown + 1] = id
        elseif created >= t0 - quantive.clock_skew then mine[#mine + 1] = g end
      end
    end
  end
  local check = string.format("look in the session %s for goals named '%s'", body.sessionId, body.name)
  if #mine == 1 and #unknown == 0 then return mine[1] end
  if #mine > 1 then
    local ids = {}
    for i, g in ipairs(mine) do ids[i] = tostring(g.id) end
    return nil, string.format("%s: the goals %s all appeared since it was sent", check, table.concat(ids, ", "))
  end
  if #unknown > 0 then
    return nil, string.format("%s: the goals %s give no creation time and were not listed before it was sent, so "
      .. "they cannot be told from older goals of that name", check, table.concat(unknown, ", "))
  end
  if report.incomplete then
    return nil, string.format("%s: the goals could not all be listed (%s)", check, report.incomplete)
  end
  return nil
end

local function create_goal(c, w, goal, label)
  check_goal(w, goal, label, true)
  local body = goal_body(goal)
  local created = V.create{
    vendor = "quantive", what = "goal '" .. body.name .. "'",
    key = "goal " .. json.encode(body, {sort_keys = true}),
    send = function()
      local g = c:call("POST", "/v1/goals", {json = body})
      if type(g) ~= "table" or g.id == nil then
        V.raise("quantive", "validation", "POST /v1/goals answered without the goal's id")
      end
      return g
    end,
    before = function() return goals_before(c, body) end,
    find = function(snap, t0) return find_goal(c, body, snap, t0) end,
  }
  claimed[tostring(created.id)] = true
  return created
end

local function goals_create(c, goal)
  local w = where("goals.create")
  return create_goal(c, w, goal, "argument #1 (goal)")
end

-- An error after which the same request may be sent again: its outcome is
-- unknown (the answer was lost), or it failed for a passing reason.
local function transient(e)
  return V.outcome_unknown(e) or V.transient(e)
end

local function goals_update(c, id, changes)
  local w = where("goals.update")
  id = check_id(w, id)
  check_goal(w, changes, "argument #2 (changes)", false)
  if next(changes) == nil then V.raise("quantive", "validation", w.fname .. ": argument #2 (changes) is empty") end
  local path, body = "/v1/goals/" .. seg(id), goal_body(changes)
  -- The first attempt alone; when its outcome is unknown (the answer was
  -- lost) or it failed for a passing reason, the same changes are sent
  -- again: applied twice, they leave the goal the same, and the answer read
  -- is the goal as it is now.
  local ok, res = pcall(c.call, c, "PATCH", path, {json = body, retry = false})
  if ok then return res end
  if not transient(res) then error(res, 0) end
  log.debug("quantive: the PATCH of goal %s is sent again (%s)", id, res.message)
  return c:call("PATCH", path, {json = body, safe_to_repeat = true})
end

local function goals_delete(c, id)
  id = check_id(where("goals.delete"), id)
  local path = "/v1/goals/" .. seg(id)
  -- The first attempt alone: if its answer is lost, the goal may be gone
  -- already, and the retry's 404 then means the delete was done.
  local ok, e = pcall(c.request, c, "DELETE", path, {retry = false})
  if ok then return true end
  local unknown = V.outcome_unknown(e)
  if not transient(e) then error(e, 0) end
  local res = c:request("DELETE", path, {ok = unknown and {[404] = true} or nil})
  if res.status == 404 then
    log.debug("quantive: goal %s was already gone when the delete was retried (the first answer was lost)", id)
  end
  return true
end

-- The goals table of a client: list/get/create/update/delete bound to it.
-- c.goals.list{} and c.goals:list{} both work.
local function bind_goals(get_client)
  local t = {}
  local function bind(fn)
    return function(first, ...)
      if first == t then return fn(get_client(), ...) end
      return fn(get_client(), first, ...)
    end
  end
  --- An iterator over every goal matching the options (GET /v1/goals;
  --- `tags` is Quantive's filter by tag, ?tags=Test Tag), page after page
  --- with skip/limit until totalCount is reached or a page comes back empty
  --- (a page shorter than `limit` does not end it: Quantive may serve fewer
  --- than asked); nothing is sent before the first call. quantive.goals uses
  --- the default client, client.goals that client (the same as
  --- client:goals_list(opts)).
  ---   for goal in quantive.goals.list{tags = "Test Tag"} do ... end
  ---   for goal in quantive.goals.list{filter = {sessionId = sid}, sort = "name"} do ... end
  --- Raises kind = "validation" for an unknown option, a filter that cannot
  --- be sent as JSON, or a limit outside 1..1000 (before anything is sent),
  --- or when Quantive ignores skip and the listing cannot be had whole.
  ---@param opts? {tags?: string|string[], filter?: table|string, sort?: string|string[], fields?: string|string[], limit?: integer}  tags: a tag title ("Test Tag") or a list (goals with any of them); filter: a table (sent JSON-encoded) or a JSON string; sort: "name,-dateCreated" or a list; fields: "name,ownerId" or a list; limit: the page size asked for (100 by default)
  ---@return fun():table|nil iterator  the next goal, nil at the end
  t.list = bind(goals_list)
  --- The goal with this id (GET /v1/goals/{id}); the same as client:goals_get(id).
  --- Raises kind = "validation" for an empty id or one that is not a string
  --- or an integer; Quantive's 404 is raised as kind = "http".
  ---@param id string|integer  the goal's id
  ---@return table goal  the goal, Quantive's field names
  t.get = bind(goals_get)
  --- Creates a goal (POST /v1/goals), exactly once: the goals of the same
  --- name and sessionId are listed first; when the answer is lost, a new
  --- one (not listed then) is adopted instead of being created again, and
  --- when that cannot be told the error (kind of the lost answer) says the
  --- goal "may have been created" and nothing is sent again. The goal uses Quantive's field names: name and
  --- sessionId are required; ownerId and description (strings) and tags (a
  --- list of {title=} or of strings) are checked; other fields pass
  --- through. The same as client:goals_create(goal).
  --- Raises kind = "validation" for a missing or wrong field, or an id,
  --- before anything is sent.
  ---   local goal = quantive.goals.create{name = "Grow ARR", sessionId = sid, tags = {"growth"}}
  ---@param goal {name: string, sessionId: string, ownerId?: string, description?: string, tags?: (string|{title: string})[]}
  ---@return table goal  the created goal, with its id
  t.create = bind(goals_create)
  --- Changes fields of a goal (PATCH /v1/goals/{id} with only the fields
  --- given; tags given as strings become {title=}); repeated safely after a
  --- lost answer. The same as client:goals_update(id, changes).
  --- Raises kind = "validation" for a bad id, an empty `changes`, or a known
  --- field of the wrong type.
  ---@param id string|integer  the goal's id
  ---@param changes table      the fields to change, Quantive's names
  ---@return any goal  Quantive's answer (the goal)
  t.update = bind(goals_update)
  --- Deletes a goal (DELETE /v1/goals/{id}). When the first answer is lost
  --- and the retry finds the goal gone (404), the delete counts as done.
  --- The same as client:goals_delete(id).
  --- Raises kind = "validation" for a bad id, and Quantive's errors (a 404
  --- on the first attempt is raised).
  ---@param id string|integer  the goal's id
  ---@return boolean deleted  true
  t.delete = bind(goals_delete)
  return t
end

-- Every client gets its own goals table.
local make_client = quantive.client
--- A Quantive client with its own credentials and settings (see
--- moonport.Client): api_token, account_id, region ("eu" or "us": the
--- default host of that region), base_url, timeout (seconds). Fields not
--- given are looked up when first needed (QUANTIVE_API_TOKEN,
--- QUANTIVE_ACCOUNT_ID, QUANTIVE_REGION, QUANTIVE_BASE_URL, the profile).
--- Its `goals` field is a goals table bound to it.
--- Raises kind = "validation" for an unknown field, a value that is not a
--- string, or a region other than "eu" and "us".
---   local q = quantive.client{api_token = t, account_id = a}
---   for goal in q.goals.list{} do ... end
---@param opts? {api_token?: string, account_id?: string, region?: "eu"|"us", base_url?: string, timeout?: number}
---@return quantive.Client client
function quantive.client(opts)
  if type(opts) == "table" and opts.region ~= nil and type(opts.region) == "string" then
    region_base(opts.region, "quantive.client")
  end
  local c = make_client(opts)
  rawset(c, "goals", bind_goals(function() return c end))
  return c
end

--- An iterator over every goal matching the options, sent with this
--- client: the same as quantive.goals.list(opts) (see it for the options
--- and errors).
---@param opts? {tags?: string|string[], filter?: table|string, sort?: string|string[], fields?: string|string[], limit?: integer}
---@return fun():table|nil iterator  the next goal, nil at the end
function Client:goals_list(opts) return goals_list(self, opts) end
--- The goal with this id, read with this client: the same as quantive.goals.get(id).
---@param id string|integer  the goal's id
---@return table goal
function Client:goals_get(id) return goals_get(self, id) end
--- Creates a goal with this client, exactly once: the same as
--- quantive.goals.create(goal) (see it for the fields and errors).
---@param goal {name: string, sessionId: string, ownerId?: string, description?: string, tags?: (string|{title: string})[]}
---@return table goal  the created goal, with its id
function Client:goals_create(goal) return goals_create(self, goal) end
--- Changes fields of a goal with this client: the same as
--- quantive.goals.update(id, changes).
---@param id string|integer  the goal's id
---@param changes table      the fields to change, Quantive's names
---@return any goal  Quantive's answer (the goal)
function Client:goals_update(id, changes) return goals_update(self, id, changes) end
--- Deletes a goal with this client: the same as quantive.goals.delete(id).
---@param id string|integer  the goal's id
---@return boolean deleted  true
function Client:goals_delete(id) return goals_delete(self, id) end

---------------------------------------------------------------------------
-- Sessions
---------------------------------------------------------------------------

--- The sessions (GET /v1/sessions), a list of {id=, title=, status=,
--- start=, end=, ...}. Also `quantive.sessions(opts)`.
--- Raises kind = "validation" for an unknown option.
---@param opts? {filter?: table|string, sort?: string|string[], fields?: string|string[]}  as for goals.list
---@return table[] sessions
function Client:sessions(opts)
  local w = where("sessions")
  if opts ~= nil then args.check(w, "argument #1 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {filter = true, sort = true, fields = true})
  return json.array(V.list("quantive", self:call("GET", "/v1/sessions", {query = goal_query(w, opts)}), "GET /v1/sessions", {"items"}))
end

---------------------------------------------------------------------------
-- Jobs: an export of goals, created goals
---------------------------------------------------------------------------

local done_raw = {status = "DONE"}

-- CSV columns: the union of the goals' fields, in first-seen order (id and
-- name first; a goal's new fields in name order); nested values as JSON.
local function write_csv(path, goals)
  local columns, seen = {}, {}
  local function add(k) if not seen[k] then seen[k] = true; columns[#columns + 1] = k end end
  for _, g in ipairs(goals) do
    if g.id ~= nil then add("id") end
    if g.name ~= nil then add("name") end
    local keys = {}
    for k in pairs(g) do if type(k) == "string" and not seen[k] then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do add(k) end
  end
  local i = 0
  local rows = function()
    i = i + 1
    local g = goals[i]
    if g == nil then return nil end
    local row = {}
    for _, k in ipairs(columns) do
      local v = g[k]
      if v == json.null then v = nil
      elseif type(v) == "table" then v = json.encode(v) end
      row[k] = v
    end
    return row
  end
  if #columns == 0 then columns = {"id"} end
  csv.write(path, rows, {header = columns})
end

local formats = {csv = "csv", ndjson = "ndjson", jsonl = "ndjson", json = "json"}

function export_job.status_of(raw) return raw and raw.status or "DONE" end
function export_job.refresh(_, job) return job.raw or done_raw, nil end

local function export_query(job)
  local q = {}
  for k, v in pairs(job.ref or {}) do q[k] = v end
  return q
end

function export_job.download(c, job, path)
  local ext = path:match("%.([%w]+)$")
  local format = ext and formats[ext:lower()]
  if not format then
    V.raise("quantive", "validation", string.format("job:download: cannot tell the format from '%s': "
      .. "give a path ending in .csv, .ndjson, .jsonl or .json", path))
  end
  -- A .json file is opened first (a path that cannot be written fails before
  -- the listing); its temporary file is removed by a rerun if this run is killed.
  local out <close> = format == "json" and moonport.file_writer(path) or nil
  local it = iterate_goals(c, export_query(job), quantive.max_page_size)
  local rows
  if format == "ndjson" then
    rows = ndjson.write(path, it)
  else
    local goals = collect(it)
    rows = #goals
    if format == "csv" then
      write_csv(path, goals)
    else
      out:write(json.encode(goals))
      out:close()
    end
  end
  return {path = path, bytes = V.file_size(path), rows = rows}
end

function export_job.result(c, job)
  return collect(iterate_goals(c, export_query(job), quantive.max_page_size))
end

function goal_job.status_of() return "DONE" end
function goal_job.refresh(_, job) return job.raw or done_raw, nil end
function goal_job.result(c, job)
  if job.raw and job.raw.id ~= nil then return job.raw end
  return goals_get(c, job.id)
end

--- A Job for an export of goals, done at once (Quantive has no export jobs;
--- also `quantive.export`): `job:download(path)` then lists every matching
--- goal (every page) and writes them by the file's extension: .ndjson or
--- .jsonl (one goal a line, streamed), .csv (columns: the union of the
--- goals' fields, id and name first; nested values as JSON) or .json (a
--- list); `job:result()` returns the list.
--- Raises kind = "validation" for a bad kind or an unknown parameter.
---   quantive.export("goals", {filter = {sessionId = sid}}):download("goals.csv")
---@param kind "goals"
---@param params? {tags?: string|string[], filter?: table|string, sort?: string|string[], fields?: string|string[]}  as for goals.list
---@return moonport.Job job  kind "goals", status "done"
function Client:export(kind, params)
  local w = where("export")
  args.check(w, "argument #1 (kind)", kind, {goals = true})
  if params ~= nil then args.check(w, "argument #2 (params)", params, "table") end
  params = params or {}
  args.check_known(w, "goals parameter", params, {tags = true, filter = true, sort = true, fields = true})
  local ref = goal_query(w, params)
  return self:job("goals", "goals-export", ref, done_raw)
end

--- Creates goals one after another, each exactly once (as goals.create),
--- and returns a done Job per goal (kind "goal", id = the goal's id, raw =
--- the goal; job:result() gives the goal). Also `quantive.submit`. Every
--- goal is checked before the first is sent.
--- Raises kind = "validation" for a bad kind, a target that is not nil (a
--- goal names its session), any option, or a goal with a missing or wrong field.
---   local jobs = quantive.submit("goals", nil, {{name = "Grow ARR", sessionId = sid}})
---@param kind "goals"
---@param target nil  must be nil
---@param data table[]|fun():table|nil  the goals: a list or an iterator
---@param opts? table  must be empty: goals take no options
---@return moonport.Job[] jobs  one per goal, in order
function Client:submit(kind, target, data, opts)
  local w = where("submit")
  args.check(w, "argument #1 (kind)", kind, {goals = true})
  if target ~= nil then
    V.raise("quantive", "validation", w.fname .. ": argument #2 (target) must be nil for goals (a goal names its session)")
  end
  if opts ~= nil then
    args.check(w, "argument #4 (options)", opts, "table")
    local k = next(opts)
    if k ~= nil then
      V.raise("quantive", "validation", string.format("%s: goals take no options (got '%s')", w.fname, tostring(k)))
    end
  end
  if type(data) ~= "table" and type(data) ~= "function" then
    args.check(w, "argument #3 (goals)", data, "list")
  end
  local items = {}
  for item in batch._source(w.fname, "argument #3 (goals)", data) do items[#items + 1] = item end
  for i, goal in ipairs(items) do check_goal(w, goal, "goals[" .. i .. "]", true) end
  local jobs = {}
  for i, goal in ipairs(items) do
    local g = create_goal(self, w, goal, "goals[" .. i .. "]")
    jobs[i] = self:job("goal", tostring(g.id), {}, g)
  end
  return jobs
end

quantive._expose{"export", "submit", "poll", "download", "sessions"}

--- The goals of the default client: list, get, create, update and delete
--- (documented in bind_goals, above). Each is also a method of the client
--- (quantive.goals.list(opts) is quantive.default_client():goals_list(opts)),
--- and `client.goals` is the same table bound to that client.
--- `quantive.goals:list{}` works too.
---@class quantive.goals
---@field list fun(opts?: {tags?: string|string[], filter?: table|string, sort?: string|string[], fields?: string|string[], limit?: integer}): fun():table|nil  an iterator over every matching goal
---@field get fun(id: string|integer): table  the goal
---@field create fun(goal: table): table  creates a goal exactly once; the goal with its id
---@field update fun(id: string|integer, changes: table): any  PATCHes the given fields
---@field delete fun(id: string|integer): boolean  deletes a goal; true
quantive.goals = bind_goals(quantive.default_client)

return quantive
