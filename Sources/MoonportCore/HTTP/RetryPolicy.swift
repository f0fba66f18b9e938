import Foundation

// The retry policy of SPEC.md §3 "http": pure decision logic, no networking,
// no Lua. The transport calls `decide` after every attempt and either sleeps
// and tries again, gives up with the reason, or hands the outcome back.

/// How one attempt of an HTTP exchange ended, as the retry policy sees it.
public enum AttemptOutcome: Sendable {
    case response(status: Int, headers: [(name: String, value: String)])
    case connectionRefused          // nothing reached the server: always safe to retry
    case connectionFailed(String)   // reset/closed mid-exchange: the request may have taken effect
    case timedOut                   // no answer in time: the request may have taken effect
}

public enum RetryDecision: Sendable, Equatable {
    case retry(after: Double, reason: String)   // seconds to wait, then try again
    case stop(reason: String)                   // give up (attempts or wait budget spent, or not safe)
    case done                                   // the outcome is final (success or a non-retryable status)
}

public struct RetryPolicy: Sendable, Equatable {
    /// Total attempts including the first (default 4). Values below 1 count as 1.
    public var attempts: Int
    /// Backoff base in seconds (default 0.5): the jittered wait after attempt n is
    /// drawn from [0, min(max, base * 2^(n-1))].
    public var base: Double
    /// Cap of one backoff wait in seconds (default 30). Does not cap a wait the
    /// server asked for (`Retry-After`, rate-limit reset): that one is honoured
    /// as long as it fits in `maxTotalWait`.
    public var max: Double
    /// Cap on the sum of waits for one exchange, in seconds (default 120).
    public var maxTotalWait: Double

    public init(attempts: Int = 4, base: Double = 0.5, max: Double = 30, maxTotalWait: Double = 120) {
        self.attempts = attempts
        self.base = base
        self.max = max
        self.maxTotalWait = maxTotalWait
    }

    public static let `default` = RetryPolicy()
    /// `retry = false`: one attempt, never repeated.
    public static let none = RetryPolicy(attempts: 1, base: 0, max: 0, maxTotalWait: 0)

    /// The statuses that are retried: 429, 500, 502, 503, 504.
    public static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504]

    /// Whether an outcome is one the policy retries (a transient failure):
    /// a connection failure, a timeout, or one of `retryableStatuses`.
    public static func isRetryable(_ outcome: AttemptOutcome) -> Bool {
        if case .response(let status, _) = outcome { return retryableStatuses.contains(status) }
        return true
    }

    /// Whether the request may have taken effect on the server: false when
    /// it can be shown not to have (the connection was refused; a 429 or 503
    /// turned it away; another 4xx rejected it), true otherwise (the answer
    /// was lost, reset or late after sending; a 5xx other than 503 may come
    /// after the work was done; a 2xx or 3xx answer accepted it). This is
    /// what decides whether a non-idempotent request may be repeated.
    public static func mayHaveTakenEffect(_ outcome: AttemptOutcome) -> Bool {
        switch outcome {
        case .connectionRefused: return false
        case .response(let status, _): return !(status == 429 || status == 503 || (400..<500).contains(status))
        case .connectionFailed, .timedOut: return true
        }
    }

    /// GET, HEAD, PUT, DELETE, OPTIONS (and TRACE) are idempotent (RFC 9110 §9.2.2);
    /// POST, PATCH and anything unknown are not.
    public static func isIdempotent(method: String) -> Bool {
        switch method.uppercased() {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE": return true
        default: return false
        }
    }

    /// What to do after attempt number `attempt` (1-based: 1 is the first attempt)
    /// ended with `outcome`.
    ///
    /// - method: "GET", "POST", ... (case-insensitive).
    /// - safeToRepeat: the binding knows how to make a non-idempotent request safe
    ///   (e.g. it looks up what the lost request created) — then POST/PATCH are
    ///   retried like GET.
    /// - waitedSoFar: the sum of the waits already spent on this exchange (seconds).
    /// - now: the time the outcome was seen (HTTP-date `Retry-After` and epoch resets
    ///   are relative to it).
    /// - random: the source of the jitter.
    public func decide(
        attempt: Int,
        outcome: AttemptOutcome,
        method: String,
        safeToRepeat: Bool,
        waitedSoFar: Double,
        now: Date,
        random: inout some RandomNumberGenerator
    ) -> RetryDecision {
        let total = Swift.max(1, attempts)
        let what = Self.describe(outcome)
        let status: Int?
        let headers: [(name: String, value: String)]
        guard Self.isRetryable(outcome) else { return .done }
        if case .response(let s, let h) = outcome {
            status = s
            headers = h
        } else {
            status = nil
            headers = []
        }
        let prefix = total > 1 ? "\(what), attempt \(attempt) of \(total)" : what

        let idempotent = Self.isIdempotent(method: method)
        let repeatable = idempotent || safeToRepeat || !Self.mayHaveTakenEffect(outcome)
        let upperMethod = method.uppercased()

        if attempt >= total {
            var reason: String
            if total <= 1 {
                reason = "\(prefix): not retried (retries are off)"
            } else {
                reason = "\(prefix): giving up after \(attempt) attempts"
            }
            if !repeatable {
                reason += "; \(upperMethod) is not idempotent and the request may have taken effect"
            }
            return .stop(reason: reason)
        }

        if !repeatable {
            return .stop(reason: "\(prefix): \(upperMethod) is not idempotent and the request may have taken effect, so it was not repeated")
        }

        let budgetLeft = Self.finiteOrZero(maxTotalWait) - Swift.max(0, Self.finiteOrZero(waitedSoFar))

        // A wait the server asked for replaces the jittered wait.
        if status != nil {
            var asked: (seconds: Double, source: String)?
            if let value = Self.header("Retry-After", in: headers),
               let seconds = Self.parseRetryAfter(value, now: now) {
                asked = (seconds, "Retry-After")
            } else if status == 429 || status == 503,
                      let budget = RateLimitBudget(headers: headers, now: now),
                      let reset = budget.resetAfter, reset > 0 {
                asked = (reset, "rate-limit reset")
            }
            if let asked {
                if asked.seconds > budgetLeft {
                    return .stop(reason: "\(prefix): the server asked to wait \(Self.seconds(asked.seconds)) s (\(asked.source)), more than the \(Self.seconds(Swift.max(0, budgetLeft))) s left of the retry wait budget (maxTotalWait \(Self.seconds(maxTotalWait)) s); not retrying")
                }
                return .retry(after: asked.seconds, reason: "\(prefix): the server asked to wait \(Self.seconds(asked.seconds)) s (\(asked.source)); retrying in \(Self.seconds(asked.seconds)) s")
            }
        }

        if budgetLeft <= 0 {
            return .stop(reason: "\(prefix): the retry wait budget of \(Self.seconds(maxTotalWait)) s is spent; giving up after \(attempt) attempts")
        }
        let wait = Swift.min(backoffWait(attempt: attempt, random: &random), budgetLeft)
        return .retry(after: wait, reason: "\(prefix): retrying in \(Self.seconds(wait)) s")
    }

    /// `decide` with the system random generator.
    public func decide(
        attempt: Int,
        outcome: AttemptOutcome,
        method: String,
        safeToRepeat: Bool = false,
        waitedSoFar: Double = 0,
        now: Date = Date()
    ) -> RetryDecision {
        var rng = SystemRandomNumberGenerator()
        return decide(attempt: attempt, outcome: outcome, method: method, safeToRepeat: safeToRepeat,
                      waitedSoFar: waitedSoFar, now: now, random: &rng)
    }

    /// The upper bound of the jittered wait after attempt `attempt`: min(max, base * 2^(attempt-1)).
    public func backoffCap(attempt: Int) -> Double {
        let b = Swift.max(0, Self.finiteOrZero(base))
        let m = Swift.max(0, Self.finiteOrZero(max))
        let exponent = Swift.min(Swift.max(0, attempt - 1), 1000)   // 2^1000 is still finite
        return Swift.min(m, b * pow(2, Double(exponent)))
    }

    /// Full jitter: a uniform draw from [0, backoffCap(attempt)].
    public func backoffWait(attempt: Int, random: inout some RandomNumberGenerator) -> Double {
        let cap = backoffCap(attempt: attempt)
        guard cap > 0 else { return 0 }
        return Double.random(in: 0...cap, using: &random)
    }

    // MARK: - Retry-After

    /// The wait a `Retry-After` value asks for, in seconds from `now`: delta-seconds
    /// (a non-negative number; fractions accepted) or an HTTP-date (IMF-fixdate,
    /// RFC 850, asctime). A date in the past gives 0. Garbage gives nil.
    public static func parseRetryAfter(_ value: String, now: Date) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        guard let first = v.unicodeScalars.first else { return nil }
        if ("0"..."9").contains(first) || first == "." {
            return parseNumber(v)
        }
        guard let date = HTTPDate.parse(v, now: now) else { return nil }
        return Swift.max(0, date.timeIntervalSince(now))
    }

    // MARK: - Helpers

    /// A plain non-negative decimal number (`30`, `1.5`, `1e9`); nil for anything
    /// else, including hex, signs, `nan` and `inf`, and values too large to be finite.
    static func parseNumber(_ s: String) -> Double? {
        var sawDigit = false
        for u in s.utf8 {
            switch u {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sawDigit = true
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): continue
            default: return nil
            }
        }
        guard sawDigit, let first = s.utf8.first,
              first == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              let x = Double(s), x.isFinite, x >= 0 else { return nil }
        return x
    }

    /// The first header of that name (ASCII case-insensitive). Runs on every
    /// response, so it compares bytes rather than going through Foundation.
    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        for h in headers where asciiEqualIgnoringCase(h.name, name) {
            return h.value
        }
        return nil
    }

    static func asciiEqualIgnoringCase(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        @inline(__always) func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
        for (p, q) in zip(x, y) where lower(p) != lower(q) { return false }
        return true
    }

    static func finiteOrZero(_ x: Double) -> Double { x.isFinite ? x : (x == .infinity ? .greatestFiniteMagnitude : 0) }

    /// Seconds for humans: one decimal under 10 s, whole seconds above.
    static func seconds(_ x: Double) -> String {
        guard x.isFinite else { return x > 0 ? "∞" : "0" }
        if x < 10 { return String(format: "%.1f", Swift.max(0, x)) }
        if x < 1e15 { return String(Int64(x.rounded())) }
        return String(format: "%.3g", x)
    }

    static func describe(_ outcome: AttemptOutcome) -> String {
        switch outcome {
        case .response(let status, _):
            if let phrase = reasonPhrases[status] { return "\(status) \(phrase)" }
            return "HTTP \(status)"
        case .connectionRefused: return "connection refused"
        case .connectionFailed(let message):
            let m = message.trimmingCharacters(in: .whitespacesAndNewlines)
            return m.isEmpty ? "connection failed" : "connection failed (\(m))"
        case .timedOut: return "timed out"
        }
    }

    static let reasonPhrases: [Int: String] = [
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    ]
}

// MARK: - HTTP-date (RFC 9110 §5.6.7)

/// A thread-safe parser of HTTP dates, written by hand (no DateFormatter, which is
/// neither Sendable nor cheap): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the
/// obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime
/// `Sun Nov  6 08:49:37 1994`.
public enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun",
                                 "jul", "aug", "sep", "oct", "nov", "dec"]

    /// `now` resolves the two-digit year of RFC 850: a year that would be more than
    /// 50 years in the future is taken from the previous century.
    public static func parse(_ text: String, now: Date = Date()) -> Date? {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty, s.utf8.count < 100 else { return nil }
        if let comma = s.firstIndex(of: ",") {
            let weekday = s[..<comma]
            guard !weekday.isEmpty, weekday.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
            let parts = s[s.index(after: comma)...].split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 5 {
                // IMF-fixdate: 06 Nov 1994 08:49:37 GMT
                guard isGMT(parts[4]), let day = number(parts[0], digits: 1...2),
                      let month = month(parts[1]), let year = number(parts[2], digits: 4...4)
                else { return nil }
                return make(year: year, month: month, day: day, time: parts[3])
            }
            if parts.count == 3 {
                // RFC 850: 06-Nov-94 08:49:37 GMT
                guard isGMT(parts[2]) else { return nil }
                let dmy = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard dmy.count == 3, let day = number(dmy[0], digits: 1...2),
                      let month = month(dmy[1]) else { return nil }
                var year: Int
                if let y = number(dmy[2], digits: 4...4) {
                    year = y
                } else if let yy = number(dmy[2], digits: 2...2) {
                    let current = civil(fromDays: Int((now.timeIntervalSince1970 / 86400).rounded(.down))).year
                    year = (current / 100) * 100 + yy
                    if year > current + 50 { year -= 100 }
                } else {
                    return nil
                }
                return make(year: year, month: month, day: day, time: parts[1])
            }
            return nil
        }
        // asctime: Sun Nov  6 08:49:37 1994
        let parts = s.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 5, parts[0].allSatisfy({ $0.isASCII && $0.isLetter }),
              let month = month(parts[1]), let day = number(parts[2], digits: 1...2),
              let year = number(parts[4], digits: 4...4)
        else { return nil }
        return make(year: year, month: month, day: day, time: parts[3])
    }

    private static func isGMT(_ s: Substring) -> Bool {
        s.caseInsensitiveCompare("GMT") == .orderedSame || s.caseInsensitiveCompare("UTC") == .orderedSame
    }

    private static func number(_ s: Substring, digits: ClosedRange<Int>) -> Int? {
        guard digits.contains(s.count), s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }

    private static func month(_ s: Substring) -> Int? {
        guard s.count == 3, let i = months.firstIndex(of: s.lowercased()) else { return nil }
        return i + 1
    }

    private static func make(year: Int, month: Int, day: Int, time: Substring) -> Date? {
        let hms = time.split(separator: ":", omittingEmptySubsequences: false)
        guard hms.count == 3,
              let h = number(hms[0], digits: 2...2), let m = number(hms[1], digits: 2...2),
              let sec = number(hms[2], digits: 2...2),
              h < 24, m < 60, sec <= 60,
              (1...9999).contains(year), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let t = Double(days) * 86400 + Double(h * 3600 + m * 60 + Swift.min(sec, 59))
        return Date(timeIntervalSince1970: t)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
