-- Run by HTTPTraceTests (`moonport run -v --trace FILE`; arg[1]: the HTTP
-- test server's URL, arg[2]: a closed port, arg[3]: a download path): every
-- kind of attempt, with secrets in auth, query, JSON and form bodies; Swift
-- checks the trace, stdout and stderr. Ends with an uncaught http error.
local http = require "http"
local base, closed = arg[1], arg[2]
local auth = {bearer = "TRACE-BEARER-111", headers = {["X-Account-Id"] = "TRACE-ACCT-222"}}
local res = http.post(base .. "/echo", {query = {api_key = "TRACE-QKEY-444", page = 2}, auth = auth,
  json = {password = "TRACE-PW-333", name = "visible-name", nested = {list = {{api_token = "TRACE-NESTED-555"}}}}})
assert(res.status == 200)
http.post(base .. "/echo", {form = {client_secret = "TRACE-FORM-666", grant = "x"}, auth = {basic = {"svc-user", "TRACE-BASICPW-777"}}})
http.get(base .. "/status/503-then-200?key=tr1", {auth = auth, retry = {attempts = 3, base = 0.01}})
http.get(base .. "/download?size=5000", {stream_to = arg[3], auth = auth})
pcall(http.get, "http://127.0.0.1:" .. closed .. "/x", {retry = false, auth = auth})
local ok, e = pcall(http.get, base .. "/echo-auth", {auth = {authorization = "TRACE-ECHO-888"}})
print(ok, tostring(e))
http.get(base .. "/echo-auth", {auth = auth})  -- uncaught: the message goes to stderr
