import Foundation
import XCTest

/// `state` (SPEC.md §3, §6) through the real binary: results kept across
/// runs in the --state store, a SIGKILL mid-run, validation, steps and
/// --lock shared by processes, namespaces. Run against SQLite here and
/// against PostgreSQL by PostgresStateTests (the same tests).
class StateTests: XCTestCase {
    var folder: URL!
    var database: String!
    var isPostgres: Bool { false }
    /// The store as moonport shows it (a URL without credentials).
    var shown: String { database }

    /// The store of one test.
    func makeDatabase() throws -> String { folder.appendingPathComponent("db/state.sqlite").path }

    override func setUpWithError() throws {
        folder = try MoonportProcess.temporaryFolder()
        database = try makeDatabase()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs `code` as the script `name` (its namespace is the name without .lua).
    func run(_ code: String, name: String = "script.lua", options: [String] = [],
             file: StaticString = #filePath, line: UInt = #line) throws -> MoonportProcess.Result {
        let script = folder.appendingPathComponent(name)
        try MoonportProcess.write(code, to: script)
        return try MoonportProcess.run(["run", "--state", database] + options + [script.path], directory: folder)
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
        if !isPostgres {
            let attributes = try FileManager.default.attributesOfItem(atPath: database)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        }
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
        try XCTSkipIf(isPostgres, "SQLite only: PostgresStateTests.testADatabaseThatIsDownIsExitFourAndCredentialsAreNeverShown")
        let blocker = folder.appendingPathComponent("file")
        try MoonportProcess.write("not a folder", to: blocker)
        let r = try MoonportProcess.run(
            ["run", "--state", blocker.path + "/state.sqlite", "-e", "require('state').set('a', 1)"], directory: folder)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("state: cannot"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--state"), r.stderr)
    }

    func testNoDatabaseIsCreatedUnlessStateIsUsed() throws {
        try XCTSkipIf(isPostgres, "SQLite only: the default database file")
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
        try XCTSkipIf(isPostgres, "SQLite only: the sandbox's own database file")
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
        let killed = try MoonportProcess.run(["run", "--state", database!, script.path], directory: folder,
                                             interruptAfter: 0.4, signal: SIGKILL)
        XCTAssertNotEqual(killed.status, 0, "it was killed before the end")
        let before = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { Int($0)! }
        XCTAssertFalse(before.isEmpty)
        XCTAssertLessThan(before.count, 40)
        let rerun = try MoonportProcess.run(["run", "--state", database!, script.path], directory: folder)
        XCTAssertEqual(rerun.stdout, "all done\n", rerun.stderr)
        let steps = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { Int($0)! }
        XCTAssertEqual(Set(steps), Set(1...40), "nothing lost")
        XCTAssertLessThanOrEqual(steps.count, 41, "at most the step in flight ran twice: \(steps)")
    }

    // MARK: - many processes sharing the store (SPEC.md §6)

    /// Starts `count` runs of `script` at once; returns their results.
    func runAtOnce(_ count: Int, _ arguments: [String], environment: [String: String] = [:]) -> [MoonportProcess.Result] {
        nonisolated(unsafe) var results = [MoonportProcess.Result?](repeating: nil, count: count)
        let lock = NSLock()
        let folder = self.folder
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let r = try? MoonportProcess.run(arguments, environment: environment, directory: folder)
            lock.withLock { results[i] = r }
        }
        return results.map { $0 ?? MoonportProcess.Result(status: -1, stdout: "", stderr: "did not start") }
    }

    /// Processes that reach the same step at once: one performs it, the
    /// others wait for it and get its results.
    func testProcessesThatReachTheSameStepAtOnceRunItOnceAndAllGetItsResult() throws {
        let log = folder.appendingPathComponent("performed.log").path
        let script = folder.appendingPathComponent("race.lua")
        try MoonportProcess.write("""
            local state, task = require "state", require "task"
            local who = state.once("the step", function()
              local f = assert(io.open("\(log)", "a")); f:write("x\\n"); f:close()
              task.sleep(0.6)
              return "performed by " .. tostring(os.time()) .. "/" .. tostring(math.random(1e9))
            end)
            print(who)
            """, to: script)
        let results = runAtOnce(6, ["run", "--state", database, script.path])
        for r in results { XCTAssertEqual(r.status, 0, r.stderr) }
        XCTAssertEqual(Set(results.map(\.stdout)).count, 1, "every process got the same result: \(results.map(\.stdout))")
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "x\n", "performed exactly once")
    }

    /// A process killed (SIGKILL) while it performs a step releases it: the
    /// next one performs the step without waiting for the dead one.
    func testAStepClaimedByAKilledProcessIsTakenOverAtOnce() throws {
        let marker = folder.appendingPathComponent("started").path
        let script = folder.appendingPathComponent("slow.lua")
        try MoonportProcess.write("""
            local state, task = require "state", require "task"
            print(state.once("slow step", function()
              if os.getenv("FIRST") then
                local f = assert(io.open("\(marker)", "w")); f:close()
                task.sleep(60)
              end
              return "done by the second"
            end))
            """, to: script)
        let first = Process()
        first.executableURL = MoonportProcess.executable
        first.arguments = ["run", "--state", database, script.path]
        first.environment = ProcessInfo.processInfo.environment.merging(["FIRST": "1"]) { $1 }
        first.currentDirectoryURL = folder
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker), "the first run started the step")
        // While it lives, a second run waits (it does not perform the step).
        let waiting = try MoonportProcess.run(["run", "--state", database, script.path], directory: folder,
                                              interruptAfter: 1.0, signal: SIGTERM)
        XCTAssertNotEqual(waiting.status, 0)
        XCTAssertFalse(waiting.stdout.contains("done by the second"), waiting.stdout)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let started = Date()
        let second = try MoonportProcess.run(["run", "--state", database, script.path], directory: folder, timeout: 30)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(second.stdout, "done by the second\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the dead run's claim ended with it")
    }

    /// --lock: a second trigger exits 4 at once; with --lock-wait it runs
    /// once the first ends.
    func testLockLetsOneRunAtATimeAndTheOtherExitsFourOrWaits() throws {
        let script = folder.appendingPathComponent("locked.lua")
        try MoonportProcess.write("""
            local marker = ...
            local f = assert(io.open(marker, "w")); f:close()
            require("task").sleep(1.5)
            print("ran")
            """, to: script)
        let marker = folder.appendingPathComponent("holding").path
        let holder = Process()
        holder.executableURL = MoonportProcess.executable
        holder.arguments = ["run", "--state", database, "--lock", "nightly", script.path, marker]
        holder.currentDirectoryURL = folder
        let out = Pipe()
        holder.standardOutput = out
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let refused = try MoonportProcess.run(["run", "--state", database, "--lock", "nightly", script.path, marker + "2"],
                                              directory: folder)
        XCTAssertEqual(refused.status, 4, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--lock nightly: another run sharing the state store \(shown) holds this lock"),
                      refused.stderr)
        XCTAssertEqual(refused.stdout, "")
        let other = try MoonportProcess.run(["run", "--state", database, "--lock", "other", "-e", "print('other lock')"],
                                            directory: folder)
        XCTAssertEqual(other.stdout, "other lock\n", "another name is another lock: \(other.stderr)")
        let waited = try MoonportProcess.run(["run", "--state", database, "--lock", "nightly", "--lock-wait", "20",
                                              script.path, marker + "3"], directory: folder)
        XCTAssertEqual(waited.status, 0, waited.stderr)
        XCTAssertEqual(waited.stdout, "ran\n")
        holder.waitUntilExit()
        XCTAssertEqual(holder.terminationStatus, 0)
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "ran\n")
        // The lock dies with its holder, even one killed with SIGKILL.
        let killed = Process()
        killed.executableURL = MoonportProcess.executable
        killed.arguments = ["run", "--state", database, "--lock", "nightly", "-e",
                            "local f = assert(io.open('\(marker)-k', 'w')); f:close(); require('task').sleep(60)"]
        killed.currentDirectoryURL = folder
        try killed.run()
        let until = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker + "-k") && Date() < until { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(try MoonportProcess.run(["run", "--state", database, "--lock", "nightly", "-e", "print(1)"],
                                               directory: folder).status, 4, "held while the holder lives")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let after = try MoonportProcess.run(["run", "--state", database, "--lock", "nightly", "-e", "print('free')"],
                                            directory: folder)
        XCTAssertEqual(after.stdout, "free\n", after.stderr)
    }

    /// Keys are namespaced by the script's name: two scripts with the same
    /// key do not share it, unless they choose the same --namespace.
    func testKeysAreNamespacedByScriptNameUnlessANamespaceIsGiven() throws {
        let code = """
            local state = require "state"
            print(state.namespace(), state.once("step 1", function() return arg[0]:match("[^/]+$") end))
            """
        XCTAssertEqual(try run(code, name: "a.lua").stdout, "a\ta.lua\n")
        XCTAssertEqual(try run(code, name: "b.lua").stdout, "b\tb.lua\n", "b.lua does not see a.lua's step")
        XCTAssertEqual(try run(code, name: "a.lua").stdout, "a\ta.lua\n")
        // The same script from another folder (another worker): the same namespace.
        let other = folder.appendingPathComponent("elsewhere/a.lua")
        try MoonportProcess.write(code, to: other)
        let moved = try MoonportProcess.run(["run", "--state", database!, other.path], directory: folder)
        XCTAssertEqual(moved.stdout, "a\ta.lua\n", "the same script name elsewhere shares the steps: \(moved.stderr)")
        let shared = try run(code, name: "c.lua", options: ["--namespace", "a"])
        XCTAssertEqual(shared.stdout, "a\ta.lua\n", "--namespace a shares a.lua's steps: \(shared.stderr)")
        let byEnv = try MoonportProcess.run(["run", "--state", database, folder.appendingPathComponent("c.lua").path],
                                            environment: ["MOONPORT_NAMESPACE": "b"], directory: folder)
        XCTAssertEqual(byEnv.stdout, "b\tb.lua\n", byEnv.stderr)
        let list = try MoonportProcess.run(["state", "--state", database, "list"], directory: folder)
        XCTAssertTrue(list.stdout.contains("NAMESPACE"), list.stdout)
        XCTAssertEqual(list.stdout.split(separator: "\n").filter { $0.hasPrefix("step 1") }.count, 2, "a and b (c.lua chose a, then b): \(list.stdout)")
        let ambiguous = try MoonportProcess.run(["state", "--state", database, "forget", "--yes", "step 1"], directory: folder)
        XCTAssertEqual(ambiguous.status, 2, ambiguous.stderr)
        XCTAssertTrue(ambiguous.stderr.contains("--namespace"), ambiguous.stderr)
        let forget = try MoonportProcess.run(["state", "--state", database, "--namespace", "b", "forget", "--yes", "step 1"],
                                             directory: folder)
        XCTAssertEqual(forget.status, 0, forget.stderr)
        XCTAssertEqual(try run(code, name: "b.lua").stdout, "b\tb.lua\n")
        XCTAssertEqual(try run(code, name: "a.lua").stdout, "a\ta.lua\n", "a's step was kept")
    }
}

/// The same tests against a real PostgreSQL (--state postgres://...).
final class PostgresStateTests: StateTests {
    override var isPostgres: Bool { true }
    override var shown: String { TestPostgres.shown(database) }
    override func makeDatabase() throws -> String { try TestPostgres.freshDatabase() }

    override func tearDown() {
        if let database { TestPostgres.drop(database) }
        super.tearDown()
    }

    /// The server ends the worker's connection (a restart, a failover, an
    /// idle timeout) while a step runs: the next call opens it again, takes
    /// the step's claim again, and the run finishes.
    func testADroppedConnectionIsOpenedAgainAndTheRunFinishes() throws {
        let script = folder.appendingPathComponent("dropped.lua")
        let marker = folder.appendingPathComponent("inside").path
        try MoonportProcess.write("""
            local state, task = require "state", require "task"
            state.set("before", 1)
            local v = state.once("long step", function()
              local f = assert(io.open("\(marker)", "w")); f:close()
              task.sleep(1.5)
              return "ok"
            end)
            state.set("after", 2)
            print(v, state.get("before"), state.get("after"))
            """, to: script)
        let worker = Process()
        worker.executableURL = MoonportProcess.executable
        worker.arguments = ["run", "--state", database, script.path]
        worker.currentDirectoryURL = folder
        let out = Pipe(), err = Pipe()
        worker.standardOutput = out
        worker.standardError = err
        try worker.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        try TestPostgres.psql(database, """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = 'moonport' AND datname = current_database()
            """)
        worker.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(worker.terminationStatus, 0, stderr)
        XCTAssertEqual(stdout, "ok\t1\t2\n", stderr)
    }

    /// A database that is down when the run starts: exit 4, a clear
    /// message, and the URL's credentials nowhere in what moonport prints.
    func testADatabaseThatIsDownIsExitFourAndCredentialsAreNeverShown() throws {
        let port = URLComponents(string: database)!.port!
        let down = "postgres://alice:pw-Secret-4242@127.0.0.1:1/db"
        let r = try MoonportProcess.run(["run", "--state", down, "-e", "print('ran')"], directory: folder)
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertEqual(r.stdout, "", "nothing ran")
        XCTAssertTrue(r.stderr.contains("postgres://127.0.0.1:1/db") && r.stderr.contains("exit code 4"), r.stderr)
        let byEnv = try MoonportProcess.run(["run", "-e", "print('ran')"], environment: ["MOONPORT_STATE": down], directory: folder)
        XCTAssertEqual(byEnv.status, 4, byEnv.stderr)
        let state = try MoonportProcess.run(["state", "--state", down, "list"], directory: folder)
        XCTAssertEqual(state.status, 4, state.stderr)
        // The real database, with credentials in the URL (the test server trusts loopback).
        var parts = URLComponents(string: database)!
        parts.user = "moonport"
        parts.password = "pw-Secret-4242"
        let withPassword = parts.string!
        let used = try MoonportProcess.run(["run", "-v", "--state", withPassword, "-e", """
            local state = require "state"
            state.once("k", function() return 1 end)
            print(state.path())
            error("fail on purpose")
            """], directory: folder)
        XCTAssertEqual(used.stdout, "postgres://127.0.0.1:\(port)\(parts.path)?sslmode=disable\n", used.stderr)
        let list = try MoonportProcess.run(["state", "--state", withPassword, "list"], directory: folder)
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("1 step(s) done"), list.stdout)
        let missing = try MoonportProcess.run(["state", "--state", withPassword, "show", "nope"], directory: folder)
        for out in [r.stdout, r.stderr, byEnv.stderr, state.stdout, state.stderr, used.stdout, used.stderr, list.stdout,
                    list.stderr, missing.stdout, missing.stderr] {
            XCTAssertFalse(out.contains("pw-Secret-4242") || out.contains("alice"), out)
        }
        let wrong = try MoonportProcess.run(["run", "--state", TestPostgres.with(database: "no_such_db", in: database),
                                             "-e", "print(1)"], directory: folder)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("no_such_db"), wrong.stderr)
    }
}
