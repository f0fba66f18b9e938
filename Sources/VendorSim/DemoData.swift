import Foundation

/// Names and words the vendors' seeded demo data is built from.
enum DemoData {
    static let firstNames = [
        "Avery", "Jordan", "Morgan", "Riley", "Casey", "Taylor", "Quinn", "Harper", "Rowan", "Emerson",
        "Sasha", "Noor", "Priya", "Mateo", "Ines", "Kenji", "Amara", "Lukas", "Sofia", "Oskar",
    ]
    static let lastNames = [
        "Chen", "Okafor", "Lindqvist", "Moreau", "Patel", "Garcia", "Novak", "Tanaka", "Schmidt", "Haddad",
        "Kowalski", "Ferreira", "Nguyen", "O'Brien", "Rossi", "Andersen", "Mensah", "Duarte", "Ivanova", "Brooks",
    ]
    static let companies = [
        "Acme Robotics", "Northwind Traders", "Globex", "Initech", "Umbrella Health", "Stark Logistics",
        "Wayne Analytics", "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Cyberdyne Labs",
        "Pied Piper", "Wonka Retail", "Aperture Science", "Blue Sun Energy",
    ]
    static let deals = ["New Business", "Expansion", "Renewal", "Upsell", "Platform", "Pilot"]

    /// `count` distinct people: (full name, email local part).
    static func people(_ count: Int, rng: inout SplitMix64) -> [(name: String, email: String)] {
        var used = Set<String>()
        var out: [(String, String)] = []
        while out.count < count {
            let f = rng.pick(firstNames), l = rng.pick(lastNames)
            let name = "\(f) \(l)"
            guard used.insert(name).inserted else { continue }
            let local = (f + "." + l).lowercased().replacingOccurrences(of: "'", with: "")
            out.append((name, local))
        }
        return out
    }

    /// The start of the current UTC day: seeded history is laid out before it,
    /// so demo data is recent and the same for every run on the same day.
    static func today() -> Double {
        let now = Date().timeIntervalSince1970
        return (now / 86_400).rounded(.down) * 86_400
    }

    /// A pseudo-random amount with cents, from a key (deterministic).
    static func amount(_ seed: UInt64, _ key: String, range: ClosedRange<Int>) -> Double {
        var rng = SplitMix64(seed: seed, stream: key)
        let whole = rng.int(range)
        let cents = rng.int(0...99)
        return Double(whole) + Double(cents) / 100
    }
}
