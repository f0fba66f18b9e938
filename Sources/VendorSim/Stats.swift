import Crypto
import Foundation
import NIOConcurrencyHelpers

/// What the simulator received: requests, created objects per vendor and
/// kind, and duplicates (the same thing created twice, which is what a naive
/// retry after a lost answer does). Served at `GET /__sim/stats`:
///
///     {"requests": N, "otherRequests": N, "vendorRequests": {vendor: N},
///      "faults": {"500": N, "429": N, "reset": N, "slow": N, "truncate": N, "lost": N},
///      "created": {vendor: {kind: N}}, "duplicates": {vendor: {kind: N}, "total": N}}
///
/// Kinds (and what makes a duplicate):
/// - clari: `export_jobs` (same module, forecast id and body), `ingestion_jobs`
///   (bulk: same entity and file), `ingest_requests`, `records_received`, `picklist_values`;
/// - claravine: `transactions` (same dataset and transactionName), `rows_received`;
/// - quantive: `goals` (same name and sessionId), `goal_updates`, `goals_deleted`;
/// - cordial: `exports` (same name), `audiencetrendsexport`, `contactexports`;
/// - mediarithmics: `document_imports` (same datamart and name), `executions`
///   (same file on the same import), `lines_received`.
///
/// `requests` counts vendor requests only; `/__sim/*` and the S3 store are `otherRequests`.
final class Stats: Sendable {
    private struct State {
        /// Requests to vendor endpoints (not `/__sim/*`, not the S3 store).
        var requests = 0
        var otherRequests = 0
        var vendorRequests: [String: Int] = [:]
        var created: [String: [String: Int]] = [:]
        var duplicates: [String: [String: Int]] = [:]
        var seen: Set<String> = []
    }

    static let vendors = ["clari", "claravine", "quantive", "cordial", "mediarithmics"]

    private let state = NIOLockedValueBox(State())

    func request(vendor: String?) {
        state.withLockedValue { s in
            if let vendor {
                s.requests += 1
                s.vendorRequests[vendor, default: 0] += 1
            } else {
                s.otherRequests += 1
            }
        }
    }

    /// Adds `count` to a counter (`export_jobs`, `rows_received`, ...).
    func count(_ vendor: String, _ kind: String, _ count: Int = 1) {
        state.withLockedValue { s in s.created[vendor, default: [:]][kind, default: 0] += count }
    }

    /// Counts one created object of `kind` whose identity is `identity` (for
    /// example the Claravine dataset and transactionName); if that identity was
    /// seen before since the start or the last reset, it is also a duplicate.
    /// Returns whether it was a duplicate.
    @discardableResult
    func created(_ vendor: String, _ kind: String, identity: String) -> Bool {
        let key = vendor + "\u{1F}" + kind + "\u{1F}" + Self.digest(identity)
        return state.withLockedValue { s in
            s.created[vendor, default: [:]][kind, default: 0] += 1
            if s.seen.insert(key).inserted { return false }
            s.duplicates[vendor, default: [:]][kind, default: 0] += 1
            return true
        }
    }

    func reset() { state.withLockedValue { $0 = State() } }

    /// SHA-256 in hex, so identities of any size (a whole uploaded file) cost 64 bytes.
    static func digest(_ text: String) -> String { digest(Array(text.utf8)) }

    static func digest(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    func json(faults: FaultInjector) -> [String: Any] {
        let s = state.withLockedValue { $0 }
        var created: [String: Any] = [:]
        var duplicates: [String: Any] = [:]
        var total = 0
        for v in Self.vendors {
            created[v] = s.created[v] ?? [String: Int]()
            let d = s.duplicates[v] ?? [:]
            duplicates[v] = d
            total += d.values.reduce(0, +)
        }
        duplicates["total"] = total
        let counts = faults.counts
        return [
            "requests": s.requests,
            "otherRequests": s.otherRequests,
            "vendorRequests": Dictionary(uniqueKeysWithValues: Self.vendors.map { ($0, s.vendorRequests[$0] ?? 0) }),
            "faults": Dictionary(uniqueKeysWithValues: FaultKind.allCases.map { ($0.rawValue, counts[$0] ?? 0) }),
            "created": created,
            "duplicates": duplicates,
        ]
    }
}
