import CLua
import LuaBridge

/// The REPL's global `help`: `help(clari.export)` prints a function's doc,
/// `help(clari)` lists a module, `help()` says where to start. The text
/// comes from moonport.doc, the same doc comments `moonport types` writes;
/// the module is loaded at the first call. Scripts do not get the global.
enum ReplHelp {
    static let chunk = "help = function(...) return require('moonport.doc').print_help(...) end"

    static func install(in lua: LuaState) {
        let base = lua.top
        defer { lua.pop(lua.top - base) }
        guard lua.load(chunk, name: "=help") == LUA_OK else { return }
        _ = lua.pcall(0, 0)
    }
}
