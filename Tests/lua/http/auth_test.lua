-- `auth = {...}` of http.request against a real loopback server: the
-- headers that arrive, validation, redirects, and secrets in error messages.
-- Run by HTTPTests.testAuth (Tests/CLITests/HTTPTests.swift).
local t = require "testing"
local http = require "http"
local json = require "json"
local server = require "http_server"
local BASE, hits, catch = server.BASE, server.hits, server.catch

t.test("each auth form arrives as the vendor expects", function()
  local function echo(auth, headers)
    return http.get(BASE .. "/echo", {auth = auth, headers = headers}):json().headers
  end
  local q = echo({bearer = "qt-bearer-01", headers = {["gtmhub-accountId"] = "acct-0001"}})
  local b = echo({basic = {"cordial-key-01", ""}})
  local b2 = echo({basic = {user = "u-0001", password = "p-0001"}})
  local h = echo({header = "apikey", value = "clari-key-01", headers = {partnerkey = "clari-partner-01"}})
  local r = echo({authorization = "mics-raw-01"})
  local k = echo({key_header = "X-Api-Key", key = "cv-key-01", secret_header = "X-Api-Secret", secret = "cv-secret-01"})
  local o = echo({bearer = "over-tok-01"}, {Authorization = "Bearer plain", ["X-Plain"] = "keep"})
  t.equal(q.authorization, "Bearer qt-bearer-01", "bearer")
  t.equal(q["gtmhub-accountid"], "acct-0001", "bearer's extra header")
  t.equal(b.authorization, "Basic " .. server.base64("cordial-key-01:"), "basic as a list")
  t.equal(b2.authorization, "Basic " .. server.base64("u-0001:p-0001"), "basic by name")
  t.equal(h.apikey, "clari-key-01", "header")
  t.equal(h.partnerkey, "clari-partner-01", "header's extra header")
  t.equal(h.authorization, nil, "header: no Authorization")
  t.equal(r.authorization, "mics-raw-01", "authorization")
  t.equal(k["x-api-key"], "cv-key-01", "key")
  t.equal(k["x-api-secret"], "cv-secret-01", "secret")
  t.equal(o.authorization, "Bearer over-tok-01", "auth overrides a plain Authorization header")
  t.equal(o["x-plain"], "keep", "other headers stay")
end)

t.test("auth is validated without echoing the value", function()
  local url = BASE .. "/echo?key=auth-v"
  local cases = {
    {auth = "tok-VALID-0001"},
    {auth = {bearer = 42.5, bogus = "tok-VALID-0002"}},
    {auth = {bearer = true}},
    {auth = {bearer = ""}},
    {auth = {bearer = "tok-VALID-0003\r\nX-Injected: 1"}},
    {auth = {bearer = "tok-VALID-0004", basic = {"u", "tok-VALID-0005"}}},
    {auth = {basic = "tok-VALID-0006"}},
    {auth = {basic = {password = "tok-VALID-0007"}}},
    {auth = {header = "X-Api-Key"}},
    {auth = {header = "Bad Name", value = "tok-VALID-0008"}},
    {auth = {key_header = "X-Api-Key", key = "tok-VALID-0009", secret_header = "X-Api-Secret"}},
    {auth = {value = "tok-VALID-0010"}},
    {auth = {headers = {["X-A"] = {}}}},
  }
  local fields = {"auth must be a table", "bogus", "'bearer' must be a string", "'bearer' is empty",
    "'bearer' contains a line break", "not bearer and basic", "'basic' must be a table", "'basic.user' is required",
    "'value' is required", "'header' must be a header name", "'secret' is required", "'value' needs 'header'",
    "'headers.X-A' must be a string"}
  local lines = {}
  for i, opts in ipairs(cases) do
    local e = catch(http.get, url, opts)
    lines[i] = e.kind .. "|" .. e.message .. "|" .. tostring(e)
  end
  t.equal(hits("/echo", "auth-v"), 0, "nothing was sent")
  t.equal(#lines, 13, "#lines")
  for i, line in ipairs(lines) do
    t.equal(line:sub(1, #"validation|"), "validation|", "kind of " .. line)
    t.equal(line:find("tok-VALID", 1, true), nil, "a secret in a validation error: " .. line)
    t.contains(line, fields[i], "case " .. i)
  end
end)

t.test("aws_sigv4 signs the request and is validated without echoing the keys", function()
  local keys = {access_key = "AKIDSIGV40001", secret_key = "sigv4-secret-0002", region = "us-east-1"}
  local echo = http.get(BASE .. "/echo", {aws_sigv4 = keys}):json().headers
  t.contains(echo.authorization, "AWS4-HMAC-SHA256 Credential=AKIDSIGV40001/")
  t.contains(echo.authorization, "/us-east-1/s3/aws4_request")
  t.equal(type(echo["x-amz-date"]), "string", "x-amz-date")
  local url = BASE .. "/echo?key=sigv4-v"
  local cases = {
    {aws_sigv4 = "sigv4-secret-0002"},
    {aws_sigv4 = {access_key = "AKIDSIGV40001", secret_key = "sigv4-secret-0002"}},
    {aws_sigv4 = {access_key = "AKIDSIGV40001", secret_key = "sigv4-secret-0002", region = "r", service = 3}},
  }
  local needles = {"field 'aws_sigv4' must be a table", "aws_sigv4.region is required", "'aws_sigv4.service' must be a string"}
  for i, opts in ipairs(cases) do
    local e = catch(http.get, url, opts)
    t.equal(e.kind, "validation", "kind " .. i)
    t.contains(e.message, needles[i])
    t.equal(tostring(e):find("sigv4-secret-0002", 1, true), nil, "the secret key in: " .. tostring(e))
  end
  t.equal(hits("/echo", "sigv4-v"), 0, "nothing was sent")
end)

t.test("a cross-origin redirect drops auth, a same-origin one keeps it", function()
  local auth = {bearer = "redir-tok-01", headers = {["X-Account-Id"] = "redir-acct-01"}}
  local away = http.get(BASE .. "/redirect", {query = {to = server.OTHER .. "/echo"}, auth = auth,
    headers = {["X-Plain"] = "keep"}}):json()
  local home = http.get(BASE .. "/redirect?to=/echo", {auth = auth}):json()
  local k = http.get(BASE .. "/redirect", {query = {to = server.OTHER .. "/echo"},
    auth = {key_header = "X-Vendor-Id", key = "kid-0001", secret_header = "X-Vendor-Pass", secret = "kpass-0001"}}):json()
  t.equal(away.headers.authorization, nil, "away: authorization")
  t.equal(away.headers["x-account-id"], nil, "away: x-account-id")
  t.equal(away.headers["x-plain"], "keep", "away: x-plain")
  t.equal(home.headers.authorization, "Bearer redir-tok-01", "home: authorization")
  t.equal(home.headers["x-account-id"], "redir-acct-01", "home: x-account-id")
  t.equal(k.headers["x-vendor-id"], nil, "away: key")
  t.equal(k.headers["x-vendor-pass"], nil, "away: secret")
end)

t.test("a server echoing the token does not put it in the error", function()
  local e = catch(http.get, BASE .. "/echo-auth", {auth = {bearer = "echo-tok-0001"}})
  local e2 = catch(http.get, BASE .. "/echo-auth", {headers = {Authorization = "Bearer plain-tok-0002"}})
  local e3 = catch(http.get, BASE .. "/echo-auth?api_key=query-key-0003", {auth = {basic = {"cuser-0004", "cpass-0005"}}})
  local res = http.get(BASE .. "/echo-auth", {auth = {authorization = "raw-tok-0006"}, raise = false})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 401, "status")
  t.contains(e.message, "Invalid authentication credentials: ***")
  local texts = {e.message, tostring(e), json.encode(e.details), tostring(e2), json.encode(e2.details),
    tostring(e3), json.encode(e3.details), http.redact(res.body), e.body, e2.body, e3.body}
  for i, text in ipairs(texts) do
    for _, secret in ipairs({"echo-tok-0001", "plain-tok-0002", "query-key-0003", "cuser-0004", "cpass-0005", "raw-tok-0006",
                             server.base64("cuser-0004:cpass-0005")}) do
      t.equal(text:find(secret, 1, true), nil, "value " .. i .. " holds " .. secret .. ": " .. text)
    end
  end
  -- raise = false: the body is the script's own data, unchanged.
  t.contains(res.body, "raw-tok-0006")
end)

t.done()
