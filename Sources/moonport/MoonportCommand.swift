import ArgumentParser
import CMoonport
import MoonportCore
import VendorSim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct MoonportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moonport",
        abstract: "Run Lua scripts that drive SaaS vendor workflows.",
        version: "moonport \(MoonportModule.version) (Lua 5.4)",
        subcommands: [RunCommand.self, CheckCommand.self, ReplCommand.self, SimCommand.self, TypesCommand.self, StateCommand.self, AuthCommand.self, SoakCommand.self, ExamplesCommand.self],
        defaultSubcommand: ReplCommand.self
    )
}

/// Options shared by `run` and `repl`.
struct RuntimeOptions: ParsableArguments {
    @Option(name: [.customShort("I"), .customLong("lib")], help: "Add a library folder to the module search path (repeatable).")
    var libraryFolders: [String] = []

    @Flag(name: [.short, .long], help: "Log debug lines and each HTTP exchange to stderr (secrets masked).")
    var verbose = false

    @Option(name: .customLong("trace"), help: ArgumentHelp(
        "Append every HTTP attempt to FILE as NDJSON (redacted; the file is made mode 0600).", valueName: "FILE"))
    var trace: String?

    @Option(name: .customLong("state"), help: ArgumentHelp(
        "The state store of resumable runs (state.once, state.get/set): a SQLite path, or postgres://USER@HOST:PORT/DB shared by many workers (default $MOONPORT_STATE, else .moonport/state.sqlite; with --sandbox, a database of that run alone, removed at its end).",
        valueName: "PATH_OR_URL"))
    var state: String?

    @Option(name: .customLong("namespace"), help: ArgumentHelp(
        "The namespace of the run's state keys (default $MOONPORT_NAMESPACE, else the script's file name without .lua): scripts share steps only within one namespace.",
        valueName: "NAME"))
    var namespace: String?

    @Option(name: .customLong("profile"), help: ArgumentHelp(
        "The profile of the credentials file ~/.config/moonport/credentials.toml to use (default: $MOONPORT_PROFILE, else default).",
        valueName: "NAME"))
    var profile: String?

    @Flag(name: .customLong("sandbox"), help: "Start the built-in vendor simulator in-process and point every vendor at it (no credentials, no network).")
    var sandbox = false

    @Option(name: .customLong("faults"), help: ArgumentHelp("With --sandbox: faults to inject, e.g. 500:0.1,reset:0.02,lost:0.02 (see moonport sim --help).", valueName: "SPEC"))
    var faults: String?

    @Option(name: .customLong("seed"), help: ArgumentHelp("With --sandbox: seeds the simulator's demo data and faults.", valueName: "N"))
    var seed: UInt64?

    @Option(name: .customLong("log-format"), help: ArgumentHelp(
        "text (the default) or json: every log line (moonport's, the script's log.*, warnings, the final error) as one JSON object per line, with time, level, message, and vendor, job, run where they apply.",
        valueName: "FORMAT"))
    var logFormat: String = "text"

    @Option(name: .customLong("progress"), help: ArgumentHelp(
        "auto (the default): a progress line redrawn every second on a terminal, plain lines otherwise; plain: a log line once a long wait (a poll, a rate-limit wait, a download) has lasted 5 s, then at least every minute while it lasts; off: none.",
        valueName: "MODE"))
    var progress: String = "auto"

    func validate() throws {
        if profile?.isEmpty == true { throw ValidationError("--profile needs a name") }
        guard LogSink.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be text or json, got '\(logFormat)'")
        }
        guard ProgressMode(rawValue: progress) != nil else {
            throw ValidationError("--progress must be auto, plain or off, got '\(progress)'")
        }
        if !sandbox && (faults != nil || seed != nil) {
            throw ValidationError("--faults and --seed need --sandbox")
        }
        _ = try faultSpec()
    }

    private func faultSpec() throws -> FaultSpec {
        do { return try FaultSpec(parsing: faults ?? "") } catch { throw ValidationError("--faults: \(error.message)") }
    }

    /// Sets the log format and the progress mode, and warns of `-I` folders
    /// that do not exist (call first, before anything is logged).
    func applyOutput() {
        LogSink.shared.format = LogSink.Format(rawValue: logFormat) ?? .text
        ProgressReporter.shared.mode = ProgressMode(rawValue: progress) ?? .auto
        for folder in libraryFolders {
            var info = stat()
            if stat(folder, &info) != 0 || info.st_mode & S_IFMT != S_IFDIR {
                LogSink.shared.write(level: .warning, "-I \(folder): no such folder; modules will not be found there")
            }
        }
        if let path = getenv("MOONPORT_PATH").map({ String(cString: $0) }) {
            for entry in ModulePath.split(path) where !entry.contains("?") {
                var info = stat()
                if stat(entry, &info) != 0 {
                    LogSink.shared.write(level: .warning, "MOONPORT_PATH: \(entry): no such folder; modules will not be found there")
                }
            }
        }
    }

    /// With `--sandbox`: starts the simulator and sets the vendors' environment
    /// (before the script runs). Stop it when the run ends.
    func startSandbox() throws -> Sandbox? {
        guard sandbox else { return nil }
        do {
            return try Sandbox(faults: faultSpec(), seed: seed ?? 1)
        } catch let e as ValidationError {
            throw e
        } catch {
            printError("--sandbox: cannot start the simulator: \(error)")
            throw ExitCode(Exit.scriptError)
        }
    }

    /// `sandbox`: the running sandbox, whose own database is the default
    /// state (a sandbox run never shares simulator ids with real runs or
    /// with other sandbox runs, whose simulators are gone).
    func hostOptions(script: String?, sandbox: Sandbox? = nil) -> HostOptions {
        if let namespace { StateModule.namespace = namespace }
        return HostOptions(libraryFolders: libraryFolders, verbose: verbose, scriptPath: script, tracePath: trace,
            statePath: state ?? sandbox?.statePath ?? RunLock.environmentState ?? HostOptions.defaultStatePath,
            profile: profile)
    }
}

/// The exit codes of SPEC.md §1, so that a scheduler can tell what to do.
enum Exit {
    static let scriptError: Int32 = 1
    static let usage: Int32 = 2
    /// A credential is missing, refused or unreadable.
    static let auth: Int32 = 3
    /// Rerun later: network, timeout, rate_limited, a 5xx after every retry, a lock held.
    static let temporary: Int32 = 4
    static let interrupted: Int32 = 130
    static let terminated: Int32 = 143

    /// The exit code for the error that ended a run, from its kind.
    static func code(for facts: ErrorFacts?) -> Int32 {
        switch facts?.kind {
        case "auth"?: return auth
        case "network"?, "timeout"?, "rate_limited"?, "lock"?: return temporary
        case "http"?: return (facts?.status ?? 0) >= 500 ? temporary : scriptError
        default: return scriptError
        }
    }

    /// 130 after SIGINT, 143 after SIGTERM.
    static var forSignal: Int32 { mp_last_signal() == SIGTERM ? terminated : interrupted }
}

/// A message on stderr, with every secret value the process has seen masked
/// (a JSON line with --log-format json).
func printError(_ text: String, facts: ErrorFacts? = nil) {
    if LogSink.shared.format == .json {
        var fields: [(String, String)] = []
        if let vendor = facts?.vendor { fields.append(("vendor", vendor)) }
        if let kind = facts?.kind { fields.append(("kind", kind)) }
        LogSink.shared.write(level: .error, text, fields: fields)
        return
    }
    printLine("moonport: " + Redaction.scrub(text), to: 2)
}

/// `--trace FILE`: opened before anything runs; a file that cannot be opened is bad usage (exit 2).
func startTracing(_ options: HostOptions) throws {
    do {
        try options.startTracing()
    } catch {
        printError(error.message)
        throw ExitCode(Exit.usage)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a script: moonport run SCRIPT [ARGS...] (or -e CHUNK).",
        discussion: """
            Options go before SCRIPT; everything after SCRIPT belongs to the script. One of moonport's own \
            options after SCRIPT is refused (exit 2); write -- before the script's arguments to pass such \
            words to the script as they are.

            Exit codes: 0 success; 1 the script or its data failed (a Lua error, validation, job_failed, an \
            HTTP 4xx); 2 bad usage or an unreadable script; 3 a credential is missing, refused or \
            unreadable (auth); 4 temporary, rerun later (network, timeout, rate_limited, a 5xx after every \
            retry, the --lock held, the state database unreachable); 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (in-flight requests cancelled, the \
            summary written; a second signal ends at once).

            Environment:
              MOONPORT_PATH: more library folders, separated by ; or :
              MOONPORT_PROFILE: the credentials profile (as --profile)
              MOONPORT_STATE: the state store (as --state: a path, or postgres://USER@HOST/DB)
              MOONPORT_NAMESPACE: the namespace of the state keys (as --namespace)
              PGPASSWORD: the password of a PostgreSQL state store not in its URL
              XDG_CONFIG_HOME: where moonport/credentials.toml is (else ~/.config)
              MOONPORT_SIM_SPEED: with --sandbox, how fast jobs move (20: 20x)
              MOONPORT_SIM_VARIANT: with --sandbox, readings of the simulator
              MOONPORT_PROGRESS_INTERVAL: seconds between plain progress lines
              CLARI_API_KEY, CLARI_BASE_URL, ...: each vendor's credentials and
              base URL (the README lists them)
            """
    )

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .customShort("e"), help: "Run a chunk of Lua code first, like lua -e (repeatable).")
    var chunks: [String] = []

    @Option(name: .customLong("summary"), help: ArgumentHelp(
        "At the end (also after a failure or a signal), write a JSON summary of the run to FILE: outcome, exit code, duration, steps, jobs, requests/retries/faults per vendor, bytes up and down.",
        valueName: "FILE"))
    var summary: String?

    @Option(name: .customLong("lock"), help: ArgumentHelp(
        "Run only if no other run sharing the state store holds NAME (else exit 4, or wait --lock-wait); held until this run ends.",
        valueName: "NAME"))
    var lock: String?

    @Option(name: .customLong("lock-wait"), help: ArgumentHelp("With --lock: wait up to SECONDS for the lock before exiting 4.", valueName: "SECONDS"))
    var lockWait: Double?

    @Argument(parsing: .captureForPassthrough, help: "The script (- for stdin) and its arguments.")
    var scriptAndArguments: [String] = []

    func validate() throws {
        // Everything from the script on is the script's, so the parser does
        // not see a --help put where the script goes.
        if let first = scriptAndArguments.first, first == "--help" || first == "-h" {
            throw CleanExit.helpRequest(self)
        }
        if chunks.isEmpty && scriptAndArguments.isEmpty {
            throw ValidationError("give a script to run, or -e CHUNK")
        }
        if let first = scriptAndArguments.first, first.hasPrefix("-"), first != "-", first != "--" {
            throw ValidationError(OptionOrder.unknownOption(first))
        }
        if let message = OptionOrder.misplaced(Array(scriptAndArguments.dropFirst(scriptAndArguments.first == "--" ? 2 : 1)),
            script: scriptAndArguments.first == "--" ? scriptAndArguments.dropFirst().first : scriptAndArguments.first) {
            throw ValidationError(message)
        }
    }

    func run() throws {
        var words = scriptAndArguments
        if words.first == "--" { words.removeFirst() }
        let script = words.first
        runtime.applyOutput()
        let sandbox: Sandbox?
        do { sandbox = try runtime.startSandbox() } catch {
            RunSummary.write(to: summary, facts: .init(outcome: "failed", exitCode: Exit.scriptError,
                message: "--sandbox: cannot start the simulator"), host: nil)
            throw error
        }
        defer { sandbox?.stop() }
        var run = ScriptRun(
            options: runtime.hostOptions(script: script, sandbox: sandbox), chunks: chunks, script: script,
            arguments: OptionOrder.scriptArguments(Array(words.dropFirst())))
        run.summaryPath = summary
        run.lock = lock
        run.lockWait = lockWait
        try run.run()
    }
}

/// Where moonport's options go: before SCRIPT (SPEC.md §1).
enum OptionOrder {
    /// The options of `run` (and their value-taking forms).
    static let runOptions: [String] = ["--sandbox", "--state", "-v", "--verbose", "--trace", "-I", "--lib", "--profile",
        "--faults", "--seed", "--log-format", "--progress", "--summary", "-e", "--lock", "--lock-wait", "--namespace", "--help", "-h"]

    /// A message when one of moonport's own options follows the script
    /// (before any `--`); nil when none does.
    static func misplaced(_ arguments: [String], script: String?) -> String? {
        for (i, word) in arguments.enumerated() {
            if word == "--" { return nil }
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            guard runOptions.contains(name), name != "--help", name != "-h" else { continue }
            var option = [word]
            if !word.contains("="), i + 1 < arguments.count, !["--sandbox", "-v", "--verbose"].contains(name) {
                option.append(arguments[i + 1])
            }
            let others = arguments.enumerated().filter { $0.offset != i && !(option.count == 2 && $0.offset == i + 1) }
                .map(\.element)
            let shown = option.joined(separator: " ")
            return "\(name) after the script is moonport's own option, and would be passed to the script, not used: "
                + "put it before the script: moonport run \(shown) \(script ?? "SCRIPT")\(others.isEmpty ? "" : " " + others.joined(separator: " "))"
                + " (to pass \(name) to the script itself, write -- before the script's arguments: moonport run \(script ?? "SCRIPT") -- ...)"
        }
        return nil
    }

    /// The script's arguments: the first `--` is moonport's, the rest as given.
    static func scriptArguments(_ arguments: [String]) -> [String] {
        guard let i = arguments.firstIndex(of: "--") else { return arguments }
        var out = arguments
        out.remove(at: i)
        return out
    }

    /// `--sandbx` before the script: an unknown option, with the nearest one.
    static func unknownOption(_ word: String) -> String {
        let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
        let near = runOptions.filter { $0.hasPrefix("--") }.min { ErrorText.editDistance($0, name) < ErrorText.editDistance($1, name) }
        var text = "unknown option '\(name)'"
        if let near, ErrorText.editDistance(near, name) <= 3 { text += "; did you mean \(near)?" }
        return text + " (moonport run --help lists the options)"
    }
}

/// What `moonport run` does once its command line is understood.
struct ScriptRun {
    var options: HostOptions
    var chunks: [String] = []
    var script: String?
    var arguments: [String] = []
    /// `--summary FILE`.
    var summaryPath: String?
    /// `--lock NAME`, `--lock-wait SECONDS` (see RunLock).
    var lock: String?
    var lockWait: Double?

    /// `moonport run SCRIPT [ARGS...]` with no option before the script:
    /// everything after the script is the script's (as swift-argument-parser
    /// would capture it), so this common form skips the parser's reflection,
    /// which costs a few milliseconds of start-up (see scripts/bench/startup.py).
    static func plainRun(_ argv: [String]) -> ScriptRun? {
        guard argv.count >= 3, argv[1] == "run", !argv[2].hasPrefix("-") else { return nil }
        // One of moonport's options after the script: the parser says why it is refused.
        if OptionOrder.misplaced(Array(argv[3...]), script: argv[2]) != nil { return nil }
        return ScriptRun(options: HostOptions(scriptPath: argv[2], statePath: RunLock.environmentState), script: argv[2],
            arguments: OptionOrder.scriptArguments(Array(argv[3...])))
    }

    func run() throws {
        _ = RunSummary.startedAt
        let started = RunSummary.clock()
        var host: MoonportHost?
        var facts = RunSummary.Facts(outcome: "success", exitCode: 0)
        do {
            try RunLock.prepare(location: options.statePath, lock: lock, wait: lockWait)
        } catch {
            printError(error.message)
            facts = RunSummary.Facts(outcome: "failed", exitCode: error.code, message: error.message)
            facts.duration = RunSummary.clock() - started
            RunSummary.write(to: summaryPath, facts: facts, host: nil)
            throw ExitCode(error.code)
        }
        do {
            try runScript(&host)
        } catch let exit as ScriptExit {
            facts = exit.facts
        } catch {
            facts = RunSummary.Facts(outcome: "failed", exitCode: Exit.usage, message: "\(error)")
            ProgressReporter.shared.endAll()
            facts.duration = RunSummary.clock() - started
            RunSummary.write(to: summaryPath, facts: facts, host: host)
            throw error
        }
        ProgressReporter.shared.endAll()
        facts.duration = RunSummary.clock() - started
        RunSummary.write(to: summaryPath, facts: facts, host: host)
        if facts.exitCode != 0 { throw ExitCode(facts.exitCode) }
    }

    private func runScript(_ hostOut: inout MoonportHost?) throws {
        try startTracing(options)
        let host = MoonportHost(options: options)
        hostOut = host
        host.setArguments(script: script, arguments: arguments, interpreter: CommandLine.arguments[0])
        host.catchInterrupts()
        mp_sigterm_install()

        for chunk in chunks {
            do {
                try host.load(chunk: chunk, name: "=(command line)")
            } catch {
                printError(error.message)
                throw ScriptExit(facts: .init(outcome: "failed", exitCode: Exit.scriptError, message: error.message))
            }
            try finish(host.execute(name: "(command line)"), host: host)
        }
        guard let script else { return }
        do {
            try host.load(file: script)
        } catch .unreadable(let message) {
            printError(message)
            throw ScriptExit(facts: .init(outcome: "failed", exitCode: Exit.usage, message: message))
        } catch {
            printError(error.message)
            throw ScriptExit(facts: .init(outcome: "failed", exitCode: Exit.scriptError, message: error.message))
        }
        host.lua.ensureStack(Int32(arguments.count) + 1)
        for a in arguments { host.lua.push(a) }
        try finish(host.execute(nargs: Int32(arguments.count), name: script), host: host)
    }

}

/// `finish` for commands without a summary (moonport types): the exit code alone.
func finish(_ outcome: RunOutcome) throws {
    switch outcome {
    case .success: return
    case .failure(let message):
        printError(message)
        throw ExitCode(Exit.scriptError)
    case .interrupted(let message):
        printError(message ?? "interrupted")
        throw ExitCode(Exit.forSignal)
    }
}

/// How a run ended, carried to where the summary is written.
struct ScriptExit: Error {
    var facts: RunSummary.Facts
}

/// The exit of a chunk run by the host: nothing on success; else its
/// message on stderr (for a person: see ErrorText) and the exit code of
/// its error's kind, or 130/143 after a signal.
func finish(_ outcome: RunOutcome, host: MoonportHost) throws {
    switch outcome {
    case .success:
        return
    case .failure(let message):
        let facts = host.lastError
        let text = ErrorText.forPerson(message, host: host)
        printError(text, facts: facts)
        throw ScriptExit(facts: .init(outcome: "failed", exitCode: Exit.code(for: facts), message: text, error: facts))
    case .interrupted(let message):
        let code = Exit.forSignal
        let text = message.map { ErrorText.forPerson($0, host: host) } ?? "interrupted"
        printError(code == Exit.terminated ? text.replacingFirst("interrupted", with: "terminated (SIGTERM)") : text)
        throw ScriptExit(facts: .init(outcome: code == Exit.terminated ? "terminated" : "interrupted", exitCode: code,
            message: text, error: host.lastError))
    }
}

extension String {
    func replacingFirst(_ what: String, with other: String) -> String {
        guard let r = range(of: what) else { return self }
        var out = self
        out.replaceSubrange(r, with: other)
        return out
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Compile scripts without running them; report syntax errors as file:line: message."
    )

    @Argument(help: "The scripts to check.")
    var scripts: [String]

    func validate() throws {
        if scripts.isEmpty { throw ValidationError("give at least one script to check") }
    }

    func run() throws {
        let host = MoonportHost()
        var worst: Int32 = 0
        for script in scripts {
            do {
                try host.load(file: script)
                host.lua.pop()
            } catch .unreadable(let message) {
                printError(message)
                worst = max(worst, Exit.usage)
            } catch {
                printLine(error.message, to: 2)
                worst = max(worst, Exit.scriptError)
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}


