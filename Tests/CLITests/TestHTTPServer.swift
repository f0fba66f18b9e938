import Foundation
import NIOCore
import NIOHTTP1
@testable import VendorSim
import XCTest

/// A real HTTP/1.1 server on 127.0.0.1 for the http tests: the simulator's
/// own server (Sources/VendorSim/HTTPServer.swift) with the routes below
/// instead of the vendors', in the test process. Tests talk to it over
/// loopback; the Lua test files find it in $MOONPORT_TEST_HTTP_URL (HTTPTests).
/// Routes are chosen by the path, behaviour by the query:
///
///   /__hits?path=P[&key=K]   {"path": P, "count": N}: how many requests P (with key K) got
///   /json                    200 {"ok": true, "items": [1, 2, 3], "name": "moonport"} (52 bytes)
///   /echo                    200 JSON of what was received: method, path, query (name → [values]),
///                            headers (lower-case names), body
///   /digest                  200 {method, size, crc32, content_type, content_length} of the body received
///   /multipart               200 JSON of the multipart/form-data parts received (name, filename,
///                            content_type, size, crc32, text when small), parsed by the simulator's parser
///   /echo-auth               401 {"message": "Invalid authentication credentials: <Authorization>", "headers": {...}}:
///                            a careless server quoting the credentials it got
///   /status/503-then-200?key=K[&n=N][&status=S]  the first N (default 1) hits answer S (503), then 200
///   /status/N                status N with a JSON error body {"error": ..., "code": "EN"}
///   /retry-after?secs=S&times=N[&status=429]     Retry-After: S the first N times, then 200
///   /retry-after-date?secs=S&times=N             the same, Retry-After as an HTTP-date
///   /ratelimit?reset=S&times=N                   429 + X-RateLimit-Remaining: 0 + X-RateLimit-Reset: S
///   /html                    200 text/html page
///   /html-error              502 text/html page
///   /truncate                Content-Length: 1000, 10 bytes, then the connection is closed
///   /reset                   reads the request, then closes the connection without an answer
///   /slow?secs=S             answers 200 JSON after S seconds
///   /redirect?to=URL[&status=302]
///   /loop                    302 to itself
///   /gzip                    gzip-encoded JSON, Content-Encoding: gzip
///   /download?size=N         N bytes of a repeating pattern ((i * 7 + 3) % 251), Range served (206)
///   /download-drop?size=N&at=A[&key=K]   the same, cut after byte A on the first request (per key)
///   /download-short?size=N&at=A          announces N bytes, always sends up to byte A
///   /download-norange?size=N             the same bytes, no Range support (always 200, whole body)
///   /invalid-json            200 application/json with a broken body
///
/// Every request except /__hits is counted under its path, and under
/// "path?key=K" when it has a key query parameter.
final class TestHTTPServer: @unchecked Sendable {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }
    private let server: SimServer
    private let channel: Channel
    private let hits = NSLock()
    private var counts: [String: Int] = [:]

    static let methods: [HTTPMethod] = [.GET, .POST, .PUT, .PATCH, .DELETE, .OPTIONS]
    static let paths = ["/__hits", "/json", "/echo", "/digest", "/multipart", "/echo-auth", "/status/{code}",
                        "/retry-after", "/retry-after-date", "/ratelimit", "/html", "/html-error", "/truncate", "/reset",
                        "/slow", "/redirect", "/loop", "/gzip", "/download", "/download-drop", "/download-short",
                        "/download-norange", "/invalid-json"]

    init() throws {
        let box = Box()
        var routes: [Route] = []
        for path in Self.paths {
            for method in Self.methods {
                routes.append(Route(vendor: nil, method: method, pattern: path) { request, _ in
                    box.server?.answer(request) ?? .empty(503)
                })
            }
        }
        let app = SimApp(router: Router(routes: routes, prefixes: [:]), faults: FaultInjector(spec: FaultSpec(), seed: 1),
                         stats: Stats(), clock: SimClock(speed: 1), vendorErrors: [:])
        server = SimServer(app: app, threads: 2)
        channel = try server.bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        box.server = self
    }

    /// The routes' way back to the server (its counters), set once it is bound.
    private final class Box: @unchecked Sendable { weak var server: TestHTTPServer? }

    private var stopped = false

    func stop() {
        hits.lock()
        let first = !stopped
        stopped = true
        hits.unlock()
        guard first else { return }
        try? channel.close().wait()
        try? server.group.syncShutdownGracefully()
    }

    deinit { stop() }

    /// A port nothing listens on: bound, then closed at once.
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    // MARK: - Routes

    private func count(_ key: String) -> Int {
        hits.lock()
        defer { hits.unlock() }
        counts[key, default: 0] += 1
        return counts[key]!
    }

    private func counted(_ key: String) -> Int {
        hits.lock()
        defer { hits.unlock() }
        return counts[key] ?? 0
    }

    private func answer(_ request: SimRequest) -> SimResponse {
        let path = request.path
        let key = request.queryValue("key")
        func one(_ name: String, _ fallback: String) -> String { request.queryValue(name) ?? fallback }
        if path == "/__hits" {
            var counter = one("path", "")
            if let k = key { counter += "?key=" + k }
            return .json(200, ["path": counter, "count": counted(counter)])
        }
        var n = count(path)
        if let key { n = count(path + "?key=" + key) }
        let body = request.body

        switch path {
        case "/json":
            return raw(200, #"{"ok": true, "items": [1, 2, 3], "name": "moonport"}"#)
        case "/echo":
            var query: [String: [String]] = [:]
            for (name, value) in request.query { query[name, default: []].append(value) }
            return .json(200, ["method": request.method.rawValue, "path": path, "query": query,
                               "headers": Self.headers(request, joined: true),
                               "body": String(decoding: body, as: UTF8.self)])
        case "/digest":
            return .json(200, ["method": request.method.rawValue, "size": request.bodyLength, "crc32": Int(Gzip.crc32(body)),
                               "content_type": Self.orNull(request.header("Content-Type")),
                               "content_length": request.header("Content-Length").flatMap(Int.init) ?? -1])
        case "/multipart":
            // Parsed by the simulator's parser, not by the code under test.
            let contentType = request.header("Content-Type") ?? ""
            let boundary = Multipart.boundary(contentType)
            let parts: [[String: Any]] = (boundary.map { Multipart.parts(body, boundary: $0) } ?? []).map { part in
                ["name": Self.orNull(part.name), "filename": Self.orNull(part.filename),
                 "content_type": Self.orNull(part.contentType), "size": part.body.count, "crc32": Int(Gzip.crc32(part.body)),
                 "text": part.body.count <= 1024 ? String(decoding: part.body, as: UTF8.self) : NSNull()]
            }
            return .json(200, ["multipart": boundary != nil, "content_type": contentType,
                               "content_length": request.header("Content-Length").flatMap(Int.init) ?? -1,
                               "received": request.bodyLength, "parts": parts])
        case "/echo-auth":
            let headers = Self.headers(request, joined: false)
            return .json(401, ["message": "Invalid authentication credentials: " + (headers["authorization"] ?? "(none)"),
                               "headers": headers])
        case "/status/503-then-200":
            if n <= Int(one("n", "1")) ?? 1 {
                return .json(Int(one("status", "503")) ?? 503, ["error": "not yet", "hit": n])
            }
            return .json(200, ["ok": true, "hit": n])
        case "/retry-after", "/retry-after-date":
            guard n <= Int(one("times", "1")) ?? 1 else { return .json(200, ["ok": true, "hit": n]) }
            let secs = one("secs", "1")
            let value = path == "/retry-after" ? secs : Self.httpDate(Date().addingTimeInterval(Double(secs) ?? 1))
            return .json(Int(one("status", "429")) ?? 429, ["error": "slow down"], headers: [("Retry-After", value)])
        case "/ratelimit":
            guard n <= Int(one("times", "1")) ?? 1 else { return .json(200, ["ok": true, "hit": n]) }
            return .json(429, ["error": "rate limited"], headers: [
                ("X-RateLimit-Limit", "10"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", one("reset", "1"))])
        case "/html":
            return .text(200, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n",
                         contentType: "text/html; charset=utf-8")
        case "/html-error":
            return .text(502, "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
                         contentType: "text/html")
        case "/truncate":
            var r = raw(200, #"{"partial""# + String(repeating: " ", count: 990))
            r.delivery = .cut(10)
            return r
        case "/reset":
            var r = SimResponse.empty(200)
            r.delivery = .dropped
            return r
        case "/slow":
            var r = SimResponse.json(200, ["ok": true, "slow": true])
            r.delivery = .delayed(Double(one("secs", "1")) ?? 1)
            return r
        case "/redirect":
            return .text(Int(one("status", "302")) ?? 302, "").adding(headers: [("Location", one("to", "/json"))])
        case "/loop":
            return .text(302, "").adding(headers: [("Location", "/loop")])
        case "/gzip":
            let json = #"{"compressed": true, "text": ""# + String(repeating: "moonport ", count: 50) + #""}"#
            return SimResponse(status: 200, headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                               body: .bytes(Gzip.stored(Array(json.utf8))))
        case "/download", "/download-drop", "/download-short", "/download-norange":
            return download(request, path: path, hit: n)
        case "/invalid-json":
            return raw(200, #"{"a": 1, "b": [1, 2,, 3]}"#)
        default:
            if path.hasPrefix("/status/"), let status = Int(path.dropFirst("/status/".count)) {
                return .json(status, ["error": "status \(status) as asked", "code": "E\(status)"])
            }
            return .json(404, ["error": "no route " + path, "code": "not_found"])
        }
    }

    /// /download*: `size` bytes of (i * 7 + 3) % 251. A cut is at byte `at`
    /// of the whole body, wherever the answer starts.
    private func download(_ request: SimRequest, path: String, hit: Int) -> SimResponse {
        let size = Int(request.queryValue("size") ?? "1000") ?? 1000
        let pattern = PatternBody(count: size)
        guard path != "/download-norange" else {
            return SimResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: .generated(pattern))
        }
        var r = Ranges.respond(to: request, body: pattern, contentType: "application/octet-stream", etag: "\"v1\"")
        if path == "/download-short" || (path == "/download-drop" && hit == 1) {
            let at = Int(request.queryValue("at") ?? "") ?? size / 2
            var start = 0
            if r.status == 206, case .range(let range) = Ranges.parse(request.header("Range") ?? "", total: size) {
                start = range.lowerBound
            }
            r.delivery = .cut(max(0, at - start))
        }
        return r
    }

    private struct PatternBody: GeneratedBody {
        let count: Int
        static let cycle: [UInt8] = (0..<251).map { UInt8(($0 * 7 + 3) % 251) }
        func write(_ range: Range<Int>, into buffer: inout ByteBuffer) {
            var at = range.lowerBound
            while at < range.upperBound {
                let offset = at % 251, n = min(251 - offset, range.upperBound - at)
                buffer.writeBytes(Self.cycle[offset..<(offset + n)])
                at += n
            }
        }
    }

    private func raw(_ status: Int, _ json: String) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(Array(json.utf8)))
    }

    /// The request's headers by lower-case name; repeated ones joined with ", " (or the last one).
    private static func headers(_ request: SimRequest, joined: Bool) -> [String: String] {
        var out: [String: String] = [:]
        for (name, value) in request.headers {
            let k = name.lowercased()
            out[k] = joined ? out[k].map { $0 + ", " + value } ?? value : value
        }
        return out
    }

    private static func orNull(_ s: String?) -> Any { s.map { $0 as Any } ?? NSNull() }

    private static func httpDate(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: date)
    }
}
