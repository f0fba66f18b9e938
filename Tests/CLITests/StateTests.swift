import Foundation
import XCTest

/// `state` (SPEC.md §3) through the real binary: results kept across runs
/// in the --state database, a SIGKILL mid-run, validation.
final class StateTests: XCTestCase {
    var folder: URL!
    var database: String { folder.appendingPathComponent("db/state.sqlite").path }

    override func setUpWithError() throws {
        folder = try MoonportProcess.temporaryFolder()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    func run(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> MoonportProcess.Result {
        let script = folder.appendingPathComponent("script-\(UUID().uuidString).lua")
        try MoonportProcess.write(code, to: script)
        return try MoonportProcess.run(["run", "--state", database, script.path], directory: folder)
    }

    func testOnceRunsOnlyTheFirstTimeAcrossRunsAndKeepsTheResultsExactly() throws {
        let code = """
            local state = require "state"
            local json = require "json"
            local a, b, c, d = state.once("export 2024_Q1", function()
              print("ran")
              return {id = "job-1", parts = json.array({}), meta = json.object({}), n = 3}, nil, "three", 4.5
            end)
            print(json.encode(a, {sort_keys = true}), b, c, d, math.type(a.n))
            """
        let first = try run(code)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, "ran\n{\"id\":\"job-1\",\"meta\":{},\"n\":3,\"parts\":[]}\tnil\tthree\t4.5\tinteger\n")
        let second = try run(code)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(second.stdout, "{\"id\":\"job-1\",\"meta\":{},\"n\":3,\"parts\":[]}\tnil\tthree\t4.5\tinteger\n",
                       "not run again; the same values, [] and {} kept apart")
        let attributes = try FileManager.default.attributesOfItem(atPath: database)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testAFailedOnceStoresNothingAndRunsAgain() throws {
        let code = """
            local state = require "state"
            local runs = (state.get("runs") or 0) + 1
            state.set("runs", runs)
            local v = state.once("flaky", function()
              if runs == 1 then error("the vendor said no") end
              return "ok on run " .. runs
            end)
            print(v)
            """
        let first = try run(code)
        XCTAssertEqual(first.status, 1)
        XCTAssertTrue(first.stderr.contains("the vendor said no"), first.stderr)
        let second = try run(code)
        XCTAssertEqual(second.stdout, "ok on run 2\n", second.stderr)
        XCTAssertEqual(try run(code).stdout, "ok on run 2\n")
    }

    func testGetSetDeleteKeysAndForget() throws {
        let r = try run("""
            local state = require "state"
            state.set("cursor:a", {page = 3})
            state.set("cursor:b", "x")
            state.set("other", true)
            local before = table.concat(state.keys("cursor:"), ",")
            state.set("cursor:b", nil)
            local gone = state.get("cursor:b")
            local existed, again = state.delete("other"), state.delete("other")
            local n = 0
            state.once("step", function() n = n + 1 end)
            state.forget("step")
            state.once("step", function() n = n + 1 end)
            print(before, state.get("cursor:a").page, gone, existed, again, table.concat(state.keys(), ","), n)
            """)
        XCTAssertEqual(r.stdout, "cursor:a,cursor:b\t3\tnil\ttrue\tfalse\tcursor:a\t2\n", r.stderr)
    }

    func testOnceAskedForItsOwnKeyFromInsideItsFnIsAnErrorNotAHang() throws {
        let r = try run("""
            local state = require "state"
            local ok, e = pcall(state.once, "outer", function() return state.once("outer", function() return 1 end) end)
            print(ok, e.kind, state.once("outer", function() return "ran later" end))
            """)
        XCTAssertEqual(r.stdout, "false\tusage\tran later\n", r.stderr)
    }

    func testConcurrentOnceWithTheSameKeyRunsOnce() throws {
        let r = try run("""
            local state = require "state"
            local task = require "task"
            local calls = 0
            local results = task.map({1, 2, 3, 4, 5}, function(i)
              return state.once("shared", function() calls = calls + 1; task.sleep(0.1); return "first:" .. i end)
            end, {concurrency = 5})
            print(calls, table.concat(results, ","))
            """)
        XCTAssertEqual(r.stdout, "1\tfirst:1,first:1,first:1,first:1,first:1\n", r.stderr)
    }

    func testRegisteredClassesComeBackAlive() throws {
        let code = """
            local state = require "state"
            local Job = {}
            Job.__index = Job
            function Job:describe() return self.vendor .. " job " .. self.id end
            state.register_class("test.job", Job, {
              dump = function(job) return {id = job.id, vendor = job.vendor} end,
              load = function(t) return setmetatable(t, Job) end,
            })
            local job = state.once("job", function() return setmetatable({id = "42", vendor = "clari"}, Job) end)
            print(getmetatable(job) == Job, job:describe())
            """
        XCTAssertEqual(try run(code).stdout, "true\tclari job 42\n")
        XCTAssertEqual(try run(code).stdout, "true\tclari job 42\n")
        let unknown = try run("""
            local state = require "state"
            print(pcall(state.once, "job", function() return 0 end))
            """)
        XCTAssertTrue(unknown.stdout.hasPrefix("false\t"), unknown.stdout)
        XCTAssertTrue(unknown.stdout.contains("'test.job'"), unknown.stdout)
    }

    func testBadArgumentsAreValidationErrors() throws {
        let r = try run("""
            local state = require "state"
            local kinds = {}
            for _, f in ipairs{
              function() state.set(42, 1) end, function() state.get("") end,
              function() state.set("f", function() end) end, function() state.once("k", "not a function") end,
              function() local t = {}; t.self = t; state.set("cycle", t) end,
            } do
              local ok, e = pcall(f)
              kinds[#kinds + 1] = (not ok) and e.kind or "no error"
            end
            print(table.concat(kinds, ","), state.get("f"))
            """)
        XCTAssertEqual(r.stdout, "validation,validation,validation,validation,validation\tnil\n", r.stderr)
    }

    func testAnUnusableDatabaseIsAClearError() throws {
        let blocker = folder.appendingPathComponent("file")
        try MoonportProcess.write("not a folder", to: blocker)
        let r = try MoonportProcess.run(
            ["run", "--state", blocker.path + "/state.sqlite", "-e", "require('state').set('a', 1)"], directory: folder)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("state: cannot"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--state"), r.stderr)
    }

    func testNoDatabaseIsCreatedUnlessStateIsUsed() throws {
        let r = try MoonportProcess.run(["run", "-e", "print(1)"], directory: folder)
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent(".moonport").path))
        let used = try MoonportProcess.run(["run", "-e", "require('state').set('a', 1)"], directory: folder)
        XCTAssertEqual(used.status, 0, used.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(".moonport/state.sqlite").path),
                      "the default database is .moonport/state.sqlite under the current folder")
    }

    /// Each sandbox run has a fresh simulator, so it keeps its state apart
    /// from real runs and from other sandbox runs (whose simulator ids are
    /// gone), in a database removed when it ends; --state still chooses one.
    func testASandboxRunKeepsItsOwnStateApartFromRealAndEarlierRuns() throws {
        let tmp = folder.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let code = "local s = require('state'); print(s.get('k')); s.set('k', 'sandbox'); print(s.path())"
        let first = try MoonportProcess.run(["run", "--sandbox", "-e", code], environment: ["TMPDIR": tmp.path], directory: folder)
        XCTAssertEqual(first.status, 0, first.stderr)
        let lines = first.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "nil")
        XCTAssertTrue(lines.last?.hasPrefix(tmp.path + "/moonport-sandbox-") == true, first.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "the run's state is removed at its end")
        // Also when the script ends the process itself.
        let exited = try MoonportProcess.run(["run", "--sandbox", "-e", "require('state').set('k', 1); os.exit(3)"],
                                             environment: ["TMPDIR": tmp.path], directory: folder)
        XCTAssertEqual(exited.status, 3, exited.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "os.exit leaves no state behind")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent(".moonport").path))
        let second = try MoonportProcess.run(["run", "--sandbox", "-e", code], environment: ["TMPDIR": tmp.path], directory: folder)
        XCTAssertTrue(second.stdout.hasPrefix("nil\n"), "a second sandbox run starts afresh: \(second.stdout)")
        let real = try MoonportProcess.run(["run", "-e", "local s = require('state'); print(s.path(), s.get('k'))"], directory: folder)
        XCTAssertEqual(real.stdout, ".moonport/state.sqlite\tnil\n", real.stderr)
        // An explicit --state is kept, sandbox or not.
        let kept = folder.appendingPathComponent("kept.sqlite").path
        _ = try MoonportProcess.run(["run", "--sandbox", "--state", kept, "-e", code], directory: folder)
        let again = try MoonportProcess.run(["run", "--sandbox", "--state", kept, "-e", code], directory: folder)
        XCTAssertEqual(again.stdout, "sandbox\n\(kept)\n", again.stderr)
    }

    /// A run killed with SIGKILL part-way, then run again: every step whose
    /// once() returned before the kill is not run again; at most the step in
    /// flight runs twice; the rerun finishes all of them.
    func testARunKilledMidwayResumesWhereItStopped() throws {
        let log = folder.appendingPathComponent("steps.log").path
        let script = folder.appendingPathComponent("steps.lua")
        try MoonportProcess.write("""
            local state = require "state"
            local task = require "task"
            for i = 1, 40 do
              state.once("step " .. i, function()
                local f = assert(io.open("\(log)", "a"))
                f:write(i, "\\n")
                f:close()
                task.sleep(0.02)
                return i
              end)
            end
            print("all done")
            """, to: script)
        let killed = try MoonportProcess.run(["run", "--state", database, script.path], directory: folder,
                                             interruptAfter: 0.4, signal: SIGKILL)
        XCTAssertNotEqual(killed.status, 0, "it was killed before the end")
        let before = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { Int($0)! }
        XCTAssertFalse(before.isEmpty)
        XCTAssertLessThan(before.count, 40)
        let rerun = try MoonportProcess.run(["run", "--state", database, script.path], directory: folder)
        XCTAssertEqual(rerun.stdout, "all done\n", rerun.stderr)
        let steps = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { Int($0)! }
        XCTAssertEqual(Set(steps), Set(1...40), "nothing lost")
        XCTAssertLessThanOrEqual(steps.count, 41, "at most the step in flight ran twice: \(steps)")
    }
}
