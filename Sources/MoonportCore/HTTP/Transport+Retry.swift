import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

// The retry loop of an exchange, and one attempt with its redirects.

extension Transport {
    /// What the fast path (`start`) hands the retry loop.
    enum FirstAttempt: Sendable {
        /// The first request went out: its answer (a redirect to follow) or its error.
        case sent(Result<CollectedResponse, any Error>)
        /// The first attempt is over and the policy decided to retry after this wait.
        case retry(after: Double, reason: String)
    }

    /// What follows an attempt: the retry policy's decision, read in this
    /// one place by the fast path and the retry loop alike.
    enum Next {
        /// The final answer (an error status is an answer: the caller decides).
        case finished(HTTPResult)
        /// No final answer: the exchange fails.
        case failed(HTTPFailure)
        /// Wait, then try again.
        case retry(after: Double, reason: String)
    }

    static func next(
        _ spec: HTTPRequestSpec, attempt: Int, outcome: AttemptOutcome, result: HTTPResult?, waited: Double,
        random: inout some RandomNumberGenerator
    ) -> Next {
        switch spec.retry.decide(
            attempt: attempt, outcome: outcome, method: spec.method, safeToRepeat: spec.safeToRepeat,
            waitedSoFar: waited, now: Date(), random: &random)
        {
        case .done:
            if let result { return .finished(result) }
            return .failed(failure(spec, outcome, attempts: attempt, reason: "no response"))
        case .retry(let after, let reason):
            return .retry(after: after, reason: reason)
        case .stop(let reason):
            if var r = result {
                // A status the policy retries, but no more: still an answer.
                r.attempts = attempt
                r.gaveUp = reason
                return .finished(r)
            }
            return .failed(failure(spec, outcome, attempts: attempt, reason: reason))
        }
    }

    /// Sends with retries, after the first attempt if the fast path made
    /// it; throws `HTTPFailure` when the exchange cannot be completed.
    func send(_ spec: HTTPRequestSpec, after first: FirstAttempt?) async throws -> HTTPResult {
        var firstHop: Result<CollectedResponse, any Error>?
        var attempt = 0
        var waited = 0.0
        var rng = SystemRandomNumberGenerator()
        let log = LogSink.shared
        func pause(_ after: Double, _ reason: String) async throws {
            log.write(level: .debug, "\(spec.method) \(Redaction.url(spec.url)): \(reason)")
            try await Task.sleep(nanoseconds: UInt64(max(0, after) * 1e9))
            waited += after
        }
        switch first {
        case .sent(let hop): firstHop = hop
        case .retry(let after, let reason):
            attempt = 1
            try await pause(after, reason)
        case nil: break
        }
        while true {
            attempt += 1
            try Task.checkCancellation()
            // Budgets are per origin (scheme, host and port): another port is another server.
            if firstHop == nil, let host = URLParts.origin(of: spec.url), let pause = limiter.wait(for: host, now: Date()), pause > 0 {
                let budgetLeft = spec.retry.maxTotalWait - waited
                if pause > budgetLeft {
                    // Nothing was sent.
                    throw HTTPFailure(
                        .rateLimited,
                        "\(spec.method) \(Redaction.url(spec.url)): the rate limit is spent and resets in \(Self.seconds(pause)), more than the \(Self.seconds(budgetLeft)) left to wait",
                        retryable: true, mayHaveTakenEffect: false, attempts: attempt > 1 ? attempt - 1 : nil)
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
            } catch let error as HTTPFailure {
                trace(nil, error: error.message)
                throw error
            } catch let error as any LocalFailure {
                trace(nil, error: String(describing: error))
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
            switch Self.next(spec, attempt: attempt, outcome: outcome, result: result, waited: waited, random: &rng) {
            case .finished(let r): return r
            case .failed(let failure): throw failure
            case .retry(let after, let reason): try await pause(after, reason)
            }
        }
    }

    /// The failure of an exchange that ended without a final answer.
    static func failure(_ spec: HTTPRequestSpec, _ outcome: AttemptOutcome, attempts: Int, reason: String) -> HTTPFailure {
        let target = "\(spec.method) \(Redaction.url(spec.url))"
        switch outcome {
        case .response(let status, _):
            return HTTPFailure(.http, "\(target): HTTP \(status): \(reason)", outcome: outcome, attempts: attempts)
        case .timedOut:
            return HTTPFailure(.timeout, "\(target): no answer within \(Self.seconds(spec.timeout)): \(reason)", outcome: outcome, attempts: attempts)
        case .connectionRefused:
            return HTTPFailure(.network, "\(target): connection refused: \(reason)", outcome: outcome, attempts: attempts)
        case .connectionFailed(let why):
            // The reason quotes the failure already: said once.
            let rest = reason.replacingOccurrences(of: "connection failed (\(why))", with: "")
                .trimmingCharacters(in: CharacterSet(charactersIn: " ,;:"))
            return HTTPFailure(.network, "\(target): \(why)\(rest.isEmpty ? "" : ": " + rest)", outcome: outcome, attempts: attempts)
        }
    }

    /// One attempt, following redirects. `firstHop` is the answer to the
    /// first request when it was already sent (by `start`).
    func exchange(_ spec: HTTPRequestSpec, firstHop: Result<CollectedResponse, any Error>? = nil) async throws -> HTTPResult {
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
                if let path = spec.streamTo {
                    // A 2xx body goes to the file (Transport+Download.swift); any
                    // other answer comes back as this hop's answer.
                    switch try await download(
                        url: url, method: method, headers: wire, body: body, upload: upload, spec: spec, to: path,
                        deadline: .now() + .milliseconds(Int64(deadline * 1000)))
                    {
                    case .finished(let result): return result
                    case .answer(let answer): pending = .success(answer)
                    }
                    continue
                }
                let response = try await client.execute(request, timeout: .milliseconds(Int64(deadline * 1000)))
                let status = Int(response.status.code)
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
                    throw HTTPFailure(
                        .http, "\(spec.method) \(Redaction.url(spec.url)): more than \(spec.maxRedirects) redirects (a redirect loop?)",
                        outcome: .response(status: r.status, headers: []))
                }
                guard let next = URLParts.resolve(location, against: url) else {
                    throw HTTPFailure(
                        .http, "\(method) \(Redaction.url(url)): redirect to an invalid location",
                        outcome: .response(status: r.status, headers: []))
                }
                if URLParts.origin(of: next) != URLParts.origin(of: url) {
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
}
