--- clari.ingest: Clari's ingestion API, for the clari module (scripts
--- require "clari" and call `clari.submit`, `client:submit`,
--- `clari.picklist_add`, `clari.picklist_get`): the ingestion Job kind
--- ("ingest_bulk", read through GET /v2/ingest/job/{id}), "ingest" (requests
--- of at most 100 records), "ingest_bulk" (data.json files of at most
--- 10 MB, one Job each), the picklists of the partner schema, and the one
--- line that sums up Clari's ingestion errors. clari.lua adds the methods of
--- `Client` below to clari.Client, and binds the module (I.bind).
local V = require "moonport.vendor"
local args = require "moonport.args"
local json = require "json"
local task = require "task"
local batch = require "batch"
local http = require "http"

local I = {}

-- The clari module (I.bind): its limits, read at each call
-- (clari.max_ingest_records, clari.max_bulk_bytes), and its response_error.
local clari
function I.bind(M) clari = M end

-- The methods this file gives clari.Client (clari.lua adds them to the class).
local Client = {}
I.Client = Client

local function where(fname) return {vendor = "clari", fname = "clari." .. fname} end

-- A list of ingestion errors [{errorCode, errorSummary}] (or a plain message)
-- as one line: the first five summaries, and how many more there are.
local function summary(v)
  if type(v) == "string" then return v ~= "" and v or nil end
  if type(v) ~= "table" then return nil end
  local parts = {}
  for i = 1, math.min(#v, 5) do
    local e = v[i]
    parts[#parts + 1] = type(e) == "table" and tostring(e.errorSummary or e.errorCode or e.message) or tostring(e)
  end
  if #parts == 0 then return nil end
  return table.concat(parts, "; ") .. (#v > 5 and string.format(" (and %d more)", #v - 5) or "")
end
I.summary = summary

-- The functions of the ingestion Jobs (kind "ingest_bulk"): V.define's jobs entry (clari.lua).
local ingest_job = {}
I.job = ingest_job

-- The body of GET /v2/ingest/job/{id}: {message = {jobId, status, message, ...}}.
local function ingest_job_body(decoded)
  if type(decoded) == "table" and type(decoded.message) == "table" and decoded.message[1] == nil
    and type(decoded.message.status) == "string" then
    return decoded.message
  end
  return nil
end

function ingest_job.status_of(raw)
  local m = ingest_job_body(raw) or raw
  return m.status, summary(m.message)
end

-- Attempts of one ingestion job status read.
local ingest_status_attempts = 4

-- GET /v2/ingest/job/{id} answers 202 while the job runs, 200 when it
-- succeeded, 400 (VALIDATION_ERROR) and 500 (FAILED) when it failed: those
-- two are the job's state, read as such and never retried. A 500 without the
-- job's body is a server error, tried again a few times.
function ingest_job.refresh(c, job)
  local path = "/v2/ingest/job/" .. job.id
  local last
  for attempt = 1, ingest_status_attempts do
    local ok, res = pcall(c.request, c, "GET", path, {need = "ingestion", retry = false, ok = {[400] = true, [500] = true}})
    if ok then
      if res.status < 400 then
        local decoded = c:json(res)
        if not ingest_job_body(decoded) then
          V.object("clari", decoded, "GET " .. path)
          V.raise("clari", "validation", "GET " .. path .. " answered without the job's {message: {status}}; the API may have changed",
            {status = res.status, details = decoded})
        end
        return decoded, res.headers
      end
      local okj, decoded = pcall(json.decode, res.body or "")
      if okj and ingest_job_body(decoded) then return decoded, res.headers end
      last = clari.response_error(res, "GET", path)
      if res.status ~= 500 then error(last, 0) end
    else
      last = res
      if not V.transient(res) then error(res, 0) end
    end
    if attempt < ingest_status_attempts then task.sleep(V.backoff(attempt)) end
  end
  error(last, 0)
end

local function ingest_query(w, opts, known)
  args.check_known(w, "option", opts, known)
  local mode = args.check(w, "option 'mode'", opts.mode or "incremental", {initial = true, incremental = true})
  local last = false
  if opts.last_batch ~= nil then last = args.check(w, "option 'last_batch'", opts.last_batch, "boolean") end
  return {mode = mode, isLastBatch = last and "true" or "false"}
end

local function check_entity(w, entity)
  args.check(w, "argument #2 (entity)", entity, "string")
  if not entity:match("^[%a][%w_]*$") then
    V.raise("clari", "validation", w.fname .. ": entity must be a name such as 'opportunity', got '" .. entity .. "'")
  end
end

-- Checks Clari's ingestion body, a list of {sourceEntity=, records={...}}.
local function check_batches(w, data)
  args.check(w, "argument #3 (data)", data, "list")
  for i, batch in ipairs(data) do
    args.check(w, "data[" .. i .. "]", batch, "table")
    args.check(w, "data[" .. i .. "].sourceEntity", batch.sourceEntity, "string")
    args.check(w, "data[" .. i .. "].records", batch.records, "list")
  end
end

-- Records are upserted by id: sending the same request again changes
-- nothing, so ingestion requests are retried like a GET.
local function ingest(c, entity, data, opts)
  local w = where("submit")
  check_entity(w, entity)
  check_batches(w, data)
  local query = ingest_query(w, opts, {mode = true, last_batch = true})
  -- Split so that no request carries more than 100 records.
  local requests, current, count = {}, {}, 0
  local function flush()
    if #current > 0 then requests[#requests + 1] = current end
    current, count = {}, 0
  end
  for _, batch in ipairs(data) do
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

--- Writes the (sourceEntity, record) pairs next_item() gives as data.json
--- files of at most clari.max_bulk_bytes, each with Clari's ingestion
--- structure [{"sourceEntity": ..., "records": [...]}, ...]; calls
--- each(path, n, last) for every file (n records; last: no file follows) as
--- soon as it is complete.
local function bulk_files(w, next_item, each)
  local limit = clari.max_bulk_bytes
  local tmp = os.tmpname()
  local f, size, n, current = nil, 0, 0, nil
  local function open()
    f = assert(io.open(tmp, "wb"))
    f:write("[")
    size, n, current = 1, 0, nil
  end
  local function close_and_send(last)
    f:write(current ~= nil and "]}]" or "]")
    f:close()
    f = nil  -- closed: nothing below touches it again, whatever each() raises
    each(tmp, n, last)
  end
  local ok, e = pcall(function()
    open()
    for source, record in next_item do
      local text = json.encode(record)
      local opening = '{"sourceEntity":' .. json.encode(source) .. ',"records":['
      if 1 + #opening + #text + 3 > limit then
        V.raise("clari", "validation", string.format("%s: one record is %d bytes, more than a %d-byte file can carry",
          w.fname, #text, limit))
      end
      local sep = current == nil and opening or (current ~= source and ("]}," .. opening) or ",")
      if size + #sep + #text + 3 > limit then
        close_and_send(false)
        open()
        sep = opening
      end
      f:write(sep, text)
      size, n, current = size + #sep + #text, n + 1, source
    end
    if n > 0 then close_and_send(true) else f:close(); f = nil end
  end)
  if f then pcall(f.close, f) end
  os.remove(tmp)
  if not ok then error(e, 0) end
end

--- Sends the records of an NDJSON file (one record a line) as data.json
--- files of at most clari.max_bulk_bytes in Clari's structure
--- [{"sourceEntity": source, "records": [...]}], calling each(path, n, last)
--- as bulk_files does. The records go from the file to each data.json in
--- Swift (ndjson.native.parts: checked, copied as written without the
--- whitespace between tokens) and never become Lua tables. A line that is
--- not JSON raises ndjson.read's error (kind = "validation" with `file` and
--- `line`), a value that is not an object or an array, or a record of more
--- than a file can carry, clari.submit's; each when that record is reached
--- (a file is sent once the record after it has been read and checked).
local function ndjson_files(w, path, source, each)
  local f = io.open(path, "rb")
  if not f then
    V.raise("clari", "validation", string.format("%s: argument #3 (data): cannot read the file '%s'", w.fname, path))
  end
  f:close()
  local limit = clari.max_bulk_bytes
  local function read(fn, ...)
    local r = table.pack(pcall(fn, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if type(e) == "table" and e.record_bytes then
      V.raise("clari", "validation", string.format("%s: one record is %d bytes, more than a %d-byte file can carry (line %d of %s)",
        w.fname, e.record_bytes, limit, e.line, e.file), {file = e.file, line = e.line})
    elseif type(e) == "table" and e.got then
      V.raise("clari", "validation", string.format("%s: record %d must be a table (a JSON object), got %s (line %d of %s)",
        w.fname, e.record, e.got, e.line, e.file), {file = e.file, line = e.line})
    end
    error(e, 0)
  end
  local native = require "ndjson.native"
  -- Each file: [{"sourceEntity":SOURCE,"records":[...]}], written by Swift
  -- straight to the temporary file (the records never pass through Lua).
  local next_part = read(native.parts, path, {bytes = math.max(3, limit), tables = true,
    prefix = '[{"sourceEntity":' .. json.encode(source) .. ',"records":', suffix = "}]"})
  local tmp = os.tmpname()
  local ok, e = pcall(function()
    while true do
      local size, n, _, _, more = read(next_part, tmp)
      if size == nil then break end
      each(tmp, n, not more)
    end
  end)
  os.remove(tmp)
  if not ok then error(e, 0) end
end

local function ingest_bulk(c, entity, data, opts)
  local w = where("submit")
  check_entity(w, entity)
  local query = ingest_query(w, opts, {mode = true, last_batch = true, source_entity = true})
  local next_item, from_file
  local structured = type(data) == "table" and type(data[1]) == "table" and data[1].sourceEntity ~= nil
  if structured then
    -- Clari's own structure: {{sourceEntity=, records={...}}, ...}.
    if opts.source_entity ~= nil then
      V.raise("clari", "validation", w.fname .. ": option 'source_entity' is for records; this data already names its sourceEntity")
    end
    check_batches(w, data)
    local b, r = 1, 0
    next_item = function()
      while data[b] do
        r = r + 1
        local record = data[b].records[r]
        if record ~= nil then return data[b].sourceEntity, record end
        b, r = b + 1, 0
      end
      return nil
    end
  else
    if type(data) == "string" and data:match("%.json$") then
      V.raise("clari", "validation", w.fname .. ": give records as a list, an iterator or an NDJSON file (one record a line)")
    end
    local source = opts.source_entity
    if source == nil then
      V.raise("clari", "validation", w.fname .. ": option 'source_entity' is required with records (the sourceEntity "
        .. "Clari files them under, e.g. {source_entity = \"crm\"}), or give data as {{sourceEntity = ..., records = {...}}}")
    end
    args.check(w, "option 'source_entity'", source, "string")
    if type(data) == "string" then from_file = source end
    local it = not from_file and batch._source(w.fname, "argument #3 (data)", data)
    local i = 0
    next_item = function()
      local record = it()
      if record == nil then return nil end
      i = i + 1
      if type(record) ~= "table" then
        V.raise("clari", "validation", string.format("%s: record %d must be a table (a JSON object), got %s", w.fname, i, type(record)))
      end
      return source, record
    end
  end
  local jobs = {}
  local path = "/v2/ingest/bulk/entity/" .. entity
  local files = from_file and function(each) ndjson_files(w, data, from_file, each) end
    or function(each) bulk_files(w, next_item, each) end
  files(function(tmp, n, last)
    -- Sent as each file is made (it is removed after): one job per file.
    -- isLastBatch marks the last batch of initial data: only the last file
    -- carries it (Clari refuses initial mode after it).
    local q = {mode = query.mode, isLastBatch = last and query.isLastBatch or "false"}
    local res = c:request("POST", path, {query = q, need = "ingestion", safe_to_repeat = true,
      multipart = {{name = "FileData", file = tmp, filename = "data.json", content_type = "application/json"}}})
    local decoded = V.object("clari", c:json(res), "POST " .. path)
    if decoded.jobId == nil then
      V.raise("clari", "validation", "POST " .. path .. " answered without a jobId: " .. http.redact(tostring(res.body or "")):sub(1, 200),
        {status = res.status})
    end
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
---   "ingest_bulk": `data` is Clari's body as for "ingest", or the records
---     (a list, an iterator function or the path of an NDJSON file, one
---     record a line) with opts.source_entity naming their sourceEntity;
---     they are sent as data.json files of at most 10 MB
---     (clari.max_bulk_bytes) in Clari's structure [{sourceEntity, records}],
---     one Job per file, each file sent as soon as it is complete. The
---     records of an NDJSON file go into the files natively, checked and
---     copied as written (keys in the file's order), without becoming Lua
---     tables; a line that is not JSON raises kind = "validation" with
---     `file` and `line` when it is reached (a file is sent once the
---     record after it has been read and checked: the files sent before
---     stay sent, the one that line would have followed is not). A job
---     whose records Clari rejects ends "failed" (VALIDATION_ERROR, with
---     Clari's error summaries): poll raises kind = "job_failed".
--- opts.mode is "incremental" (the default) or "initial"; opts.last_batch
--- marks the last batch. Records are upserted by id: a request repeated
--- after a lost answer changes nothing.
--- Raises kind = "validation" for a bad kind, entity, option or body
--- ("ingest": the whole body is checked before the first request), a .json
--- path, records without source_entity, or a record of more than 10 MB;
--- kind = "http" with Clari's errorCode and summaries when Clari refuses a
--- request (400 INVALID_INPUT_FORMAT, ...).
---@param kind "ingest"|"ingest_bulk"
---@param entity string  the entity to ingest into, e.g. "opportunity"
---@param data table|string|fun():table|nil  as above
---@param opts? {mode?: "initial"|"incremental", last_batch?: boolean, source_entity?: string}
---@return moonport.Job[] jobs  "ingest_bulk": one Job per file (kind "ingest_bulk"); "ingest": {}
function Client:submit(kind, entity, data, opts)
  local w = where("submit")
  args.check(w, "argument #1 (kind)", kind, {ingest = true, ingest_bulk = true})
  if opts ~= nil then args.check(w, "argument #4 (options)", opts, "table") end
  if kind == "ingest" then return ingest(self, entity, data, opts or {}) end
  return ingest_bulk(self, entity, data, opts or {})
end

---------------------------------------------------------------------------
-- Picklists (the partner schema of the ingestion API)
---------------------------------------------------------------------------

--- Adds values to a picklist field of an ingested entity (POST
--- /v2/ingest/schema/{entity}/field; needs the partner key too). Sent as a
--- request that is safe to repeat (adding a value twice keeps one). Also
--- `clari.picklist_add(...)`.
--- Raises kind = "validation" for a bad entity, field, type or value;
--- kind = "http" with Clari's summary when Clari refuses it (a field the
--- partner schema does not define, ...).
---@param entity string  the entity, e.g. "opportunity"
---@param field string   the field's name
---@param field_type "picklist"|"multipicklist"
---@param values string[]  the values to add
---@return any answer  Clari's decoded answer ({message = "picklist options have been updated successfully."})
function Client:picklist_add(entity, field, field_type, values)
  local w = where("picklist_add")
  check_entity(w, entity)
  args.check(w, "argument #2 (field)", field, "string")
  args.check(w, "argument #3 (type)", field_type, {picklist = true, multipicklist = true})
  args.check(w, "argument #4 (values)", values, "list")
  if #values == 0 then V.raise("clari", "validation", w.fname .. ": argument #4 (values) must hold at least one value") end
  for i, v in ipairs(values) do args.check(w, "values[" .. i .. "]", v, "string") end
  return self:call("POST", "/v2/ingest/schema/" .. entity .. "/field", {need = "ingestion", safe_to_repeat = true,
    json = {fieldName = field, fieldType = field_type, values = json.array(values)}})
end

--- The values of picklist fields of an ingested entity (GET
--- /v2/ingest/schema/{entity}/field?fieldNames=A,B; needs the partner key
--- too). Also `clari.picklist_get(entity, fields)`.
---   clari.picklist_get("opportunity", "stage")            --> {"Prospecting", ...} (one field: its values)
---   clari.picklist_get("opportunity", {"stage", "region"}) --> {stage = {...}, region = {...}}
---   clari.picklist_get("opportunity")                     --> every field: {stage = {...}, ...}
--- One field name gives that field's list of values, or nil when Clari's
--- answer does not name the field (no such picklist field); a list of names
--- (or none) gives Clari's answer, a table field name -> list of values.
--- Raises kind = "validation" for a bad entity or field name.
---@param entity string  the entity, e.g. "opportunity"
---@param fields? string|string[]  one field name, or a list of them; every field when nil
---@return table|nil values  as above
function Client:picklist_get(entity, fields)
  local w = where("picklist_get")
  check_entity(w, entity)
  local names
  if type(fields) == "string" then
    names = {fields}
  elseif fields ~= nil then
    args.check(w, "argument #2 (fields)", fields, "list")
    names = fields
  end
  for i, n in ipairs(names or {}) do
    args.check(w, "fields[" .. i .. "]", n, "string")
    if n == "" or n:find(",", 1, true) then
      V.raise("clari", "validation", w.fname .. ": a field name must be non-empty and without commas, got '" .. n .. "'")
    end
  end
  local path = "/v2/ingest/schema/" .. entity .. "/field"
  local query = names and #names > 0 and {fieldNames = table.concat(names, ",")} or nil
  local answer = self:call("GET", path, {need = "ingestion", query = query})
  if type(answer) == "table" and next(answer) == nil then answer = {} end
  answer = V.object("clari", answer, "GET " .. path)
  if type(fields) == "string" then return answer[fields] end
  return answer
end

return I
