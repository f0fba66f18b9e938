import CLua
import LuaBridge

/// `require "moonport.task"`: the primitives under stdlib/task.lua.
/// spawn(fn, ...) -> handle; wait(handle) -> fn's results; sleep(seconds).
enum TaskModule {
    static var builtin: BuiltinModule {
        BuiltinModule(name: "moonport.task") { call in
            let lua = call.lua
            lua.newTable(recordCount: 3)
            lua.registerObjectType(LuaTask.self, metamethods: [
                "__tostring": { call in
                    let task = try call.object(1, "task", as: LuaTask.self)
                    let state = task.isFinished ? (task.failed ? "failed" : "done") : "running"
                    return call.results(.text("task: \(task.name) (\(state))"))
                }
            ])

            lua.setFunction(-1, "spawn", qualifiedName: "task.spawn") { call in
                try call.function(1, "fn")
                guard let runtime = LuaRuntime.owning(call.lua.L) else {
                    throw LuaError(.runtime, "task.spawn: no runtime")
                }
                let lua = call.lua
                var name = "task"
                var ar = lua_Debug()
                lua.pushValue(at: 1)
                if lua_getinfo(lua.L, ">S", &ar) != 0, let src = ar.short_src_pointer {
                    name = "\(src):\(ar.linedefined)"
                }
                let task = runtime.spawn(on: lua, nargs: lua.top - 1, name: name, detached: true)
                lua.push(object: task)
                return .results(1)
            }

            lua.setFunction(-1, "wait", qualifiedName: "task.wait") { call in
                let task = try call.object(1, "task", as: LuaTask.self)
                guard let runtime = LuaRuntime.owning(call.lua.L) else {
                    throw LuaError(.runtime, "task.wait: no runtime")
                }
                guard task.detached else {
                    throw LuaError.validation("task.wait: argument #1 (task) is not a task made by task.spawn")
                }
                if task.isFinished {
                    return .results(try runtime.pushOutcome(of: task, on: call.lua))
                }
                return try runtime.suspend(call.lua, until: task, name: "task.wait") { lua in
                    try runtime.pushOutcome(of: task, on: lua)
                }
            }

            lua.setFunction(-1, "sleep", qualifiedName: "task.sleep") { call in
                let seconds = try call.number(1, "seconds")
                guard seconds.isFinite, seconds >= 0 else {
                    throw LuaError.validation("task.sleep: argument #1 (seconds) must be a finite number >= 0, got \(seconds)")
                }
                return try call.suspend({
                    try await Task.sleep(nanoseconds: UInt64(min(seconds, 1e9) * 1e9))
                }, deliver: { _, _ in 0 })
            }
            return .results(1)
        }
    }
}

extension lua_Debug {
    /// short_src as a C string pointer (a fixed-size C array in Swift).
    fileprivate var short_src_pointer: String? {
        var copy = short_src
        return withUnsafeBytes(of: &copy) { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return nil }
            return String(cString: base)
        }
    }
}
