import CLua
import CMoonport
import LuaBridge

/// How the REPL shows a value.
///
/// At the top level a value reads as `print` shows it (strings unquoted,
/// numbers as `tostring`), except tables, which are pretty-printed:
/// the sequence part first in order, then the other keys sorted (numbers,
/// strings, booleans, then anything else), strings quoted with `%q`-like
/// escapes, nesting cut at `maxDepth` levels (`{...}`), at most `maxEntries`
/// entries a table (`... (N more)`), a table already being printed on the
/// current path shown as `<cycle>`. A value whose metatable has `__tostring`
/// (error objects among them) is shown by it, under `pcall`.
///
/// Only raw access is used (`lua_next`, `lua_rawget`, `lua_getmetatable`):
/// no metamethod runs except `__tostring`, which runs protected in C.
public struct ValueFormatter: Sendable {
    /// Tables nested deeper than this show as `{...}`.
    public var maxDepth: Int
    /// Entries shown per table before `... (N more)`.
    public var maxEntries: Int
    /// A table is written on one line when it fits in this many columns.
    public var lineWidth: Int

    public init(maxDepth: Int = 3, maxEntries: Int = 100, lineWidth: Int = 72) {
        self.maxDepth = maxDepth
        self.maxEntries = maxEntries
        self.lineWidth = lineWidth
    }

    /// The value at `index` as the REPL prints it.
    public func format(_ lua: LuaState, at index: Int32) -> String {
        let idx = lua.absolute(index)
        if lua.type(at: idx) == LUA_TTABLE {
            var visiting = Set<UnsafeRawPointer>()
            return render(lua, idx, depth: 1, indent: 0, visiting: &visiting)
        }
        return Self.tostring(lua, idx)
    }

    /// Several values, separated by tabs as `print` does.
    public func format(_ lua: LuaState, values first: Int32, count: Int32) -> String {
        let base = lua.absolute(first)
        return (0..<count).map { format(lua, at: base + $0) }.joined(separator: "\t")
    }

    // MARK: rendering

    /// A value inside a table (strings quoted).
    private func render(_ lua: LuaState, _ idx: Int32, depth: Int, indent: Int, visiting: inout Set<UnsafeRawPointer>)
        -> String
    {
        let L = lua.L
        switch lua_type(L, idx) {
        case LUA_TNIL: return "nil"
        case LUA_TBOOLEAN: return lua.toBool(idx) ? "true" : "false"
        case LUA_TNUMBER: return lua.toString(idx) ?? "?"
        case LUA_TSTRING: return Self.quote(lua.withBytes(at: idx) { Array($0) } ?? [])
        case LUA_TTABLE: break
        default: return Self.tostring(lua, idx)
        }
        if Self.hasToString(lua, idx) { return Self.tostring(lua, idx) }
        guard let identity = lua_topointer(L, idx) else { return Self.tostring(lua, idx) }
        if visiting.contains(identity) { return "<cycle>" }
        guard lua.ensureStack(8) else { return "{...}" }
        lua_pushnil(L)
        if lua_next(L, idx) == 0 { return "{}" }
        lua.pop(2)
        if depth > maxDepth { return "{...}" }
        visiting.insert(identity)
        defer { visiting.remove(identity) }

        // Pass 1: the keys, as Swift values; keys that cannot be pushed again
        // from Swift (tables, functions, ...) are kept in a scratch table.
        lua.newTable()
        let scratch = lua.top
        defer { lua.top = scratch - 1 }
        var integers = Set<Int64>()
        var others: [Key] = []
        var slots: Int64 = 0
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            lua.pop()  // the value
            switch lua_type(L, -1) {
            case LUA_TNUMBER:
                if lua_isinteger(L, -1) != 0 {
                    integers.insert(lua_tointegerx(L, -1, nil))
                } else {
                    others.append(.float(lua_tonumberx(L, -1, nil)))
                }
            case LUA_TSTRING:
                others.append(.string(lua.withBytes(at: -1) { Array($0) } ?? []))
            case LUA_TBOOLEAN:
                others.append(.boolean(lua.toBool(-1)))
            default:
                slots += 1
                lua.pushValue(at: -1)
                lua_rawseti(L, scratch, slots)
                others.append(.other(slot: slots, text: Self.tostring(lua, -1)))
            }
        }
        var sequenceCount: Int64 = 0
        while integers.contains(sequenceCount + 1) { sequenceCount += 1 }
        for i in integers where i < 1 || i > sequenceCount { others.append(.integer(i)) }
        others.sort(by: Key.precedes)

        // Pass 2: the entries shown.
        let total = Int(sequenceCount) + others.count
        let shown = min(total, maxEntries)
        var entries: [String] = []
        entries.reserveCapacity(shown + 1)
        for n in 0..<shown {
            let keyText: String?
            if n < Int(sequenceCount) {
                lua_pushinteger(L, Int64(n + 1))
                keyText = nil
            } else {
                let key = others[n - Int(sequenceCount)]
                key.push(lua, scratch: scratch)
                keyText = key.label
            }
            lua_rawget(L, idx)
            let value = render(lua, lua.top, depth: depth + 1, indent: indent + 1, visiting: &visiting)
            lua.pop()
            entries.append(keyText.map { "\($0) = \(value)" } ?? value)
        }
        if total > shown { entries.append("... (\(total - shown) more)") }

        let oneLine = "{" + entries.joined(separator: ", ") + "}"
        if indent * 2 + oneLine.count <= lineWidth && !oneLine.contains("\n") { return oneLine }
        let pad = String(repeating: "  ", count: indent + 1)
        let closing = String(repeating: "  ", count: indent)
        return "{\n" + entries.map { pad + $0 }.joined(separator: ",\n") + "\n" + closing + "}"
    }

    /// A table key that is not part of the sequence.
    private enum Key {
        case integer(Int64)
        case float(Double)
        case string([UInt8])
        case boolean(Bool)
        case other(slot: Int64, text: String)

        private var rank: Int {
            switch self {
            case .integer, .float: return 0
            case .string: return 1
            case .boolean: return 2
            case .other: return 3
            }
        }

        static func precedes(_ a: Key, _ b: Key) -> Bool {
            if a.rank != b.rank { return a.rank < b.rank }
            switch (a, b) {
            case (.integer(let x), .integer(let y)): return x < y
            case (.string(let x), .string(let y)): return x.lexicographicallyPrecedes(y)
            case (.boolean(let x), .boolean(let y)): return !x && y
            case (.other(_, let x), .other(_, let y)): return x < y
            default: return a.number < b.number
            }
        }

        private var number: Double {
            switch self {
            case .integer(let i): return Double(i)
            case .float(let d): return d
            default: return 0
            }
        }

        func push(_ lua: LuaState, scratch: Int32) {
            switch self {
            case .integer(let i): lua.push(i)
            case .float(let d): lua.push(d)
            case .string(let s): lua.push(bytes: s)
            case .boolean(let b): lua.push(b)
            case .other(let slot, _): lua_rawgeti(lua.L, scratch, slot)
            }
        }

        /// `name`, or `[key]`.
        var label: String {
            switch self {
            case .string(let s):
                if let name = Self.identifier(s) { return name }
                return "[" + ValueFormatter.quote(s) + "]"
            case .integer(let i): return "[\(i)]"
            case .float(let d): return "[" + luaNumberText(d) + "]"
            case .boolean(let b): return b ? "[true]" : "[false]"
            case .other(_, let text): return "[" + text + "]"
            }
        }

        static func identifier(_ bytes: [UInt8]) -> String? {
            let s = String(decoding: bytes, as: UTF8.self)
            return LuaSyntax.isIdentifier(s) ? s : nil
        }
    }

    // MARK: helpers

    /// Does the value's metatable have a `__tostring` (raw lookup)?
    static func hasToString(_ lua: LuaState, _ idx: Int32) -> Bool {
        lua.ensureStack(3)
        guard lua_getmetatable(lua.L, idx) != 0 else { return false }
        defer { lua.pop(2) }
        return lua.rawGet(-1, "__tostring") != LUA_TNIL
    }

    /// `tostring(value)`, protected (C's luaL_tolstring under pcall).
    static func tostring(_ lua: LuaState, _ idx: Int32) -> String {
        let idx = lua.absolute(idx)
        lua.ensureStack(4)
        let ok = mp_safe_tostring(lua.L, idx) != 0
        defer { lua.pop() }
        let text = lua.toString(-1) ?? "?"
        return ok ? text : "<__tostring failed: \(text)>"
    }

    /// A string literal with `%q`-like escapes: `\"`, `\\`, `\n`, `\r`,
    /// `\t`, `\ddd` for other control characters and for bytes that are not
    /// valid UTF-8 (valid non-ASCII text is kept as it is).
    public static func quote(_ bytes: [UInt8]) -> String {
        var out = "\""
        if let text = String(validating: bytes, as: UTF8.self) {
            let scalars = Array(text.unicodeScalars)
            for (i, c) in scalars.enumerated() {
                let next = i + 1 < scalars.count ? scalars[i + 1].value : nil
                if c.value < 0x80 {
                    out += escape(UInt8(c.value), next: next)
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        } else {
            for (i, b) in bytes.enumerated() {
                let next = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : nil
                out += b < 0x80 ? escape(b, next: next) : "\\" + String(b)
            }
        }
        return out + "\""
    }

    /// One ASCII byte inside a quoted string.
    private static func escape(_ b: UInt8, next: UInt32?) -> String {
        switch b {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "\n"): return "\\n"
        case UInt8(ascii: "\r"): return "\\r"
        case UInt8(ascii: "\t"): return "\\t"
        case 0..<0x20, 0x7f:
            // \ddd, padded to three digits when a digit follows (as %q does)
            let code = String(b)
            let nextIsDigit = next.map { $0 >= 0x30 && $0 <= 0x39 } ?? false
            return "\\" + (nextIsDigit ? String(repeating: "0", count: 3 - code.count) : "") + code
        default:
            return String(UnicodeScalar(b))
        }
    }
}

/// Lua's lexical facts the REPL needs.
public enum LuaSyntax {
    public static let keywords: [String] = [
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
        "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ]
    private static let keywordSet = Set(keywords)

    /// A name that can follow `.` (letters, digits, `_`; not a keyword).
    public static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, isNameStart(first) else { return false }
        return s.utf8.allSatisfy(isNameByte) && !keywordSet.contains(s)
    }

    static func isNameStart(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        isNameStart(b) || (b >= 0x30 && b <= 0x39)
    }
}
