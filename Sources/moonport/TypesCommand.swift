import ArgumentParser
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct TypesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "types",
        abstract: "Write LuaLS ---@meta definition files for every built-in module (completion and hover in editors).",
        discussion: """
            Writes one file per module (json.lua, http.lua, clari.lua, ...) and one for the Job class into \
            DIR, made from the doc comments of moonport's stdlib: the same text the REPL's help() shows. \
            Also writes DIR/.luarc.json, an example configuration of the LuaLS language server (Lua 5.4, \
            workspace.library = DIR): copy it to the root of your scripts' folder. Prints each file written.
            """
    )

    @Option(name: .customLong("out"), help: ArgumentHelp(
        "The folder to write the files to (created if needed).", valueName: "DIR"))
    var out = "./moonport-types"

    func validate() throws {
        if out.isEmpty { throw ValidationError("--out needs a folder") }
    }

    func run() throws {
        do {
            try Folder.create(out)
        } catch {
            printError(error.message)
            throw ExitCode(Exit.scriptError)
        }
        // .luarc.json names the folder by its absolute path: it is an example to copy elsewhere.
        let absolute = realpath(out, nil).map { p in defer { free(p) }; return String(cString: p) } ?? out
        let host = MoonportHost()
        host.setArguments(script: nil, arguments: [out, absolute], interpreter: CommandLine.arguments[0])
        let chunk = "for _, path in ipairs(require('moonport.doc').write(arg[1], arg[2])) do print(path) end"
        do {
            try host.load(chunk: chunk, name: "=(moonport types)")
        } catch {
            printError(error.message)
            throw ExitCode(Exit.scriptError)
        }
        try finish(host.execute(name: "moonport types"))
    }
}

/// `mkdir -p`, without Foundation.
enum Folder {
    struct CreateError: Error {
        let message: String
    }

    static func create(_ path: String) throws(CreateError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CreateError(message: "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CreateError(message: "\(path) is not a folder")
        }
    }
}
