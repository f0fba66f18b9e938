--- clari: Clari's export, audit, opportunity and ingestion APIs, as Clari's
--- API documentation (its OpenAPI reference) describes them.
---
---   local clari = require "clari"
---   local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv"})
---   job:wait(); job:download("forecast.csv")          --> {path=, bytes=, rows=}
---   clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-03-31"})
---   clari.export("audit_events", {date_from = "2024-01-01", event = "user.login"})
---   clari.submit("ingest", "opportunity", {{sourceEntity = "crm", records = {...}}}, {mode = "incremental"})
---   clari.submit("ingest_bulk", "opportunity", records_or_path, {source_entity = "crm", mode = "initial", last_batch = true}) --> Jobs
---   clari.jobs(), clari.limits(), clari.audit_events{...} (every page), clari.opportunities(ids)
---   clari.picklist_add(entity, field, "picklist", {"A", "B"}), clari.picklist_get(entity, field_or_fields)
---
--- Credentials: CLARI_API_KEY (header apikey), CLARI_PARTNER_KEY (header
--- partnerkey, ingestion only); CLARI_BASE_URL (https://api.clari.com).
---
--- Limits: an export refused because the concurrency limit is reached waits
--- for a slot (/v4/admin/limits) and goes on; a spent export quota (Clari
--- counts exports over a rolling 30-day window) raises at once (kind =
--- "rate_limited") with the numbers. A lost answer to an export is resolved
--- through submittedJobIds of /v4/admin/limits, read before and after, and
--- your own jobs (GET /v4/export/jobs; another user's export is never
--- adopted): the job it created is adopted, never submitted twice; when
--- Clari's jobs cannot tell which one it was, it raises saying the export
--- may have been created.
local V = require "moonport.vendor"
local args = require "moonport.args"
local json = require "json"
local task = require "task"
local log = require "log"
local moonport = require "moonport"
local dates = require "dates"
local http = require "http"

-- This file: the client, the exports and their Jobs. Clari's other API
-- areas are in files of their own, whose methods are added to Client below:
-- the ingestion API and its picklists (clari.ingest), the audit events
-- (clari.audit), the opportunities (clari.opportunity).
local ingest = require "clari.ingest"
local audit = require "clari.audit"
local opportunity = require "clari.opportunity"

-- The functions of the export Jobs (below); the ingestion Jobs' are clari.ingest's.
local export_job = {}

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
  -- Clari's error bodies, per API: exports {code, namespace, errorId, message};
  -- audit {errors = [{code, message, target, status, details}]}; ingestion
  -- [{errorCode, errorSummary}]; the ingestion job {error} or its own body
  -- {message = {status, message}}; opportunity [{statusCode, reaspnPhrase,
  -- description, details}]; 401 {message}.
  code_and_message = function(b)
    if type(b) ~= "table" then return nil end
    local function text(v) return type(v) == "string" and v ~= "" and v or nil end
    if type(b.errors) == "table" and type(b.errors[1]) == "table" then
      local e = b.errors[1]
      local message = text(e.message)
      if message and text(e.details) then message = message .. " (" .. e.details .. ")" end
      return e.code, message
    end
    if b.code ~= nil or text(b.message) then return b.code, text(b.message) end
    if text(b.error) then return nil, b.error end
    if type(b.message) == "table" and text(b.message.status) then
      return b.message.status, ingest.summary(b.message.message)
    end
    if type(b[1]) == "table" then
      if b[1].errorCode or b[1].errorSummary then
        return b[1].errorCode, ingest.summary(b)
      end
      if b[1].statusCode or b[1].description or b[1].details then
        local e = b[1]
        local parts = {}
        for _, k in ipairs{"description", "details"} do if text(e[k]) then parts[#parts + 1] = e[k] end end
        return e.statusCode ~= nil and tostring(e.statusCode) or nil, #parts > 0 and table.concat(parts, ": ") or nil
      end
    end
  end,
  statuses = {
    -- exports
    SCHEDULED = "queued", STARTED = "running", DONE = "done", FAILED = "failed",
    CANCELLED = "cancelled", ABORTED = "cancelled",
    -- ingestion jobs (FAILED as above)
    QUEUED = "queued", IN_PROGRESS = "running", SUCCESS = "done", VALIDATION_FAILED = "failed", VALIDATION_ERROR = "failed",
  },
  -- export: an export whose module moonport does not know (clari.jobs()).
  jobs = {forecast = export_job, activity = export_job, audit_events = export_job, export = export_job,
    ingest_bulk = ingest.job},
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


-- The job is flat in Clari's API documentation; some clients see it wrapped
-- as {"job": {...}}: both are read.
local function unwrap(raw) return type(raw) == "table" and type(raw.job) == "table" and raw.job or raw end

-- The job of a GET /v4/export/jobs/{id} answer, checked: an object with a status word.
local function export_job_of(raw, what)
  local j = V.object("clari", unwrap(raw), what)
  if type(j.status) ~= "string" then
    V.raise("clari", "validation", string.format("%s answered a job without a status word (keys: %s); the API may have changed",
      what, (function() local k = {} for name in pairs(j) do k[#k + 1] = tostring(name) end table.sort(k) return table.concat(k, ", ") end)()))
  end
  return j
end

function export_job.status_of(raw)
  local j = unwrap(raw)
  return j.status, j.message or j.errorMessage or j.error or (j.status == "FAILED" and "the export failed at Clari" or nil)
end

function export_job.refresh(c, job)
  local path = "/v4/export/jobs/" .. job.id
  local res = c:request("GET", path)
  return export_job_of(c:json(res), "GET " .. path), res.headers
end

-- A cancel whose answer was lost is sent again (it is safe to repeat); the
-- repeat then meets 400 export_failed_to_cancel ("already finished"): the job
-- is read again, and if it is cancelled, that is the outcome. A job that
-- ended otherwise (DONE, FAILED) cannot be cancelled: Clari's 400 is raised.
function export_job.cancel(c, job)
  local path = "/v4/export/jobs/" .. job.id
  local ok, e = pcall(c.call, c, "PATCH", path, {json = {type = "CANCEL"}, safe_to_repeat = true})
  if ok then return end
  if type(e) == "table" and e.status == 400 and e.code == "export_failed_to_cancel" then
    V.apply_status(job, (export_job.refresh(c, job)))
    if job.status == V.CANCELLED then return end
    V.raise("clari", "http", string.format("PATCH %s answered 400 export_failed_to_cancel: job %s already ended %s, "
      .. "it can no longer be cancelled (Clari said: %s)", path, tostring(job.id), tostring(job.vendor_status), tostring(e.message)),
      {status = 400, code = e.code, details = e.details})
  end
  error(e, 0)
end

local function results_path(job) return "/v4/export/jobs/" .. job.id .. "/results" end

function export_job.download(c, job, path)
  local res = c:request("GET", results_path(job), {stream_to = path, timeout = 3600})
  local rows
  local format = type(job.ref.format) == "string" and job.ref.format:upper() or nil
  if format == "CSV" then
    rows = V.count_csv_rows(path)
  else
    local f = io.open(path, "rb")
    local text = f and f:read("a") or ""
    if f then f:close() end
    local ok, value = pcall(json.decode, text)
    if ok and type(value) == "table" then
      if type(value.activities) == "table" then rows = #value.activities
      elseif type(value.items) == "table" then rows = #value.items
      elseif job.kind == "forecast" then
        -- [[header...], [row...], ...]: a header row, then data rows. Clari's
        -- documented example is one flat list of cells, whose rows cannot be
        -- told apart: no count then.
        if value[1] == nil then rows = 0 elseif type(value[1]) == "table" then rows = #value - 1 end
      else rows = #value end
    end
  end
  return {path = path, bytes = res.bytes, rows = rows}
end

function export_job.result(c, job)
  return c:call("GET", results_path(job), {timeout = 3600})
end

-- Job ids this process has created or adopted: a lost answer is never
-- matched to another task's job.
local claimed = {}
-- Exports this process is sending right now (token -> true): a lookup after
-- a lost answer waits for them, so that the jobs they created are claimed first.
local inflight = {}

local function limits(c)
  local what = "GET /v4/admin/limits"
  local jobs = V.object("clari", c:call("GET", "/v4/admin/limits"), what).jobs
  return jobs == nil and {} or V.object("clari", jobs, what .. " (its jobs)")
end

-- A count of /v4/admin/limits: a number, or nil (absent, json.null, not a number).
local function count_of(v) return type(v) == "number" and v or (type(v) == "string" and tonumber(v)) or nil end
-- How many ids a list of /v4/admin/limits holds, as text ("?" when it is not a list).
local function length_of(list) return type(list) == "table" and tostring(#list) or "?" end

local function ids_of(list)
  local out = {}
  for i, id in ipairs(type(list) == "table" and list or {}) do out[i] = tostring(id) end
  return out
end

--- Sends an export request; waits for a slot while the concurrency limit
--- is what refuses it, raises at once when the quota is spent.
local function send_export(c, path, body, started)
  local slot_waits, wait = 0, 2
  while true do
    local token = {}
    inflight[token] = true
    local ok, res = pcall(c.request, c, "POST", path, {json = body, ok = {[400] = true}})
    if ok and res.status < 400 then
      local okj, decoded = pcall(c.json, c, res)
      local id = okj and type(decoded) == "table" and (decoded.jobId or (type(decoded.job) == "table" and decoded.job.jobId)) or nil
      if id ~= nil then claimed[tostring(id)] = true end
      inflight[token] = nil
      if not okj then error(decoded, 0) end
      if id == nil then
        V.raise("clari", "validation", "POST " .. path .. " answered without a jobId: "
          .. http.redact(tostring(res.body or "")):sub(1, 200), {status = res.status, may_have_taken_effect = true})
      end
      return tostring(id)
    end
    inflight[token] = nil
    if not ok then error(res, 0) end
    local err = clari.response_error(res, "POST", path)
    if err.code ~= "export_monthly_quota_reached" then error(err, 0) end
    local l = limits(c)
    local quota_left = count_of(l.availableMonthlyQuota)
    if quota_left ~= nil and quota_left <= 0 then
      V.raise("clari", "rate_limited", string.format("the export quota is spent: %s of %s exports used in the last 30 days; "
        .. "nothing was started (Clari counts exports over a rolling 30-day window: the quota frees up as exports "
        .. "older than 30 days leave it; clari.limits() shows it)", length_of(l.submittedJobIds),
        tostring(l.monthlyQuota)), {status = 400, code = err.code, details = err.details, retryable = false})
    end
    local elapsed = moonport.now() - started
    if elapsed > V.default_timeout then
      V.raise("clari", "timeout", string.format("waited %s for a free export slot (concurrent limit %s); giving up",
        moonport.duration(elapsed), tostring(l.concurrentLimit)), {retryable = true})
    end
    slot_waits = slot_waits + 1
    if slot_waits == 1 then
      log.info("clari: %s of %s export slots are in use; waiting for one to free up", length_of(l.runningJobIds),
        tostring(l.concurrentLimit))
    end
    V.sleep_shown("clari: waiting for a free export slot", wait * (0.75 + math.random() / 2), {vendor = "clari", since = elapsed})
    wait = math.min(wait * 1.5, 15)
  end
end

-- A field's letters in upper case: "JSON" of "json" or of "JSON," (the listing
-- example of Clari's documentation shows values with a trailing comma).
local function letters(v) return (tostring(v):upper():gsub("[^%a]", "")) end

-- The export kind of a job's `module` (upper case in Clari's documentation,
-- FORECAST; read in any case); nil for a module moonport does not know.
local function module_kind(m)
  if type(m) ~= "string" then return nil end
  local u = m:upper()
  if u:find("FORECAST", 1, true) then return "forecast" end
  if u:find("ACTIVIT", 1, true) then return "activity" end
  if u:find("AUDIT", 1, true) then return "audit_events" end
  return nil
end

-- A value Clari may send as json.null, an empty string or a listing's
-- "VALUE," spelling: its text, or nil when it carries nothing.
local function present(v)
  if type(v) ~= "string" and type(v) ~= "number" then return nil end
  local text = tostring(v):gsub("^%s+", ""):gsub("[,%s]+$", "")
  return text ~= "" and text or nil
end

-- The ids of the caller's own export jobs (GET /v4/export/jobs lists the jobs
-- the API key's user started, never another user's).
local function own_job_ids(c)
  local what = "GET /v4/export/jobs"
  local out = {}
  for i, item in ipairs(V.list("clari", c:call("GET", "/v4/export/jobs"), what, {"jobs", "items"})) do
    local id = present(unwrap(item).jobId)
    if id == nil then V.raise("clari", "validation", what .. " (item " .. i .. ") has no jobId") end
    out[id] = true
  end
  return out
end

--- The job a lost export request created. Clari's jobs do not show the
--- request's parameters, so the lookup is: the ids new in the organisation's
--- submittedJobIds since the snapshot that are also among the caller's own
--- jobs (GET /v4/export/jobs: another user's export is never adopted; a job
--- Clari will not show, 403, is not ours either), not claimed by this
--- process, started within the time the request could have been handled, of
--- the same kind (module), file type and currency. One such job: it is ours.
--- None, and no near miss: nothing was created. Several, a job of the same
--- kind differing only in file type or currency, or a job whose module is not
--- known: it cannot be told, and nothing is sent again.
local function find_export(c, kind, format, currency, snapshot, started_at)
  -- Exports this process is sending now claim their jobs when their answers come.
  local waited = moonport.now()
  while next(inflight) ~= nil and moonport.now() - waited < 60 do task.sleep(0.1) end
  local before = {}
  for _, id in ipairs(snapshot or {}) do before[tostring(id)] = true end
  -- The request was sent after started_at (less Clari's clock skew) and, when
  -- this runs right after the lost answer, before now; a rerun's lookup
  -- allows the longest the request could have waited for a free slot.
  local earliest, latest
  if started_at ~= nil then
    earliest = started_at - 300
    latest = math.min(moonport.now(), started_at + V.default_timeout + 600) + 300
  end
  local submitted = ids_of(limits(c).submittedJobIds)
  local own = own_job_ids(c)
  local matches, near, unknown = {}, {}, {}
  for _, raw_id in ipairs(submitted) do
    local id = present(raw_id) or raw_id
    if not before[raw_id] and not before[id] and not claimed[id] and own[id] then
      local path = "/v4/export/jobs/" .. id
      local ok, res = pcall(c.call, c, "GET", path)
      if not ok and not (type(res) == "table" and res.status == 403) then error(res, 0) end
      if ok then
        local j = export_job_of(res, "GET " .. path)
        local k = module_kind(present(j.module))
        local t = present(j.startTime) and dates.read(tonumber(present(j.startTime)) or present(j.startTime)) or nil
        local outside = t ~= nil and earliest ~= nil and (t < earliest or t > latest)
        local file_type, job_currency = present(j.fileType), present(j.currency)
        if outside then
          -- started before this request could have been sent, or after it was answered
        elseif k == nil then
          unknown[#unknown + 1] = id .. " (module " .. tostring(j.module) .. ")"
        elseif k == kind then
          if (file_type == nil or letters(file_type) == format)
            and (currency == nil or job_currency == nil or letters(job_currency) == letters(currency)) then
            matches[#matches + 1] = id
          else
            near[#near + 1] = id .. " (" .. tostring(file_type) .. ", " .. tostring(job_currency) .. ")"
          end
        end
      end
    end
  end
  if #matches == 1 and #unknown == 0 then return matches[1] end
  if #matches == 0 and #unknown == 0 and #near == 0 then return nil end
  local all = {}
  for _, list in ipairs{matches, near, unknown} do
    for _, id in ipairs(list) do all[#all + 1] = id end
  end
  return nil, string.format("Clari lists %d new export job(s) of yours that could be it (%s); look at them with clari.jobs() "
    .. "(GET /v4/export/jobs) and cancel or use the one you want before you run it again", #all, table.concat(all, ", "))
end

local function start_export(c, kind, path, body, format)
  local started = moonport.now()
  local id = V.create{
    vendor = "clari", what = kind .. " export job",
    key = "export " .. path .. " " .. json.encode(body, {sort_keys = true}),
    before = function() return ids_of(limits(c).submittedJobIds) end,
    send = function() return send_export(c, path, body, started) end,
    find = function(snapshot, started_at) return find_export(c, kind, format, body.currency, snapshot, started_at) end,
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
  args.check_known(w, "forecast parameter", p, {forecast_id = true, time_period = true, types = true, scope_id = true,
    currency = true, format = true, include_historical = true, schedule = true})
  args.check(w, "field 'forecast_id'", p.forecast_id, "string")
  if p.forecast_id == "" or p.forecast_id:find("[/?#%s]") then
    V.raise("clari", "validation", "clari.export: forecast_id must be the id of a Forecast Tab (from its URL), got '" .. p.forecast_id .. "'")
  end
  local body = {schedule = upper(p.schedule) or "NONE", exportFormat = upper(p.format) or "JSON",
    includeHistorical = p.include_historical or false}
  -- time_period is optional: Clari exports the current quarter without it.
  if p.time_period ~= nil then
    args.check(w, "field 'time_period'", p.time_period, "string")
    if not p.time_period:match("^%d%d%d%d_Q[1-4]$") then
      V.raise("clari", "validation", "clari.export: time_period must look like 2024_Q1, got '" .. p.time_period .. "'")
    end
    body.timePeriod = p.time_period
  end
  args.check(w, "field 'format'", body.exportFormat, {JSON = true, CSV = true})
  args.check(w, "field 'schedule'", body.schedule, {NONE = true, ONCE = true, MAX = true})
  args.check(w, "field 'include_historical'", body.includeHistorical, "boolean")
  if p.types ~= nil then
    args.check(w, "field 'types'", p.types, "list")
    if #p.types == 0 then V.raise("clari", "validation", "clari.export: field 'types' must name at least one type (or be left out)") end
    for i, t in ipairs(p.types) do args.check(w, "types[" .. i .. "]", t, forecast_types) end
    body.typesToExport = json.array(p.types)
  end
  if p.scope_id ~= nil then body.scopeId = args.check(w, "field 'scope_id'", p.scope_id, "string") end
  if p.currency ~= nil then body.currency = args.check(w, "field 'currency'", p.currency, "string") end
  return start_export(c, "forecast", "/v4/export/forecast/" .. p.forecast_id, body, body.exportFormat)
end

-- A date ("2024-01-31", sent as midnight UTC) or a date-time with a UTC
-- offset ("2024-01-31T00:00:00Z", "...+05:30"), as Clari's activity export asks.
local function offset_date_time(w, name, v)
  args.check(w, "field '" .. name .. "'", v, "string")
  if v:match("^%d%d%d%d%-%d%d%-%d%d$") and dates.read(v) then return v .. "T00:00:00Z" end
  local zone = v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*(.*)$")
  if zone and (zone == "Z" or zone:match("^[+-]%d%d:%d%d$")) and dates.read(v) then return v end
  V.raise("clari", "validation", string.format("clari.export: field '%s' must be a date (2024-03-10) or a date-time "
    .. "with a UTC offset (2024-03-10T00:00:00Z, 2024-03-10T00:00:00-08:00), got '%s'", name, v))
end

function exports.activity(c, p)
  local w = where("export")
  args.check_known(w, "activity parameter", p, {activity_types = true, start_date = true, end_date = true, format = true})
  if p.format ~= nil and upper(p.format) ~= "JSON" then
    V.raise("clari", "validation", "clari.export: activity exports are JSON only (format = \"json\")")
  end
  local body = {startDate = offset_date_time(w, "start_date", p.start_date),
    endDate = offset_date_time(w, "end_date", p.end_date), exportFormat = "JSON"}
  -- activity_types is optional: every type when left out.
  if p.activity_types ~= nil then
    args.check(w, "field 'activity_types'", p.activity_types, "list")
    if #p.activity_types == 0 then
      V.raise("clari", "validation", "clari.export: field 'activity_types' must name at least one of "
        .. "MEETING, EMAIL_SENT, EMAIL_RECEIVED, ATTACHMENT_SENT, ATTACHMENT_RECEIVED (or be left out for every type)")
    end
    for i, t in ipairs(p.activity_types) do args.check(w, "activity_types[" .. i .. "]", t, activity_types) end
    body.activityTypes = json.array(p.activity_types)
  end
  return start_export(c, "activity", "/v4/export/activity", body, "JSON")
end

function exports.audit_events(c, p)
  local body = audit.filters(where("export"), p)
  return start_export(c, "audit_events", "/v4/export/audit/events", json.object(body), "JSON")
end

--- Starts an export at Clari and returns its Job (also `clari.export`).
--- The kinds and their params (snake_case; sent as Clari's names):
---   "forecast": forecast_id (required: the Forecast Tab's id), time_period
---     ("2024_Q1"; Clari's current quarter when left out), types (a list of
---     forecast, quota, forecast_updated, adjustment; Clari's default is
---     forecast and forecast_updated; crm_total and crm_closed are refused
---     by Clari's Export API with 400 type_not_supported), scope_id,
---     currency, format ("json" or "csv"; json by default),
---     include_historical (boolean), schedule ("none", "once" or "max";
---     none by default)
---   "activity": start_date and end_date (required: a date, "2024-03-10",
---     sent as midnight UTC, or a date-time with a UTC offset,
---     "2024-03-10T00:00:00-08:00"), activity_types (optional, every type
---     when left out: a list of MEETING, EMAIL_SENT, EMAIL_RECEIVED,
---     ATTACHMENT_SENT, ATTACHMENT_RECEIVED); JSON only
---   "audit_events": actor_id and impersonating_actor_id (integers, Clari
---     user ids), session_id, session_type ("WEB", "IOS" or "ANDROID"),
---     date_from, date_to, event (strings); all optional
--- When Clari's concurrency limit refuses the export, it waits for a free
--- slot and tries again (up to 4 h); a spent quota (a rolling 30-day
--- window) raises kind = "rate_limited" at once. An export whose answer was
--- lost is found through /v4/admin/limits and adopted: it is never started
--- twice; when Clari's job list cannot tell which new job it was, it raises
--- (kind "network" or "http") saying the export may have been created.
--- Clari's refusals (an unknown forecast: 400 no_such_forecast_config) are
--- raised as kind = "http" with Clari's code and message.
--- Raises kind = "validation" for an unknown kind, an unknown parameter or a
--- wrong value, before anything is sent.
---   local job = clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv"})
---@param kind "forecast"|"activity"|"audit_events"  what to export
---@param params? table  the export's parameters, as above
---@return moonport.Job job  the export job (its kind is `kind`), queued
function Client:export(kind, params)
  local w = where("export")
  args.check(w, "argument #1 (kind)", kind, exports)
  if params ~= nil then args.check(w, "argument #2 (params)", params, "table") end
  return exports[kind](self, params or {})
end

---------------------------------------------------------------------------
-- Export jobs: the listing, the limits, cancel
---------------------------------------------------------------------------

--- Every export job of the organisation (GET /v4/export/jobs) as Jobs, in
--- Clari's order, with their status (kind by Clari's module: "forecast",
--- "activity", "audit_events", or "export" for a module moonport does not
--- know). Also `clari.jobs()`.
---@return moonport.Job[] jobs
function Client:jobs()
  local what = "GET /v4/export/jobs"
  local list = V.list("clari", self:call("GET", "/v4/export/jobs"), what, {"jobs", "items"})
  local out = {}
  for i, item in ipairs(list) do
    local raw = export_job_of(item, what .. " (item " .. i .. ")")
    if raw.jobId == nil then V.raise("clari", "validation", what .. " (item " .. i .. ") has no jobId") end
    out[i] = self:job(module_kind(raw.module) or "export", tostring(raw.jobId), {format = raw.fileType}, raw)
  end
  return out
end

--- The organisation's export limits (the `jobs` part of GET
--- /v4/admin/limits): {concurrentLimit=, monthlyQuota=, runningJobIds=,
--- submittedJobIds=, availableConcurrentLimit=, availableMonthlyQuota=}.
--- monthlyQuota counts exports over a rolling 30-day window;
--- runningJobIds is absent when no job is running. Also `clari.limits()`.
---@return table limits
function Client:limits() return limits(self) end

--- Cancels an export job (PATCH /v4/export/jobs/{id} {"type": "CANCEL"})
--- and refreshes it: the same as `job:cancel()`. Also `clari.cancel(job)`.
--- A cancel whose first answer was lost is sent again; Clari then answers
--- 400 export_failed_to_cancel, and the job is read: cancelled (CANCELLED
--- or ABORTED) is the outcome asked for. A job that already ended DONE or
--- FAILED cannot be cancelled: kind = "http", code export_failed_to_cancel.
--- Ingestion jobs raise kind = "usage".
---@param job moonport.Job  a Clari export job
---@return moonport.Job job  the job, refreshed
function Client:cancel(job) return job:cancel() end

-- The methods of Clari's other API areas; those that need the module (its
-- limits, response_error) are bound to it first.
for _, part in ipairs{ingest, audit, opportunity} do
  if part.bind then part.bind(clari) end
  for name, method in pairs(part.Client) do Client[name] = method end
end

clari._expose{"export", "submit", "poll", "download", "jobs", "limits", "audit_events", "opportunities",
  "picklist_add", "picklist_get", "cancel"}

return clari
