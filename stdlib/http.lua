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
    {status = self.status, offset = type(value) == "table" and value.offset or nil}, 2), 0)
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
      error(moonport.error("validation", "http: query and form keys must be strings, got " .. type(k), nil, 3), 0)
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
        error(moonport.error("validation", string.format("http: value of '%s' must be a string, number or boolean, got %s", k, t), nil, 3), 0)
      end
      out[#out + 1] = percent(k) .. "=" .. percent(item)
    end
  end
  return table.concat(out, "&")
end

local known = {method = true, url = true, query = true, headers = true, json = true, body = true, form = true,
  timeout = true, retry = true, raise = true, safe_to_repeat = true, stream_to = true, auth = true,
  multipart = true, body_file = true, aws_sigv4 = true}

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
--- Raises kind = "http" for a status >= 400 (with `status`, `details` the
--- decoded body, `retryable`) unless raise = false; "network" or "timeout"
--- when no answer came after the retries; "rate_limited" when 429s
--- outlast the retries (even with raise = false; its `body` field holds the
--- last answer's body); "validation" for a bad field, before anything is
--- sent. Secrets never appear in messages.
---   local res = http.request{method = "POST", url = url, json = {name = "x"}, auth = {bearer = token}}
---@param opts {url: string, method?: string, query?: table, headers?: table, json?: any, form?: table, body?: string, body_file?: string, multipart?: table, timeout?: number, retry?: boolean|{attempts?: integer, base?: number, max?: number, max_wait?: number}, safe_to_repeat?: boolean, stream_to?: string, auth?: table, aws_sigv4?: {access_key: string, secret_key: string, region: string, service?: string, session_token?: string}, raise?: boolean}
---@return http.Response res  the response (res:json() decodes its body)
function http.request(opts)
  if type(opts) ~= "table" then
    error(moonport.error("validation", "http.request: argument #1 (request) must be a table, got " .. type(opts), nil, 2), 0)
  end
  for k in pairs(opts) do
    if not known[k] then
      error(moonport.error("validation", "http.request: unknown option '" .. tostring(k) .. "'", nil, 2), 0)
    end
  end
  if type(opts.url) ~= "string" then
    error(moonport.error("validation", "http.request: field 'url' is required (a string)", nil, 2), 0)
  end
  local url = opts.url
  if opts.query ~= nil then
    if type(opts.query) ~= "table" then
      error(moonport.error("validation", "http.request: field 'query' must be a table", nil, 2), 0)
    end
    local q = http.encode_query(opts.query)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then
      error(moonport.error("validation", "http.request: field 'headers' must be a table", nil, 2), 0)
    end
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
    if type(opts.form) ~= "table" then
      error(moonport.error("validation", "http.request: field 'form' must be a table", nil, 2), 0)
    end
    body = http.encode_query(opts.form)
    if not has_header("content-type") then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  end
  if opts.body ~= nil then
    bodies = bodies + 1
    body = opts.body
  end
  if opts.body_file ~= nil then
    bodies = bodies + 1
    if type(opts.body_file) ~= "string" then
      error(moonport.error("validation", "http.request: field 'body_file' must be a file path (a string)", nil, 2), 0)
    end
  end
  if opts.multipart ~= nil then bodies = bodies + 1 end
  if bodies > 1 then
    error(moonport.error("validation", "http.request: give one of json, form, body, body_file or multipart, not several", nil, 2), 0)
  end
  local sends = body or opts.body_file or opts.multipart
  local method = opts.method or (sends and "POST" or "GET")
  local res = native.send{method = method, url = url, headers = headers, body = body, timeout = opts.timeout,
    retry = opts.retry, safe_to_repeat = opts.safe_to_repeat, stream_to = opts.stream_to, auth = opts.auth,
    body_file = opts.body_file, multipart = opts.multipart, aws_sigv4 = opts.aws_sigv4}
  if res.bytes then res.path = opts.stream_to end
  setmetatable(res, Response)
  if res.status >= 400 and opts.raise ~= false then
    -- The server may echo a credential (a 401 quoting the token): the
    -- message and the details come from the body with secrets masked.
    local body = native.redact(res.body)
    local details
    local ok, decoded = pcall(json.decode, body)
    if ok then details = decoded end
    local snippet = native.redact(body:sub(1, 300)):gsub("%s+", " ")
    error(moonport.error("http", string.format("%s %s answered %d %s%s", method:upper(), native.redact_url(res.url),
        res.status, res.reason, snippet ~= "" and (": " .. snippet) or ""),
      {status = res.status, details = details, retryable = res.status == 429 or res.status >= 500}, 2), 0)
  end
  return res
end

-- http.redact(text) is native: its doc block is in moonport.native_docs.lua.
http.redact = native.redact

-- http.get/post/put/patch/delete/head(url [, opts]) are made by this loop:
-- their doc blocks are in moonport.native_docs.lua.
for _, method in ipairs{"get", "post", "put", "patch", "delete", "head"} do
  http[method] = function(url, opts)
    local o = {}
    if opts ~= nil then
      if type(opts) ~= "table" then
        error(moonport.error("validation", "http." .. method .. ": argument #2 (options) must be a table, got " .. type(opts), nil, 2), 0)
      end
      for k, v in pairs(opts) do o[k] = v end
    end
    o.method, o.url = method:upper(), url
    return http.request(o)
  end
end

return http
