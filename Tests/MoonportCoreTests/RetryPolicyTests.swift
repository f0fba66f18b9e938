import Foundation
import MoonportCore
import Synchronization
import XCTest

/// A deterministic generator (SplitMix64) so that jittered waits are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Sun, 06 Nov 1994 08:49:37 GMT
private let httpDateEpoch: Double = 784_111_777
/// Ten seconds before the example HTTP date.
private let now = Date(timeIntervalSince1970: httpDateEpoch - 10)
/// A recent time, for epoch resets (values > 1e9).
private let recent = Date(timeIntervalSince1970: 1_760_000_000)

private func response(_ status: Int, _ headers: [(String, String)] = []) -> AttemptOutcome {
    .response(status: status, headers: headers.map { (name: $0.0, value: $0.1) })
}

private extension RetryDecision {
    var wait: Double? { if case .retry(let after, _) = self { return after } else { return nil } }
    var reason: String? {
        switch self {
        case .retry(_, let r), .stop(let r): return r
        case .done: return nil
        }
    }
    var isRetry: Bool { wait != nil }
    var isStop: Bool { if case .stop = self { return true } else { return false } }
}

final class RetryPolicyTests: XCTestCase {
    var rng = SeededGenerator(seed: 42)

    func decide(_ policy: RetryPolicy, attempt: Int = 1, _ outcome: AttemptOutcome,
                method: String = "GET", safe: Bool = false, waited: Double = 0, at time: Date = now) -> RetryDecision {
        policy.decide(attempt: attempt, outcome: outcome, method: method, safeToRepeat: safe,
                      waitedSoFar: waited, now: time, random: &rng)
    }

    func decide(attempt: Int = 1, _ outcome: AttemptOutcome,
                method: String = "GET", safe: Bool = false, waited: Double = 0, at time: Date = now) -> RetryDecision {
        decide(.default, attempt: attempt, outcome, method: method, safe: safe, waited: waited, at: time)
    }

    // MARK: defaults

    func testDefaults() {
        XCTAssertEqual(RetryPolicy.default, RetryPolicy(attempts: 4, base: 0.5, max: 30, maxTotalWait: 120))
        XCTAssertEqual(RetryPolicy.none.attempts, 1)
    }

    // MARK: statuses

    func testEachRetryableStatusIsRetried() throws {
        let phrases = [429: "429 Too Many Requests", 500: "500 Internal Server Error", 502: "502 Bad Gateway",
                       503: "503 Service Unavailable", 504: "504 Gateway Timeout"]
        for (status, phrase) in phrases {
            let d = decide(attempt: 2, response(status))
            XCTAssertTrue(d.isRetry, "\(status): \(d)")
            let wait = try XCTUnwrap(d.wait)
            XCTAssert(wait >= 0 && wait <= 1.0, "\(status): wait \(wait)")
            XCTAssertTrue(d.reason!.hasPrefix("\(phrase), attempt 2 of 4: retrying in "), d.reason!)
            XCTAssertTrue(d.reason!.hasSuffix(" s"), d.reason!)
        }
    }

    func testConnectionErrorsAndTimeoutsAreRetried() {
        for outcome in [AttemptOutcome.connectionRefused, .connectionFailed("connection reset by peer"), .timedOut] {
            let d = decide(outcome)
            XCTAssertTrue(d.isRetry, "\(outcome): \(d)")
        }
        XCTAssertTrue(decide(.connectionFailed("connection reset by peer")).reason!
            .hasPrefix("connection failed (connection reset by peer), attempt 1 of 4: retrying in "))
        XCTAssertTrue(decide(.timedOut).reason!.hasPrefix("timed out, attempt 1 of 4"))
        XCTAssertTrue(decide(.connectionRefused).reason!.hasPrefix("connection refused, attempt 1 of 4"))
    }

    func testNonRetryableStatusesAreDone() {
        for status in [200, 201, 202, 204, 206, 301, 302, 304, 307, 400, 401, 402, 403, 404, 405, 408, 409,
                       410, 413, 422, 425, 451, 499, 501, 505, 507, 511, 599] {
            for method in ["GET", "POST", "PATCH"] {
                XCTAssertEqual(decide(response(status, [("Retry-After", "1")]), method: method), .done,
                               "\(method) \(status)")
            }
        }
        // Even on the last attempt, a final answer is final.
        XCTAssertEqual(decide(attempt: 4, response(200)), .done)
        XCTAssertEqual(decide(.none, response(404)), .done)
    }

    // MARK: backoff

    func testFullJitterBounds() throws {
        let policy = RetryPolicy.default
        for attempt in 1...3 {
            let cap = 0.5 * pow(2, Double(attempt - 1))
            XCTAssertEqual(policy.backoffCap(attempt: attempt), cap)
            var lo = Double.infinity, hi = -Double.infinity, sum = 0.0
            let n = 5000
            for _ in 0..<n {
                let w = try XCTUnwrap(decide(attempt: attempt, response(503)).wait)
                XCTAssert(w >= 0 && w <= cap, "attempt \(attempt): \(w) outside [0, \(cap)]")
                lo = min(lo, w); hi = max(hi, w); sum += w
            }
            // Full jitter spans the whole range, not [cap/2, cap].
            XCTAssertLessThan(lo, cap * 0.01, "attempt \(attempt)")
            XCTAssertGreaterThan(hi, cap * 0.99, "attempt \(attempt)")
            XCTAssertEqual(sum / Double(n), cap / 2, accuracy: cap * 0.05, "attempt \(attempt)")
        }
    }

    func testBackoffIsCappedAtMax() throws {
        let policy = RetryPolicy(attempts: 100, base: 0.5, max: 30, maxTotalWait: 10_000)
        XCTAssertEqual(policy.backoffCap(attempt: 7), 30)       // 0.5 * 64 = 32 > 30
        XCTAssertEqual(policy.backoffCap(attempt: 6), 16)
        XCTAssertEqual(policy.backoffCap(attempt: 99), 30)
        XCTAssertEqual(policy.backoffCap(attempt: Int.max), 30)  // no overflow, no NaN
        var hi = 0.0
        for _ in 0..<2000 {
            let w = try XCTUnwrap(decide(policy, attempt: 50, .timedOut).wait)
            XCTAssert(w >= 0 && w <= 30)
            hi = max(hi, w)
        }
        XCTAssertGreaterThan(hi, 29)
        // A zero base never waits.
        let zero = RetryPolicy(attempts: 4, base: 0, max: 30, maxTotalWait: 120)
        XCTAssertEqual(decide(zero, attempt: 3, response(500)).wait, 0)
    }

    func testSameSeedSameWaits() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        let p = RetryPolicy.default
        for attempt in 1...3 {
            let da = p.decide(attempt: attempt, outcome: .timedOut, method: "GET", safeToRepeat: false,
                              waitedSoFar: 0, now: now, random: &a)
            let db = p.decide(attempt: attempt, outcome: .timedOut, method: "GET", safeToRepeat: false,
                              waitedSoFar: 0, now: now, random: &b)
            XCTAssertEqual(da, db)
        }
    }

    // MARK: attempts

    func testAttemptsExhausted() {
        let d = decide(attempt: 4, response(503))
        XCTAssertEqual(d, .stop(reason: "503 Service Unavailable, attempt 4 of 4: giving up after 4 attempts"))
        XCTAssertTrue(decide(attempt: 3, response(503)).isRetry)
        let two = RetryPolicy(attempts: 2)
        XCTAssertEqual(decide(two, attempt: 2, .timedOut),
                       .stop(reason: "timed out, attempt 2 of 2: giving up after 2 attempts"))
        // Even a Retry-After of 0 does not buy another attempt.
        XCTAssertTrue(decide(attempt: 4, response(429, [("Retry-After", "0")])).isStop)
    }

    func testRetryOff() {
        XCTAssertEqual(decide(.none, response(503)),
                       .stop(reason: "503 Service Unavailable: not retried (retries are off)"))
        XCTAssertEqual(decide(.none, .connectionRefused),
                       .stop(reason: "connection refused: not retried (retries are off)"))
        XCTAssertTrue(decide(RetryPolicy(attempts: 0), .timedOut).isStop)
        XCTAssertTrue(decide(RetryPolicy(attempts: -3), .timedOut).isStop)
    }

    func testLastAttemptOfUnsafePostSaysItMayHaveTakenEffect() {
        let d = decide(attempt: 4, .timedOut, method: "POST")
        XCTAssertEqual(d, .stop(reason: "timed out, attempt 4 of 4: giving up after 4 attempts; POST is not idempotent and the request may have taken effect"))
    }

    // MARK: idempotency

    /// The facts an http error carries: retryable and may-have-taken-effect.
    func testVerdictOnEachOutcome() {
        let cases: [(AttemptOutcome, retryable: Bool, mayHaveTakenEffect: Bool)] = [
            (.connectionRefused, true, false),
            (.connectionFailed("reset"), true, true),
            (.timedOut, true, true),
            (.response(status: 429, headers: []), true, false),
            (.response(status: 503, headers: []), true, false),
            (.response(status: 500, headers: []), true, true),
            (.response(status: 502, headers: []), true, true),
            (.response(status: 504, headers: []), true, true),
            (.response(status: 400, headers: []), false, false),
            (.response(status: 404, headers: []), false, false),
            (.response(status: 501, headers: []), false, true),
            (.response(status: 201, headers: []), false, true),
        ]
        for (outcome, retryable, effect) in cases {
            XCTAssertEqual(RetryPolicy.isRetryable(outcome), retryable, "\(outcome)")
            XCTAssertEqual(RetryPolicy.mayHaveTakenEffect(outcome), effect, "\(outcome)")
            // A POST is repeated exactly when it cannot have taken effect.
            let d = RetryPolicy(attempts: 3, base: 0).decide(attempt: 1, outcome: outcome, method: "POST")
            if !retryable {
                XCTAssertEqual(d, .done, "\(outcome)")
            } else if case .retry = d {
                XCTAssertFalse(effect, "\(outcome)")
            } else {
                XCTAssertTrue(effect, "\(outcome)")
            }
        }
    }

    func testIdempotentMethods() {
        for m in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get", "Put"] {
            XCTAssertTrue(RetryPolicy.isIdempotent(method: m), m)
            for outcome in [AttemptOutcome.connectionRefused, .connectionFailed("reset"), .timedOut,
                            response(429), response(500), response(502), response(503), response(504)] {
                XCTAssertTrue(decide(outcome, method: m).isRetry, "\(m) \(outcome)")
            }
        }
        for m in ["POST", "PATCH", "post", "CONNECT", "PROPFIND"] {
            XCTAssertFalse(RetryPolicy.isIdempotent(method: m), m)
        }
    }

    func testNonIdempotentMatrix() {
        for m in ["POST", "PATCH", "patch"] {
            // Shown not to have taken effect: retried.
            XCTAssertTrue(decide(.connectionRefused, method: m).isRetry, m)
            XCTAssertTrue(decide(response(429), method: m).isRetry, m)
            XCTAssertTrue(decide(response(503), method: m).isRetry, m)
            // May have taken effect: stopped...
            for outcome in [AttemptOutcome.connectionFailed("connection reset by peer"), .timedOut,
                            response(500), response(502), response(504)] {
                let d = decide(outcome, method: m)
                XCTAssertTrue(d.isStop, "\(m) \(outcome): \(d)")
                XCTAssertTrue(d.reason!.contains("\(m.uppercased()) is not idempotent and the request may have taken effect, so it was not repeated"), d.reason!)
                // ...unless the binding knows how to make it safe.
                XCTAssertTrue(decide(outcome, method: m, safe: true).isRetry, "\(m) \(outcome) safe")
            }
        }
        XCTAssertEqual(decide(.connectionFailed("connection reset by peer"), method: "POST"),
                       .stop(reason: "connection failed (connection reset by peer), attempt 1 of 4: POST is not idempotent and the request may have taken effect, so it was not repeated"))
        XCTAssertEqual(decide(response(500), method: "POST"),
                       .stop(reason: "500 Internal Server Error, attempt 1 of 4: POST is not idempotent and the request may have taken effect, so it was not repeated"))
    }

    // MARK: Retry-After

    func testRetryAfterSeconds() {
        XCTAssertEqual(decide(response(503, [("Retry-After", "5")])),
                       .retry(after: 5, reason: "503 Service Unavailable, attempt 1 of 4: the server asked to wait 5.0 s (Retry-After); retrying in 5.0 s"))
        // Replaces the jittered wait, and is not capped by `max`.
        XCTAssertEqual(decide(response(429, [("retry-after", " 45 ")])).wait, 45)
        XCTAssertEqual(decide(attempt: 3, response(429, [("RETRY-AFTER", "0")])).wait, 0)
        // Fractions are tolerated.
        XCTAssertEqual(decide(response(503, [("Retry-After", "1.5")])).wait, 1.5)
        // Honoured on the other retryable statuses too, and for a POST on 429/503.
        XCTAssertEqual(decide(response(502, [("Retry-After", "7")])).wait, 7)
        XCTAssertEqual(decide(response(429, [("Retry-After", "7")]), method: "POST").wait, 7)
        XCTAssertTrue(decide(response(502, [("Retry-After", "7")]), method: "POST").isStop)
    }

    func testRetryAfterHTTPDateAllThreeForms() {
        for value in ["Sun, 06 Nov 1994 08:49:37 GMT",      // IMF-fixdate
                      "Sunday, 06-Nov-94 08:49:37 GMT",     // RFC 850
                      "Sun Nov  6 08:49:37 1994"] {         // asctime
            let d = decide(response(503, [("Retry-After", value)]))
            XCTAssertEqual(d.wait ?? -1, 10, accuracy: 1e-9, value)
            XCTAssertTrue(d.reason!.contains("asked to wait 10 s (Retry-After)"), d.reason!)
        }
        XCTAssertEqual(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT")?.timeIntervalSince1970, httpDateEpoch)
        XCTAssertEqual(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now)?.timeIntervalSince1970, httpDateEpoch)
        XCTAssertEqual(HTTPDate.parse("Sun Nov  6 08:49:37 1994")?.timeIntervalSince1970, httpDateEpoch)
        XCTAssertEqual(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT")?.timeIntervalSince1970, 0)
        XCTAssertEqual(HTTPDate.parse("Tue, 29 Feb 2028 23:59:59 GMT")?.timeIntervalSince1970, 1_835_481_599)
    }

    func testRFC850TwoDigitYearIsResolvedAgainstNow() {
        let in2030 = Date(timeIntervalSince1970: 1_893_456_000)  // 2030-01-01
        // 94 → 2094 would be 64 years ahead, so it is 1994.
        XCTAssertEqual(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: in2030)?.timeIntervalSince1970, httpDateEpoch)
        // 31 → 2031.
        let d = HTTPDate.parse("Monday, 06-Jan-31 00:00:00 GMT", now: in2030)
        XCTAssertEqual(d?.timeIntervalSince1970, 1_925_424_000)
    }

    func testInvalidHTTPDates() {
        for s in ["", "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                  "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Nov 94 08:49:37 GMT", "06 Nov 1994 08:49:37 GMT",
                  "Sun Nov 6 08:49 1994", "tomorrow", "Sun, 06 Nov 1994 8:49:37 GMT", ",", "Sun,"] {
            XCTAssertNil(HTTPDate.parse(s, now: now), s)
        }
    }

    func testRetryAfterInThePastWaitsZero() {
        let later = Date(timeIntervalSince1970: httpDateEpoch + 3600)
        let d = decide(response(503, [("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")]), at: later)
        XCTAssertEqual(d.wait, 0)
        XCTAssertEqual(RetryPolicy.parseRetryAfter("Sun Nov  6 08:49:37 1994", now: later), 0)
    }

    func testGarbageRetryAfterFallsBackToBackoff() throws {
        for value in ["soon", "", "-5", "nan", "inf", "5s", "Sun, 99 Nov 1994 08:49:37 GMT", "0x10", "+3", "1 2", "1_000"] {
            let d = decide(attempt: 2, response(503, [("Retry-After", value)]))
            let w = try XCTUnwrap(d.wait, value)
            XCTAssert(w >= 0 && w <= 1, "\(value): \(w)")
            XCTAssertFalse(d.reason!.contains("Retry-After"), d.reason!)
            XCTAssertNil(RetryPolicy.parseRetryAfter(value, now: now), value)
        }
    }

    func testHugeRetryAfterStopsAtOnce() {
        let d = decide(response(429, [("Retry-After", "1000000000")]))
        XCTAssertEqual(d, .stop(reason: "429 Too Many Requests, attempt 1 of 4: the server asked to wait 1000000000 s (Retry-After), more than the 120 s left of the retry wait budget (maxTotalWait 120 s); not retrying"))
        XCTAssertTrue(decide(response(503, [("Retry-After", "1e9")])).isStop)
        XCTAssertTrue(decide(response(503, [("Retry-After", "99999999999999999999999999")])).isStop)
        XCTAssertTrue(decide(response(503, [("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")])).isStop)
    }

    // MARK: wait budget

    func testWaitBudget() throws {
        // Spent: stop.
        let spent = decide(attempt: 2, response(503), waited: 120)
        XCTAssertEqual(spent, .stop(reason: "503 Service Unavailable, attempt 2 of 4: the retry wait budget of 120 s is spent; giving up after 2 attempts"))
        // Nearly spent: the jittered wait is cut to what is left.
        let policy = RetryPolicy(attempts: 10, base: 10, max: 30, maxTotalWait: 120)
        for _ in 0..<200 {
            let w = try XCTUnwrap(decide(policy, attempt: 3, .timedOut, waited: 119.5).wait)
            XCTAssertLessThanOrEqual(w, 0.5)
        }
        // A Retry-After that fits is honoured; one that does not, stops.
        XCTAssertEqual(decide(attempt: 2, response(503, [("Retry-After", "10")]), waited: 110).wait, 10)
        let over = decide(attempt: 2, response(503, [("Retry-After", "11")]), waited: 110)
        XCTAssertEqual(over, .stop(reason: "503 Service Unavailable, attempt 2 of 4: the server asked to wait 11 s (Retry-After), more than the 10 s left of the retry wait budget (maxTotalWait 120 s); not retrying"))
        // A simulated exchange never waits more than the budget in total.
        var waited = 0.0, attempt = 1
        let tight = RetryPolicy(attempts: 50, base: 1, max: 30, maxTotalWait: 20)
        while case .retry(let after, _) = decide(tight, attempt: attempt, response(500), waited: waited) {
            waited += after; attempt += 1
        }
        XCTAssertLessThanOrEqual(waited, 20)
    }

    // MARK: rate-limit reset as the wait

    func testRateLimitResetGivesTheWaitOn429And503() {
        let h429 = response(429, [("X-Rate-Limit-Limit", "100"), ("X-Rate-Limit-Remaining", "0"), ("X-Rate-Limit-Reset", "12")])
        XCTAssertEqual(decide(h429),
                       .retry(after: 12, reason: "429 Too Many Requests, attempt 1 of 4: the server asked to wait 12 s (rate-limit reset); retrying in 12 s"))
        let epoch = recent.timeIntervalSince1970 + 20
        XCTAssertEqual(decide(response(503, [("X-RateLimit-Reset", String(Int(epoch)))]), at: recent).wait, 20)
        // Retry-After wins over the reset header.
        XCTAssertEqual(decide(response(429, [("X-Rate-Limit-Reset", "12"), ("Retry-After", "3")])).wait, 3)
        // Too long for the budget: stop.
        let far = decide(response(429, [("RateLimit-Reset", "600")]))
        XCTAssertTrue(far.isStop)
        XCTAssertTrue(far.reason!.contains("asked to wait 600 s (rate-limit reset), more than"), far.reason!)
        // Not on a 500, and a reset already past falls back to backoff.
        XCTAssertLessThanOrEqual(decide(response(500, [("RateLimit-Reset", "12")])).wait!, 0.5)
        let past = String(Int(recent.timeIntervalSince1970 - 30))
        XCTAssertLessThanOrEqual(decide(response(429, [("X-RateLimit-Reset", past)]), at: recent).wait!, 0.5)
    }

    func testConvenienceOverloadUsesSystemRandom() {
        let d = RetryPolicy.default.decide(attempt: 1, outcome: .timedOut, method: "GET")
        XCTAssertTrue(d.isRetry)
        XCTAssertLessThanOrEqual(d.wait!, 0.5)
    }
    /// The retry numbers and the http.request options have one source each
    /// (RetryPolicy, and http.lua's `known` table); the doc block of
    /// http.request, which help() and `moonport types` show, is checked
    /// against them, so that it cannot drift.
    func testTheHTTPRequestDocStatesThePolicyAndEveryOption() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let source = try String(contentsOf: root.appendingPathComponent("stdlib/http.lua"), encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let fn = lines.firstIndex(of: "function http.request(opts)") else { return XCTFail("no http.request") }
        var first = fn
        while first > 0 && lines[first - 1].hasPrefix("---") { first -= 1 }
        let doc = lines[first..<fn].joined(separator: " ").replacingOccurrences(of: "---", with: " ")
            .split(whereSeparator: { $0 == " " }).joined(separator: " ")
        let p = RetryPolicy.default
        func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
        XCTAssertTrue(doc.contains("default \(p.attempts) attempts"), doc)
        XCTAssertTrue(doc.contains("backoff \(number(p.base)) s to \(number(p.max)) s"), doc)
        XCTAssertTrue(doc.contains("\(number(p.maxTotalWait)) s of waiting at most"), doc)
        let statuses = RetryPolicy.retryableStatuses.sorted().map(String.init).joined(separator: ", ")
        XCTAssertTrue(doc.contains("Retried: connection errors, timeouts, \(statuses);"), doc)
        // Every option the code accepts is documented, in the text and in the @param type.
        guard let start = source.range(of: "local known = {"),
              let end = source.range(of: "}", range: start.upperBound..<source.endIndex) else {
            return XCTFail("no known table")
        }
        let names = source[start.upperBound..<end.lowerBound].split(separator: ",")
            .compactMap { $0.split(separator: "=").first?.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(names.count, 16, names.description)
        let param = lines[first..<fn].first { $0.hasPrefix("---@param opts") } ?? ""
        for name in names {
            XCTAssertTrue(doc.contains(" \(name) (") || doc.contains(" \(name) ") , "help(http.request) does not list \(name)")
            XCTAssertTrue(param.contains("\(name):") || param.contains("\(name)?:"), "the @param type lacks \(name)")
        }
    }
}

final class RateLimitTests: XCTestCase {
    private func budget(_ headers: [(String, String)], at time: Date = now, window: Double? = nil) -> RateLimitBudget? {
        RateLimitBudget(headers: headers.map { (name: $0.0, value: $0.1) }, now: time, defaultWindow: window)
    }

    func testXRateLimitFamily() {
        XCTAssertEqual(budget([("X-RateLimit-Limit", "100"), ("X-RateLimit-Remaining", "7"), ("X-RateLimit-Reset", "30")]),
                       RateLimitBudget(limit: 100, remaining: 7, resetAfter: 30))
        XCTAssertEqual(budget([("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "0")]),
                       RateLimitBudget(limit: 100, remaining: 0, resetAfter: nil))
    }

    func testCordialFamily() {
        XCTAssertEqual(budget([("X-Rate-Limit-Limit", "50"), ("X-Rate-Limit-Remaining", "0"), ("X-Rate-Limit-Reset", "4")]),
                       RateLimitBudget(limit: 50, remaining: 0, resetAfter: 4))
    }

    func testIETFSeparateFamily() {
        XCTAssertEqual(budget([("RateLimit-Limit", "10"), ("RateLimit-Remaining", "3"), ("RateLimit-Reset", "60")]),
                       RateLimitBudget(limit: 10, remaining: 3, resetAfter: 60))
        // Draft -03 limit with a quota policy after it.
        XCTAssertEqual(budget([("RATELIMIT-LIMIT", "10, 10;w=1, 1000;w=3600")])?.limit, 10)
    }

    func testIETFCombinedForms() {
        XCTAssertEqual(budget([("RateLimit", "limit=100, remaining=0, reset=30")]),
                       RateLimitBudget(limit: 100, remaining: 0, resetAfter: 30))
        XCTAssertEqual(budget([("ratelimit", "remaining=5,limit=100,reset=2")]),
                       RateLimitBudget(limit: 100, remaining: 5, resetAfter: 2))
        // Structured (draft -08+): the policy with the least remaining wins; q from RateLimit-Policy.
        XCTAssertEqual(budget([("RateLimit", "\"burst\";r=0;t=5, \"daily\";r=900;t=3600"),
                               ("RateLimit-Policy", "\"burst\";q=100;w=60")]),
                       RateLimitBudget(limit: 100, remaining: 0, resetAfter: 5))
    }

    func testEpochAndDeltaResets() {
        let t = recent.timeIntervalSince1970
        XCTAssertEqual(budget([("X-RateLimit-Reset", String(Int(t) + 45))], at: recent)?.resetAfter, 45)             // epoch s
        XCTAssertEqual(budget([("X-RateLimit-Reset", String(Int64(t * 1000) + 2500))], at: recent)?.resetAfter ?? -1,
                       2.5, accuracy: 1e-6)                                                                        // epoch ms
        XCTAssertEqual(budget([("X-RateLimit-Reset", "\(t + 1.5)")], at: recent)?.resetAfter ?? -1, 1.5, accuracy: 1e-6)
        XCTAssertEqual(budget([("X-RateLimit-Reset", "45")], at: recent)?.resetAfter, 45)                            // delta
        XCTAssertEqual(budget([("X-RateLimit-Reset", "0.25")])?.resetAfter, 0.25)
        XCTAssertEqual(budget([("X-RateLimit-Reset", String(Int(t) - 100))], at: recent)?.resetAfter, 0)            // past epoch
        XCTAssertEqual(budget([("X-RateLimit-Reset", "Sun, 06 Nov 1994 08:49:37 GMT")])?.resetAfter, 10)            // HTTP-date
        // A single wait is capped at an hour.
        XCTAssertEqual(budget([("X-RateLimit-Reset", "999999999")])?.resetAfter, RateLimitBudget.maxWait)
        XCTAssertEqual(budget([("X-RateLimit-Reset", String(Int(t) + 86400))], at: recent)?.resetAfter, 3600)
        XCTAssertEqual(budget([("X-RateLimit-Reset", String(Int64(t * 1000) + 86_400_000))], at: recent)?.resetAfter, 3600)
    }

    func testGarbageIsIgnored() {
        XCTAssertNil(budget([]))
        XCTAssertNil(budget([("Content-Type", "application/json")]))
        XCTAssertNil(budget([("X-RateLimit-Limit", "lots"), ("X-RateLimit-Remaining", "-1"), ("X-RateLimit-Reset", "-30")]))
        XCTAssertNil(budget([("X-RateLimit-Reset", "nan")]))
        XCTAssertNil(budget([("X-RateLimit-Reset", "inf")]))
        XCTAssertNil(budget([("RateLimit", "garbage;;;,,,==")]))
        XCTAssertNil(budget([("RateLimit", "")]))
        XCTAssertEqual(budget([("X-RateLimit-Remaining", "99999999999999999999999")])?.remaining, Int.max)
        // A garbage field in one family falls through to the next.
        XCTAssertEqual(budget([("RateLimit-Remaining", "x"), ("X-Rate-Limit-Remaining", "3")])?.remaining, 3)
    }

    func testWaitBeforeNextCall() {
        XCTAssertEqual(RateLimitBudget(limit: 10, remaining: 0, resetAfter: 12).waitBeforeNextCall, 12)
        XCTAssertNil(RateLimitBudget(limit: 10, remaining: 1, resetAfter: 12).waitBeforeNextCall)
        XCTAssertNil(RateLimitBudget(limit: 10, remaining: 0, resetAfter: 0).waitBeforeNextCall)
        XCTAssertNil(RateLimitBudget(limit: 10, remaining: 0, resetAfter: nil).waitBeforeNextCall)
        XCTAssertNil(RateLimitBudget(limit: 10, remaining: nil, resetAfter: 5).waitBeforeNextCall)
        XCTAssertEqual(RateLimitBudget(remaining: 0, resetAfter: 1e9).waitBeforeNextCall, 3600)
        XCTAssertNil(RateLimitBudget(remaining: 0, resetAfter: -5).waitBeforeNextCall)
    }

    func testClaravineDefaultWindow() {
        let h = [("X-RateLimit-Limit", "60"), ("X-RateLimit-Remaining", "0")]
        XCTAssertNil(budget(h)?.waitBeforeNextCall)
        XCTAssertEqual(budget(h, window: 60)?.waitBeforeNextCall, 60)
        XCTAssertNil(budget([("X-RateLimit-Limit", "60"), ("X-RateLimit-Remaining", "4")], window: 60)?.resetAfter)
    }

    func testRateLimiterPerHost() {
        let limiter = RateLimiter()
        XCTAssertNil(limiter.wait(for: "api.cordial.io", now: now))
        limiter.record(host: "api.cordial.io", budget: RateLimitBudget(limit: 10, remaining: 0, resetAfter: 30), now: now)
        XCTAssertEqual(limiter.wait(for: "api.cordial.io", now: now), 30)
        XCTAssertEqual(limiter.wait(for: "API.Cordial.IO", now: now.addingTimeInterval(10)), 20)
        XCTAssertNil(limiter.wait(for: "api.clari.com", now: now))
        // Once the window resets, go.
        XCTAssertNil(limiter.wait(for: "api.cordial.io", now: now.addingTimeInterval(30)))
        XCTAssertNil(limiter.wait(for: "api.cordial.io", now: now.addingTimeInterval(31)))
        // The latest response wins.
        limiter.record(host: "api.clari.com", budget: RateLimitBudget(remaining: 0, resetAfter: 5), now: now)
        limiter.record(host: "api.clari.com", budget: RateLimitBudget(remaining: 9, resetAfter: 5), now: now)
        XCTAssertNil(limiter.wait(for: "api.clari.com", now: now))
        XCTAssertEqual(limiter.budget(for: "api.clari.com", now: now), RateLimitBudget(remaining: 8, resetAfter: 5))
        // Spent but no reset known: nothing to wait for (the 429 path handles it).
        limiter.record(host: "h", budget: RateLimitBudget(remaining: 0), now: now)
        XCTAssertNil(limiter.wait(for: "h", now: now))
        // From headers.
        limiter.record(host: "api.cordial.io", headers: [(name: "X-Rate-Limit-Remaining", value: "0"),
                                                         (name: "X-Rate-Limit-Reset", value: "7")], now: now)
        XCTAssertEqual(limiter.wait(for: "api.cordial.io", now: now), 7)
        limiter.reset()
        XCTAssertNil(limiter.wait(for: "api.cordial.io", now: now))
    }

    func testRateLimiterReservesTheRemainingCalls() {
        let limiter = RateLimiter()
        limiter.record(host: "h", budget: RateLimitBudget(limit: 10, remaining: 2, resetAfter: 60), now: now)
        XCTAssertNil(limiter.wait(for: "h", now: now))
        XCTAssertNil(limiter.wait(for: "h", now: now))
        XCTAssertEqual(limiter.wait(for: "h", now: now), 60)
    }

    func testRateLimiterUnderConcurrency() {
        let limiter = RateLimiter()
        limiter.record(host: "h", budget: RateLimitBudget(limit: 100, remaining: 25, resetAfter: 60), now: now)
        final class Counter: Sendable { let value = Mutex(0) }
        let goes = Counter()
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            if limiter.wait(for: "h", now: now) == nil { goes.value.withLock { $0 += 1 } }
        }
        XCTAssertEqual(goes.value.withLock { $0 }, 25)
    }

}

