--- claravine: Claravine datasets and transactions, as Claravine's API
--- documentation describes them.
---
---   local claravine = require "claravine"
---   claravine.datasets()                                  --> {{uuid=[, name=]}, ...}
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
--- memory). One part keeps the name given; several are named
--- "NAME (part i of n)".
---
--- Credentials: CLARAVINE_API_KEY and CLARAVINE_API_SECRET, sent as the
--- headers X-Api-Key and X-Api-Secret (Claravine's documentation does not
--- name them: client{key_header=, secret_header=} changes them), and
--- CLARAVINE_BASE_URL, your own host https://CUSTOMER.claravine.com (there
--- is no default: each customer has its own).
---
--- Listings: Claravine's documentation calls the datasets and transactions
--- listings "lists of uuids"; whether they come as bare uuids, as objects
--- or wrapped in an object, each item is returned as a table with `uuid`
--- (and `name`, `status`, `createdAt` when Claravine gives them).
---
--- Exactly once: the dataset's transactions are listed before each part is
--- sent, and before a part whose answer was lost is sent again they are
--- searched; a transaction listed before is never adopted. Where the
--- listing carries names, the one new transaction of the part's name is
--- adopted. Where it gives bare uuids, the new transactions are read back
--- and one holding exactly the part's fields and rows is adopted; when that
--- cannot be told (a new transaction Failed, its data cannot be read, or
--- it holds as many rows with other values), nothing is sent again and the
--- error says the transaction "may have been created", naming it. Invalid data fails a transaction silently on Claravine's
--- side: its status is the only signal, so poll the Jobs.
local V = require "moonport.vendor"
local args = require "moonport.args"
local json = require "json"
local task = require "task"
local moonport = require "moonport"
local log = require "log"
local dates = require "dates"
local batch = require "batch"
local http = require "http"

-- The kinds of Job of claravine (their functions are defined below).
local transaction_job = {}

--- A Claravine client, made by `claravine.client{api_key=, api_secret=,
--- key_header=, secret_header=, base_url=, timeout=}` (key_header and
--- secret_header: the names of the auth headers, X-Api-Key and
--- X-Api-Secret by default; base_url: your host, https://CUSTOMER.claravine.com);
--- its methods are the module's functions.
---@class claravine.Client: moonport.Client
local claravine, Client = V.define{
  name = "claravine",
  base_env = "CLARAVINE_BASE_URL",
  -- No default: each customer has its own host (https://CUSTOMER.claravine.com).
  default_base = function()
    V.raise("claravine", "auth", "no base URL: Claravine gives each customer its own host, "
      .. "https://CUSTOMER.claravine.com (the address you log in to). Set CLARAVINE_BASE_URL, or give "
      .. "base_url = ... to claravine.client{}, or add base_url to [default.claravine] in "
      .. "~/.config/moonport/credentials.toml (or run with --sandbox to use the simulator)")
  end,
  credentials = {
    {field = "api_key", env = "CLARAVINE_API_KEY", what = "API key"},
    {field = "api_secret", env = "CLARAVINE_API_SECRET", what = "API secret"},
  },
  settings = {{field = "key_header"}, {field = "secret_header"}},
  auth = function(c)
    return {key_header = c:setting("key_header") or "X-Api-Key", key = c:credential("api_key"),
      secret_header = c:setting("secret_header") or "X-Api-Secret", secret = c:credential("api_secret")}
  end,
  code_and_message = function(b)
    if type(b) == "table" then return b.code or b.error, b.message or b.detail end
  end,
  statuses = {Pending = "running", Complete = "done", Failed = "failed"},
  jobs = {data = transaction_job, transaction = transaction_job},
}

--- The most rows one transaction (one part of claravine.submit) carries (Claravine's limit: 1,000).
---@type integer
claravine.max_rows = 1000
--- How many parts claravine.submit sends at once when opts.concurrency is not given.
---@type integer
claravine.default_concurrency = 4
--- How long (seconds) the parts sent to one dataset share the listing
--- taken before they are sent (the exactly-once lookup's "before" list):
--- 0 lists the dataset again before every part.
---@type number
claravine.snapshot_seconds = 2
--- How long (seconds) the exactly-once lookup waits for a Pending
--- transaction to end before it reads the transaction's data, when the
--- listing gives bare uuids.
---@type number
claravine.confirm_timeout = 300

local function where(fname) return {vendor = "claravine", fname = "claravine." .. fname} end
local function esc(s) return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)) end

---------------------------------------------------------------------------
-- Transactions as Jobs
---------------------------------------------------------------------------


function transaction_job.status_of(raw)
  local word = raw.status
  if word == "Failed" then
    return word, raw.message or raw.error or "Claravine marked the transaction Failed (rows that break the dataset's rules; "
      .. "the API gives no reason: check the dataset's required fields and the row lengths)"
  end
  return word
end

-- The status answer: {status = WORD} (assumed), or the word alone (as a
-- JSON string or as plain text): Claravine's documentation names the words
-- (Pending, Complete, Failed), not the body.
local function read_status(c, dataset, id)
  local path = string.format("/v1/datasets/%s/transactions/%s/status/", esc(dataset), esc(id))
  local res = c:request("GET", path)
  local ok, raw = pcall(res.json, res)
  if not ok then
    local word = tostring(res.body or ""):match("^%s*\"?(%a+)\"?%s*$")
    raw = word and {status = word} or nil
  elseif type(raw) == "string" then
    raw = {status = raw}
  end
  if type(raw) ~= "table" or type(raw.status) ~= "string" then
    -- The body may echo what was sent: masked like any vendor error body.
    local body = http.redact(tostring(res.body or ""))
    V.raise("claravine", "validation", string.format("GET %s answered %s where a status (Pending, Complete or Failed) "
      .. "was expected; the API may have changed, or something other than Claravine answered", path,
      #body > 200 and (body:sub(1, 200) .. "...") or ("'" .. body .. "'")),
      {status = res.status})
  end
  return raw, res.headers
end

function transaction_job.refresh(c, job)
  return read_status(c, job.ref.dataset, job.id)
end

-- GET .../transaction/{t}/data/ (singular, as in Claravine's documentation):
-- {fields=, rows=} (also read from {header=, data=}).
local function fetch_data(c, job)
  local path = string.format("/v1/datasets/%s/transaction/%s/data/", esc(job.ref.dataset), esc(job.id))
  local body = V.object("claravine", c:call("GET", path, {timeout = 600}), "GET " .. path)
  local fields, rows = body.fields or body.header, body.rows or body.data
  if fields == nil and rows == nil and next(body) ~= nil then
    V.raise("claravine", "validation", string.format("GET %s answered an object without fields and rows; the API may "
      .. "have changed, or something other than Claravine answered", path))
  end
  for what, v in pairs{fields = fields or {}, rows = rows or {}} do
    if type(v) ~= "table" or (v[1] == nil and next(v) ~= nil) then
      V.raise("claravine", "validation", string.format("GET %s answered %s that is not a list", path, what))
    end
  end
  return {fields = fields or json.array{}, rows = rows or json.array{}}
end

function transaction_job.download(c, job, path)
  -- The output is opened first (a path that cannot be written fails before
  -- the download); its temporary file is removed by a rerun if this run is killed.
  local out <close> = path:match("%.json$") and moonport.file_writer(path) or nil
  local body = fetch_data(c, job)
  local fields, rows = body.fields or {}, body.rows or {}
  if out then
    out:write(json.encode({fields = fields, rows = rows}))
    out:close()
  elseif path:match("%.csv$") then
    local csv = require "csv"
    csv.write(path, rows, {header = fields})
  else
    V.raise("claravine", "validation", "job:download: the file must end in .csv or .json, got '" .. path .. "'")
  end
  return {path = path, bytes = V.file_size(path), rows = #rows}
end

function transaction_job.result(c, job) return fetch_data(c, job) end


---------------------------------------------------------------------------
-- Reading
---------------------------------------------------------------------------

-- A listing of Claravine's ("the list of ... uuid's"): bare uuid strings,
-- objects, or either wrapped in {key: [...]} or {items: [...]}. Returns the
-- items as tables with `uuid` (objects keep their other fields), and
-- whether the items carry names.
local function listing(value, what, key)
  local list = value
  if type(value) == "table" and value[1] == nil and next(value) ~= nil then
    list = value[key] or value.items or value.data
    if list == nil then
      V.raise("claravine", "validation", string.format("%s answered an object without '%s' where a list of uuids was "
        .. "expected; the API may have changed, or something other than Claravine answered", what, key))
    end
  end
  if type(list) ~= "table" or (list[1] == nil and next(list) ~= nil) then
    V.raise("claravine", "validation", string.format("%s answered %s where a list of uuids was expected; the API may "
      .. "have changed, or something other than Claravine answered", what, type(list) == "table" and "an object" or type(list)))
  end
  local out, named = {}, false
  for i, item in ipairs(list) do
    if type(item) == "string" then
      out[i] = {uuid = item}
    elseif type(item) == "table" and item[1] == nil then
      local id = item.uuid or item.transactionUuid or item.datasetUuid or item.id
      -- A uuid is a string (an integer id is read as its text); null, a
      -- list or an object is no uuid.
      if (type(id) ~= "string" or id == "") and math.type(id) ~= "integer" then
        V.raise("claravine", "validation", string.format("%s answered a list whose item %d has no uuid where one was "
          .. "expected", what, i), {details = item})
      end
      local copy = {}
      for k, v in pairs(item) do copy[k] = v end
      copy.uuid = tostring(id)
      if type(copy.name) == "string" then named = true end
      out[i] = copy
    else
      V.raise("claravine", "validation", string.format("%s answered a list whose item %d is %s where a uuid (a string) or "
        .. "an object was expected; the API may have changed, or something other than Claravine answered", what, i,
        type(item) == "table" and "a list" or item == json.null and "null" or ("a " .. type(item))))
    end
  end
  return json.array(out), named
end

--- The datasets (templates) the key may use (GET /v1/datasets), a list of
--- {uuid=} (with name= and Claravine's other fields when the listing gives
--- them: Claravine's documentation calls it a list of uuids). Also
--- `claravine.datasets()`.
--- Raises kind = "validation" when the answer is not a listing.
---@return table[] datasets
function Client:datasets()
  return (listing(self:call("GET", "/v1/datasets"), "GET /v1/datasets", "datasets"))
end

-- GET /v1/datasets/{dataset}/transactions/: the listing, and whether it carries names.
local function list_transactions(c, dataset, opts)
  local w = where("transactions")
  args.check(w, "argument #1 (dataset)", dataset, "string")
  if opts ~= nil then args.check(w, "argument #2 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {start_date = true, end_date = true})
  local query = {}
  for _, k in ipairs{"start_date", "end_date"} do
    local v = args.check(w, "option '" .. k .. "'", opts[k], "string", true)
    if v and not v:match("^%d%d%d%d%-%d%d%-%d%d$") then
      V.raise("claravine", "validation", w.fname .. ": " .. k .. " must be a date YYYY-MM-DD, got '" .. v .. "'")
    end
    query[k:gsub("_", "-")] = v
  end
  local path = "/v1/datasets/" .. esc(dataset) .. "/transactions/"
  return listing(c:call("GET", path, {query = query}), "GET " .. path, "transactions")
end

--- The transactions of a dataset (GET /v1/datasets/{dataset}/transactions/),
--- a list of {uuid=} (with name=, status=, createdAt= when the listing
--- gives them: Claravine's documentation calls it a list of uuids),
--- optionally only those between two dates (start-date, end-date). Also
--- `claravine.transactions(dataset, opts)`.
--- Raises kind = "validation" for an unknown option or a date that is not
--- written YYYY-MM-DD, or an answer that is not a listing.
---@param dataset string  the dataset's uuid
---@param opts? {start_date?: string, end_date?: string}  dates YYYY-MM-DD
---@return table[] transactions
function Client:transactions(dataset, opts)
  return (list_transactions(self, dataset, opts))
end

--- The data of a transaction (GET /v1/datasets/{dataset}/transaction/{transaction}/data/),
--- {fields = {names...}, rows = {{values...}, ...}}: read it once the
--- transaction is Complete (before that Claravine may refuse it). Also
--- `claravine.data(dataset, transaction)`.
--- Raises kind = "validation" when an argument is not a string or the
--- answer has no fields and rows; Claravine's refusal as kind = "http".
---@param dataset string      the dataset's uuid
---@param transaction string  the transaction's uuid
---@return {fields: string[], rows: any[][]} data
function Client:data(dataset, transaction)
  local w = where("data")
  args.check(w, "argument #1 (dataset)", dataset, "string")
  args.check(w, "argument #2 (transaction)", transaction, "string")
  return fetch_data(self, {id = transaction, ref = {dataset = dataset}})
end

---------------------------------------------------------------------------
-- Submitting data in 1,000-row parts
---------------------------------------------------------------------------

-- Transactions this process created or adopted (never matched to another part).
local claimed = {}

local function day(t) return os.date("!%Y-%m-%d", math.floor(t)) end

-- The dates a lookup lists: the day before the attempt to the day after.
local function window(t) return {start_date = day(t - 86400), end_date = day(t + 86400)} end

-- A value as text, to compare what was sent with what Claravine gives back
-- (null, nothing and "" are the same; 2 and 2.0 and "2" are the same).
local function text(v)
  if v == nil or v == json.null then return "" end
  if math.type(v) == "float" and math.tointeger(v) then return tostring(math.tointeger(v)) end
  return tostring(v)
end

-- Whether the transaction's data is exactly `fields` and `rows`: "same";
-- "other" when it holds another number of rows (another submission); or
-- nil and why when it cannot be told: its data cannot be read, or it holds
-- as many rows but other fields or values (Claravine's field and template
-- governance may have changed what was sent: its documentation does not
-- say that the data reads back as sent).
local function compare_data(c, dataset, uuid, fields, rows)
  local deadline = moonport.now() + claravine.confirm_timeout
  local pause = 0.25
  while true do
    local ok, raw = pcall(read_status, c, dataset, uuid)
    if not ok then return nil, "its status could not be read (" .. (type(raw) == "table" and raw.message or tostring(raw)) .. ")" end
    if raw.status ~= "Pending" then break end
    if moonport.now() >= deadline then return nil, "it was still Pending" end
    task.sleep(math.min(pause, math.max(0, deadline - moonport.now())))
    pause = math.min(pause * 2, 10)
  end
  local ok, data = pcall(fetch_data, c, {id = uuid, ref = {dataset = dataset}})
  if not ok then return nil, "its data could not be read (" .. (type(data) == "table" and data.message or tostring(data)) .. ")" end
  if #data.rows ~= #rows then return "other" end
  local differs = string.format("it holds %d rows, as many as the part, but not the same fields and values "
    .. "(Claravine may have changed them)", #rows)
  if #data.fields ~= #fields then return nil, differs end
  local at = {}
  for i, f in ipairs(data.fields) do at[tostring(f)] = i end
  local map = {}
  for i, f in ipairs(fields) do
    if at[f] == nil then return nil, differs end
    map[i] = at[f]
  end
  for r, sent in ipairs(rows) do
    local got = data.rows[r]
    if type(got) ~= "table" then return nil, differs end
    for i = 1, #fields do
      if text(sent[i]) ~= text(got[map[i]]) then return nil, differs end
    end
  end
  return "same"
end

--- The snapshot taken before a part is sent: the uuids the dataset's
--- listing gives now, over the dates the lookup will list. The lookup never
--- adopts one of them: it existed before the part was sent.
--- Parts sent to one dataset within `claravine.snapshot_seconds` (2) share
--- one snapshot: a listing per part made a submission of n parts read
--- n listings of up to n transactions. A transaction created between the
--- shared listing and a part's send is one more candidate for the lookup,
--- which tells them apart by name or rows (as one created while the part
--- was in flight); the parts of this process are never candidates (claimed).
--- Each transaction a part of this client creates (or adopts) joins the
--- shared listing, so a later part never counts it as new, also when its
--- lookup runs from the journal after a crash (where `claimed` is empty);
--- a part that ends in an error drops the shared listing (what it made, if
--- anything, is unknown), and the next part lists afresh.
local snapshots = setmetatable({}, {__mode = "k"})
local function snapshot(c, dataset)
  local now = moonport.now()
  local range = window(now)
  local mine = snapshots[c] or {}
  snapshots[c] = mine
  local snap = mine[dataset]
  if snap and now >= snap.taken_at and now - snap.taken_at < claravine.snapshot_seconds
    and snap.start_date == range.start_date and snap.end_date == range.end_date then
    return snap
  end
  local list = list_transactions(c, dataset, range)
  local uuids = {}
  for i, t in ipairs(list) do uuids[i] = t.uuid end
  snap = {uuids = uuids, start_date = range.start_date, end_date = range.end_date, taken_at = now}
  mine[dataset] = snap
  return snap
end

-- A part's create ended: with the uuid it made or adopted, or in an error (nil).
local function part_ended(c, dataset, uuid)
  local mine = snapshots[c]
  local snap = mine and mine[dataset]
  if not snap then return end
  if uuid == nil then
    mine[dataset] = nil
  else
    snap.uuids[#snap.uuids + 1] = uuid
  end
end

--- The transaction a part whose answer was lost created: its uuid, or nil
--- when it was surely not created, or nil and what to check when it cannot
--- be told (V.create then raises instead of sending again).
local function find_transaction(c, dataset, part, snap, since)
  local range = snap and {start_date = snap.start_date, end_date = snap.end_date} or window(since)
  local list, named = list_transactions(c, dataset, range)
  local check = string.format("look in the dataset %s for a transaction named '%s'", dataset, part.name)
  local before
  if snap and snap.uuids then
    before = {}
    for _, u in ipairs(snap.uuids) do before[u] = true end
  end
  if named then
    -- The listing carries names: a transaction of the part's name that was
    -- not listed before the part was sent. Without that list (a run that
    -- stopped before it was kept), one created since the attempt began (two
    -- minutes for the vendor's clock); one whose creation time is not given
    -- cannot be told from an older one of that name.
    local mine, unknown = {}, {}
    for _, t in ipairs(list) do
      if t.name == part.name and not claimed[t.uuid] and not (before and before[t.uuid]) then
        if before then
          mine[#mine + 1] = t.uuid
        else
          local created = dates.read(t.createdAt)
          if created == nil then unknown[#unknown + 1] = t.uuid
          elseif created >= since - 120 then mine[#mine + 1] = t.uuid end
        end
      end
    end
    if #mine == 1 and #unknown == 0 then return mine[1] end
    if #mine == 0 and #unknown == 0 then return nil end
    if #mine > 1 then
      return nil, string.format("%s: the transactions %s all bear that name and appeared since it was sent", check,
        table.concat(mine, ", "))
    end
    return nil, string.format("%s: the listing gives no creation time and no list of the transactions was taken "
      .. "before it was sent, so %s cannot be told from an older transaction of that name", check,
      table.concat(unknown, ", "))
  end
  if #list == 0 then return nil end
  if before == nil then
    return nil, check .. " (Claravine's listing gives only uuids, and none was taken before it was sent)"
  end
  local same, unsure = {}, {}
  for _, t in ipairs(list) do
    if not before[t.uuid] and not claimed[t.uuid] then
      local verdict, why = compare_data(c, dataset, t.uuid, part.fields, part.rows)
      -- Another part of this process may have claimed it while it was Pending.
      if claimed[t.uuid] then verdict = "other" end
      if verdict == "same" then same[#same + 1] = t.uuid
      elseif verdict == nil then unsure[#unsure + 1] = t.uuid .. ": " .. why end
    end
  end
  if #same == 1 then return same[1] end
  if #same == 0 and #unsure == 0 then return nil end
  if #same > 1 then
    return nil, string.format("%s: the transactions %s all hold these rows", check, table.concat(same, ", "))
  end
  return nil, string.format("%s among the transactions that appeared since (%s)", check, table.concat(unsure, "; "))
end

-- `rows` is a list of rows, or (from a CSV path) `rows_json`, the part's
-- rows already encoded by csv.native.parts, and `count`: the rows become
-- Lua tables only if a lost answer makes the lookup compare them.
local function send_part(c, dataset, name, fields, rows, rows_json, count)
  local request
  local part = {name = name, fields = fields, rows = rows}
  if rows_json then
    request = {body = '{"transactionName":' .. json.encode(name) .. ',"fields":' .. json.encode(json.array(fields))
      .. ',"rows":' .. rows_json .. '}', headers = {["Content-Type"] = "application/json"}}
    setmetatable(part, {__index = function(t, k)
      if k ~= "rows" then return nil end
      local decoded = json.decode(rows_json)
      rawset(t, "rows", decoded)
      return decoded
    end})
  else
    request = {json = {transactionName = name, fields = json.array(fields), rows = json.array(rows)}}
    count = #rows
  end
  local created, id = pcall(V.create, {
    vendor = "claravine", what = "transaction '" .. name .. "' in the dataset " .. dataset,
    key = "data " .. dataset .. " " .. name,
    before = function() return snapshot(c, dataset) end,
    send = function()
      local path = "/v1/datasets/" .. esc(dataset) .. "/data"
      local answer = c:call("POST", path, request)
      local uuid = type(answer) == "string" and answer
        or type(answer) == "table" and (answer.transactionUuid or answer.uuid or answer.id) or nil
      if uuid == nil or type(uuid) == "table" then
        -- Claravine took it: it must not be sent again.
        V.raise("claravine", "validation", string.format("the answer to POST %s (transaction '%s') gives no "
          .. "transaction uuid; the transaction was probably created: look for it before you send it again", path, name),
          {details = answer})
      end
      return tostring(uuid)
    end,
    find = function(snap, started_at) return find_transaction(c, dataset, part, snap, started_at) end,
  })
  if not created then
    part_ended(c, dataset, nil)
    error(id, 0)
  end
  part_ended(c, dataset, id)
  claimed[id] = true
  return c:job("data", id, {dataset = dataset, name = name, rows = count})
end

--- Rows from a list, an iterator or a CSV path, as arrays in `fields` order.
--- Returns fields, next_row, total (rows) — counting a path or an iterator
--- takes one pass first (an iterator is spooled to a temporary NDJSON file).
local function row_source(w, fields, rows)
  local cleanup = function() end
  if type(rows) == "string" then
    -- A CSV path: read natively, each part encoded as JSON in Swift
    -- (csv.native.parts), never as Lua tables. The count is native too.
    -- The count reads the whole file first and checks every row's width,
    -- so a ragged row is reported before the first part is sent.
    local native = require "csv.native"
    local function read(f, ...)
      local r = table.pack(pcall(f, ...))
      if r[1] then return table.unpack(r, 2, r.n) end
      local a = r[2]
      if type(a) == "table" and a.kind then
        local fields = {}
        for k, v in pairs(a) do if k ~= "kind" and k ~= "message" and k ~= "where" then fields[k] = v end end
        -- The reader's hint about csv.read's options does not apply here.
        local message = tostring(a.message):gsub("^csv%.[%w_]+: ", "")
          :gsub("; read with {header=false} to get rows as arrays%)", ")")
          :gsub(" %(read with {header=false} to get rows as arrays%)", "")
        V.raise("claravine", a.kind, w.fname .. ": " .. message, fields)
      end
      error(a, 0)
    end
    local total = read(native.count, rows)
    local next_native, header = read(native.parts, rows, {size = claravine.max_rows, columns = fields})
    local function next_part() return read(next_native) end
    return fields or header, next_part, total, cleanup, true
  end
  if fields == nil then V.raise("claravine", "validation", w.fname .. ": data.fields is required (a list of field names)") end
  local it, total = batch._source(w.fname, "data.rows", rows), type(rows) == "table" and #rows or nil
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
  local function shape(r)
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
      -- A field the row lacks is sent empty, as Claravine's example sends an empty value ("").
      for i = 1, #fields do if out[i] == nil then out[i] = "" end end
      return out
    end
    return r
  end
  local function next_row()
    local r = it()
    if r == nil then return nil end
    n = n + 1
    return shape(r)
  end
  local next_rows
  if type(rows) == "table" and rows[1] ~= nil then
    -- A list: a part's rows are taken by index, a row as given when it is
    -- a list of values (the common case), else through shape().
    local last = #rows
    next_rows = function(max)
      local out, k = {}, 0
      for j = n + 1, math.min(n + max, last) do
        local r = rows[j]
        n = j
        k = k + 1
        out[k] = (type(r) == "table" and r[1] ~= nil) and r or shape(r)
      end
      return out
    end
  end
  return fields, next_row, total, cleanup, false, next_rows
end

--- Sends rows to a dataset (POST /v1/datasets/{dataset}/data) in parts of
--- at most 1,000 rows (claravine.max_rows, Claravine's limit), each a
--- transaction and a Job of kind "data" (also `claravine.submit`): one part
--- is named `name`, several "NAME (part i of n)". Claravine checks the rows
--- later: poll the Jobs (invalid rows fail a transaction silently, and
--- poll then raises job_failed).
--- data.rows: a list of rows (lists of values in `fields` order, or tables
--- keyed by field name: a field the row lacks is sent as ""), an iterator function returning rows (read once
--- first, to count the parts), or the path of a CSV file whose header row
--- gives the fields (when `fields` is given too, those columns are sent, in
--- that order). data.fields is required unless rows is a CSV path.
--- Parts are sent by up to opts.concurrency tasks (claravine.default_concurrency,
--- 4). A part whose answer was lost is looked up among the transactions
--- not listed before it was sent (by its name, or where the listing gives
--- bare uuids by its rows) and adopted, never sent twice;
--- when that cannot be told, kind = "network" (or the lost answer's kind)
--- says the transaction "may have been created" and names it.
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
  args.check(w, "argument #1 (kind)", kind, {data = true})
  args.check(w, "argument #2 (dataset)", dataset, "string")
  args.check(w, "argument #3 (data)", data, "table")
  args.check_known(w, "field of data", data, {name = true, fields = true, rows = true})
  args.check(w, "data.name", data.name, "string")
  if data.fields ~= nil then
    args.check(w, "data.fields", data.fields, "list")
    for i, f in ipairs(data.fields) do args.check(w, "data.fields[" .. i .. "]", f, "string") end
  end
  if data.rows == nil then V.raise("claravine", "validation", w.fname .. ": data.rows is required (a list, an iterator or a CSV path)") end
  if opts ~= nil then args.check(w, "argument #4 (options)", opts, "table") end
  opts = opts or {}
  args.check_known(w, "option", opts, {concurrency = true})
  local concurrency = args.check(w, "option 'concurrency'", opts.concurrency, "integer", true) or claravine.default_concurrency
  if concurrency < 1 then V.raise("claravine", "validation", w.fname .. ": concurrency must be >= 1") end

  local fields, next_row, total, cleanup, encoded, next_rows = row_source(w, data.fields, data.rows)
  local done <close> = setmetatable({}, {__close = function() cleanup() end})
  local parts = math.max(1, math.ceil(total / claravine.max_rows))
  local jobs = {}
  local part = 0
  -- Workers take the next 1,000 rows (reading does not yield, so parts
  -- are cut in order) and send them. From a CSV path a part comes encoded:
  -- its JSON text and its number of rows.
  local function take()
    if encoded then
      local rows_json, count = next_row()
      if rows_json == nil then
        if part > 0 then return nil end
        rows_json, count = "[]", 0
      end
      part = part + 1
      if part > parts then
        V.raise("claravine", "validation", w.fname .. ": the rows changed while they were being sent (more than counted)")
      end
      return part, nil, rows_json, count
    end
    local rows
    if next_rows then
      rows = next_rows(claravine.max_rows)
    else
      rows = {}
      for _ = 1, claravine.max_rows do
        local r = next_row()
        if r == nil then break end
        rows[#rows + 1] = r
      end
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
        local i, rows, rows_json, count = take()
        if i == nil then return end
        local name = parts == 1 and data.name or string.format("%s (part %d of %d)", data.name, i, parts)
        jobs[i] = send_part(self, dataset, name, fields, rows, rows_json, count)
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
  args.check(w, "argument #1 (kind)", kind, {transaction = true})
  args.check(w, "argument #2 (params)", params, "table")
  args.check_known(w, "parameter", params, {dataset = true, transaction = true})
  args.check(w, "field 'dataset'", params.dataset, "string")
  args.check(w, "field 'transaction'", params.transaction, "string")
  local job = self:job("transaction", params.transaction, {dataset = params.dataset})
  return job:refresh()
end

claravine._expose{"export", "submit", "poll", "download", "datasets", "transactions", "data"}

return claravine
