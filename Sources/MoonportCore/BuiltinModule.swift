import CLua
import LuaBridge

/// A module compiled into moonport and registered in `package.preload`, so
/// `require` finds it without touching the disk.
public struct BuiltinModule {
    public let name: String
    /// Called by `require(name)`: pushes the module's value and returns `.results(1)`.
    public let open: LuaFunctionBody

    public init(name: String, open: @escaping LuaFunctionBody) {
        self.name = name
        self.open = open
    }
}

extension LuaState {
    /// package.preload[module.name] = module.open
    public func preload(_ module: BuiltinModule) {
        ensureStack(4)
        pushGlobals()
        rawGet(-1, "package")
        rawGet(-1, "preload")
        push(function: "require '\(module.name)'", module.open)
        rawSet(-2, module.name)
        pop(3)
    }
}
