import Foundation
import XCTest

/// The runtime's Lua-level tests (Tests/lua/*_test.lua), the guard that
/// every Lua test file runs, and the shipped example scripts, run by
/// moonport itself.
final class LuaScriptTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testRecords() throws { try LuaTestFile.run("records_test.lua") }
    func testRuntime() throws { try LuaTestFile.run("runtime_test.lua") }
    func testTask() throws { try LuaTestFile.run("task_test.lua") }

    /// A *_test.lua anywhere below Tests/lua that no test method runs would
    /// never run: each must be named by one LuaTestFile.run call (and each
    /// name must be a file).
    func testEveryLuaTestFileHasATestMethod() throws {
        let files = try LuaTestFile.all(), named = try LuaTestFile.named()
        XCTAssertFalse(files.isEmpty)
        for file in files where !named.contains(file) {
            XCTFail("Tests/lua/\(file) has no test method: add one calling LuaTestFile.run(\"\(file)\")")
        }
        for file in named where !files.contains(file) { XCTFail("LuaTestFile.run names Tests/lua/\(file), which does not exist") }
        XCTAssertEqual(named, Array(Set(named)).sorted(), "a file is run by two test methods")
    }

    func testExampleScriptsRun() throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let example = Self.root.appendingPathComponent("scripts/examples/export-roundtrip.lua")
        let out = dir.appendingPathComponent("accounts.json")
        let r = try MoonportProcess.run(["run", example.path, out.path], directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "500 records, total 156625125.00\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path + ".part"))
    }

    /// The README's first workflow: export, poll, download and check, against
    /// the in-process simulator. Real-looking credentials in the environment
    /// are overridden: a sandbox run never reaches production.
    func testSandboxWorkflowRunsAgainstTheSimulator() throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let example = Self.root.appendingPathComponent("scripts/examples/sandbox-forecast-export.lua")
        let out = dir.appendingPathComponent("forecast.csv")
        let r = try MoonportProcess.run(
            ["run", "--sandbox", "-v", example.path, out.path],
            environment: ["MOONPORT_SIM_SPEED": "50", "CLARI_BASE_URL": "https://api.clari.com",
                          "CLARI_API_KEY": "real-production-key-DO-NOT-USE"],
            directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix(out.path + ": "), r.stdout)
        XCTAssertTrue(r.stdout.contains(" rows, total amount "), r.stdout)
        XCTAssertTrue(r.stderr.contains("http://127.0.0.1:"), "the simulator answered: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("api.clari.com"), r.stderr)
        XCTAssertFalse(r.stderr.contains("real-production-key"), r.stderr)
        XCTAssertTrue(r.stderr.contains(": DONE"), r.stderr)
        let text = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("userId,userName,userEmail,forecastId,timePeriod,"), text)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["forecast.csv"], "no temporary file left")
    }
}
