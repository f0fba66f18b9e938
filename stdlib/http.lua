--- http: requests that look synchronous; the task waits, others run.
---   local res = http.get(url, {query = {oppId = {"a", "b"}}, headers = {...}, timeout = 30})
---   res.status, res.headers["content-type"], res.body, res:json()
---   http.post(url, {json = {...}}) / {body = "raw"} / {form = {a = 1}} / {body_file = "big.ndjson"}
---   http.post(url, {multipart = {{name = "FileData", file = "data.json", content_type = "application/json"},
---                                {name = "note", value = "text"}}})   -- file parts stream from disk
---   http.get(url, {stream_to = "big.csv"}) -> res.path, res.bytes (written to a
---     temporary file, fsynced, renamed; resumed with Range after a dropped connection)
--- A status >= 400 raises kind = "http" (unless raise = false). Retries follow
--- the shared retry policy (retry = false turns it off).
---   auth = {bearer = token, headers = {["X-Account-Id"] = id}} | {basic = {user, password}}
---        | {header = "X-Api-Key", value = key} | {authorization = raw}
---        | {key_header = "X-Api-Key", key = k, secret_header = "X-Api-Secret", secret = s}
---   aws_sigv4 = {access_key=, secret_key=, region=, service="s3"}   -- AWS Signature V4 (S3 GetObject)
--- Auth values never appear in -v, --trace, error messages or tostring; any
--- secret value seen so far is masked (***) in error messages.
local native = require "moonport.http"
local json = require "json"
local moonport = require "moonport"
local args = require "moonport.args"

local http = {}

--- The answer to a request (http.request, http.get, ...).
---@class http.Response
---@field status integer    the HTTP status
---@field reason string     the status's reason phrase
---@field headers table<string, string>  the headers by lower-case name (a repeated header's values joined with ", ")
---@field body string       the body ("" when it was streamed to a file)
---@field url string        the URL that answered (after redirects)
---@field attempts integer  how many attempts it took
---@field path string|nil   with stream_to: the file written
---@field bytes integer|nil with stream_to: the bytes written
---@field resumes integer|nil with stream_to: how many times the download was resumed
local Response = {}
Response.__index = Response

--- The body decoded as JSON (as json.decode does). A body that is not JSON
--- (an HTML error page, a cut-off answer) raises kind = "validation" saying
--- what came back (the URL, status, content type and size), with `status`
--- and `offset` (the byte where decoding failed).
---@return any value  the decoded body
function Response:json()
  local ok, value = pcall(json.decode, self.body)
  if ok then return value end
  local ctype = self.headers["content-type"] or "no content-type"
  error(moonport.error("validation", string.format("%s answered %d with a body that is not JSON (%s, %d bytes): %s",
    native.redact_url(self.url), self.status, ctype, #self.body,
    native.redact(type(value) == "table" and value.message or tostring(value))),
    {status = self.status, offset = type(value) == "table" and value.offset or nil}), 0)
end

local function percent(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- Encodes a table as a query string (or a form body): keys sorted, keys
--- and values percent-encoded, a list value repeats its key.
---   http.encode_query{a = 1, ids = {"x", "y"}}  --> "a=1&ids=x&ids=y"
--- Raises kind = "validation" for a key that is not a string or a value
--- that is not a string, number or boolean (or a list of them).
---@param params table<string, string|number|boolean|(string|number|boolean)[]>  the parameters
---@return string query  the encoded text, without a leading "?"
function http.encode_query(params)
  local keys = {}
  for k in pairs(params) do
    if type(k) ~= "string" then
      args.raise("validation", "http: query and form keys must be strings, got " .. type(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    local list = type(v) == "table" and v or {v}
    for _, item in ipairs(list) do
      local t = type(item)
      if t ~= "string" and t ~= "number" and t ~= "boolean" then
        args.raise("validation", string.format("http: value of '%s' must be a string, number or boolean, got %s", k, t))
      end
      out[#out + 1] = percent(k) .. "=" .. percent(item)
    end
  end
  return table.concat(out, "&")
end

-- At most this much of an error answer's body is kept in the error's `body`.
local ERROR_BODY_MAX = 65536

--- The error object (not raised) for an answer whose status is >= 400:
--- the one place an http error is built from a response (http.request
--- raises it; a vendor binding adds its error body's code and message).
--- Kind "rate_limited" for a 429 that outlasted the retries, "http"
--- otherwise; its fields: status, retryable and may_have_taken_effect (the
--- retry policy's verdict), body (the body with secrets masked, at most
--- 64 KiB), details (the decoded body when it is JSON), attempts.
---   local res = http.get(url, {raise = false})
---   if res.status >= 400 then error(http.response_error(res, "GET"), 0) end
---@param res http.Response  the answer
---@param method string      the request's method, for the message
---@param gave_up? string    the retry policy's reason for giving up, when it did
---@return moonport.Error err
function http.response_error(res, method, gave_up)
  local W = "http.response_error"
  args.check(W, "argument #1 (res)", res, "table")
  args.check(W, "field 'status' of argument #1", res.status, "integer")
  args.check(W, "argument #2 (method)", method, "string")
  -- The server may echo a credential (a 401 quoting the token): the
  -- message, the body and the details are read with secrets masked.
  local body = native.redact(args.check(W, "field 'body' of argument #1", res.body, "string", true) or "")
  local details
  local ok, decoded = pcall(json.decode, body)
  if ok then details = decoded end
  local retryable, may_have_taken_effect = native.verdict(res.status)
  local fields = {status = res.status, retryable = retryable, may_have_taken_effect = may_have_taken_effect,
    body = body:sub(1, ERROR_BODY_MAX), details = details, attempts = res.attempts}
  local target = method:upper() .. (type(res.url) == "string" and (" " .. native.redact_url(res.url)) or "")
  if res.status == 429 and gave_up then
    return moonport.error("rate_limited", string.format("%s: rate limited (429): %s", target, gave_up), fields)
  end
  local snippet = body:sub(1, 300):gsub("%s+", " ")
  return moonport.error("http", string.format("%s answered %d%s%s", target, res.status,
    type(res.reason) == "string" and res.reason ~= "" and (" " .. res.reason) or "",
    snippet ~= "" and (": " .. snippet) or ""), fields)
end

-- The options of http.request: the one list the code uses.
local known = {method = true, url = true, query = true, headers = true, json = true, body = true, form = true,
  timeout = true, retry = true, raise = true, safe_to_repeat = true, stream_to = true, auth = true,
  multipart = true, body_file = true, aws_sigv4 = true}

-- http.request checks its options here and hands the native layer flat
-- values (see HTTPModule.swift): headers = {name, value, ...};
-- retry_off or retry_attempts/_base/_max/_max_wait; parts = {name, value,
-- file, filename, content_type, ...} (five per part, false where absent);
-- auth_headers = {name, value, ...} (the values are secrets),
-- auth_basic_user/auth_basic_password; aws_access_key, aws_secret_key,
-- aws_region, aws_service, aws_session_token. Errors name the field, never
-- a credential's value.
local W = "http.request"

local function invalid(message) args.raise("validation", W .. ": " .. message) end

-- Text for a header or a part: a string (a number is taken as text) with
-- no line break.
local function one_line(v, what, allow_number)
  local t = type(v)
  if t ~= "string" and not (allow_number and t == "number") then args.fail(W, what, "a string", t) end
  v = tostring(v)
  if v:find("[\r\n]") then invalid(what .. " contains a line break") end
  return v
end

local function is_header_name(v)
  return type(v) == "string" and v:find("^[\33-\57\59-\126]+$") ~= nil
end

local function flat_headers(headers)
  local out = {}
  for name, v in pairs(headers) do
    if type(name) ~= "string" then invalid("header names must be strings, got " .. type(name)) end
    if not is_header_name(name) then invalid("'" .. name .. "' is not a valid header name") end
    local values = type(v) == "table" and v or {v}
    for k = 1, rawlen(values) do
      out[#out + 1] = name
      out[#out + 1] = one_line(values[k], "header '" .. name .. "'", true)
    end
  end
  return out
end

local function flat_retry(retry, req)
  if retry == nil or retry == true then return end
  if retry == false then req.retry_off = true return end
  if type(retry) ~= "table" then args.fail(W, "field 'retry'", "false or a table", type(retry)) end
  req.retry_attempts = args.check(W, "field 'retry.attempts'", retry.attempts, "integer >= 1", true)
  req.retry_base = args.check(W, "field 'retry.base'", retry.base, "number", true)
  req.retry_max = args.check(W, "field 'retry.max'", retry.max, "number", true)
  req.retry_max_wait = args.check(W, "field 'retry.max_wait'", retry.max_wait, "number", true)
end

local PART_FIELDS = {name = true, value = true, file = true, filename = true, content_type = true}

local function add_part(out, p, name, label)
  for k in pairs(p) do
    if not PART_FIELDS[k] then
      invalid(string.format("%s has an unknown field '%s' (use name, value or file, filename, content_type)", label, tostring(k)))
    end
  end
  if name == nil and p.name ~= nil then name = one_line(p.name, label .. ".name") end
  if name == nil or name == "" then invalid(label .. ".name is required (a string)") end
  name = one_line(name, label .. ".name")
  local ctype = p.content_type ~= nil and one_line(p.content_type, label .. ".content_type") or nil
  local n = #out
  if p.file ~= nil then
    local file = one_line(p.file, label .. ".file")
    if p.value ~= nil then invalid(label .. " gives both value and file") end
    local filename = p.filename ~= nil and one_line(p.filename, label .. ".filename") or file:match("([^/]+)/*$") or file
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] =
      name, false, file, filename, ctype or "application/octet-stream"
  else
    if p.filename ~= nil then one_line(p.filename, label .. ".filename") end
    local t = type(p.value)
    if t ~= "string" and t ~= "number" then invalid(label .. " needs value (a string) or file (a path)") end
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = name, tostring(p.value), false, false, ctype or false
  end
end

-- multipart = {{name=, value= | file=, filename=, content_type=}, ...}
-- (parts in order), or {name = "text" | {file=, filename=, content_type=}}
-- (parts sorted by name).
local function flat_parts(m)
  if type(m) ~= "table" then args.fail(W, "field 'multipart'", "a table", type(m)) end
  local out = {}
  local count = rawlen(m)
  if count > 0 then
    for k = 1, count do
      local p = m[k]
      if type(p) ~= "table" then
        args.fail(W, "multipart[" .. k .. "]", "a table {name=, value= or file=}", type(p))
      end
      add_part(out, p, nil, "multipart[" .. k .. "]")
    end
  else
    local names = {}
    for name in pairs(m) do
      if type(name) ~= "string" then invalid("multipart keys must be part names (strings), got " .. type(name)) end
      names[#names + 1] = name
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local p, label = m[name], "multipart." .. name
      local t = type(p)
      if t == "table" then
        add_part(out, p, name, label)
      elseif t == "string" or t == "number" then
        add_part(out, {value = p}, name, label)
      else
        args.fail(W, label, "a string or a table {file=, filename=, content_type=}", t)
      end
    end
  end
  if #out == 0 then invalid("multipart has no parts") end
  return out
end

local AUTH_FIELDS = {bearer = true, basic = true, header = true, value = true, authorization = true,
  key_header = true, key = true, secret_header = true, secret = true, headers = true}
local AUTH_FORMS = {"bearer", "basic", "header", "authorization", "key_header"}

-- A credential: a non-empty string (a number is taken as text).
local function credential(v, field, allow_empty)
  local t = type(v)
  if t ~= "string" and t ~= "number" then args.fail(W, "auth field '" .. field .. "'", "a string", t) end
  v = tostring(v)
  if v == "" and not allow_empty then invalid("auth: field '" .. field .. "' is empty") end
  if v:find("[\r\n]") then invalid("auth: field '" .. field .. "' contains a line break") end
  return v
end

local function header_name(v, field)
  if not is_header_name(v) then
    args.fail(W, "auth field '" .. field .. "'", "a header name (a string without spaces or ':')", type(v))
  end
  return v
end

local function flat_auth(auth, req)
  args.check(W, "auth", auth, "table")
  for k in pairs(auth) do
    if type(k) ~= "string" then invalid("auth: keys must be strings, got " .. type(k)) end
    if not AUTH_FIELDS[k] then
      invalid("auth: unknown field '" .. k .. "' (use bearer, basic, header + value, authorization, or key_header + key + secret_header + secret)")
    end
  end
  local forms = {}
  for _, f in ipairs(AUTH_FORMS) do if auth[f] ~= nil then forms[#forms + 1] = f end end
  if #forms > 1 then
    invalid("auth: give one of bearer, basic, header, authorization or key_header, not " .. table.concat(forms, " and "))
  end
  local out = {}
  local function add(name, value)
    out[#out + 1] = name
    out[#out + 1] = value
  end
  local form = forms[1]
  if form == "bearer" then
    add("Authorization", "Bearer " .. credential(auth.bearer, "bearer"))
  elseif form == "basic" then
    local b = auth.basic
    if type(b) ~= "table" then args.fail(W, "auth field 'basic'", "a table {user, password}", type(b)) end
    local user, password = b.user, b.password
    if user == nil then user = b[1] end
    if password == nil then password = b[2] end
    if user == nil then invalid("auth: field 'basic.user' is required (basic = {user, password})") end
    user = credential(user, "basic.user")
    if user:find(":", 1, true) then invalid("auth: field 'basic.user' must not contain ':'") end
    req.auth_basic_user = user
    req.auth_basic_password = password == nil and "" or credential(password, "basic.password", true)
  elseif form == "header" then
    local name = header_name(auth.header, "header")
    if auth.value == nil then invalid("auth: field 'value' is required with 'header'") end
    add(name, credential(auth.value, "value"))
  elseif form == "authorization" then
    add("Authorization", credential(auth.authorization, "authorization"))
  elseif form == "key_header" then
    for _, f in ipairs{"key", "secret_header", "secret"} do
      if auth[f] == nil then invalid("auth: field '" .. f .. "' is required with 'key_header'") end
    end
    local key_header, key = header_name(auth.key_header, "key_header"), credential(auth.key, "key")
    local secret_header = header_name(auth.secret_header, "secret_header")
    add(key_header, key)
    add(secret_header, credential(auth.secret, "secret"))
  else
    for _, f in ipairs{"value", "key", "secret_header", "secret"} do
      if auth[f] ~= nil then
        invalid("auth: field '" .. f .. "' needs " .. (f == "value" and "'header'" or "'key_header'"))
      end
    end
    if auth.headers == nil then invalid("auth: give one of bearer, basic, header, authorization or key_header") end
  end
  if auth.headers ~= nil then
    args.check(W, "auth field 'headers'", auth.headers, "table")
    local names = {}
    for name in pairs(auth.headers) do names[#names + 1] = header_name(name, "headers") end
    table.sort(names)
    for _, name in ipairs(names) do add(name, credential(auth.headers[name], "headers." .. name)) end
  end
  req.auth_headers = out
end

local function flat_aws_sigv4(a, req)
  args.check(W, "field 'aws_sigv4'", a, "table")
  for _, name in ipairs{"access_key", "secret_key", "region"} do
    if type(a[name]) ~= "string" or a[name] == "" then
      invalid("aws_sigv4." .. name .. " is required (a non-empty string)")
    end
  end
  req.aws_access_key, req.aws_secret_key, req.aws_region = a.access_key, a.secret_key, a.region
  req.aws_service = args.check(W, "field 'aws_sigv4.service'", a.service, "string", true) or "s3"
  req.aws_session_token = args.check(W, "field 'aws_sigv4.session_token'", a.session_token, "string", true)
end

--- Sends an HTTP request and returns the response; inside a task, the
--- other tasks run while it waits. The fields of `opts`:
---   url (required); method (GET, or POST when there is a body);
---   query (a table, encoded as by http.encode_query and added to the URL);
---   headers ({name = value or list of values});
---   at most one body: json (a value sent as JSON), form (a table sent
---     urlencoded), body (a string), body_file (a path, streamed from disk),
---     multipart ({{name=, value=} or {name=, file=, filename=,
---     content_type=}, ...}; file parts stream from disk);
---   timeout (seconds an attempt may take; 60 by default);
---   retry (false for none, or {attempts=, base=, max=, max_wait=}; by
---     default 4 attempts, backoff 0.5 s to 30 s with full jitter,
---     Retry-After honoured, 120 s of waiting at most);
---   safe_to_repeat (true: a POST or PATCH may be retried like a GET);
---   stream_to (a path: the body is written there through a temporary file,
---     fsynced and renamed, resumed with Range after a dropped connection);
---   auth ({bearer=} | {basic = {user, password}} | {header=, value=} |
---     {authorization=} | {key_header=, key=, secret_header=, secret=},
---     each with optional headers = {name = secret}); its values are secrets;
---   aws_sigv4 ({access_key=, secret_key=, region=, service = "s3"}: AWS
---     Signature V4);
---   raise (false: a status >= 400 is returned instead of raised).
--- Retried: connection errors, timeouts, 429, 500, 502, 503,
--- 504; a POST or PATCH only when it cannot have taken effect (connection
--- refused, 429, 503) unless safe_to_repeat.
--- Raises kind = "http" for a status >= 400 unless raise = false;
--- "network" or "timeout" when no answer came after the retries;
--- "rate_limited" when 429s outlast the retries (even with raise = false);
--- "validation" for a bad field, before anything is sent. An http,
--- network, timeout or rate_limited error has the fields `retryable` (the
--- failure is one the retry policy retries) and `may_have_taken_effect`
--- (false when the request cannot have taken effect: connection refused,
--- 429, 503 or another 4xx), and when an answer came, `status`, `body`
--- (its body, secrets masked) and `details` (the body decoded, when it is
--- JSON). Secrets never appear in messages.
---   local res = http.request{method = "POST", url = url, json = {name = "x"}, auth = {bearer = token}}
---@param opts {url: string, method?: string, query?: table, headers?: table, json?: any, form?: table, body?: string, body_file?: string, multipart?: table, timeout?: number, retry?: boolean|{attempts?: integer, base?: number, max?: number, max_wait?: number}, safe_to_repeat?: boolean, stream_to?: string, auth?: table, aws_sigv4?: {access_key: string, secret_key: string, region: string, service?: string, session_token?: string}, raise?: boolean}
---@return http.Response res  the response (res:json() decodes its body)
function http.request(opts)
  args.check(W, "argument #1 (request)", opts, "table")
  args.check_known(W, "option", opts, known)
  local url = args.check(W, "field 'url'", opts.url, "string")
  local method = args.check(W, "field 'method'", opts.method, "string", true)
  if method ~= nil and not method:find("^%a+$") then invalid("method '" .. method .. "' is not an HTTP method") end
  if opts.query ~= nil then
    args.check(W, "field 'query'", opts.query, "table")
    local q = http.encode_query(opts.query)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  local headers = {}
  if opts.headers ~= nil then
    args.check(W, "field 'headers'", opts.headers, "table")
    for k, v in pairs(opts.headers) do headers[k] = v end
  end
  local function has_header(name)
    for k in pairs(headers) do if type(k) == "string" and k:lower() == name then return true end end
    return false
  end
  local body, bodies = nil, 0
  if opts.json ~= nil then
    bodies = bodies + 1
    body = json.encode(opts.json)
    if not has_header("content-type") then headers["Content-Type"] = "application/json" end
  end
  if opts.form ~= nil then
    bodies = bodies + 1
    args.check(W, "field 'form'", opts.form, "table")
    body = http.encode_query(opts.form)
    if not has_header("content-type") then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  end
  if opts.body ~= nil then
    bodies = bodies + 1
    body = args.check(W, "field 'body'", opts.body, "string")
  end
  if opts.body_file ~= nil then
    bodies = bodies + 1
    args.check(W, "field 'body_file'", opts.body_file, "string")
  end
  if opts.multipart ~= nil then bodies = bodies + 1 end
  if bodies > 1 then invalid("give one of json, form, body, body_file or multipart, not several") end
  local timeout = args.check(W, "field 'timeout'", opts.timeout, "number > 0", true)
  if timeout == math.huge then args.fail(W, "field 'timeout'", "a number > 0", "inf") end
  local sends = body or opts.body_file or opts.multipart
  local req = {method = (method or (sends and "POST" or "GET")):upper(), url = url, headers = flat_headers(headers),
    body = body, timeout = timeout, body_file = opts.body_file,
    safe_to_repeat = args.check(W, "field 'safe_to_repeat'", opts.safe_to_repeat, "boolean", true),
    stream_to = args.check(W, "field 'stream_to'", opts.stream_to, "non-empty string", true)}
  flat_retry(opts.retry, req)
  if opts.multipart ~= nil then req.parts = flat_parts(opts.multipart) end
  if opts.auth ~= nil then flat_auth(opts.auth, req) end
  if opts.aws_sigv4 ~= nil then flat_aws_sigv4(opts.aws_sigv4, req) end
  local res, gave_up = native.send(req)
  if res.bytes then res.path = opts.stream_to end
  setmetatable(res, Response)
  -- A 429 that outlasted the retries is raised even with raise = false.
  if (res.status == 429 and gave_up) or (res.status >= 400 and opts.raise ~= false) then
    error(http.response_error(res, req.method, gave_up), 0)
  end
  return res
end

-- http.redact(text) is native: its doc block is in _meta/http.lua.
http.redact = native.redact

-- http.get/post/put/patch/delete/head(url [, opts]) are made by this loop:
-- their doc blocks are in _meta/http.lua.
for _, method in ipairs{"get", "post", "put", "patch", "delete", "head"} do
  http[method] = function(url, opts)
    local o = {}
    if opts ~= nil then
      args.check("http." .. method, "argument #2 (options)", opts, "table")
      for k, v in pairs(opts) do o[k] = v end
    end
    o.method, o.url = method:upper(), url
    return http.request(o)
  end
end

return http
