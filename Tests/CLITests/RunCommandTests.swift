import Foundation
import XCTest

final class RunCommandTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try MoonportProcess.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes a script into the test folder; returns its relative path
    /// (Lua shortens long chunk names, so tests run from the folder).
    private func script(_ name: String, _ text: String) throws -> String {
        try MoonportProcess.write(text, to: dir.appendingPathComponent(name))
        return name
    }

    private func run(_ arguments: [String], stdin: String? = nil, interruptAfter: TimeInterval? = nil) throws -> MoonportProcess.Result {
        try MoonportProcess.run(arguments, stdin: stdin, directory: dir, interruptAfter: interruptAfter)
    }

    func testVersionMatchesTheModuleField() throws {
        let cli = try MoonportProcess.run(["--version"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let lua = try MoonportProcess.run(["run", "-e", "io.write(require('moonport').version)"])
        XCTAssertEqual(cli.stdout, "moonport \(lua.stdout) (Lua 5.4)\n")
    }

    func testRunHelpShowsHelpWhileLaterHelpGoesToTheScript() throws {
        let help = try MoonportProcess.run(["run", "--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.contains("USAGE: moonport run"), help.stdout)
        let script = dir.appendingPathComponent("args.lua")
        try MoonportProcess.write("print(...)", to: script)
        let passed = try MoonportProcess.run(["run", script.path, "--help"])
        XCTAssertEqual(passed.stdout, "--help\n", passed.stderr)
    }

    func testRunSetsArgAsTheStandaloneInterpreterDoes() throws {
        let path = try script("args.lua", "print(#arg, arg[0] == ..., arg[1], arg[2], select('#', ...), ...)")
        let r = try run(["run", path, "one", "-two"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // `...` holds the script arguments, so `arg[0] == ...` compares with "one".
        XCTAssertEqual(r.stdout, "2\tfalse\tone\t-two\t2\tone\t-two\n")
        // Words after the script are the script's, on the fast path and through the parser alike
        // (moonport's own options there are refused: ProductionTests).
        let plain = try run(["run", path, "--help", "-x"])
        let parsed = try run(["run", "-I", ".", path, "--help", "-x"])
        XCTAssertEqual(plain.stdout, "2\tfalse\t--help\t-x\t2\t--help\t-x\n", plain.stderr)
        XCTAssertEqual(parsed.stdout, plain.stdout, parsed.stderr)
    }

    func testRunChunkFirstThenScript() throws {
        let path = try script("uses_x.lua", "print(x * 2)")
        let r = try run(["run", "-e", "x = 21", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "42\n")
        let only = try run(["run", "-e", "print(1 + 1)", "-e", "print('second')"])
        XCTAssertEqual(only.stdout, "2\nsecond\n")
    }

    func testScriptErrorExitsOneWithFileLineAndTraceback() throws {
        let path = try script("fails.lua", """
            local function parse(x)
              error("cannot parse " .. x)
            end
            local function load_rows()
              parse("row 7")
            end
            load_rows()
            """)
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("moonport: \(path):2: cannot parse row 7\nstack traceback:\n"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(path):2: in upvalue 'parse'") || r.stderr.contains("\(path):2: in local 'parse'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(path):5: in local 'load_rows'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(path):7: in main chunk"), r.stderr)
    }

    func testErrorObjectsPrintTheirMessageAndPosition() throws {
        let path = try script("validation.lua", """
            local moonport = require "moonport"
            local function check(n)
              if n < 0 then error(moonport.error("validation", "n must be positive, got " .. n)) end
            end
            check(-1)
            """)
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("moonport: \(path):3: n must be positive, got -1\nstack traceback:"), r.stderr)
    }

    func testExitCodes() throws {
        XCTAssertEqual(try run(["run", "-e", "os.exit(3)"]).status, 3)
        XCTAssertEqual(try run(["run", "-e", "os.exit(true)"]).status, 0)
        let missing = try run(["run", dir.appendingPathComponent("nope.lua").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("cannot open"), missing.stderr)
        XCTAssertEqual(try run(["run"]).status, 2, "no script: usage")
        XCTAssertEqual(try run(["frobnicate"]).status, 2, "unknown command: usage")
        let syntax = try run(["run", try script("syntax.lua", "local = 1")])
        XCTAssertEqual(syntax.status, 1)
        XCTAssertTrue(syntax.stderr.contains("syntax.lua:1: <name> expected near '='"), syntax.stderr)
    }

    func testScriptFromStdin() throws {
        let r = try run(["run", "-"], stdin: "print('from stdin', 6 * 7)")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "from stdin\t42\n")
    }

    func testCtrlCInterruptsRunningCodeAndExits130() throws {
        let r = try run(["run", "-e", "print('started') io.stdout:flush() while true do end"], interruptAfter: 0.5)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
    }

    func testCtrlCWhileTasksWaitCancelsThemAndExits130() throws {
        let start = Date()
        let r = try run(["run", "-e", """
            local task = require "task"
            local hs = {}
            for i = 1, 10 do hs[i] = task.spawn(task.sleep, 60) end
            for i = 1, 10 do task.wait(hs[i]) end
            """], interruptAfter: 0.5)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "in-flight waits were cancelled, not waited out")
    }

    func testLogWritesLevelAndTimeToStderrAndDebugOnlyWithVerbose() throws {
        let code = "local log = require 'log' log.info('rows: %d', 12) log.debug('detail %s', 'x') log.warn({}) log.error('plain')"
        let quiet = try run(["run", "-e", code])
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        let lines = quiet.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, quiet.stderr)
        XCTAssertNotNil(lines[0].range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  rows: 12$"#, options: .regularExpression), lines[0])
        XCTAssertTrue(lines[1].contains("WARN  table: 0x"), lines[1])
        XCTAssertTrue(lines[2].hasSuffix("ERROR plain"), lines[2])
        XCTAssertEqual(quiet.stdout, "")
        let verbose = try run(["run", "-v", "-e", code])
        XCTAssertTrue(verbose.stderr.contains("DEBUG detail x"), verbose.stderr)
        let bad = try run(["run", "-e", "require('log').info('%d', 'x')"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("log.info: bad format"), bad.stderr)
    }
}

final class CheckCommandTests: XCTestCase {
    func testCheckReportsSyntaxErrorsAsFileLineMessage() throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.lua"), bad = dir.appendingPathComponent("bad.lua")
        try MoonportProcess.write("error('never runs')\nreturn 1\n", to: good)
        try MoonportProcess.write("local x = 1\nif x then\n  print(x)\n", to: bad)
        let ok = try MoonportProcess.run(["check", "good.lua"], directory: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout + ok.stderr, "", "a good script is silent and is not run")
        let r = try MoonportProcess.run(["check", "good.lua", "bad.lua"], directory: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "bad.lua:4: 'end' expected (to close 'if' at line 2) near <eof>\n")
    }
}
