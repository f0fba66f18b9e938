import CLua
import CMoonport

/// A Swift object that Lua can hold. Lua keeps a strong reference in a full
/// userdata; its `__gc` releases it.
public protocol LuaObject: AnyObject {
    /// The metatable name (also `__name`, shown by tostring and in errors).
    static var luaTypeName: String { get }
}

extension LuaState {
    /// Creates (once) the metatable of T: `methods` become `__index`,
    /// `metamethods` (`__tostring`, `__len`, ...) are set as they are, and a
    /// `__gc` that releases the Swift object is added.
    public func registerObjectType<T: LuaObject>(
        _ type: T.Type, methods: [String: LuaFunctionBody] = [:], metamethods: [String: LuaFunctionBody] = [:]
    ) {
        ensureStack(4)
        if luaL_newmetatable(L, T.luaTypeName) == 0 {
            pop()
            return
        }
        let mt = top
        lua_pushcclosure(L, luaObjectGC, 0)
        rawSet(mt, "__gc")
        if !methods.isEmpty {
            newTable(recordCount: Int32(methods.count))
            for (name, body) in methods {
                setFunction(-1, name, qualifiedName: "\(T.luaTypeName):\(name)", body)
            }
            rawSet(mt, "__index")
        }
        for (name, body) in metamethods {
            setFunction(mt, name, qualifiedName: "\(T.luaTypeName).\(name)", body)
        }
        pop()
    }

    /// Pushes a userdata that holds `object` strongly until Lua collects it.
    public func push<T: LuaObject>(object: T) {
        ensureStack(3)
        let slot = mp_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer?>.size)!
        slot.storeBytes(of: Unmanaged.passRetained(object as AnyObject).toOpaque(), as: UnsafeMutableRawPointer?.self)
        if mp_getmetatable_named(L, T.luaTypeName) == LUA_TNIL {
            pop()
            registerObjectType(T.self)
            _ = mp_getmetatable_named(L, T.luaTypeName)
        }
        lua_setmetatable(L, -2)
    }

    /// The object in the userdata at index, if it is a live T.
    public func object<T: LuaObject>(at index: Int32, as: T.Type = T.self) -> T? {
        guard let slot = luaL_testudata(L, index, T.luaTypeName),
            let raw = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as? T
    }
}

/// __gc of an object's userdata: releases the Swift object (whose deinit
/// may use the state: Swift runs, the heap knows it).
private let luaObjectGC: lua_CFunction = { L in
    guard let L, let slot = lua_touserdata(L, 1) else { return 0 }
    let previous = mp_swift_enter(L)
    defer { mp_swift_leave(L, previous) }
    if let raw = slot.load(as: UnsafeMutableRawPointer?.self) {
        Unmanaged<AnyObject>.fromOpaque(raw).release()
        slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    }
    return 0
}
