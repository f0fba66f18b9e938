import CLua
import CMoonport
import LuaBridge

/// What Tab can complete at the end of some text.
public struct Completion: Equatable, Sendable {
    /// The partial name being completed (the text after the last `.` or `:`).
    public var word: String
    /// Full names that start with `word`, sorted, without duplicates.
    public var candidates: [String]

    public init(word: String, candidates: [String]) {
        self.word = word
        self.candidates = candidates
    }

    /// The longest prefix every candidate shares (at least `word`).
    public var commonPrefix: String {
        guard var prefix = candidates.first.map(Array.init) else { return word }
        for c in candidates.dropFirst() {
            let chars = Array(c)
            var n = 0
            while n < prefix.count && n < chars.count && prefix[n] == chars[n] { n += 1 }
            prefix.removeSubrange(n...)
        }
        return String(prefix)
    }

    /// The text to insert at the cursor for one Tab: the rest of the single
    /// candidate, or of the candidates' common prefix ("" if nothing to add).
    public var insertion: String {
        let prefix = commonPrefix
        guard prefix.count > word.count, prefix.hasPrefix(word) else { return "" }
        return String(prefix.dropFirst(word.count))
    }
}

/// Tab completion of globals, fields and Lua keywords.
///
/// `clari.ex` completes against the fields of the global `clari`; a path of
/// names joined by `.` or `:` is walked from the globals with raw access only
/// (no metamethod runs). A table's fields include those of its metatable's
/// `__index` when that is a table, and a string or userdata offers the fields
/// of its metatable's `__index` table, so `s:up` completes `upper`. After `:`
/// only functions are offered. A bare word also completes keywords.
public enum LuaCompleter {
    /// Completions for the expression that ends `text` (the line up to the cursor).
    public static func complete(_ text: String, in lua: LuaState) -> Completion {
        if let partial = requireArgument(text) { return modules(matching: partial, in: lua) }
        let (path, separator, word) = split(text)
        guard let path else { return Completion(word: word, candidates: []) }
        var names = Set<String>()
        lua.ensureStack(8)
        let base = lua.top
        defer { lua.top = base }
        lua.pushGlobals()
        for component in path {
            guard field(lua, named: component) else { return Completion(word: word, candidates: []) }
        }
        collect(lua, at: lua.top, prefix: word, functionsOnly: separator == ":", into: &names)
        if path.isEmpty {
            for k in LuaSyntax.keywords where k.hasPrefix(word) { names.insert(k) }
        }
        return Completion(word: word, candidates: names.sorted())
    }

    /// The partial module name of a `require "clar` (or `require('clar`)
    /// the text ends in; nil when it ends in something else.
    static func requireArgument(_ text: String) -> String? {
        var name = Substring(text)
        var i = text.endIndex
        while i > text.startIndex {
            let c = text[text.index(before: i)]
            guard c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-") else { break }
            i = text.index(before: i)
        }
        name = text[i...]
        var before = text[..<i]
        guard let quote = before.last, quote == "\"" || quote == "'" else { return nil }
        before = before.dropLast()
        while before.last == " " { before = before.dropLast() }
        if before.last == "(" { before = before.dropLast() }
        while before.last == " " { before = before.dropLast() }
        guard before.hasSuffix("require") else { return nil }
        let head = before.dropLast("require".count)
        if let c = head.last, c.isLetter || c.isNumber || c == "_" || c == "." || c == ":" { return nil }
        return String(name)
    }

    /// Module names for `require`: the built-in ones (package.preload, not
    /// moonport's internals) and those loaded already.
    static func modules(matching partial: String, in lua: LuaState) -> Completion {
        var names = Set<String>()
        let base = lua.top
        defer { lua.top = base }
        lua.ensureStack(6)
        lua.pushGlobals()
        lua.rawGet(-1, "package")
        guard lua.type(at: -1) == LUA_TTABLE else { return Completion(word: partial, candidates: []) }
        let package = lua.top
        for field in ["preload", "loaded"] {
            lua.rawGet(package, field)
            if lua.type(at: -1) == LUA_TTABLE {
                let t = lua.top
                lua_pushnil(lua.L)
                while lua_next(lua.L, t) != 0 {
                    if lua.type(at: -2) == LUA_TSTRING, let key = lua.toString(-2), key.hasPrefix(partial),
                        partial.hasPrefix("moonport") || !(key.hasPrefix("moonport.") || key.hasPrefix("_")),
                        !["_G", "moonport.stdlib", "moonport.activity", "moonport.run"].contains(key)
                    {
                        names.insert(key)
                    }
                    lua.pop()
                }
            }
            lua.pop()
        }
        // The parts of a built-in kept in files of their own (clari.ingest,
        // csv.native) are not modules to require, unless asked for by name.
        if !partial.contains(".") {
            names = names.filter { name in
                guard let dot = name.firstIndex(of: "."), !name.hasPrefix("moonport.") else { return true }
                return !names.contains(String(name[..<dot]))
            }
        }
        return Completion(word: partial, candidates: names.sorted())
    }

    /// Splits the end of the text into the path before the word, the
    /// separator before the word (`.`, `:` or nil) and the word. The path is
    /// nil when the text does not end in something completable.
    static func split(_ text: String) -> (path: [String]?, separator: Character?, word: String) {
        // The trailing run of name characters, dots and colons.
        var start = text.endIndex
        while start > text.startIndex {
            let before = text.index(before: start)
            let c = text[before]
            guard c == "." || c == ":" || (c.isASCII && (c.isLetter || c.isNumber || c == "_")) else { break }
            start = before
        }
        var expression = Substring(text[start...])
        // `a..b` is a concatenation: complete `b` only.
        var i = expression.endIndex
        while i > expression.startIndex {
            let before = expression.index(before: i)
            if expression[before] == ".", before > expression.startIndex,
                expression[expression.index(before: before)] == "."
            {
                expression = expression[i...]
                break
            }
            i = before
        }
        var parts: [Substring] = []
        var separators: [Character] = []
        var partStart = expression.startIndex
        for i in expression.indices where expression[i] == "." || expression[i] == ":" {
            parts.append(expression[partStart..<i])
            separators.append(expression[i])
            partStart = expression.index(after: i)
        }
        let word = String(expression[partStart...])
        // ':' may only come last (a method call); every part must be a name.
        if separators.dropLast().contains(":") { return (nil, nil, word) }
        if !word.isEmpty && !isNameStart(word) { return (nil, nil, word) }
        // Every part must be a name: `f().x`, `t[1].x` and `"s".x` leave an
        // empty part before the dot and are not completed.
        var path: [String] = []
        for p in parts {
            let name = String(p)
            guard LuaSyntax.isIdentifier(name) else { return (nil, nil, word) }
            path.append(name)
        }
        return (path, separators.last, word)
    }

    private static func isNameStart(_ s: String) -> Bool {
        guard let b = s.utf8.first else { return false }
        return LuaSyntax.isNameStart(b)
    }

    /// Replaces the value at the top by its field `name` (raw, then the
    /// `__index` tables of its metatables). False when there is no such field.
    private static func field(_ lua: LuaState, named name: String) -> Bool {
        let L = lua.L
        var hops = 0
        while hops < 8 {
            hops += 1
            if lua.type(at: -1) == LUA_TTABLE {
                lua.rawGet(-1, name)
                if lua.type(at: -1) != LUA_TNIL {
                    mp_remove(L, -2)
                    return true
                }
                lua.pop()
            }
            // Not found here: follow the metatable's __index if it is a table.
            guard pushIndexTable(lua, of: -1) else {
                lua.pop()
                return false
            }
            mp_remove(L, -2)
        }
        lua.pop()
        return false
    }

    /// Pushes the `__index` of the value's metatable when it is a table.
    private static func pushIndexTable(_ lua: LuaState, of index: Int32) -> Bool {
        let idx = lua.absolute(index)
        guard lua_getmetatable(lua.L, idx) != 0 else { return false }
        lua.rawGet(-1, "__index")
        mp_remove(lua.L, -2)
        if lua.type(at: -1) == LUA_TTABLE { return true }
        lua.pop()
        return false
    }

    /// Adds the identifier keys of the value at `index` (and of its
    /// `__index` chain) that start with `prefix`.
    private static func collect(
        _ lua: LuaState, at index: Int32, prefix: String, functionsOnly: Bool, into names: inout Set<String>
    ) {
        let L = lua.L
        let base = lua.top
        defer { lua.top = base }
        lua.pushValue(at: index)
        var seen = Set<UnsafeRawPointer>()
        for _ in 0..<8 {
            if lua.type(at: -1) == LUA_TTABLE, let identity = lua_topointer(L, -1) {
                if !seen.insert(identity).inserted { break }
                let t = lua.top
                lua_pushnil(L)
                while lua_next(L, t) != 0 {
                    if lua.type(at: -2) == LUA_TSTRING, let key = lua.toString(-2),
                        key.hasPrefix(prefix), LuaSyntax.isIdentifier(key),
                        // Internals (_def, _expose, ...) only when asked for by their "_".
                        !key.hasPrefix("_") || prefix.hasPrefix("_"),
                        !functionsOnly || isCallable(lua, at: -1)
                    {
                        names.insert(key)
                    }
                    lua.pop()
                }
            }
            guard pushIndexTable(lua, of: -1) else { break }
            mp_remove(L, -2)
        }
    }

    private static func isCallable(_ lua: LuaState, at index: Int32) -> Bool {
        let idx = lua.absolute(index)
        if lua.type(at: idx) == LUA_TFUNCTION { return true }
        guard lua_getmetatable(lua.L, idx) != 0 else { return false }
        defer { lua.pop(2) }
        return lua.rawGet(-1, "__call") != LUA_TNIL
    }
}
