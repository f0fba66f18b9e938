import ArgumentParser
import Dispatch
import MoonportCore
import VendorSim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `moonport sim`: the vendor simulator as a standalone server on 127.0.0.1.
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the built-in vendor simulator (Clari, Claravine, Quantive, Cordial, mediarithmics) on 127.0.0.1.",
        discussion: """
            Prints each vendor's base URL and the environment lines (base URLs and the dummy credentials \
            the simulator accepts) that point moonport at it, then serves until Ctrl-C. Jobs move through \
            their states over time: MOONPORT_SIM_SPEED (or --speed) makes them move faster. \
            GET /__sim/stats counts what was received (objects created, duplicates, faults); \
            POST /__sim/reset returns to the seeded state; POST /__sim/faults {"spec": ..., "seed": N} \
            changes the faults.

            Fault kinds for --faults KIND:RATE,...: 500, 429, reset (connection reset before any effect), \
            slow (answer after 2 simulated seconds), truncate (body cut short after the effect), lost \
            (the request takes effect, the connection is dropped with no answer). The same --seed gives \
            the same faults in the same order.
            """
    )

    @Option(help: "The port to listen on (0: a free port).")
    var port = 0

    @Option(help: ArgumentHelp("Faults to inject, e.g. 500:0.1,429:0.05,reset:0.02,slow:0.05,truncate:0.01,lost:0.02.", valueName: "SPEC"))
    var faults = ""

    @Option(help: "Seeds the demo data, the ids and the fault decisions.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Time multiplier: 50 makes jobs move 50 times faster (default: $MOONPORT_SIM_SPEED or 1).", valueName: "X"))
    var speed: Double?

    @Option(name: .customLong("rate-limit"), help: ArgumentHelp(
        "A vendor's allowance of requests per minute, e.g. cordial=60 (repeatable; default: unthrottled).", valueName: "VENDOR=N"))
    var rateLimits: [String] = []

    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "Where Cordial's exports to ftp, sftp and gcs destinations are written (default: a folder under $TMPDIR).", valueName: "DIR"))
    var dataDirectory: String?

    @Option(name: .customLong("variant"), help: ArgumentHelp(
        "Where a vendor's documentation is silent, answer in another plausible reading, e.g. claravine.listing=objects (repeatable; --list-variants shows them).",
        valueName: "KEY=VALUE"))
    var variants: [String] = []

    @Flag(name: .customLong("list-variants"), help: "List the readings the simulator offers where a vendor's documentation is silent, then exit.")
    var listVariants = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        if let speed, !(speed.isFinite && speed > 0) { throw ValidationError("--speed must be a positive number") }
        _ = try config()
    }

    func config() throws -> SimulatorConfig {
        var config = SimulatorConfig()
        config.port = port
        config.seed = seed
        if let speed { config.speed = speed }
        if let dataDirectory { config.dataDirectory = dataDirectory }
        do { config.faults = try FaultSpec(parsing: faults) } catch {
            throw ValidationError("--faults: \(error.message)")
        }
        do { for r in rateLimits { try config.addRateLimit(r) } } catch {
            throw ValidationError("--rate-limit: \(error.message)")
        }
        do { config.variants = try SimVariants.parse(variants.joined(separator: ",")) } catch {
            throw ValidationError("--variant: \(error.message)")
        }
        return config
    }

    func run() throws {
        if listVariants {
            printLine(SimVariants.listing, to: 1)
            return
        }
        let config = try config()
        let simulator = VendorSimulator(config: config)
        let endpoints: SimulatorEndpoints
        do {
            endpoints = try simulator.startBlocking()
        } catch {
            printError("cannot listen on \(config.host):\(config.port): \(error)")
            throw ExitCode(Exit.scriptError)
        }
        var lines = [
            "moonport sim: serving on \(endpoints.root) (seed \(config.seed), speed \(config.speed), faults \(config.faults.isEmpty ? "none" : config.faults.description))",
        ]
        if !config.variants.isEmpty {
            lines.append("  variants: " + config.variants.keys.sorted().map { "\($0)=\(config.variants[$0]!)" }.joined(separator: ", "))
        }
        for vendor in ["clari", "claravine", "quantive", "cordial", "mediarithmics"] {
            lines.append("  \(vendor.padding(toLength: 14, withPad: " ", startingAt: 0)) \(endpoints.baseURLs[vendor]!)")
        }
        lines.append("  \("s3".padding(toLength: 14, withPad: " ", startingAt: 0)) \(endpoints.s3URL)  (Cordial's s3 destinations, path-style, SigV4)")
        lines.append("  \("stats".padding(toLength: 14, withPad: " ", startingAt: 0)) \(endpoints.root)/__sim/stats")
        lines.append("  \("files".padding(toLength: 14, withPad: " ", startingAt: 0)) \(config.dataDirectory)  (Cordial's ftp, sftp and gcs destinations)")
        lines.append("")
        lines.append("# Point moonport at the simulator (dummy credentials: they open nothing but the simulator):")
        lines += endpoints.exportLines
        lines.append("")
        lines.append("Ctrl-C stops.")
        printLine(lines.joined(separator: "\n"), to: 1)

        waitForTermination()
        try? simulator.stopBlocking()
        printLine("moonport sim: stopped", to: 2)
    }

    /// Blocks until SIGINT or SIGTERM.
    private func waitForTermination() {
        let done = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        for s in sources { s.cancel() }
    }
}

/// `--sandbox` for `run` and `repl`: the simulator in-process, on a free port,
/// with every vendor's base URL and credentials pointed at it.
///
/// Every sandbox run starts a fresh simulator, so what an earlier sandbox run
/// stored (simulator job ids) would point at nothing: without `--state`, a
/// sandbox run keeps its state in a folder of its own, removed when it ends.
final class Sandbox {
    let simulator: VendorSimulator
    let endpoints: SimulatorEndpoints
    /// The folder of this run's state database (under $TMPDIR).
    let stateFolder: String

    /// The state database of a run given no `--state`.
    var statePath: String { stateFolder + "/state.sqlite" }

    init(faults: FaultSpec, seed: UInt64) throws {
        var config = SimulatorConfig()
        config.faults = faults
        config.seed = seed
        config.threads = 1
        if let text = getenv(SimVariants.environmentName).map({ String(cString: $0) }), !text.isEmpty {
            do { config.variants = try SimVariants.parse(text) } catch {
                throw SandboxError(message: "\(SimVariants.environmentName): \(error.message)")
            }
        }
        simulator = VendorSimulator(config: config)
        endpoints = try simulator.startBlocking()
        let tmp = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((tmp + "/moonport-sandbox-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            let why = String(cString: strerror(errno))
            try? simulator.stopBlocking()
            throw SandboxError(message: "cannot make a folder for the sandbox state under \(tmp): \(why)")
        }
        stateFolder = String(cString: made)
        SandboxStateFolder.removeAtExit(stateFolder)
        // Override any real base URL or credential: a sandbox run never reaches production.
        for (name, value) in endpoints.environment { setenv(name, value, 1) }
        unsetenv("QUANTIVE_REGION")
        setenv("MOONPORT_SANDBOX", "1", 1)
    }

    func stop() {
        try? simulator.stopBlocking()
        SandboxStateFolder.remove()
    }
}

/// The sandbox run's state folder, removed when the run ends: by `stop()`,
/// or at process exit when the script ends it itself (`os.exit`).
enum SandboxStateFolder {
    nonisolated(unsafe) private static var folder: String?
    nonisolated(unsafe) private static var registered = false

    static func removeAtExit(_ path: String) {
        folder = path
        if !registered {
            registered = true
            atexit { SandboxStateFolder.remove() }
        }
    }

    /// The database and SQLite's companions, then the (now empty) folder.
    static func remove() {
        guard let path = folder else { return }
        folder = nil
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + "/state.sqlite" + suffix) }
        rmdir(path)
    }
}

struct SandboxError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
