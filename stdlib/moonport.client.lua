--- moonport.client: a vendor's client, made by V.define: its credentials
--- and settings (client{} fields, then environment variables, then the
--- profile in credentials.toml), its requests (auth, User-Agent, the shared
--- retry policy), and the error object of a failed request, to which the
--- vendor adds only through its `code_and_message` hook (what its error
--- body says). The Job-related methods (job, poll, download) are added by
--- moonport.job.
local http = require "http"
local moonport = require "moonport"
local run = require "moonport.run"
local args = require "moonport.args"
local errors = require "moonport.errors"

local C = {}

-- Under --sandbox every vendor goes to the built-in simulator, whatever a
-- client was given: an explicit base_url or credential is not used, so a
-- sandbox run never reaches production with a real key.
local function sandboxed() return os.getenv("MOONPORT_SANDBOX") == "1" end
C.sandboxed = sandboxed

C.user_agent = "moonport/" .. moonport.version

-- Attempts of a vendor request, more than the http module's default: a
-- workflow of hundreds of requests at 3 a.m. should outlast a bad patch of
-- 5xx answers and dropped connections (the waits between attempts, and
-- their budget, are the http module's retry policy).
C.retry_attempts = 6

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

-- What a vendor's error body says: its code and message, each a string or
-- nil, whatever the body's shape (def.code_and_message may meet null, a
-- list, a nested object: a body that does not fit says nothing, it never
-- raises).
local function vendor_said(def, decoded, status)
  if decoded == nil or def.code_and_message == nil then return nil, nil end
  local ok, code, message = pcall(def.code_and_message, decoded, status)
  if not ok then return nil, nil end
  local function text(v)
    if type(v) == "string" then return v ~= "" and v or nil end
    if math.type(v) == "integer" then return tostring(v) end
    return nil
  end
  return text(code), text(message)
end

-- The fields of an http error (status, retryable, may_have_taken_effect,
-- body, details, attempts, ...): what a vendor's error object keeps of it.
local function facts_of(e)
  local fields = {}
  for k, v in pairs(e) do
    if k ~= "kind" and k ~= "message" and k ~= "where" then fields[k] = v end
  end
  return fields
end

--- Defines a vendor module. `def`:
---   name              "clari"
---   base_env          "CLARI_BASE_URL"
---   default_base      "https://api.clari.com"  (or a function(settings) -> url)
---   credentials       {{field = "api_key", env = "CLARI_API_KEY", what = "API key"}, ...}
---   settings          {{field = "region", env = "QUANTIVE_REGION"}, ...}   (not secret)
---   auth              function(client, need) -> the `auth` table of http.request
---   code_and_message  function(decoded, status) -> code, message (what the vendor's error body says)
---   statuses          {WORD = "queued" | "running" | ...}
---   jobs              {[kind] = {status_of=, refresh=, download=, cancel=, result=}} (or jobs.default):
---                     the functions of each kind of Job (see moonport.job)
--- Returns the module table M (with M.client, M.poll, M.download, and the
--- Client class to add methods to).
function C.define(def)
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
  def.jobs = def.jobs or {}

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
    if opts ~= nil then args.check(where, "argument #1 (options)", opts, "table") end
    opts = opts or {}
    args.check_known(where, "field", opts, known_fields)
    for k, v in pairs(opts) do
      args.check(where, "field '" .. k .. "'", v, k == "timeout" and "number" or "string")
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
          errors.raise(def.name, "auth", string.format("unknown field '%s' in %s (the fields of %s: %s)", tostring(k),
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
      errors.raise(def.name, "auth", string.format(
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
    local headers = {["User-Agent"] = C.user_agent}
    for k, v in pairs(opts.headers or {}) do headers[k] = v end
    local req = {method = method, url = (opts.url or (self:base_url() .. path)), query = opts.query,
      headers = headers, json = opts.json, body = opts.body, body_file = opts.body_file,
      multipart = opts.multipart, stream_to = opts.stream_to,
      retry = opts.retry == nil and {attempts = C.retry_attempts} or opts.retry,
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
        -- The http module's facts stay on the error (status, retryable,
        -- may_have_taken_effect, body, details); the vendor adds what its
        -- error body says (a 429 that outlasted the retries).
        local fields, message = facts_of(e), e.message
        if e.details ~= nil then
          local code, said = vendor_said(def, e.details, e.status)
          fields.code = code
          if said then message = message .. " (" .. def.name .. " said: " .. said .. ")" end
        end
        errors.raise(def.name, e.kind, message, fields)
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
  --- decoded body, `body` the body (at most 64 KiB); `retryable` and
  --- `may_have_taken_effect` are the http module's verdict on the status.
  --- Secrets seen so far are masked in the body. The error is returned, not
  --- raised.
  ---@param res http.Response  the response
  ---@param method string      the request's method, for the message
  ---@param path string        the request's path, for the message
  ---@return moonport.Error err  the error object (raise it with error(err, 0))
  function M.response_error(res, method, path, client)
    local fields = facts_of(http.response_error(res, method))
    local body, decoded = fields.body or "", fields.details
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
    fields.code = code
    return errors.error(def.name, kind, text, fields)
  end

  --- A response's body decoded as JSON. Raises kind = "validation" (with the
  --- vendor, the status and the byte offset) when the body is not JSON.
  ---@param res http.Response  a response of client:request
  ---@return any value  the decoded body
  function Client:json(res)
    local ok, value = pcall(res.json, res)
    if ok then return value end
    local e = value
    -- A 2xx whose body was cut short or garbled: the request took effect.
    local _, may_have_taken_effect = errors.verdict(res.status)
    errors.raise(def.name, "validation", type(e) == "table" and e.message or tostring(e),
      {status = res.status, offset = type(e) == "table" and e.offset or nil, may_have_taken_effect = may_have_taken_effect})
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
      C.shortcut_of[shortcut] = name
    end
  end

  require("moonport.job").add_client_methods(M, Client)
  C.modules[def.name] = M
  return M, Client
end

-- Every module V.define made, by vendor name.
C.modules = {}
-- shortcut made by _expose -> the name of the Client method it calls (its
-- doc is that method's: moonport.doc reads this).
C.shortcut_of = setmetatable({}, {__mode = "k"})

return C
