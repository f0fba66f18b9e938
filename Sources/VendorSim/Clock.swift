import Foundation

/// Simulated time. Timestamps the simulator shows are real (wall clock);
/// durations (job phases, rate-limit windows, the `slow` fault) are divided by
/// `speed`, so `MOONPORT_SIM_SPEED=50` makes every job move 50 times faster.
public struct SimClock: Sendable {
    /// How many times faster than real time the simulator runs (> 0).
    public let speed: Double

    public init(speed: Double) {
        self.speed = speed.isFinite && speed > 0 ? speed : 1
    }

    /// Now, in seconds since 1970 (real time).
    public func now() -> Double { Date().timeIntervalSince1970 }

    /// Real seconds that `simulatedSeconds` of vendor time take.
    public func real(_ simulatedSeconds: Double) -> Double { simulatedSeconds / speed }

    /// Reads `MOONPORT_SIM_SPEED` (a positive number); 1 when unset or invalid.
    public static func speedFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Double {
        guard let text = environment["MOONPORT_SIM_SPEED"], let v = Double(text), v.isFinite, v > 0 else { return 1 }
        return v
    }
}

/// SplitMix64: a tiny, well-mixed PRNG. Everything "random" in the simulator
/// (demo data, ids, fault decisions) comes from one of these, seeded from the
/// configured seed, so a run can be repeated.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The SplitMix64 finaliser: a bijective hash of one 64-bit word.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stream for one purpose ("clari.ids", "faults", ...) derived from the seed.
    init(seed: UInt64, stream: String) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the stream name
        for b in stream.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        state = Self.mix(seed ^ h)
    }

    /// A double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
}

/// Deterministic identifiers in the shapes vendors use, from a seeded stream.
struct IdGenerator: Sendable {
    private var rng: SplitMix64
    private var counter = 0

    init(seed: UInt64, stream: String) { rng = SplitMix64(seed: seed, stream: stream) }

    /// `8-4-4-4-12` lowercase hex, version-4 shaped.
    mutating func uuid() -> String {
        let a = rng.next(), b = rng.next()
        let hex = String(format: "%016llx%016llx", a, b)
        var chars = Array(hex)
        chars[12] = "4"
        chars[16] = ["8", "9", "a", "b"][Int(b >> 62)]
        let s = String(chars)
        let i = s.startIndex
        func part(_ from: Int, _ to: Int) -> Substring { s[s.index(i, offsetBy: from)..<s.index(i, offsetBy: to)] }
        return "\(part(0, 8))-\(part(8, 12))-\(part(12, 16))-\(part(16, 20))-\(part(20, 32))"
    }

    /// A 24-hex-digit id (MongoDB ObjectId shape: Cordial jobs, Quantive goals).
    mutating func objectId() -> String {
        String(format: "%016llx%08x", rng.next(), UInt32(truncatingIfNeeded: rng.next()))
    }

    /// Increasing numeric ids starting at `base` (mediarithmics).
    mutating func sequential(base: Int) -> Int {
        counter += 1
        return base + counter
    }
}

/// ISO-8601 and date helpers (UTC).
enum Dates {
    /// `2024-01-31T12:34:56.789Z` (formatted by hand: Foundation's formatters
    /// are costly to create and this runs for every job in every answer).
    static func iso(_ seconds: Double) -> String {
        let (t, ms) = split(seconds)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms)
    }

    /// `2024-01-31`.
    static func day(_ seconds: Double) -> String {
        let (t, _) = split(seconds)
        return String(format: "%04d-%02d-%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday)
    }

    private static func split(_ seconds: Double) -> (tm, Int32) {
        let whole = seconds.rounded(.down)
        var time = time_t(whole)
        var t = tm()
        gmtime_r(&time, &t)
        return (t, Int32(min(999, max(0, ((seconds - whole) * 1000).rounded(.down)))))
    }

    /// Parses `YYYY-MM-DD` (strictly) to the start of that UTC day.
    static func parseDay(_ text: String) -> Double? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        var c = DateComponents()
        c.year = y; c.month = m; c.day = d
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        guard let date = cal.date(from: c), Self.day(date.timeIntervalSince1970) == text else { return nil }
        return date.timeIntervalSince1970
    }

    /// Parses an ISO-8601 date-time or a plain `YYYY-MM-DD`.
    static func parse(_ text: String) -> Double? {
        if let d = parseDay(text) { return d }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = f.date(from: text) { return date.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)?.timeIntervalSince1970
    }

    /// Fixed anchor for seeded history (Monday 2025-01-06 00:00 UTC), so the
    /// demo data is identical on every run with the same seed.
    static let seedAnchor: Double = 1_736_121_600
}
