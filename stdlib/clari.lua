--- clari: Clari's export, audit, opportunity and ingestion APIs (vendors.md § Clari).
---
---   local clari = require "clari"
---   local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv"})
---   job:wait(); job:download("forecast.csv")          --> {path=, bytes=, rows=}
---   clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-03-31"})
---   clari.export("audit_events", {date_from = "2024-01-01", event = "LOGIN"})
---   clari.submit("ingest", "opportunity", {{sourceEntity = "crm", records = {...}}}, {mode = "incremental"})
---   clari.submit("ingest_bulk", "opportunity", records_or_path, {mode = "initial", last_batch = true}) --> Jobs
---   clari.jobs(), clari.limits(), clari.audit_events{...} (every page), clari.opportunities(ids)
---   clari.picklist_add(entity, field, "picklist", {"A", "B"}), clari.picklist_get(entity, field)
---
--- Credentials: CLARI_API_KEY (header apikey), CLARI_PARTNER_KEY (header
--- partnerkey, ingestion only); CLARI_BASE_URL (https://api.clari.com).
---
--- Limits: an export refused because the concurrency limit is reached waits
--- for a slot (/v4/admin/limits) and goes on; a spent monthly quota raises
--- at once (kind = "rate_limited") with the numbers. A lost answer to an
--- export is resolved through submittedJobIds of /v4/admin/limits, read
--- before and after: the job it created is adopted, never submitted twice.
local V = require "moonport.vendor"
local json = require "json"
local task = require "task"
local log = require "log"
local moonport = require "moonport"

--- A Clari client, made by `clari.client{api_key=, partner_key=, base_url=, timeout=}`;
--- its methods are the module's functions (`clari.export(...)` is the
--- default client's `export`).
---@class clari.Client: moonport.Client
local clari, Client = V.define{
  name = "clari",
  base_env = "CLARI_BASE_URL",
  default_base = "https://api.clari.com",
  credentials = {
    {field = "api_key", env = "CLARI_API_KEY", what = "API key"},
    {field = "partner_key", env = "CLARI_PARTNER_KEY", what = "partner key (needed for ingestion)", optional = true},
  },
  auth = function(c, need)
    if need == "ingestion" then
      return {key_header = "apikey", key = c:credential("api_key"), secret_header = "partnerkey", secret = c:credential("partner_key")}
    end
    return {header = "apikey", value = c:credential("api_key")}
  end,
  -- exports {code, namespace, errorId, message}; audit {errors = [{code, message}]};
  -- ingestion [{errorCode, errorSummary}]; 401 {message}.
  error_body = function(b)
    if type(b) ~= "table" then return nil end
    if b.code or b.message then return b.code, b.message end
    if type(b.errors) == "table" and b.errors[1] then return b.errors[1].code, b.errors[1].message end
    if b[1] and (b[1].errorCode or b[1].errorSummary) then
      local parts = {}
      for i = 1, math.min(#b, 5) do parts[#parts + 1] = tostring(b[i].errorSummary or b[i].errorCode) end
      return b[1].errorCode, table.concat(parts, "; ") .. (#b > 5 and string.format(" (and %d more)", #b - 5) or "")
    end
  end,
  statuses = {
    -- exports
    SCHEDULED = "queued", STARTED = "running", DONE = "done", FAILED = "failed",
    CANCELLED = "cancelled", ABORTED = "cancelled",
    -- ingestion jobs
    QUEUED = "queued", IN_PROGRESS = "running", SUCCESS = "done", VALIDATION_FAILED = "failed",
  },
  jobs = {},
}

--- The most records one "ingest" request carries (Clari's limit: 100).
---@type integer
clari.max_ingest_records = 100
--- The most bytes one "ingest_bulk" file carries (Clari's limit: 10 MB).
---@type integer
clari.max_bulk_bytes = 10 * 1024 * 1024
--- The most ids one clari.opportunities request asks for (Clari's limit: 100).
---@type integer
clari.max_opportunity_ids = 100

local function where(fname) return {vendor = "clari", fname = "clari." .. fname} end

---------------------------------------------------------------------------
-- Export jobs
---------------------------------------------------------------------------

local export_job = {}

-- The job is {"job": {...}} for public clients, flat in the spec: accept both.
local function unwrap(raw) return type(raw) == "table" and type(raw.job) == "table" and raw.job or raw end

function export_job.status_of(raw)
  local j = unwrap(raw)
  return j.status, j.message or j.errorMessage or j.error or (j.status == "FAILED" and "the export failed" or nil)
end

function export_job.refresh(c, job)
  local res = c:request("GET", "/v4/export/jobs/" .. job.id)
  return c:json(res), res.headers
end

function export_job.cancel(c, job)
  c:call("PATCH", "/v4/export/jobs/" .. job.id, {json = {type = "CANCEL"}, safe_to_repeat = true})
end

local function results_path(job) return "/v4/export/jobs/" .. job.id .. "/results" end

function export_job.download(c, job, path)
  local res = c:request("GET", results_path(job), {stream_to = path, timeout = 3600})
  local rows
  local format = job.ref.format
  if format == "CSV" then
    rows = V.count_csv_rows(path)
  else
    local f = io.open(path, "rb")
    local text = f:read("a")
    f:close()
    local ok, value = pcall(json.decode, text)
    if ok and type(value) == "table" then
      if value.activities then rows = #value.activities
      elseif value.items then rows = #value.items
      elseif job.kind == "forecast" then rows = math.max(0, #value - 1)  -- a header row, then data rows
      else rows = #value end
    end
  end
  return {path = path, bytes = res.bytes, rows = rows}
end

function export_job.result(c, job)
  return c:call("GET", results_path(job), {timeout = 3600})
end

clari._def.jobs.forecast = export_job
clari._def.jobs.activity = export_job
clari._def.jobs.audit_events = export_job

-- Job ids this process has created or adopted: a lost answer is never
-- matched to another task's job.
local claimed = {}

local function limits(c)
  local what = "GET /v4/admin/limits"
  local jobs = V.object("clari", c:call("GET", "/v4/admin/limits"), what).jobs
  return jobs == nil and {} or V.object("clari", jobs, what .. " (its jobs)")
end

--- Sends an export request; waits for a slot while the concurrency limit
--- is what refuses it, raises at once when the monthly quota is spent.
local function send_export(c, path, body, started)
  local slot_waits, wait = 0, 2
  while true do
    local res = c:request("POST", path, {json = body, ok = {[400] = true}})
    if res.status < 400 then
      local decoded = c:json(res)
      local id = decoded.jobId or (decoded.job and decoded.job.jobId)
      if id == nil then
        V.raise("clari", "validation", "POST " .. path .. " answered without a jobId: " .. res.body:sub(1, 200), {status = res.status})
      end
      return tostring(id)
    end
    local err = clari.response_error(res, "POST", path)
    if err.code ~= "export_monthly_quota_reached" then error(err, 0) end
    local l = limits(c)
    if (l.availableMonthlyQuota or 1) <= 0 then
      V.raise("clari", "rate_limited", string.format("the monthly export quota is spent: %s of %s exports used this month; "
        .. "nothing was started (the quota resets at the start of the month)", tostring(#(l.submittedJobIds or {})),
        tostring(l.monthlyQuota)), {status = 400, code = err.code, details = err.details, retryable = false})
    end
    local elapsed = moonport.now() - started
    if elapsed > V.default_timeout then
      V.raise("clari", "timeout", string.format("waited %s for a free export slot (concurrent limit %s); giving up",
        V.human_duration(elapsed), tostring(l.concurrentLimit)), {retryable = true})
    end
    slot_waits = slot_waits + 1
    if slot_waits == 1 then
      log.info("clari: %s of %s export slots are in use; waiting for one to free up", tostring(#(l.runningJobIds or {})),
        tostring(l.concurrentLimit))
    end
    task.sleep(wait * (0.75 + math.random() / 2))
    wait = math.min(wait * 1.5, 15)
  end
end

--- The job a lost export request created: new in submittedJobIds since the
--- snapshot, not claimed by this process, and (where the job shows them)
--- with the same module and parameters.
local function find_export(c, module, body, snapshot)
  local before = {}
  for _, id in ipairs(snapshot or {}) do before[tostring(id)] = true end
  local l = limits(c)
  for _, id in ipairs(l.submittedJobIds or {}) do
    id = tostring(id)
    if not before[id] and not claimed[id] then
      local j = unwrap(c:call("GET", "/v4/export/jobs/" .. id))
      local params = type(j.parameters) == "table" and (j.parameters.body or j.parameters) or nil
      local same = (j.module == nil or j.module == module)
        and (params == nil or json.encode(params, {sort_keys = true}) == json.encode(body, {sort_keys = true}))
      if same then return id end
    end
  end
  return nil
end

local function start_export(c, kind, module, path, body, format)
  local started = moonport.now()
  local id = V.create{
    vendor = "clari", what = kind .. " export job",
    key = "export " .. path .. " " .. json.encode(body, {sort_keys = true}),
    before = function()
      local ids = {}
      for i, id in ipairs(limits(c).submittedJobIds or {}) do ids[i] = tostring(id) end
      return ids
    end,
    send = function() return send_export(c, path, body, started) end,
    find = function(snapshot) return find_export(c, module, body, snapshot) end,
  }
  claimed[id] = true
  return c:job(kind, id, {format = format})
end

local function upper(v) return type(v) == "string" and v:upper() or v end

local forecast_types = {forecast = true, quota = true, forecast_updated = true, adjustment = true, crm_total = true, crm_closed = true}
local activity_types = {MEETING = true, EMAIL_SENT = true, EMAIL_RECEIVED = true, ATTACHMENT_SENT = true, ATTACHMENT_RECEIVED = true}

local exports = {}

function exports.forecast(c, p)
  local w = where("export")
  V.check_known(w, "forecast parameter", p, {forecast_id = true, time_period = true, types = true, scope_id = true,
    currency = true, format = true, include_historical = true, schedule = true})
  V.check(w, "field 'forecast_id'", p.forecast_id, "string")
  V.check(w, "field 'time_period'", p.time_period, "string")
  if not p.time_period:match("^%d%d%d%d_Q[1-4]$") then
    V.raise("clari", "validation", "clari.export: time_period must look like 2024_Q1, got '" .. p.time_period .. "'")
  end
  local body = {timePeriod = p.time_period, schedule = upper(p.schedule) or "NONE",
    exportFormat = upper(p.format) or "JSON", includeHistorical = p.include_historical or false}
  V.check(w, "field 'format'", body.exportFormat, {JSON = true, CSV = true})
  V.check(w, "field 'schedule'", body.schedule, {NONE = true, ONCE = true, MAX = true})
  V.check(w, "field 'include_historical'", body.includeHistorical, "boolean")
  if p.types ~= nil then
    V.check(w, "field 'types'", p.types, "list")
    for i, t in ipairs(p.types) do V.check(w, "types[" .. i .. "]", t, forecast_types) end
    body.typesToExport = json.array(p.types)
  end
  if p.scope_id ~= nil then body.scopeId = V.check(w, "field 'scope_id'", p.scope_id, "string") end
  if p.currency ~= nil then body.currency = V.check(w, "field 'currency'", p.currency, "string") end
  return start_export(c, "forecast", "forecast", "/v4/export/forecast/" .. p.forecast_id, body, body.exportFormat)
end

function exports.activity(c, p)
  local w = where("export")
  V.check_known(w, "activity parameter", p, {activity_types = true, start_date = true, end_date = true, format = true})
  V.check(w, "field 'start_date'", p.start_date, "string")
  V.check(w, "field 'end_date'", p.end_date, "string")
  if p.format ~= nil and upper(p.format) ~= "JSON" then
    V.raise("clari", "validation", "clari.export: activity exports are JSON only (format = \"json\")")
  end
  local body = {startDate = p.start_date, endDate = p.end_date, exportFormat = "JSON"}
  -- Clari needs at least one activity type (400 invalid_activityTypes otherwise).
  V.check(w, "field 'activity_types'", p.activity_types, "list")
  if #p.activity_types == 0 then
    V.raise("clari", "validation", "clari.export: field 'activity_types' must name at least one of "
      .. "MEETING, EMAIL_SENT, EMAIL_RECEIVED, ATTACHMENT_SENT, ATTACHMENT_RECEIVED")
  end
  for i, t in ipairs(p.activity_types) do V.check(w, "activity_types[" .. i .. "]", t, activity_types) end
  body.activityTypes = json.array(p.activity_types)
  return start_export(c, "activity", "activity", "/v4/export/activity", body, "JSON")
end

local audit_fields = {actor_id = "actorId", impersonating_actor_id = "impersonatingActorId", session_id = "sessionId",
  session_type = "sessionType", date_from = "dateFrom", date_to = "dateTo", event = "event"}

local function audit_filters(w, p)
  local known = {}
  for k in pairs(audit_fields) do known[k] = true end
  V.check_known(w, "audit filter", p, known)
  local out = {}
  for k, v in pairs(p) do
    V.check(w, "field '" .. k .. "'", v, "string")
    out[audit_fields[k]] = v
  end
  if out.sessionType then V.check(w, "field 'session_type'", out.sessionType, {WEB = true, IOS = true, ANDROID = true}) end
  return out
end

function exports.audit_events(c, p)
  local body = audit_filters(where("export"), p)
  return start_export(c, "audit_events", "audit", "/v4/export/audit/events", json.object(body), "JSON")
end

--- Starts an export at Clari and returns its Job (also `clari.export`).
--- The kinds and their params (snake_case; sent as Clari's names):
---   "forecast": forecast_id (required), time_period ("2024_Q1", required),
---     types (a list of forecast, quota, forecast_updated, adjustment,
---     crm_total, crm_closed), scope_id, currency, format ("json" or "csv";
---     json by default), include_historical (boolean), schedule ("none",
---     "once" or "max"; none by default)
---   "activity": start_date, end_date and activity_types (required; a list
---     of MEETING, EMAIL_SENT, EMAIL_RECEIVED, ATTACHMENT_SENT,
---     ATTACHMENT_RECEIVED); JSON only
---   "audit_events": actor_id, impersonating_actor_id, session_id,
---     session_type ("WEB", "IOS" or "ANDROID"), date_from, date_to, event
---     (all optional strings)
--- When Clari's concurrency limit refuses the export, it waits for a free
--- slot and tries again (up to 4 h); a spent monthly quota raises kind =
--- "rate_limited" at once. An export whose answer was lost is found through
--- /v4/admin/limits and adopted: it is never started twice.
--- Raises kind = "validation" for an unknown kind, an unknown parameter or a
--- wrong value, before anything is sent.
---   local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv"})
---@param kind "forecast"|"activity"|"audit_events"  what to export
---@param params? table  the export's parameters, as above
---@return moonport.Job job  the export job (its kind is `kind`), queued
function Client:export(kind, params)
  local w = where("export")
  V.check(w, "argument #1 (kind)", kind, exports)
  if params ~= nil then V.check(w, "argument #2 (params)", params, "table") end
  return exports[kind](self, params or {})
end

---------------------------------------------------------------------------
-- Ingestion
---------------------------------------------------------------------------

local ingest_job = {}
function ingest_job.status_of(raw)
  local m = type(raw.message) == "table" and raw.message or raw
  return m.status, m.message
end
function ingest_job.refresh(c, job)
  local res = c:request("GET", "/v2/ingest/job/" .. job.id, {need = "ingestion"})
  return c:json(res), res.headers
end
clari._def.jobs.ingest_bulk = ingest_job

local function ingest_query(w, opts)
  V.check_known(w, "option", opts, {mode = true, last_batch = true})
  local mode = V.check(w, "option 'mode'", opts.mode or "incremental", {initial = true, incremental = true})
  local last = false
  if opts.last_batch ~= nil then last = V.check(w, "option 'last_batch'", opts.last_batch, "boolean") end
  return {mode = mode, isLastBatch = last and "true" or "false"}
end

local function check_entity(w, entity)
  V.check(w, "argument #2 (entity)", entity, "string")
  if not entity:match("^[%a][%w_]*$") then
    V.raise("clari", "validation", w.fname .. ": entity must be a name such as 'opportunity', got '" .. entity .. "'")
  end
end

-- Records are upserted by id: sending the same request again changes
-- nothing, so ingestion requests are retried like a GET.
local function ingest(c, entity, data, opts)
  local w = where("submit")
  check_entity(w, entity)
  V.check(w, "argument #3 (data)", data, "list")
  local query = ingest_query(w, opts)
  -- Split so that no request carries more than 100 records.
  local requests, current, count = {}, {}, 0
  local function flush()
    if #current > 0 then requests[#requests + 1] = current end
    current, count = {}, 0
  end
  for i, batch in ipairs(data) do
    V.check(w, "data[" .. i .. "]", batch, "table")
    V.check(w, "data[" .. i .. "].sourceEntity", batch.sourceEntity, "string")
    V.check(w, "data[" .. i .. "].records", batch.records, "list")
    local records = batch.records
    local at = 1
    while at <= #records do
      local room = clari.max_ingest_records - count
      if room == 0 then flush(); room = clari.max_ingest_records end
      local piece = {}
      for k = at, math.min(#records, at + room - 1) do piece[#piece + 1] = records[k] end
      local copy = {}
      for k, v in pairs(batch) do copy[k] = v end
      copy.records = json.array(piece)
      current[#current + 1] = copy
      count = count + #piece
      at = at + #piece
    end
  end
  flush()
  local path = "/v2/ingest/entity/" .. entity
  for i, body in ipairs(requests) do
    local q = {mode = query.mode, isLastBatch = (i == #requests) and query.isLastBatch or "false"}
    c:request("POST", path, {query = q, json = json.array(body), need = "ingestion", safe_to_repeat = true})
  end
  return {}
end

--- Writes records (a list, an iterator or an NDJSON/JSON-lines file) as
--- data.json files of at most 10 MB each; calls each(path) for every file.
local function bulk_files(w, entity, data, each)
  local next_record = V.items(w, data, {format = type(data) == "string" and not data:match("%.json$") and "ndjson" or nil})
  local limit = clari.max_bulk_bytes - 2
  local tmp = os.tmpname()
  local f, size, n = nil, 0, 0
  local function open()
    f = assert(io.open(tmp, "wb"))
    f:write("[")
    size, n = 1, 0
  end
  local function close_and_send()
    f:write("]")
    f:close()
    each(tmp, n)
    f = nil
  end
  local ok, e = pcall(function()
    open()
    for record in next_record do
      local text = json.encode(record)
      if #text + 1 > limit then
        V.raise("clari", "validation", string.format("%s: one record is %d bytes, more than a 10 MB request can carry", w.fname, #text))
      end
      if size + #text + 1 > limit then close_and_send(); open() end
      if n > 0 then f:write(","); size = size + 1 end
      f:write(text)
      size, n = size + #text, n + 1
    end
    if n > 0 or not f then close_and_send() else f:close(); f = nil end
  end)
  if f then f:close() end
  os.remove(tmp)
  if not ok then error(e, 0) end
end

local function ingest_bulk(c, entity, data, opts)
  local w = where("submit")
  check_entity(w, entity)
  local query = ingest_query(w, opts)
  if type(data) == "string" and data:match("%.json$") then
    V.raise("clari", "validation", w.fname .. ": give records as a list, an iterator or an NDJSON file (one record a line)")
  end
  local jobs, files = {}, {}
  bulk_files(w, entity, data, function(tmp, n)
    files[#files + 1] = {path = tmp, records = n}
    -- Send each file as it is made (it is removed after): one job per file.
    local path = "/v2/ingest/bulk/entity/" .. entity
    local res = c:request("POST", path, {query = query, need = "ingestion", safe_to_repeat = true,
      multipart = {{name = "FileData", file = tmp, filename = "data.json", content_type = "application/json"}}})
    local decoded = c:json(res)
    jobs[#jobs + 1] = c:job("ingest_bulk", tostring(decoded.jobId), {entity = entity, records = n})
  end)
  return jobs
end

--- Sends records to Clari's ingestion API (also `clari.submit`; needs the
--- partner key, CLARI_PARTNER_KEY, besides the API key).
---   "ingest": `data` is Clari's body, a list of {sourceEntity=, records={...}};
---     it is split so that no request carries more than 100 records
---     (clari.max_ingest_records), and the requests are sent in order,
---     isLastBatch only on the last one. There is no job: returns {}.
---   "ingest_bulk": `data` is the records, a list, an iterator function or
---     the path of an NDJSON file (one record a line); they are sent as
---     data.json files of at most 10 MB (clari.max_bulk_bytes), one Job per
---     file, each file sent as soon as it is complete.
--- opts.mode is "incremental" (the default) or "initial"; opts.last_batch
--- marks the last batch. Records are upserted by id: a request repeated
--- after a lost answer changes nothing.
--- Raises kind = "validation" for a bad kind, entity, option or body
--- ("ingest": the whole body is checked before the first request), a .json
--- path, or a record of more than 10 MB.
---@param kind "ingest"|"ingest_bulk"
---@param entity string  the entity to ingest into, e.g. "opportunity"
---@param data table|string|fun():table|nil  as above
---@param opts? {mode?: "initial"|"incremental", last_batch?: boolean}
---@return moonport.Job[] jobs  "ingest_bulk": one Job per file (kind "ingest_bulk"); "ingest": {}
function Client:submit(kind, entity, data, opts)
  local w = where("submit")
  V.check(w, "argument #1 (kind)", kind, {ingest = true, ingest_bulk = true})
  if opts ~= nil then V.check(w, "argument #4 (options)", opts, "table") end
  if kind == "ingest" then return ingest(self, entity, data, opts or {}) end
  return ingest_bulk(self, entity, data, opts or {})
end

---------------------------------------------------------------------------
-- Jobs, limits, audit, opportunities, picklists
---------------------------------------------------------------------------

--- Every export job of the organisation (GET /v4/export/jobs) as Jobs, in
--- Clari's order, with their status (kind by Clari's module: "forecast",
--- "activity" or "audit_events"). Also `clari.jobs()`.
---@return moonport.Job[] jobs
function Client:jobs()
  local list = V.list("clari", self:call("GET", "/v4/export/jobs"), "GET /v4/export/jobs", {"jobs", "items"})
  local out = {}
  for i, raw in ipairs(list) do
    local module = raw.module
    local kind = module == "audit" and "audit_events" or (module == "activity" and "activity") or "forecast"
    out[i] = self:job(kind, tostring(raw.jobId), {format = raw.fileType}, raw)
  end
  return out
end

--- The organisation's export limits (the `jobs` part of GET
--- /v4/admin/limits): {concurrentLimit=, monthlyQuota=, runningJobIds=,
--- submittedJobIds=, availableConcurrentLimit=, availableMonthlyQuota=}.
--- Also `clari.limits()`.
---@return table limits
function Client:limits() return limits(self) end

--- An iterator over every audit event matching the filters (GET
--- /v4/audit/events, 1,000 a page, following `nextLink` page after page);
--- nothing is sent before the first call. Each step gives the event and
--- the `actors` of its page. Also `clari.audit_events(filters)`.
---   for event, actors in clari.audit_events{date_from = "2024-01-01"} do ... end
--- Raises kind = "validation" for an unknown filter or a value that is not
--- a string (before anything is sent).
---@param filters? {actor_id?: string, impersonating_actor_id?: string, session_id?: string, session_type?: "WEB"|"IOS"|"ANDROID", date_from?: string, date_to?: string, event?: string}
---@return fun():table|nil iterator  each call: the next event (nil at the end) and its page's actors
function Client:audit_events(filters)
  local w = where("audit_events")
  if filters ~= nil then V.check(w, "argument #1 (filters)", filters, "table") end
  local query = audit_filters(w, filters or {})
  query.limit = 1000
  local page, i, next_url, started = nil, 0, nil, false
  local c = self
  return function()
    while true do
      if page and i < #page.items then
        i = i + 1
        return page.items[i], page.actors
      end
      if started and not next_url then return nil end
      local res
      if next_url then
        res = c:request("GET", "/v4/audit/events", {url = next_url})
      else
        res = c:request("GET", "/v4/audit/events", {query = query})
      end
      started = true
      page = c:json(res)
      page.items = page.items or {}
      i = 0
      next_url = page.nextLink
      if next_url ~= nil and type(next_url) ~= "string" then next_url = nil end
    end
  end
end

--- The opportunities with these ids (GET /v4/opportunity; any number of
--- ids, 100 a request), in one list of {id=, crmScore={message=, score=},
--- fields={...}}. Also `clari.opportunities(ids, opts)`.
--- Raises kind = "validation" when `ids` is not a list of strings or integers.
---@param ids (string|integer)[]  the opportunity ids
---@param opts? {mode?: string}   mode: sent as Clari's `mode` query parameter
---@return table[] opportunities
function Client:opportunities(ids, opts)
  local w = where("opportunities")
  V.check(w, "argument #1 (ids)", ids, "list")
  if opts ~= nil then V.check(w, "argument #2 (options)", opts, "table") end
  for i, id in ipairs(ids) do
    if type(id) ~= "string" and math.type(id) ~= "integer" then V.check(w, "ids[" .. i .. "]", id, "string") end
  end
  local out = {}
  for at = 1, #ids, clari.max_opportunity_ids do
    local part = {}
    for k = at, math.min(#ids, at + clari.max_opportunity_ids - 1) do part[#part + 1] = tostring(ids[k]) end
    local list = self:call("GET", "/v4/opportunity", {query = {oppId = part, mode = opts and opts.mode or nil}})
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return json.array(out)
end

--- Adds values to a picklist field of an ingested entity (POST
--- /v2/ingest/schema/{entity}/field; needs the partner key too). Sent as a
--- request that is safe to repeat. Also `clari.picklist_add(...)`.
--- Raises kind = "validation" for a bad entity, field, type or value.
---@param entity string  the entity, e.g. "opportunity"
---@param field string   the field's name
---@param field_type "picklist"|"multipicklist"
---@param values string[]  the values to add
---@return any answer  Clari's decoded answer
function Client:picklist_add(entity, field, field_type, values)
  local w = where("picklist_add")
  check_entity(w, entity)
  V.check(w, "argument #2 (field)", field, "string")
  V.check(w, "argument #3 (type)", field_type, {picklist = true, multipicklist = true})
  V.check(w, "argument #4 (values)", values, "list")
  for i, v in ipairs(values) do V.check(w, "values[" .. i .. "]", v, "string") end
  return self:call("POST", "/v2/ingest/schema/" .. entity .. "/field", {need = "ingestion", safe_to_repeat = true,
    json = {fieldName = field, fieldType = field_type, values = json.array(values)}})
end

--- A picklist field of an ingested entity, or every picklist field of the
--- entity when `field` is nil (GET /v2/ingest/schema/{entity}/field; needs
--- the partner key too). Also `clari.picklist_get(entity, field)`.
--- Raises kind = "validation" for a bad entity or field.
---@param entity string  the entity, e.g. "opportunity"
---@param field? string  the field's name
---@return any fields  Clari's decoded answer
function Client:picklist_get(entity, field)
  local w = where("picklist_get")
  check_entity(w, entity)
  V.check(w, "argument #2 (field)", field, "string", true)
  return self:call("GET", "/v2/ingest/schema/" .. entity .. "/field", {need = "ingestion", query = {fieldName = field}})
end

--- Cancels an export job (PATCH /v4/export/jobs/{id} {"type": "CANCEL"})
--- and refreshes it: the same as `job:cancel()`. Also `clari.cancel(job)`.
--- Clari's 400 for a job already DONE is raised; ingestion jobs raise kind = "usage".
---@param job moonport.Job  a Clari export job
---@return moonport.Job job  the job, refreshed
function Client:cancel(job) return job:cancel() end

clari._expose{"export", "submit", "poll", "download", "jobs", "limits", "audit_events", "opportunities",
  "picklist_add", "picklist_get", "cancel"}

return clari
