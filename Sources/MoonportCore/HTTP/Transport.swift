import AsyncHTTPClient
import Foundation
import LuaBridge
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

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

/// What stops an exchange on Ctrl-C: the request on the event loop, then
/// the task that carries on with retries. Cancelling before the action is
/// known cancels it as soon as it is set.
final class Cancellation: Sendable {
    private let state = Mutex<(cancelled: Bool, action: (@Sendable () -> Void)?)>((false, nil))

    func set(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            s.action = action
            return s.cancelled
        }
        if now { action() }
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        let action = state.withLock { s -> (@Sendable () -> Void)? in
            s.cancelled = true
            return s.action
        }
        action?()
    }
}

/// Sends requests over one shared async-http-client (connection pooling,
/// TLS verification on, HTTP/1.1 and HTTP/2), with the retry policy of
/// SPEC.md and redirects that never carry credentials to another host.
public final class Transport: Sendable {
    public static let shared = Transport()

    let client: HTTPClient
    let limiter = RateLimiter()
    private let tracerBox = Mutex<HTTPTracer?>(nil)

    /// Where `--trace` writes one NDJSON line per attempt (nil: no trace).
    public var tracer: HTTPTracer? {
        get { tracerBox.withLock { $0 } }
        set { tracerBox.withLock { $0 = newValue } }
    }
    /// Bodies kept in memory are capped; larger ones belong in `stream_to`.
    public static let maxBodyInMemory = 512 * 1024 * 1024

    init() {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow  // followed here, to strip credentials across hosts
        configuration.decompression = .enabled(limit: .ratio(200))
        configuration.httpVersion = .automatic
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused or failed connect ends the attempt at once; our policy retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        // async-http-client opens 8 HTTP/1.1 connections per host by default;
        // task.map with concurrency 64 should get 64 (scripts/bench/http.py).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.timeout.connect = .seconds(10)
        // A stalled body (no byte for this long) fails the attempt; streamed
        // downloads have no overall deadline (see `download`).
        configuration.timeout.read = .seconds(120)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Sends with retries, after the first hop if one was made; throws
    /// `LuaError` (kind network, timeout, rate_limited) when the exchange
    /// cannot be completed. HTTP error statuses are results, not errors: the
    /// caller decides.
    private func send(_ spec: HTTPRequestSpec, firstHop: Result<CollectedResponse, any Error>?) async throws -> HTTPResult {
        do {
            return try await sendAttempts(spec, firstHop: firstHop)
        } catch var error as LuaError {
            // A message may quote what the server said: mask the secrets.
            error.message = Redaction.scrub(error.message)
            throw error
        }
    }

    /// Sends with retries (the one entry point), reporting through
    /// `completion` (called once, on any thread); returns what cancels the
    /// exchange. A short
    /// exchange (body in memory, no stream_to, no trace, rate-limit budget
    /// not spent) makes its first attempt straight on the event loop, with
    /// no Swift task and its two thread hops; a retry or a redirect goes on
    /// in a task through the same code as `send`.
    public func start(
        _ spec: HTTPRequestSpec, completion: @escaping @Sendable (Result<HTTPResult, any Error>) -> Void
    ) -> @Sendable () -> Void {
        Self.registerSecrets(of: spec)
        let cancellation = Cancellation()
        let slowPath = { @Sendable (firstHop: Result<CollectedResponse, any Error>?) in
            let task = Task {
                do {
                    completion(.success(try await self.send(spec, firstHop: firstHop)))
                } catch {
                    completion(.failure(error))
                }
            }
            cancellation.set { task.cancel() }
        }
        // The rate-limit check takes one unit of the budget: it is made last,
        // and only for a request that then goes out here (else `send` makes it).
        guard spec.streamTo == nil, spec.upload == nil, tracer == nil, let origin = URLParts(spec.url)?.origin,
            let request = try? HTTPClient.Request(
                url: spec.url, method: HTTPMethod(rawValue: spec.method),
                headers: HTTPHeaders(Self.wireHeaders(spec.headers, auth: spec.auth).map { ($0.name, $0.value) }), body: spec.body.map { .bytes($0) }),
            (limiter.wait(for: origin, now: Date()) ?? 0) <= 0
        else {
            slowPath(nil)
            return { cancellation.cancel() }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let limit = Self.maxBodyInMemory
        let exchange = client.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: limit), eventLoop: .indifferent,
            deadline: .now() + .milliseconds(Int64(spec.timeout * 1000)))
        cancellation.set { exchange.cancel() }
        exchange.futureResult.whenComplete { result in
            // Ctrl-C: nothing more is sent.
            if cancellation.isCancelled {
                completion(.failure(CancellationError()))
                return
            }
            let hop = result.map {
                CollectedResponse(status: Int($0.status.code), reason: $0.status.reasonPhrase, headers: $0.headers, body: $0.body)
            }.mapError { Self.tooBig($0, spec.method, spec.url) }
            if case .success(let r) = hop, !Self.isRedirect(r.status) {
                // Final unless the policy wants another attempt: answered here.
                let outcome = AttemptOutcome.response(status: r.status, headers: r.headerList)
                var rng = SystemRandomNumberGenerator()
                let final: Bool
                switch spec.retry.decide(
                    attempt: 1, outcome: outcome, method: spec.method, safeToRepeat: spec.safeToRepeat,
                    waitedSoFar: 0, now: Date(), random: &rng)
                {
                case .done: final = true
                case .stop: final = r.status != 429
                case .retry: final = false
                }
                if final {
                    let answer = r.result(url: spec.url, attempts: 1)
                    self.recordBudget(answer)
                    self.logAttempt(spec, outcome, answer, since: started, attempt: 1)
                    completion(.success(answer))
                    return
                }
            }
            slowPath(hop)
        }
        return { cancellation.cancel() }
    }

    /// Every secret value this request carries joins the registry, so an
    /// echo of it (in a response body quoted by an error, in a log line) is masked.
    static func registerSecrets(of spec: HTTPRequestSpec) {
        spec.auth?.registerValues()
        for h in spec.headers where spec.secretHeaders.contains(h.name.lowercased()) || Redaction.isSecretName(h.name) {
            SecretRegistry.shared.registerHeaderValue(h.value)
        }
        Redaction.registerQuerySecrets(of: spec.url)
        if let body = spec.body, body.count <= 256 * 1024 {
            let ctype = spec.headers.last { $0.name.lowercased() == "content-type" }?.value
            Redaction.registerBodySecrets(body, contentType: ctype)
        }
        if case .multipart(_, let parts, _)? = spec.upload?.shape {
            for case .field(let name, let value, _) in parts where Redaction.isSecretName(name) {
                SecretRegistry.shared.registerHeaderValue(String(decoding: value, as: UTF8.self))
            }
        }
    }

    /// The headers an attempt sends: the caller's, the auth headers in place
    /// of any of the same name, and the defaults (Accept-Encoding, User-Agent).
    static func wireHeaders(_ headers: [(name: String, value: String)], auth: Auth?) -> [(name: String, value: String)] {
        var out = headers
        if let auth {
            let names = auth.headerNames
            out.removeAll { names.contains($0.name.lowercased()) }
            out += auth.headers.map { (name: $0.name, value: $0.value.reveal()) }
        }
        if !out.contains(where: { $0.name.lowercased() == "accept-encoding" }) {
            out.append((name: "Accept-Encoding", value: "gzip, deflate"))
        }
        if !out.contains(where: { $0.name.lowercased() == "user-agent" }) {
            out.append((name: "User-Agent", value: "moonport/\(MoonportModule.version)"))
        }
        return out
    }

    private func sendAttempts(_ spec: HTTPRequestSpec, firstHop: Result<CollectedResponse, any Error>?) async throws -> HTTPResult {
        var firstHop = firstHop
        var attempt = 0
        var waited = 0.0
        var rng = SystemRandomNumberGenerator()
        let log = LogSink.shared
        while true {
            attempt += 1
            try Task.checkCancellation()
            // Budgets are per origin (scheme, host and port): another port is another server.
            if firstHop == nil, let host = URLParts(spec.url)?.origin, let pause = limiter.wait(for: host, now: Date()), pause > 0 {
                let budgetLeft = spec.retry.maxTotalWait - waited
                if pause > budgetLeft {
                    throw LuaError(
                        .rateLimited,
                        "\(spec.method) \(Redaction.url(spec.url)): the rate limit is spent and resets in \(Self.seconds(pause)), more than the \(Self.seconds(budgetLeft)) left to wait",
                        retryable: true)
                }
                log.write(level: .debug, "rate limit of \(host) spent: waiting \(Self.seconds(pause))")
                let shown = pause >= 2 ? ProgressReporter.shared.begin(
                    "rate limit of \(Redaction.url(host)) spent: waiting \(Self.seconds(pause))", announce: pause >= 10) : nil
                defer { if let shown { ProgressReporter.shared.end(shown) } }
                try await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                waited += pause
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let startedAt = Date()
            let tracer = self.tracer
            func trace(_ result: HTTPResult?, error: String?) {
                guard let tracer else { return }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                tracer.record(HTTPTracer.Attempt(
                    started: startedAt, attempt: attempt, method: spec.method, url: spec.url, finalURL: result?.url,
                    requestHeaders: Self.wireHeaders(spec.headers, auth: spec.auth),
                    secretHeaders: spec.secretHeaders.union(spec.auth?.headerNames ?? []),
                    requestBody: spec.body, upload: spec.upload, status: result?.status, responseHeaders: result?.headers ?? [],
                    responseBody: result?.body, streamedBytes: result?.streamedBytes, durationMS: ms, error: error))
            }
            let outcome: AttemptOutcome
            var result: HTTPResult?
            do {
                let hop = firstHop
                firstHop = nil
                var r = try await exchange(spec, firstHop: hop)
                r.attempts = attempt
                result = r
                outcome = .response(status: r.status, headers: r.headers)
                recordBudget(r)
            } catch let error as LuaError {
                trace(nil, error: error.message)
                throw error
            } catch let error where error is CancellationError || (error as? HTTPClientError) == .cancelled {
                trace(nil, error: "cancelled")
                throw CancellationError()
            } catch {
                outcome = Self.classify(error)
            }
            switch outcome {
            case .response: trace(result, error: nil)
            case .connectionRefused: trace(nil, error: "connection refused")
            case .connectionFailed(let why): trace(nil, error: why)
            case .timedOut: trace(nil, error: "no answer within \(Self.seconds(spec.timeout))")
            }
            logAttempt(spec, outcome, result, since: started, attempt: attempt)
            let decision = spec.retry.decide(
                attempt: attempt, outcome: outcome, method: spec.method, safeToRepeat: spec.safeToRepeat,
                waitedSoFar: waited, now: Date(), random: &rng)
            switch decision {
            case .done:
                if let result { return result }
                throw Self.failure(spec, outcome, attempts: attempt, reason: "no response")
            case .retry(let after, let reason):
                log.write(level: .debug, "\(spec.method) \(Redaction.url(spec.url)): \(reason)")
                try await Task.sleep(nanoseconds: UInt64(max(0, after) * 1e9))
                waited += after
            case .stop(let reason):
                if let result, case .response(let status, _) = outcome, status != 429 {
                    // A final HTTP status: the caller turns it into an error if it wants.
                    var r = result
                    r.attempts = attempt
                    return r
                }
                throw Self.failure(spec, outcome, attempts: attempt, reason: reason, last: result)
            }
        }
    }

    /// The rate-limit budget an answer announces, kept per origin.
    private func recordBudget(_ r: HTTPResult) {
        if let host = URLParts(r.url)?.origin, let budget = RateLimitBudget(headers: r.headers, now: Date()) {
            limiter.record(host: host, budget: budget)
        }
    }

    /// `-v`: one line per attempt.
    private func logAttempt(_ spec: HTTPRequestSpec, _ outcome: AttemptOutcome, _ result: HTTPResult?, since started: UInt64, attempt: Int) {
        // The run summary's bytes up and down (--summary).
        TransferCounters.shared.add(
            up: Int64(spec.body?.count ?? 0) + (spec.upload?.length ?? 0),
            down: result?.streamedBytes ?? Int64(result?.body.count ?? 0))
        let log = LogSink.shared
        guard log.verbose else { return }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        var line = "\(spec.method) \(Redaction.url(result?.url ?? spec.url))"
        switch outcome {
        case .response(let status, _): line += " \(status) \(result?.streamedBytes ?? Int64(result?.body.count ?? 0)) B"
        case .connectionRefused: line += " connection refused"
        case .connectionFailed(let why): line += " failed: \(why)"
        case .timedOut: line += " timed out"
        }
        line += " \(Int(ms)) ms (attempt \(attempt))"
        log.write(level: .debug, line)
    }

    static func isRedirect(_ status: Int) -> Bool { [301, 302, 303, 307, 308].contains(status) }

    /// A body over the in-memory cap is a usage error that says what to do.
    static func tooBig(_ error: any Error, _ method: String, _ url: String) -> any Error {
        guard error is NIOTooManyBytesError || error is ResponseAccumulator.ResponseTooBigError else { return error }
        return LuaError(
            .usage, "\(method) \(Redaction.url(url)): the response is larger than \(maxBodyInMemory / 1_048_576) MiB; use stream_to = PATH to write it to a file")
    }

    /// One attempt, following redirects. `firstHop` is the answer to the
    /// first request when it was already sent (by `start`).
    private func exchange(_ spec: HTTPRequestSpec, firstHop: Result<CollectedResponse, any Error>? = nil) async throws -> HTTPResult {
        var pending = firstHop
        var url = spec.url
        var method = spec.method
        var body = spec.body
        var upload = spec.upload
        var headers = spec.headers
        var auth = spec.auth
        var redirects = 0
        while true {
            let r: CollectedResponse
            if let hop = pending {
                pending = nil
                r = try hop.get()
            } else {
                var request = HTTPClientRequest(url: url)
                request.method = HTTPMethod(rawValue: method)
                let wire = Self.wireHeaders(headers, auth: auth)
                for h in wire { request.headers.add(name: h.name, value: h.value) }
                if let body { request.body = .bytes(body) } else if let upload { request.body = upload.requestBody() }
                // An upload or a download may take longer than `timeout`: its
                // deadline only guards against a hang (the read timeout catches stalls).
                let long = spec.streamTo != nil || upload != nil
                let deadline = long ? max(spec.timeout, 7 * 24 * 3600) : spec.timeout
                let response = try await client.execute(request, timeout: .milliseconds(Int64(deadline * 1000)))
                let status = Int(response.status.code)
                if let path = spec.streamTo, (200..<300).contains(status) {
                    return try await download(response, url: url, method: method, headers: wire, spec: spec, to: path)
                }
                var collected: ByteBuffer?
                if Self.isRedirect(status) {
                    collected = try? await response.body.collect(upTo: 1 << 20)
                } else {
                    do {
                        collected = try await response.body.collect(upTo: Self.maxBodyInMemory)
                    } catch {
                        throw Self.tooBig(error, method, url)
                    }
                }
                r = CollectedResponse(status: status, reason: response.status.reasonPhrase, headers: response.headers, body: collected)
            }
            if Self.isRedirect(r.status), let location = r.headers.first(name: "location") {
                redirects += 1
                guard redirects <= spec.maxRedirects else {
                    throw LuaError(
                        .http, "\(spec.method) \(Redaction.url(spec.url)): more than \(spec.maxRedirects) redirects (a redirect loop?)",
                        status: r.status, retryable: false)
                }
                guard let next = URLParts.resolve(location, against: url) else {
                    throw LuaError(.http, "\(method) \(Redaction.url(url)): redirect to an invalid location", status: r.status)
                }
                if URLParts(next)?.origin != URLParts(url)?.origin {
                    // Never forward credentials to another host.
                    // Anything named like a secret (Authorization, Cookie, X-Api-Key, ...), not only the auth headers.
                    headers.removeAll { spec.secretHeaders.contains($0.name.lowercased()) || Redaction.isSecretName($0.name) }
                    auth = nil
                }
                if r.status == 303 || ((r.status == 301 || r.status == 302) && method == "POST") {
                    method = "GET"
                    body = nil
                    upload = nil
                    headers.removeAll { ["content-type", "content-length"].contains($0.name.lowercased()) }
                }
                url = next
                continue
            }
            return r.result(url: url, attempts: 1)
        }
    }

    /// Streams a 2xx body to a temporary file beside `path`, then fsyncs and
    /// renames it. A dropped connection is resumed with `Range` (and
    /// `If-Range`) when the server said `Accept-Ranges: bytes`; a body
    /// shorter than its Content-Length is an error; nothing is left under
    /// `path` unless the whole body arrived.
    private func download(
        _ first: HTTPClientResponse, url: String, method: String, headers: [(name: String, value: String)],
        spec: HTTPRequestSpec, to path: String
    ) async throws -> HTTPResult {
        let file = try AtomicOutput(path: path, function: "http.request (stream_to)")
        defer { file.abort() }  // nothing once committed
        let acceptsRanges = first.headers.first(name: "accept-ranges")?.lowercased().contains("bytes") == true
        let validator = first.headers.first(name: "etag") ?? first.headers.first(name: "last-modified")
        var expected = first.headers.first(name: "content-length").flatMap { Int64($0) }
        var response = first
        var written: Int64 = 0
        var resumes = 0
        // The progress of the download: bytes and rate (--progress).
        let label = "downloading \(Redaction.url(url))"
        let shown = ProgressReporter.shared.begin(label, announce: false)
        defer { ProgressReporter.shared.end(shown) }
        let startedAt = ProgressReporter.now()
        var shownAt = startedAt
        while true {
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { try file.write($0) }
                    written += Int64(chunk.readableBytes)
                    let now = ProgressReporter.now()
                    if now - shownAt >= 0.5 {
                        shownAt = now
                        ProgressReporter.shared.update(shown, ProgressReporter.transferText(
                            label, bytes: written, of: expected, seconds: now - startedAt))
                    }
                }
                if let expected, written != expected {
                    throw LuaError(
                        .network, "\(method) \(Redaction.url(url)): the body was cut short: \(written) of \(expected) bytes",
                        retryable: true)
                }
                break
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let ended = (error as? LuaError)?.message ?? String(describing: error)
                guard acceptsRanges, resumes + 1 < max(spec.retry.attempts, 1) else {
                    throw LuaError(
                        .network,
                        "\(method) \(Redaction.url(url)): the download broke off after \(written) bytes (\(ended))"
                            + (acceptsRanges ? " and could not be resumed" : "; the server does not accept Range requests, so it was not resumed"),
                        retryable: true)
                }
                resumes += 1
                LogSink.shared.write(level: .debug, "\(method) \(Redaction.url(url)): resuming the download at byte \(written) (\(ended))")
                var request = HTTPClientRequest(url: url)
                request.method = HTTPMethod(rawValue: method)
                for h in headers { request.headers.add(name: h.name, value: h.value) }
                request.headers.replaceOrAdd(name: "Range", value: "bytes=\(written)-")
                if let validator { request.headers.replaceOrAdd(name: "If-Range", value: validator) }
                response = try await client.execute(request, timeout: .hours(24 * 7))
                let status = Int(response.status.code)
                let range = response.headers.first(name: "content-range") ?? ""
                if status == 206, range.hasPrefix("bytes \(written)-") {
                    if let total = range.split(separator: "/").last.flatMap({ Int64($0) }) { expected = total }
                    continue
                }
                if status == 200 {  // the resource changed or the server ignored the range: start over
                    try file.restart()
                    written = 0
                    expected = response.headers.first(name: "content-length").flatMap { Int64($0) }
                    continue
                }
                throw LuaError(
                    .network, "\(method) \(Redaction.url(url)): resuming the download at byte \(written) was answered \(status)",
                    status: status, retryable: true)
            }
        }
        try file.commit()
        var result = HTTPResult(
            status: Int(first.status.code), reason: first.status.reasonPhrase,
            headers: first.headers.map { (name: $0.name, value: $0.value) }, body: [], url: url, attempts: 1)
        result.streamedBytes = written
        result.resumes = resumes
        return result
    }

    static func classify(_ error: any Error) -> AttemptOutcome {
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .deadlineExceeded, .connectTimeout: return .timedOut
            default: return .connectionFailed(plainWords(e))
            }
        }
        if let e = error as? IOError, e.errnoCode == ECONNREFUSED { return .connectionRefused }
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return .connectionRefused }
        return .connectionFailed(plainWords(error))
    }

    /// What went wrong with a connection, in words an operator reads
    /// ("the server closed the connection"), not the system call that saw it.
    static func plainWords(_ error: any Error) -> String {
        var code: Int32?
        if let e = error as? IOError { code = e.errnoCode }
        let text = String(describing: error)
        if code == nil, let r = text.range(of: "errno: ") {
            code = Int32(text[r.upperBound...].prefix { $0.isNumber })
        }
        switch code {
        case ECONNRESET?: return "the server closed the connection (connection reset)"
        case EPIPE?: return "the server closed the connection while the request was being sent"
        case ETIMEDOUT?: return "the connection timed out"
        case EHOSTUNREACH?: return "the server's host cannot be reached"
        case ENETUNREACH?: return "there is no network route to the server"
        case ECONNABORTED?: return "the connection was aborted"
        default: break
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .remoteConnectionClosed: return "the server closed the connection before answering"
            case .cancelled: return "the request was cancelled"
            case .bodyLengthMismatch: return "the server's answer was cut short"
            default: break
            }
        }
        let lower = text.lowercased()
        if lower.contains("dns") || lower.contains("name resolution") || lower.contains("unknown host") {
            return "the server's host name could not be resolved"
        }
        if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") || lower.contains("handshake") {
            return "the secure (TLS) connection failed: \(text)"
        }
        if lower.contains("eof") || lower.contains("closed") { return "the server closed the connection" }
        return text
    }

    /// `last`: the last answer, when there was one; a 429's body (secrets
    /// masked, at most 64 KiB) goes into the error as `body`, so a vendor
    /// binding can say what the vendor said.
    static func failure(_ spec: HTTPRequestSpec, _ outcome: AttemptOutcome, attempts: Int, reason: String,
                        last: HTTPResult? = nil) -> LuaError {
        let target = "\(spec.method) \(Redaction.url(spec.url))"
        switch outcome {
        case .response(let status, _) where status == 429:
            var extra: [String: LuaValue] = [:]
            if let body = last?.body, !body.isEmpty {
                // Masked before it is cut, so a cut never leaves part of a secret.
                extra["body"] = .string(Array(Redaction.scrub(String(decoding: body, as: UTF8.self)).utf8.prefix(65_536)))
            }
            return LuaError(.rateLimited, "\(target): rate limited (429): \(reason)", status: 429, retryable: true, extra: extra)
        case .response(let status, _):
            return LuaError(.http, "\(target): HTTP \(status): \(reason)", status: status, retryable: false)
        case .timedOut:
            return LuaError(.timeout, "\(target): no answer within \(Self.seconds(spec.timeout)): \(reason)", retryable: true)
        case .connectionRefused:
            return LuaError(.network, "\(target): connection refused: \(reason)", retryable: true)
        case .connectionFailed(let why):
            // The reason quotes the failure already: said once.
            let rest = reason.replacingOccurrences(of: "connection failed (\(why))", with: "")
                .trimmingCharacters(in: CharacterSet(charactersIn: " ,;:"))
            return LuaError(.network, "\(target): \(why)\(rest.isEmpty ? "" : ": " + rest)", retryable: true,
                extra: ["attempts": .integer(Int64(attempts))])
        }
    }

    static func seconds(_ s: Double) -> String {
        s < 10 ? String(format: "%.1f s", s) : "\(Int(s.rounded())) s"
    }
}
