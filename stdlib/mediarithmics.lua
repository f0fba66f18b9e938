--- mediarithmics: document imports and their executions, as mediarithmics'
--- API documentation ("Sending documents") describes them.
---
---   local mics = require "mediarithmics"
---   local import = mics.document_import{datamart = "1502", document_type = "USER_ACTIVITY",
---     mime_type = "APPLICATION_X_NDJSON", encoding = "utf-8", name = "Store visits"}
---     --> {id=, datamart_id=, name=, document_type=, mime_type=, encoding=, raw=}  (found by name, else created)
---   local jobs = mics.submit("documents", import, "visits.ndjson", {format = "ndjson"})  --> Jobs, one per part
---   mics.submit("documents", import, {{...}, {...}})               -- records: one NDJSON line each
---   mics.submit("documents", csv_import, rows, {format = "csv", header = {"user_id", "email"}})
---   mics.poll(jobs); jobs[1].raw.data.result.total_success         -- raw: the decoded {status = "ok", data = {...}}
---   jobs[1]:result()                 --> {total_success=, total_failure=, error_file_uri=}
---   jobs[1].rejected                 --> {count=, error_file_uri=} when a SUCCEEDED execution rejected lines
---   jobs[1]:download("exec.json")    --> {path=, bytes=, rows=1}: the execution's final record, as JSON
---   jobs[1]:cancel()                 -- POST .../executions/{id}/action {"action": "CANCEL"}
---   mics.document_imports("1502")    --> every import of the datamart (every page)
---   mics.executions(import [, {since=, limit=}])  --> the import's executions as Jobs, newest first
---
--- Credentials: MEDIARITHMICS_API_TOKEN (sent raw as `Authorization: TOKEN`);
--- MEDIARITHMICS_BASE_URL (https://api.mediarithmics.com).
---
--- Data: a path is streamed line by line (an NDJSON line, or a CSV record,
--- which may span lines inside quotes) and never read whole; a list of
--- records (tables, encoded as JSON; strings are taken as JSON lines as they
--- are) or, for a CSV import, of rows (lists, or records keyed by column: as
--- csv.write); or an iterator function returning them. It is cut into parts
--- of at most `mediarithmics.max_part_bytes` (100 MB), each written to a
--- temporary file (removed once sent, also on error) and sent as one
--- execution; every CSV part starts with the header line.
---
--- An execution that SUCCEEDED with some lines rejected (result.total_failure
--- > 0) is done: its Job gets `rejected = {count=, error_file_uri=}` and a
--- warning is logged naming the count and the error file.
---
--- Exactly once: an upload whose answer was lost is looked for among the
--- import's executions (in whatever order they are listed) created after the attempt began (less
--- `clock_skew` seconds) with the part's number of lines (for a CSV part,
--- with or without the header line: mediarithmics' documentation does not
--- say), not yet claimed by this process; it is adopted instead of being
--- sent again. When the listing cannot tell (an execution without its
--- number of lines, several that fit, or a listing that cannot be read
--- whole), nothing is sent again: the error
--- says the part may have been sent and which executions to check.
local V = require "moonport.vendor"
local args = require "moonport.args"
local P = require "moonport.paging"
local json = require "json"
local log = require "log"
local moonport = require "moonport"

-- The kinds of Job of mediarithmics (their functions are defined below).
local exec_job = {}

--- A mediarithmics client, made by `mediarithmics.client{api_token=,
--- base_url=, timeout=}`; its methods are the module's functions.
---@class mediarithmics.Client: moonport.Client
local mediarithmics, Client = V.define{
  name = "mediarithmics",
  base_env = "MEDIARITHMICS_BASE_URL",
  default_base = "https://api.mediarithmics.com",
  credentials = {
    {field = "api_token", env = "MEDIARITHMICS_API_TOKEN", what = "API token"},
  },
  auth = function(c) return {authorization = c:credential("api_token")} end,
  -- {status: "error", error, error_code, error_id}
  code_and_message = function(b)
    if type(b) ~= "table" or (b.error == nil and b.error_code == nil) then return nil end
    local message = b.error
    if type(message) == "table" then message = message.message or json.encode(message) end
    message = message ~= nil and tostring(message) or nil
    if b.error_id ~= nil and b.error_id ~= json.null then
      message = (message or "error") .. " (error_id " .. tostring(b.error_id) .. ")"
    end
    local code = b.error_code
    return code ~= nil and code ~= json.null and tostring(code) or nil, message
  end,
  statuses = {
    WAITING_DEPENDENT_JOB = "queued", SCHEDULED = "queued", PENDING = "queued",
    RUNNING = "running",
    SUCCEEDED = "done", SUCCESS = "done",
    FAILED = "failed", LOST = "failed",
    CANCELED = "cancelled",
  },
  jobs = {documents = exec_job},
}

--- The most bytes one execution carries (the vendor's limit: 100 MB); set
--- it lower to cut files into smaller parts.
mediarithmics.max_part_bytes = 100 * 1024 * 1024
--- Items a listing asks for per page (first_result / max_results).
mediarithmics.page_size = 100
--- How far behind ours the vendor's clock may be (seconds), when a lost
--- upload is looked for by its creation time.
mediarithmics.clock_skew = 120

local document_types = {USER_ACTIVITY = true, USER_SEGMENT = true, USER_PROFILE = true,
  USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS = true}
local mime_types = {APPLICATION_X_NDJSON = true, TEXT_CSV = true}
-- mime_type -> the Content-Type of an execution's body, and the format option.
local content_types = {APPLICATION_X_NDJSON = "application/x-ndjson", TEXT_CSV = "text/csv"}
local formats = {APPLICATION_X_NDJSON = "ndjson", TEXT_CSV = "csv"}
local mime_of_format = {ndjson = "APPLICATION_X_NDJSON", csv = "TEXT_CSV"}

local function where(fname) return {vendor = "mediarithmics", fname = "mediarithmics." .. fname} end

--- An id (datamart, import, execution) as a string: a string or an integer,
--- made of letters, digits, '-', '_' and '.' (it goes into a path).
local function check_id(w, name, v, optional)
  if v == nil and optional then return nil end
  if math.type(v) == "integer" then v = tostring(v) else args.check(w, name, v, "string") end
  if not v:match("^[%w_%-%.]+$") then
    V.raise("mediarithmics", "validation", string.format("%s: %s must be an id such as '1502', got '%s'", w.fname, name, v))
  end
  return v
end

local function imports_path(dm) return "/v1/datamarts/" .. dm .. "/document_imports" end
local function executions_path(dm, import) return imports_path(dm) .. "/" .. import .. "/executions" end

--- Every item of a paged listing (first_result / max_results), in order,
--- whatever page size the service serves; each(item) returning true stops
--- early. A listing that cannot be read whole (the service ignores
--- first_result) raises kind = "validation"; with `flag`, it ends and the
--- reason is returned instead (a lookup then cannot be sure of an absence).
local function each_page(c, path, each, flag)
  local items, walk = P.items{size = mediarithmics.page_size, vendor = "mediarithmics", what = "GET " .. path,
    incomplete = flag and "flag" or nil, fetch = function(first, _, size)
    -- {status: "ok", data: [...], total}: the envelope, then a list of objects.
    local body = V.object("mediarithmics", c:call("GET", path, {query = {first_result = first, max_results = size}}), "GET " .. path)
    if body.data == nil then
      V.raise("mediarithmics", "validation", "GET " .. path .. " answered without the expected data list")
    end
    return V.list("mediarithmics", body.data, "GET " .. path .. " (its data)"), body.total
  end}
  for item in items do
    if each(item) then return nil end
  end
  return walk.incomplete
end

--- The `data` of an answer {status: "ok", data: {...}}: raises kind =
--- "validation" when it is not there (a null body, a list, ...).
local function data_of(decoded, what)
  local d = type(decoded) == "table" and decoded.data or nil
  if type(d) ~= "table" then
    V.raise("mediarithmics", "validation", what .. " answered without the expected data object"
      .. (decoded == json.null and " (its body is null)" or ""))
  end
  return d
end

--- An import as the plain table scripts see (and state stores).
local function import_of(d)
  return {id = tostring(d.id), datamart_id = d.datamart_id ~= nil and tostring(d.datamart_id) or nil, name = d.name,
    document_type = d.document_type, mime_type = d.mime_type, encoding = d.encoding, raw = d}
end

---------------------------------------------------------------------------
-- Document imports
---------------------------------------------------------------------------

--- Every document import of a datamart (every page), as plain tables
--- {id=, datamart_id=, name=, document_type=, mime_type=, encoding=, raw=}
--- (raw: the import as mediarithmics gives it). Also
--- `mediarithmics.document_imports(datamart)`.
--- Raises kind = "validation" for a datamart that is not an id.
---@param datamart string|integer  the datamart's id
---@return table[] imports
function Client:document_imports(datamart)
  local dm = check_id(where("document_imports"), "argument #1 (datamart)", datamart)
  local out = {}
  each_page(self, imports_path(dm), function(d) out[#out + 1] = import_of(d) end)
  return json.array(out)
end

-- The import named `name` in the datamart (the first one of the right type
-- and mime type when several share the name), or nil; the first import of
-- that name; and, when none fits, why the listing could not be read whole.
local function find_import(c, dm, name, document_type, mime_type)
  local same_name, best
  local short = each_page(c, imports_path(dm), function(d)
    if d.name == name then
      same_name = same_name or d
      if d.document_type == document_type and d.mime_type == mime_type then best = d; return true end
    end
  end, true)
  return best and import_of(best) or nil, same_name, not best and short or nil
end

--- The document import named `spec.name` in the datamart: found by its
--- name (with the same document_type and mime_type), else created, exactly
--- once. Also `mediarithmics.document_import(spec)`.
--- Raises kind = "validation" for a missing or bad field, a USER_ACTIVITY
--- import that is not NDJSON, or an import of that name with another
--- document_type or mime_type.
---   local import = mediarithmics.document_import{datamart = "1502", document_type = "USER_ACTIVITY",
---     mime_type = "APPLICATION_X_NDJSON", name = "Store visits"}
---@param spec {datamart: string|integer, document_type: "USER_ACTIVITY"|"USER_SEGMENT"|"USER_PROFILE"|"USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS", mime_type: "APPLICATION_X_NDJSON"|"TEXT_CSV", encoding?: string, name: string}  encoding: "utf-8" by default
---@return {id: string, datamart_id: string, name: string, document_type: string, mime_type: string, encoding: string, raw: table} import
function Client:document_import(spec)
  local w = where("document_import")
  args.check(w, "argument #1 (import spec)", spec, "table")
  args.check_known(w, "field", spec, {datamart = true, document_type = true, mime_type = true, encoding = true, name = true})
  local dm = check_id(w, "field 'datamart'", spec.datamart)
  local document_type = args.check(w, "field 'document_type'", spec.document_type, document_types)
  local mime_type = args.check(w, "field 'mime_type'", spec.mime_type, mime_types)
  local encoding = args.check(w, "field 'encoding'", spec.encoding, "string", true) or "utf-8"
  local name = args.check(w, "field 'name'", spec.name, "string")
  if not name:find("%S") then V.raise("mediarithmics", "validation", w.fname .. ": field 'name' must not be blank") end
  if document_type == "USER_ACTIVITY" and mime_type ~= "APPLICATION_X_NDJSON" then
    V.raise("mediarithmics", "validation", w.fname .. ": USER_ACTIVITY documents are NDJSON only (mime_type = \"APPLICATION_X_NDJSON\")")
  end
  local found, same_name, short = find_import(self, dm, name, document_type, mime_type)
  if found then return found end
  if short then
    -- An import of that name may be among those that could not be listed.
    V.raise("mediarithmics", "validation", string.format("%s: cannot tell whether datamart %s already has an import "
      .. "named '%s' (%s), so none was created; give the import as {id=, datamart_id=} instead", w.fname, dm, name, short))
  end
  if same_name then
    V.raise("mediarithmics", "validation", string.format(
      "%s: datamart %s already has an import named '%s', of document_type %s and mime_type %s (asked: %s, %s); "
      .. "give another name", w.fname, dm, name, tostring(same_name.document_type), tostring(same_name.mime_type),
      document_type, mime_type), {details = same_name})
  end
  local path = imports_path(dm)
  local body = {document_type = document_type, mime_type = mime_type, encoding = encoding, name = name}
  local c = self
  return V.create{
    vendor = "mediarithmics", what = "document import '" .. name .. "'",
    key = "document_import " .. dm .. " " .. name,
    send = function()
      local decoded = c:call("POST", path, {json = body})
      local d = type(decoded) == "table" and decoded.data or nil
      if type(d) ~= "table" or d.id == nil or d.id == json.null then
        V.raise("mediarithmics", "validation", "POST " .. path .. " answered without data.id")
      end
      log.info("mediarithmics: created document import %s '%s' in datamart %s", tostring(d.id), name, dm)
      return import_of(d)
    end,
    find = function()
      local got, _, unsure = find_import(c, dm, name, document_type, mime_type)
      if got or not unsure then return got end
      return nil, string.format("look in datamart %s for a document import named '%s' before you run this again "
        .. "(mediarithmics' listing could not be read whole: %s)", dm, name, unsure)
    end,
  }
end

--- The import argument of submit/executions: {id=, datamart_id=, mime_type=} (as document_import returns).
local function check_import(w, imp)
  args.check(w, "argument #2 (import)", imp, "table")
  local id = check_id(w, "import.id", imp.id)
  local dm = check_id(w, "import.datamart_id", imp.datamart_id or imp.datamart)
  if imp.mime_type ~= nil then args.check(w, "import.mime_type", imp.mime_type, mime_types) end
  return {id = id, datamart_id = dm, mime_type = imp.mime_type}
end

---------------------------------------------------------------------------
-- Executions (the Jobs)
---------------------------------------------------------------------------

local function seconds_of(v)
  if type(v) == "number" then return v > 1e11 and v / 1000 or v end
  if type(v) == "string" then
    local y, mo, d, h, mi, s = v:match("^(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d%.?%d*)")
    if y then
      -- Days since 1970-01-01 (UTC), without os.time's local time zone.
      y, mo = tonumber(y), tonumber(mo)
      local a = (14 - mo) // 12
      local yy, mm = y + 4800 - a, mo + 12 * a - 3
      local jdn = tonumber(d) + (153 * mm + 2) // 5 + 365 * yy + yy // 4 - yy // 100 + yy // 400 - 32045
      local t = (jdn - 2440588) * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
      local sign, oh, om = v:match("([%+%-])(%d%d):?(%d%d)$")
      if sign then t = t - (sign == "+" and 1 or -1) * (tonumber(oh) * 3600 + tonumber(om) * 60) end
      return t
    end
    return tonumber(v) and seconds_of(tonumber(v)) or nil
  end
  return nil
end


function exec_job.status_of(raw, job)
  local d = type(raw) == "table" and (type(raw.data) == "table" and raw.data or raw) or {}
  local word = d.status
  if word ~= "FAILED" and word ~= "LOST" then
    -- Done, but some lines were rejected: the Job says so, once.
    local r = d.result
    local n = type(r) == "table" and tonumber(r.total_failure) or nil
    if job and mediarithmics.statuses[word] == V.DONE and n and n > 0 then
      local uri = type(r.error_file_uri) == "string" and r.error_file_uri or nil
      local first = job.rejected == nil
      job.rejected = {count = math.tointeger(n) or n, error_file_uri = uri}
      if first then
        log.warn("mediarithmics: execution %s of import %s %s, but rejected %d line(s) of %s%s", tostring(job.id),
          tostring(job.ref and job.ref.import), tostring(word), n, tostring((tonumber(r.total_success) or 0) + n),
          uri and ("; the rejected lines are in " .. uri) or "")
      end
    end
    return word
  end
  local parts = {}
  local e = d.error
  if type(e) == "table" then
    e = e.message or e.error or json.encode(e)
  end
  if e ~= nil and e ~= json.null and e ~= "" then parts[#parts + 1] = tostring(e) end
  local r = d.result
  if type(r) == "table" and (r.total_success ~= nil or r.total_failure ~= nil) then
    local text = string.format("%s line(s) accepted, %s rejected", tostring(r.total_success or 0), tostring(r.total_failure or 0))
    if type(r.error_file_uri) == "string" then text = text .. "; errors in " .. r.error_file_uri end
    parts[#parts + 1] = text
  end
  return word, #parts > 0 and table.concat(parts, "; ") or ("the execution ended " .. tostring(word))
end

local function exec_path(job) return executions_path(job.ref.datamart, job.ref.import) .. "/" .. job.id end

function exec_job.refresh(c, job)
  local res = c:request("GET", exec_path(job))
  local raw = c:json(res)
  data_of(raw, "GET " .. exec_path(job))
  return raw, res.headers
end

-- The execution's status word read now (nil, error when it cannot be read).
local function reread(c, job)
  local ok, raw = pcall(exec_job.refresh, c, job)
  if not ok then return nil, raw end
  V.apply_status(job, raw)
  return job.vendor_status
end

--- POST .../action {"action": "CANCEL"}. The action is not repeated blindly:
--- when its answer is lost, or mediarithmics refuses it (400: the execution
--- is no longer running, perhaps cancelled by the first attempt), the
--- execution is read again and its state decides.
function exec_job.cancel(c, job)
  local path = exec_path(job) .. "/action"
  for attempt = 1, 3 do
    local ok, res = pcall(c.request, c, "POST", path, {json = {action = "CANCEL"}, ok = {[400] = true}})
    if ok and res.status < 400 then
      local okj, decoded = pcall(c.json, c, res)
      if okj and type(decoded) == "table" and type(decoded.data) == "table" then V.apply_status(job, decoded) end
      return
    end
    local err = ok and mediarithmics.response_error(res, "POST", path) or res
    if not ok and not V.outcome_unknown(err) then error(err, 0) end
    -- The first answer was lost, or the execution had ended: read the outcome.
    local word, why = reread(c, job)
    if word == "CANCELED" then
      log.info("mediarithmics: execution %s is CANCELED%s", tostring(job.id),
        ok and " (it was already)" or " (the answer to the cancel was lost)")
      return
    end
    if word == nil then
      V.raise("mediarithmics", type(why) == "table" and why.kind or "network", string.format(
        "cancelling execution %s: %s, and reading it again failed too (%s); it may be cancelled: check it with job:refresh()",
        tostring(job.id), tostring(err.message), type(why) == "table" and tostring(why.message) or tostring(why)))
    end
    if job.status == V.DONE or job.status == V.FAILED then
      if ok then error(err, 0) end
      V.raise("mediarithmics", "http", string.format("execution %s ended %s before it could be cancelled",
        tostring(job.id), tostring(word)), {code = word, retryable = false})
    end
    if ok then error(err, 0) end
    log.warn("mediarithmics: the answer to cancelling execution %s was lost and it is still %s; asking again",
      tostring(job.id), tostring(word))
  end
  V.raise("mediarithmics", "network", string.format("could not cancel execution %s: every answer was lost; "
    .. "it is %s", tostring(job.id), tostring(job.vendor_status)))
end

--- The execution's final record (data), as JSON.
function exec_job.download(c, job, path)
  -- The output is opened first (a path that cannot be written fails before
  -- the download); its temporary file is removed by a rerun if this run is killed.
  local out <close> = moonport.file_writer(path)
  local decoded = c:call("GET", exec_path(job))
  local d = data_of(decoded, "GET " .. exec_path(job))
  V.apply_status(job, decoded)
  out:write(json.encode(d, {pretty = true, sort_keys = true}) .. "\n")
  return {path = path, bytes = out:close(), rows = 1}
end

--- data.result: {total_success, total_failure, error_file_uri}.
function exec_job.result(c, job)
  local raw = job.raw
  if not (type(raw) == "table" and type(raw.data) == "table" and mediarithmics.statuses[raw.data.status] == V.DONE) then
    raw = c:call("GET", exec_path(job))
    data_of(raw, "GET " .. exec_path(job))
    V.apply_status(job, raw)
  end
  return raw.data.result
end


--- The executions of an import created since `since` (all when nil), newest
--- first, at most `limit`, as decoded tables; and, with `flag`, why the
--- listing could not be read whole (else that raises). mediarithmics'
--- documentation does not say in which order it lists executions: older
--- ones are skipped, not taken as the end, and paging stops early (at the
--- first older one, or at `limit`) only once the listing has shown itself
--- newest first.
local function list_executions(c, imp, since, limit, flag)
  local out, order = {}, 0
  local newest_first, last_created = nil, nil
  local short = each_page(c, executions_path(imp.datamart_id, imp.id), function(d)
    if type(d) ~= "table" then
      V.raise("mediarithmics", "validation", "GET " .. executions_path(imp.datamart_id, imp.id)
        .. " listed an execution that is not an object")
    end
    local created = seconds_of(d.creation_date)
    if created ~= nil then
      if last_created ~= nil then
        if created > last_created then newest_first = false
        elseif newest_first == nil and created < last_created then newest_first = true end
      end
      last_created = created
    end
    if since and created and created < since then
      return newest_first == true
    end
    order = order + 1
    out[#out + 1] = {d = d, created = created, order = order}
    if limit and #out >= limit and newest_first == true then return true end
  end, flag)
  -- Newest first whatever the service's order (undated ones last, as listed).
  table.sort(out, function(a, b)
    if a.created and b.created and a.created ~= b.created then return a.created > b.created end
    if (a.created ~= nil) ~= (b.created ~= nil) then return a.created ~= nil end
    return a.order < b.order
  end)
  local list = {}
  for i, e in ipairs(out) do
    if limit and i > limit then break end
    list[i] = e.d
  end
  return list, short
end

--- The executions of an import, newest first, as Jobs (kind "documents",
--- raw = {status = "ok", data = execution}). Also
--- `mediarithmics.executions(import, opts)`.
--- Raises kind = "validation" for a bad import or option, or a listing
--- that cannot be read whole (mediarithmics ignores first_result).
---@param import {id: string|integer, datamart_id: string|integer, mime_type?: string}  an import, as document_import returns it
---@param opts? {since?: number, limit?: integer}  since: only the executions created since then (seconds since 1970); limit: at most that many (the newest)
---@return moonport.Job[] jobs
function Client:executions(import, opts)
  local w = where("executions")
  local imp = check_import(w, import)
  if opts ~= nil then args.check(w, "argument #2 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {since = true, limit = true})
  local since = args.check(w, "option 'since'", opts.since, "number", true)
  local limit = args.check(w, "option 'limit'", opts.limit, "integer", true)
  local out = {}
  for i, d in ipairs((list_executions(self, imp, since, limit))) do
    out[i] = self:job("documents", tostring(d.id), {datamart = imp.datamart_id, import = imp.id},
      {status = "ok", data = d})
  end
  return json.array(out)
end

---------------------------------------------------------------------------
-- submit: parts of at most max_part_bytes, one execution each
---------------------------------------------------------------------------

-- Executions this process has created or adopted (import/id@creation): a
-- lost answer is never matched to another part's execution.
local claimed = {}
local function claim_key(import, d)
  return tostring(import) .. "/" .. tostring(d.id) .. "@" .. tostring(d.creation_date)
end

local function blank(line) return line:find("^[ \t]*\r?\n?$") ~= nil end

-- Lines of a record as the vendor counts them (non-blank physical lines).
local function physical_lines(text)
  local nl = text:find("\n", 1, true)
  if nl == nil or nl == #text then return 1 end
  local n = 0
  for l in text:gmatch("([^\n]*)\n") do if not blank(l) then n = n + 1 end end
  return n
end

--- One CSV field (RFC 4180 quoting).
local function csv_field(w, v, row, col)
  if v == nil or v == json.null then return "" end
  local t = type(v)
  if t == "number" then
    return math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif t == "boolean" then return tostring(v)
  elseif t ~= "string" then
    V.raise("mediarithmics", "validation", string.format("%s: row %d, column %s must be a string, number or boolean, got a %s",
      w.fname, row, tostring(col), t))
  end
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local function csv_line(w, fields, row)
  local out = {}
  for i, f in ipairs(fields) do out[i] = csv_field(w, f, row, i) end
  return table.concat(out, ",") .. "\n"
end

--- Records of a file, streamed: NDJSON lines, or CSV records (a record may
--- span lines inside quotes). Returns next_record, header (CSV), close.
local function file_records(w, path, format)
  local f = io.open(path, "rb")
  if not f then V.raise("mediarithmics", "validation", string.format("%s: cannot read '%s'", w.fname, path)) end
  local lines = f:lines("L")
  local closed, line_number = false, 0
  local function close() if not closed then closed = true; f:close() end end
  local function next_line()
    if closed then return nil end
    local line = lines()
    if line == nil then close() else line_number = line_number + 1 end
    return line
  end
  local next_record
  if format == "ndjson" then
    next_record = function()
      while true do
        local line = next_line()
        if line == nil then return nil end
        if not blank(line) then return line:sub(-1) == "\n" and line or (line .. "\n") end
      end
    end
  else
    next_record = function()
      local parts, quotes, size, first = {}, 0, 0, nil
      while true do
        local line = next_line()
        if line == nil then break end
        if #parts > 0 or not blank(line) then
          parts[#parts + 1] = line
          first = first or line_number
          size = size + #line
          local _, q = line:gsub('"', "")
          quotes = quotes + q
          if quotes % 2 == 0 then break end
          -- An unclosed quote would otherwise swallow the rest of the file.
          if size > mediarithmics.max_part_bytes then
            V.raise("mediarithmics", "validation", string.format("%s: '%s' line %d: a quoted field is not closed "
              .. "within %d bytes (max_part_bytes)", w.fname, path, first, mediarithmics.max_part_bytes))
          end
        end
      end
      if #parts == 0 then return nil end
      local text = table.concat(parts)
      return text:sub(-1) == "\n" and text or (text .. "\n")
    end
  end
  local header
  if format == "csv" then
    local ok, h = pcall(next_record)
    if not ok then close(); error(h, 0) end
    header = h
  end
  return next_record, header, close
end

--- Records of a list or an iterator, as text lines. For CSV: rows are lists
--- (the first is the header unless opts.header is given) or records keyed by
--- column (columns: opts.header, or the sorted keys of the first record).
local function item_records(w, next_item, format, header_names)
  local n = 0
  if format == "ndjson" then
    return function()
      local item = next_item()
      if item == nil then return nil end
      n = n + 1
      if type(item) == "table" then
        local ok, text = pcall(json.encode, item)
        if not ok then
          V.raise("mediarithmics", "validation", string.format("%s: record %d cannot be encoded as JSON: %s", w.fname, n,
            type(text) == "table" and text.message or tostring(text)))
        end
        return text .. "\n"
      elseif type(item) == "string" then
        if item:find("[\r\n]") then
          V.raise("mediarithmics", "validation", string.format("%s: record %d is a string with a line break; give tables, "
            .. "or strings of one JSON line each", w.fname, n))
        end
        return item .. "\n"
      end
      V.raise("mediarithmics", "validation", string.format("%s: record %d must be a table (or a JSON line), got a %s",
        w.fname, n, type(item)))
    end, nil
  end
  -- CSV
  local columns = header_names
  local first = next_item()
  if first == nil then return function() return nil end, nil end
  local pending = first
  local header
  if columns == nil then
    args.check(w, "row 1", first, "table")
    if #first > 0 then
      columns, pending = {}, nil
      for i, v in ipairs(first) do columns[i] = csv_field(w, v, 1, i) end
      header = table.concat(columns, ",") .. "\n"
      columns = first
    else
      columns = {}
      for k in pairs(first) do
        if type(k) ~= "string" then
          V.raise("mediarithmics", "validation", w.fname .. ": row 1 is a record whose keys must be column names (strings)")
        end
        columns[#columns + 1] = k
      end
      table.sort(columns)
    end
  end
  if header == nil then header = csv_line(w, columns, 0) end
  local known = {}
  for _, name in ipairs(columns) do known[name] = true end
  local row = header_names == nil and pending == nil and 1 or 0
  local function encode(item)
    row = row + 1
    if type(item) ~= "table" then
      V.raise("mediarithmics", "validation", string.format("%s: row %d must be a table (a list of fields or a record), got a %s",
        w.fname, row, type(item)))
    end
    if #item > 0 then
      if #item ~= #columns then
        V.raise("mediarithmics", "validation", string.format("%s: row %d has %d fields but the header has %d columns",
          w.fname, row, #item, #columns))
      end
      return csv_line(w, item, row)
    end
    for k in pairs(item) do
      if not known[k] then
        V.raise("mediarithmics", "validation", string.format("%s: row %d has a field '%s' that is not a column (columns: %s)",
          w.fname, row, tostring(k), table.concat(columns, ", ")))
      end
    end
    local fields = {}
    for i, name in ipairs(columns) do
      local v = item[name]
      fields[i] = csv_field(w, v, row, name)
    end
    return table.concat(fields, ",") .. "\n"
  end
  return function()
    local item
    if pending ~= nil then item, pending = pending, nil else item = next_item() end
    if item == nil then return nil end
    return encode(item)
  end, header
end

--- The execution a lost upload created: created since t0 (less the clock
--- skew), with the part's number of lines (a CSV part: with or without its
--- header line) and size where shown, not claimed. Returns it; nil when
--- surely none was made; nil, UNSURE when the listing cannot tell.
local function find_execution(c, imp, t0, index, lines, bytes, csv)
  local since = t0 - mediarithmics.clock_skew
  local list, short = list_executions(c, imp, since, nil, true)
  local fits, unknown = {}, 0
  for i = #list, 1, -1 do  -- the oldest first: the one closest to the attempt
    local d = list[i]
    local j = {id = tostring(d.id), raw = {status = "ok", data = d}}
    if not claimed[claim_key(imp.id, d)] then
      local p = type(d.parameters) == "table" and d.parameters or {}
      local n = tonumber(p.number_of_lines)
      if n == nil then
        unknown = unknown + 1
      elseif (n == lines or (csv and n == lines + 1))
        and (tonumber(p.file_size) == nil or tonumber(p.file_size) == bytes) then
        fits[#fits + 1] = {id = j.id, raw = j.raw}
      end
    end
  end
  if #fits == 1 and unknown == 0 and not short then return fits[1] end
  if #fits == 0 and unknown == 0 and not short then return nil end
  if short and unknown == 0 and #fits <= 1 then
    return nil, string.format("mediarithmics' listing of the executions of import %s (datamart %s) could not be read "
      .. "whole (%s); check its executions created since %s for one of %d line(s)%s before you send part %d again",
      imp.id, imp.datamart_id, short, os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(since)), lines,
      #fits == 1 and (" (execution " .. fits[1].id .. " fits)") or "", index)
  end
  return nil, string.format("%s of import %s (datamart %s) created since %s fit a part of %d line(s)%s; check them "
    .. "(mediarithmics.executions(import, {since = %d})) and the data they hold before you send part %d again",
    #fits > 1 and (#fits .. " executions") or (unknown .. " execution(s) without a number of lines"), imp.id,
    imp.datamart_id, os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(since)), lines,
    csv and " (with or without the CSV header)" or "", math.floor(since), index)
end

--- Sends one part file as one execution, exactly once; returns its Job.
local function send_part(c, imp, tmp, index, bytes, lines)
  local path = executions_path(imp.datamart_id, imp.id)
  local created = V.create{
    vendor = "mediarithmics", what = string.format("execution of part %d (%d lines) of import %s", index, lines, imp.id),
    key = string.format("execution %s/%s part %d %d bytes %d lines", imp.datamart_id, imp.id, index, bytes, lines),
    send = function()
      local decoded = c:call("POST", path, {body_file = tmp, headers = {["Content-Type"] = content_types[imp.mime_type]}})
      local d = type(decoded) == "table" and decoded.data or nil
      if type(d) ~= "table" or d.id == nil then
        V.raise("mediarithmics", "validation", "POST " .. path .. " answered without data.id")
      end
      return {id = tostring(d.id), raw = decoded}
    end,
    find = function(_, t0) return find_execution(c, imp, t0, index, lines, bytes, imp.mime_type == "TEXT_CSV") end,
  }
  claimed[claim_key(imp.id, created.raw.data)] = true
  log.debug("mediarithmics: part %d (%d lines, %d bytes) is execution %s", index, lines, bytes, created.id)
  return c:job("documents", created.id, {datamart = imp.datamart_id, import = imp.id, part = index,
    lines = lines, bytes = bytes}, created.raw)
end

--- Raises validation when one record (with the CSV header) is more than a part can carry.
local function check_size(w, n, text, header, max)
  if (header and #header or 0) + #text > max then
    V.raise("mediarithmics", "validation", string.format("%s: record %d is %d bytes%s, more than a part can carry "
      .. "(max_part_bytes = %d)", w.fname, n, #text, header and " with the header" or "", max))
  end
end

--- Cuts the records into part files of at most max_part_bytes (the CSV
--- header repeated at the top of each) and sends each as it is complete.
local function send_parts(w, c, imp, next_record, header, close)
  local max = mediarithmics.max_part_bytes
  local hbytes = header and #header or 0
  local jobs = {}
  local tmp, f, bytes, lines, index = nil, nil, 0, 0, 0
  local function open_part()
    tmp = os.tmpname()
    local why
    f, why = io.open(tmp, "wb")
    if not f then V.raise("mediarithmics", "usage", "could not write a temporary file " .. tostring(tmp) .. ": " .. tostring(why)) end
    if header then f:write(header) end
    bytes, lines = hbytes, 0
  end
  local function flush()
    f:close()
    f = nil
    index = index + 1
    jobs[#jobs + 1] = send_part(c, imp, tmp, index, bytes, lines)
    os.remove(tmp)
    tmp = nil
  end
  local ok, e = pcall(function()
    local n = 0
    for text in next_record do
      n = n + 1
      check_size(w, n, text, header, max)
      if f and bytes + #text > max then flush() end
      if not f then open_part() end
      f:write(text)
      bytes, lines = bytes + #text, lines + physical_lines(text)
    end
    if f then flush() end
  end)
  if f then f:close() end
  if tmp then os.remove(tmp) end
  if close then close() end
  if not ok then error(e, 0) end
  if #jobs == 0 then log.warn("%s: there was nothing to send (no records)", w.fname) end
  return json.array(jobs)
end

--- Sends documents to an import (also `mediarithmics.submit`): the data is
--- cut into parts of at most mediarithmics.max_part_bytes (100 MB), each
--- sent as one execution, exactly once (a part whose answer was lost is
--- found among the import's executions and adopted; when they cannot tell,
--- an error says it may have been created and nothing is sent again), and
--- each a Job of
--- kind "documents". data: the path of an NDJSON or CSV file (streamed, never
--- read whole), a list, or an iterator function returning items: for an
--- NDJSON import, records (tables, encoded as JSON, or strings of one JSON
--- line each); for a CSV import, rows (lists, the first one the header
--- unless opts.header is given, or records keyed by column). Every CSV part
--- starts with the header line. The format is the import's mime_type;
--- opts.format (or the file's extension) must match it.
--- Raises kind = "validation" for a bad argument or option, a format that
--- does not match the import, or a record bigger than a part (a list is
--- checked whole before anything is sent). A SUCCEEDED execution that
--- rejected lines sets job.rejected = {count=, error_file_uri=} when polled.
---   local jobs = mediarithmics.submit("documents", import, "visits.ndjson")
---@param kind "documents"
---@param import {id: string|integer, datamart_id: string|integer, mime_type?: string}  an import, as document_import returns it
---@param data string|table|fun():table|string|nil  a file path, a list, or an iterator
---@param opts? {format?: "ndjson"|"csv", header?: string[]}  header: the CSV columns, for rows given as a list or an iterator
---@return moonport.Job[] jobs  one per part, in order (none when there was nothing to send)
function Client:submit(kind, import, data, opts)
  local w = where("submit")
  args.check(w, "argument #1 (kind)", kind, {documents = true})
  local imp = check_import(w, import)
  if type(data) ~= "string" and type(data) ~= "table" and type(data) ~= "function" then
    args.fail(w, "argument #3 (data)", "a list, an iterator function or a file path", args.got(data))
  end
  opts = args.options(w, 4, opts, {format = true, header = true})
  local format = args.check(w, "option 'format'", opts.format, {ndjson = true, csv = true}, true)
  if opts.header ~= nil then
    args.check(w, "option 'header'", opts.header, "list")
    if #opts.header == 0 then V.raise("mediarithmics", "validation", w.fname .. ": option 'header' must list the columns") end
    for i, name in ipairs(opts.header) do args.check(w, "header[" .. i .. "]", name, "string") end
    if type(data) == "string" then
      V.raise("mediarithmics", "validation", w.fname .. ": option 'header' is for rows given as a list or an iterator; "
        .. "a CSV file brings its own header line")
    end
  end
  local wanted = format and mime_of_format[format]
  if type(data) == "string" then
    local f = io.open(data, "rb")
    if not f then V.raise("mediarithmics", "validation", string.format("%s: cannot read '%s'", w.fname, data)) end
    f:close()
    local ext = (data:match("%.csv$") and "csv") or ((data:match("%.ndjson$") or data:match("%.jsonl$")) and "ndjson")
    if format and ext and ext ~= format then
      V.raise("mediarithmics", "validation", string.format("%s: '%s' looks like %s, but format = \"%s\"", w.fname, data, ext, format))
    end
    wanted = wanted or (ext and mime_of_format[ext])
  end
  if imp.mime_type and wanted and wanted ~= imp.mime_type then
    V.raise("mediarithmics", "validation", string.format("%s: format \"%s\" does not match the import's mime_type %s "
      .. "(give format = \"%s\")", w.fname, formats[wanted], imp.mime_type, formats[imp.mime_type]))
  end
  if opts.header ~= nil and (wanted or imp.mime_type) == "APPLICATION_X_NDJSON" then
    V.raise("mediarithmics", "validation", w.fname .. ": option 'header' is for CSV imports")
  end
  -- A list is checked whole before anything is sent.
  if type(data) == "table" and (imp.mime_type or wanted) then
    local i = 0
    local next_record, header = item_records(w, function() i = i + 1; return data[i] end, formats[imp.mime_type or wanted],
      opts.header)
    local n = 0
    for text in next_record do
      n = n + 1
      check_size(w, n, text, header, mediarithmics.max_part_bytes)
    end
  end
  if imp.mime_type == nil then
    -- A hand-made import table: ask the vendor for its mime_type.
    local get = imports_path(imp.datamart_id) .. "/" .. imp.id
    local d = data_of(self:call("GET", get), "GET " .. get)
    imp.mime_type = d.mime_type
    if not mime_types[imp.mime_type or false] then
      V.raise("mediarithmics", "validation", string.format("%s: import %s has the mime_type %s, which moonport does not know",
        w.fname, imp.id, tostring(imp.mime_type)))
    end
    if wanted and wanted ~= imp.mime_type then
      V.raise("mediarithmics", "validation", string.format("%s: format \"%s\" does not match the import's mime_type %s "
        .. "(give format = \"%s\")", w.fname, formats[wanted], imp.mime_type, formats[imp.mime_type]))
    end
  end
  format = formats[imp.mime_type]
  local next_record, header, close
  if type(data) == "string" then
    next_record, header, close = file_records(w, data, format)
  elseif type(data) == "table" then
    local i = 0
    next_record, header = item_records(w, function() i = i + 1; return data[i] end, format, opts.header)
  else
    next_record, header = item_records(w, data, format, opts.header)
  end
  return send_parts(w, self, imp, next_record, header, close)
end

--- Cancels an execution (POST .../executions/{id}/action {"action":
--- "CANCEL"}) and refreshes it: the same as `job:cancel()`. Also
--- `mediarithmics.cancel(job)`. When the answer is lost or mediarithmics
--- refuses (400), the execution is read again: one that is CANCELED (by
--- this request, or an earlier one) counts as cancelled; one still running
--- is asked again; mediarithmics' 400 for one that has ended otherwise is raised.
--- Raises kind = "validation" when `job` is not a Job.
---@param job moonport.Job  an execution (kind "documents")
---@return moonport.Job job  the job, refreshed
function Client:cancel(job)
  if getmetatable(job) ~= V.Job then
    args.fail(where("cancel"), "argument #1 (job)", "a Job", args.got(job))
  end
  return job:cancel()
end

mediarithmics._expose{"document_import", "document_imports", "executions", "submit", "poll", "download", "cancel"}

return mediarithmics
