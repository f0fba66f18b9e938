import CLua
import CMoonport

/// One call of a Swift function from Lua: its arguments, with checks that
/// raise `kind = "validation"` errors naming the argument, and its results.
public struct LuaCall {
    /// The stack of the calling thread (a coroutine, or the main state).
    public let lua: LuaState
    /// The qualified name of the function ("json.decode"), for messages.
    public let name: String

    init(lua: LuaState, name: String) {
        self.lua = lua
        self.name = name
    }

    public var argumentCount: Int32 { lua.top }

    public func isMissing(_ i: Int32) -> Bool { lua.isNoneOrNil(i) }

    /// A validation error "NAME: argument #i (what) must be ..., got TYPE".
    public func argumentError(_ i: Int32, _ what: String, expected: String) -> LuaError {
        let got = i > lua.top ? "no value" : lua.typeName(at: i)
        return .validation("\(name): argument #\(i) (\(what)) must be \(expected), got \(got)")
    }

    public func checkType(_ i: Int32, _ what: String, _ type: Int32, _ expected: String) throws {
        guard lua.type(at: i) == type else { throw argumentError(i, what, expected: expected) }
    }

    public func string(_ i: Int32, _ what: String) throws -> String {
        guard lua.type(at: i) == LUA_TSTRING, let s = lua.toString(i) else {
            throw argumentError(i, what, expected: "a string")
        }
        return s
    }

    public func optionalString(_ i: Int32, _ what: String) throws -> String? {
        lua.isNoneOrNil(i) ? nil : try string(i, what)
    }

    public func integer(_ i: Int32, _ what: String) throws -> Int64 {
        var ok: Int32 = 0
        let v = mp_tointeger(lua.L, i, &ok)
        guard lua.type(at: i) == LUA_TNUMBER, ok != 0 else {
            throw argumentError(i, what, expected: "an integer")
        }
        return v
    }

    public func number(_ i: Int32, _ what: String) throws -> Double {
        guard lua.type(at: i) == LUA_TNUMBER else { throw argumentError(i, what, expected: "a number") }
        return lua_tonumberx(lua.L, i, nil)
    }

    public func boolean(_ i: Int32, _ what: String) throws -> Bool {
        try checkType(i, what, LUA_TBOOLEAN, "a boolean")
        return lua.toBool(i)
    }

    /// A table argument, read through `LuaOptions` (raw access).
    public func table(_ i: Int32, _ what: String) throws -> LuaOptions {
        try checkType(i, what, LUA_TTABLE, "a table")
        return LuaOptions(lua: lua, index: lua.absolute(i), owner: "\(name): \(what)")
    }

    public func optionalTable(_ i: Int32, _ what: String) throws -> LuaOptions? {
        lua.isNoneOrNil(i) ? nil : try table(i, what)
    }

    public func function(_ i: Int32, _ what: String) throws {
        try checkType(i, what, LUA_TFUNCTION, "a function")
    }

    /// The Swift object in a userdata argument made by `LuaState.push(object:)`.
    public func object<T: LuaObject>(_ i: Int32, _ what: String, as: T.Type = T.self) throws -> T {
        guard let obj = lua.object(at: i, as: T.self) else {
            throw argumentError(i, what, expected: "a \(T.luaTypeName)")
        }
        return obj
    }

    // MARK: results

    public func results(_ values: LuaValue...) -> LuaReturn {
        lua.ensureStack(Int32(values.count) + 1)
        for v in values { lua.push(v) }
        return .results(Int32(values.count))
    }

    // MARK: suspending

    /// Starts `work` off the Lua thread and suspends the calling coroutine;
    /// when the work finishes, `deliver` runs on the owner with its value and
    /// pushes the call's results (or throws the call's error).
    ///
    /// Raises a clear error when the caller cannot be suspended
    /// (`LuaRuntime.checkCanSuspend`).
    public func suspend<T: Sendable>(
        _ work: @escaping @Sendable () async throws -> T,
        deliver: @escaping (LuaState, T) throws -> Int32
    ) throws -> LuaReturn {
        try runtime().suspend(lua, name: name, work: work, deliver: deliver)
        return .suspended
    }
}

extension LuaCall {
    /// The runtime that will resume this coroutine.
    func runtime() throws -> LuaRuntime {
        guard let runtime = LuaRuntime.owning(lua.L) else {
            throw LuaError(.runtime, "\(name): no moonport runtime owns this Lua state")
        }
        return runtime
    }

    /// Suspends the calling coroutine until `start`'s work calls its
    /// completion (from any thread, e.g. an event-loop callback): no Swift
    /// task is created, which saves two thread hops on short requests.
    /// `start` runs at once and returns what cancels the work (Ctrl-C).
    public func suspend<T: Sendable>(
        starting start: (@escaping @Sendable (Result<T, any Error>) -> Void) -> @Sendable () -> Void,
        deliver: @escaping (LuaState, T) throws -> Int32
    ) throws -> LuaReturn {
        try runtime().suspend(lua, name: name, start: start, deliver: deliver)
        return .suspended
    }
}

/// Raw reads of an options table, with errors naming the field.
public struct LuaOptions {
    public let lua: LuaState
    public let index: Int32
    /// "json.encode: options", used as the prefix of messages.
    public let owner: String

    public init(lua: LuaState, index: Int32, owner: String) {
        self.lua = lua
        self.index = index
        self.owner = owner
    }

    public func fieldError(_ field: String, expected: String) -> LuaError {
        let got = lua.typeName(at: -1)
        return .validation("\(owner): field '\(field)' must be \(expected), got \(got)")
    }

    /// Runs body with t[field] pushed; pops it after.
    public func with<R>(_ field: String, _ body: (Int32) throws -> R) rethrows -> R {
        lua.ensureStack(2)
        lua.rawGet(index, field)
        defer { lua.pop() }
        return try body(lua.top)
    }

    public func bool(_ field: String) throws -> Bool? {
        try with(field) { i in
            if lua.isNoneOrNil(i) { return nil }
            guard lua.type(at: i) == LUA_TBOOLEAN else { throw fieldError(field, expected: "a boolean") }
            return lua.toBool(i)
        }
    }

    public func string(_ field: String) throws -> String? {
        try with(field) { i in
            if lua.isNoneOrNil(i) { return nil }
            guard lua.type(at: i) == LUA_TSTRING else { throw fieldError(field, expected: "a string") }
            return lua.toString(i)
        }
    }

    public func requiredString(_ field: String) throws -> String {
        guard let s = try string(field) else {
            throw LuaError.validation("\(owner): field '\(field)' is required (a string)")
        }
        return s
    }

    public func number(_ field: String) throws -> Double? {
        try with(field) { i in
            if lua.isNoneOrNil(i) { return nil }
            guard lua.type(at: i) == LUA_TNUMBER else { throw fieldError(field, expected: "a number") }
            return lua_tonumberx(lua.L, i, nil)
        }
    }

    public func integer(_ field: String) throws -> Int64? {
        try with(field) { i in
            if lua.isNoneOrNil(i) { return nil }
            var ok: Int32 = 0
            let v = mp_tointeger(lua.L, i, &ok)
            guard lua.type(at: i) == LUA_TNUMBER, ok != 0 else { throw fieldError(field, expected: "an integer") }
            return v
        }
    }
}
