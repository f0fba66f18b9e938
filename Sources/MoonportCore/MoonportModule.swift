import CLua
import CMoonport
import DocIndex
import LuaBridge
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `require "moonport"`: the host's primitives that the Lua side of the
/// stdlib builds on (Neovim's `vim._` / wrk's model).
public enum MoonportModule {
    public static let version = "0.1.0"

    static var builtin: BuiltinModule { BuiltinModule(name: "moonport") { call in
        let lua = call.lua
        lua.newTable(recordCount: 4)
        lua.push(version)
        lua.rawSet(-2, "version")

        // moonport.error(kind, message [, fields]) -> error object (not raised); its
        // `where` names the first line outside moonport's stdlib (the one rule).
        lua.setFunction(-1, "error", qualifiedName: "moonport.error") { call in
            let kindName = try call.string(1, "kind")
            guard let kind = LuaError.Kind(rawValue: kindName) else {
                let known = LuaError.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw LuaError.validation("moonport.error: unknown kind '\(kindName)' (one of: \(known))")
            }
            let message = try call.string(2, "message")
            var extra: [String: LuaValue] = [:]
            if let fields = try call.optionalTable(3, "fields") {
                // json.null and other values with no copy are left out of the fields.
                if case .table(let t) = try fields.lua.value(at: fields.index, path: "fields", lenient: true) {
                    for (k, v) in t { if let key = k.stringValue { extra[key] = v } }
                }
            }
            var error = LuaError(kind, message)
            // The named fields of SPEC.md §2 keep their types.
            if case .text(let v)? = extra.removeValue(forKey: "vendor").map(Self.textCase) { error.vendor = v }
            if case .integer(let s)? = extra.removeValue(forKey: "status") { error.status = Int(s) }
            if case .text(let c)? = extra.removeValue(forKey: "code").map(Self.textCase) { error.code = c }
            if case .boolean(let r)? = extra.removeValue(forKey: "retryable") { error.retryable = r }
            if let d = extra.removeValue(forKey: "details") { error.details = d }
            extra["kind"] = nil
            extra["message"] = nil
            error.extra = extra
            call.lua.push(error)
            return .results(1)
        }

        // moonport.log(level, text): one line on stderr ("debug" only with -v)
        lua.setFunction(-1, "log", qualifiedName: "moonport.log") { call in
            let level = try call.string(1, "level")
            let text = try call.string(2, "text")
            // fields (optional): vendor, job, ... as fields of --log-format json lines
            var fields: [(String, String)] = []
            if let t = try call.optionalTable(3, "fields") {
                for name in ["vendor", "job", "step"] {
                    if let v = try t.string(name) { fields.append((name, v)) }
                }
            }
            let levels: [String: Logger.Level] = ["debug": .debug, "info": .info, "warn": .warning, "error": .error]
            guard let lv = levels[level] else {
                throw LuaError.validation("moonport.log: unknown level '\(level)' (debug, info, warn, error)")
            }
            LogSink.shared.write(level: lv, text, fields: fields)
            return .results(0)
        }

        // moonport.now() -> seconds since 1970, fractional (wall clock)
        lua.setFunction(-1, "now", qualifiedName: "moonport.now") { call in
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            call.lua.push(Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
            return .results(1)
        }

        // moonport.progress(text): the progress line on a terminal ("" clears it)
        lua.setFunction(-1, "progress", qualifiedName: "moonport.progress") { call in
            LogSink.shared.progress(try call.string(1, "text"))
            return .results(0)
        }

        // moonport.duration(seconds) -> "42 s", "3 min 05 s", "1 h 02 min" (as the progress line writes it)
        lua.setFunction(-1, "duration", qualifiedName: "moonport.duration") { call in
            call.results(.text(ProgressReporter.human(try call.number(1, "seconds"))))
        }

        // moonport.file_writer(path) -> writer: text written atomically (RecordIO.swift)
        lua.setFunction(-1, "file_writer", qualifiedName: "moonport.file_writer") { call in
            try FileWriter.open(&call)
        }

        lua.push(LogSink.shared.stderrIsTerminal)
        lua.rawSet(-2, "stderr_is_terminal")
        lua.push(LogSink.shared.verbose)
        lua.rawSet(-2, "verbose")
        return .results(1)
    } }

    private enum TextCase { case text(String), other }
    private static func textCase(_ v: LuaValue) -> TextCase {
        if let s = v.stringValue { return .text(s) }
        return .other
    }
}

/// `require "moonport.stdlib"`: the doc blocks of the stdlib, for
/// moonport.doc (help(), `moonport types`). Nothing is read until it asks.
///   index() -> the text of a Lua chunk returning the index (DocIndex): the
///     one the build made of the compiled-in stdlib, or, with
///     MOONPORT_STDLIB_DIR, one made now of the modules as they were loaded
///     (and of that folder's _meta/*.lua)
///   file(path) -> the same for one file on disk (a script's), or nil
enum StdlibSourceModule {
    static func builtin(modules: [(name: String, source: String)]) -> BuiltinModule {
        BuiltinModule(name: "moonport.stdlib") { call in
            let lua = call.lua
            lua.newTable(recordCount: 2)
            lua.setFunction(-1, "index", qualifiedName: "moonport.stdlib.index") { call in
                guard let folder = Environment.get("MOONPORT_STDLIB_DIR"), !folder.isEmpty else {
                    return call.results(.text(EmbeddedStdlib.docIndex))
                }
                let meta = MoonportHost.stdlibOverride(folder: folder + "/_meta", over: [])
                return call.results(.text(DocIndex.luaChunk(modules: modules, meta: meta)))
            }
            lua.setFunction(-1, "file", qualifiedName: "moonport.stdlib.file") { call in
                let path = try call.string(1, "path")
                guard let text = MoonportHost.readWholeFile(path) else { return call.results(.nil) }
                return call.results(.text(DocIndex.luaChunk(file: (name: path, source: text))))
            }
            return .results(1)
        }
    }
}
