import CLua
import CMoonport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-owning view of one Lua thread's stack (the main state or a
/// coroutine), with typed push and read helpers.
///
/// Only raw accessors are used here (`lua_rawget`, `lua_rawlen`, ...): they
/// never run metamethods, so nothing in this file can raise a Lua error
/// while a Swift frame is on the stack. An allocation failure cannot either:
/// moonport's allocator stops the process instead (see moonport_shim.h).
public struct LuaState {
    public let L: OpaquePointer

    public init(_ L: OpaquePointer) { self.L = L }

    // MARK: stack

    public var top: Int32 {
        get { lua_gettop(L) }
        nonmutating set { lua_settop(L, newValue) }
    }

    public func pop(_ n: Int32 = 1) { mp_pop(L, n) }
    public func absolute(_ index: Int32) -> Int32 { lua_absindex(L, index) }

    /// Makes room for n more values; false if the stack cannot grow.
    @discardableResult
    public func ensureStack(_ n: Int32) -> Bool { lua_checkstack(L, n) != 0 }

    public func type(at index: Int32) -> Int32 { lua_type(L, index) }

    public func typeName(at index: Int32) -> String {
        String(cString: luaL_typename_(index))
    }

    private func luaL_typename_(_ index: Int32) -> UnsafePointer<CChar> { lua_typename(L, lua_type(L, index)) }

    // MARK: push

    public func pushNil() { lua_pushnil(L) }
    public func push(_ b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
    public func push(_ i: Int64) { lua_pushinteger(L, i) }
    public func push(_ i: Int) { lua_pushinteger(L, lua_Integer(i)) }
    public func push(_ d: Double) { lua_pushnumber(L, d) }
    public func push(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            _ = buf.withMemoryRebound(to: CChar.self) { lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }
    public func push(bytes: UnsafeRawBufferPointer) {
        _ = lua_pushlstring(L, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }
    public func push(bytes: [UInt8]) {
        bytes.withUnsafeBytes { push(bytes: $0) }
    }
    public func pushValue(at index: Int32) { lua_pushvalue(L, index) }
    public func newTable(arrayCount: Int32 = 0, recordCount: Int32 = 0) {
        lua_createtable(L, arrayCount, recordCount)
    }

    /// Pushes a copied value. Tables are built anew.
    public func push(_ value: LuaValue) {
        switch value {
        case .nil: lua_pushnil(L)
        case .boolean(let b): push(b)
        case .integer(let i): push(i)
        case .number(let d): push(d)
        case .string(let s): push(bytes: s)
        case .table(let t):
            ensureStack(3)
            newTable(recordCount: Int32(clamping: t.count))
            for (k, v) in t where k != .nil && v != .nil {
                push(k)
                push(v)
                lua_rawset(L, -3)
            }
        }
    }

    // MARK: read

    public func isNoneOrNil(_ index: Int32) -> Bool { mp_isnoneornil(L, index) != 0 }

    public func toBool(_ index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

    /// The bytes of a string (not of a number: no conversion happens).
    public func withBytes<R>(at index: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = mp_tolstring(L, index, &len) else { return nil }
        return try body(UnsafeRawBufferPointer(start: p, count: len))
    }

    /// A string or a number, as Swift text (invalid UTF-8 is repaired).
    public func toString(_ index: Int32) -> String? {
        let t = lua_type(L, index)
        if t == LUA_TSTRING {
            return withBytes(at: index) { String(decoding: $0, as: UTF8.self) }
        }
        if t == LUA_TNUMBER {
            if lua_isinteger(L, index) != 0 { return String(lua_tointegerx(L, index, nil)) }
            return luaNumberText(lua_tonumberx(L, index, nil))
        }
        return nil
    }

    /// tostring() of any value, running __tostring under pcall.
    public func describe(_ index: Int32) -> String {
        let idx = absolute(index)
        ensureStack(4)
        _ = mp_safe_tostring(L, idx)
        defer { pop() }
        return toString(-1) ?? "?"
    }

    /// Copies the value at index out of the state. Functions, threads and
    /// userdata have no copy: they raise a validation error naming `path`,
    /// or with `lenient` are left out (as nil: `json.null` in a decoded
    /// body kept as an error's details).
    public func value(at index: Int32, path: String = "value", depth: Int = 0, lenient: Bool = false) throws -> LuaValue {
        let idx = absolute(index)
        switch lua_type(L, idx) {
        case LUA_TNIL, LUA_TNONE: return .nil
        case LUA_TBOOLEAN: return .boolean(toBool(idx))
        case LUA_TNUMBER:
            if lua_isinteger(L, idx) != 0 { return .integer(lua_tointegerx(L, idx, nil)) }
            return .number(lua_tonumberx(L, idx, nil))
        case LUA_TSTRING: return .string(withBytes(at: idx) { Array($0.bindMemory(to: UInt8.self)) } ?? [])
        case LUA_TTABLE:
            if depth > 200 { throw LuaError.validation("\(path) is nested too deeply (a cycle?)") }
            guard ensureStack(3) else { throw LuaError.validation("\(path): Lua stack overflow") }
            var out: [LuaValue: LuaValue] = [:]
            lua_pushnil(L)
            while lua_next(L, idx) != 0 {
                let key = try value(at: -2, path: path, depth: depth + 1, lenient: lenient)
                let keyText = key.stringValue ?? "\(key)"
                let item = try value(at: -1, path: "\(path).\(keyText)", depth: depth + 1, lenient: lenient)
                if key != .nil && item != .nil { out[key] = item }
                pop()
            }
            return .table(out)
        default:
            if lenient { return .nil }
            throw LuaError.validation("\(path) is a \(typeName(at: idx)), which cannot be copied")
        }
    }

    // MARK: tables (raw access only)

    /// t[key] of the table at `table`, pushed.
    @discardableResult
    public func rawGet(_ table: Int32, _ key: String) -> Int32 {
        let t = absolute(table)
        push(key)
        return lua_rawget(L, t)
    }

    /// t[key] = value at the top (popped).
    public func rawSet(_ table: Int32, _ key: String) {
        let t = absolute(table)
        push(key)
        mp_insert(L, -2)
        lua_rawset(L, t)
    }

    public func rawLength(_ index: Int32) -> Int { Int(lua_rawlen(L, index)) }

    /// Sets t[name] to a Swift function.
    public func setFunction(_ table: Int32, _ name: String, qualifiedName: String? = nil, _ body: @escaping LuaFunctionBody) {
        let t = absolute(table)
        push(function: qualifiedName ?? name, body)
        rawSet(t, name)
    }

    // MARK: registry and globals

    public func pushGlobals() { mp_pushglobaltable(L) }

    /// _G[name] = the value at the top (popped), with no metamethod run
    /// (as `lua_setglobal` would run `_G`'s `__newindex`).
    public func rawSetGlobal(_ name: String) {
        ensureStack(2)
        pushGlobals()
        mp_insert(L, -2)
        rawSet(-2, name)
        pop()
    }

    /// A reference in the registry that keeps the value at the top alive (popped).
    public func ref() -> Int32 { luaL_ref(L, mp_registryindex()) }
    public func unref(_ r: Int32) { luaL_unref(L, mp_registryindex(), r) }
    public func pushRef(_ r: Int32) { lua_rawgeti(L, mp_registryindex(), lua_Integer(r)) }

    /// Loads a chunk without running it; on failure pushes the message.
    public func load(_ code: UnsafeRawBufferPointer, name: String, mode: String = "bt") -> Int32 {
        mp_load(L, code.baseAddress?.assumingMemoryBound(to: CChar.self), code.count, name, mode)
    }

    public func load(_ code: String, name: String) -> Int32 {
        var code = code
        return code.withUTF8 { load(UnsafeRawBufferPointer($0), name: name) }
    }

    /// Calls the function below nargs arguments under lua_pcall with a
    /// traceback handler. On failure leaves "message + traceback" on the stack.
    public func pcall(_ nargs: Int32, _ nresults: Int32) -> Int32 {
        mp_pcall_traceback(L, nargs, nresults)
    }
}

/// Lua's own formatting of floats ("%.14g", with ".0" for integral values),
/// so numbers read the same as in `print`.
public func luaNumberText(_ d: Double) -> String {
    if d.isNaN { return d.sign == .minus ? "-nan" : "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var buf = [CChar](repeating: 0, count: 64)
    let n = withVaList([d]) { vsnprintf(&buf, 64, "%.14g", $0) }
    var s = String(decoding: buf[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if !s.contains(where: { $0 == "." || $0 == "e" || $0 == "n" || $0 == "i" }) { s += ".0" }
    return s
}
