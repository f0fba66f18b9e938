import ArgumentParser
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// SPEC.md §1: 2 for bad usage (swift-argument-parser's own default is 64).
do {
    if let plain = ScriptRun.plainRun(CommandLine.arguments) {
        try plain.run()
    } else {
        var command = try MoonportCommand.parseAsRoot()
        try command.run()
    }
} catch {
    let code = MoonportCommand.exitCode(for: error)
    if code == .validationFailure {
        printLine(MoonportCommand.fullMessage(for: error), to: 2)
        exit(Exit.usage)
    }
    MoonportCommand.exit(withError: error)
}
