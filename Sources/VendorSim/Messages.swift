import Foundation
import NIOCore
import NIOHTTP1

/// A request as the vendor handlers see it: fully read (bodies are capped per
/// route, see `Route.maxBody`).
public struct SimRequest: Sendable {
    public let method: HTTPMethod
    /// The path as sent (percent-encoded), without the query.
    public let path: String
    /// The query string as sent, without `?`.
    public let rawQuery: String
    public let query: [(name: String, value: String)]
    public let headers: HTTPHeaders
    /// The body, unless it was larger than the route accepts (`bodyTooLarge`).
    public let body: [UInt8]
    /// How many body bytes arrived (also when they were not kept).
    public let bodyLength: Int
    public let bodyTooLarge: Bool

    /// `host:port` the server listens on (when the request has no `Host`).
    let serverAddress: String?

    init(head: HTTPRequestHead, body: [UInt8], bodyLength: Int, bodyTooLarge: Bool, serverAddress: String? = nil) {
        self.serverAddress = serverAddress
        method = head.method
        let uri = head.uri
        if let q = uri.firstIndex(of: "?") {
            path = String(uri[..<q])
            rawQuery = String(uri[uri.index(after: q)...])
        } else {
            path = uri
            rawQuery = ""
        }
        query = Self.parseQuery(rawQuery)
        headers = head.headers
        self.body = body
        self.bodyLength = bodyLength
        self.bodyTooLarge = bodyTooLarge
    }

    public func header(_ name: String) -> String? { headers.first(name: name) }

    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }
    public func queryValues(_ name: String) -> [String] { query.filter { $0.name == name }.map(\.value) }

    /// The body decoded as JSON (nil when it is not JSON).
    var json: Any? { JSON.decode(body) }
    var jsonObject: [String: Any]? { json as? [String: Any] }

    /// `scheme://host:port` the client used (from `Host`), for absolute links.
    var origin: String { "http://" + (header("Host") ?? serverAddress ?? "127.0.0.1") }

    /// The media type of `Content-Type`, lowercased, without parameters.
    var mediaType: String? {
        header("Content-Type").map { $0.split(separator: ";").first.map(String.init)?.trimmingCharacters(in: .whitespaces).lowercased() ?? "" }
    }

    static func parseQuery(_ raw: String) -> [(name: String, value: String)] {
        guard !raw.isEmpty else { return [] }
        return raw.split(separator: "&").map { item in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeComponent(String(kv[0]))
            let value = kv.count > 1 ? decodeComponent(String(kv[1])) : ""
            return (name, value)
        }
    }

    static func decodeComponent(_ s: String) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}

/// A body the server writes in pieces (results of any size, generated on
/// demand). `write` must give the same bytes for the same range every time.
public protocol GeneratedBody: Sendable {
    var count: Int { get }
    /// Appends the bytes `range` (within 0..<count) to `buffer`.
    func write(_ range: Range<Int>, into buffer: inout ByteBuffer)
}

/// A body held in memory.
struct BytesBody: GeneratedBody {
    let bytes: [UInt8]
    var count: Int { bytes.count }
    func write(_ range: Range<Int>, into buffer: inout ByteBuffer) {
        _ = bytes.withUnsafeBufferPointer { p in
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: p[range])))
        }
    }
}

/// A window (`Range` request) of another body.
struct SlicedBody: GeneratedBody {
    let base: any GeneratedBody
    let range: Range<Int>
    var count: Int { range.count }
    func write(_ r: Range<Int>, into buffer: inout ByteBuffer) {
        base.write((range.lowerBound + r.lowerBound)..<(range.lowerBound + r.upperBound), into: &buffer)
    }
}

/// A response. The server adds `Content-Length` (always) and handles
/// keep-alive; handlers set the rest.
public struct SimResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        case generated(any GeneratedBody)
    }

    /// How the server writes the answer. An injected fault (`lost`,
    /// `truncate`, `slow`) overrides it on vendor routes; the HTTP test
    /// server's routes (Tests/CLITests/TestHTTPServer.swift) set it themselves.
    public enum Delivery: Sendable, Equatable {
        case normal
        /// After this many seconds of real time.
        case delayed(Double)
        /// The status and the full Content-Length, then only this many body
        /// bytes, then the connection is closed.
        case cut(Int)
        /// No answer: the connection is closed.
        case dropped
    }

    public var status: Int
    public var headers: [(String, String)]
    public var body: Body
    public var delivery: Delivery = .normal

    init(status: Int, headers: [(String, String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    var contentLength: Int {
        switch body {
        case .bytes(let b): return b.count
        case .generated(let g): return g.count
        }
    }

    /// A JSON answer (the value is encoded at once).
    static func json(_ status: Int, _ value: Any, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: .bytes(JSON.encode(value)))
    }

    static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", contentType)], body: .bytes(Array(text.utf8)))
    }

    static func empty(_ status: Int, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: headers)
    }

    func adding(headers more: [(String, String)]) -> SimResponse {
        var r = self
        r.headers += more
        return r
    }
}

/// `Range` support for downloadable bodies: one `bytes=` range (`a-b`, `a-`,
/// `-n`), `If-Range` against the ETag, 206 with `Content-Range`, 416 when
/// unsatisfiable. Other forms (several ranges) get the whole body (RFC 9110 allows it).
enum Ranges {
    static func respond(
        to request: SimRequest, body: any GeneratedBody, contentType: String, etag: String,
        headers extra: [(String, String)] = []
    ) -> SimResponse {
        let total = body.count
        var headers: [(String, String)] = [("Content-Type", contentType), ("Accept-Ranges", "bytes"), ("ETag", etag)] + extra
        guard let spec = request.header("Range") else {
            return SimResponse(status: 200, headers: headers, body: .generated(body))
        }
        if let ifRange = request.header("If-Range"), ifRange != etag {
            return SimResponse(status: 200, headers: headers, body: .generated(body))
        }
        switch parse(spec, total: total) {
        case .none:
            return SimResponse(status: 200, headers: headers, body: .generated(body))
        case .unsatisfiable:
            headers.append(("Content-Range", "bytes */\(total)"))
            return SimResponse(status: 416, headers: headers)
        case .range(let r):
            headers.append(("Content-Range", "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(total)"))
            return SimResponse(status: 206, headers: headers, body: .generated(SlicedBody(base: body, range: r)))
        }
    }

    enum Parsed: Equatable { case none, unsatisfiable, range(Range<Int>) }

    static func parse(_ spec: String, total: Int) -> Parsed {
        let s = spec.trimmingCharacters(in: .whitespaces)
        guard s.lowercased().hasPrefix("bytes=") else { return .none }
        let set = s.dropFirst(6)
        guard !set.contains(",") else { return .none }
        let parts = set.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .none }
        let a = parts[0].trimmingCharacters(in: .whitespaces), b = parts[1].trimmingCharacters(in: .whitespaces)
        if a.isEmpty {
            guard let n = Int(b), n >= 0 else { return .none }
            guard n > 0, total > 0 else { return .unsatisfiable }
            return .range(max(0, total - n)..<total)
        }
        guard let start = Int(a), start >= 0 else { return .none }
        var end = total - 1
        if !b.isEmpty {
            guard let e = Int(b), e >= start else { return .none }
            end = min(e, total - 1)
        }
        guard start < total else { return .unsatisfiable }
        return .range(start..<(end + 1))
    }
}
