import Foundation
import XCTest

/// "Every example in the docs is run by the tests": each ```lua block of
/// README.md and of every Markdown file under docs/ is written to a file of
/// its own and run with `moonport run --sandbox` in a fresh temporary folder,
/// as an operator would run it after copying it. A block must exit 0 and must
/// not print a credential. Blocks that are not runnable scripts (shell lines,
/// TOML, sample output) use another fence (```sh, ```toml, ```text).
/// scripts/check-doc-examples.sh runs the same blocks with a binary that is
/// already built.
final class DocExamplesTests: XCTestCase {
    static let root = LuaScriptTests.root
    static let vendors = ["clari", "claravine", "quantive", "cordial", "mediarithmics"]

    /// The simulator's dummy credentials: no example may print them.
    static let secrets = [
        "sandbox-clari-api-key", "sandbox-clari-partner-key", "sandbox-claravine-api-key",
        "sandbox-claravine-api-secret", "sandbox-quantive-api-token", "sandbox-cordial-api-key",
        "sandbox-mediarithmics-api-token",
    ]

    struct Block {
        /// The Markdown file, relative to the repository.
        var file: String
        /// The line of the opening fence (1-based).
        var line: Int
        var code: String
    }

    /// README.md, then every .md file under docs/ (sorted), relative to the repository.
    static func markdownFiles() throws -> [String] {
        let docs = root.appendingPathComponent("docs")
        let pages = try FileManager.default.subpathsOfDirectory(atPath: docs.path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        return ["README.md"] + pages
    }

    /// A line without its trailing blanks (and a CR).
    static func trimmedRight(_ line: Substring) -> String {
        var s = line
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return String(s)
    }

    /// The ```lua blocks of a file: from a line "```lua" to the next line "```"
    /// (trailing blanks allowed), as scripts/check-doc-examples.sh reads them.
    static func luaBlocks(file: String) throws -> [Block] {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        var blocks: [Block] = []
        var open: Block?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = trimmedRight(raw)
            if var block = open {
                if line == "```" {
                    blocks.append(block)
                    open = nil
                } else {
                    block.code += String(raw) + "\n"
                    open = block
                }
            } else if line == "```lua" {
                open = Block(file: file, line: index + 1, code: "")
            }
        }
        if let block = open { XCTFail("\(file):\(block.line): the ```lua block is never closed") }
        return blocks
    }

    /// Runs one block in a fresh folder, with the simulator 20 times faster.
    func runExample(_ block: Block) throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("example.lua")
        try MoonportProcess.write(block.code, to: script)
        let r = try MoonportProcess.run(
            ["run", "--sandbox", "--state", dir.appendingPathComponent("state.sqlite").path, script.path],
            environment: ["MOONPORT_SIM_SPEED": "20", "TMPDIR": dir.path], directory: dir, timeout: 300)
        let output = r.stdout + r.stderr
        XCTAssertEqual(r.status, 0, "\(block.file):\(block.line): the example failed (exit \(r.status)):\n\(output)")
        for secret in Self.secrets where output.contains(secret) {
            XCTFail("\(block.file):\(block.line): the example printed the credential \(secret):\n\(output)")
        }
    }

    private func runBlocks(of files: [String]) throws {
        var count = 0
        for file in files {
            for block in try Self.luaBlocks(file: file) {
                count += 1
                try runExample(block)
            }
        }
        XCTAssertGreaterThan(count, 0, "no ```lua block in \(files)")
    }

    func testTheReadmeExamplesRun() throws {
        try runBlocks(of: ["README.md"])
    }

    func testTheDocsExamplesRun() throws {
        try runBlocks(of: Self.markdownFiles().filter { $0 != "README.md" })
    }

    func testEveryVendorPageHasARunnableExample() throws {
        for vendor in Self.vendors {
            let file = "docs/vendors/\(vendor).md"
            guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(file).path) else {
                XCTFail("\(file) is missing")
                continue
            }
            XCTAssertFalse(try Self.luaBlocks(file: file).isEmpty, "\(file) has no ```lua example")
        }
    }

    /// Every public function of a vendor module (and of quantive.goals) is
    /// named on the vendor's page, so a new function cannot go undocumented.
    func testEveryVendorFunctionIsOnItsPage() throws {
        let chunk = """
            for _, v in ipairs{"clari", "claravine", "quantive", "cordial", "mediarithmics"} do
              local m = require(v)
              for k, x in pairs(m) do
                if type(x) == "function" and not k:match("^_") and k ~= "response_error" then print(v, v .. "." .. k) end
              end
              if type(m.goals) == "table" then
                for k, x in pairs(m.goals) do if type(x) == "function" then print(v, v .. ".goals." .. k) end end
              end
            end
            """
        let r = try MoonportProcess.run(["run", "-e", chunk])
        XCTAssertEqual(r.status, 0, r.stderr)
        var pages: [String: String] = [:]
        var checked = 0
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: "\t").map(String.init)
            guard parts.count == 2 else { continue }
            let (vendor, name) = (parts[0], parts[1])
            if pages[vendor] == nil {
                pages[vendor] = (try? String(contentsOf: Self.root.appendingPathComponent("docs/vendors/\(vendor).md"),
                                              encoding: .utf8)) ?? ""
            }
            let page = pages[vendor] ?? ""
            let named = ["(", "{", "`"].contains { page.contains(name + $0) }
            XCTAssertTrue(named, "docs/vendors/\(vendor).md does not document \(name)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20, "too few vendor functions listed:\n\(r.stdout)")
    }
}
