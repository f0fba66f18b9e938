import Foundation
import NIOConcurrencyHelpers

/// One kind of injected fault.
public enum FaultKind: String, Sendable, CaseIterable, Codable {
    /// The vendor's 500 body; the request has no effect.
    case serverError = "500"
    /// The vendor's 429 body and headers with a short `Retry-After`; no effect.
    case tooManyRequests = "429"
    /// The connection is reset (RST, SO_LINGER 0) before the request has any effect.
    case reset
    /// The correct answer, after a delay (2 s of simulated time).
    case slow
    /// The request takes effect and the status and full Content-Length are sent,
    /// but the body is cut short and the connection closed.
    case truncate
    /// The request takes effect, then the connection is dropped with no answer.
    case lost
}

/// A fault specification such as `"500:0.1,429:0.05,reset:0.02,slow:0.05,truncate:0.01,lost:0.02"`:
/// a probability per kind, each in [0, 1], summing to at most 1.
public struct FaultSpec: Sendable, Equatable, CustomStringConvertible {
    public private(set) var rates: [FaultKind: Double] = [:]

    public init() {}

    public init(rates: [FaultKind: Double]) throws(FaultSpecError) {
        for (kind, p) in rates {
            guard p.isFinite, p >= 0, p <= 1 else {
                throw FaultSpecError("fault rate for \(kind.rawValue) must be between 0 and 1, got \(p)")
            }
        }
        let total = rates.values.reduce(0, +)
        guard total <= 1 + 1e-9 else {
            throw FaultSpecError("fault rates add up to \(total); they must add up to at most 1")
        }
        self.rates = rates.filter { $0.value > 0 }
    }

    /// Parses `KIND:RATE[,KIND:RATE...]`; an empty string means no faults.
    public init(parsing text: String) throws(FaultSpecError) {
        var rates: [FaultKind: Double] = [:]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty {
            for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
                let pair = item.split(separator: ":", omittingEmptySubsequences: false)
                let valid = FaultKind.allCases.map(\.rawValue).joined(separator: ", ")
                guard pair.count == 2 else {
                    throw FaultSpecError("bad fault \"\(item)\": expected KIND:RATE, e.g. 500:0.1 (kinds: \(valid))")
                }
                let name = pair[0].trimmingCharacters(in: .whitespaces)
                guard let kind = FaultKind(rawValue: name) else {
                    throw FaultSpecError("unknown fault kind \"\(name)\" (kinds: \(valid))")
                }
                guard let p = Double(pair[1].trimmingCharacters(in: .whitespaces)) else {
                    throw FaultSpecError("bad rate \"\(pair[1])\" for fault \(name): expected a number between 0 and 1")
                }
                guard rates[kind] == nil else { throw FaultSpecError("fault \(name) is given twice") }
                rates[kind] = p
            }
        }
        try self.init(rates: rates)
    }

    public var isEmpty: Bool { rates.isEmpty }

    public var description: String {
        FaultKind.allCases.compactMap { k in rates[k].map { "\(k.rawValue):\(formatRate($0))" } }.joined(separator: ",")
    }

    /// The fault for a uniform draw `u` in [0, 1): kinds are laid end to end in
    /// a fixed order (that of `FaultKind.allCases`), whatever order the spec used.
    func kind(for u: Double) -> FaultKind? {
        var edge = 0.0
        for k in FaultKind.allCases {
            guard let p = rates[k] else { continue }
            edge += p
            if u < edge { return k }
        }
        return nil
    }
}

public struct FaultSpecError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

private func formatRate(_ p: Double) -> String {
    var s = String(p)
    if s.hasSuffix(".0") { s.removeLast(2) }
    return s
}

/// One injected fault, as recorded.
public struct FaultRecord: Sendable, Equatable {
    /// The vendor request's number (1 for the first vendor request since start or reset).
    public let request: Int
    public let kind: FaultKind
    public let method: String
    public let path: String
}

/// Decides the fault for each vendor request. The decision for the n-th vendor
/// request is a pure function of (seed, n): the same seed gives the same faults
/// in the same order.
final class FaultInjector: Sendable {
    private struct State {
        var spec: FaultSpec
        var seed: UInt64
        var requests = 0
        var counts: [FaultKind: Int] = [:]
        var log: [FaultRecord] = []
        var dropped = 0
    }

    /// The most faults kept in the log (the counts are exact regardless).
    static let logLimit = 10_000

    private let state: NIOLockedValueBox<State>

    init(spec: FaultSpec, seed: UInt64) {
        state = NIOLockedValueBox(State(spec: spec, seed: seed))
    }

    /// The fault (nil for none) for the n-th vendor request, with no state.
    static func decide(spec: FaultSpec, seed: UInt64, request n: Int) -> FaultKind? {
        guard !spec.isEmpty else { return nil }
        let word = SplitMix64.mix(SplitMix64.mix(seed ^ 0x6661_756C_7473) &+ UInt64(truncatingIfNeeded: n))
        let u = Double(word >> 11) * 0x1.0p-53
        return spec.kind(for: u)
    }

    /// Numbers the next vendor request and decides its fault.
    func next(method: String, path: String) -> FaultKind? {
        state.withLockedValue { s in
            s.requests += 1
            guard let kind = Self.decide(spec: s.spec, seed: s.seed, request: s.requests) else { return nil }
            s.counts[kind, default: 0] += 1
            if s.log.count >= Self.logLimit {
                s.log.removeFirst(s.log.count / 2)
                s.dropped += Self.logLimit / 2
            }
            s.log.append(FaultRecord(request: s.requests, kind: kind, method: method, path: path))
            return kind
        }
    }

    /// A new spec and seed: the numbering and the log start again (so the new
    /// sequence is that of a fresh run); the counts by kind carry on.
    func configure(spec: FaultSpec, seed: UInt64) {
        state.withLockedValue { s in
            let counts = s.counts
            s = State(spec: spec, seed: seed)
            s.counts = counts
        }
    }

    /// Zeroes the request number, the counts and the log (the spec and seed stay).
    func reset() {
        state.withLockedValue { s in s = State(spec: s.spec, seed: s.seed) }
    }

    var spec: FaultSpec { state.withLockedValue { $0.spec } }
    var seed: UInt64 { state.withLockedValue { $0.seed } }
    var vendorRequests: Int { state.withLockedValue { $0.requests } }
    var counts: [FaultKind: Int] { state.withLockedValue { $0.counts } }
    var log: [FaultRecord] { state.withLockedValue { $0.log } }

    /// `GET /__sim/faults`.
    func json() -> [String: Any] {
        state.withLockedValue { s in
            [
                "spec": s.spec.description,
                "seed": NSNumber(value: s.seed),
                "requests": s.requests,
                "counts": Dictionary(uniqueKeysWithValues: FaultKind.allCases.map { ($0.rawValue, s.counts[$0] ?? 0) }),
                "omitted": s.dropped,
                "sequence": s.log.map { ["request": $0.request, "fault": $0.kind.rawValue, "method": $0.method, "path": $0.path] },
            ]
        }
    }
}
