--- http: requests that look synchronous; the task waits, others run.
---   local res = http.get(url, {query = {oppId = {"a", "b"}}, headers = {...}, timeout = 30})
---   res.status, res.headers["content-type"], res.body, res:json()
---   http.post(url, {json = {...}}) / {body = "raw"} / {form = {a = 1}} / {body_file = "big.ndjson"}
---   http.post(url, {multipart = {{name = "FileData", file = "data.json", content_type = "application/json"},
---                                {name = "note", value = "text"}}})   -- file parts stream from disk
---   http.get(url, {stream_to = "big.csv"}) -> res.path, res.bytes (written to a
---     temporary file, fsynced, renamed; resumed with Range after a dropped connection)
--- A status >= 400 raises kind = "http" (unless raise = false). Retries follow
--- the shared policy of SPEC.md (retry = false turns it off).
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

local Response = {}
Response.__index = Response

--- The body decoded as JSON; a body that is not JSON (an HTML error page, a
--- cut-off answer) raises kind = "validation" saying what came back.
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

--- {a = 1, ids = {"x", "y"}} -> "a=1&ids=x&ids=y" (keys sorted; a list repeats its key).
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

--- The text with every secret value seen so far (auth values, secret headers
--- and query values sent) replaced by ***.
http.redact = native.redact

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
