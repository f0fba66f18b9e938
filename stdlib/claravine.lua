--- claravine: Claravine datasets and transactions (vendors.md § Claravine).
---
---   local claravine = require "claravine"
---   claravine.datasets()                                  --> {{uuid=, name=}, ...}
---   claravine.transactions("ds-forecasts", {start_date = "2024-01-01", end_date = "2024-01-31"})
---   claravine.data("ds-forecasts", transaction_uuid)      --> {fields=, rows=}
---   local jobs = claravine.submit("data", "ds-forecasts", {name = "Q1 forecast", fields = {...}, rows = rows_or_path},
---                                 {concurrency = 4})      --> one Job per 1,000-row part
---   claravine.poll(jobs)                                  -- Pending -> Complete; Failed raises job_failed
---   local job = claravine.export("transaction", {dataset = "ds-forecasts", transaction = uuid})
---   job:download("q1.csv")                                -- header + rows as CSV (.csv) or JSON (.json)
---
--- `rows`: a list of rows (lists of values, or tables keyed by field name),
--- an iterator function returning rows, or the path of a CSV file whose
--- header gives `fields` (streamed: a 5-million-row file is never held in
--- memory). Parts are named "NAME (part i of n)".
---
--- Credentials: CLARAVINE_API_KEY and CLARAVINE_API_SECRET, sent as the
--- headers X-Api-Key and X-Api-Secret (assumed; client{key_header=,
--- secret_header=} changes them); CLARAVINE_BASE_URL (https://api.claravine.com).
---
--- Exactly once: before a part whose answer was lost is sent again, the
--- dataset's transactions are searched for its name; a match created after
--- the attempt began is adopted. Invalid data fails a transaction silently
--- on Claravine's side: its status is the only signal, so poll the Jobs.
local V = require "moonport.vendor"
local json = require "json"
local task = require "task"
local moonport = require "moonport"

--- A Claravine client, made by `claravine.client{api_key=, api_secret=,
--- key_header=, secret_header=, base_url=, timeout=}` (key_header and
--- secret_header: the names of the auth headers, X-Api-Key and
--- X-Api-Secret by default); its methods are the module's functions.
---@class claravine.Client: moonport.Client
local claravine, Client = V.define{
  name = "claravine",
  base_env = "CLARAVINE_BASE_URL",
  default_base = "https://api.claravine.com",
  credentials = {
    {field = "api_key", env = "CLARAVINE_API_KEY", what = "API key"},
    {field = "api_secret", env = "CLARAVINE_API_SECRET", what = "API secret"},
  },
  settings = {{field = "key_header"}, {field = "secret_header"}},
  auth = function(c)
    return {key_header = c:setting("key_header") or "X-Api-Key", key = c:credential("api_key"),
      secret_header = c:setting("secret_header") or "X-Api-Secret", secret = c:credential("api_secret")}
  end,
  error_body = function(b)
    if type(b) == "table" then return b.code or b.error, b.message or b.detail end
  end,
  statuses = {Pending = "running", Complete = "done", Failed = "failed"},
  jobs = {},
}

--- The most rows one transaction (one part of claravine.submit) carries (Claravine's limit: 1,000).
---@type integer
claravine.max_rows = 1000
--- How many parts claravine.submit sends at once when opts.concurrency is not given.
---@type integer
claravine.default_concurrency = 4

local function where(fname) return {vendor = "claravine", fname = "claravine." .. fname} end
local function esc(s) return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)) end

---------------------------------------------------------------------------
-- Transactions as Jobs
---------------------------------------------------------------------------

local transaction_job = {}

function transaction_job.status_of(raw)
  local word = raw.status
  if word == "Failed" then
    return word, raw.message or raw.error or "Claravine marked the transaction Failed (rows that break the dataset's rules; "
      .. "the API gives no reason: check the dataset's required fields and the row lengths)"
  end
  return word
end

function transaction_job.refresh(c, job)
  local res = c:request("GET", string.format("/v1/datasets/%s/transactions/%s/status/", esc(job.ref.dataset), esc(job.id)))
  return c:json(res), res.headers
end

local function fetch_data(c, job)
  local body = c:call("GET", string.format("/v1/datasets/%s/transaction/%s/data/", esc(job.ref.dataset), esc(job.id)),
    {timeout = 600})
  return body
end

function transaction_job.download(c, job, path)
  local body = fetch_data(c, job)
  local fields, rows = body.fields or {}, body.rows or {}
  if path:match("%.json$") then
    local text = json.encode({fields = fields, rows = rows})
    V.atomic_write("claravine", path, function(tmp)
      local f = assert(io.open(tmp, "wb"))
      f:write(text)
      assert(f:close())
    end)
  elseif path:match("%.csv$") then
    local csv = require "csv"
    csv.write(path, rows, {header = fields})
  else
    V.raise("claravine", "validation", "job:download: the file must end in .csv or .json, got '" .. path .. "'")
  end
  return {path = path, bytes = V.file_size(path), rows = #rows}
end

function transaction_job.result(c, job) return fetch_data(c, job) end

claravine._def.jobs.data = transaction_job
claravine._def.jobs.transaction = transaction_job

---------------------------------------------------------------------------
-- Reading
---------------------------------------------------------------------------

--- The datasets (templates) the key may use (GET /v1/datasets), a list of
--- {uuid=, name=}. Also `claravine.datasets()`.
---@return table[] datasets
function Client:datasets()
  return V.list("claravine", self:call("GET", "/v1/datasets"), "GET /v1/datasets", {"datasets"})
end

--- The transactions of a dataset, a list of {uuid=, name=, status=,
--- createdAt=}, optionally only those between two dates. Also
--- `claravine.transactions(dataset, opts)`.
--- Raises kind = "validation" for an unknown option or a date that is not
--- written YYYY-MM-DD.
---@param dataset string  the dataset's uuid
---@param opts? {start_date?: string, end_date?: string}  dates YYYY-MM-DD
---@return table[] transactions
function Client:transactions(dataset, opts)
  local w = where("transactions")
  V.check(w, "argument #1 (dataset)", dataset, "string")
  if opts ~= nil then V.check(w, "argument #2 (options)", opts, "table") end
  opts = opts or {}
  V.check_known(w, "option", opts, {start_date = true, end_date = true})
  local query = {}
  for _, k in ipairs{"start_date", "end_date"} do
    local v = V.check(w, "option '" .. k .. "'", opts[k], "string", true)
    if v and not v:match("^%d%d%d%d%-%d%d%-%d%d$") then
      V.raise("claravine", "validation", w.fname .. ": " .. k .. " must be a date YYYY-MM-DD, got '" .. v .. "'")
    end
    query[k:gsub("_", "-")] = v
  end
  local path = "/v1/datasets/" .. esc(dataset) .. "/transactions/"
  return V.list("claravine", self:call("GET", path, {query = query}), "GET " .. path, {"transactions", "items"})
end

--- The data of a transaction, {fields = {names...}, rows = {{values...},
--- ...}}; Claravine gives it once the transaction is Complete. Also
--- `claravine.data(dataset, transaction)`.
--- Raises kind = "validation" when an argument is not a string.
---@param dataset string      the dataset's uuid
---@param transaction string  the transaction's uuid
---@return {fields: string[], rows: any[][]} data
function Client:data(dataset, transaction)
  local w = where("data")
  V.check(w, "argument #1 (dataset)", dataset, "string")
  V.check(w, "argument #2 (transaction)", transaction, "string")
  return fetch_data(self, {id = transaction, ref = {dataset = dataset}})
end

---------------------------------------------------------------------------
-- Submitting data in 1,000-row parts
---------------------------------------------------------------------------

-- Transactions this process created or adopted (never matched to another part).
local claimed = {}

local function day(t) return os.date("!%Y-%m-%d", math.floor(t)) end

--- The transaction named `name` created at or after `since` (with two
--- minutes for the vendor's clock), or nil.
local function find_transaction(c, dataset, name, since)
  local list = c:transactions(dataset, {start_date = day(since - 86400), end_date = day(moonport.now() + 86400)})
  for _, t in ipairs(list) do
    local id = t.uuid or t.transactionUuid or t.id
    local created = V.parse_time(t.createdAt)
    if t.name == name and id and not claimed[id] and (created == nil or created >= since - 120) then
      return tostring(id)
    end
  end
  return nil
end

local function send_part(c, dataset, name, fields, rows)
  local body = {transactionName = name, fields = json.array(fields), rows = json.array(rows)}
  local id = V.create{
    vendor = "claravine", what = "transaction '" .. name .. "'",
    key = "data " .. dataset .. " " .. name,
    send = function()
      local answer = c:call("POST", "/v1/datasets/" .. esc(dataset) .. "/data", {json = body})
      local uuid = answer.transactionUuid or answer.uuid
      if uuid == nil then
        V.raise("claravine", "validation", "the answer to submitting '" .. name .. "' has no transactionUuid", {details = answer})
      end
      return tostring(uuid)
    end,
    find = function(_, started_at) return find_transaction(c, dataset, name, started_at) end,
  }
  claimed[id] = true
  return c:job("data", id, {dataset = dataset, name = name, rows = #rows})
end

--- Rows from a list, an iterator or a CSV path, as arrays in `fields` order.
--- Returns fields, next_row, total (rows) — counting a path or an iterator
--- takes one pass first (an iterator is spooled to a temporary NDJSON file).
local function row_source(w, fields, rows)
  local cleanup = function() end
  if type(rows) == "string" then
    local csv = require "csv"
    local total = V.count_csv_rows(rows)
    local it, header = V.items(w, rows, {format = "csv", header_row = true})
    if fields == nil then fields = header
    else
      -- Columns of the file in the order of `fields`.
      local index = {}
      for i, h in ipairs(header or {}) do index[h] = i end
      local map = {}
      for i, f in ipairs(fields) do
        map[i] = index[f] or V.raise("claravine", "validation", string.format("%s: field '%s' is not a column of %s", w.fname, f, rows))
      end
      local raw = it
      it = function()
        local r = raw()
        if r == nil then return nil end
        local out = {}
        for i, k in ipairs(map) do out[i] = r[k] end
        return out
      end
    end
    return fields, it, total, cleanup
  end
  if fields == nil then V.raise("claravine", "validation", w.fname .. ": data.fields is required (a list of field names)") end
  local it, _, total = V.items(w, rows)
  if total == nil then
    -- An iterator: spool it, so the number of parts is known before the first is named.
    local ndjson = require "ndjson"
    local spool = os.tmpname()
    local n = 0
    local writer <close> = ndjson.writer(spool)
    for r in it do n = n + 1; writer:write(r) end
    writer:close()
    total = n
    it = ndjson.read(spool)
    cleanup = function() os.remove(spool) end
  end
  local index = {}
  for i, f in ipairs(fields) do index[f] = i end
  local n = 0
  return fields, function()
    local r = it()
    if r == nil then return nil end
    n = n + 1
    if type(r) ~= "table" then
      V.raise("claravine", "validation", string.format("%s: row %d must be a table, got %s", w.fname, n, type(r)))
    end
    if r[1] == nil and next(r) ~= nil then
      -- A row keyed by field name.
      local out = {}
      for k, v in pairs(r) do
        local i = index[k] or V.raise("claravine", "validation", string.format("%s: row %d has a field '%s' not in fields", w.fname, n, tostring(k)))
        out[i] = v
      end
      for i = 1, #fields do if out[i] == nil then out[i] = json.null end end
      return out
    end
    return r
  end, total, cleanup
end

--- Sends rows to a dataset in parts of at most 1,000 rows
--- (claravine.max_rows), each a transaction named "NAME (part i of n)" and
--- a Job of kind "data" (also `claravine.submit`). Claravine checks the rows
--- later: poll the Jobs (invalid rows fail a transaction silently, and
--- poll then raises job_failed).
--- data.rows: a list of rows (lists of values in `fields` order, or tables
--- keyed by field name), an iterator function returning rows (read once
--- first, to count the parts), or the path of a CSV file whose header row
--- gives the fields (when `fields` is given too, those columns are sent, in
--- that order). data.fields is required unless rows is a CSV path.
--- Parts are sent by up to opts.concurrency tasks (claravine.default_concurrency,
--- 4). A part whose answer was lost is looked up by its name and adopted,
--- never sent twice.
--- Raises kind = "validation" for a bad argument or option (before anything
--- is sent), or for a row that is not a table or has a field not in
--- `fields` (when the row is reached).
---   local jobs = claravine.submit("data", "ds-forecasts", {name = "Q1", rows = "q1.csv"})
---@param kind "data"
---@param dataset string  the dataset's uuid
---@param data {name: string, fields?: string[], rows: table|string|fun():table|nil}
---@param opts? {concurrency?: integer}
---@return moonport.Job[] jobs  one per part, in part order
function Client:submit(kind, dataset, data, opts)
  local w = where("submit")
  V.check(w, "argument #1 (kind)", kind, {data = true})
  V.check(w, "argument #2 (dataset)", dataset, "string")
  V.check(w, "argument #3 (data)", data, "table")
  V.check_known(w, "field of data", data, {name = true, fields = true, rows = true})
  V.check(w, "data.name", data.name, "string")
  if data.fields ~= nil then
    V.check(w, "data.fields", data.fields, "list")
    for i, f in ipairs(data.fields) do V.check(w, "data.fields[" .. i .. "]", f, "string") end
  end
  if data.rows == nil then V.raise("claravine", "validation", w.fname .. ": data.rows is required (a list, an iterator or a CSV path)") end
  if opts ~= nil then V.check(w, "argument #4 (options)", opts, "table") end
  opts = opts or {}
  V.check_known(w, "option", opts, {concurrency = true})
  local concurrency = V.check(w, "option 'concurrency'", opts.concurrency, "integer", true) or claravine.default_concurrency
  if concurrency < 1 then V.raise("claravine", "validation", w.fname .. ": concurrency must be >= 1") end

  local fields, next_row, total, cleanup = row_source(w, data.fields, data.rows)
  local done <close> = setmetatable({}, {__close = function() cleanup() end})
  local parts = math.max(1, math.ceil(total / claravine.max_rows))
  local jobs = {}
  local part = 0
  -- Workers take the next 1,000 rows (reading does not yield, so parts
  -- are cut in order) and send them.
  local function take()
    local rows = {}
    for _ = 1, claravine.max_rows do
      local r = next_row()
      if r == nil then break end
      rows[#rows + 1] = r
    end
    if #rows == 0 and part > 0 then return nil end
    part = part + 1
    if part > parts then
      V.raise("claravine", "validation", w.fname .. ": the rows changed while they were being sent (more than counted)")
    end
    return part, rows
  end
  local workers = {}
  for k = 1, math.min(concurrency, parts) do
    workers[k] = function()
      while true do
        local i, rows = take()
        if i == nil then return end
        jobs[i] = send_part(self, dataset, string.format("%s (part %d of %d)", data.name, i, parts), fields, rows)
      end
    end
  end
  task.all(workers)
  return jobs
end

--- A Job for an existing transaction, its status read now (also
--- `claravine.export`): once it is done, `job:download(path)` writes the
--- transaction's data as CSV (a path ending in .csv: the header, then the
--- rows) or JSON (.json: {fields=, rows=}), and `job:result()` returns
--- {fields=, rows=}.
--- Raises kind = "validation" for a bad kind or params.
---@param kind "transaction"
---@param params {dataset: string, transaction: string}  the dataset's and the transaction's uuids
---@return moonport.Job job  kind "transaction", refreshed
function Client:export(kind, params)
  local w = where("export")
  V.check(w, "argument #1 (kind)", kind, {transaction = true})
  V.check(w, "argument #2 (params)", params, "table")
  V.check_known(w, "parameter", params, {dataset = true, transaction = true})
  V.check(w, "field 'dataset'", params.dataset, "string")
  V.check(w, "field 'transaction'", params.transaction, "string")
  local job = self:job("transaction", params.transaction, {dataset = params.dataset})
  return job:refresh()
end

claravine._expose{"export", "submit", "poll", "download", "datasets", "transactions", "data"}

return claravine
