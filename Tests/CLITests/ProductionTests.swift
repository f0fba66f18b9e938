import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 14: moonport run unattended (cron, systemd, Kubernetes, Airflow):
/// the sandbox never leaks, options in the right place, SIGTERM, exit codes,
/// JSON logs, plain progress, the run summary, errors a person can act on,
/// help for users. Every test runs the real binary.
final class ProductionTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try MoonportProcess.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// No credentials, no profile, no sandbox left over from the caller.
    private var clean: [String: String] {
        ["HOME": folder.path, "XDG_CONFIG_HOME": "", "MOONPORT_PROFILE": "", "MOONPORT_SANDBOX": "", "MOONPORT_PATH": "",
         "CLARI_API_KEY": "", "CLARI_BASE_URL": "", "TMPDIR": folder.path]
    }

    private func script(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try MoonportProcess.write(text, to: url)
        return url.path
    }

    private func run(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60,
                     interruptAfter: TimeInterval? = nil, signal: Int32 = SIGINT) throws -> MoonportProcess.Result {
        try MoonportProcess.run(arguments, environment: clean.merging(environment) { $1 }, directory: folder,
            interruptAfter: interruptAfter, signal: signal, timeout: timeout)
    }

    /// python3 -m json.tool and jq accept the text, where they are installed: it is valid JSON.
    private func checkWithJSONTools(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = folder.appendingPathComponent("check-\(UUID().uuidString).json")
        try text.write(to: path, atomically: true, encoding: .utf8)
        for tool in [["python3", "-m", "json.tool", path.path], ["jq", ".", path.path]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = tool
            p.standardOutput = FileHandle.nullDevice
            let err = Pipe()
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus == 127 { continue }  // the tool is not installed here
            XCTAssertEqual(p.terminationStatus, 0, "\(tool[0]) refused: \(text)\n\(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))",
                file: file, line: line)
        }
    }

    // MARK: 1. The sandbox never reaches production

    /// A listening loopback server counting the connections it accepts.
    final class Listener: @unchecked Sendable {
        let fd: Int32
        let port: Int
        private let lock = NSLock()
        private var _count = 0
        var count: Int { lock.lock(); defer { lock.unlock() }; return _count }

        init() throws {
            let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            fd = sock
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, len) } }
            guard bound == 0, listen(sock, 16) == 0 else { throw NSError(domain: "Listener", code: 1) }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
            port = Int(UInt16(bigEndian: addr.sin_port))
            let fd = self.fd
            Thread.detachNewThread { [weak self] in
                while true {
                    let c = accept(fd, nil, nil)
                    if c < 0 { return }
                    self?.lock.lock()
                    self?._count += 1
                    self?.lock.unlock()
                    close(c)
                }
            }
        }

        func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    func testSandboxSendsClientsWithAnExplicitBaseURLToTheSimulator() throws {
        let listener = try Listener()
        defer { listener.stop() }
        let production = "http://127.0.0.1:\(listener.port)"
        let path = try script("leak.lua", """
            local base = ...
            local clients = {
              require("clari").client{base_url = base, api_key = "PROD-KEY-1", partner_key = "PROD-PARTNER-1"},
              require("claravine").client{base_url = base, api_key = "PROD-KEY-2", api_secret = "PROD-SECRET-2"},
              require("quantive").client{base_url = base, api_token = "PROD-TOKEN-3", account_id = "acc-prod"},
              require("cordial").client{base_url = base, api_key = "PROD-KEY-4"},
              require("mediarithmics").client{base_url = base, api_token = "PROD-TOKEN-5"},
            }
            for _, c in ipairs(clients) do
              print(tostring(c))
              assert(c:base_url() ~= base, c.vendor .. " kept the production base_url")
              -- a request of each client: wherever it goes, it must not be the production server
              pcall(c.call, c, "GET", "/moonport-leak-check")
            end
            local job = clients[1]:export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
            job:wait()
            print("clari job " .. job.status)
            """)
        let r = try run(["run", "--sandbox", path, "--", production], environment: ["MOONPORT_SIM_SPEED": "50"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.components(separatedBy: "sandbox: the built-in simulator at http://127.0.0.1:").count - 1, 5, r.stdout)
        XCTAssertTrue(r.stdout.contains("the base_url given is not used"), r.stdout)
        XCTAssertTrue(r.stdout.contains("clari job done"), r.stdout + r.stderr)
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(listener.count, 0, "the production server received requests under --sandbox")
        XCTAssertFalse((r.stdout + r.stderr).contains("PROD-"), "a credential given to client{} was shown")
    }

    // MARK: 2. Options in the right place

    func testOwnOptionAfterTheScriptIsRefusedWithTheRightOrder() throws {
        let path = try script("job.lua", "print('ran', ...)\n")
        let r = try run(["run", path, "--sandbox"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stdout, "", "the script must not run")
        XCTAssertTrue(r.stderr.contains("moonport run --sandbox \(path)"), r.stderr)
        let withValue = try run(["run", path, "x", "--summary", "s.json"])
        XCTAssertEqual(withValue.status, 2, withValue.stderr)
        XCTAssertTrue(withValue.stderr.contains("moonport run --summary s.json \(path) x"), withValue.stderr)
    }

    func testDoubleDashPassesArgumentsThroughUntouched() throws {
        let path = try script("job.lua", "print(select('#', ...), ...)\n")
        let r = try run(["run", path, "--", "--sandbox", "-v", "x"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "3\t--sandbox\t-v\tx\n")
        let parsed = try run(["run", "-v", path, "--", "--state", "y"])
        XCTAssertEqual(parsed.status, 0, parsed.stderr)
        XCTAssertEqual(parsed.stdout, "2\t--state\ty\n")
        // Words that are not moonport's options pass as before.
        let plain = try run(["run", path, "--date", "2024-01-01"])
        XCTAssertEqual(plain.stdout, "2\t--date\t2024-01-01\n", plain.stderr)
    }

    func testMisspeltOptionBeforeTheScriptIsAnUnknownOption() throws {
        let path = try script("job.lua", "print('ran')\n")
        let r = try run(["run", "--sandbx", path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("unknown option '--sandbx'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("did you mean --sandbox?"), r.stderr)
        XCTAssertFalse(r.stderr.contains("cannot open"), r.stderr)
    }

    // MARK: 3. SIGTERM

    private static let slowWorkflow = """
        local clari, workflow = require "clari", require "workflow"
        workflow.run("nightly", function(wf)
          local job = wf:step("export", function()
            return clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
          end)
          wf:step("wait", function() job:wait() end)
        end)
        print("not reached")
        """

    func testSIGTERMCancelsWritesTheTableAndSummaryAndExits143() throws {
        let path = try script("slow.lua", Self.slowWorkflow)
        let summary = folder.appendingPathComponent("summary.json")
        let start = Date()
        let r = try run(["run", "--sandbox", "--summary", summary.path, path], environment: ["MOONPORT_SIM_SPEED": "0.02"],
            interruptAfter: 2.5, signal: SIGTERM)
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        XCTAssertFalse(r.stdout.contains("not reached"))
        XCTAssertTrue(r.stderr.contains("workflow \"nightly\": failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("terminated (SIGTERM)"), r.stderr)
        let text = try String(contentsOf: summary, encoding: .utf8)
        try checkWithJSONTools(text)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(json["outcome"] as? String, "terminated")
        XCTAssertEqual(json["exit_code"] as? Int, 143)
        let steps = try XCTUnwrap(json["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["name"] as? String }, ["export", "wait"])
        XCTAssertEqual(steps.last?["status"] as? String, "failed")
        let jobs = try XCTUnwrap(json["jobs"] as? [[String: Any]])
        XCTAssertEqual(jobs.first?["vendor"] as? String, "clari")
    }

    func testSecondSignalEndsAtOnce() throws {
        // The script swallows the first signal's error and keeps waiting.
        let path = try script("stubborn.lua", """
            local task = require "task"
            print("started")
            io.stdout:flush()
            for i = 1, 1000 do pcall(task.sleep, 5) end
            """)
        let process = Process()
        process.executableURL = MoonportProcess.executable
        process.arguments = ["run", path]
        process.environment = ProcessInfo.processInfo.environment.merging(clean) { $1 }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        Thread.sleep(forTimeInterval: 1)
        kill(process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(process.isRunning, "the script caught the first signal's error and goes on")
        let second = Date()
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning && Date().timeIntervalSince(second) < 5 { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertFalse(process.isRunning, "a second SIGTERM must end the process at once")
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 143)
    }

    // MARK: 4. Exit codes

    func testExitCodeFollowsTheErrorKind() throws {
        let cases: [(String, Int32)] = [
            ("error('plain')", 1),
            ("error(require('moonport').error('validation', 'bad field'))", 1),
            ("error(require('moonport').error('job_failed', 'the job failed'))", 1),
            ("error(require('moonport').error('http', 'not found', {status = 404}))", 1),
            ("error(require('moonport').error('usage', 'wrong call'))", 1),
            ("error(require('moonport').error('auth', 'refused'))", 3),
            ("error(require('moonport').error('network', 'reset'))", 4),
            ("error(require('moonport').error('timeout', 'slow'))", 4),
            ("error(require('moonport').error('rate_limited', '429'))", 4),
            ("error(require('moonport').error('http', 'bad gateway', {status = 502}))", 4),
        ]
        for (chunk, code) in cases {
            let r = try run(["run", "-e", chunk])
            XCTAssertEqual(r.status, code, "\(chunk): \(r.stderr)")
        }
    }

    func testExitCodesOfRealFailures() throws {
        // auth: no credential anywhere
        let auth = try run(["run", "-e", "require('clari').limits()"])
        XCTAssertEqual(auth.status, 3, auth.stderr)
        // network: nothing listens on port 1
        let network = try run(["run", "-e", "require('http').get('http://127.0.0.1:1/', {retry = false})"])
        XCTAssertEqual(network.status, 4, network.stderr)
        // 5xx after every retry, in the sandbox's simulator
        let fivexx = try run(["run", "--sandbox", "--faults", "500:1", "-e",
            "require('clari').limits()"], environment: ["MOONPORT_SIM_SPEED": "50"], timeout: 200)
        XCTAssertEqual(fivexx.status, 4, fivexx.stderr)
        // usage: a bad command line; an unreadable script
        XCTAssertEqual(try run(["run", "--progress", "sometimes", "-e", "x = 1"]).status, 2)
        XCTAssertEqual(try run(["run", folder.appendingPathComponent("missing.lua").path]).status, 2)
    }

    // MARK: 5. --log-format json

    func testJSONLogLinesAreOneObjectEach() throws {
        let path = try script("logs.lua", """
            local log, clari = require "log", require "clari"
            log.info("starting %d", 3)
            log.warn("careful")
            local job = clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
            job:wait()
            error(require("moonport").error("validation", "the end", {vendor = "clari"}))
            """)
        let r = try run(["run", "--sandbox", "--log-format", "json", "--progress", "plain", path],
            environment: ["MOONPORT_SIM_SPEED": "5", "MOONPORT_PROGRESS_INTERVAL": "0.5"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertGreaterThanOrEqual(lines.count, 4, r.stderr)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertNotNil(object["time"], line)
            XCTAssertNotNil(object["level"], line)
            XCTAssertNotNil(object["message"], line)
            XCTAssertNotNil(object["run"], line)
            objects.append(object)
        }
        try checkWithJSONTools("[" + lines.joined(separator: ",") + "]")
        XCTAssertEqual(objects.first?["message"] as? String, "starting 3")
        XCTAssertTrue(objects.contains { $0["level"] as? String == "warn" && $0["message"] as? String == "careful" })
        // the poll's progress line names the vendor and the job
        XCTAssertTrue(objects.contains { $0["vendor"] as? String == "clari" && $0["job"] != nil }, r.stderr)
        let last = try XCTUnwrap(objects.last)
        XCTAssertEqual(last["level"] as? String, "error")
        XCTAssertEqual(last["vendor"] as? String, "clari")
        XCTAssertTrue((last["message"] as? String ?? "").contains("the end"))
        XCTAssertEqual(Set(objects.compactMap { $0["run"] as? String }).count, 1, "one run id")
    }

    // MARK: 6. --progress

    func testPlainProgressLinesWhileAPollWaits() throws {
        let path = try script("wait.lua", """
            local clari = require "clari"
            local job = clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
            job:wait()
            print(job.status)
            """)
        let env = ["MOONPORT_SIM_SPEED": "1.5", "MOONPORT_PROGRESS_INTERVAL": "1"]
        let start = Date()
        let r = try run(["run", "--sandbox", path], environment: env, timeout: 200)
        let took = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n").filter { $0.contains("clari: waiting for job") }
        XCTAssertGreaterThanOrEqual(took, 3, "the job should last a few seconds at this speed")
        XCTAssertGreaterThanOrEqual(lines.count, Int(took) - 3, r.stderr)
        XCTAssertTrue(lines.allSatisfy { $0.contains("(still waiting, ") }, r.stderr)
        // A wait that ends at once leaves no line.
        let quick = try run(["run", "--sandbox", path], environment: ["MOONPORT_SIM_SPEED": "50"], timeout: 200)
        XCTAssertEqual(quick.status, 0, quick.stderr)
        XCTAssertFalse(quick.stderr.contains("waiting for job"), quick.stderr)
        XCTAssertFalse(r.stderr.contains("\u{1B}["), "no terminal escapes when stderr is not a terminal")
        let off = try run(["run", "--sandbox", "--progress", "off", path], environment: env, timeout: 200)
        XCTAssertEqual(off.status, 0, off.stderr)
        XCTAssertFalse(off.stderr.contains("waiting for job"), off.stderr)
    }

    func testWaitingForAFreeClariExportSlotShowsProgress() throws {
        let path = try script("slots.lua", """
            local clari, task = require "clari", require "task"
            local jobs = task.map({1, 2, 3, 4, 5, 6}, function(i)
              return clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-1" .. i})
            end, {concurrency = 6})
            clari.poll(jobs)
            print(#jobs, "done")
            """)
        let r = try run(["run", "--sandbox", path], environment: ["MOONPORT_SIM_SPEED": "3", "MOONPORT_PROGRESS_INTERVAL": "1"],
            timeout: 200)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "6\tdone\n")
        XCTAssertTrue(r.stderr.contains("clari: waiting for a free export slot (still waiting, "), r.stderr)
    }

    // MARK: 7. --summary

    func testSummaryOfASuccessfulRun() throws {
        let path = try script("ok.lua", """
            local clari, workflow = require "clari", require "workflow"
            workflow.run("daily", function(wf)
              local job = wf:step("export", function()
                return clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
              end)
              wf:step("download", function() job:download("out.json") end)
            end)
            """)
        let summary = folder.appendingPathComponent("summary.json")
        let r = try run(["run", "--sandbox", "--summary", summary.path, path], environment: ["MOONPORT_SIM_SPEED": "50"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOf: summary, encoding: .utf8)
        try checkWithJSONTools(text)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(json["outcome"] as? String, "success")
        XCTAssertEqual(json["exit_code"] as? Int, 0)
        XCTAssertNotNil(json["duration"] as? Double)
        let steps = try XCTUnwrap(json["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["status"] as? String }, ["ok", "ok"])
        let jobs = try XCTUnwrap(json["jobs"] as? [[String: Any]])
        XCTAssertEqual(jobs.count, 1)
        XCTAssertEqual(jobs[0]["status"] as? String, "done")
        XCTAssertEqual(jobs[0]["kind"] as? String, "activity")
        let vendors = try XCTUnwrap(json["vendors"] as? [String: [String: Int]])
        XCTAssertGreaterThanOrEqual(vendors["clari"]?["requests"] ?? 0, 3)
        let bytes = try XCTUnwrap(json["bytes"] as? [String: Int])
        XCTAssertGreaterThan(bytes["down"] ?? 0, 0)
        XCTAssertGreaterThan(bytes["up"] ?? 0, 0)
    }

    func testSummaryAfterAFailureNeverHoldsASecret() throws {
        // The key is sent (so moonport knows it is a secret), then quoted in the error.
        let path = try script("leaky.lua", """
            local clari = require "clari"
            local key = "SUPERSECRET-\(UUID().uuidString.prefix(8))"
            local c = clari.client{api_key = key, base_url = arg[1]}
            pcall(c.call, c, "GET", "/echo")
            error(require("moonport").error("auth", "refused key " .. key))
            """)
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        let summary = folder.appendingPathComponent("summary.json")
        let r = try run(["run", "--summary", summary.path, path, base])
        XCTAssertEqual(r.status, 3, r.stderr)
        let text = try String(contentsOf: summary, encoding: .utf8)
        try checkWithJSONTools(text)
        XCTAssertFalse(text.contains("SUPERSECRET-"), text)
        XCTAssertFalse(r.stderr.contains("SUPERSECRET-"), r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(json["outcome"] as? String, "failed")
        XCTAssertEqual(json["exit_code"] as? Int, 3)
        XCTAssertEqual((json["error"] as? [String: Any])?["kind"] as? String, "auth")
    }

    // MARK: 8. Errors a person can act on

    func testNoStdlibFramesByDefaultAllWithVerbose() throws {
        let path = try script("bad.lua", """
            local clari = require "clari"
            local function go()
              clari.export("forecast", {forecast_id = 42})
            end
            go()
            """)
        let r = try run(["run", "--sandbox", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertFalse(r.stderr.contains("stdlib/"), r.stderr)
        XCTAssertFalse(r.stderr.contains("[C]"), r.stderr)
        XCTAssertTrue(r.stderr.contains("bad.lua:3:"), r.stderr)
        XCTAssertTrue(r.stderr.contains("bad.lua:5:"), r.stderr)
        let v = try run(["run", "--sandbox", "-v", path])
        XCTAssertTrue(v.stderr.contains("stdlib/"), v.stderr)
    }

    func testAnErrorInsideParallelWorkIsPrintedOnce() throws {
        let path = try script("parallel.lua", """
            local task = require "task"
            task.map({1, 2, 3}, function(i)
              if i == 2 then error(require("moonport").error("validation", "item two is bad")) end
              return i
            end)
            """)
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.components(separatedBy: "item two is bad").count - 1, 1, r.stderr)
        XCTAssertFalse(r.stderr.contains("task 'stdlib/"), r.stderr)
        XCTAssertTrue(r.stderr.contains("parallel.lua:2:"), r.stderr)
    }

    func testHintsForCommonSlips() throws {
        let dot = try script("dot.lua", """
            local clari = require "clari"
            local job = clari.export("activity", {activity_types = {"MEETING"}, start_date = "2024-01-01", end_date = "2024-01-31"})
            job.wait()
            """)
        let r1 = try run(["run", "--sandbox", dot])
        XCTAssertTrue(r1.stderr.contains("call it as job:wait()"), r1.stderr)
        let limits = try script("limits.lua", "local c = require('clari').client{}\nc.limits()\n")
        let r2 = try run(["run", "--sandbox", limits])
        XCTAssertTrue(r2.stderr.contains("call it as c:limits(...)"), r2.stderr)
        let typo = try script("typo.lua", "local clari = require 'clari'\nclari.exprot('forecast', {})\n")
        let r3 = try run(["run", "--sandbox", typo])
        XCTAssertTrue(r3.stderr.contains("did you mean export?"), r3.stderr)
        let missing = try script("missing.lua", "require 'team_helpers'\n")
        let r4 = try run(["run", missing])
        XCTAssertTrue(r4.stderr.contains("no file"), r4.stderr)
        XCTAssertTrue(r4.stderr.contains("-I DIR"), r4.stderr)
        XCTAssertTrue(r4.stderr.contains("MOONPORT_PATH"), r4.stderr)
    }

    func testModulePathWithColonsAndMissingFolders() throws {
        let a = folder.appendingPathComponent("liba"), b = folder.appendingPathComponent("libb")
        try MoonportProcess.write("return {name = 'from b'}\n", to: b.appendingPathComponent("teamb.lua"))
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        let r = try run(["run", "-e", "print(require('teamb').name)"], environment: ["MOONPORT_PATH": "\(a.path):\(b.path)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "from b\n")
        let w = try run(["run", "-I", folder.appendingPathComponent("nope").path, "-e", "print(1)"])
        XCTAssertEqual(w.status, 0)
        XCTAssertTrue(w.stderr.contains("nope: no such folder"), w.stderr)
    }

    private func credentials(_ text: String) throws -> URL {
        let config = folder.appendingPathComponent("xdg")
        let file = config.appendingPathComponent("moonport/credentials.toml")
        try MoonportProcess.write(text, to: file)
        chmod(file.path, 0o600)
        return config
    }

    func testCredentialHintsNameTheProfileAndFileInUse() throws {
        let config = try credentials("[staging.cordial]\napi_key = \"abc\"\n")
        let r = try run(["run", "--profile", "staging", "-e", "require('clari').limits()"], environment: ["XDG_CONFIG_HOME": config.path])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("[staging.clari] in \(config.path)/moonport/credentials.toml"), r.stderr)
        XCTAssertFalse(r.stderr.contains("[default.clari]"), r.stderr)
    }

    func testUnknownFieldsAndVendorTablesInTheCredentialsFileAreErrors() throws {
        let field = try credentials("[default.clari]\napi_kye = \"abc\"\n")
        let r1 = try run(["run", "-e", "require('clari').limits()"], environment: ["XDG_CONFIG_HOME": field.path])
        XCTAssertEqual(r1.status, 3, r1.stderr)
        XCTAssertTrue(r1.stderr.contains("unknown field 'api_kye'"), r1.stderr)
        let vendor = try credentials("[default.clarri]\napi_key = \"abc\"\n")
        let r2 = try run(["run", "-e", "require('clari').limits()"], environment: ["XDG_CONFIG_HOME": vendor.path])
        XCTAssertEqual(r2.status, 3, r2.stderr)
        XCTAssertTrue(r2.stderr.contains("'clarri' is not a vendor"), r2.stderr)
    }

    func test401WithAProfileKeyPointsAtTheProfileNotAVariable() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        let config = try credentials("[default.clari]\napi_key = \"abc-profile-key\"\nbase_url = \"\(base)\"\n")
        let r = try run(["run", "-e", "local c = require('clari').default_client(); c:call('GET', '/status/401')"],
            environment: ["XDG_CONFIG_HOME": config.path])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("from profile 'default' in"), r.stderr)
        XCTAssertFalse(r.stderr.contains("check CLARI_API_KEY"), r.stderr)
    }

    func testNetworkErrorsInPlainWords() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        let r = try run(["run", "-e", "require('http').get('\(base)/reset', {retry = {attempts = 2, base = 0.01}})"])
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("closed the connection"), r.stderr)
        XCTAssertFalse(r.stderr.contains("errno"), r.stderr)
        XCTAssertFalse(r.stderr.contains("descriptor"), r.stderr)
    }

    // MARK: 9. Help and docs for users

    func testRunHelpListsTheEnvironmentAndExitCodes() throws {
        let r = try run(["run", "--help"])
        XCTAssertEqual(r.status, 0)
        for word in ["MOONPORT_SIM_SPEED", "MOONPORT_PATH", "MOONPORT_PROFILE", "XDG_CONFIG_HOME", "--log-format", "--progress",
                     "--summary", "143"] {
            XCTAssertTrue(r.stdout.contains(word), "run --help lacks \(word)")
        }
    }

    func testHelpAndTypesOfCoreModulesNameNoInternalDocuments() throws {
        let modules = ["json", "http", "task", "log", "csv", "ndjson", "state", "workflow", "batch", "dates", "reconcile", "moonport"]
        let chunk = """
            local doc = require "moonport.doc"
            for _, name in ipairs({\(modules.map { "'\($0)'" }.joined(separator: ", "))}) do
              print(doc.help(require(name)))
            end
            print(doc.help())
            """
        let r = try run(["run", "-e", chunk])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("SPEC.md"), r.stdout)
        XCTAssertFalse(r.stdout.contains("vendors.md"), r.stdout)
        let out = folder.appendingPathComponent("types")
        let t = try run(["types", "--out", out.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        for name in modules + ["moonport.vendor"] {
            let file = out.appendingPathComponent("\(name).lua")
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            XCTAssertFalse(text.contains("SPEC.md") || text.contains("vendors.md"), "\(name).lua in moonport types")
        }
        let root = LuaScriptTests.root
        var docs = [root.appendingPathComponent("README.md")]
        let docFolder = root.appendingPathComponent("docs")
        for f in (try? FileManager.default.contentsOfDirectory(atPath: docFolder.path)) ?? [] where f.hasSuffix(".md") {
            docs.append(docFolder.appendingPathComponent(f))
        }
        for file in docs {
            let text = try String(contentsOf: file, encoding: .utf8)
            XCTAssertFalse(text.contains("SPEC.md") || text.contains("vendors.md"), file.lastPathComponent)
        }
    }

    func testHelpWrapsAtTheTerminalWidthOnWordBoundaries() throws {
        let piped = try MoonportProcess.run(["repl"], stdin: "help(require('json'))\n",
            environment: clean.merging(["COLUMNS": "50"]) { $1 }, directory: folder)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let lines = piped.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertGreaterThan(lines.count, 5)
        for line in lines { XCTAssertLessThanOrEqual(line.count, 50, String(line)) }
        XCTAssertTrue(piped.stdout.contains("json.encode"), piped.stdout)
    }

    /// Under a terminal: the banner, `require "clar<Tab>`, no internals offered.
    func testREPLBannerAndModuleCompletion() throws {
        let env = ["HOME": folder.path, "TERM": "dumb", "PATH": "/usr/bin:/bin", "MOONPORT_HISTORY": ""]
        let p = try PTYProcess(executable: MoonportProcess.executable.path, arguments: ["repl", "--sandbox"], environment: env)
        defer { p.kill() }
        try p.expect("moonport ")
        try p.expect("sandbox: every vendor goes to the built-in simulator")
        try p.expect("> ")
        p.send("m = require \"clar\t")
        try p.expect("clari")
        p.send("\t")
        try p.expect("claravine")
        p.send("\"\r")
        try p.expect("> ")
        p.send("m = require('clari')\r")
        try p.expect("> ")
        p.send("m.defa\t")
        try p.expect("default_client")
        p.send("\u{15}\u{04}")
        _ = p.waitForExit(timeout: 10)
    }
}
