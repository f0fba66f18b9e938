import ArgumentParser
import Foundation
import MoonportCore
import VendorSim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `moonport soak SCRIPT [ARGS]`: proves that a workflow survives a bad day.
/// The script runs against the built-in simulator once without faults (the
/// reference), then once per seed under seeded faults, then (with --kill N)
/// N times killed with SIGKILL at a random moment and rerun on the same state
/// until it finishes. Every run must print the reference's stdout, write the
/// reference's files, leave no temporary file, and the simulator must count
/// no duplicate. This is moonport's own reliability harness
/// (scripts/reliability/run.py calls it for its soak and crash parts).
struct SoakCommand: ParsableCommand {
    static let defaultFaults = "500:0.1,429:0.05,reset:0.02,lost:0.02,truncate:0.01"

    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run a script against the simulator under seeded faults and SIGKILLs; compare every run with a fault-free one.",
        discussion: """
            Each run gets a fresh working folder (the script's current directory; --input files are copied \
            into it), its own simulator (in this process, so it outlives a killed run) and its own state \
            database. The files the script writes under its folder (those matching --compare, when given) \
            and its stdout must equal the reference run's; the simulator's counters must show no duplicate \
            (something created twice). Kill runs are fault-free: they test the resume of state.once.

            The runs see the simulator through the environment (the *_BASE_URL variables and its dummy \
            credentials, MOONPORT_SANDBOX=1), as after `moonport sim`; real credentials in the environment \
            are not passed on.

            Exit status: 0 when every run matched the reference, 1 when one did not (the table says why and \
            the run's folder is kept), 2 for bad usage.
            """
    )

    @Option(help: "Runs under faults, one per seed 1...N.")
    var seeds = 5

    @Option(help: ArgumentHelp("The faults of those runs (see moonport sim --help).", valueName: "SPEC"))
    var faults = SoakCommand.defaultFaults

    @Option(help: ArgumentHelp("Also N runs killed with SIGKILL at a random moment, then rerun until they finish.", valueName: "N"))
    var kill = 0

    @Option(name: .customLong("compare"), help: ArgumentHelp(
        "Compare only the output files whose path (relative to the run's folder) matches GLOB (repeatable; default: every file).",
        valueName: "GLOB"))
    var compare: [String] = []

    @Option(name: .customLong("input"), help: ArgumentHelp("A file or folder copied into each run's folder (repeatable).", valueName: "PATH"))
    var inputs: [String] = []

    @Option(name: .customLong("env"), help: ArgumentHelp("An environment variable for the runs (repeatable).", valueName: "NAME=VALUE"))
    var environment: [String] = []

    @Option(help: ArgumentHelp("The simulator's time multiplier (default: $MOONPORT_SIM_SPEED, else 20).", valueName: "X"))
    var speed: Double?

    @Option(name: .customLong("data-seed"), help: "Seeds the simulator's demo data and ids (the same for every run).")
    var dataSeed: UInt64 = 1

    @Option(name: .customLong("kill-seed"), help: "Seeds the kill moments.")
    var killSeed: UInt64 = 1

    @Option(help: ArgumentHelp("Runs at once (each has its own simulator).", valueName: "N"))
    var jobs = 1

    @Option(help: ArgumentHelp("Seconds a run may take before it counts as a hang.", valueName: "SECONDS"))
    var timeout: Double = 300

    @Option(name: .customLong("report"), help: ArgumentHelp("Also write the results as JSON to FILE.", valueName: "FILE"))
    var report: String?

    @Flag(help: "Keep every run's folder (by default only those of failed runs are kept).")
    var keep = false

    @Argument(parsing: .captureForPassthrough, help: "The script and its arguments.")
    var scriptAndArguments: [String] = []

    func validate() throws {
        if let first = scriptAndArguments.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
        guard let script = scriptAndArguments.first else { throw ValidationError("give the script to soak: moonport soak SCRIPT [ARGS...]") }
        if script.hasPrefix("-") { throw ValidationError("unknown option '\(script)' (options go before SCRIPT)") }
        guard FileManager.default.isReadableFile(atPath: script) else { throw ValidationError("cannot read the script '\(script)'") }
        if seeds < 0 || kill < 0 { throw ValidationError("--seeds and --kill must be >= 0") }
        if jobs < 1 { throw ValidationError("--jobs must be >= 1") }
        if let speed, !(speed.isFinite && speed > 0) { throw ValidationError("--speed must be a positive number") }
        if !(timeout > 0) { throw ValidationError("--timeout must be > 0") }
        do { _ = try FaultSpec(parsing: faults) } catch { throw ValidationError("--faults: \(error.message)") }
        for input in inputs where !FileManager.default.fileExists(atPath: input) {
            throw ValidationError("--input: no file or folder '\(input)'")
        }
        for e in environment where !e.contains("=") || e.hasPrefix("=") { throw ValidationError("--env: expected NAME=VALUE, got '\(e)'") }
    }

    func run() throws {
        let script = URL(fileURLWithPath: scriptAndArguments[0]).standardizedFileURL.path
        let soak = Soak(
            binary: Soak.selfPath(), script: script, arguments: Array(scriptAndArguments.dropFirst()),
            compare: compare, inputs: inputs.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
            environment: environment, speed: speed ?? Soak.speedFromEnvironment(), dataSeed: dataSeed,
            timeout: timeout, keepAll: keep)
        let faultSpec = try FaultSpec(parsing: faults)
        let outcome = try soak.run(seeds: seeds, faults: faultSpec, kills: kill, killSeed: killSeed, jobs: jobs)
        printLine(outcome.table, to: 1)
        if let report {
            do { try outcome.json.write(to: URL(fileURLWithPath: report)) } catch {
                printError("--report: cannot write \(report): \(error)")
            }
        }
        if !outcome.ok { throw ExitCode(Exit.scriptError) }
    }
}

/// One soak: its settings and its runs.
struct Soak: Sendable {
    var binary: String
    var script: String
    var arguments: [String]
    var compare: [String]
    var inputs: [String]
    var environment: [String]
    var speed: Double
    var dataSeed: UInt64
    var timeout: Double
    var keepAll: Bool

    /// This executable (the runs use the same moonport).
    static func selfPath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    static func speedFromEnvironment() -> Double {
        if let text = ProcessInfo.processInfo.environment["MOONPORT_SIM_SPEED"], let v = Double(text), v.isFinite, v > 0 { return v }
        return 20
    }

    enum Kind: String, Sendable { case reference, faults, kill }

    struct Plan: Sendable {
        var kind: Kind
        var seed: UInt64?  // faults: the fault seed; kill: the run number
        var killAt: Double?
    }

    struct Result: Sendable {
        var plan: Plan
        var exitCodes: [Int32] = []  // each attempt's; -9 for a SIGKILL
        var killed = false
        var faults: [String: Int] = [:]
        var duplicates = 0
        var duplicateDetail = ""
        var seconds = 0.0
        var stdout = Data()
        var stderrTail = ""
        var files: [String: Data] = [:]
        var leftovers: [String] = []
        var problems: [String] = []
        var folder = ""
        var ok: Bool { problems.isEmpty }
    }

    struct Outcome {
        var results: [Result]
        var table: String
        var json: Data
        var ok: Bool
    }

    func run(seeds: Int, faults: FaultSpec, kills: Int, killSeed: UInt64, jobs: Int) throws -> Outcome {
        let root = try Self.makeFolder(prefix: "moonport-soak-")
        var reference = perform(Plan(kind: .reference), root: root, faults: FaultSpec())
        let refFailed = reference.exitCodes.last != 0
        if refFailed {
            reference.problems.append("the fault-free reference run failed (exit \(reference.exitCodes.last.map(String.init) ?? "?")): \(reference.stderrTail)")
        }
        if reference.duplicates > 0 {
            reference.problems.append("the fault-free run itself created \(reference.duplicates) duplicate(s): \(reference.duplicateDetail)")
        }
        if !reference.leftovers.isEmpty {
            reference.problems.append("temporary files left: \(reference.leftovers.joined(separator: ", "))")
        }
        printLine(progressLine(reference), to: 2)
        var results = [reference]
        if !refFailed {
            var plans: [Plan] = (0..<seeds).map { Plan(kind: .faults, seed: UInt64($0 + 1)) }
            var rng = SplitMix(seed: killSeed)
            let full = max(reference.seconds, 0.2)
            for k in 0..<kills {
                plans.append(Plan(kind: .kill, seed: UInt64(k + 1), killAt: 0.05 + rng.unit() * (full * 0.9 - 0.05)))
            }
            let lock = NSLock()
            let done = Box<[Result?]>(Array(repeating: nil, count: plans.count))
            let reference = reference
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = jobs
            for (i, plan) in plans.enumerated() {
                queue.addOperation {
                    var r = self.perform(plan, root: root, faults: plan.kind == .faults ? faults : FaultSpec())
                    // A kill that came after the run had ended: again, at an earlier moment.
                    var again = SplitMix(seed: killSeed &+ (plan.seed ?? 0) &* 7919)
                    var redraws = 0
                    while plan.kind == .kill && !r.killed && r.exitCodes.last == 0 && r.problems.isEmpty && redraws < 3 {
                        redraws += 1
                        try? FileManager.default.removeItem(atPath: r.folder)
                        var earlier = plan
                        earlier.killAt = 0.05 + again.unit() * max(0.01, min(r.seconds, plan.killAt ?? r.seconds) * 0.8 - 0.05)
                        r = self.perform(earlier, root: root, faults: FaultSpec())
                    }
                    self.judge(&r, against: reference)
                    let line = self.progressLine(r)
                    lock.lock()
                    done.value[i] = r
                    printLine(line, to: 2)
                    lock.unlock()
                }
            }
            queue.waitUntilAllOperationsAreFinished()
            results += done.value.compactMap { $0 }
        }
        for r in results where r.ok && !keepAll { try? FileManager.default.removeItem(atPath: r.folder) }
        if results.allSatisfy(\.ok) && !keepAll { try? FileManager.default.removeItem(atPath: root) }
        return Outcome(results: results, table: table(results, faults: faults), json: json(results),
                       ok: results.allSatisfy(\.ok))
    }

    // MARK: - one run

    func perform(_ plan: Plan, root: String, faults: FaultSpec) -> Result {
        var r = Result(plan: plan)
        let name = plan.kind == .reference ? "reference" : "\(plan.kind.rawValue)-\(plan.seed ?? 0)"
        let base = root + "/" + name
        let work = base + "/work"
        r.folder = base
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            for input in inputs {
                try FileManager.default.copyItem(atPath: input, toPath: work + "/" + (input as NSString).lastPathComponent)
            }
        } catch {
            r.problems.append("cannot prepare the run's folder \(work): \(error)")
            return r
        }
        var config = SimulatorConfig()
        config.seed = dataSeed
        config.speed = speed
        config.threads = 1
        config.dataDirectory = base + "/sim-files"
        if let text = ProcessInfo.processInfo.environment[SimVariants.environmentName], !text.isEmpty,
           let variants = try? SimVariants.parse(text) {
            config.variants = variants
        }
        let simulator = VendorSimulator(config: config)
        let endpoints: SimulatorEndpoints
        do { endpoints = try simulator.startBlocking() } catch {
            r.problems.append("cannot start the simulator: \(error)")
            return r
        }
        defer { try? simulator.stopBlocking() }
        if !faults.isEmpty { simulator.setFaults(faults, seed: plan.seed ?? 1) }
        let env = childEnvironment(endpoints)
        let started = Date()
        var attempt = 0
        while true {
            attempt += 1
            let killAt = attempt == 1 ? plan.killAt : nil
            let a = launch(env: env, work: work, state: base + "/state.sqlite", log: base + "/attempt-\(attempt)", killAt: killAt)
            r.exitCodes.append(a.code)
            r.stdout = a.stdout
            r.stderrTail = a.stderrTail
            if a.killed { r.killed = true }
            if a.hang {
                r.problems.append("no end after \(Int(timeout)) s (a hang): killed")
                break
            }
            // After a kill, rerun on the same state; a temporary failure (exit 4) is rerun too.
            let again = a.killed || (a.code == 4 && plan.kind == .kill)
            if !again || attempt >= 6 { break }
        }
        r.seconds = Date().timeIntervalSince(started)
        if let stats = Self.stats(simulator) {
            r.faults = ((stats["faults"] as? [String: Any]) ?? [:]).compactMapValues { ($0 as? NSNumber)?.intValue }.filter { $0.value > 0 }
            let dup = (stats["duplicates"] as? [String: Any]) ?? [:]
            r.duplicates = (dup["total"] as? NSNumber)?.intValue ?? 0
            if r.duplicates > 0 {
                var parts: [String] = []
                for (vendor, kinds) in dup.sorted(by: { $0.key < $1.key }) {
                    guard let kinds = kinds as? [String: Any] else { continue }
                    for (kind, n) in kinds.sorted(by: { $0.key < $1.key }) { parts.append("\(vendor) \(kind) \(n)") }
                }
                r.duplicateDetail = parts.joined(separator: ", ")
            }
        } else {
            r.problems.append("could not read the simulator's counters (/__sim/stats)")
        }
        (r.files, r.leftovers) = outputs(work)
        return r
    }

    struct Attempt {
        var code: Int32
        var killed: Bool
        var hang: Bool
        var stdout: Data
        var stderrTail: String
    }

    func launch(env: [String: String], work: String, state: String, log: String, killAt: Double?) -> Attempt {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--state", state, script] + arguments
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: work)
        FileManager.default.createFile(atPath: log + ".stdout", contents: nil)
        FileManager.default.createFile(atPath: log + ".stderr", contents: nil)
        guard let out = FileHandle(forWritingAtPath: log + ".stdout"), let err = FileHandle(forWritingAtPath: log + ".stderr") else {
            return Attempt(code: -1, killed: false, hang: false, stdout: Data(), stderrTail: "cannot write \(log).*")
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return Attempt(code: -1, killed: false, hang: false, stdout: Data(), stderrTail: "cannot start \(binary): \(error)")
        }
        let started = Date()
        var killed = false, hang = false
        while process.isRunning {
            let elapsed = Date().timeIntervalSince(started)
            if let killAt, !killed, elapsed >= killAt {
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
            if elapsed >= timeout {
                kill(process.processIdentifier, SIGKILL)
                hang = true
                break
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        let stdout = FileManager.default.contents(atPath: log + ".stdout") ?? Data()
        let stderr = String(decoding: FileManager.default.contents(atPath: log + ".stderr") ?? Data(), as: UTF8.self)
        let code: Int32 = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        return Attempt(code: code, killed: killed && code == -SIGKILL, hang: hang, stdout: stdout,
                       stderrTail: String(stderr.suffix(1500)).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The runs' environment: this one's, less every vendor setting and real
    /// credential, plus the simulator's base URLs and dummy credentials.
    func childEnvironment(_ endpoints: SimulatorEndpoints) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        let vendorPrefixes = ["CLARI_", "CLARAVINE_", "QUANTIVE_", "CORDIAL_", "MEDIARITHMICS_", "AWS_"]
        for k in Array(env.keys) where k.hasSuffix("_BASE_URL") || vendorPrefixes.contains(where: { k.hasPrefix($0) })
            || ["MOONPORT_PROFILE", "MOONPORT_STATE", "MOONPORT_SIM_URL", "MOONPORT_SIM_S3_URL"].contains(k) {
            env[k] = nil
        }
        for (k, v) in endpoints.environment { env[k] = v }
        env["MOONPORT_SANDBOX"] = "1"
        env["MOONPORT_SIM_SPEED"] = String(speed)
        for e in environment {
            let parts = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return env
    }

    /// The files under `work` (relative path -> bytes) that --compare selects, and temporary leftovers.
    func outputs(_ work: String) -> ([String: Data], [String]) {
        var files: [String: Data] = [:], left: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: work) else { return ([:], []) }
        while let rel = walker.nextObject() as? String {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: work + "/" + rel, isDirectory: &isDir), !isDir.boolValue else { continue }
            let name = (rel as NSString).lastPathComponent
            if name.contains(".tmp") || name.hasSuffix(".part") { left.append(rel) }
            if compare.isEmpty || compare.contains(where: { fnmatch($0, rel, 0) == 0 || fnmatch($0, name, 0) == 0 }) {
                files[rel] = FileManager.default.contents(atPath: work + "/" + rel) ?? Data()
            }
        }
        return (files, left.sorted())
    }

    func judge(_ r: inout Result, against reference: Result) {
        if r.problems.contains(where: { $0.hasPrefix("no end after") }) { return }
        if let code = r.exitCodes.last, code != 0 {
            r.problems.append("exit \(code)\(r.killed ? " on the rerun after the kill" : ""): \(r.stderrTail.split(separator: "\n").suffix(3).joined(separator: " | "))")
        }
        if r.duplicates > 0 { r.problems.append("\(r.duplicates) duplicate(s) at the simulator: \(r.duplicateDetail)") }
        if r.exitCodes.last == 0 && r.stdout != reference.stdout {
            r.problems.append("stdout differs from the reference run: " + Self.firstDifference(reference.stdout, r.stdout))
        }
        if r.exitCodes.last == 0 {
            let missing = reference.files.keys.filter { r.files[$0] == nil }.sorted()
            let extra = r.files.keys.filter { reference.files[$0] == nil }.sorted()
            let differ = reference.files.keys.filter { r.files[$0] != nil && r.files[$0] != reference.files[$0] }.sorted()
            if !missing.isEmpty { r.problems.append("file(s) missing: \(missing.joined(separator: ", "))") }
            if !extra.isEmpty { r.problems.append("file(s) the reference did not write: \(extra.joined(separator: ", "))") }
            for f in differ {
                r.problems.append("file \(f) differs from the reference run: " + Self.firstDifference(reference.files[f]!, r.files[f]!))
            }
        }
        if !r.leftovers.isEmpty { r.problems.append("temporary files left: \(r.leftovers.joined(separator: ", "))") }
    }

    /// "line N: expected «...», got «...»".
    static func firstDifference(_ a: Data, _ b: Data) -> String {
        let la = String(decoding: a, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let lb = String(decoding: b, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(la[i]) : "(end)", y = i < lb.count ? String(lb[i]) : "(end)"
            if x != y {
                func cut(_ s: String) -> String { s.count > 160 ? String(s.prefix(157)) + "..." : s }
                return "line \(i + 1): reference «\(cut(x))», this run «\(cut(y))»"
            }
        }
        return "\(a.count) bytes vs \(b.count) bytes"
    }

    // MARK: - report

    func label(_ p: Plan) -> String {
        switch p.kind {
        case .reference: "reference"
        case .faults: "faults"
        case .kill: "kill \(p.seed ?? 0)"
        }
    }

    func seedText(_ p: Plan) -> String {
        switch p.kind {
        case .reference: "-"
        case .faults: "\(p.seed ?? 0)"
        case .kill: String(format: "kill at %.2f s", p.killAt ?? 0)
        }
    }

    static func faultText(_ f: [String: Int]) -> String {
        f.isEmpty ? "none" : f.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    func outcomeText(_ r: Result) -> String {
        var text = r.ok ? "ok" : "FAILED"
        if r.plan.kind == .kill {
            text += r.killed ? " (killed, \(r.exitCodes.count - 1) rerun(s))" : " (finished before the kill)"
        }
        return text
    }

    func progressLine(_ r: Result) -> String {
        "soak: \(label(r.plan)) \(seedText(r.plan)): \(outcomeText(r)) in \(String(format: "%.1f", r.seconds)) s"
            + (r.ok ? "" : ": " + r.problems.joined(separator: "; "))
    }

    func table(_ results: [Result], faults: FaultSpec) -> String {
        let seeds = results.filter { $0.plan.kind == .faults }.count
        let kills = results.filter { $0.plan.kind == .kill }.count
        var lines = ["", "moonport soak \(([(script as NSString).lastPathComponent] + arguments).joined(separator: " "))",
                     (seeds > 0 ? "\(seeds) run(s) under faults \"\(faults.description)\" (seeds 1...\(seeds))" : "no run under faults")
                     + ", \(kills) run(s) killed with SIGKILL; "
                     + "simulator speed \(speed), data seed \(dataSeed)", "",
                     "| run | seed | faults injected | outcome | duplicates | time |", "|---|---|---|---|---|---|"]
        for r in results {
            lines.append("| \(label(r.plan)) | \(seedText(r.plan)) | \(Self.faultText(r.faults)) | \(outcomeText(r)) | \(r.duplicates) | \(String(format: "%.1f", r.seconds)) s |")
        }
        var total: [String: Int] = [:]
        for r in results { for (k, v) in r.faults { total[k, default: 0] += v } }
        let failed = results.filter { !$0.ok }
        let killed = results.filter { $0.killed }.count
        lines.append("")
        lines.append("\(results.count - failed.count)/\(results.count) runs matched the reference; faults injected: \(Self.faultText(total)); "
                     + "\(killed) run(s) killed mid-run; duplicates: \(results.reduce(0) { $0 + $1.duplicates })")
        for r in failed {
            lines.append("FAILED \(label(r.plan)) (\(seedText(r.plan))): \(r.problems.joined(separator: "; ")) (kept \(r.folder))")
        }
        return lines.joined(separator: "\n")
    }

    func json(_ results: [Result]) -> Data {
        let runs: [[String: Any]] = results.map { r in
            ["run": r.plan.kind.rawValue, "seed": r.plan.seed.map { Int($0) } as Any, "kill_at": r.plan.killAt as Any,
             "killed": r.killed, "reruns": max(0, r.exitCodes.count - 1), "ok": r.ok, "faults": r.faults,
             "duplicates": r.duplicates, "seconds": r.seconds, "problems": r.problems, "exit_codes": r.exitCodes.map(Int.init)]
        }
        let doc: [String: Any] = ["script": script, "arguments": arguments, "ok": results.allSatisfy(\.ok), "runs": runs]
        return (try? JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }

    // MARK: - helpers

    static func makeFolder(prefix: String) throws -> String {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((tmp + "/" + prefix + "XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            printError("soak: cannot make a folder under \(tmp): \(String(cString: strerror(errno)))")
            throw ExitCode(Exit.scriptError)
        }
        return String(cString: made)
    }

    /// What GET /__sim/stats answers, decoded. The simulator runs in this
    /// process: read it directly (no URLSession, so the binary does not link
    /// FoundationNetworking and libcurl, which every start-up paid for).
    static func stats(_ simulator: VendorSimulator) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(simulator.statsJSON()))) as? [String: Any]
    }
}

/// A value shared by the runs' threads (under the soak's lock).
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// SplitMix64, for the kill moments.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
