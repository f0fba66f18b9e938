import ArgumentParser
import MoonportCore

struct ReplCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "An interactive Lua prompt with moonport's modules (reads stdin line by line when it is not a terminal)."
    )

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        printError("the REPL is not built yet")
        throw ExitCode(Exit.usage)
    }
}
