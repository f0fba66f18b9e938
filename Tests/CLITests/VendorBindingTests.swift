import Foundation
import XCTest

/// The vendor bindings against the simulator: each Tests/lua/vendors/*_test.lua
/// runs under `moonport run --sandbox`, and every shipped example workflow
/// runs end to end.
final class VendorBindingTests: XCTestCase {
    static let root = LuaScriptTests.root

    func runVendorTest(_ name: String) throws {
        let r = try MoonportProcess.runLuaTest("Tests/lua/vendors/\(name)_test.lua")
        // The simulator's credentials never reach the output in clear.
        for secret in ["sandbox-clari-api-key", "sandbox-claravine-api-secret", "sandbox-quantive-api-token",
                       "sandbox-cordial-api-key", "sandbox-mediarithmics-api-token"] {
            XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "\(name) printed \(secret)")
        }
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
