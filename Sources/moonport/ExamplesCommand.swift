import ArgumentParser
import Foundation
import MoonportCore

/// `moonport examples [NAME]`: the example workflows built into the binary
/// (scripts/examples/*.lua, embedded at build time), so that someone who has
/// only the binary can start from a working script.
struct ExamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examples",
        abstract: "List the example workflows built into moonport, or print one: moonport examples NAME > NAME.lua",
        discussion: """
            Each example runs as it is under --sandbox (the built-in simulator), e.g.
              moonport examples forecast-to-claravine > forecast-to-claravine.lua
              moonport run --sandbox forecast-to-claravine.lua 2024_Q1
              moonport soak forecast-to-claravine.lua 2024_Q1
            """
    )

    @Argument(help: "The example to print (with or without .lua).")
    var name: String?

    func run() throws {
        let examples = EmbeddedExamples.modules
        guard let name else {
            let width = examples.map(\.name.count).max() ?? 0
            var lines = ["Example workflows built into moonport (moonport examples NAME prints one):", ""]
            for e in examples {
                lines.append("  " + e.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + Self.summary(e.source))
            }
            printLine(lines.joined(separator: "\n"), to: 1)
            return
        }
        let wanted = name.hasSuffix(".lua") ? String(name.dropLast(4)) : name
        guard let example = examples.first(where: { $0.name == wanted }) else {
            printError("no example named '\(name)'; the examples: \(examples.map(\.name).joined(separator: ", "))")
            throw ExitCode(Exit.usage)
        }
        printLine(example.source.hasSuffix("\n") ? String(example.source.dropLast()) : example.source, to: 1)
    }

    /// The example's first comment line.
    static func summary(_ source: String) -> String {
        for line in source.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("--") {
                let text = t.drop(while: { $0 == "-" }).trimmingCharacters(in: .whitespaces)
                if !text.isEmpty { return text }
            } else if !t.isEmpty {
                break
            }
        }
        return ""
    }
}
