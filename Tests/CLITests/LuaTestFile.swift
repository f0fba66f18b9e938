import Foundation
import XCTest

/// The one runner of the Lua test files, Tests/lua/**/*_test.lua: each runs
/// as its own XCTest case (a one-line method calling LuaTestFile.run(path),
/// in LuaScriptTests, StdlibHelperTests, VendorBindingTests or HTTPTests,
/// which starts the HTTP test server first: XCTest on Linux needs its
/// methods at compile time), under `moonport run --sandbox`
/// in a folder of its own. A file under vendors/ runs once in the
/// simulator's default readings, then once for every other reading of each
/// of its vendor's variants. LuaScriptTests.testEveryLuaTestFileHasATestMethod
/// walks Tests/lua and fails, naming the file, for one no method runs.
enum LuaTestFile {
    static let folder = LuaScriptTests.root.appendingPathComponent("Tests/lua")

    /// Runs Tests/lua/`relative` (once per variant reading for a vendor's file),
    /// with `environment` added (e.g. the HTTP test server's URL).
    static func run(_ relative: String, environment extra: [String: String] = [:],
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let name = String(relative.split(separator: "/").last!.dropLast("_test.lua".count))
        let vendor = relative.hasPrefix("vendors/") ? name : nil
        let readings = try vendor.map { try variants(of: $0) } ?? []
        let runs: [[String: String]] = [extra] + readings.map { extra.merging(["MOONPORT_SIM_VARIANT": $0]) { $1 } }
        for environment in runs {
            let r = try MoonportProcess.runLuaTest("Tests/lua/\(relative)", environment: environment, file: file, line: line)
            let passed = r.stdout.split(separator: "\n").last { $0.contains(" passed, ") } ?? "no summary"
            print("\(vendor == nil ? "lua test \(relative)" : "vendor test \(name)") "
                  + "[\(environment["MOONPORT_SIM_VARIANT"] ?? "default readings")]: \(passed)")
            // The simulator's credentials never reach the output in clear.
            for secret in ["sandbox-clari-api-key", "sandbox-claravine-api-secret", "sandbox-quantive-api-token",
                           "sandbox-cordial-api-key", "sandbox-mediarithmics-api-token"] {
                XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "\(relative) printed \(secret)",
                               file: file, line: line)
            }
        }
    }

    /// `KEY=VALUE` for every reading but the default of each of the vendor's
    /// variants (`moonport sim --list-variants`).
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

    /// Every *_test.lua below Tests/lua, relative to it, sorted.
    static func all() throws -> [String] {
        let walker = FileManager.default.enumerator(atPath: folder.path)
        var files: [String] = []
        while let path = walker?.nextObject() as? String {
            if path.hasSuffix("_test.lua") { files.append(path) }
        }
        return files.sorted()
    }

    /// The files named by the LuaTestFile.run calls in Tests/CLITests, sorted.
    static func named() throws -> [String] {
        let tests = LuaScriptTests.root.appendingPathComponent("Tests/CLITests")
        let call = "LuaTestFile.run(\""
        var files: [String] = []
        for source in try FileManager.default.contentsOfDirectory(atPath: tests.path) where source.hasSuffix(".swift") {
            let text = try String(contentsOf: tests.appendingPathComponent(source), encoding: .utf8)
            var rest = text[...]
            while let start = rest.range(of: call) {
                rest = rest[start.upperBound...]
                guard let end = rest.firstIndex(of: "\"") else { break }
                files.append(String(rest[..<end]))
            }
        }
        return files.sorted()
    }
}
