-- Run by HTTPVerboseTests (`moonport run -v`, arg[1]: the HTTP test
-- server's URL): two requests with secrets in headers and queries, the
-- second retried once; Swift checks the -v lines on stderr.
local http = require "http"
local base = arg[1]
local auth = {Authorization = "Bearer TOKEN-XYZZY", ["X-Api-Key"] = "KEY-PLUGH"}
local res = http.get(base .. "/json?api_key=SECRETQ&page=2", {headers = auth})
local res2 = http.get(base .. "/status/503-then-200?page=v&token=SECRETT", {headers = auth, retry = {attempts = 3, base = 0.01}})
print(res.status, res2.status, res2.attempts)
