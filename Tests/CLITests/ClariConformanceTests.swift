import Foundation
import XCTest

/// docs/vendors/clari.md's conformance table against Clari's OpenAPI document
/// (Tests/Fixtures/seeds/001_5f3c65e90f1cda6d.txt, a byte-for-byte copy of
/// ../shared/seeds/001_5f3c65e90f1cda6d.txt): every `METHOD /path` under
/// `paths:` has a row, and every `001_5f3c65e90f1cda6d.txt:LINE` the table
/// cites is a line of the file. A forgotten endpoint fails here.
final class ClariConformanceTests: XCTestCase {
    static let root = LuaScriptTests.root
    static let seedName = "001_5f3c65e90f1cda6d.txt"
    static let fixture = root.appendingPathComponent("Tests/Fixtures/seeds/" + seedName)
    static let doc = root.appendingPathComponent("docs/vendors/clari.md")

    /// `METHOD /path` for every operation under `paths:` (a path line such as
    /// `'/export/jobs/{jobId}':` or `/admin/limits:`, then `get:`, `post:`, ...
    /// until the next path line or `components:`).
    static func operations(_ text: String) -> [String] {
        var out: [String] = []
        var inPaths = false
        var path: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if line == "components:" { break }
            let trimmed = line.hasSuffix(":") ? String(line.dropLast()) : nil
            if let t = trimmed {
                let unquoted = t.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
                if unquoted.hasPrefix("/") { path = unquoted; continue }
                if ["get", "post", "put", "patch", "delete"].contains(t), let p = path {
                    out.append(t.uppercased() + " " + p)
                }
            }
        }
        return out
    }

    /// The rows of the table under "## Conformance with Clari's API documentation".
    static func tableRows(_ doc: String) -> [String] {
        guard let start = doc.range(of: "## Conformance with Clari's API documentation") else { return [] }
        let rest = doc[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        return section.split(separator: "\n").map(String.init).filter { $0.hasPrefix("|") && !$0.hasPrefix("|---") }
    }

    func testEveryOperationOfClarisOpenAPIDocumentHasARow() throws {
        let seed = try String(contentsOf: Self.fixture, encoding: .utf8)
        let ops = Self.operations(seed)
        XCTAssertEqual(ops.count, 15, "the operations under paths: \(ops)")
        let rows = Self.tableRows(try String(contentsOf: Self.doc, encoding: .utf8))
        XCTAssertFalse(rows.isEmpty, "docs/vendors/clari.md has no conformance table")
        for op in ops {
            let cell = "`" + op + "`"
            XCTAssertTrue(rows.contains { $0.contains(cell) }, "no row of the conformance table names \(cell)")
        }
    }

    func testEveryCitedSeedLineIsInTheFile() throws {
        let seed = try String(contentsOf: Self.fixture, encoding: .utf8)
        let lines = seed.split(separator: "\n", omittingEmptySubsequences: false).count
        let rows = Self.tableRows(try String(contentsOf: Self.doc, encoding: .utf8))
        let pattern = try NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: Self.seedName) + ":(\\d+)")
        var cited = 0
        for row in rows {
            let ns = row as NSString
            for m in pattern.matches(in: row, range: NSRange(location: 0, length: ns.length)) {
                let n = Int(ns.substring(with: m.range(at: 1))) ?? 0
                cited += 1
                XCTAssertTrue((1...lines).contains(n), "\(Self.seedName):\(n) is not a line of the file (\(lines) lines): \(row)")
            }
        }
        XCTAssertGreaterThanOrEqual(cited, 15, "each row cites the seed's line")
    }

    func testFixtureIsTheSharedSeed() throws {
        let shared = Self.root.deletingLastPathComponent().appendingPathComponent("shared/seeds/" + Self.seedName)
        guard FileManager.default.fileExists(atPath: shared.path) else {
            throw XCTSkip("../shared/seeds/\(Self.seedName) is not beside the repository")
        }
        XCTAssertEqual(try Data(contentsOf: Self.fixture), try Data(contentsOf: shared), "Tests/Fixtures/seeds/\(Self.seedName) differs from the shared seed")
    }
}
