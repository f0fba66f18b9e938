import CLua
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a moonport runtime is set up from the command line.
public struct HostOptions: Sendable {
    public var libraryFolders: [String] = []
    public var verbose = false
    public var scriptPath: String?
    /// `--trace FILE`: every HTTP attempt as an NDJSON line (see HTTPTracer).
    public var tracePath: String?
    /// `--state PATH`: the database of `state` (resumable runs).
    public var statePath: String
    /// `--profile NAME`: the profile of credentials.toml (else $MOONPORT_PROFILE, else "default").
    public var profile: String?

    public static let defaultStatePath = ".moonport/state.sqlite"

    public init(
        libraryFolders: [String] = [], verbose: Bool = false, scriptPath: String? = nil, tracePath: String? = nil,
        statePath: String? = nil, profile: String? = nil
    ) {
        self.libraryFolders = libraryFolders
        self.verbose = verbose
        self.scriptPath = scriptPath
        self.tracePath = tracePath
        self.statePath = statePath ?? Self.defaultStatePath
        self.profile = profile
    }

    /// Opens the trace file (mode 0600, appended) and hands it to the shared
    /// transport. Call once, before the script runs; without `tracePath`
    /// it does nothing (and does not touch the transport).
    public func startTracing() throws(HTTPTracer.OpenError) {
        guard let tracePath else { return }
        let tracer: HTTPTracer
        do { tracer = try HTTPTracer(path: tracePath) } catch let e as HTTPTracer.OpenError { throw e } catch {
            throw HTTPTracer.OpenError(message: "--trace \(tracePath): \(error)")
        }
        Transport.shared.tracer = tracer
    }
}

/// A Lua runtime with moonport's modules and module path: what `run`,
/// `check` and `repl` work on.
public final class MoonportHost {
    public let runtime: LuaRuntime
    public let options: HostOptions
    public var lua: LuaState { runtime.main }
    /// The error that ended the last chunk `execute` ran (its kind decides
    /// the exit code).
    public internal(set) var lastError: ErrorFacts?

    public init(options: HostOptions = HostOptions()) {
        self.options = options
        runtime = LuaRuntime()
        LogSink.shared.verbose = options.verbose
        configureModulePath()
        for module in Self.builtins { lua.preload(module) }
        lua.preload(StateModule.builtin(path: options.statePath))
        lua.preload(CredentialsModule.builtin(profile: options.profile))
        // MOONPORT_STDLIB_DIR: a developer's checkout of stdlib/, read instead
        // of the copy compiled in (edit Lua without rebuilding, as $VIMRUNTIME).
        var modules = EmbeddedStdlib.modules
        if let folder = Environment.get("MOONPORT_STDLIB_DIR"), !folder.isEmpty {
            modules = Self.stdlibOverride(folder: folder, over: modules)
        }
        for (name, source) in modules { lua.preload(Self.stdlibModule(name: name, source: source)) }
        lua.preload(StdlibSourceModule.builtin(modules: modules))
        if options.verbose { traceRequires() }
    }

    /// `-v`: a debug line for each `require`, saying where the module was found.
    private func traceRequires() {
        let base = lua.top
        defer { lua.pop(lua.top - base) }
        guard lua.load("require('moonport.loader').trace()", name: "=moonport.loader") == LUA_OK else { return }
        _ = lua.pcall(0, 0)
    }

    /// The modules of `folder/*.lua`, in place of (or beside) the compiled-in ones.
    static func stdlibOverride(folder: String, over modules: [(name: String, source: String)])
        -> [(name: String, source: String)] {
        guard let dir = opendir(folder) else { return modules }
        defer { closedir(dir) }
        var byName: [String: String] = [:]
        for (name, source) in modules { byName[name] = source }
        while let entry = readdir(dir) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard file.hasSuffix(".lua"), let text = readWholeFile("\(folder)/\(file)") else { continue }
            byName[String(file.dropLast(4))] = text
        }
        return byName.map { (name: $0.key, source: $0.value) }
    }

    static func readWholeFile(_ path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n > 0 { bytes.append(contentsOf: buffer[..<n]) }
            if n < buffer.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Native modules (the primitives; the friendly surface is in stdlib/).
    static var builtins: [BuiltinModule] { [MoonportModule.builtin, JSONModule.builtin, TaskModule.builtin,
        CSVModule.builtin, NDJSONModule.builtin, HTTPModule.builtin, ActivityModule.builtin] }

    /// A module from stdlib/: compiled when first required.
    static func stdlibModule(name: String, source: String) -> BuiltinModule {
        BuiltinModule(name: name) { call in
            let lua = call.lua
            let base = lua.top
            guard lua.load(source, name: "@stdlib/\(name).lua") == LUA_OK else { throw LuaErrorOnStack() }
            lua.push(name)
            lua.push(":builtin:")
            guard lua.pcall(2, 1) == LUA_OK else { throw LuaErrorOnStack() }
            return .results(lua.top - base)
        }
    }

    private func configureModulePath() {
        let path = ModulePath(
            libraryFolders: options.libraryFolders,
            environmentPath: Environment.get("MOONPORT_PATH"),
            scriptFolder: options.scriptPath.map(Self.folder(of:)),
            home: Environment.get("HOME"))
        lua.ensureStack(4)
        lua.pushGlobals()
        lua.rawGet(-1, "package")
        lua.rawGet(-1, "path")
        let stockPath = lua.toString(-1) ?? ""
        lua.pop()
        lua.push(path.luaPath(appending: stockPath))
        lua.rawSet(-2, "path")
        lua.rawGet(-1, "cpath")
        let stockCPath = lua.toString(-1) ?? ""
        lua.pop()
        lua.push(path.luaCPath(appending: stockCPath))
        lua.rawSet(-2, "cpath")
        lua.pop(2)
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// Sets the global `arg` as the standalone interpreter does: arg[0] is the
    /// script, arg[1...] its arguments, arg[-1] the interpreter.
    public func setArguments(script: String?, arguments: [String], interpreter: String) {
        lua.ensureStack(4)
        lua.newTable(arrayCount: Int32(arguments.count), recordCount: 2)
        lua.push(interpreter)
        lua_rawseti(lua.L, -2, -1)
        if let script {
            lua.push(script)
            lua_rawseti(lua.L, -2, 0)
        }
        for (i, a) in arguments.enumerated() {
            lua.push(a)
            lua_rawseti(lua.L, -2, lua_Integer(i + 1))
        }
        lua.rawSetGlobal("arg")  // raw: no __newindex of _G runs from Swift
    }
}

/// getenv without Foundation (keeps start-up light).
enum Environment {
    static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }
}
