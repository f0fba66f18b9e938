import Foundation
import XCTest

/// The Lua-level tests (Tests/lua/*_test.lua) and the shipped example
/// scripts, run by moonport itself.
final class LuaScriptTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testLuaLevelTests() throws {
        let folder = Self.root.appendingPathComponent("Tests/lua")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix("_test.lua") }.sorted()
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let r = try MoonportProcess.run(["run", file], directory: folder)
            XCTAssertEqual(r.status, 0, "\(file):\n\(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stdout.contains(" passed, 0 failed"), "\(file): \(r.stdout)")
        }
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
}
