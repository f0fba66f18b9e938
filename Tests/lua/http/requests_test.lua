-- The http module against a real loopback server (no mocked transport):
-- requests and responses, retries, transport failures, bodies, redirects,
-- argument checks, concurrency and secrets. Retry settings are short so the
-- file stays fast. Run by HTTPTests.testRequests (Tests/CLITests/HTTPTests.swift).
local t = require "testing"
local http = require "http"
local json = require "json"
local task = require "task"
local server = require "http_server"
local BASE, FAST, hits, catch, timed = server.BASE, server.FAST, server.hits, server.catch, server.timed

-- Requests and responses

t.test("GET with query arrays and headers", function()
  local res = http.get(BASE .. "/echo", {query = {ids = {"a", "b"}, q = "x y&z"},
    headers = {["X-Test"] = "one", Accept = "application/json"}})
  local e = res:json()
  t.equal(res.status, 200, "status")
  t.equal(e.method, "GET", "method")
  t.equal(e.query.ids[1], "a", "ids[1]")
  t.equal(e.query.ids[2], "b", "ids[2]")
  t.equal(#e.query.ids, 2, "#ids")
  t.equal(e.query.q[1], "x y&z", "q")
  t.equal(e.headers["x-test"], "one", "x-test")
  t.equal(e.headers["accept"], "application/json", "accept")
  t.contains(e.headers["user-agent"], "moonport/")
  t.contains(res.url, "ids=a&ids=b")
end)

t.test("JSON, form and raw bodies", function()
  local j = http.post(BASE .. "/echo", {json = {name = "n", list = {1, 2}}}):json()
  local f = http.post(BASE .. "/echo", {form = {a = 1, b = "x y"}}):json()
  local r = http.put(BASE .. "/echo", {body = "raw\0bytes", headers = {["Content-Type"] = "text/plain"}}):json()
  local own = http.post(BASE .. "/echo", {json = {}, headers = {["content-type"] = "application/vnd.api+json"}}):json()
  local sent = json.decode(j.body)
  t.equal(j.method, "POST", "json method")
  t.equal(j.headers["content-type"], "application/json", "json content-type")
  t.equal(sent.name, "n", "json name")
  t.equal(sent.list[2], 2, "json list[2]")
  t.equal(f.method, "POST", "form method")
  t.equal(f.headers["content-type"], "application/x-www-form-urlencoded", "form content-type")
  t.equal(f.body, "a=1&b=x%20y", "form body")
  t.equal(r.method, "PUT", "raw method")
  t.equal(r.headers["content-type"], "text/plain", "raw content-type")
  t.equal(r.body, "raw\0bytes", "raw body")
  t.equal(r.headers["content-length"], "9", "raw content-length")
  t.equal(own.headers["content-type"], "application/vnd.api+json", "the caller's own content-type")
end)

t.test("response headers are lower-case and JSON decodes", function()
  local res = http.get(BASE .. "/json")
  local data = res:json()
  t.equal(res.status, 200, "status")
  t.equal(res.headers["content-type"], "application/json", "content-type")
  t.equal(res.headers["Content-Type"], nil, "no mixed-case name")
  t.equal(res.headers["content-length"], "52", "content-length")
  t.equal(data.ok, true, "ok")
  t.equal(data.items[3], 3, "items[3]")
  t.equal(data.name, "moonport", "name")
  t.equal(res.url, BASE .. "/json", "url")
  t.equal(res.attempts, 1, "attempts")
end)

t.test("an error status raises an http error with details", function()
  local e = catch(http.get, BASE .. "/status/404")
  local res = http.get(BASE .. "/status/404", {raise = false})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 404, "status")
  t.equal(e.details and e.details.code, "E404", "details.code")
  t.contains(e.message, "GET")
  t.contains(e.message, BASE .. "/status/404")
  t.contains(e.message, "404")
  t.contains(tostring(e), "404")
  t.equal(e.retryable, false, "retryable")
  t.equal(res.status, 404, "raise = false: status")
  t.equal(res:json().code, "E404", "raise = false: body")
end)

t.test("a server error is retried, then raised", function()
  local e = catch(http.get, BASE .. "/status/500?key=s1", {retry = FAST})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 500, "status")
  t.equal(e.retryable, true, "retryable")
  t.equal(hits("/status/500", "s1"), 3, "hits")
end)

-- Retries

t.test("GET is retried after a 503, then succeeds", function()
  local res = http.get(BASE .. "/status/503-then-200?key=g1", {retry = FAST})
  t.equal(res.status, 200, "status")
  t.equal(res.attempts, 2, "attempts")
  t.equal(hits("/status/503-then-200", "g1"), 2, "hits")
end)

-- GET route?query&key=KEY, which the server answers once with a wait:
-- one retry, after waiting more than `at_least` seconds (and less than 5).
local function check_waited(route, query, key, at_least, what)
  local res, seconds = timed(http.get, BASE .. route .. "?" .. query .. "&key=" .. key, {retry = FAST})
  t.equal(res.status, 200, "status")
  t.equal(hits(route, key), 2, "hits")
  t.equal(seconds > at_least, true, what .. ": " .. seconds)
  t.equal(seconds < 5, true, "took " .. seconds)
end

t.test("Retry-After in seconds is honoured", function()
  check_waited("/retry-after", "secs=1&times=1", "ra1", 0.9, "waited the 1 s the server asked for")
end)

t.test("Retry-After as an HTTP-date is honoured", function()
  -- The date has whole seconds: now + 2 s waits between 1 and 2 s.
  check_waited("/retry-after-date", "secs=2&times=1", "rd1", 0.8, "waited")
end)

t.test("X-RateLimit-Reset is honoured", function()
  check_waited("/ratelimit", "reset=1&times=1", "rl1", 0.8, "waited for the X-RateLimit-Reset")
end)

t.test("a huge Retry-After ends at once", function()
  local e, seconds = timed(catch, http.get, BASE .. "/retry-after?secs=1e9&times=5&key=ra2", {retry = FAST})
  t.equal(e.kind, "rate_limited", "kind")
  t.contains(e.message, "asked to wait")
  t.contains(e.message, "Retry-After")
  t.equal(e.status, 429, "status")
  t.equal(hits("/retry-after", "ra2"), 1, "hits")
  t.equal(seconds < 3, true, "took " .. seconds)
end)

t.test("429 until the attempts run out", function()
  local e = catch(http.get, BASE .. "/retry-after?secs=0&times=100&key=ra3", {retry = FAST})
  t.equal(e.kind, "rate_limited", "kind")
  t.contains(e.message, "3 attempts")
  t.equal(e.status, 429, "status")
  t.equal(hits("/retry-after", "ra3"), 3, "hits")
end)

t.test("a POST is not repeated after a connection reset", function()
  local e = catch(http.post, BASE .. "/reset?key=p1", {json = {a = 1}, retry = FAST})
  t.equal(e.kind, "network", "kind")
  t.contains(e.message, "POST")
  t.contains(e.message, "not idempotent")
  t.equal(hits("/reset", "p1"), 1, "the POST may have taken effect: sent once only")
end)

t.test("POST and PATCH are retried on 503 and 429", function()
  local a = http.post(BASE .. "/status/503-then-200?key=p2", {json = {a = 1}, retry = FAST})
  local b = http.post(BASE .. "/retry-after?secs=0&times=1&key=p3", {json = {a = 1}, retry = FAST})
  local c = http.patch(BASE .. "/status/503-then-200?key=p4", {json = {a = 1}, retry = FAST})
  t.equal(a.status, 200, "POST after 503")
  t.equal(hits("/status/503-then-200", "p2"), 2, "POST 503 hits")
  t.equal(b.status, 200, "POST after 429")
  t.equal(hits("/retry-after", "p3"), 2, "POST 429 hits")
  t.equal(c.status, 200, "PATCH after 503")
  t.equal(hits("/status/503-then-200", "p4"), 2, "PATCH 503 hits")
end)

t.test("a POST is not retried on 500", function()
  local e = catch(http.post, BASE .. "/status/503-then-200?key=p5&status=500", {json = {}, retry = FAST})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 500, "status")
  t.equal(hits("/status/503-then-200", "p5"), 1, "hits")
end)

t.test("a POST safe to repeat is retried on a reset", function()
  local e = catch(http.post, BASE .. "/reset?key=p6", {json = {}, retry = FAST, safe_to_repeat = true})
  t.equal(e.kind, "network", "kind")
  t.equal(hits("/reset", "p6"), 3, "hits")
end)

t.test("a GET is retried on a reset", function()
  local e = catch(http.get, BASE .. "/reset?key=g2", {retry = FAST})
  t.equal(e.kind, "network", "kind")
  t.contains(e.message, "3 attempts")
  t.equal(hits("/reset", "g2"), 3, "hits")
end)

t.test("retry = false makes one attempt", function()
  local e = catch(http.get, BASE .. "/status/503-then-200?key=r1", {retry = false})
  local res = http.get(BASE .. "/status/503-then-200?key=r2&n=5", {retry = false, raise = false})
  local e2 = catch(http.get, BASE .. "/reset?key=r3", {retry = false})
  t.equal(e.kind, "http", "kind")
  t.equal(e.status, 503, "status")
  t.equal(hits("/status/503-then-200", "r1"), 1, "hits r1")
  t.equal(res.status, 503, "raise = false: status")
  t.equal(res.attempts, 1, "raise = false: attempts")
  t.equal(hits("/status/503-then-200", "r2"), 1, "hits r2")
  t.equal(e2.kind, "network", "reset kind")
  t.equal(hits("/reset", "r3"), 1, "hits r3")
end)

-- Transport failures

t.test("every http failure carries the retry policy's verdict", function()
  local refused = catch(http.post, "http://127.0.0.1:" .. server.CLOSED_PORT .. "/json", {json = {},
    retry = {attempts = 2, base = 0.01}})
  local post500 = catch(http.post, BASE .. "/status/500", {json = {}, retry = FAST, safe_to_repeat = true})
  local once500 = catch(http.post, BASE .. "/status/503-then-200?key=v1&status=500", {json = {}, retry = FAST})
  local limited = catch(http.get, BASE .. "/retry-after?secs=0&times=100&key=v2", {retry = FAST})
  local bad = catch(http.get, BASE .. "/status/400")
  local reset = catch(http.get, BASE .. "/reset?key=v3", {retry = FAST})
  local function facts(e) return {e.kind, e.status or false, e.retryable, e.may_have_taken_effect} end
  t.equal(json.encode(facts(refused)), '["network",false,true,false]', "connection refused: nothing was sent")
  t.equal(json.encode(facts(post500)), '["http",500,true,true]', "500 on a POST, after the retries")
  t.equal(post500.attempts, 3, "500 on a POST safe to repeat: attempts")
  t.equal(json.encode(facts(once500)), '["http",500,true,true]', "500 on a POST, not repeated")
  t.equal(once500.attempts, 1, "500 on a POST: sent once")
  t.equal(json.encode(facts(limited)), '["rate_limited",429,true,false]', "429")
  t.equal(limited.attempts, 3, "429: attempts")
  t.equal(json.encode(facts(bad)), '["http",400,false,false]', "400")
  t.equal(json.encode(facts(reset)), '["network",false,true,true]', "reset after sending")
  t.equal(type(bad.body), "string", "400: body")
  t.equal(bad.details and bad.details.code, "E400", "400: details decoded once")
  t.equal(type(limited.body), "string", "429: body")
  t.equal(limited.details and limited.details.error, "slow down", "429: details decoded once")
end)

t.test("connection refused is a network error, quickly", function()
  local url = "http://127.0.0.1:" .. server.CLOSED_PORT .. "/json"
  local e, p, seconds = timed(function()
    return catch(http.get, url, {retry = {attempts = 2, base = 0.01}}),
      catch(http.post, url, {json = {}, retry = {attempts = 2, base = 0.01}})
  end)
  t.equal(seconds < 3, true, "took " .. seconds)
  t.equal(e.kind, "network", "GET kind")
  t.contains(e.message, "refused")
  t.equal(p.kind, "network", "POST kind")
  t.contains(p.message, "2 attempts")  -- nothing reached the server: even a POST is retried
end)

t.test("a timeout is quick", function()
  local e, seconds = timed(catch, http.get, BASE .. "/slow?secs=5", {timeout = 0.3, retry = {attempts = 2, base = 0.01}})
  t.equal(e.kind, "timeout", "kind")
  t.contains(e.message, "/slow")
  t.equal(e.retryable, true, "retryable")
  t.equal(seconds < 3, true, "took " .. seconds)
end)

t.test("a truncated body is an error, not a short body", function()
  local ok, e = pcall(http.get, BASE .. "/truncate?key=t1", {retry = FAST})
  t.equal(ok, false, "ok")
  t.equal(type(e) == "table" and e.kind or tostring(e), "network", "kind")
  t.equal(hits("/truncate", "t1"), 3, "hits")
end)

-- Bodies

t.test("an HTML body is not JSON", function()
  local res = http.get(BASE .. "/html")
  local e = catch(res.json, res)
  local e2 = catch(http.get, BASE .. "/html-error", {retry = FAST})
  t.equal(res.status, 200, "status")
  t.equal(e.kind, "validation", "kind")
  t.contains(e.message, "looks like an HTML page")
  t.contains(e.message, BASE .. "/html")
  t.equal(e2.kind, "http", "502 kind")
  t.equal(e2.status, 502, "502 status")
  t.equal(e2.details, nil, "an HTML error page has no details")
end)

t.test("invalid JSON names the byte offset", function()
  local e = catch(http.get(BASE .. "/invalid-json").json, http.get(BASE .. "/invalid-json"))
  t.equal(e.kind, "validation", "kind")
  t.equal(e.offset, 21, "the offset is a field too, not only in the message")
  t.equal(e.status, 200, "status")
  t.contains(e.message, "byte 21")
  t.contains(e.message, "/invalid-json")
end)

t.test("gzip is decoded transparently", function()
  local res = http.get(BASE .. "/gzip")
  t.equal(res.body:byte(1) == 0x1f, false, "the body is decoded")
  t.equal(res:json().compressed, true, "compressed")
  t.equal(#res:json().text, 450, "#text")
end)

-- Redirects

t.test("a same-origin redirect keeps the credentials", function()
  local res = http.get(BASE .. "/redirect?to=/echo&key=so", {headers = {Authorization = "Bearer TOKEN1", ["X-Api-Key"] = "K1"}})
  local e = res:json()
  t.equal(res.status, 200, "status")
  t.equal(e.path, "/echo", "path")
  t.equal(e.headers.authorization, "Bearer TOKEN1", "authorization")
  t.equal(e.headers["x-api-key"], "K1", "x-api-key")
  t.equal(res.url, BASE .. "/echo", "url")
  t.equal(hits("/redirect", "so"), 1, "hits")
end)

t.test("a cross-origin redirect drops the credentials", function()
  local to = server.OTHER .. "/echo?x=1"
  local res = http.get(BASE .. "/redirect", {query = {to = to}, headers = {
    Authorization = "Bearer TOKEN2", ["X-Api-Key"] = "K2", ["X-Session-Token"] = "S2",
    Cookie = "sid=C2", ["X-Plain"] = "keep"}})
  local e = res:json()
  t.equal(res.status, 200, "status")
  t.equal(e.path, "/echo", "path")
  t.equal(e.headers.authorization, nil, "authorization")
  t.equal(e.headers["x-api-key"], nil, "x-api-key")
  t.equal(e.headers["x-session-token"], nil, "x-session-token")
  t.equal(e.headers.cookie, nil, "cookie")
  t.equal(e.headers["x-plain"], "keep", "x-plain")
  t.equal(res.url, to, "url")
end)

t.test("a POST redirected with 303 becomes a GET", function()
  local res = http.post(BASE .. "/redirect?status=303&to=/echo", {json = {a = 1}})
  local e = res:json()
  t.equal(e.method, "GET", "method")
  t.equal(e.body, "", "body")
  t.equal(e.headers["content-type"], nil, "content-type")
end)

t.test("a redirect loop is an error", function()
  local e, seconds = timed(catch, http.get, BASE .. "/loop", {retry = FAST})
  t.contains(e.message, "redirects")
  t.contains(e.message, "/loop")
  t.equal(hits("/loop"), 6, "the first request and 5 redirects, not retried")
  t.equal(seconds < 5, true, "took " .. seconds)
end)

-- Arguments

t.test("arguments are checked before anything is sent", function()
  local url = BASE .. "/echo?key=v"
  local errors = {
    catch(http.get, 42),
    catch(http.get, url, {bogus = 1}),
    catch(http.post, url, {json = {}, body = "x"}),
    catch(http.get, url, {headers = {["X-A"] = "a\r\nX-Injected: 1"}}),
    catch(http.get, (url:gsub("^http", "ftp"))),
    catch(http.get, url, {timeout = -1}),
    catch(http.get, url, {retry = "yes"}),
    catch(http.get, url, {query = {ids = {{}}}}),
    catch(http.get, url, "opts"),
    catch(http.request, {method = "GE T", url = url}),
  }
  local kinds = {}
  for i, e in ipairs(errors) do kinds[i] = e.kind end
  t.equal(table.concat(kinds, ","), ("validation,"):rep(10):sub(1, -2), "kinds")
  t.equal(#errors, 10, "errors")
  t.equal(hits("/echo", "v"), 0, "nothing reached the server")
  t.contains(errors[2].message, "bogus")
  t.contains(errors[4].message, "X-A")
end)

-- Concurrency and secrets

t.test("many concurrent requests", function()
  local out, seconds = timed(function()
    local items = {}
    for i = 1, 200 do items[i] = i end
    return task.map(items, function(i)
      return tonumber(http.get(BASE .. "/echo", {query = {key = "c", i = i}}):json().query.i[1])
    end, {concurrency = 32})
  end)
  local ok = 0
  for i = 1, 200 do if out[i] == i then ok = ok + 1 end end
  t.equal(ok, 200, "answers in order")
  t.equal(#out, 200, "#out")
  t.equal(hits("/echo", "c"), 200, "hits")
  t.equal(seconds < 30, true, "took " .. seconds)
end)

t.test("secret query values never appear in errors", function()
  local e = catch(http.get, BASE .. "/status/404?api_key=SECRET1&x=1")
  local n = catch(http.post, BASE .. "/reset?token=SECRET2", {json = {}, retry = FAST})
  local r = catch(http.get, BASE .. "/retry-after?secs=1e9&key=sec3&access_token=SECRET3", {retry = FAST})
  local to = catch(http.get, BASE .. "/slow?secs=3&password=SECRET4", {timeout = 0.2, retry = false})
  local res = http.get(BASE .. "/html?signature=SECRET5")
  local j = catch(res.json, res)
  t.contains(tostring(e), "api_key=***")
  t.contains(tostring(e), "x=1")
  for i, message in ipairs({tostring(e), e.message, tostring(n), tostring(r), tostring(to), tostring(j)}) do
    for secret = 1, 5 do
      t.equal(message:find("SECRET" .. secret, 1, true), nil, "message " .. i .. " holds SECRET" .. secret .. ": " .. message)
    end
    t.contains(message, "=***", "message " .. i)
  end
end)

-- Last: it leaves BASE's rate-limit budget spent for 30 s, which every
-- later request to BASE in this run would wait out.
t.test("a spent rate-limit budget belongs to its origin", function()
  -- 127.0.0.1 on another port is another server: its budget is its own.
  local e, res, seconds = timed(function()
    local e = catch(http.get, BASE .. "/ratelimit?reset=30&times=5&key=rl2", {retry = false})
    return e, http.get(server.OTHER .. "/json", {retry = false})
  end)
  t.equal(e.kind, "rate_limited", "kind")
  t.equal(res.status, 200, "the other origin's status")
  t.equal(seconds < 5, true, "took " .. seconds)
end)

t.done()
