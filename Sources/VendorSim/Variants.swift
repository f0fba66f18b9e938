/// Where a vendor's document is silent (the shape of a listing, a job flat or
/// wrapped, a page-size cap), the simulator can answer in each plausible
/// reading. A variant is a key (`claravine.listing`) with the readings it
/// offers; the first is the default, the one closest to the vendor's document.
/// The vendor tests run the bindings against every reading of every key, so a
/// binding that only understands our favourite reading fails there, not in
/// production.
///
/// Chosen with `moonport sim --variant KEY=VALUE` (repeatable) or, for
/// `--sandbox`, `MOONPORT_SIM_VARIANT="KEY=VALUE,KEY=VALUE"`.
public struct SimVariant: Sendable {
    /// `vendor.aspect`, e.g. `claravine.listing`.
    public let key: String
    /// The readings; `values[0]` is the default.
    public let values: [String]
    /// What the key changes, and the seed line that leaves it open.
    public let help: String

    public init(_ key: String, _ values: [String], _ help: String) {
        self.key = key
        self.values = values
        self.help = help
    }

    public var vendor: String { String(key.prefix { $0 != "." }) }
    public var defaultValue: String { values[0] }
}

public enum SimVariants {
    /// Every variant of every simulated vendor.
    public static var all: [SimVariant] {
        ClariSim.variants + ClaravineSim.variants + QuantiveSim.variants + CordialSim.variants + MediarithmicsSim.variants
    }

    /// The environment variable `--sandbox` reads.
    public static let environmentName = "MOONPORT_SIM_VARIANT"

    /// Parses `KEY=VALUE[,KEY=VALUE...]` against the catalogue.
    public static func parse(_ text: String) throws(FaultSpecError) -> [String: String] {
        var chosen: [String: String] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw FaultSpecError("bad variant \"\(item)\": expected KEY=VALUE, e.g. claravine.listing=objects")
            }
            guard let variant = all.first(where: { $0.key == parts[0] }) else {
                throw FaultSpecError("unknown variant \"\(parts[0])\" (variants: \(all.map(\.key).joined(separator: ", ")))")
            }
            guard variant.values.contains(parts[1]) else {
                throw FaultSpecError("variant \(variant.key) has no reading \"\(parts[1])\" (readings: \(variant.values.joined(separator: ", ")))")
            }
            chosen[parts[0]] = parts[1]
        }
        return chosen
    }

    /// One line per variant: `key  a (default) | b | c  — help`.
    public static var listing: String {
        all.map { v in
            let readings = v.values.enumerated().map { $0.offset == 0 ? "\($0.element) (default)" : $0.element }
            return "\(v.key): \(readings.joined(separator: " | "))\n    \(v.help)"
        }.joined(separator: "\n")
    }
}

extension SimulatorConfig {
    /// The reading chosen for `key`, or its default.
    func variant(_ key: String) -> String {
        if let chosen = variants[key] { return chosen }
        guard let known = SimVariants.all.first(where: { $0.key == key }) else {
            preconditionFailure("variant \(key) is not declared in any vendor's `variants`")
        }
        return known.defaultValue
    }
}
