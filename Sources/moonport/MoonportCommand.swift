import ArgumentParser
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
        subcommands: [RunCommand.self, CheckCommand.self, ReplCommand.self, SimCommand.self, TypesCommand.self],
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
        "The state database of resumable runs (state.once, state.get/set; default .moonport/state.sqlite; with --sandbox, a database of that run alone, removed at its end).",
        valueName: "PATH"))
    var state: String?

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

    func validate() throws {
        if profile?.isEmpty == true { throw ValidationError("--profile needs a name") }
        if !sandbox && (faults != nil || seed != nil) {
            throw ValidationError("--faults and --seed need --sandbox")
        }
        _ = try faultSpec()
    }

    private func faultSpec() throws -> FaultSpec {
        do { return try FaultSpec(parsing: faults ?? "") } catch { throw ValidationError("--faults: \(error.message)") }
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
        HostOptions(libraryFolders: libraryFolders, verbose: verbose, scriptPath: script, tracePath: trace,
            statePath: state ?? sandbox?.statePath ?? HostOptions.defaultStatePath,
            profile: profile)
    }
}

enum Exit {
    static let scriptError: Int32 = 1
    static let usage: Int32 = 2
    static let interrupted: Int32 = 130
}

/// A message on stderr, with every secret value the process has seen masked.
func printError(_ text: String) {
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
        discussion: "Exit codes: 0 success, 1 the script raised an error, 2 bad usage or unreadable script, 130 interrupted."
    )

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .customShort("e"), help: "Run a chunk of Lua code first, like lua -e (repeatable).")
    var chunks: [String] = []

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
    }

    func run() throws {
        let script = scriptAndArguments.first
        let sandbox = try runtime.startSandbox()
        defer { sandbox?.stop() }
        try ScriptRun(
            options: runtime.hostOptions(script: script, sandbox: sandbox), chunks: chunks, script: script,
            arguments: Array(scriptAndArguments.dropFirst())
        ).run()
    }
}

/// What `moonport run` does once its command line is understood.
struct ScriptRun {
    var options: HostOptions
    var chunks: [String] = []
    var script: String?
    var arguments: [String] = []

    /// `moonport run SCRIPT [ARGS...]` with no option before the script:
    /// everything after the script is the script's (as swift-argument-parser
    /// would capture it), so this common form skips the parser's reflection,
    /// which costs a few milliseconds of start-up (see scripts/bench/startup.py).
    static func plainRun(_ argv: [String]) -> ScriptRun? {
        guard argv.count >= 3, argv[1] == "run", !argv[2].hasPrefix("-") else { return nil }
        return ScriptRun(options: HostOptions(scriptPath: argv[2]), script: argv[2], arguments: Array(argv[3...]))
    }

    func run() throws {
        try startTracing(options)
        let host = MoonportHost(options: options)
        host.setArguments(script: script, arguments: arguments, interpreter: CommandLine.arguments[0])
        host.catchInterrupts()

        for chunk in chunks {
            do {
                try host.load(chunk: chunk, name: "=(command line)")
            } catch {
                printError(error.message)
                throw ExitCode(Exit.scriptError)
            }
            try finish(host.execute(name: "(command line)"))
        }
        guard let script else { return }
        do {
            try host.load(file: script)
        } catch .unreadable(let message) {
            printError(message)
            throw ExitCode(Exit.usage)
        } catch {
            printError(error.message)
            throw ExitCode(Exit.scriptError)
        }
        host.lua.ensureStack(Int32(arguments.count) + 1)
        for a in arguments { host.lua.push(a) }
        try finish(host.execute(nargs: Int32(arguments.count), name: script))
    }

}

/// The exit of a chunk run by the host: nothing on success; else its
/// message on stderr and exit 1 (an error) or 130 (interrupted).
func finish(_ outcome: RunOutcome) throws {
    switch outcome {
    case .success:
        return
    case .failure(let message):
        printError(message)
        throw ExitCode(Exit.scriptError)
    case .interrupted(let message):
        printError(message ?? "interrupted")
        throw ExitCode(Exit.interrupted)
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


