import Foundation
import NIOConcurrencyHelpers

/// Per-minute allowances (fixed windows of one simulated minute, i.e.
/// 60 s / speed of real time), per vendor and key. Generous by default so
/// benchmarks and soaks are not throttled; `SimulatorConfig.rateLimits`
/// (`moonport sim --rate-limit cordial=5`) sets a vendor's allowance.
final class RateLimiter: Sendable {
    struct Budget: Sendable {
        /// Requests allowed per window.
        let limit: Int
        /// What is left after this request (0 when refused).
        let remaining: Int
        /// Real seconds until the window resets.
        let resetIn: Double
        /// Whether this request was refused.
        let refused: Bool

        /// Whole seconds for `Retry-After` / reset headers (at least 1).
        var resetSeconds: Int { max(1, Int(resetIn.rounded(.up))) }
    }

    /// The per-minute allowance of a vendor without a configured one.
    static let defaultPerMinute = 1_000_000

    private struct Window { var start: Double; var used: Int }
    private struct State {
        var limits: [String: Int]
        var windows: [String: Window] = [:]
    }

    private let clock: SimClock
    private let state: NIOLockedValueBox<State>

    init(limits: [String: Int], clock: SimClock) {
        self.clock = clock
        state = NIOLockedValueBox(State(limits: limits))
    }

    /// Takes one request from the budget of `key` (a vendor, or for Cordial
    /// vendor + method + endpoint).
    func take(vendor: String, key: String) -> Budget {
        let now = clock.now()
        let window = clock.real(60)
        return state.withLockedValue { s in
            let limit = s.limits[vendor] ?? Self.defaultPerMinute
            var w = s.windows[key] ?? Window(start: now, used: 0)
            if now - w.start >= window { w = Window(start: now, used: 0) }
            let resetIn = max(0, w.start + window - now)
            if w.used >= limit {
                s.windows[key] = w
                return Budget(limit: limit, remaining: 0, resetIn: resetIn, refused: true)
            }
            w.used += 1
            s.windows[key] = w
            return Budget(limit: limit, remaining: limit - w.used, resetIn: resetIn, refused: false)
        }
    }

    /// A budget shaped like a refusal, for the injected 429 fault (1 s `Retry-After`).
    func faultBudget(vendor: String) -> Budget {
        let limit = state.withLockedValue { $0.limits[vendor] ?? Self.defaultPerMinute }
        return Budget(limit: limit, remaining: 0, resetIn: 1, refused: true)
    }

    func setLimit(vendor: String, perMinute: Int?) {
        state.withLockedValue { $0.limits[vendor] = perMinute }
    }

    func reset() {
        state.withLockedValue { $0.windows = [:] }
    }

    var limits: [String: Int] { state.withLockedValue { $0.limits } }
}
