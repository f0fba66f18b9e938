import Foundation
import XCTest

/// A workflow as an operator writes it: a Clari export inside state.once, a
/// cursor kept with state.set.
private let exportWorkflow = """
    local clari, state = require "clari", require "state"
    local job = state.once("export forecast 2024_Q1", function()
      return clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1", format = "csv"})
    end)
    state.set("cursor", {page = 3, api_key = "cursor-secret-value-1234"})
    job:wait({interval = 0.2})
    local w = job:download("forecast.csv")
    print("rows", w.rows)
    """

/// `moonport state list | show | forget | clear` on the state a real run left,
/// and the error of a stored Job the vendor no longer knows.
/// (PostgresStateCommandTests runs them against PostgreSQL.)
class StateCommandTests: XCTestCase {
    var folder: URL!
    var database: String!
    /// The store as moonport shows it, and as a shell word.
    var shown: String { database }
    var shownWord: String { database }
    func makeDatabase() throws -> String { folder.appendingPathComponent("db/state.sqlite").path }
    let env = ["MOONPORT_SIM_SPEED": "50"]

    override func setUpWithError() throws {
        folder = try MoonportProcess.temporaryFolder()
        database = try makeDatabase()
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func script(_ code: String) throws -> String {
        let url = folder.appendingPathComponent("workflow.lua")
        try MoonportProcess.write(code, to: url)
        return url.path
    }

    func state(_ args: [String], stdin: String? = nil) throws -> MoonportProcess.Result {
        try MoonportProcess.run(["state", "--state", database] + args, stdin: stdin, directory: folder)
    }

    func testListShowForgetAndClearOnTheStateARunLeft() throws {
        let run = try MoonportProcess.run(["run", "--sandbox", "--state", database, try script(exportWorkflow)],
                                          environment: env, directory: folder)
        XCTAssertEqual(run.status, 0, run.stderr)

        let list = try state(["list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("1 step(s) done (state.once), 1 value(s) (state.set)"), list.stdout)
        let jobLine = list.stdout.split(separator: "\n").first { $0.hasPrefix("export forecast 2024_Q1") }
        XCTAssertNotNil(jobLine, list.stdout)
        XCTAssertTrue(jobLine?.contains("once") == true && jobLine?.contains("clari forecast job ") == true, list.stdout)
        XCTAssertNotNil(jobLine?.range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d"#, options: .regularExpression), "when it was stored: \(list.stdout)")
        XCTAssertTrue(list.stdout.contains("cursor") && list.stdout.contains("\"page\":3"), list.stdout)
        XCTAssertFalse(list.stdout.contains("cursor-secret-value-1234"), "a secret-looking field is masked: \(list.stdout)")

        let show = try state(["show", "export forecast 2024_Q1"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("state.once results") && show.stdout.contains("\"vendor\" : \"clari\""), show.stdout)
        XCTAssertTrue(show.stdout.contains("job: clari forecast job "), show.stdout)
        let showCursor = try state(["show", "cursor"])
        XCTAssertTrue(showCursor.stdout.contains("\"api_key\" : \"***\""), showCursor.stdout)
        XCTAssertFalse(showCursor.stdout.contains("cursor-secret-value-1234"), showCursor.stdout)
        let unknown = try state(["show", "no such key"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("nothing stored under 'no such key'"), unknown.stderr)

        // Not a terminal and no --yes: refused, nothing changed.
        let refused = try state(["forget", "export forecast 2024_Q1"])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--yes"), refused.stderr)
        XCTAssertTrue(try state(["list"]).stdout.contains("export forecast 2024_Q1"))

        let forget = try state(["forget", "--yes", "export forecast 2024_Q1"])
        XCTAssertEqual(forget.status, 0, forget.stderr)
        XCTAssertTrue(forget.stdout.contains("forgot 'export forecast 2024_Q1'"), forget.stdout)
        let after = try state(["list"])
        XCTAssertFalse(after.stdout.contains("export forecast 2024_Q1"), after.stdout)
        XCTAssertTrue(after.stdout.contains("cursor"), "the other key is kept: \(after.stdout)")

        // Lua sees the once keys too (state.list), and no longer the forgotten one
        // (in the workflow's namespace: its script's name).
        let lua = try MoonportProcess.run(["run", "--state", database, "--namespace", "workflow", "-e",
            "for _, e in ipairs(require('state').list()) do print(e.kind, e.key) end"], directory: folder)
        XCTAssertEqual(lua.stdout, "set\tcursor\n", lua.stderr)

        XCTAssertEqual(try state(["clear"]).status, 2, "clear asks too")
        let clear = try state(["clear", "--yes"])
        XCTAssertEqual(clear.status, 0, clear.stderr)
        XCTAssertTrue(try state(["list"]).stdout.contains("(nothing stored)"))
    }

    func testStateListInLuaSeesOnceAndSetKeys() throws {
        let r = try MoonportProcess.run(["run", "--state", database, "-e", """
            local state = require "state"
            state.once("step b", function() return 1 end)
            state.set("a value", true)
            state.set("step b", "both")
            for _, e in ipairs(state.list()) do print(e.kind, e.key, #e.stored_at > 10) end
            print(#state.list("step"), #state.keys())
            """], directory: folder)
        XCTAssertEqual(r.stdout, "set\ta value\ttrue\nset\tstep b\ttrue\nonce\tstep b\ttrue\n2\t2\n", r.stderr)
    }

    /// A step a run stopped inside: its journal shows as an unfinished step
    /// (the records themselves with --all), and forget removes them too.
    func testAnUnfinishedStepShowsAsSuchAndForgetRemovesItsJournal() throws {
        let r = try MoonportProcess.run(["run", "--state", database, "-e", """
            local state = require "state"
            pcall(state.once, "load parts", function()
              state._journal_set({once = "load parts"}, "claravine data Weekly", {started_at = 1})
              error("killed here")
            end)
            """], directory: folder)
        XCTAssertEqual(r.status, 0, r.stderr)
        let list = try state(["list"])
        XCTAssertTrue(list.stdout.contains("1 step(s) unfinished"), list.stdout)
        XCTAssertTrue(list.stdout.contains("load parts") && list.stdout.contains("once (unfinished)"), list.stdout)
        XCTAssertFalse(list.stdout.contains("claravine data Weekly"), "journal records only with --all: \(list.stdout)")
        let all = try state(["list", "--all"])
        XCTAssertTrue(all.stdout.contains("claravine data Weekly") && all.stdout.contains("\"started_at\":1"), all.stdout)
        XCTAssertEqual(try state(["forget", "--yes", "load parts"]).status, 0)
        XCTAssertTrue(try state(["list", "--all"]).stdout.contains("(nothing stored)"))
    }

    func testAMissingDatabaseIsNeverCreated() throws {
        try XCTSkipIf(database.hasPrefix("postgres"), "SQLite only: a file that is not created")
        let path = folder.appendingPathComponent("none/state.sqlite").path
        let list = try MoonportProcess.run(["state", "--state", path, "list"], directory: folder)
        XCTAssertEqual(list.status, 0)
        XCTAssertTrue(list.stdout.contains("no state database at \(path)"), list.stdout)
        let forget = try MoonportProcess.run(["state", "--state", path, "forget", "--yes", "x"], directory: folder)
        XCTAssertEqual(forget.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("none").path))
        // $MOONPORT_STATE names the database when --state is not given.
        let byEnv = try MoonportProcess.run(["state", "list"], environment: ["MOONPORT_STATE": path], directory: folder)
        XCTAssertTrue(byEnv.stdout.contains("no state database at \(path)"), byEnv.stdout)
    }

    /// A stored Job the vendor no longer knows (here: made by a simulator
    /// that has since stopped): the error names the key, the database and
    /// the forget command; running that command lets the next run succeed.
    func testAStaleJobNamesTheStateKeyTheDatabaseAndTheForgetCommand() throws {
        let path = try script(exportWorkflow)
        let first = try MoonportProcess.run(["run", "--sandbox", "--state", database, path], environment: env, directory: folder)
        XCTAssertEqual(first.status, 0, first.stderr)
        let stale = try MoonportProcess.run(["run", "--sandbox", "--state", database, path], environment: env, directory: folder)
        XCTAssertEqual(stale.status, 1, stale.stderr)
        XCTAssertTrue(stale.stderr.contains("stored by state.once(\"export forecast 2024_Q1\") in the state database \(shown)"), stale.stderr)
        let command = "moonport state --state \(shownWord) forget 'export forecast 2024_Q1'"
        XCTAssertTrue(stale.stderr.contains(command), stale.stderr)

        let forget = try MoonportProcess.run(["state", "--state", database, "forget", "--yes", "export forecast 2024_Q1"], directory: folder)
        XCTAssertEqual(forget.status, 0, forget.stderr)
        let again = try MoonportProcess.run(["run", "--sandbox", "--state", database, path], environment: env, directory: folder)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.hasPrefix("rows\t"), again.stdout)
    }
}

/// `moonport auth check` against `moonport sim`.
final class AuthCheckTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try MoonportProcess.temporaryFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// `moonport sim` as a child process; returns it and its export lines.
    static func startSim() throws -> (Process, [String: String]) {
        let p = Process()
        p.executableURL = MoonportProcess.executable
        p.arguments = ["sim", "--port", "0"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var env: [String: String] = [:]
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("Ctrl-C") && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let kv = line.dropFirst(7).split(separator: "=", maxSplits: 1)
            env[String(kv[0])] = String(kv[1])
        }
        return (p, env)
    }

    func testOneGoodOneWrongOneMissingCredentialAgainstMoonportSim() throws {
        let (sim, simEnv) = try Self.startSim()
        defer { sim.interrupt(); sim.waitUntilExit() }
        XCTAssertNotNil(simEnv["CLARI_BASE_URL"])
        var env = simEnv
        let wrong = "wrong-claravine-key-\(UUID().uuidString.prefix(8))"
        env["CLARAVINE_API_KEY"] = wrong
        env["CORDIAL_API_KEY"] = ""  // missing
        env["HOME"] = folder.path
        env["XDG_CONFIG_HOME"] = ""
        let r = try MoonportProcess.run(["auth", "check", "clari", "claravine", "cordial"], environment: env, directory: folder)
        XCTAssertEqual(r.status, 3, "a refused and a missing credential: exit 3\n\(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("clari ") && $0.contains("OK") && $0.contains("GET /v4/admin/limits") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("claravine ") && $0.contains("REFUSED") && $0.contains("401") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("cordial ") && $0.contains("MISSING") && $0.contains("CORDIAL_API_KEY") }, r.stdout)
        XCTAssertTrue(r.stdout.contains("CLARI_API_KEY            environment variable CLARI_API_KEY"), r.stdout)
        XCTAssertTrue(r.stdout.contains("CORDIAL_API_KEY          not set"), r.stdout)
        XCTAssertTrue(r.stdout.contains("base URL                 \(simEnv["CLARI_BASE_URL"]!) (environment variable CLARI_BASE_URL)"), r.stdout)
        for secret in [wrong, simEnv["CLARI_API_KEY"]!, simEnv["CLARI_PARTNER_KEY"]!, simEnv["CLARAVINE_API_SECRET"]!] {
            XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret), "a credential's value was shown: \(r.stdout)\(r.stderr)")
        }
    }

    func testAProfileIsNamedAsTheSourceAndAnUnreachableVendorExitsFour() throws {
        let (sim, simEnv) = try Self.startSim()
        defer { sim.interrupt(); sim.waitUntilExit() }
        let config = folder.appendingPathComponent("config")
        let file = config.appendingPathComponent("moonport/credentials.toml")
        try MoonportProcess.write("[default.cordial]\napi_key = \"\(simEnv["CORDIAL_API_KEY"]!)\"\n", to: file)
        chmod(file.path, 0o600)
        var env = simEnv
        env["CORDIAL_API_KEY"] = ""
        env["XDG_CONFIG_HOME"] = config.path
        let ok = try MoonportProcess.run(["auth", "check", "cordial"], environment: env, directory: folder)
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("profile 'default' in \(file.path)"), ok.stdout)
        XCTAssertFalse(ok.stdout.contains(simEnv["CORDIAL_API_KEY"]!), ok.stdout)

        env["CLARI_BASE_URL"] = "http://127.0.0.1:9"  // nothing listens there
        let down = try MoonportProcess.run(["auth", "check", "clari", "cordial"], environment: env, directory: folder)
        XCTAssertEqual(down.status, 4, down.stdout + down.stderr)
        XCTAssertTrue(down.stdout.contains("UNREACHABLE"), down.stdout)
    }

    func testUnderSandbox() throws {
        let r = try MoonportProcess.run(["auth", "check", "--sandbox", "clari", "quantive"], environment: ["HOME": folder.path],
                                        directory: folder)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.contains(" OK ") }.count, 2, r.stdout)
        let bad = try MoonportProcess.run(["auth", "check", "nosuchvendor"], directory: folder)
        XCTAssertEqual(bad.status, 2)
    }
}

/// `moonport soak`: a good workflow passes; one that submits outside
/// state.once makes a duplicate when killed; one that is not deterministic
/// differs from the reference.
final class SoakTests: XCTestCase {
    var folder: URL!
    let env = ["MOONPORT_SIM_SPEED": "50"]
    override func setUpWithError() throws { folder = try MoonportProcess.temporaryFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func soak(_ code: String, _ options: [String]) throws -> MoonportProcess.Result {
        let url = folder.appendingPathComponent("script.lua")
        try MoonportProcess.write(code, to: url)
        return try MoonportProcess.run(["soak"] + options + [url.path], environment: env.merging(["TMPDIR": folder.path]) { $1 },
                                       directory: folder, timeout: 240)
    }

    func testAWorkflowWithStateOncePassesFaultsAndKills() throws {
        let r = try soak(exportWorkflow, ["--seeds", "2", "--kill", "2"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("| run | seed | faults injected | outcome | duplicates | time |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("5/5 runs matched the reference"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| faults | 2 |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| kill 2 | kill at "), r.stdout)
    }

    func testASubmitOutsideStateOnceMakesADuplicateWhenKilled() throws {
        let r = try soak("""
            local claravine, task = require "claravine", require "task"
            local rows = {}
            for i = 1, 20 do rows[i] = {campaign_id = "c" .. i, campaign_name = "Campaign " .. i, channel = "email"} end
            local jobs = claravine.submit("data", "ds-campaigns", {name = "Weekly campaigns",
              fields = {"campaign_id", "campaign_name", "channel"}, rows = rows})
            task.sleep(1.5)
            claravine.poll(jobs, {interval = 0.2})
            print("submitted", #jobs)
            """, ["--seeds", "0", "--kill", "2"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("duplicate(s) at the simulator: claravine transactions"), r.stdout)
        XCTAssertTrue(r.stdout.contains("FAILED kill "), r.stdout)
    }

    func testANonDeterministicScriptDiffersFromTheReference() throws {
        let r = try soak("""
            local quantive = require "quantive"
            local n = 0
            for _ in quantive.goals.list{} do n = n + 1 end
            print("goals", n)
            print("run", os.clock(), math.random())
            """, ["--seeds", "1", "--faults", "500:0.1"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("FAILED faults (1): stdout differs from the reference run: line 2"), r.stdout)
    }

    func testOutputFilesAreComparedAndInputsCopied() throws {
        let input = folder.appendingPathComponent("in/names.txt")
        try MoonportProcess.write("a\nb\n", to: input)
        let r = try soak("""
            local f = assert(io.open("names.txt")); local text = f:read("a"); f:close()
            local out = assert(io.open("out.txt", "w")); out:write(text:upper(), tostring(math.random())); out:close()
            print("ok")
            """, ["--seeds", "1", "--input", input.path])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("file out.txt differs from the reference run"), r.stdout)
        let narrowed = try soak("""
            local f = assert(io.open("names.txt")); local text = f:read("a"); f:close()
            local out = assert(io.open("out.txt", "w")); out:write(text:upper()); out:close()
            local log = assert(io.open("debug.log", "w")); log:write(tostring(os.clock())); log:close()
            print("ok")
            """, ["--seeds", "1", "--input", input.path, "--compare", "*.txt"])
        XCTAssertEqual(narrowed.status, 0, narrowed.stdout + narrowed.stderr)
    }
}

/// `moonport examples`: the example workflows built into the binary.
final class ExamplesCommandTests: XCTestCase {
    func testListsAndPrintsTheEmbeddedExamples() throws {
        let examples = LuaScriptTests.root.appendingPathComponent("scripts/examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".lua") }
        XCTAssertFalse(names.isEmpty)
        let list = try MoonportProcess.run(["examples"])
        XCTAssertEqual(list.status, 0)
        for n in names { XCTAssertTrue(list.stdout.contains("  " + n.dropLast(4) + " "), "\(n) listed: \(list.stdout)") }
        let one = try MoonportProcess.run(["examples", "forecast-to-claravine"])
        XCTAssertEqual(one.status, 0)
        let file = try String(contentsOf: examples.appendingPathComponent("forecast-to-claravine.lua"), encoding: .utf8)
        XCTAssertEqual(one.stdout, file.hasSuffix("\n") ? file : file + "\n")
        let missing = try MoonportProcess.run(["examples", "nope"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("forecast-to-claravine"), missing.stderr)
    }
}
