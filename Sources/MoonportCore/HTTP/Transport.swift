import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

// The transport: one shared HTTP client, and the fast path of an exchange.
// The retry loop and the redirects are in Transport+Retry.swift, the
// resumable download in Transport+Download.swift, the request and answer
// types in HTTPRequest.swift, the failures in HTTPFailure.swift.

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

    /// The shared client (public for the floor of scripts/bench/http.py: Sources/TransportFloor).
    public let client: HTTPClient
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


    /// Sends with retries (the one entry point), reporting through
    /// `completion` (called once, on any thread) the final answer or an
    /// `HTTPFailure` (an error status is an answer: the caller decides);
    /// returns what cancels the exchange. A short exchange (body in memory,
    /// no stream_to, no trace, rate-limit budget not spent) makes its first
    /// attempt straight on the event loop, with no Swift task and its two
    /// thread hops; a retry or a redirect goes on in a task, in the retry
    /// loop (`send`), which takes over the policy's decision on the first
    /// attempt rather than making it again.
    public func start(
        _ spec: HTTPRequestSpec, completion: @escaping @Sendable (Result<HTTPResult, any Error>) -> Void
    ) -> @Sendable () -> Void {
        Self.registerSecrets(of: spec)
        let cancellation = Cancellation()
        let slowPath = { @Sendable (from: FirstAttempt?) in
            let task = Task {
                do {
                    completion(.success(try await self.send(spec, after: from)))
                } catch {
                    completion(.failure(error))
                }
            }
            cancellation.set { task.cancel() }
        }
        // The rate-limit check takes one unit of the budget: it is made last,
        // and only for a request that then goes out here (else `send` makes it).
        guard spec.streamTo == nil, spec.upload == nil, tracer == nil, let origin = URLParts.origin(of: spec.url),
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
            guard case .success(let r) = hop, !Self.isRedirect(r.status) else {
                // A failure or a redirect: the retry loop reads it as its first attempt.
                slowPath(.sent(hop))
                return
            }
            let answer = r.result(url: spec.url, attempts: 1)
            self.recordBudget(answer)
            self.logAttempt(spec, .response(status: r.status, headers: answer.headers), answer, since: started, attempt: 1)
            var rng = SystemRandomNumberGenerator()
            switch Self.next(spec, attempt: 1, outcome: .response(status: r.status, headers: answer.headers),
                             result: answer, waited: 0, random: &rng) {
            case .finished(let final): completion(.success(final))
            case .failed(let failure): completion(.failure(failure))
            case .retry(let after, let reason): slowPath(.retry(after: after, reason: reason))
            }
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
        let same = RetryPolicy.asciiEqualIgnoringCase
        if !out.contains(where: { same($0.name, "accept-encoding") }) {
            out.append((name: "Accept-Encoding", value: "gzip, deflate"))
        }
        if !out.contains(where: { same($0.name, "user-agent") }) {
            out.append((name: "User-Agent", value: "moonport/\(MoonportModule.version)"))
        }
        return out
    }

    /// The rate-limit budget an answer announces, kept per origin.
    func recordBudget(_ r: HTTPResult) {
        if let budget = RateLimitBudget(headers: r.headers, now: Date()), let host = URLParts.origin(of: r.url) {
            limiter.record(host: host, budget: budget)
        }
    }

    /// `-v`: one line per attempt.
    func logAttempt(_ spec: HTTPRequestSpec, _ outcome: AttemptOutcome, _ result: HTTPResult?, since started: UInt64, attempt: Int) {
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

    /// A body over the in-memory cap is a failure that says what to do.
    static func tooBig(_ error: any Error, _ method: String, _ url: String) -> any Error {
        guard error is NIOTooManyBytesError || error is ResponseAccumulator.ResponseTooBigError else { return error }
        return HTTPFailure(
            .tooLarge, "\(method) \(Redaction.url(url)): the response is larger than \(maxBodyInMemory / 1_048_576) MiB; use stream_to = PATH to write it to a file",
            retryable: false, mayHaveTakenEffect: true)
    }

    static func seconds(_ s: Double) -> String {
        s < 10 ? String(format: "%.1f s", s) : "\(Int(s.rounded())) s"
    }
}
