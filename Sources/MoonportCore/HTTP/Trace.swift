import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--trace FILE`: one NDJSON line per HTTP attempt, redacted.
///
///     {"time": "2026-11-23T13:50:01.123Z", "attempt": 1, "method": "POST",
///      "url": "https://api.example.com/v1/x?api_key=***", "final_url": (after redirects),
///      "request_headers": {"authorization": "***", ...}, "request_body": {...} | "text",
///      "request_body_bytes": 123, "request_body_truncated": true (when cut),
///      "status": 200, "response_headers": {...}, "response_body": ..., "response_body_bytes": 456,
///      "streamed_bytes": (stream_to: the bytes written; no body), "duration_ms": 12.3,
///      "error": "connection refused" (an attempt that got no answer)}
///
/// Header values under secret names (auth headers, Authorization, Cookie,
/// Set-Cookie, *key*, *token*, ...) are `***`; JSON and form bodies have the
/// values of fields named like secrets masked at any depth; every string is
/// scrubbed of the secret values the process has seen. Other bodies are
/// included up to `bodyLimit` bytes. The file is created with mode 0600 (an
/// existing file is set to 0600 too) and appended to; each line goes out
/// with one write(2) under a lock, so lines of concurrent requests never mix.
public final class HTTPTracer: Sendable {
    public struct OpenError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public let path: String
    private let fd: Mutex<Int32>
    public static let bodyLimit = 64 * 1024

    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw OpenError(message: "--trace \(path): cannot open the file: \(String(cString: strerror(errno)))")
        }
        _ = fchmod(fd, 0o600)
        self.path = path
        self.fd = Mutex(fd)
    }

    deinit {
        fd.withLock { if $0 >= 0 { systemClose($0) } }
    }

    public func close() {
        fd.withLock { fd in
            if fd >= 0 { systemClose(fd) }
            fd = -1
        }
    }

    /// One attempt, as the transport saw it.
    struct Attempt {
        var started: Date
        var attempt: Int
        var method: String
        var url: String
        var finalURL: String?
        var requestHeaders: [(name: String, value: String)]
        var secretHeaders: Set<String>
        var requestBody: [UInt8]?
        /// A body streamed from disk: traced as its summary and length, not its bytes.
        var upload: Upload? = nil
        var status: Int?
        var responseHeaders: [(name: String, value: String)] = []
        var responseBody: [UInt8]?
        var streamedBytes: Int64?
        var durationMS: Double
        var error: String?
    }

    func record(_ a: Attempt) {
        var line: [String: Any] = [
            "time": Self.timestamp(a.started),
            "attempt": a.attempt,
            "method": a.method,
            "url": Redaction.scrub(Redaction.url(a.url)),
            "request_headers": Self.headers(a.requestHeaders, secret: a.secretHeaders),
            "duration_ms": (a.durationMS * 10).rounded() / 10,
        ]
        if let f = a.finalURL, f != a.url { line["final_url"] = Redaction.scrub(Redaction.url(f)) }
        let requestType = a.requestHeaders.last { $0.name.lowercased() == "content-type" }?.value
        if let body = a.requestBody { Self.body(body, contentType: requestType, prefix: "request_body", into: &line) }
        if let upload = a.upload {
            line["request_body"] = Redaction.scrub(upload.summary)
            line["request_body_bytes"] = upload.length
        }
        if let status = a.status {
            line["status"] = status
            line["response_headers"] = Self.headers(a.responseHeaders, secret: [])
            if let n = a.streamedBytes {
                line["streamed_bytes"] = n
            } else if let body = a.responseBody {
                let responseType = a.responseHeaders.last { $0.name.lowercased() == "content-type" }?.value
                Self.body(body, contentType: responseType, prefix: "response_body", into: &line)
            }
        }
        if let e = a.error { line["error"] = Redaction.scrub(e) }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return }
        // Belt and braces: the whole line once more.
        let text = Redaction.scrub(String(decoding: data, as: UTF8.self)) + "\n"
        fd.withLock { fd in
            guard fd >= 0 else { return }
            var text = text
            text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
        }
    }

    /// Lower-case names; repeated headers joined with ", "; secrets masked.
    static func headers(_ list: [(name: String, value: String)], secret: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        for h in list {
            let name = h.name.lowercased()
            let value = Redaction.scrub(Redaction.header(name: name, value: h.value, secretHeaders: secret))
            if let v = out[name] { out[name] = v == Redaction.mask && value == Redaction.mask ? v : v + ", " + value } else { out[name] = value }
        }
        return out
    }

    static func body(_ bytes: [UInt8], contentType: String?, prefix: String, into line: inout [String: Any]) {
        line[prefix + "_bytes"] = bytes.count
        if bytes.isEmpty { return }
        let ctype = contentType?.lowercased() ?? ""
        let looksJSON = ctype.contains("json") || bytes.first == UInt8(ascii: "{") || bytes.first == UInt8(ascii: "[")
        if looksJSON, bytes.count <= 16 << 20,
            let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        {
            let redacted = Redaction.jsonValue(value)
            if let data = try? JSONSerialization.data(withJSONObject: redacted, options: [.sortedKeys, .fragmentsAllowed]),
                data.count <= bodyLimit
            {
                line[prefix] = redacted
            } else if let data = try? JSONSerialization.data(withJSONObject: redacted, options: [.sortedKeys, .fragmentsAllowed]) {
                line[prefix] = Redaction.scrub(String(decoding: data.prefix(bodyLimit), as: UTF8.self))
                line[prefix + "_truncated"] = true
            }
            return
        }
        if ctype.contains("x-www-form-urlencoded") {
            var c = URLComponents()
            c.percentEncodedQuery = String(decoding: bytes.prefix(bodyLimit), as: UTF8.self)
            if let items = c.percentEncodedQueryItems {
                c.percentEncodedQueryItems = items.map {
                    Redaction.isSecretName($0.name) ? URLQueryItem(name: $0.name, value: Redaction.mask) : $0
                }
                line[prefix] = Redaction.scrub(c.percentEncodedQuery ?? "")
                if bytes.count > bodyLimit { line[prefix + "_truncated"] = true }
                return
            }
        }
        line[prefix] = Redaction.scrub(String(decoding: bytes.prefix(bodyLimit), as: UTF8.self))
        if bytes.count > bodyLimit { line[prefix + "_truncated"] = true }
    }

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

private func systemClose(_ fd: Int32) { _ = close(fd) }
