--- moonport.vendor: what the five vendor bindings share, so
--- that each vendor's module (clari.lua, claravine.lua, ...) holds only what
--- is its own: endpoints, auth pieces, status words, limits, error bodies
--- and the exactly-once lookup.
---
---   local V = require "moonport.vendor"
---   local M, client_class = V.define{name = "clari", ...}
---
--- Shared here: clients and credentials (client{} fields, then environment
--- variables, then the profile in credentials.toml), requests with the
--- vendor's error body turned into the moonport error object, the Job
--- object, poll with backoff and a progress line, downloads that never leave
--- a half file, and `create`: a creating request sent exactly once.
local http = require "http"
local json = require "json"
local moonport = require "moonport"
local task = require "task"
local log = require "log"
local activity = require "moonport.activity"
local context = require "moonport.context"
local state = require "state"
local run = require "moonport.run"

local V = {}

-- Under --sandbox every vendor goes to the built-in simulator, whatever a
-- client was given: an explicit base_url or credential is not used, so a
-- sandbox run never reaches production with a real key.
local function sandboxed() return os.getenv("MOONPORT_SANDBOX") == "1" end
V.sandboxed = sandboxed
--- Work a vendor does on its side (an export, a transaction, an execution,
--- an ingestion): what `vendor.export` and `vendor.submit` return. Its
--- status moves from "queued" and "running" to "done", "failed" or
--- "cancelled"; `job:wait()` follows it. `state.set` and `state.once` store
--- Jobs and give them back alive, bound to their vendor's default client.
---@class moonport.Job
---@field id string                 the vendor's id of the job
---@field vendor string             the vendor: "clari", "claravine", "quantive", "cordial" or "mediarithmics"
---@field kind string               what it is, per vendor: "forecast", "activity", "audit_events", "ingest_bulk", "data", "transaction", "goals", "goal", "audience_trends", "contacts", "export", "documents"
---@field status "queued"|"running"|"done"|"failed"|"cancelled"  moonport's status, the same words for every vendor
---@field vendor_status string|nil  the vendor's own status word ("SCHEDULED", "Pending", "RUNNING", ...); nil before the first status is read
---@field raw table|nil             the last decoded status response
---@field error string|nil          why it failed (the vendor's message), when status is "failed"
---@field ref table                 what the vendor needs besides the id to find the job again (a dataset, an import, a destination, the format); plain values only, stored by `state`
local Job = {}  -- the Job class (below)

V.user_agent = "moonport/" .. moonport.version

-- Values of the Job status field.
V.QUEUED, V.RUNNING, V.DONE, V.FAILED, V.CANCELLED = "queued", "running", "done", "failed", "cancelled"
local terminal = {done = true, failed = true, cancelled = true}

---------------------------------------------------------------------------
-- Errors and argument checks
---------------------------------------------------------------------------

--- An error object for `vendor` (not raised). The message
--- starts with the vendor's name.
function V.error(vendor, kind, message, fields)
  local f = {}
  for k, v in pairs(fields or {}) do f[k] = v end
  f.vendor = vendor
  local named = message:sub(1, #vendor + 1) == vendor .. "." or message:sub(1, #vendor + 1) == vendor .. ":"
    or message:sub(1, 4) == "job:"
  return moonport.error(kind, (named and "" or (vendor .. ": ")) .. message, f)
end

function V.raise(vendor, kind, message, fields)
  error(V.error(vendor, kind, message, fields), 0)
end

local function type_name(v)
  if type(v) == "number" then return math.type(v) == "integer" and "an integer" or "a number" end
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

--- Checks one argument or field before anything is sent: raises
--- kind = "validation" naming it ("clari.export: field 'time_period' must be
--- a string, got a number"). `expected`: "string", "number", "integer",
--- "boolean", "table", "function", "list" (a table with items 1..n), or a
--- set {A = true, ...} of allowed strings. `optional`: nil is accepted.
function V.check(where, name, value, expected, optional)
  if value == nil then
    if optional then return value end
    V.raise(where.vendor, "validation", string.format("%s: %s is required", where.fname, name))
  end
  local ok
  if type(expected) == "table" then
    ok = type(value) == "string" and expected[value] ~= nil
    if not ok then
      local allowed = {}
      for k in pairs(expected) do allowed[#allowed + 1] = k end
      table.sort(allowed)
      V.raise(where.vendor, "validation", string.format("%s: %s must be one of %s, got %s", where.fname, name,
        table.concat(allowed, ", "), type(value) == "string" and ("'" .. value .. "'") or type_name(value)))
    end
    return value
  elseif expected == "integer" then ok = math.type(value) == "integer"
  elseif expected == "list" then ok = type(value) == "table"
  else ok = type(value) == expected end
  if not ok then
    V.raise(where.vendor, "validation", string.format("%s: %s must be %s, got %s", where.fname, name,
      expected == "integer" and "an integer" or expected == "list" and "a list" or ("a " .. expected), type_name(value)))
  end
  return value
end

-- Attempts of a vendor request (the http module's default is 4): a
-- workflow of hundreds of requests at 3 a.m. should outlast a bad patch of
-- 5xx answers and dropped connections; the wait between attempts grows
-- from 0.5 s to 30 s (full jitter) within the http module's 120 s budget.
V.retry_attempts = 6

-- How a decoded answer that is not the expected shape is named in an error.
local function describe(v)
  if v == json.null then return "null" end
  if type(v) == "string" then return string.format("the string %q", #v > 60 and (v:sub(1, 60) .. "...") or v) end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then return v[1] ~= nil and "a JSON list" or "a JSON object" end
  return type(v)
end

local function unexpected(vendor, what, value, expected)
  -- The answer may echo what was sent (a proxy quoting the request): its
  -- text and details are masked like any vendor error body.
  local details
  if type(value) == "table" then
    local ok, masked = pcall(function() return json.decode(http.redact(json.encode(value))) end)
    if ok then details = masked end
  end
  V.raise(vendor, "validation", http.redact(string.format("%s answered %s where %s was expected; the API may have "
    .. "changed, or something other than %s answered (a proxy, a captive portal)", what, describe(value), expected,
    vendor)), {details = details})
end

--- A decoded answer that must be a JSON object, returned as it is; anything
--- else (a list, a number, null, a string) raises kind = "validation"
--- naming the request (`what`, e.g. "GET /v4/admin/limits").
function V.object(vendor, value, what)
  if type(value) == "table" and value[1] == nil then return value end
  unexpected(vendor, what, value, "a JSON object")
end

--- The list of objects in a decoded answer: the answer itself, or the first
--- of `keys` it holds ({"jobs": [...]}); an empty answer is an empty list.
--- Anything else raises kind = "validation" naming the request.
function V.list(vendor, value, what, keys)
  local list = value
  if type(value) == "table" and value[1] == nil and next(value) ~= nil then
    list = nil
    for _, k in ipairs(keys or {}) do
      if value[k] ~= nil then list = value[k]; break end
    end
  end
  if type(list) ~= "table" or (list[1] == nil and next(list) ~= nil) then
    unexpected(vendor, what, list == nil and value or list, "a JSON list")
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or item[1] ~= nil then
      unexpected(vendor, what .. " (item " .. i .. ")", item, "a JSON object")
    end
  end
  return list
end

--- Raises validation for any key of `t` not in `known` (a typo in an option
--- name must not be ignored silently).
function V.check_known(where, what, t, known)
  for k in pairs(t) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      V.raise(where.vendor, "validation", string.format("%s: unknown %s '%s' (known: %s)", where.fname, what,
        tostring(k), table.concat(names, ", ")))
    end
  end
end

---------------------------------------------------------------------------
-- Clients and credentials
---------------------------------------------------------------------------

-- Credentials and settings of each client, out of reach of pairs() and
-- tostring (a client table holds no secret).
local private = setmetatable({}, {__mode = "k"})

local credentials_native
local function profile_lookup(vendor)
  if credentials_native == nil then
    local ok, mod = pcall(require, "moonport.credentials")
    credentials_native = ok and mod or false
  end
  if not credentials_native then return nil end
  return credentials_native.lookup(vendor)
end

--- Defines a vendor module. `def`:
---   name            "clari"
---   base_env        "CLARI_BASE_URL"
---   default_base    "https://api.clari.com"  (or a function(settings) -> url)
---   credentials     {{field = "api_key", env = "CLARI_API_KEY", what = "API key"}, ...}
---   settings        {{field = "region", env = "QUANTIVE_REGION"}, ...}   (not secret)
---   auth            function(client, need) -> the `auth` table of http.request
---   error_body      function(decoded, status) -> code, message (the vendor's error body)
---   statuses        {WORD = "queued" | "running" | ...}
---   jobs            {[kind] = {refresh=, download=, cancel=, result=}} (or jobs.default)
--- Returns the module table M (with M.client, M.poll, M.download, and the
--- Client class to add methods to).
-- What a vendor's error body says: its code and message, each a string or
-- nil, whatever the body's shape (def.error_body may meet null, a list, a
-- nested object: a body that does not fit says nothing, it never raises).
local function vendor_said(def, decoded, status)
  if decoded == nil or def.error_body == nil then return nil, nil end
  local ok, code, message = pcall(def.error_body, decoded, status)
  if not ok then return nil, nil end
  local function text(v)
    if type(v) == "string" then return v ~= "" and v or nil end
    if math.type(v) == "integer" then return tostring(v) end
    return nil
  end
  return text(code), text(message)
end

function V.define(def)
  local M = {}
  --- A client of one vendor: its credentials, base URL and timeout, with the
  --- vendor's functions as methods (`c:export(kind, params)` is
  --- `vendor.export(kind, params)` sent with this client's credentials).
  --- Made by `vendor.client{...}`; `tostring(c)` shows the vendor and the
  --- base URL, never a secret. Each vendor's class (clari.Client,
  --- claravine.Client, ...) adds its own methods to these.
  ---@class moonport.Client
  ---@field vendor string  the vendor's name ("clari", "claravine", ...)
  local Client = {}
  Client.__index = Client
  Client.__tostring = function(c)
    if sandboxed() then
      local ok, url = pcall(c.base_url, c)
      return string.format("%s client (sandbox: the built-in simulator at %s%s)", def.name, ok and url or "?",
        private[c].given.base_url and "; the base_url given is not used" or "")
    end
    return string.format("%s client (%s)", def.name, private[c].base_url_for_display or "default base URL")
  end
  Client.__name = def.name .. ".client"
  M.Client = Client
  M.vendor = def.name
  M.statuses = def.statuses
  M._def = def

  local known_fields = {base_url = true, timeout = true}
  local is_credential = {}
  for _, c in ipairs(def.credentials) do known_fields[c.field] = true; is_credential[c.field] = true end
  for _, s in ipairs(def.settings or {}) do known_fields[s.field] = true end

  --- A client with its own credentials and settings: its
  --- methods are the module's functions (`c:export(...)`, `c:poll(...)`).
  --- Nothing is sent and nothing is looked up yet: a field not given is
  --- looked up when first needed, in the environment variable, then in the
  --- vendor's profile in ~/.config/moonport/credentials.toml; a credential
  --- found nowhere raises kind = "auth" then, naming the variable to set.
  --- Raises kind = "validation" for an unknown field, or a value that is not
  --- a string (`timeout`: not a number).
  ---   local c = clari.client{api_key = key, base_url = "https://api.clari.com"}
  ---   local job = c:export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
  ---@param opts? table  `base_url`, `timeout` (seconds per request attempt) and the vendor's credential and setting fields: clari api_key, partner_key; claravine api_key, api_secret, key_header, secret_header; quantive api_token, account_id, region; cordial api_key; mediarithmics api_token
  ---@return moonport.Client client  a client of this vendor (a clari.Client for clari, ...)
  function M.client(opts)
    local where = {vendor = def.name, fname = def.name .. ".client"}
    if opts ~= nil then V.check(where, "argument #1 (options)", opts, "table") end
    opts = opts or {}
    V.check_known(where, "field", opts, known_fields)
    for k, v in pairs(opts) do
      if k == "timeout" then V.check(where, "field 'timeout'", v, "number") else
        V.check(where, "field '" .. k .. "'", v, "string")
      end
    end
    local c = setmetatable({vendor = def.name}, Client)
    local given = {}
    for k, v in pairs(opts) do given[k] = v end
    private[c] = {given = given, cache = {}}
    return c
  end

  local default
  --- The client the module-level functions use: `vendor.export(...)` is
  --- `vendor.default_client():export(...)`. Made on first use with no
  --- fields, so its credentials come from the environment variables or the
  --- credentials profile; the same client every time.
  ---@return moonport.Client client  the module's default client
  function M.default_client()
    if default == nil then default = M.client() end
    return default
  end

  --- The profile's table for this vendor (cached per client).
  local function from_profile(c)
    local p = private[c]
    if p.profile == nil then
      local fields, where = profile_lookup(def.name)
      -- A field moonport does not know is a mistake (a typo, another
      -- vendor's field): an error naming it, not silently ignored.
      for k in pairs(fields or {}) do
        if not known_fields[k] then
          local names = {}
          for n in pairs(known_fields) do if n ~= "timeout" then names[#names + 1] = n end end
          table.sort(names)
          V.raise(def.name, "auth", string.format("unknown field '%s' in %s (the fields of %s: %s)", tostring(k),
            tostring(where), def.name, table.concat(names, ", ")))
        end
      end
      p.profile = fields or false
      p.profile_where = where
    end
    return p.profile or nil
  end

  --- A setting or credential of this client, looked up in order: the field
  --- given to `vendor.client{}`, the environment variable `env`, the
  --- vendor's profile in ~/.config/moonport/credentials.toml. An empty
  --- value counts as absent. Does not raise when nothing is found.
  ---@param field string  the field's name ("api_key", "region", "key_header", ...)
  ---@param env? string   the environment variable to look at (none when nil)
  ---@return string|nil value  nil when none of them has it
  function Client:setting(field, env)
    local p = private[self]
    -- Under --sandbox the simulator's URL and credentials (in the
    -- environment) win over what the client was given.
    if p.given[field] ~= nil and not (sandboxed() and (field == "base_url" or is_credential[field])) then
      return p.given[field]
    end
    local v = env and os.getenv(env)
    if v ~= nil and v ~= "" then
      p.source = p.source or {}
      p.source[field] = env
      return v
    end
    local prof = from_profile(self)
    if prof and prof[field] ~= nil and prof[field] ~= "" then
      p.source = p.source or {}
      p.source[field] = p.profile_where
      return prof[field]
    end
    return nil
  end

  --- Where client:setting(field, env) finds its value, never the value:
  --- "client argument", "environment variable NAME", "profile 'NAME' in
  --- FILE", or nil when none has it (`moonport auth check` shows it).
  --- Raises kind = "auth" when the credentials file cannot be used.
  ---@param field string  the field's name ("api_key", "base_url", ...)
  ---@param env? string   the environment variable to look at
  ---@return string|nil source
  function Client:setting_source(field, env)
    local p = private[self]
    if p.given[field] ~= nil then return "client argument" end
    local v = env and os.getenv(env)
    if v ~= nil and v ~= "" then return "environment variable " .. env end
    local prof = from_profile(self)
    if prof and prof[field] ~= nil and prof[field] ~= "" then return p.profile_where or "the credentials profile" end
    return nil
  end

  --- The credential named `field`, looked up as by client:setting (the
  --- client{} field, the vendor's environment variable for it, the profile)
  --- and kept for the client's later requests. Raises kind = "auth" naming
  --- the variable to set (and the other ways to give it) when there is none.
  ---@param field string  "api_key", "api_secret", "api_token", "account_id" or "partner_key", as the vendor has them
  ---@return string value  the credential
  function Client:credential(field)
    local p = private[self]
    if p.cache[field] ~= nil then return p.cache[field] end
    local spec
    for _, c in ipairs(def.credentials) do if c.field == field then spec = c end end
    local v = self:setting(field, spec and spec.env)
    if v == nil then
      local profile = p.profile_where
      if profile == nil then
        -- The profile and the file actually in use (--profile, $MOONPORT_PROFILE, $XDG_CONFIG_HOME).
        local name, file = "default", "~/.config/moonport/credentials.toml"
        if credentials_native then
          name = credentials_native.profile() or name
          file = credentials_native.path() or file
        end
        profile = string.format("[%s.%s] in %s", name, def.name, file)
      end
      V.raise(def.name, "auth", string.format(
        "no %s: set %s, or give %s = ... to %s.client{}, or add %s to %s (or run with --sandbox to use the simulator)",
        spec and spec.what or field, spec and spec.env or field, field, def.name, field, profile))
    end
    p.cache[field] = v
    return v
  end

  --- The base URL the client's requests go to, without a trailing slash:
  --- the client's `base_url`, else the vendor's *_BASE_URL variable, else
  --- the profile's base_url, else the vendor's default.
  --- Worked out once per client.
  ---@return string url  e.g. "https://api.clari.com"
  function Client:base_url()
    local p = private[self]
    if p.base_url then return p.base_url end
    local url = self:setting("base_url", def.base_env)
    if url == nil then
      url = type(def.default_base) == "function" and def.default_base(self) or def.default_base
    end
    url = url:gsub("/+$", "")
    p.base_url, p.base_url_for_display = url, url
    return url
  end

  --- Sends one request to the vendor, with its auth and the moonport
  --- User-Agent: `path` is appended to the base URL (`opts.url`, when given,
  --- is used as it is instead). `opts` takes the options of http.request
  --- (query, headers, json, body, body_file, multipart, stream_to, retry,
  --- safe_to_repeat, timeout; the client's timeout by default) and `need`
  --- (which credentials the vendor's auth needs: "ingestion" for Clari's
  --- partner key), `auth` (a table of http.request replacing the vendor's
  --- auth, or false for none) and `ok` (statuses >= 400 to return instead of
  --- raising, e.g. {[404] = true}). Retries follow the shared policy.
  --- Raises the moonport error object with `vendor` set: for a status
  --- >= 400 it is built from the vendor's error body (see
  --- vendor.response_error); a connection failure or a timeout keeps its
  --- kind ("network", "timeout").
  ---@param method string  "GET", "POST", "PATCH", "DELETE", ...
  ---@param path string    the path after the base URL, e.g. "/v4/admin/limits"
  ---@param opts? table    options, as above
  ---@return http.Response res  the response (res:json() decodes its body)
  function Client:request(method, path, opts)
    opts = opts or {}
    local headers = {["User-Agent"] = V.user_agent}
    for k, v in pairs(opts.headers or {}) do headers[k] = v end
    local req = {method = method, url = (opts.url or (self:base_url() .. path)), query = opts.query,
      headers = headers, json = opts.json, body = opts.body, body_file = opts.body_file,
      multipart = opts.multipart, stream_to = opts.stream_to,
      retry = opts.retry == nil and {attempts = V.retry_attempts} or opts.retry,
      safe_to_repeat = opts.safe_to_repeat, auth = opts.auth == nil and def.auth(self, opts.need) or opts.auth or nil,
      timeout = opts.timeout or private[self].given.timeout, raise = false}
    local ok, res = pcall(http.request, req)
    if ok then
      run.request(def.name, res.attempts, false, res.status)
    elseif type(res) == "table" and res.kind ~= "interrupted" then
      run.request(def.name, res.attempts, true, res.status)
    end
    if not ok then
      local e = res
      if type(e) == "table" and e.kind then
        local message, code, details = e.message, nil, e.details
        -- A 429 that outlasted the retries: what the vendor said about it.
        if type(e.body) == "string" then
          local okj, decoded = pcall(json.decode, e.body)
          if okj then
            local said
            code, said = vendor_said(def, decoded, e.status)
            details = decoded
            if said then message = message .. " (" .. def.name .. " said: " .. said .. ")" end
          end
        end
        V.raise(def.name, e.kind, message, {status = e.status, code = code, retryable = e.retryable, details = details})
      end
      error(e, 0)
    end
    if res.status >= 400 and not (opts.ok and opts.ok[res.status]) then
      if res.path then os.remove(res.path) end
      error(M.response_error(res, method, path, self), 0)
    end
    return res
  end

  --- The error object for a response whose status is >= 400,
  --- built from the vendor's error body: kind "auth" for 401 and 403 (the
  --- message names the variables to check), "rate_limited" for 429, "http"
  --- otherwise; `code` and the message from the vendor's body, `details` the
  --- decoded body, `retryable` for 429 and 5xx. Secrets seen so far are
  --- masked in the body. The error is returned, not raised.
  ---@param res http.Response  the response
  ---@param method string      the request's method, for the message
  ---@param path string        the request's path, for the message
  ---@return moonport.Error err  the error object (raise it with error(err, 0))
  function M.response_error(res, method, path, client)
    local body = http.redact(res.body or "")
    local decoded
    local okj, value = pcall(json.decode, body)
    if okj then decoded = value end
    local code, message = vendor_said(def, decoded, res.status)
    if message == nil or message == "" then
      local snippet = body:sub(1, 200):gsub("%s+", " ")
      local ctype = res.headers and res.headers["content-type"] or ""
      if ctype:find("html", 1, true) then snippet = "an HTML page (" .. #body .. " bytes), not the API's JSON" end
      message = snippet ~= "" and snippet or (res.reason or "no body")
    end
    local status = res.status
    local kind = (status == 401 or status == 403) and "auth" or status == 429 and "rate_limited" or "http"
    local text = string.format("%s %s answered %d%s: %s", method, path, status,
      code and (" " .. code) or "", message)
    if kind == "auth" then
      -- Name where the credentials sent came from (client{}, a variable, a profile).
      local sources = client and private[client] and private[client].source or {}
      local names = {}
      for _, c in ipairs(def.credentials) do
        if not c.optional or sources[c.field] then
          local given = client and private[client].given[c.field] ~= nil and not sandboxed()
          local from = given and (def.name .. ".client{" .. c.field .. " = ...}") or sources[c.field]
          names[#names + 1] = from and from ~= c.env and (c.what or c.field) .. " from " .. from or c.env
        end
      end
      text = text .. " (check " .. table.concat(names, " and ") .. ")"
    end
    return V.error(def.name, kind, text, {status = status, code = code, details = decoded,
      retryable = status == 429 or status >= 500})
  end

  --- A response's body decoded as JSON. Raises kind = "validation" (with the
  --- vendor, the status and the byte offset) when the body is not JSON.
  ---@param res http.Response  a response of client:request
  ---@return any value  the decoded body
  function Client:json(res)
    local ok, value = pcall(res.json, res)
    if ok then return value end
    local e = value
    V.raise(def.name, "validation", type(e) == "table" and e.message or tostring(e),
      {status = res.status, offset = type(e) == "table" and e.offset or nil})
  end

  --- client:request, then the body decoded as JSON: the way to reach an
  --- endpoint the binding has no function for. Raises as client:request
  --- does, and kind = "validation" when the body is not JSON.
  ---   local limits = clari.default_client():call("GET", "/v4/admin/limits")
  ---@param method string  "GET", "POST", ...
  ---@param path string    the path after the base URL
  ---@param opts? table    the options of client:request
  ---@return any body  the decoded JSON body
  function Client:call(method, path, opts)
    return self:json(self:request(method, path, opts))
  end

  -- The module-level functions are the default client's methods:
  -- M.export(...) == M.default_client():export(...).
  M._expose = function(names)
    for _, name in ipairs(names) do
      local shortcut = function(...) return Client[name](M.default_client(), ...) end
      M[name] = shortcut
      V.shortcut_of[shortcut] = name
    end
  end

  --- A Job of this vendor made from its parts and bound to this client;
  --- nothing is sent. The bindings make their Jobs with it; a script can
  --- rebuild a Job from an id it kept (with the `ref` the vendor needs).
  --- `raw`, when given, is a status response that sets the status.
  ---@param kind string  the job's kind ("forecast", "data", "documents", ...)
  ---@param id string    the vendor's id of the job
  ---@param ref? table   what the vendor needs besides the id (see moonport.Job)
  ---@param raw? table   a status response to take the status from
  ---@return moonport.Job job  a new Job ("queued" when raw is nil)
  function Client:job(kind, id, ref, raw)
    return V.new_job(self, M, kind, id, ref, raw)
  end

  --- Waits until every job given is done, failed or cancelled.
  --- The jobs still going are refreshed (up to 8 at a time), with a sleep
  --- between rounds that starts at `opts.interval` (2 s) and grows to 60 s,
  --- longer when the vendor asks (Retry-After). On a terminal a progress
  --- line shows the wait (`quiet = true` hides it). A status read that fails
  --- for a passing reason (network, timeout, 429, 5xx) is tried again, up
  --- to 5 times in a row for a job.
  --- Raises kind = "job_failed" once every job has ended if any failed (the
  --- vendor's message, `code` its status word, `details.failed` the failed
  --- Jobs); "timeout" after `opts.timeout` seconds (4 h by default; the jobs
  --- go on at the vendor: poll again to keep waiting); "validation" for a
  --- bad argument or option. A cancelled job is not an error.
  ---   clari.poll(jobs, {interval = 5, timeout = 3600})
  ---@param jobs moonport.Job|moonport.Job[]  a Job or a list of Jobs
  ---@param opts? {interval?: number, timeout?: number, quiet?: boolean}  first interval and time limit (seconds); quiet: no progress line
  ---@return moonport.Job|moonport.Job[] jobs  the argument, every job in it ended
  function Client:poll(jobs, opts) return V.poll(self, M, jobs, opts) end
  --- Writes a job's result to `path`: the same as `job:download(path)`
  --- (waits for the job first; see moonport.Job:download for what is
  --- written). Raises kind = "validation" when `job` is not a Job, and as
  --- job:download does.
  ---@param job moonport.Job  a Job of this vendor
  ---@param path string        the file to write
  ---@return {path: string, bytes: integer, rows: integer|nil} written  the file, its size in bytes, its data rows where known
  function Client:download(job, path)
    if getmetatable(job) ~= Job then
      V.raise(def.name, "validation", def.name .. ".download: argument #1 (job) must be a Job, got " .. type_name(job))
    end
    return job:download(path)
  end

  V.modules[def.name] = M
  return M, Client
end

V.modules = {}
-- shortcut made by _expose -> the name of the Client method it calls (its
-- doc is that method's: moonport.doc reads this).
V.shortcut_of = setmetatable({}, {__mode = "k"})

---------------------------------------------------------------------------
-- Jobs
---------------------------------------------------------------------------

Job.__index = Job
Job.__name = "moonport.Job"
V.Job = Job

local job_client = setmetatable({}, {__mode = "k"})
local job_module = setmetatable({}, {__mode = "k"})

function Job.__tostring(j)
  return string.format("%s %s job %s (%s%s)", j.vendor, j.kind, tostring(j.id), j.status,
    j.vendor_status and (", " .. tostring(j.vendor_status)) or "")
end

--- A Job: id, vendor, kind, status, vendor_status, raw, error; `ref` holds
--- what the vendor needs besides the id to find it again (a dataset, an
--- import, a destination); plain values only, it is stored by `state`.
function V.new_job(client, M, kind, id, ref, raw)
  local j = setmetatable({id = id, vendor = M.vendor, kind = kind, status = V.QUEUED, ref = ref or {}}, Job)
  job_client[j], job_module[j] = client, M
  if raw ~= nil then V.apply_status(j, raw) end
  run.job(j)
  return j
end

local function hooks(j)
  local M = job_module[j]
  local def = M._def
  return def.jobs[j.kind] or def.jobs.default or {}, def, M
end

--- Sets status and vendor_status from a status response `raw`; the vendor's
--- `status_of(raw)` hook gives the word (and, for a failure, the message).
function V.apply_status(j, raw)
  local h, def = hooks(j)
  j.raw = raw
  local word, message = h.status_of(raw, j)
  j.vendor_status = word
  local status = def.statuses[word]
  if status == nil and word ~= nil then
    status = V.RUNNING
    if not j._warned then
      j._warned = true
      log.warn("%s: job %s has a status moonport does not know ('%s'); treated as still running", j.vendor, tostring(j.id), tostring(word))
    end
  end
  j.status = status or V.RUNNING
  if j.status == V.FAILED then
    j.error = message or ("the job ended " .. tostring(word))
  end
  return j
end

--- Asks the vendor for the job's status now (one request) and sets
--- `status`, `vendor_status`, `raw` and `error` from the answer. A status
--- word moonport does not know counts as "running" (with a warning).
--- Raises the vendor's error object when the request fails.
---@return moonport.Job job  the job itself
function Job:refresh()
  local h = hooks(self)
  local ok, raw, headers = pcall(h.refresh, job_client[self], self)
  if not ok then error(V.stale_job_error(self, raw), 0) end
  V.apply_status(self, raw)
  self._retry_after = headers and tonumber(headers["retry-after"]) or nil
  return self
end

--- Waits until the job is done, failed or cancelled: the same as
--- `vendor.poll(job, opts)`, refreshing it with a growing interval (from
--- `opts.interval`, 2 s, to 60 s; Retry-After is honoured).
--- Raises kind = "job_failed" with the vendor's message if the job failed,
--- "timeout" after `opts.timeout` seconds (4 h by default), "validation"
--- for a bad option. A cancelled job is returned, not raised.
---   local job = clari.export("forecast", {...}):wait()
---@param opts? {interval?: number, timeout?: number, quiet?: boolean}  first interval and time limit (seconds); quiet: no progress line
---@return moonport.Job job  the job itself, ended
function Job:wait(opts)
  if getmetatable(self) ~= Job then
    -- job.wait() / job.wait{...}: called with a dot, `self` is not the job.
    error(moonport.error("usage", "job.wait: call it as job:wait() (with a colon), on the Job itself"), 2)
  end
  return V.poll(job_client[self], job_module[self], self, opts)
end

--- Writes the job's result to `path` and says what was written; waits for
--- the job first (as job:wait()) when it has not ended. The file is written
--- through a temporary file and renamed, so `path` never holds half a file.
--- What is written depends on the vendor: Clari the export's file (JSON or
--- CSV); Claravine the transaction as CSV or JSON (by the extension);
--- Quantive the goals as NDJSON, CSV or JSON (by the extension); Cordial
--- the export read back from its s3/aws destination; mediarithmics the
--- execution's final record as JSON.
--- Raises kind = "usage" when the job ended failed or cancelled, or when
--- it has nothing to download (Clari ingestion jobs, Quantive created
--- goals, a Cordial export to another destination type); "validation" when
--- `path` is not a string; "job_failed" when the wait ends in a failure.
---@param path string  the file to write
---@return {path: string, bytes: integer, rows: integer|nil} written  the file, its size in bytes, its data rows where known
function Job:download(path)
  local h, def = hooks(self)
  local where = {vendor = def.name, fname = "job:download"}
  V.check(where, "argument #1 (path)", path, "string")
  if not h.download then
    V.raise(def.name, "usage", string.format("%s %s jobs have nothing to download", def.name, self.kind))
  end
  if self.status ~= V.DONE then
    if terminal[self.status] then
      V.raise(def.name, "usage", string.format("job %s ended %s (%s); there is nothing to download",
        tostring(self.id), self.status, tostring(self.vendor_status)))
    end
    self:wait()
  end
  local ok, written = pcall(h.download, job_client[self], self, path)
  if not ok then error(V.stale_job_error(self, written), 0) end
  return written
end

--- Asks the vendor to cancel the job, then refreshes it (a failed refresh
--- is ignored). Clari export jobs and mediarithmics executions can be
--- cancelled; other jobs raise kind = "usage". The vendor's refusal is
--- raised (Clari answers 400 for a job already DONE).
---@return moonport.Job job  the job itself
function Job:cancel()
  local h, def = hooks(self)
  if not h.cancel then
    V.raise(def.name, "usage", string.format("%s %s jobs cannot be cancelled through the API", def.name, self.kind))
  end
  h.cancel(job_client[self], self)
  pcall(Job.refresh, self)
  return self
end

--- The job's result, decoded from JSON, read from the vendor; waits for the
--- job first (as job:wait()) unless it is done. Clari exports: the decoded
--- result file (a CSV export raises kind = "validation": it is not JSON);
--- Claravine transactions: {fields=, rows=}; Quantive goals exports: the
--- list of goals, created goals: the goal; mediarithmics executions:
--- {total_success=, total_failure=, error_file_uri=}.
--- Raises kind = "usage" for jobs without a JSON result (Clari ingestion
--- jobs, Cordial exports), "job_failed" when the wait ends in a failure.
---@return any result  the decoded result
function Job:result()
  local h, def = hooks(self)
  if not h.result then
    V.raise(def.name, "usage", string.format("%s %s jobs have no JSON result", def.name, self.kind))
  end
  if self.status ~= V.DONE then self:wait() end
  return h.result(job_client[self], self)
end

-- Where each Job that came back from the state store was stored:
-- {key=, kind = "once" | "set", path=}.
local job_origin = setmetatable({}, {__mode = "k"})

-- A word for the shell: 'as is' when plain, else single-quoted.
local function shell_word(s)
  if s:match("^[%w%._/:@%%+=,-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The error of a refresh: `e` itself, unless the job came back from the
--- state store and the vendor answered 404 (it expired the job, or the
--- simulator restarted; Clari: 400 invalid_jobId): then the message names the state key, the
--- database and the `moonport state forget` command that lets the next run
--- do that step afresh.
function V.stale_job_error(j, e)
  local origin = job_origin[j]
  if type(e) ~= "table" or not origin then return e end
  -- 404 / 410; Clari's API answers 400 invalid_jobId (results) or its generic
  -- 400 SWW (the job itself) for a job it does not know.
  local code = type(e.code) == "string" and e.code:lower() or nil
  local gone = e.status == 404 or e.status == 410
    or (e.status == 400 and (code == "invalid_jobid" or (j.vendor == "clari" and code == "sww")))
  if not gone then return e end
  local by = origin.kind == "once" and ("state.once(%q)"):format(origin.key) or ("state.set(%q, ...)"):format(origin.key)
  local fields = {}
  for k, v in pairs(e) do if k ~= "message" and k ~= "kind" then fields[k] = v end end
  fields.state_key, fields.state_path = origin.key, origin.path
  return V.error(j.vendor, e.kind or "http", string.format(
    "%s job %s, stored by %s in the state database %s, no longer exists at %s (%s): the vendor expired it, "
    .. "or it was made by a simulator that has since restarted. To start that step afresh on the next run: "
    .. "moonport state --state %s forget %s",
    j.kind, tostring(j.id), by, origin.path, j.vendor, e.message or "404", shell_word(origin.path),
    shell_word(origin.key)), fields)
end

-- Jobs stored by state come back alive, bound to their vendor's default client.
state.register_class("moonport.Job", Job, {
  dump = function(j)
    return {vendor = j.vendor, kind = j.kind, id = j.id, ref = j.ref, status = j.status, vendor_status = j.vendor_status}
  end,
  load = function(d, origin)
    local M = V.modules[d.vendor] or require(d.vendor)
    local j = V.new_job(M.default_client(), M, d.kind, d.id, d.ref)
    j.status, j.vendor_status = d.status, d.vendor_status
    job_origin[j] = origin
    return j
  end,
})

---------------------------------------------------------------------------
-- poll
---------------------------------------------------------------------------

V.max_interval = 60
V.default_timeout = 4 * 3600

-- A refresh that fails this many times in a row (after the HTTP retries) ends the poll.
local refresh_failures_allowed = 5

--- vendor.poll(job_or_jobs [, {interval=, timeout=}]): refreshes until every
--- job is done, failed or cancelled; the wait grows from `interval` (2 s) to
--- 60 s and honours Retry-After. Raises job_failed when a job failed,
--- timeout after `timeout` seconds (4 h by default).
function V.poll(client, M, jobs, opts)
  local vendor = M.vendor
  local where = {vendor = vendor, fname = vendor .. ".poll"}
  V.check(where, "argument #1 (job or list of jobs)", jobs, "table")
  if opts ~= nil then V.check(where, "argument #2 (options)", opts, "table") end
  opts = opts or {}
  V.check_known(where, "option", opts, {interval = true, timeout = true, quiet = true})
  local interval = V.check(where, "option 'interval'", opts.interval, "number", true) or 2
  local timeout = V.check(where, "option 'timeout'", opts.timeout, "number", true) or V.default_timeout
  if interval <= 0 then V.raise(vendor, "validation", where.fname .. ": interval must be > 0") end
  if timeout <= 0 then V.raise(vendor, "validation", where.fname .. ": timeout must be > 0") end
  local single = getmetatable(jobs) == Job
  local list = single and {jobs} or jobs
  for i, j in ipairs(list) do
    if getmetatable(j) ~= Job then
      V.raise(vendor, "validation", string.format("%s: item %d is not a Job (got %s)", where.fname, i, type_name(j)))
    end
  end
  local started = moonport.now()
  local wait = interval
  local failures = {}
  local show = not opts.quiet and activity.mode ~= "off"
  local shown  -- the id of this wait's progress line
  local function progress_done()
    if shown then activity.finish(shown); shown = nil end
  end
  -- Whatever ends the wait (an error, Ctrl-C) takes its progress line away.
  local ok, e = xpcall(function()
  while true do
    local pending = {}
    for _, j in ipairs(list) do if not terminal[j.status] then pending[#pending + 1] = j end end
    -- Refresh what is still going, a few at a time.
    local retry_after = 0
    if #pending > 0 then
      task.map(pending, function(j)
        local ok, e = pcall(Job.refresh, j)
        if ok then
          failures[j] = nil
          if j._retry_after then retry_after = math.max(retry_after, j._retry_after) end
        else
          local transient = type(e) == "table" and (e.kind == "network" or e.kind == "timeout"
            or e.kind == "rate_limited" or (e.kind == "http" and (e.status or 0) >= 500))
          failures[j] = (failures[j] or 0) + 1
          if not transient or failures[j] >= refresh_failures_allowed then error(e, 0) end
          log.warn("%s: could not read the status of job %s (%s); trying again", vendor, tostring(j.id),
            type(e) == "table" and e.message or tostring(e))
        end
      end, {concurrency = math.min(8, #pending)})
    end
    local left, words = 0, {}
    for _, j in ipairs(list) do
      if not terminal[j.status] then
        left = left + 1
        local w = tostring(j.vendor_status or j.status)
        words[w] = (words[w] or 0) + 1
      end
    end
    if left == 0 then break end
    local elapsed = moonport.now() - started
    if show then
      local parts = {}
      for w, n in pairs(words) do parts[#parts + 1] = (#list > 1 and (n .. " ") or "") .. w end
      table.sort(parts)
      local what = #list == 1 and ("job " .. tostring(list[1].id)) or string.format("%d of %d jobs", left, #list)
      -- The host adds the elapsed time and redraws it every second (a
      -- plain line at least every minute when stderr is not a terminal).
      local text = string.format("%s: waiting for %s: %s", vendor, what, table.concat(parts, ", "))
      if shown then activity.update(shown, text)
      else shown = activity.begin(text, {vendor = vendor, job = #list == 1 and tostring(list[1].id) or nil}) end
    end
    if elapsed >= timeout then
      progress_done()
      local names = {}
      for _, j in ipairs(list) do
        if not terminal[j.status] and #names < 5 then names[#names + 1] = tostring(j.id) .. " " .. tostring(j.vendor_status) end
      end
      V.raise(vendor, "timeout", string.format("%d of %d job(s) still not finished after %s (%s%s); poll again to keep waiting",
        left, #list, moonport.duration(elapsed), table.concat(names, ", "), left > #names and ", ..." or ""), {retryable = true})
    end
    local sleep = math.max(wait, retry_after)
    sleep = math.min(sleep, math.max(0.05, timeout - elapsed))
    task.sleep(sleep)
    wait = math.min(wait * 1.5, V.max_interval)
  end
  end, function(err)
    -- keeps where a raw Lua error happened (error objects carry their own)
    if type(err) == "table" then return err end
    return debug.traceback(tostring(err), 2)
  end)
  progress_done()
  if not ok then error(e, 0) end
  local failed = {}
  for _, j in ipairs(list) do if j.status == V.FAILED then failed[#failed + 1] = j end end
  if #failed > 0 then
    local first = failed[1]
    local msg = #list == 1 and string.format("job %s failed (%s): %s", tostring(first.id), tostring(first.vendor_status), tostring(first.error))
      or string.format("%d of %d jobs failed; job %s (%s): %s", #failed, #list, tostring(first.id), tostring(first.vendor_status), tostring(first.error))
    V.raise(vendor, "job_failed", msg, {details = {failed = failed}, code = type(first.vendor_status) == "string" and first.vendor_status or nil})
  end
  return jobs
end

--- task.sleep(seconds) shown as a wait in progress (a redrawn line on a
--- terminal, plain lines otherwise: see --progress): for the waits of a
--- binding that are not polls (a free export slot, a quota). `fields`:
--- vendor, job, since (seconds waited already, shown in the elapsed time).
function V.sleep_shown(text, seconds, fields)
  fields = fields or {}
  local id = activity.mode ~= "off" and activity.begin(text, {vendor = fields.vendor, job = fields.job,
    since = fields.since}) or nil
  local ok, e = pcall(task.sleep, seconds)
  if id then activity.finish(id) end
  if not ok then error(e, 0) end
end

---------------------------------------------------------------------------
-- Downloads
---------------------------------------------------------------------------

--- Size of a file in bytes.
function V.file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

--- Data rows of a CSV file (the header row not counted).
function V.count_csv_rows(path)
  local csv = require "csv"
  local n = 0
  for _ in csv.read(path, {header = false}) do n = n + 1 end
  return math.max(0, n - 1)
end

--- Lines of an NDJSON file.
function V.count_lines(path)
  local n = 0
  for line in io.lines(path) do if line:find("%S") then n = n + 1 end end
  return n
end


---------------------------------------------------------------------------
-- Exactly-once creation
---------------------------------------------------------------------------

--- Whether an error leaves it unknown if the request took effect: the
--- answer was lost (reset after sending, timeout, cut-off body) or a 500,
--- 502 or 504 that may have come after the work was done.
function V.outcome_unknown(e)
  if type(e) ~= "table" then return false end
  if e.kind == "network" then
    return not tostring(e.message):find("connection refused", 1, true)
  end
  if e.kind == "timeout" then return true end
  if e.kind == "http" then return e.status == 500 or e.status == 502 or e.status == 504 end
  -- A 2xx whose body was cut short or garbled: the work was done.
  if e.kind == "validation" and e.status and e.status < 300 then return true end
  return false
end

V.create_attempts = 5

--- The error raised when a lookup cannot tell whether a create took effect:
--- nothing is sent again, and the message says what to check.
local function maybe_created(spec, cause, unsure)
  V.raise(spec.vendor, cause and cause.kind or "network", string.format(
    "the %s may have been created: %s%s. Nothing was sent again, so that it is not created twice: %s",
    spec.what, cause and ("the answer was lost (" .. tostring(cause.message) .. ") and ") or "an earlier run was interrupted and ",
    "it cannot be told for sure whether it was", unsure), {retryable = false, status = cause and cause.status})
end

--- Sends a creating request exactly once. `spec`:
---   vendor, what ("export job"), key (identifies the request in the
---   state.once journal: the same request on a rerun has the same key),
---   before()            -> snapshot taken before sending (optional)
---   send()              -> created: a plain table describing what was created
---   find(snapshot, t0)  -> created, or nil when it was surely not created, or
---                          nil, UNSURE (a text saying what the user should
---                          check, e.g. "look for the transaction 'X' in
---                          Claravine before you rerun") when the vendor's
---                          listing cannot tell: looks for what a request
---                          sent at time t0 (seconds) created, when its
---                          answer was lost
--- Inside state.once, the request is journaled: a rerun after a crash adopts
--- what the first run created instead of sending it again. An UNSURE lookup
--- raises instead of sending again.
function V.create(spec)
  local ctx = context.current()
  local jkey
  if ctx and ctx.once then
    ctx.counts[spec.key] = (ctx.counts[spec.key] or 0) + 1
    jkey = spec.vendor .. "\31" .. spec.key .. "\31" .. ctx.counts[spec.key]
    local rec = state._journal_get(ctx, jkey)
    if rec and rec.created then
      log.debug("%s: %s adopted from the state journal (it was created by an earlier run)", spec.vendor, spec.what)
      return rec.created
    end
    if rec then
      -- An earlier run sent it and did not live to see the answer.
      local found, unsure = spec.find(rec.snapshot, rec.started_at)
      if not found and unsure then maybe_created(spec, nil, unsure) end
      if found then
        log.info("%s: found the %s an interrupted run created; adopting it instead of sending again", spec.vendor, spec.what)
        state._journal_set(ctx, jkey, {started_at = rec.started_at, created = found})
        return found
      end
    end
  end
  local last
  for attempt = 1, V.create_attempts do
    local snapshot = spec.before and spec.before() or nil
    -- When the attempt began (each binding's find allows for the vendor's clock).
    local started_at = moonport.now()
    if jkey then state._journal_set(ctx, jkey, {started_at = started_at, snapshot = snapshot}) end
    local ok, result = pcall(spec.send)
    if ok then
      if jkey then state._journal_set(ctx, jkey, {started_at = started_at, created = result}) end
      return result
    end
    last = result
    if not V.outcome_unknown(result) then error(result, 0) end
    log.warn("%s: the answer to creating the %s was lost (%s); checking whether it was created",
      spec.vendor, spec.what, result.message)
    -- The lookup is a read: a failure of its own is tried again a few times.
    local fok, found, unsure
    for look = 1, 3 do
      fok, found, unsure = pcall(spec.find, snapshot, started_at)
      if fok or look == 3 then break end
      log.warn("%s: checking whether the %s was created failed (%s); trying again", spec.vendor, spec.what,
        type(found) == "table" and found.message or tostring(found))
      task.sleep(look * (0.5 + math.random()))
    end
    if not fok then
      V.raise(spec.vendor, type(found) == "table" and found.kind or result.kind, string.format(
        "the answer to creating the %s was lost (%s), and checking whether it was created failed too (%s); "
        .. "nothing was sent again. Rerun the script (inside state.once it will check again before sending)",
        spec.what, result.message, type(found) == "table" and found.message or tostring(found)),
        {retryable = true})
    end
    if not found and unsure then maybe_created(spec, result, unsure) end
    if found then
      log.info("%s: the %s had been created; adopting it", spec.vendor, spec.what)
      if jkey then state._journal_set(ctx, jkey, {started_at = started_at, created = found}) end
      return found
    end
    log.info("%s: the %s was not created; sending it again (attempt %d of %d)", spec.vendor, spec.what,
      attempt + 1, V.create_attempts)
    task.sleep(math.min(8, 0.5 * 2 ^ (attempt - 1)) * (0.5 + math.random() / 2))
  end
  V.raise(spec.vendor, last.kind, string.format("could not create the %s after %d attempts; the last: %s",
    spec.what, V.create_attempts, last.message), {status = last.status, retryable = true})
end

return V
