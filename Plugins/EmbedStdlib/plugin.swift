import Foundation
import PackagePlugin

/// Compiles the Lua sources of `stdlib/` (and the example workflows of
/// `scripts/examples/`, for `moonport examples`) into the MoonportCore
/// module, so the binary needs no files beside it; with them, the index of
/// their doc blocks (and of the stubs of `stdlib/_meta/`) that help() and
/// `moonport types` read, so no run parses a doc comment.
@main
struct EmbedStdlib: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let stdlib = context.package.directoryURL.appending(path: "stdlib")
        let files = try FileManager.default.contentsOfDirectory(at: stdlib, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        // The `---@meta` stubs of the native modules: docs only, indexed with
        // the modules' doc blocks (EmbeddedStdlib.docIndex), never modules.
        let meta = stdlib.appending(path: "_meta")
        let metaFiles = ((try? FileManager.default.contentsOfDirectory(at: meta, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedStdlib.swift")
        // The example workflows too, for `moonport examples` (the files stay
        // where they are: the tests and the reliability suite run them).
        let examples = context.package.directoryURL.appending(path: "scripts/examples")
        let exampleFiles = try FileManager.default.contentsOfDirectory(at: examples, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let examplesOutput = context.pluginWorkDirectoryURL.appending(path: "EmbeddedExamples.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(exampleFiles.count) example workflows",
                executable: try context.tool(named: "EmbedStdlibTool").url,
                arguments: [examplesOutput.path, examples.path, "EmbeddedExamples"],
                inputFiles: exampleFiles + [examples],
                outputFiles: [examplesOutput]
            ),
            .buildCommand(
                displayName: "Embedding \(files.count) stdlib modules and their doc index",
                executable: try context.tool(named: "EmbedStdlibTool").url,
                // The tool lists the folder itself, so a module added since the
                // plugin last ran is embedded too.
                arguments: [output.path, stdlib.path],
                // The folder too, so that adding a module re-runs the command.
                inputFiles: files + metaFiles + [stdlib] + (metaFiles.isEmpty ? [] : [meta]),
                outputFiles: [output]
            )
        ]
    }
}
