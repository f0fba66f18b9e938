import Foundation
import XCTest

/// The vendor bindings against the simulator: each Tests/lua/vendors/*_test.lua
/// runs under `moonport run --sandbox` (LuaTestFile), and every shipped
/// example workflow runs end to end.
final class VendorBindingTests: XCTestCase {
    static let root = LuaScriptTests.root

    /// Each runs the vendor's test file once in the simulator's default
    /// readings, then once for every other reading of each of the vendor's
    /// variants (`moonport sim --list-variants`): where the vendor's document
    /// is silent, the binding must work with each plausible answer, not just one.
    func testClari() throws { try LuaTestFile.run("vendors/clari_test.lua") }
    func testClaravine() throws { try LuaTestFile.run("vendors/claravine_test.lua") }
    func testQuantive() throws { try LuaTestFile.run("vendors/quantive_test.lua") }
    func testCordial() throws { try LuaTestFile.run("vendors/cordial_test.lua") }
    func testMediarithmics() throws { try LuaTestFile.run("vendors/mediarithmics_test.lua") }
    func testCore() throws { try LuaTestFile.run("vendors/core_test.lua") }

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
