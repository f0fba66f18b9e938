import CLua
import CMoonport
import LuaBridge

/// Why a chunk could not be loaded.
public enum LoadFailure: Error, Equatable {
    /// The file could not be read: "cannot open x.lua".
    case unreadable(String)
    /// A syntax error, "file:line: message".
    case syntax(String)

    public var message: String {
        switch self {
        case .unreadable(let m), .syntax(let m): return m
        }
    }
}

/// How running a chunk ended.
public enum RunOutcome: Equatable {
    case success
    /// The error message with the Lua traceback.
    case failure(String)
    /// Ctrl-C (the message says where, when Lua code was running).
    case interrupted(String?)
}

extension MoonportHost {
    /// Compiles a file (`-` reads stdin) and pushes the chunk.
    public func load(file path: String) throws(LoadFailure) {
        let status = path == "-" ? luaL_loadfilex(lua.L, nil, nil) : luaL_loadfilex(lua.L, path, nil)
        try checkLoad(status)
    }

    /// Compiles a chunk of code and pushes it. `name` as lua_load takes it
    /// ("=(command line)", "@file.lua").
    public func load(chunk: String, name: String) throws(LoadFailure) {
        try checkLoad(lua.load(chunk, name: name))
    }

    private func checkLoad(_ status: Int32) throws(LoadFailure) {
        guard status != LUA_OK else { return }
        let message = lua.toString(-1) ?? "(error object is not a string)"
        lua.pop()
        if status == LUA_ERRFILE { throw .unreadable(message) }
        throw .syntax(message)
    }

    /// Runs the function at the top of the main stack (below `nargs`
    /// arguments) as a task, and drives the runtime until that task and every
    /// operation it started have finished.
    public func execute(nargs: Int32 = 0, name: String = "main") -> RunOutcome {
        let task = runtime.spawn(nargs: nargs, name: name)
        runtime.wait(for: task)
        runtime.runUntilIdle()
        defer { runtime.release(task) }
        switch task.outcome {
        case .failure(let errorRef, let message)?:
            lastError = errorFacts(errorRef)
            if runtime.interrupted { return .interrupted(message) }
            return .failure(message)
        case .success?:
            if runtime.interrupted { return .interrupted(nil) }
            return takeUnobservedFailures().map { .failure($0) } ?? .success
        case nil:
            let stuck = runtime.stuckTasks.map(\.name).joined(separator: ", ")
            return .failure(
                "\(name) never finished: it waits for a task that cannot finish (tasks waiting for each other: \(stuck))")
        }
    }

    /// Tasks the script spawned that failed with nobody waiting for them: an
    /// error is never swallowed. Each is reported once.
    public func takeUnobservedFailures() -> String? {
        let failures = runtime.unobservedFailures
        guard !failures.isEmpty else { return nil }
        var lines: [String] = []
        for task in failures {
            task.observed = true
            if case .failure(_, let message)? = task.outcome {
                lines.append("a task that nothing waited for failed (task started at \(task.name)):\n\(message)")
            }
            runtime.release(task)
        }
        return lines.joined(separator: "\n")
    }

    /// The kind, status and vendor of an error object (nil fields for a
    /// string error).
    func errorFacts(_ ref: Int32) -> ErrorFacts {
        let base = lua.top
        defer { lua.top = base }
        lua.ensureStack(4)
        lua.pushRef(ref)
        var facts = ErrorFacts()
        guard lua.type(at: -1) == LUA_TTABLE else { return facts }
        if lua.rawGet(-1, "kind") == LUA_TSTRING { facts.kind = lua.toString(-1) }
        lua.pop()
        if lua.rawGet(-1, "status") == LUA_TNUMBER { facts.status = Int(lua_tointegerx(lua.L, -1, nil)) }
        lua.pop()
        if lua.rawGet(-1, "vendor") == LUA_TSTRING { facts.vendor = lua.toString(-1) }
        lua.pop()
        return facts
    }

    /// Ctrl-C from now on sets a hook and wakes the loop (lua.c's way).
    public func catchInterrupts() { runtime.catchInterrupts() }
}

/// What the error that ended a chunk says of itself (SPEC.md §2 fields).
public struct ErrorFacts: Equatable, Sendable {
    public var kind: String?
    public var status: Int?
    public var vendor: String?
    public init(kind: String? = nil, status: Int? = nil, vendor: String? = nil) {
        self.kind = kind
        self.status = status
        self.vendor = vendor
    }
}

/// A script error, as `evaluate` reports it.
public struct ScriptError: Error, CustomStringConvertible {
    /// The message with the Lua traceback.
    public let message: String
    public var description: String { message }
}

extension MoonportHost {
    /// Runs a chunk as a task and copies its results out (tables deeply).
    /// For tests and tools; scripts run with `execute`.
    public func evaluate(_ code: String, name: String = "=(evaluate)") throws -> [LuaValue] {
        do {
            try load(chunk: code, name: name)
        } catch {
            throw ScriptError(message: error.message)
        }
        let task = runtime.spawn(nargs: 0, name: name)
        runtime.wait(for: task)
        defer { runtime.release(task) }
        switch task.outcome {
        case .success(let count)?:
            let co = LuaState(task.thread)
            let base = co.top - count
            return try (0..<count).map { try co.value(at: base + 1 + $0) }
        case .failure(_, let message)?:
            throw ScriptError(message: message)
        case nil:
            throw ScriptError(message: "\(name) is still waiting for an operation")
        }
    }
}
