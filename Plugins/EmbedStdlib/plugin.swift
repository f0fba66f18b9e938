import Foundation
import PackagePlugin

/// Compiles the Lua sources of `stdlib/` into the MoonportCore module, so the
/// binary needs no files beside it.
@main
struct EmbedStdlib: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let stdlib = context.package.directoryURL.appending(path: "stdlib")
        let files = try FileManager.default.contentsOfDirectory(at: stdlib, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedStdlib.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) stdlib modules",
                executable: try context.tool(named: "EmbedStdlibTool").url,
                // The tool lists the folder itself, so a module added since the
                // plugin last ran is embedded too.
                arguments: [output.path, stdlib.path],
                // The folder too, so that adding a module re-runs the command.
                inputFiles: files + [stdlib],
                outputFiles: [output]
            )
        ]
    }
}
