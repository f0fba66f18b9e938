import AsyncHTTPClient
import NIOCore
import NIOHTTP1

// The request and answer types of the transport.

/// One HTTP exchange as the `http` module or a vendor binding describes it.
public struct HTTPRequestSpec: Sendable {
    public var method: String
    public var url: String
    /// In order; a name may repeat.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Seconds for the whole of one attempt (connect, send, receive).
    public var timeout: Double
    public var retry: RetryPolicy
    /// The caller knows how to make repeating a POST/PATCH safe.
    public var safeToRepeat: Bool
    public var maxRedirects: Int
    /// Header names whose values are secrets (redacted in logs, never sent to another host on a redirect).
    public var secretHeaders: Set<String>
    /// Write a successful body to this file (temporary file, fsync, rename)
    /// instead of memory; resumed with Range after a dropped connection
    /// when the server supports it.
    public var streamTo: String?
    /// Credentials: written as headers when each attempt is built (they
    /// replace plain headers of the same name), never sent to another
    /// origin on a redirect, masked in logs, traces and errors. Set with
    /// `authorize(_:)`, which also marks the header names secret.
    public var auth: Auth?
    /// A body streamed from disk (`body_file`, `multipart`) instead of `body`;
    /// set with `attach(_:)`.
    public private(set) var upload: Upload?

    /// Sends `upload` as the body. A multipart boundary is ours: its
    /// Content-Type replaces any the caller gave.
    public mutating func attach(_ upload: Upload) {
        self.upload = upload
        if let type = upload.contentType {
            headers.removeAll { $0.name.lowercased() == "content-type" }
            headers.append((name: "Content-Type", value: type))
        }
    }

    public init(
        method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        timeout: Double = 60, retry: RetryPolicy = .default, safeToRepeat: Bool = false, maxRedirects: Int = 5,
        secretHeaders: Set<String> = []
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.retry = retry
        self.safeToRepeat = safeToRepeat
        self.maxRedirects = maxRedirects
        self.secretHeaders = secretHeaders
    }
}

/// What came back.
public struct HTTPResult: Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The URL that answered (after redirects).
    public var url: String
    /// How many attempts the exchange took.
    public var attempts: Int
    /// With stream_to: the bytes written to the file, and how many times the
    /// download was resumed.
    public var streamedBytes: Int64? = nil
    public var resumes = 0
    /// The retry policy's reason for stopping when this final answer is one
    /// it retries (a 429 or a 5xx that outlasted the retries, or was not
    /// repeated): nil when the answer is simply final.
    public var gaveUp: String? = nil
}

/// An answer read whole.
struct CollectedResponse: Sendable {
    var status: Int
    var reason: String
    var headers: HTTPHeaders
    var body: ByteBuffer?

    var headerList: [(name: String, value: String)] { headers.map { (name: $0.name, value: $0.value) } }

    func result(url: String, attempts: Int) -> HTTPResult {
        HTTPResult(
            status: status, reason: reason, headers: headerList, body: body.map { Array($0.readableBytesView) } ?? [],
            url: url, attempts: attempts)
    }
}
