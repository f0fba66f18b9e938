import Foundation
import Synchronization

/// What a response's rate-limit headers say about the caller's budget.
///
/// Header families (names case-insensitive; per field, the first family that
/// gives a valid value wins, in this order):
/// - IETF combined: `RateLimit: limit=100, remaining=0, reset=30` (draft -05..-07),
///   and the structured form `RateLimit: "default";r=0;t=30` with
///   `RateLimit-Policy: "default";q=100;w=60` (draft -08 and later);
/// - IETF separate: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`;
/// - `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Claravine:
///   limit and remaining only, a per-minute allowance — see `defaultWindow`);
/// - `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`, `X-Rate-Limit-Reset` (Cordial).
///
/// A reset is delta-seconds, or a Unix timestamp (values > 1e9 are epoch seconds,
/// > 1e12 epoch milliseconds), or an HTTP-date; it is stored relative to `now`,
/// clamped to [0, `RateLimitBudget.maxWait`]. Garbage values are ignored.
public struct RateLimitBudget: Sendable, Equatable {
    public var limit: Int?
    public var remaining: Int?
    /// Seconds from `now` until the budget resets (0 when the reset is past).
    public var resetAfter: Double?

    /// The longest single wait a rate-limit header can cause (1 hour); the retry
    /// policy's `maxTotalWait` decides whether even that is acceptable.
    public static let maxWait: Double = 3600

    public init(limit: Int? = nil, remaining: Int? = nil, resetAfter: Double? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.resetAfter = resetAfter
    }

    /// Nil when no rate-limit header has a usable value.
    ///
    /// - defaultWindow: when the headers give a spent budget (`remaining == 0`) but no
    ///   reset, assume it resets after this many seconds (Claravine's per-minute
    ///   allowance: 60). Nil (the default) leaves `resetAfter` unknown.
    public init?(headers: [(name: String, value: String)], now: Date, defaultWindow: Double? = nil) {
        // Most answers carry no budget: one pass over the names first.
        guard headers.contains(where: { Self.mayBeBudgetHeader($0.name) }) else { return nil }
        var limit: Int?
        var remaining: Int?
        var reset: Double?

        // IETF combined / structured fields.
        if let combined = Self.header("RateLimit", in: headers) {
            let fields = Self.parseCombined(combined)
            var policyLimit: Int?
            if let policy = Self.header("RateLimit-Policy", in: headers) {
                policyLimit = Self.parseCombined(policy).limit
            }
            limit = fields.limit ?? policyLimit
            remaining = fields.remaining
            reset = fields.reset.flatMap { Self.resetSeconds($0, now: now) }
        }
        for family in ["RateLimit-", "X-RateLimit-", "X-Rate-Limit-"] {
            if limit == nil, let v = Self.header(family + "Limit", in: headers) {
                limit = Self.leadingCount(v)
            }
            if remaining == nil, let v = Self.header(family + "Remaining", in: headers) {
                remaining = Self.leadingCount(v)
            }
            if reset == nil, let v = Self.header(family + "Reset", in: headers) {
                reset = Self.resetSeconds(v, now: now)
            }
        }
        if reset == nil, let remaining, remaining <= 0,
           let window = defaultWindow, window.isFinite, window > 0 {
            reset = Swift.min(window, Self.maxWait)
        }
        guard limit != nil || remaining != nil || reset != nil else { return nil }
        self.limit = limit
        self.remaining = remaining
        self.resetAfter = reset
    }

    /// Seconds to wait before the next call when the budget is spent (remaining == 0
    /// and reset in the future), else nil.
    public var waitBeforeNextCall: Double? {
        guard let remaining, remaining <= 0, let resetAfter, resetAfter > 0 else { return nil }
        return Swift.min(resetAfter, Self.maxWait)
    }

    // MARK: - Parsing

    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        RetryPolicy.header(name, in: headers)
    }

    /// Could this header be one of the families above? (`RateLimit...`,
    /// `X-RateLimit-...`, `X-Rate-Limit-...`, any case.) No allocation.
    static func mayBeBudgetHeader(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { b in
            // Lower-case ASCII compare of b[at...] with `word`.
            func has(_ word: StaticString, at i: Int) -> Bool {
                guard i + word.utf8CodeUnitCount <= b.count else { return false }
                for k in 0..<word.utf8CodeUnitCount where b[i + k] | 0x20 != word.utf8Start[k] { return false }
                return true
            }
            var i = b.count >= 2 && b[0] | 0x20 == UInt8(ascii: "x") && b[1] == UInt8(ascii: "-") ? 2 : 0
            guard has("rate", at: i) else { return false }
            i += 4
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            return has("limit", at: i)
        }
    }

    /// A non-negative integer at the start of the value (`100`, `100, 100;w=60`, `"100"`).
    static func leadingCount(_ value: String) -> Int? {
        var v = Substring(value.trimmingCharacters(in: .whitespaces))
        if v.hasPrefix("\"") { v = v.dropFirst() }
        let digits = v.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty else { return nil }
        let rest = v.dropFirst(digits.count).first
        guard rest == nil || rest == "," || rest == ";" || rest == "\"" || rest == " " else { return nil }
        // An absurd count saturates rather than failing.
        return Int(digits) ?? Int.max
    }

    /// `limit=100, remaining=0, reset=30` or `"default";r=0;t=30` (also `q=` from
    /// RateLimit-Policy). With several policies, the one with the least remaining wins.
    static func parseCombined(_ value: String) -> (limit: Int?, remaining: Int?, reset: String?) {
        typealias Fields = (limit: Int?, remaining: Int?, reset: String?)
        func fields(of pieces: [Substring]) -> Fields {
            var f: Fields = (nil, nil, nil)
            for piece in pieces {
                let kv = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2 else { continue }
                let key = kv[0].trimmingCharacters(in: .whitespaces).lowercased()
                let raw = kv[1].trimmingCharacters(in: .whitespaces)
                switch key {
                case "limit", "q": if f.limit == nil { f.limit = leadingCount(raw) }
                case "remaining", "r": if f.remaining == nil { f.remaining = leadingCount(raw) }
                case "reset", "t": if f.reset == nil { f.reset = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                default: continue
                }
            }
            return f
        }
        if value.contains(";") {
            // Structured: one list member per policy.
            let members = value.split(separator: ",").map { fields(of: $0.split(separator: ";")) }
            var best: Fields = (nil, nil, nil)
            for m in members where m.limit != nil || m.remaining != nil || m.reset != nil {
                if best.limit == nil && best.remaining == nil && best.reset == nil {
                    best = m
                } else if let r = m.remaining, r < (best.remaining ?? Int.max) {
                    best = m
                }
            }
            return best
        }
        return fields(of: value.split(separator: ","))
    }

    /// Seconds from `now` of a reset value; nil for garbage.
    static func resetSeconds(_ value: String, now: Date) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        guard let first = v.unicodeScalars.first else { return nil }
        var seconds: Double
        if ("0"..."9").contains(first) || first == "." {
            guard let x = RetryPolicy.parseNumber(v) else { return nil }
            if x > 1e12 {
                seconds = x / 1000 - now.timeIntervalSince1970
            } else if x > 1e9 {
                seconds = x - now.timeIntervalSince1970
            } else {
                seconds = x
            }
        } else if let date = HTTPDate.parse(v, now: now) {
            seconds = date.timeIntervalSince(now)
        } else {
            return nil
        }
        guard seconds.isFinite else { return nil }
        return Swift.min(Swift.max(0, seconds), maxWait)
    }
}

/// Per-host rate-limit budgets shared by all tasks.
///
/// After each response: `record(host:budget:now:)`. Before each request:
/// `wait(for:now:)` — nil means go now (and reserves one call of the known remaining
/// budget, so that concurrent tasks do not all spend the last call); a number means
/// sleep that many seconds, then ask again.
public final class RateLimiter: Sendable {
    struct Entry {
        var limit: Int?
        var remaining: Int?
        var resetAt: Date?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Remember what the latest response from `host` said (`budget.resetAfter` is
    /// relative to `now`). The latest response wins.
    public func record(host: String, budget: RateLimitBudget, now: Date = Date()) {
        let key = host.lowercased()
        let entry = Entry(limit: budget.limit, remaining: budget.remaining,
                          resetAt: budget.resetAfter.map { now.addingTimeInterval($0) })
        entries.withLock { $0[key] = entry }
    }

    /// Parse and record a response's headers; does nothing when they carry no budget.
    public func record(host: String, headers: [(name: String, value: String)], now: Date = Date(),
                       defaultWindow: Double? = nil) {
        if let budget = RateLimitBudget(headers: headers, now: now, defaultWindow: defaultWindow) {
            record(host: host, budget: budget, now: now)
        }
    }

    /// Seconds to wait before the next request to `host`, or nil to go now.
    public func wait(for host: String, now: Date = Date()) -> Double? {
        let key = host.lowercased()
        return entries.withLock { table -> Double? in
            guard var entry = table[key] else { return nil }
            if let resetAt = entry.resetAt, resetAt <= now {
                // The window has reset: what we knew is stale.
                table[key] = nil
                return nil
            }
            if let remaining = entry.remaining {
                if remaining <= 0 {
                    guard let resetAt = entry.resetAt else { return nil }
                    return Swift.min(resetAt.timeIntervalSince(now), RateLimitBudget.maxWait)
                }
                entry.remaining = remaining - 1
                table[key] = entry
            }
            return nil
        }
    }

    /// The budget known for `host`, relative to `now` (nil when nothing is known).
    public func budget(for host: String, now: Date = Date()) -> RateLimitBudget? {
        entries.withLock { table in
            guard let e = table[host.lowercased()] else { return nil }
            return RateLimitBudget(limit: e.limit, remaining: e.remaining,
                                   resetAfter: e.resetAt.map { Swift.max(0, $0.timeIntervalSince(now)) })
        }
    }

    /// Forget every host.
    public func reset() {
        entries.withLock { $0.removeAll() }
    }
}
