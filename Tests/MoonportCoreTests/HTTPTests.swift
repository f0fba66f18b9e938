import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// The `http` module against real loopback servers (Tests/Support/http_test_server.py):
/// no mocked transport. Retry settings are short so the suite stays fast.
final class HTTPTests: XCTestCase {
    var server: TestHTTPServer!

    override func setUpWithError() throws {
        server = try TestHTTPServer()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    /// Runs `code` after a preamble: http, json, task, BASE (the server), FAST (short
    /// retries), hits(path [, key]) (the server's counter), catch(f, ...) (the error
    /// object of a call that must fail).
    func run(_ code: String, base: String? = nil) throws -> [LuaValue] {
        let preamble = """
            local http = require "http"
            local json = require "json"
            local task = require "task"
            local BASE = "\(base ?? server.base)"
            local FAST = {attempts = 3, base = 0.01}
            local function hits(path, key)
              return http.get(BASE .. "/__hits", {query = {path = path, key = key}, retry = false}):json().count
            end
            local function catch(f, ...)
              local ok, e = pcall(f, ...)
              assert(not ok, "expected an error, the call succeeded")
              assert(type(e) == "table", "expected an error object, got " .. tostring(e))
              return e
            end

            """
        return try MoonportHost().evaluate(preamble + code)
    }

    /// `run` and the wall time it took.
    func timed(_ code: String) throws -> (values: [LuaValue], seconds: Double) {
        let start = Date()
        let v = try run(code)
        return (v, Date().timeIntervalSince(start))
    }

    func text(_ v: LuaValue?) -> String { v?.stringValue ?? "\(String(describing: v))" }

    func assertContains(_ haystack: LuaValue?, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        let s = text(haystack)
        XCTAssertTrue(s.contains(needle), "'\(s)' does not contain '\(needle)'", file: file, line: line)
    }

    func assertLacks(_ haystack: LuaValue?, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        let s = text(haystack)
        XCTAssertFalse(s.contains(needle), "'\(s)' contains '\(needle)'", file: file, line: line)
    }

    // MARK: - Requests and responses

    func testGetWithQueryArraysAndHeaders() throws {
        let v = try run("""
            local res = http.get(BASE .. "/echo", {query = {ids = {"a", "b"}, q = "x y&z"},
              headers = {["X-Test"] = "one", Accept = "application/json"}})
            local e = res:json()
            return res.status, e.method, e.query.ids[1], e.query.ids[2], #e.query.ids, e.query.q[1],
              e.headers["x-test"], e.headers["accept"], e.headers["user-agent"], res.url
            """)
        XCTAssertEqual(Array(v[0...7]), [200, "GET", "a", "b", 2, "x y&z", "one", "application/json"])
        assertContains(v[8], "moonport/")
        assertContains(v[9], "ids=a&ids=b")
    }

    func testJSONFormAndRawBodies() throws {
        let v = try run("""
            local j = http.post(BASE .. "/echo", {json = {name = "n", list = {1, 2}}}):json()
            local f = http.post(BASE .. "/echo", {form = {a = 1, b = "x y"}}):json()
            local r = http.put(BASE .. "/echo", {body = "raw\\0bytes", headers = {["Content-Type"] = "text/plain"}}):json()
            local own = http.post(BASE .. "/echo", {json = {}, headers = {["content-type"] = "application/vnd.api+json"}}):json()
            local sent = json.decode(j.body)
            return j.method, j.headers["content-type"], sent.name, sent.list[2],
              f.method, f.headers["content-type"], f.body,
              r.method, r.headers["content-type"], r.body, r.headers["content-length"],
              own.headers["content-type"]
            """)
        XCTAssertEqual(v, ["POST", "application/json", "n", 2,
                           "POST", "application/x-www-form-urlencoded", "a=1&b=x%20y",
                           "PUT", "text/plain", "raw\u{0}bytes", "9",
                           "application/vnd.api+json"])
    }

    func testResponseHeadersAreLowerCaseAndJSONDecodes() throws {
        let v = try run("""
            local res = http.get(BASE .. "/json")
            local data = res:json()
            return res.status, res.headers["content-type"], res.headers["Content-Type"], res.headers["content-length"],
              data.ok, data.items[3], data.name, res.url, res.attempts
            """)
        XCTAssertEqual(v, [200, "application/json", nil, "52", true, 3, "moonport", .text(server.base + "/json"), 1])
    }

    func testErrorStatusRaisesHTTPErrorWithDetails() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/status/404")
            local res = http.get(BASE .. "/status/404", {raise = false})
            return e.kind, e.status, e.details and e.details.code, e.message, tostring(e), e.retryable,
              res.status, res:json().code
            """)
        XCTAssertEqual(v[0], "http")
        XCTAssertEqual(v[1], 404)
        XCTAssertEqual(v[2], "E404")
        assertContains(v[3], "GET")
        assertContains(v[3], server.base + "/status/404")
        assertContains(v[3], "404")
        assertContains(v[4], "404")
        XCTAssertEqual(v[5], false)
        XCTAssertEqual(v[6], 404)
        XCTAssertEqual(v[7], "E404")
    }

    func testServerErrorIsRetriedThenRaised() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/status/500", {retry = FAST})
            return e.kind, e.status, e.retryable, hits("/status/500")
            """)
        XCTAssertEqual(v, ["http", 500, true, 3])
    }

    // MARK: - Retries

    func testGetRetriedAfter503ThenSucceeds() throws {
        let v = try run("""
            local res = http.get(BASE .. "/status/503-then-200?key=g1", {retry = FAST})
            return res.status, res.attempts, hits("/status/503-then-200", "g1")
            """)
        XCTAssertEqual(v, [200, 2, 2])
    }

    func testRetryAfterSecondsIsHonoured() throws {
        let (v, seconds) = try timed("""
            local res = http.get(BASE .. "/retry-after?secs=1&times=1", {retry = FAST})
            return res.status, hits("/retry-after")
            """)
        XCTAssertEqual(v, [200, 2])
        XCTAssertGreaterThan(seconds, 0.9, "waited the 1 s the server asked for")
        XCTAssertLessThan(seconds, 5)
    }

    func testRetryAfterHTTPDateIsHonoured() throws {
        // The date has whole seconds: now + 2 s waits between 1 and 2 s.
        let (v, seconds) = try timed("""
            local res = http.get(BASE .. "/retry-after-date?secs=2&times=1", {retry = FAST})
            return res.status, hits("/retry-after-date")
            """)
        XCTAssertEqual(v, [200, 2])
        XCTAssertGreaterThan(seconds, 0.8)
        XCTAssertLessThan(seconds, 5)
    }

    func testRateLimitResetHeaderIsHonoured() throws {
        let (v, seconds) = try timed("""
            local res = http.get(BASE .. "/ratelimit?reset=1&times=1", {retry = FAST})
            return res.status, hits("/ratelimit")
            """)
        XCTAssertEqual(v, [200, 2])
        XCTAssertGreaterThan(seconds, 0.8, "waited for the X-RateLimit-Reset")
        XCTAssertLessThan(seconds, 5)
    }

    func testASpentRateLimitBudgetBelongsToItsOrigin() throws {
        // 127.0.0.1 on another port is another server: its budget is its own.
        let other = try TestHTTPServer()
        defer { other.stop() }
        let (v, seconds) = try timed("""
            local e = catch(http.get, BASE .. "/ratelimit?reset=30&times=5", {retry = false})
            local res = http.get("\(other.base)/json", {retry = false})
            return e.kind, res.status
            """)
        XCTAssertEqual(v, ["rate_limited", 200])
        XCTAssertLessThan(seconds, 5)
    }

    func testHugeRetryAfterEndsAtOnce() throws {
        let (v, seconds) = try timed("""
            local e = catch(http.get, BASE .. "/retry-after?secs=1e9&times=5", {retry = FAST})
            return e.kind, e.message, e.status, hits("/retry-after")
            """)
        XCTAssertEqual(v[0], "rate_limited")
        assertContains(v[1], "asked to wait")
        assertContains(v[1], "Retry-After")
        XCTAssertEqual(v[2], 429)
        XCTAssertEqual(v[3], 1)
        XCTAssertLessThan(seconds, 3)
    }

    func testTooManyRequestsUntilAttemptsRunOut() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/retry-after?secs=0&times=100", {retry = FAST})
            return e.kind, e.message, e.status, hits("/retry-after")
            """)
        XCTAssertEqual(v[0], "rate_limited")
        assertContains(v[1], "3 attempts")
        XCTAssertEqual(v[2], 429)
        XCTAssertEqual(v[3], 3)
    }

    func testPostIsNotRepeatedAfterAConnectionReset() throws {
        let v = try run("""
            local e = catch(http.post, BASE .. "/reset?key=p1", {json = {a = 1}, retry = FAST})
            return e.kind, e.message, hits("/reset", "p1")
            """)
        XCTAssertEqual(v[0], "network")
        assertContains(v[1], "POST")
        assertContains(v[1], "not idempotent")
        XCTAssertEqual(v[2], 1, "the POST may have taken effect: sent once only")
    }

    func testPostIsRetriedOn503And429() throws {
        let v = try run("""
            local a = http.post(BASE .. "/status/503-then-200?key=p2", {json = {a = 1}, retry = FAST})
            local b = http.post(BASE .. "/retry-after?secs=0&times=1&key=p3", {json = {a = 1}, retry = FAST})
            local c = http.patch(BASE .. "/status/503-then-200?key=p4", {json = {a = 1}, retry = FAST})
            return a.status, hits("/status/503-then-200", "p2"), b.status, hits("/retry-after", "p3"),
              c.status, hits("/status/503-then-200", "p4")
            """)
        XCTAssertEqual(v, [200, 2, 200, 2, 200, 2])
    }

    func testPostIsNotRetriedOn500() throws {
        let v = try run("""
            local e = catch(http.post, BASE .. "/status/503-then-200?key=p5&status=500", {json = {}, retry = FAST})
            return e.kind, e.status, hits("/status/503-then-200", "p5")
            """)
        XCTAssertEqual(v, ["http", 500, 1])
    }

    func testPostSafeToRepeatIsRetriedOnReset() throws {
        let v = try run("""
            local e = catch(http.post, BASE .. "/reset?key=p6", {json = {}, retry = FAST, safe_to_repeat = true})
            return e.kind, hits("/reset", "p6")
            """)
        XCTAssertEqual(v, ["network", 3])
    }

    func testGetIsRetriedOnReset() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/reset?key=g2", {retry = FAST})
            return e.kind, e.message, hits("/reset", "g2")
            """)
        XCTAssertEqual(v[0], "network")
        assertContains(v[1], "3 attempts")
        XCTAssertEqual(v[2], 3)
    }

    func testRetryFalseMakesOneAttempt() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/status/503-then-200?key=r1", {retry = false})
            local res = http.get(BASE .. "/status/503-then-200?key=r2&n=5", {retry = false, raise = false})
            local e2 = catch(http.get, BASE .. "/reset?key=r3", {retry = false})
            return e.kind, e.status, hits("/status/503-then-200", "r1"), res.status, res.attempts,
              hits("/status/503-then-200", "r2"), e2.kind, hits("/reset", "r3")
            """)
        XCTAssertEqual(v, ["http", 503, 1, 503, 1, 1, "network", 1])
    }

    // MARK: - Transport failures

    func testConnectionRefusedIsANetworkErrorQuickly() throws {
        let port = TestHTTPServer.closedPort()
        let start = Date()
        let v = try run("""
            local e = catch(http.get, "http://127.0.0.1:\(port)/json", {retry = {attempts = 2, base = 0.01}})
            local p = catch(http.post, "http://127.0.0.1:\(port)/json", {json = {}, retry = {attempts = 2, base = 0.01}})
            return e.kind, e.message, p.kind, p.message
            """)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(v[0], "network")
        assertContains(v[1], "refused")
        XCTAssertEqual(v[2], "network")
        assertContains(v[3], "2 attempts")   // nothing reached the server: even a POST is retried
    }

    func testTimeoutIsQuick() throws {
        let (v, seconds) = try timed("""
            local e = catch(http.get, BASE .. "/slow?secs=5", {timeout = 0.3, retry = {attempts = 2, base = 0.01}})
            return e.kind, e.message, e.retryable
            """)
        XCTAssertEqual(v[0], "timeout")
        assertContains(v[1], "/slow")
        XCTAssertEqual(v[2], true)
        XCTAssertLessThan(seconds, 3)
    }

    func testTruncatedBodyIsAnErrorNotAShortBody() throws {
        let v = try run("""
            local ok, e = pcall(http.get, BASE .. "/truncate", {retry = FAST})
            return ok, type(e) == "table" and e.kind or tostring(e), hits("/truncate")
            """)
        XCTAssertEqual(v, [false, "network", 3])
    }

    // MARK: - stream_to

    /// The bytes /download serves (a repeating pattern), for comparisons.
    func expectedDownload(_ size: Int) -> [UInt8] { (0..<size).map { UInt8(($0 * 7 + 3) % 251) } }

    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("moonport-dl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func leftovers(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    func testStreamToWritesTheBodyToAFileNotMemory() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("export.bin").path
        let v = try run("""
            local res = http.get(BASE .. "/download?size=5000000", {stream_to = "\(out)"})
            return res.status, res.bytes, res.path, #res.body, res.resumes
            """)
        XCTAssertEqual(v, [200, 5_000_000, .text(out), 0, 0])
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: out))), expectedDownload(5_000_000))
        XCTAssertEqual(try leftovers(dir), ["export.bin"], "no temporary file is left beside it")
    }

    func testStreamToResumesWithRangeAfterADroppedConnection() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("resumed.bin").path
        let v = try run("""
            local res = http.get(BASE .. "/download-drop?size=3000000&at=1200000&key=r1", {stream_to = "\(out)", retry = FAST})
            return res.bytes, res.resumes, hits("/download-drop", "r1")
            """)
        XCTAssertEqual(v, [3_000_000, 1, 2], "one drop, one Range request")
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: out))), expectedDownload(3_000_000))
        XCTAssertEqual(try leftovers(dir), ["resumed.bin"])
    }

    func testACutShortDownloadLeavesNoFileAndSaysSo() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("short.bin").path
        // An old file under the name stays as it was.
        try Data("previous".utf8).write(to: URL(fileURLWithPath: out))
        let v = try run("""
            local e = catch(http.get, BASE .. "/download-short?size=100000&at=1000", {stream_to = "\(out)", retry = FAST})
            local e2 = catch(http.get, BASE .. "/download-norange?size=1000", {stream_to = "\(dir.path)/no/such/folder/x.bin"})
            return e.kind, e.message, e2.kind
            """)
        XCTAssertEqual(v[0], "network")
        assertContains(v[1], "broke off after 1000 bytes")
        XCTAssertEqual(v[2], "validation", "an unwritable path is the caller's mistake")
        XCTAssertEqual(String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self), "previous")
        XCTAssertEqual(try leftovers(dir), ["short.bin"], "the temporary file was removed")
    }

    func testStreamToOfAnErrorStatusRaisesAndWritesNothing() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("e.bin").path
        let v = try run("""
            local e = catch(http.get, BASE .. "/status/404", {stream_to = "\(out)"})
            return e.kind, e.status
            """)
        XCTAssertEqual(v, ["http", 404])
        XCTAssertEqual(try leftovers(dir), [])
    }

    // MARK: - Bodies

    func testHTMLBodyIsNotJSON() throws {
        let v = try run("""
            local res = http.get(BASE .. "/html")
            local e = catch(res.json, res)
            local e2 = catch(http.get, BASE .. "/html-error", {retry = FAST})
            return res.status, e.kind, e.message, e2.kind, e2.status, e2.details == nil
            """)
        XCTAssertEqual(v[0], 200)
        XCTAssertEqual(v[1], "validation")
        assertContains(v[2], "looks like an HTML page")
        assertContains(v[2], server.base + "/html")
        XCTAssertEqual(v[3], "http")
        XCTAssertEqual(v[4], 502)
        XCTAssertEqual(v[5], true)
    }

    func testInvalidJSONNamesTheByteOffset() throws {
        let v = try run("""
            local e = catch(http.get(BASE .. "/invalid-json").json, http.get(BASE .. "/invalid-json"))
            return e.kind, e.message, e.offset, e.status
            """)
        XCTAssertEqual(v[0], "validation")
        XCTAssertEqual(v[2], 21, "the offset is a field too, not only in the message")
        XCTAssertEqual(v[3], 200)
        assertContains(v[1], "byte 21")
        assertContains(v[1], "/invalid-json")
    }

    func testGzipIsDecodedTransparently() throws {
        let v = try run("""
            local res = http.get(BASE .. "/gzip")
            return res.body:byte(1) == 0x1f, res:json().compressed, #res:json().text
            """)
        XCTAssertEqual(v, [false, true, 450])
    }

    // MARK: - Redirects

    func testSameOriginRedirectKeepsCredentials() throws {
        let v = try run("""
            local res = http.get(BASE .. "/redirect?to=/echo", {headers = {Authorization = "Bearer TOKEN1", ["X-Api-Key"] = "K1"}})
            local e = res:json()
            return res.status, e.path, e.headers.authorization, e.headers["x-api-key"], res.url, hits("/redirect")
            """)
        XCTAssertEqual(v, [200, "/echo", "Bearer TOKEN1", "K1", .text(server.base + "/echo"), 1])
    }

    func testCrossOriginRedirectDropsCredentials() throws {
        let other = try TestHTTPServer()
        defer { other.stop() }
        let v = try run("""
            local to = "\(other.base)/echo?x=1"
            local res = http.get(BASE .. "/redirect", {query = {to = to}, headers = {
              Authorization = "Bearer TOKEN2", ["X-Api-Key"] = "K2", ["X-Session-Token"] = "S2",
              Cookie = "sid=C2", ["X-Plain"] = "keep"}})
            local e = res:json()
            return res.status, e.path, e.headers.authorization, e.headers["x-api-key"], e.headers["x-session-token"],
              e.headers.cookie, e.headers["x-plain"], res.url
            """)
        XCTAssertEqual(v, [200, "/echo", nil, nil, nil, nil, "keep", .text(other.base + "/echo?x=1")])
    }

    func testPostRedirectedWith303BecomesGet() throws {
        let v = try run("""
            local res = http.post(BASE .. "/redirect?status=303&to=/echo", {json = {a = 1}})
            local e = res:json()
            return e.method, e.body, e.headers["content-type"]
            """)
        XCTAssertEqual(v, ["GET", "", nil])
    }

    func testRedirectLoopIsAnError() throws {
        let (v, seconds) = try timed("""
            local e = catch(http.get, BASE .. "/loop", {retry = FAST})
            return e.kind, e.message, hits("/loop")
            """)
        assertContains(v[1], "redirects")
        assertContains(v[1], "/loop")
        XCTAssertEqual(v[2], 6, "the first request and 5 redirects, not retried")
        XCTAssertLessThan(seconds, 5)
    }

    // MARK: - Arguments

    func testArgumentsAreCheckedBeforeAnythingIsSent() throws {
        let v = try run("""
            local url = BASE .. "/echo?key=v"
            local errors = {
              catch(http.get, 42),
              catch(http.get, url, {bogus = 1}),
              catch(http.post, url, {json = {}, body = "x"}),
              catch(http.get, url, {headers = {["X-A"] = "a\\r\\nX-Injected: 1"}}),
              catch(http.get, (url:gsub("^http", "ftp"))),
              catch(http.get, url, {timeout = -1}),
              catch(http.get, url, {retry = "yes"}),
              catch(http.get, url, {query = {ids = {{}}}}),
              catch(http.get, url, "opts"),
              catch(http.request, {method = "GE T", url = url}),
            }
            local kinds = {}
            for i, e in ipairs(errors) do kinds[i] = e.kind end
            return table.concat(kinds, ","), #errors, hits("/echo", "v"), errors[2].message, errors[4].message
            """)
        XCTAssertEqual(v[0], .text(Array(repeating: "validation", count: 10).joined(separator: ",")))
        XCTAssertEqual(v[1], 10)
        XCTAssertEqual(v[2], 0, "nothing reached the server")
        assertContains(v[3], "bogus")
        assertContains(v[4], "X-A")
    }

    // MARK: - Concurrency and secrets

    func testManyConcurrentRequests() throws {
        let (v, seconds) = try timed("""
            local items = {}
            for i = 1, 200 do items[i] = i end
            local out = task.map(items, function(i)
              return tonumber(http.get(BASE .. "/echo", {query = {key = "c", i = i}}):json().query.i[1])
            end, {concurrency = 32})
            local ok = 0
            for i = 1, 200 do if out[i] == i then ok = ok + 1 end end
            return ok, #out, hits("/echo", "c")
            """)
        XCTAssertEqual(v, [200, 200, 200])
        XCTAssertLessThan(seconds, 30)
    }

    func testSecretQueryValuesNeverAppearInErrors() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/status/404?api_key=SECRET1&x=1")
            local n = catch(http.post, BASE .. "/reset?token=SECRET2", {json = {}, retry = FAST})
            local r = catch(http.get, BASE .. "/retry-after?secs=1e9&access_token=SECRET3", {retry = FAST})
            local t = catch(http.get, BASE .. "/slow?secs=3&password=SECRET4", {timeout = 0.2, retry = false})
            local res = http.get(BASE .. "/html?signature=SECRET5")
            local j = catch(res.json, res)
            return tostring(e), e.message, tostring(n), tostring(r), tostring(t), tostring(j)
            """)
        assertContains(v[0], "api_key=***")
        assertContains(v[0], "x=1")
        for (i, message) in v.enumerated() {
            for secret in 1...5 { assertLacks(message, "SECRET\(secret)") }
            XCTAssertTrue(text(message).contains("=***"), "message \(i): \(text(message))")
        }
    }
}
