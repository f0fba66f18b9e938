import CLua
import CMoonport

/// What a Swift function implemented for Lua gives back.
public enum LuaReturn {
    /// This many results were pushed.
    case results(Int32)
    /// Host work was started with `LuaCall.suspend`: the calling coroutine
    /// is suspended until it ends.
    case suspended
}

public typealias LuaFunctionBody = (inout LuaCall) throws -> LuaReturn

/// The context a Swift function keeps in upvalue 1 of its C closure.
final class SwiftFunction {
    let name: String
    let body: LuaFunctionBody

    init(name: String, body: @escaping LuaFunctionBody) {
        self.name = name
        self.body = body
    }
}

let swiftFunctionMeta = "moonport.swiftfunction"
let errorMeta = "moonport.error"

extension LuaState {
    /// Pushes a Lua function implemented in Swift. `name` is used in argument
    /// errors ("json.decode: argument #1 ...").
    public func push(function name: String, _ body: @escaping LuaFunctionBody) {
        ensureStack(4)
        let box = Unmanaged.passRetained(SwiftFunction(name: name, body: body)).toOpaque()
        let slot = mp_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer?>.size)!
        slot.storeBytes(of: box, as: UnsafeMutableRawPointer?.self)
        if mp_getmetatable_named(L, swiftFunctionMeta) == LUA_TNIL {
            pop()
            luaL_newmetatable(L, swiftFunctionMeta)
            lua_pushcclosure(L, swiftFunctionGC, 0)
            rawSet(-2, "__gc")
        }
        lua_setmetatable(L, -2)
        mp_pushcclosure(L, 1)
    }
}

/// __gc of a function context: releases the Swift closure. Plain C-callable
/// Swift that never raises (Swift runs: the heap knows it).
private let swiftFunctionGC: lua_CFunction = { L in
    guard let L, let slot = lua_touserdata(L, 1) else { return 0 }
    let previous = mp_swift_enter(L)
    defer { mp_swift_leave(L, previous) }
    if let box = slot.load(as: UnsafeMutableRawPointer?.self) {
        Unmanaged<SwiftFunction>.fromOpaque(box).release()
        slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    }
    return 0
}

/// The entry point behind `mp_trampoline`: finds the Swift function in
/// upvalue 1, runs it, and turns its outcome into a count, MP_RAISE or
/// MP_SUSPEND.
@_cdecl("moonport_swift_call")
func moonportSwiftCall(_ L: OpaquePointer?) -> Int32 {
    guard let L else { return 0 }
    let lua = LuaState(L)
    guard let slot = lua_touserdata(L, mp_upvalueindex(1)),
        let raw = slot.load(as: UnsafeMutableRawPointer?.self)
    else {
        lua.push(LuaError(.runtime, "a Swift function was called after it was released"))
        return MP_RAISE
    }
    let function = Unmanaged<SwiftFunction>.fromOpaque(raw).takeUnretainedValue()
    var call = LuaCall(lua: lua, name: function.name)
    do {
        switch try function.body(&call) {
        case .results(let n): return n
        case .suspended: return MP_SUSPEND
        }
    } catch {
        lua.pushRaised(error, function: function.name)
        return MP_RAISE
    }
}

/// The entry point behind the continuation of a suspended call: pushes the
/// results of the call whose suspension ended.
@_cdecl("moonport_swift_deliver")
func moonportSwiftDeliver(_ L: OpaquePointer?) -> Int32 {
    guard let L else { return 0 }
    let lua = LuaState(L)
    guard let runtime = LuaRuntime.owning(L) else {
        lua.push(LuaError(.runtime, "resumed outside a moonport runtime"))
        return MP_RAISE
    }
    return runtime.deliver(to: lua)
}

extension LuaState {
    /// Pushes the Lua form of a Swift error, to be raised.
    func pushRaised(_ error: any Error, function: String?) {
        switch error {
        case is LuaErrorOnStack:
            if top == 0 { push(LuaError(.runtime, "\(function ?? "?"): unknown error")) }
        case let e as LuaError:
            push(e)
        default:
            push(LuaError(.runtime, "\(function.map { $0 + ": " } ?? "")\(error)"))
        }
    }

    /// Pushes an error table (SPEC.md §2) with its metatable. Its `where`
    /// field is the position of the Lua code that called the failing function.
    public func push(_ error: LuaError) {
        ensureStack(6)
        newTable(recordCount: 8)
        let t = top
        push(error.kind.rawValue); rawSet(t, "kind")
        push(error.message); rawSet(t, "message")
        if let v = error.vendor { push(v); rawSet(t, "vendor") }
        if let s = error.status { push(s); rawSet(t, "status") }
        if let c = error.code { push(c); rawSet(t, "code") }
        if let r = error.retryable { push(r); rawSet(t, "retryable") }
        if let d = error.details { push(d); rawSet(t, "details") }
        for (k, v) in error.extra { push(v); rawSet(t, k) }
        pushWhere(level: 1)
        rawSet(t, "where")
        pushErrorMetatable()
        lua_setmetatable(L, t)
    }

    /// Pushes "file:line: " of the Lua code at `level` (as luaL_where), but
    /// skips moonport's own stdlib and C functions: an error is reported
    /// where the script called into moonport, not inside it.
    public func pushWhere(level: Int32) {
        var ar = lua_Debug()
        var l = max(level, 1)
        while lua_getstack(L, l, &ar) != 0 {
            guard lua_getinfo(L, "Sl", &ar) != 0 else { break }
            let source = ar.source.map { String(cString: $0) } ?? ""
            if ar.currentline > 0 && !source.hasPrefix("@stdlib/") {
                mp_where(L, l)
                return
            }
            l += 1
        }
        push("")
    }

    /// The shared metatable of error objects: `__tostring` gives
    /// "file:line: message".
    public func pushErrorMetatable() {
        if mp_getmetatable_named(L, errorMeta) != LUA_TNIL { return }
        pop()
        luaL_newmetatable(L, errorMeta)
        push(function: "error.__tostring") { call in
            let lua = call.lua
            guard lua.type(at: 1) == LUA_TTABLE else {
                lua.push("(error)")
                return .results(1)
            }
            var text = ""
            if lua.rawGet(1, "where") == LUA_TSTRING { text += lua.toString(-1) ?? "" }
            lua.pop()
            if lua.rawGet(1, "message") == LUA_TSTRING || lua.type(at: -1) == LUA_TNUMBER {
                text += lua.toString(-1) ?? ""
            } else {
                text += "(error without a message)"
            }
            lua.pop()
            lua.push(text)
            return .results(1)
        }
        rawSet(-2, "__tostring")
    }
}

extension LuaState {
    /// Pushes a Swift function (as `push(function:)`) that keeps the value at
    /// the top of the stack alive for as long as the function lives (the
    /// value is popped). The body gets it back with `call.pushAnchor()`.
    /// Lets an iterator keep Lua values it needs on every call (for example
    /// the interned key strings of csv rows) without a registry reference
    /// that nothing would release if the iterator were dropped.
    public func push(function name: String, anchoring: (), _ body: @escaping LuaFunctionBody) {
        ensureStack(3)
        let value = top
        push(function: name, body)
        // Upvalue 1 is the userdata holding the Swift closure; its user value slot is free.
        _ = lua_getupvalue(L, -1, 1)
        pushValue(at: value)
        lua_setiuservalue(L, -2, 1)
        pop()
        lua_rotate(L, value, -1)
        pop()
    }
}

extension LuaCall {
    /// Pushes the value anchored by `push(function:anchoring:)` (nil for other functions).
    public func pushAnchor() {
        lua.ensureStack(2)
        if lua_getiuservalue(lua.L, mp_upvalueindex(1), 1) == LUA_TNONE {
            lua.pop()
            lua.pushNil()
        }
    }
}
