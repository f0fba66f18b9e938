import Foundation
import XCTest

/// The Lua helper modules (batch, workflow, dates, reconcile): each
/// Tests/lua/stdlib/*_test.lua runs under `moonport run --sandbox`
/// (LuaTestFile), and the example that uses them together runs end to end
/// against the simulator.
final class StdlibHelperTests: XCTestCase {
    static let root = LuaScriptTests.root

    func testBatch() throws { try LuaTestFile.run("stdlib/batch_test.lua") }
    func testWorkflow() throws { try LuaTestFile.run("stdlib/workflow_test.lua") }
    func testDates() throws { try LuaTestFile.run("stdlib/dates_test.lua") }
    func testReconcile() throws { try LuaTestFile.run("stdlib/reconcile_test.lua") }

    /// scripts/examples/reconcile-claravine.lua: workflow + batch + reconcile
    /// against the in-process simulator. The reconciliation report is the
    /// script's output (stdout); the workflow's summary table goes to stderr.
    func testReconcileClaravineExampleRunsUnderSandbox() throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = Self.root.appendingPathComponent("scripts/examples/reconcile-claravine.lua")
        let r = try MoonportProcess.run(
            ["run", "--sandbox", "--state", dir.appendingPathComponent("state.sqlite").path, script.path],
            environment: ["MOONPORT_SIM_SPEED": "20"], directory: dir, timeout: 300)
        XCTAssertEqual(r.status, 0, "reconcile-claravine.lua:\n\(r.stdout)\(r.stderr)")
        XCTAssertEqual(r.stdout, "reconcile: 2500 sent, 2500 reported: all 2500 matched\n", r.stderr)
        XCTAssertTrue(r.stderr.contains("workflow \"campaigns to claravine\": ok in "), r.stderr)
        for step in ["generate", "submit", "wait", "read back", "reconcile"] {
            XCTAssertTrue(r.stderr.contains("\n  \(step) "), "no line for step \(step) in:\n\(r.stderr)")
        }
        XCTAssertTrue(r.stderr.contains("rows sent: 2500; transactions: 3"), r.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") || $0.contains(".part") }
        XCTAssertEqual(left, [], "reconcile-claravine.lua left temporary files")
        for secret in ["sandbox-claravine-api-key", "sandbox-claravine-api-secret"] {
            XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "reconcile-claravine.lua printed \(secret)")
        }
    }
}
