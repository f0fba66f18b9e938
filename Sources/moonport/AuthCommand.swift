import ArgumentParser
import MoonportCore

/// `moonport auth check [VENDOR...]`.
struct AuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Check the vendors' credentials: moonport auth check [VENDOR...].",
        subcommands: [AuthCheckCommand.self]
    )
}

/// One cheap authenticated read per vendor, through the vendor bindings
/// themselves (stdlib/moonport.authcheck.lua), so the credential lookup and
/// the auth are exactly those of a script.
struct AuthCheckCommand: ParsableCommand {
    static let vendors = ["clari", "claravine", "quantive", "cordial", "mediarithmics"]

    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "One cheap authenticated read per vendor: OK, or missing / refused / unreachable; where each credential came from.",
        discussion: """
            Checks the vendors named, else every vendor with a credential (client argument, environment \
            variable or credentials profile), else all five. The reads: Clari GET /v4/admin/limits, Claravine \
            GET /v1/datasets, Quantive GET /v1/sessions, Cordial GET /v2/jobs (one job), mediarithmics the \
            document imports of the datamart in MEDIARITHMICS_DATAMART (without it, its credentials are \
            only looked up). A credential's value is never shown.

            Exit status: 0 all OK; 3 a credential is missing or refused; 4 (and none missing or refused) a \
            vendor could not be reached; 1 another failure.
            """
    )

    @OptionGroup var runtime: RuntimeOptions

    @Argument(help: ArgumentHelp("The vendors to check (default: those with credentials).", valueName: "VENDOR"))
    var vendors: [String] = []

    func validate() throws {
        for v in vendors where !Self.vendors.contains(v) {
            throw ValidationError("unknown vendor '\(v)' (vendors: \(Self.vendors.joined(separator: ", ")))")
        }
    }

    func run() throws {
        let sandbox = try runtime.startSandbox()
        defer { sandbox?.stop() }
        let names = vendors.map { "\"\($0)\"" }.joined(separator: ", ")
        let chunk = "os.exit(require(\"moonport.authcheck\").main({\(names)}), true)"
        try ScriptRun(options: runtime.hostOptions(script: nil, sandbox: sandbox), chunks: [chunk]).run()
    }
}
