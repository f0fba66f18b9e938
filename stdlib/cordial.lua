--- cordial: Cordial's export jobs, as Cordial's API documentation describes
--- them (the Audience Trends export API, and the jobs resource).
---
---   local cordial = require "cordial"
---   local job = cordial.export("audience_trends", {name = "trends-2024-q1", audiences = {"VIP customers"},
---                                                  start = "2024-01-01", stop = "2024-03-31"})
---   job:wait()                                  -- Scheduled, Pending, Throttled, Processing -> Done | Failed
---   -- No destination (or {type = "aws"}): the file is on the Jobs page of Cordial's UI, kept 30 days.
---   local dest = {type = "s3", aws_bucket = "my-exports", aws_region = "us-east-1", path = "cordial",
---                 aws_access_key_id = os.getenv("AWS_ACCESS_KEY_ID"), aws_secret_access_key = os.getenv("AWS_SECRET_ACCESS_KEY")}
---   local job = cordial.export("audience_trends", {name = "trends-2024-q2", audiences = {"VIP customers"},
---                                                  start = "2024-04-01", stop = "2024-06-30", destination = dest})
---   job:download("trends.csv")                  --> {path=, bytes=, rows=}  (s3 destinations only)
---   local job = cordial.export("contacts", {name = "contacts-2024-05", export_type = "csv", destination = dest,
---                                           fields = {"email", "first_name"}, lists = {"VIP customers"},
---                                           show_header = true, compress = false})
---   cordial.job(id)                             --> a Job from its id (GET /v2/jobs/{id})
---   cordial.jobs{job_name=, status=, page=, per_page=}  --> Jobs (every page unless page is given)
---
--- Credentials: CORDIAL_API_KEY (HTTP Basic: the key as user name, an empty
--- password); CORDIAL_BASE_URL (https://api.cordial.io; usw2 accounts:
--- https://api.usw2.cordial.io).
---
--- The destination table uses Cordial's own field names (type = aws | ftp |
--- sftp | s3 | gcs, in upper or lower case, sent as given; server, port,
--- username, password, savedKey, path, aws_access_key_id,
--- aws_secret_access_key, aws_bucket, aws_region, gcs_bucket), plus
--- `endpoint`, kept by moonport and not sent: the S3 endpoint to read an s3
--- export back from (else CORDIAL_S3_ENDPOINT, MOONPORT_SIM_S3_URL under
--- --sandbox, else https://BUCKET.s3.REGION.amazonaws.com). Without a
--- destination, or with {type = "aws"}, the file stays on the Jobs page of
--- Cordial's UI (kept 30 days). The destination is kept in job.ref (with its
--- keys: the state database is private to you, mode 0600) so that a rerun can
--- read the file back; its secrets never appear in tostring(job), errors or logs.
---
--- Cordial has no download API: the file goes to the destination. download
--- reads it back from s3 destinations (S3 GetObject signed with the
--- destination's keys); for the other types it raises kind = "usage" saying
--- where the file went. Cordial jobs cannot be cancelled.
---
--- Exactly once: before an export is sent, the ids of the jobs already named
--- so are noted; if the answer is lost, the one job with the export's name
--- that is not among them, started after the attempt began (120 s of clock
--- skew allowed) or not started yet, and not claimed by this process is
--- adopted. "No job of that name" counts as "not made" only once the job
--- list has been seen, in this run, to find a job by its name: one of this
--- run's exports, or one of the account's earlier jobs (the first page of
--- the list names it, and the list asked for that name shows it); Cordial's
--- documentation does not describe the list. When Cordial's job list cannot
--- tell (no names in it, no such listing, one that cannot be read whole, one
--- not seen to find any job by its name, several candidates) nothing is
--- sent again: the error says the export may have been created and to look
--- for it on the Jobs page of Cordial's UI. Export names should be unique
--- per export.
local V = require "moonport.vendor"
local args = require "moonport.args"
local P = require "moonport.paging"
local json = require "json"
local http = require "http"
local log = require "log"
local dates = require "dates"

-- The kinds of Job of cordial (their functions are defined below).
local export_job = {}

--- A Cordial client, made by `cordial.client{api_key=, base_url=, timeout=}`;
--- its methods are the module's functions.
---@class cordial.Client: moonport.Client
local cordial, Client = V.define{
  name = "cordial",
  base_env = "CORDIAL_BASE_URL",
  default_base = "https://api.cordial.io",
  credentials = {
    {field = "api_key", env = "CORDIAL_API_KEY", what = "API key"},
  },
  auth = function(c) return {basic = {c:credential("api_key"), ""}} end,
  -- {error: true, errorKey, message}
  code_and_message = function(b)
    if type(b) ~= "table" then return nil end
    local key = b.errorKey or b.error_key
    local message = b.message
    if message == nil and type(b.error) == "string" then message = b.error end
    return type(key) == "string" and key or nil, type(message) == "string" and message or nil
  end,
  statuses = {
    Scheduled = "queued", Pending = "queued", Throttled = "queued",
    Processing = "running", Done = "done", Failed = "failed",
  },
  jobs = {audience_trends = export_job, contacts = export_job, default = export_job},
}

--- The largest per_page cordial.jobs accepts.
---@type integer
cordial.max_per_page = 1000
--- How far behind ours the vendor's clock may be (seconds), when the job a
--- lost export made is looked up by its start time.
---@type number
cordial.clock_skew = 120
--- How long Cordial keeps a file on the Jobs page of its UI (days).
---@type integer
cordial.ui_days = 30

local function where(fname) return {vendor = "cordial", fname = "cordial." .. fname} end

local function seg(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

--- A date or date-time the user gave (2024-01-31, 2024-01-31T12:00:00Z) -> seconds since 1970, or nil.
local function user_date(s)
  local mo, d, rest = s:match("^%d%d%d%d%-(%d%d)%-(%d%d)(.*)$")
  if not mo or tonumber(mo) < 1 or tonumber(mo) > 12 or tonumber(d) < 1 or tonumber(d) > 31 then return nil end
  local h, mi, sec = rest:match("^[T ](%d%d):(%d%d):?(%d?%d?)")
  if h and (tonumber(h) > 23 or tonumber(mi) > 59 or (tonumber(sec) or 0) > 60) then return nil end
  return (dates.read(s))
end

---------------------------------------------------------------------------
-- Destinations
---------------------------------------------------------------------------

local destination_types = {aws = true, ftp = true, sftp = true, s3 = true, gcs = true}
local destination_fields = {type = true, server = true, port = true, username = true, password = true,
  savedKey = true, path = true, aws_access_key_id = true, aws_secret_access_key = true, aws_bucket = true,
  aws_region = true, gcs_bucket = true, endpoint = true}

local function nonempty(w, name, v, t)
  if v == nil then
    V.raise("cordial", "validation", string.format("%s: %s is required for type %s", w.fname, name, t))
  end
  args.check(w, name, v, "string")
  if v == "" then V.raise("cordial", "validation", w.fname .. ": " .. name .. " must not be empty") end
end

--- The destination's type in lower case ("aws" when there is no destination).
local function type_of(d) return type(d) == "table" and type(d.type) == "string" and d.type:lower() or "aws" end

--- Checks a destination (nothing of a secret is ever echoed); returns the
--- body's copy (without `endpoint`, which is moonport's, not Cordial's) and
--- the copy kept in job.ref; nil, nil when there is none (the UI's Jobs page).
local function check_destination(w, d)
  if d == nil then return nil, nil end
  args.check(w, "field 'destination'", d, "table")
  args.check_known(w, "destination field", d, destination_fields)
  for k, v in pairs(d) do
    if k == "port" then
      if math.type(v) ~= "integer" and type(v) ~= "string" then args.check(w, "destination.port", v, "integer") end
    else
      args.check(w, "destination." .. k, v, "string")
    end
  end
  if d.type == nil then V.raise("cordial", "validation", w.fname .. ": destination.type is required") end
  local t = d.type:lower()
  if not destination_types[t] then
    V.raise("cordial", "validation", string.format("%s: destination.type must be one of aws, ftp, gcs, s3, sftp "
      .. "(in upper or lower case), got '%s'", w.fname, d.type))
  end
  if t == "s3" then
    for _, k in ipairs{"aws_access_key_id", "aws_secret_access_key", "aws_bucket", "aws_region"} do
      nonempty(w, "destination." .. k, d[k], d.type)
    end
    local b = d.aws_bucket
    if #b < 3 or #b > 63 or b:find("[^a-z0-9%.%-_]") then
      V.raise("cordial", "validation", string.format("%s: destination.aws_bucket must be an S3 bucket name "
        .. "(3 to 63 lower-case letters, digits, dots, dashes and underscores), got '%s'", w.fname, b))
    end
    if d.path and d.path:sub(-1) == "/" then
      log.warn("%s: destination.path '%s' ends with '/': Cordial's documentation recommends leaving the trailing "
        .. "slash out (Cordial adds one before the file name, so the file goes to '%sNAME.csv')", w.fname, d.path,
        d.path:gsub("^/+", "") .. "/")
    end
  elseif t == "ftp" or t == "sftp" then
    nonempty(w, "destination.server", d.server, d.type)
    nonempty(w, "destination.username", d.username, d.type)
    if (d.password or "") == "" and (d.savedKey or "") == "" then
      V.raise("cordial", "validation", w.fname .. ": destination.password or destination.savedKey is required for type " .. d.type)
    end
    if d.port == nil then
      V.raise("cordial", "validation", w.fname .. ": destination.port is required for type " .. d.type)
    end
    local p = math.tointeger(tonumber(d.port))
    if not p or p < 1 or p > 65535 then
      V.raise("cordial", "validation", w.fname .. ": destination.port must be a port number (1 to 65535, a number or a numeric string)")
    end
  elseif t == "gcs" then
    nonempty(w, "destination.gcs_bucket", d.gcs_bucket, d.type)
  end
  if d.path ~= nil then
    for part in d.path:gmatch("[^/]+") do
      if part == "." or part == ".." then
        V.raise("cordial", "validation", w.fname .. ": destination.path must be a path without . or .. parts")
      end
    end
  end
  if d.endpoint ~= nil and not d.endpoint:match("^https?://") then
    V.raise("cordial", "validation", w.fname .. ": destination.endpoint must be an http(s) URL")
  end
  local body, kept = {}, {}
  for k, v in pairs(d) do
    kept[k] = v
    if k ~= "endpoint" then body[k] = v end
  end
  return json.object(body), kept
end

-- The folder of an FTP, SFTP or GCS destination, without leading, trailing or doubled slashes.
local function folder(d)
  local parts = {}
  for part in tostring(d.path or ""):gmatch("[^/]+") do parts[#parts + 1] = part end
  return table.concat(parts, "/")
end

--- Whether the last part of a path names a file (it has a file extension),
--- as in Cordial's "path to folder and file" of an S3 destination.
local function names_file(segment)
  local s = segment:lower()
  for _, ext in ipairs{".csv", ".json", ".txt", ".gz", ".zip"} do
    if #s > #ext and s:sub(-#ext) == ext then return true end
  end
  return false
end

--- The S3 key of an export: an S3 `path` is "folder and file" or a folder
--- (Cordial adds "/" and the file's name; a trailing slash doubles it).
local function s3_key(d, file)
  local p = tostring(d.path or ""):gsub("^/+", "")
  local last = p:match("([^/]+)$")
  if p:sub(-1) ~= "/" and last and (names_file(last) or last == file) then return p, last end
  if p == "" then return file, file end
  return p .. "/" .. file, file
end

--- The S3 keys an export's file may have, the likeliest first (each with
--- the file's name): Cordial's documentation calls an S3 path "path to
--- folder and file" and shows both "/folder/contactsExport.csv" and
--- "folder", so the path may be the folder (Cordial adds the file's name)
--- or the file itself.
local function s3_keys(d, file)
  local out, seen = {}, {}
  local function add(key, base)
    if key ~= nil and key ~= "" and not seen[key] then seen[key] = true; out[#out + 1] = {key = key, file = base} end
  end
  add(s3_key(d, file))
  local p = tostring(d.path or ""):gsub("^/+", "")
  local last = p:match("([^/]+)$")
  if p:sub(-1) ~= "/" and last then
    add(p, last)
    add(p .. "/" .. file, file)
  end
  return out
end

--- Where an export's file went, shown to the user: s3://bucket/key,
--- sftp://server:port/path/file, gcs://bucket/path/file (no secrets).
local function location(d, file)
  local t = type_of(d)
  if t == "s3" then return "s3://" .. tostring(d.aws_bucket) .. "/" .. (s3_key(d, file or "FILE")) end
  local dir = folder(d)
  local tail = (dir ~= "" and (dir .. "/") or "") .. (file or "FILE")
  if t == "gcs" then return "gcs://" .. tostring(d.gcs_bucket) .. "/" .. tail end
  return string.format("%s://%s%s/%s", t, tostring(d.server), d.port and (":" .. tostring(d.port)) or "", tail)
end

---------------------------------------------------------------------------
-- Jobs
---------------------------------------------------------------------------

local kinds_by_type = {audiencetrendsexport = "audience_trends", contactexports = "contacts"}

-- GET /v2/jobs/{id} gives the job; accept it wrapped in a list, {job = ...} or {data = ...} too.
local function unwrap(raw)
  if type(raw) ~= "table" then return {} end
  if type(raw.job) == "table" then return raw.job end
  if type(raw.data) == "table" and raw.data[1] == nil and raw.status == nil then return raw.data end
  if raw[1] ~= nil and type(raw[1]) == "table" then return raw[1] end
  return raw
end

-- A job's id, name and start time, whatever the listing calls them.
local function id_of(j)
  local id = j._id or j.id or j.jobId or j.job_id
  if id == nil or id == json.null then return nil end
  return tostring(id)
end
local function name_of(j)
  local n = j.jobName or j.job_name or j.name
  return type(n) == "string" and n or nil
end
local function started_of(j)
  local times = type(j.times) == "table" and j.times or {}
  return (dates.read(times.start or j.startedAt or j.started_at or j.createdAt or j.created_at or j.created))
end

-- Cordial's status word, matched without regard to case (DONE is Done).
local canonical = {}
for w in pairs(cordial.statuses) do canonical[w:lower()] = w end


function export_job.status_of(raw)
  local j = unwrap(raw)
  local word = j.status
  if type(word) == "string" then word = canonical[word:lower()] or word end
  local message
  if word == "Failed" then
    local r = type(j.result) == "table" and j.result or {}
    message = r.error or r.message or j.error or j.message or "the export failed"
    if type(message) ~= "string" then message = json.encode(message) end
  end
  return word, message
end

function export_job.refresh(c, job)
  local res = c:request("GET", "/v2/jobs/" .. seg(job.id))
  return unwrap(c:json(res)), res.headers
end

-- The file's name: metadata.fileName, or result.fileName.
local function file_name(raw)
  local j = unwrap(raw)
  local m = type(j.metadata) == "table" and j.metadata or {}
  local r = type(j.result) == "table" and j.result or {}
  local f = m.fileName or r.fileName
  return type(f) == "string" and f ~= "" and f or nil
end

-- An S3 XML error body -> code, message.
local function s3_error(body)
  body = body or ""
  return body:match("<Code>(.-)</Code>"), body:match("<Message>(.-)</Message>")
end

--- The S3 endpoint to read back from and the object's URL (path-style for an endpoint override).
local function s3_url(d, key)
  local encoded = key:gsub("[^/]+", seg)
  local endpoint = d.endpoint or os.getenv("CORDIAL_S3_ENDPOINT") or os.getenv("MOONPORT_SIM_S3_URL")
  if endpoint and endpoint ~= "" then
    return endpoint:gsub("/+$", "") .. "/" .. seg(d.aws_bucket) .. "/" .. encoded
  end
  return string.format("https://%s.s3.%s.amazonaws.com/%s", d.aws_bucket, d.aws_region or "us-east-1", encoded)
end

-- Data rows of the file read back (nil for a compressed one). An audience
-- trends file has a row per audience and a column per day.
local function count_rows(path, job, file)
  local j = unwrap(job.raw)
  local m = type(j.metadata) == "table" and j.metadata or {}
  local name = file or path
  if name:match("%.gz$") or name:match("%.zip$") then return nil end
  local t = m.exportType or name:match("%.(%w+)$")
  local header = job.ref.show_header ~= false and 1 or 0
  if t == "csv" then
    return header == 1 and V.count_csv_rows(path) or V.count_csv_rows(path) + 1
  end
  if t == "txt" then return math.max(0, V.count_lines(path) - header) end
  if t == "json" then return V.count_lines(path) end
  return nil
end

--- Reads the export back from an s3 destination: GetObject, signed
--- (SigV4) with the destination's keys.
local function download_s3(c, job, d, key, file, path)
  local where_to = "s3://" .. tostring(d.aws_bucket) .. "/" .. key
  local url = s3_url(d, key)
  local ok, res = pcall(http.request, {method = "GET", url = url, stream_to = path, raise = false, timeout = 3600,
    headers = {["User-Agent"] = V.user_agent},
    aws_sigv4 = {access_key = d.aws_access_key_id, secret_key = d.aws_secret_access_key,
      region = d.aws_region or "us-east-1", service = "s3"}})
  if not ok then
    local e = res
    if type(e) == "table" and e.kind then
      V.raise("cordial", e.kind, "reading back " .. where_to .. ": " .. http.redact(tostring(e.message)),
        {status = e.status, retryable = e.retryable, may_have_taken_effect = e.may_have_taken_effect})
    end
    V.raise("cordial", "network", "reading back " .. where_to .. ": " .. http.redact(tostring(e)))
  end
  if res.status >= 400 then
    if res.path then os.remove(res.path) end
    local code, message = s3_error(http.redact(res.body or ""))
    local kind = (res.status == 401 or res.status == 403) and "auth" or "http"
    local retryable, may_have_taken_effect = V.verdict(res.status)
    V.raise("cordial", kind, string.format("reading back %s: S3 answered %d%s: %s", where_to, res.status,
      code and (" " .. code) or "", message or "no message"), {status = res.status, code = code,
      retryable = retryable, may_have_taken_effect = may_have_taken_effect})
  end
  return {path = path, bytes = res.bytes or V.file_size(path), rows = count_rows(path, job, file)}
end

function export_job.download(c, job, path)
  local d = job.ref and job.ref.destination
  if job.ref == nil or job.ref.name == nil then
    local r = type(unwrap(job.raw).result) == "table" and unwrap(job.raw).result or {}
    V.raise("cordial", "usage", string.format("job %s was not started by this moonport: its destination is "
      .. "unknown, so the file cannot be read back%s", tostring(job.id),
      type(r.location) == "string" and ("; Cordial says it went to " .. r.location) or ""))
  end
  if job.raw == nil or file_name(job.raw) == nil then job:refresh() end
  -- Cordial's API documentation: `name` defines the export file's name.
  local file = file_name(job.raw) or (job.ref.name .. "." .. (job.ref.ext or "csv"))
  local t = type_of(d)
  if t == "aws" then
    V.raise("cordial", "usage", string.format("the export '%s' (job %s) went to Cordial's UI: download %s from the Jobs "
      .. "page of Cordial's UI (the icon at the top right of the application header), where Cordial keeps it %d days "
      .. "from the export; moonport can only read back s3 destinations", job.ref.name, tostring(job.id), file,
      cordial.ui_days))
  end
  if t ~= "s3" then
    V.raise("cordial", "usage", string.format("the export was delivered to %s; moonport can only read back "
      .. "s3 destinations", location(d, file)))
  end
  -- The path may name the folder or the file: a key that is not there (404) gives way to the next.
  local keys = s3_keys(d, file)
  for i, k in ipairs(keys) do
    local ok, r = pcall(download_s3, c, job, d, k.key, k.file, path)
    if ok then return r end
    if not (type(r) == "table" and r.status == 404 and i < #keys) then error(r, 0) end
    log.debug("cordial: s3://%s/%s is not there (404); trying s3://%s/%s", tostring(d.aws_bucket), k.key,
      tostring(d.aws_bucket), keys[i + 1].key)
  end
end

---------------------------------------------------------------------------
-- Listing jobs
---------------------------------------------------------------------------

local status_words = {}
for w in pairs(cordial.statuses) do status_words[w] = true end

--- One page of GET /v2/jobs: its jobs (a bare list, or a list under data,
--- jobs, items or results) and the total when the answer gives one.
local function jobs_page(c, query)
  local body = c:call("GET", "/v2/jobs", {query = query})
  local list = V.list("cordial", body, "GET /v2/jobs", {"data", "jobs", "items", "results"})
  local total
  if type(body) == "table" and body[1] == nil then
    total = tonumber(body.total or body.totalCount or body.total_count or body.totalItems)
  end
  return list, total
end

--- Every job of the listing for `query` (every page, whatever page size the
--- service serves), as decoded tables. A listing that cannot be read whole
--- (Cordial ignores page) raises kind = "validation"; with `flag` it ends
--- and the reason is the second value instead.
local function jobs_all(c, query, per, flag)
  local list, walk = P.all{size = per or 100, vendor = "cordial", what = "GET /v2/jobs",
    incomplete = flag and "flag" or nil, fetch = function(_, page, size)
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q.page, q.per_page = page, size
    return jobs_page(c, q)
  end}
  return list, walk.incomplete
end

--- Every job named `name`: the listing filtered by jobName (the caller
--- checks the name too, in case the service ignores the filter), and why
--- it could not be read whole, if so.
local function jobs_named(c, name)
  return jobs_all(c, {jobName = name}, nil, true)
end

local function as_job(c, raw, ref)
  local j = unwrap(raw)
  local id = id_of(j)
  if id == nil then
    V.raise("cordial", "validation", "GET /v2/jobs answered a job without an id (_id, id or jobId): "
      .. http.redact(json.encode(j)):sub(1, 200))
  end
  local kind = kinds_by_type[j.type] or "export"
  return c:job(kind, id, ref or {listed_name = name_of(j)}, j)
end

--- Cordial's jobs (GET /v2/jobs) as Jobs, newest first: every page, or
--- only page `opts.page` when it is given. `job_name` and `status` filter
--- the listing (and moonport filters again, in case Cordial does not).
--- Jobs listed this way have no destination, so their download raises
--- kind = "usage". Also `cordial.jobs(opts)`.
--- Raises kind = "validation" for an unknown option, an unknown status
--- word, a page < 1 or a per_page outside 1..1000.
---@param opts? {job_name?: string, status?: "Scheduled"|"Pending"|"Throttled"|"Processing"|"Done"|"Failed", page?: integer, per_page?: integer}  per_page: 100 by default
---@return moonport.Job[] jobs
function Client:jobs(opts)
  local w = where("jobs")
  if opts ~= nil then args.check(w, "argument #1 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {job_name = true, status = true, page = true, per_page = true})
  args.check(w, "option 'job_name'", opts.job_name, "string", true)
  args.check(w, "option 'status'", opts.status, status_words, true)
  local page = args.check(w, "option 'page'", opts.page, "integer", true)
  local per = args.check(w, "option 'per_page'", opts.per_page, "integer", true) or 100
  if page ~= nil and page < 1 then V.raise("cordial", "validation", w.fname .. ": page must be >= 1") end
  if per < 1 or per > cordial.max_per_page then
    V.raise("cordial", "validation", string.format("%s: per_page must be between 1 and %d", w.fname, cordial.max_per_page))
  end
  local query = {jobName = opts.job_name, status = opts.status}
  local list
  if page ~= nil then
    query.page, query.per_page = page, per
    list = jobs_page(self, query)
  else
    list = jobs_all(self, query, per)
  end
  local out = {}
  for _, raw in ipairs(list) do
    local n = name_of(raw)
    local s = type(raw.status) == "string" and (canonical[raw.status:lower()] or raw.status) or nil
    if (opts.job_name == nil or n == nil or n == opts.job_name) and (opts.status == nil or s == nil or s == opts.status) then
      out[#out + 1] = as_job(self, raw)
    end
  end
  return out
end

--- The job with this id (GET /v2/jobs/{id}) as a Job, its status read now.
--- Also `cordial.job(id)` and `cordial.job_by_id(id)`. A Job found this way
--- has no destination, so its download raises kind = "usage".
--- Raises kind = "validation" for an id that is not a non-empty string.
---@param id string  the job's id
---@return moonport.Job job
function Client:job_by_id(id)
  local w = where("job")
  args.check(w, "argument #1 (id)", id, "string")
  if id == "" then V.raise("cordial", "validation", w.fname .. ": id must not be empty") end
  local raw = V.object("cordial", self:call("GET", "/v2/jobs/" .. seg(id)), "GET /v2/jobs/" .. seg(id))
  local j = unwrap(raw)
  if id_of(j) == nil then j._id = id end
  return as_job(self, j)
end

---------------------------------------------------------------------------
-- Exports
---------------------------------------------------------------------------

-- Job ids this process has created or adopted -> the export's name.
local claimed = {}

-- Per client: true once Cordial's job list was seen to find jobs by their
-- name: asked for a name, it listed a job this process created under that
-- name, or a job of the account's (from the first page of the unfiltered
-- list) that carries an id and a name. Only then does "no job of that name" mean
-- that none was made: the jobs resource and its fields are not in
-- Cordial's documentation.
local listing_proven = setmetatable({}, {__mode = "k"})

--- Whether the list asked for `name` shows the job `id` under that name.
local function lists_by_name(c, name, id)
  local ok, list = pcall(jobs_named, c, name)
  if not ok then return false end
  for _, j in ipairs(list) do
    if type(j) == "table" and id_of(j) == id and name_of(j) == name then return true end
  end
  return false
end

--- Whether Cordial's job list finds jobs by name: seen before, or shown now
--- by listing one export this process made, or else one of the account's
--- jobs (the first page of the list without a filter, even before this
--- run made any export) by its name. An empty list, or jobs without an id
--- or a name, prove nothing.
local function prove_listing(c)
  if listing_proven[c] then return true end
  local tried = 0
  for id, name in pairs(claimed) do
    if type(name) == "string" then
      tried = tried + 1
      if lists_by_name(c, name, id) then listing_proven[c] = true; return true end
      if tried >= 2 then break end
    end
  end
  local ok, list = pcall(jobs_page, c, {page = 1, per_page = 25})
  if not ok then return false end
  tried = 0
  for _, j in ipairs(list) do
    local id, name = type(j) == "table" and id_of(j) or nil, type(j) == "table" and name_of(j) or nil
    if id ~= nil and name ~= nil and name ~= "" then
      tried = tried + 1
      if lists_by_name(c, name, id) then listing_proven[c] = true; return true end
      if tried >= 2 then break end
    end
  end
  return false
end

local function check_name(w, name)
  args.check(w, "field 'name'", name, "string")
  if name == "" or name:find("[^%w%-]") then
    V.raise("cordial", "validation", string.format("%s: name may only contain letters, numbers and dashes "
      .. "(Cordial's rule for export names), got '%s'", w.fname, name))
  end
end

--- What the user should check when a lost export cannot be told created or not.
local function check_jobs_page(name)
  return string.format("look for an export named '%s' on the Jobs page of Cordial's UI (or with "
    .. "cordial.jobs{job_name = \"%s\"}) before you run this again; if it is there, use cordial.job(ID) "
    .. "instead of exporting again", name, name)
end

--- The job a lost export created: named so, not among the jobs named so
--- before the attempt, not claimed, started after t0 (or not started yet).
--- Returns the id; nil when surely none was made; nil, UNSURE when the
--- listing cannot tell.
local function find_export(c, name, snapshot, t0)
  local ok, list, short = pcall(jobs_named, c, name)
  if not ok then
    local e = list
    -- A listing the service does not have, or refuses, cannot tell.
    if type(e) == "table" and (e.kind == "validation" or e.status == 400 or e.status == 404
      or e.status == 405 or e.status == 501) then
      return nil, "Cordial's job list could not be read (" .. tostring(e.message) .. "); " .. check_jobs_page(name)
    end
    error(e, 0)
  end
  local before, have_snapshot = {}, false
  if type(snapshot) == "table" and not snapshot.unavailable then
    have_snapshot = true
    for _, id in ipairs(snapshot.ids or snapshot) do before[id] = true end
  end
  local candidates, nameless = {}, 0
  for _, j in ipairs(list) do
    local n, id = name_of(j), id_of(j)
    if n == nil or id == nil then
      nameless = nameless + 1
    elseif n == name and not before[id] and not claimed[id] then
      local started = started_of(j)
      if started == nil or started >= t0 - cordial.clock_skew then
        candidates[#candidates + 1] = {id = id, started = started}
      end
    end
  end
  if #candidates == 1 and (have_snapshot or candidates[1].started) and not short then
    listing_proven[c] = true
    return candidates[1].id
  end
  if short then
    return nil, "Cordial's job list could not be read whole (" .. short .. "); " .. check_jobs_page(name)
  end
  if #candidates > 1 then
    return nil, string.format("Cordial lists %d new jobs named '%s'; %s", #candidates, name, check_jobs_page(name))
  end
  if #candidates == 1 then
    return nil, "the job list was not read before sending, and the job named so has no start time; " .. check_jobs_page(name)
  end
  if nameless > 0 then
    return nil, string.format("Cordial's job list gives %d job(s) without a name or an id; %s", nameless, check_jobs_page(name))
  end
  -- No job of that name: that it was not made is sure only once the list
  -- was seen to find jobs by their name (this process's exports, or the
  -- account's earlier jobs).
  if not prove_listing(c) then
    return nil, "Cordial's job list lists no job of that name, but it has not been seen to find a job by its name "
      .. "(it shows no job with an id and a name, or not when asked for that name), so that cannot be trusted; "
      .. check_jobs_page(name)
  end
  return nil
end

local function start_export(c, kind, path, body, ref)
  local id = V.create{
    vendor = "cordial", what = kind .. " export '" .. body.name .. "'",
    key = "export " .. kind .. " " .. body.name,
    before = function()
      -- The listing is not part of the export: a failure here only makes a lost answer harder to resolve.
      local ok, list, short = pcall(jobs_named, c, body.name)
      if ok and short then ok, list = false, short end
      if not ok then
        log.debug("cordial: could not list the jobs named '%s' before exporting (%s)", body.name,
          type(list) == "table" and tostring(list.message) or tostring(list))
        return {unavailable = true}
      end
      local ids = {}
      for _, j in ipairs(list) do
        local id = id_of(j)
        if id and (name_of(j) == nil or name_of(j) == body.name) then ids[#ids + 1] = id end
      end
      return {ids = ids}
    end,
    send = function()
      local res = c:call("POST", path, {json = body})
      local id = type(res) == "table" and (res.jobId or res.job_id or res._id or res.id) or nil
      if type(res) == "table" and id == nil and type(res.data) == "table" then id = res.data.jobId or res.data._id end
      if id == nil or id == json.null then V.raise("cordial", "validation", "POST " .. path .. " answered without a jobId") end
      return tostring(id)
    end,
    find = function(snapshot, t0) return find_export(c, body.name, snapshot, t0) end,
  }
  claimed[id] = body.name
  ref.name = body.name
  return c:job(kind, id, ref)
end

local function check_strings(w, name, v, optional)
  if v == nil and optional then return nil end
  args.check(w, name, v, "list")
  if #v == 0 then V.raise("cordial", "validation", w.fname .. ": " .. name .. " must not be empty") end
  for i, s in ipairs(v) do
    args.check(w, name .. "[" .. i .. "]", s, "string")
    if s == "" then V.raise("cordial", "validation", w.fname .. ": " .. name .. "[" .. i .. "] must not be empty") end
  end
  return json.array(v)
end

local exports = {}

function exports.audience_trends(c, p)
  local w = where("export")
  args.check_known(w, "audience_trends parameter", p, {name = true, audiences = true, start = true, stop = true, destination = true})
  check_name(w, p.name)
  local audiences = check_strings(w, "field 'audiences'", p.audiences)
  args.check(w, "field 'start'", p.start, "string")
  args.check(w, "field 'stop'", p.stop, "string")
  local t1, t2 = user_date(p.start), user_date(p.stop)
  if not t1 then V.raise("cordial", "validation", w.fname .. ": start must be a date (2024-01-31 or ISO-8601), got '" .. p.start .. "'") end
  if not t2 then V.raise("cordial", "validation", w.fname .. ": stop must be a date (2024-01-31 or ISO-8601), got '" .. p.stop .. "'") end
  -- Cordial's timeframe is in days (2021-08-17): the date part is sent.
  local d1, d2 = p.start:sub(1, 10), p.stop:sub(1, 10)
  if t2 < t1 or d2 < d1 then V.raise("cordial", "validation", w.fname .. ": stop is before start") end
  local dest, kept = check_destination(w, p.destination)
  local body = {name = p.name, exportType = "csv", destination = dest, selected_timeframe_start = d1,
    selected_timeframe_end = d2, audiences = audiences}
  return start_export(c, "audience_trends", "/v2/audiencetrendsexport", body, {destination = kept, ext = "csv"})
end

function exports.contacts(c, p)
  local w = where("export")
  args.check_known(w, "contacts parameter", p, {name = true, export_type = true, destination = true, fields = true,
    lists = true, show_header = true, compress = true})
  check_name(w, p.name)
  local export_type = args.check(w, "field 'export_type'", p.export_type or "csv", {csv = true, json = true, txt = true})
  local dest, kept = check_destination(w, p.destination)
  local body = {name = p.name, exportType = export_type, destination = dest}
  body.fields = check_strings(w, "field 'fields'", p.fields, true)
  body.lists = check_strings(w, "field 'lists'", p.lists, true)
  body.showHeader = args.check(w, "field 'show_header'", p.show_header, "boolean", true)
  body.compress = args.check(w, "field 'compress'", p.compress, "boolean", true)
  return start_export(c, "contacts", "/v2/contactexports", body, {destination = kept, show_header = body.showHeader,
    ext = export_type .. (body.compress and ".gz" or "")})
end

--- Starts an export and returns its Job (also `cordial.export`); the file
--- goes to `destination` (Cordial has no download API). kinds and params:
---   "audience_trends": name, audiences (a list of audience names), start
---     and stop (dates: 2024-01-31, or ISO-8601 of which the date is sent),
---     destination (optional); a CSV file with a column per day of the
---     timeframe and a row per audience
---   "contacts": name, destination (optional), export_type ("csv", "json"
---     or "txt"; csv by default), fields and lists (lists of names),
---     show_header and compress (booleans)
--- name: letters, numbers and dashes, unique per export (it names the file
--- too): an export whose answer was lost is found by its name and adopted,
--- never started twice. destination: Cordial's fields (type = "s3", "aws",
--- "sftp", "ftp" or "gcs", in upper or lower case; server, port, username,
--- password, savedKey, path, aws_access_key_id, aws_secret_access_key,
--- aws_bucket, aws_region, gcs_bucket): FTP and SFTP need server, username,
--- password (or savedKey) and port; S3 needs the two keys, aws_bucket and
--- aws_region, and its path may name the folder or the folder and file;
--- GCS needs gcs_bucket. Without a destination, or with {type = "aws"}, the
--- file stays on the Jobs page of Cordial's UI for 30 days. `endpoint`:
--- moonport's, not sent, the S3 endpoint to read the file back from.
--- job:download(path) reads the file back from s3 destinations only.
--- Raises kind = "validation" for a bad kind, parameter or destination,
--- before anything is sent; when the answer is lost and Cordial's job list
--- cannot tell whether the export was made, an error that says it "may have
--- been created" and where to look, and nothing is sent again.
---@param kind "audience_trends"|"contacts"
---@param params table  the export's parameters, as above
---@return moonport.Job job  the export job (its kind is `kind`), queued
function Client:export(kind, params)
  local w = where("export")
  args.check(w, "argument #1 (kind)", kind, exports)
  args.check(w, "argument #2 (params)", params, "table")
  return exports[kind](self, params)
end

-- Client:job(kind, id, ref, raw) is the shared Job constructor; the module's
-- cordial.job(id) looks a job up by its id.
cordial._expose{"export", "poll", "download", "jobs", "job_by_id"}
cordial.job = cordial.job_by_id

return cordial
