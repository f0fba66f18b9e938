--- clari.audit: Clari's audit events, for the clari module (scripts
--- require "clari" and call `clari.audit_events`, `client:audit_events`):
--- the audit filters (shared with the export of audit events,
--- `clari.export("audit_events", ...)`, as A.filters) and the listing of GET
--- /v4/audit/events, page after page through nextLink, followed only on the
--- base URL's server. clari.lua adds the methods of `Client` below to
--- clari.Client.
local V = require "moonport.vendor"
local args = require "moonport.args"

local A = {}

-- The methods this file gives clari.Client (clari.lua adds them to the class).
local Client = {}
A.Client = Client

local function where(fname) return {vendor = "clari", fname = "clari." .. fname} end

local audit_fields = {actor_id = "actorId", impersonating_actor_id = "impersonatingActorId", session_id = "sessionId",
  session_type = "sessionType", date_from = "dateFrom", date_to = "dateTo", event = "event"}
local audit_integers = {actor_id = true, impersonating_actor_id = true}

-- The audit filters as Clari's names; actor ids are integers (int64): an
-- integer or a string of digits. `extra` names more accepted keys (limit).
local function audit_filters(w, p, extra)
  local known = {}
  for k in pairs(audit_fields) do known[k] = true end
  for k in pairs(extra or {}) do known[k] = true end
  args.check_known(w, "audit filter", p, known)
  local out = {}
  for k, v in pairs(p) do
    if audit_integers[k] then
      if type(v) == "string" and v:match("^%d+$") then v = math.tointeger(tonumber(v)) end
      if math.type(v) ~= "integer" then
        V.raise("clari", "validation", string.format("%s: field '%s' must be an integer (a Clari user id), got %s",
          w.fname, k, type(v) == "string" and ("'" .. v .. "'") or type(v)))
      end
      out[audit_fields[k]] = v
    elseif audit_fields[k] then
      args.check(w, "field '" .. k .. "'", v, "string")
      out[audit_fields[k]] = v
    end
  end
  if out.sessionType then args.check(w, "field 'session_type'", out.sessionType, {WEB = true, IOS = true, ANDROID = true}) end
  return out
end
A.filters = audit_filters

-- The scheme, host and port of a URL ("https://api.clari.com:443"), or nil.
local function origin_of(url)
  local scheme, host = tostring(url):match("^(%a[%w+.-]*)://([^/?#]+)")
  if not scheme then return nil end
  scheme, host = scheme:lower(), host:lower():gsub("^.*@", "")
  if not host:find(":%d+$") then host = host .. (scheme == "https" and ":443" or scheme == "http" and ":80" or "") end
  return scheme .. "://" .. host
end

-- The URL of a page's nextLink: a relative link is read against the base URL;
-- an absolute one must have the base URL's scheme, host and port, or the API
-- key (sent with every page) could go to another server or in clear text.
local function next_link_url(c, link, path)
  local base = c:base_url()
  if not link:match("^%a[%w+.-]*://") then
    if link:sub(1, 1) == "?" then return base .. path .. link end
    if link:sub(1, 1) == "/" then return origin_of(base) .. link end
    return base .. "/" .. link
  end
  if origin_of(link) ~= origin_of(base) then
    V.raise("clari", "validation", string.format("GET %s answered a nextLink on another server (%s, not %s); it is not followed, "
      .. "so that the API key is not sent there", path, tostring(origin_of(link) or link:sub(1, 80)), tostring(origin_of(base))))
  end
  return link
end

--- An iterator over every audit event matching the filters (GET
--- /v4/audit/events), page after page through Clari's `nextLink` until a
--- page has none (a page shorter than `limit` does not end it); nothing is
--- sent before the first call. Each step gives the event and the `actors`
--- of its page. `filters.limit` is the page size asked for (1 to 1000;
--- 1000 by default). Also `clari.audit_events(filters)`.
---   for event, actors in clari.audit_events{date_from = "2024-01-01"} do ... end
--- Raises kind = "validation" for an unknown filter or a wrong value (before
--- anything is sent), or a page that is not Clari's {items, actors, nextLink}.
---@param filters? {actor_id?: integer, impersonating_actor_id?: integer, session_id?: string, session_type?: "WEB"|"IOS"|"ANDROID", date_from?: string, date_to?: string, event?: string, limit?: integer}
---@return fun():table|nil iterator  each call: the next event (nil at the end) and its page's actors
function Client:audit_events(filters)
  local w = where("audit_events")
  if filters ~= nil then args.check(w, "argument #1 (filters)", filters, "table") end
  local query = audit_filters(w, filters or {}, {limit = true})
  local limit = 1000
  if filters and filters.limit ~= nil then
    limit = args.check(w, "field 'limit'", filters.limit, "integer")
    if limit < 1 or limit > 1000 then V.raise("clari", "validation", w.fname .. ": field 'limit' must be 1 to 1000, got " .. limit) end
  end
  for k, v in pairs(query) do query[k] = tostring(v) end
  query.limit = tostring(limit)
  local page, i, next_url, started, seen = nil, 0, nil, false, {}
  local c = self
  local path = "/v4/audit/events"
  return function()
    while true do
      if page and i < #page.items then
        i = i + 1
        return page.items[i], page.actors
      end
      if started and not next_url then return nil end
      local res
      if next_url then
        seen[next_url] = true
        res = c:request("GET", path, {url = next_link_url(c, next_url, path)})
      else
        res = c:request("GET", path, {query = query})
      end
      started = true
      page = V.object("clari", c:json(res), "GET " .. path)
      page.items = page.items == nil and {} or V.list("clari", page.items, "GET " .. path .. " (its items)")
      i = 0
      next_url = type(page.nextLink) == "string" and page.nextLink ~= "" and page.nextLink or nil
      -- An empty page, or a link already followed, ends the listing (it would never end otherwise).
      if #page.items == 0 or (next_url and seen[next_url]) then next_url = nil end
    end
  end
end

return A
