import Foundation
import XCTest

/// The vendor bindings against the simulator: each Tests/lua/vendors/*_test.lua
/// runs under `moonport run --sandbox`, and every shipped example workflow
/// runs end to end.
final class VendorBindingTests: XCTestCase {
    static let root = LuaScriptTests.root

    /// Runs the vendor's test file once in the simulator's default readings,
    /// then once for every other reading of each of the vendor's variants
    /// (`moonport sim --list-variants`): where the vendor's document is silent,
    /// the binding must work with each plausible answer, not just one.
    func runVendorTest(_ name: String) throws {
        let runs: [[String: String]] = [[:]] + (try Self.variants(of: name)).map { ["MOONPORT_SIM_VARIANT": $0] }
        for environment in runs {
            let r = try MoonportProcess.runLuaTest("Tests/lua/vendors/\(name)_test.lua", environment: environment)
            let passed = r.stdout.split(separator: "\n").last { $0.contains(" passed, ") } ?? "no summary"
            print("vendor test \(name) [\(environment["MOONPORT_SIM_VARIANT"] ?? "default readings")]: \(passed)")
            // The simulator's credentials never reach the output in clear.
            for secret in ["sandbox-clari-api-key", "sandbox-claravine-api-secret", "sandbox-quantive-api-token",
                           "sandbox-cordial-api-key", "sandbox-mediarithmics-api-token"] {
                XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "\(name) printed \(secret)")
            }
        }
    }

    /// `KEY=VALUE` for every reading but the default of each of the vendor's variants.
    static func variants(of vendor: String) throws -> [String] {
        let r = try MoonportProcess.run(["sim", "--list-variants"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var out: [String] = []
        for line in r.stdout.split(separator: "\n") where line.hasPrefix(vendor + ".") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let readings = line[line.index(after: colon)...].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            for reading in readings where !reading.hasSuffix("(default)") { out.append("\(key)=\(reading)") }
        }
        return out
    }

    func testClari() throws { try runVendorTest("clari") }
    func testClaravine() throws { try runVendorTest("claravine") }
    func testQuantive() throws { try runVendorTest("quantive") }
    func testCordial() throws { try runVendorTest("cordial") }
    func testMediarithmics() throws { try runVendorTest("mediarithmics") }
    func testCore() throws { try runVendorTest("core") }

    /// Every example workflow under scripts/examples runs under --sandbox, and
    /// a second run with the same state database adopts what the first did.
    func testExampleWorkflowsRunUnderSandbox() throws {
        let examples: [(String, [String])] = [
            ("forecast-to-claravine.lua", ["2024_Q1"]),
            ("concurrent-exports.lua", []),
            ("activities-to-mediarithmics.lua", []),
            ("mediarithmics-push-activities.lua", []),
            ("quantive-goals-to-csv.lua", []),
            ("cordial-audience-export.lua", []),
        ]
        for (file, args) in examples {
            let dir = try MoonportProcess.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: dir) }
            let script = Self.root.appendingPathComponent("scripts/examples/\(file)")
            let r = try MoonportProcess.run(["run", "--sandbox", script.path] + args,
                                            environment: ["MOONPORT_SIM_SPEED": "20"], directory: dir, timeout: 300)
            XCTAssertEqual(r.status, 0, "\(file):\n\(r.stdout)\(r.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") || $0.contains(".part") }
            XCTAssertEqual(left, [], "\(file) left temporary files")
        }
    }
}
