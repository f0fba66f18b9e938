import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict RFC 8259 parser that builds Lua values directly on the Lua stack.
///
/// - The input is read in place (no copy); strings without escapes are pushed
///   straight from it, strings with escapes are unescaped in one reused
///   scratch buffer.
/// - It is iterative: nesting lives in `frames`, never on the C stack.
/// - The items of a container wait on the Lua stack until it closes, so each
///   table is created with its exact size. When pending items use too much
///   of the Lua stack, they are moved into their (then created) tables.
/// - The garbage collector keeps running. (Stopping it for the call and
///   restarting it, lua_gc STOP/RESTART, is ~15% faster on one big document
///   but RESTART zeroes the collector's debt: what was allocated while it
///   was stopped is never charged, so a loop of large decodes grows the heap
///   without bound. Charging it afterwards with LUA_GCSTEP runs a whole
///   cycle at once and was slower than leaving the collector on.)
///
/// Errors are `LuaError.validation` with `offset`, the 1-based byte offset
/// of the offending byte (the length + 1 when the input ended too early).
struct JSONParser {
    struct Frame {
        /// The stack slot of the container's table (nil until it is created).
        var base: Int32
        var isObject: Bool
        var created: Bool
        /// Array items already moved into the table.
        var flushed: Int
        /// Offset of the opening bracket (for messages).
        var open: Int
    }

    let L: OpaquePointer
    let function: String
    let start: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>
    var p: UnsafePointer<UInt8>

    var nullSlot: Int32 = 0
    var arrayMT: Int32 = 0
    var objectMT: Int32 = 0
    /// The first stack slot that holds decoded values.
    var bottom: Int32 = 0

    var frames: UnsafeMutablePointer<Frame>
    var frameCapacity = 8
    var depth = 0

    /// Values that may still be pushed before lua_checkstack must be called.
    var room: Int32 = 0

    var scratch: UnsafeMutablePointer<UInt8>?
    var scratchCapacity = 0

    /// Object keys repeat: a small cache of the Lua strings made for recent
    /// keys (anchored in a table at `keyCacheSlot`) saves interning them
    /// again, which costs cache misses in Lua's big string table.
    struct CachedKey {
        var hash: UInt64
        var count: Int
        var bytes: UnsafePointer<UInt8>?
    }
    static let keyCacheSize = 1024
    /// Small inputs go without (making the cache costs more than it saves).
    static let keyCacheMinimumInput = 4096
    var keyCache: UnsafeMutablePointer<CachedKey>?
    var keyCacheSlot: Int32 = 0

    /// json.read: the input is a private anonymous mapping whose pages
    /// before the current value may be given back (the strings were copied
    /// into Lua), and the file it was read from, to locate errors there.
    var releasable = false
    var sourceFD: Int32 = -1
    /// Bytes at the start of the input already given back.
    var released = 0
    static let releaseChunk = 8 << 20

    /// The decimal point of the C locale in force (strtod uses it).
    let decimalPoint: UInt8

    /// ndjson.read: the input is line `sourceLine` of a file (1-based; 0
    /// when the input is a whole document), so locations read "at byte N
    /// of line L (column C)", N counted from the start of that line.
    var sourceLine = 0

    /// Pending items beyond this many stack slots are moved into their tables.
    static let stackBudget: Int32 = 200_000

    init(L: OpaquePointer, bytes: UnsafePointer<UInt8>, count: Int, function: String) {
        self.L = L
        self.function = function
        start = bytes
        end = bytes + count
        p = bytes
        frames = .allocate(capacity: frameCapacity)
        if count >= Self.keyCacheMinimumInput {
            let cache = UnsafeMutablePointer<CachedKey>.allocate(capacity: Self.keyCacheSize)
            cache.initialize(repeating: CachedKey(hash: 0, count: -1, bytes: nil), count: Self.keyCacheSize)
            keyCache = cache
        }
        if let lc = localeconv(), let dp = lc.pointee.decimal_point, dp.pointee != 0 {
            decimalPoint = UInt8(bitPattern: dp.pointee)
        } else {
            decimalPoint = 0x2E
        }
    }

    func release() {
        frames.deallocate()
        keyCache?.deallocate()
        scratch?.deallocate()
    }

    /// Decodes `bytes` and pushes the value (only it: the stack is as before plus one).
    static func decode(
        _ lua: LuaState, _ bytes: UnsafeRawBufferPointer, function: String, source: String? = nil,
        releasableFrom fd: Int32 = -1, line sourceLine: Int = 0
    ) throws {
        let L = lua.L
        let prefix = source.map { "\(function): \($0)" } ?? function
        guard bytes.count > 0, let base = bytes.baseAddress else {
            throw LuaError.validation(
                "\(prefix): the input is empty (expected a JSON value at byte 1)", extra: ["offset": .integer(1)])
        }
        guard lua.ensureStack(64) else {
            throw LuaError.validation("\(prefix): the Lua stack is full", extra: ["offset": .integer(1)])
        }
        let first = lua.top + 1
        JSONModule.pushSentinels(lua)  // null, array mark, object mark, side marks
        if bytes.count >= keyCacheMinimumInput {
            lua_createtable(L, Int32(JSONParser.keyCacheSize), 0)
        } else {
            lua_pushnil(L)
        }

        var parser = JSONParser(
            L: L, bytes: base.assumingMemoryBound(to: UInt8.self), count: bytes.count, function: prefix)
        defer { parser.release() }
        parser.nullSlot = first
        parser.arrayMT = first + 1
        parser.objectMT = first + 2
        parser.releasable = fd >= 0
        parser.sourceFD = fd
        parser.sourceLine = sourceLine
        parser.keyCacheSlot = first + 4
        parser.bottom = first + 5
        do {
            try parser.parseDocument()
        } catch {
            lua_settop(L, first - 1)
            throw error
        }
        lua_copy(L, -1, first)
        lua_settop(L, first)
    }

    // MARK: the document

    mutating func parseDocument() throws {
        if end - start >= 3 && start[0] == 0xEF && start[1] == 0xBB && start[2] == 0xBF {
            throw fail(
                start,
                "the input starts with a UTF-8 byte order mark (EF BB BF) \(location(start)); "
                    + "JSON text must not begin with one (RFC 8259 §8.1): remove it first, "
                    + "e.g. s:gsub(\"^\\239\\187\\191\", \"\")")
        }
        try parseValues()
        skipWhitespace()
        if p < end {
            var hint = "only whitespace may follow the value"
            if p.pointee == 0x7B || p.pointee == 0x5B {
                // A line of an NDJSON file already is ndjson.read's: it holds one value.
                hint += sourceLine > 0
                    ? "; each line holds one JSON value: split these onto lines of their own"
                    : "; several JSON values one after another look like NDJSON (use ndjson.read)"
            }
            let what = p.pointee > 0x20 && p.pointee < 0x7F ? "character " : ""
            throw fail(p, "unexpected \(what)\(describeByte(p)) \(location(p)) after the JSON value (\(hint))")
        }
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while p < end {
            let c = p.pointee
            if c > 0x20 { return }
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { p += 1 } else { return }
        }
    }

    /// Parses one complete value (with everything nested in it) and leaves it pushed.
    mutating func parseValues() throws {
        valueLoop: while true {
            skipWhitespace()
            if p == end { throw unexpectedEnd(expecting: "a JSON value", unclosed: true) }
            if room < 16 { try refill() }
            room -= 2
            switch p.pointee {
            case 0x22:  // "
                try pushString()
            case 0x7B:  // {
                try openContainer(object: true)
                p += 1
                skipWhitespace()
                if p < end && p.pointee == 0x7D {
                    p += 1
                    closeContainer()
                } else {
                    try parseKeyAndColon()
                    continue valueLoop
                }
            case 0x5B:  // [
                try openContainer(object: false)
                p += 1
                skipWhitespace()
                if p < end && p.pointee == 0x5D {
                    p += 1
                    closeContainer()
                } else {
                    continue valueLoop
                }
            case 0x2D, 0x30...0x39:
                try pushNumber()
            case 0x74:  // t
                if end - p >= 4 && UnsafeRawPointer(p).loadUnaligned(as: UInt32.self) == 0x6575_7274 {
                    p += 4
                } else {
                    throw badLiteral("true")
                }
                lua_pushboolean(L, 1)
            case 0x66:  // f
                if end - p >= 5 && UnsafeRawPointer(p + 1).loadUnaligned(as: UInt32.self) == 0x6573_6C61 {
                    p += 5
                } else {
                    throw badLiteral("false")
                }
                lua_pushboolean(L, 0)
            case 0x6E:  // n
                if end - p >= 4 && UnsafeRawPointer(p).loadUnaligned(as: UInt32.self) == 0x6C6C_756E {
                    p += 4
                } else {
                    throw badLiteral("null")
                }
                lua_pushvalue(L, nullSlot)
            default:
                throw unexpectedValue()
            }

            // After a value: separators and closing brackets.
            while true {
                if depth == 0 { return }
                let isObject = frames[depth - 1].isObject
                skipWhitespace()
                if p == end {
                    throw unexpectedEnd(expecting: isObject ? "',' or '}'" : "',' or ']'", unclosed: true)
                }
                let c = p.pointee
                if c == 0x2C {  // ,
                    let comma = p
                    p += 1
                    skipWhitespace()
                    if isObject {
                        if p < end && p.pointee == 0x7D {
                            throw fail(
                                comma, "unexpected character ',' \(location(comma)): trailing comma before '}'")
                        }
                        try parseKeyAndColon()
                    } else if p < end && p.pointee == 0x5D {
                        throw fail(comma, "unexpected character ',' \(location(comma)): trailing comma before ']'")
                    }
                    continue valueLoop
                }
                if c == (isObject ? 0x7D : 0x5D) {
                    p += 1
                    closeContainer()
                    continue
                }
                throw expectedSeparator(isObject: isObject)
            }
        }
    }

    func badLiteral(_ name: String) -> LuaError {
        // The first byte that differs, for the offset.
        let expected = Array(name.utf8)
        var q = p
        var i = 0
        while i < expected.count && q < end && q.pointee == expected[i] {
            q += 1
            i += 1
        }
        if q == end {
            return fail(q, "unexpected end of input \(location(q)): expected '\(name)'")
        }
        if name == "null" && end - p >= 3 && p[1] == 0x61 && p[2] == 0x6E {  // nan
            return fail(p, "unexpected 'nan' \(location(p)): JSON has no NaN; write null or a string")
        }
        return fail(q, "invalid literal \(location(q)): expected '\(name)' but found \(describeByte(q))")
    }

    mutating func parseKeyAndColon() throws {
        if p == end { throw unexpectedEnd(expecting: "a string key", unclosed: true) }
        guard p.pointee == 0x22 else {
            var hint = "object keys must be strings in double quotes"
            if p.pointee == 0x27 { hint = "strings must use double quotes, not single quotes" }
            if p.pointee == 0x2F { hint = "JSON does not allow comments" }
            throw fail(p, "expected a string key \(location(p)) but found \(describeByte(p)) (\(hint))")
        }
        try pushKey()
        skipWhitespace()
        if p == end { throw unexpectedEnd(expecting: "':'", unclosed: true) }
        guard p.pointee == 0x3A else {
            throw fail(p, "expected ':' after the object key \(location(p)) but found \(describeByte(p))")
        }
        p += 1
    }

    // MARK: containers

    @inline(__always)
    mutating func openContainer(object: Bool) throws {
        if depth >= JSONModule.maxDepth {
            throw fail(
                p, "nesting deeper than \(JSONModule.maxDepth) levels \(location(p)) (arrays and objects inside each other)")
        }
        if depth == frameCapacity {
            let bigger = UnsafeMutablePointer<Frame>.allocate(capacity: frameCapacity * 2)
            bigger.moveInitialize(from: frames, count: depth)
            frames.deallocate()
            frames = bigger
            frameCapacity *= 2
        }
        lua_pushnil(L)
        (frames + depth).initialize(
            to: Frame(base: lua_gettop(L), isObject: object, created: false, flushed: 0, open: p - start))
        depth += 1
    }

    /// Builds the innermost container's table from the items above its slot
    /// and leaves it in that slot.
    @inline(__always)
    mutating func closeContainer() {
        let f = frames[depth - 1]
        depth -= 1
        let top = lua_gettop(L)
        let base = f.base
        if f.isObject {
            let pairs = (top - base) / 2
            if f.created {
                lua_pushvalue(L, base)
            } else {
                lua_createtable(L, 0, pairs)
            }
            var k = base + 1
            while k < top {
                lua_pushvalue(L, k)
                lua_pushvalue(L, k + 1)
                lua_rawset(L, -3)
                k += 2
            }
            lua_pushvalue(L, objectMT)
            lua_setmetatable(L, -2)
        } else {
            let n = top - base
            if f.created {
                lua_pushvalue(L, base)
            } else {
                lua_createtable(L, n, 0)
            }
            lua_rotate(L, base + 1, 1)  // the table below its items
            var i = lua_Integer(n)
            let offset = lua_Integer(f.flushed)
            while i > 0 {
                lua_rawseti(L, base + 1, offset + i)
                i -= 1
            }
            lua_pushvalue(L, arrayMT)
            lua_setmetatable(L, -2)
        }
        lua_copy(L, -1, base)
        lua_settop(L, base)
    }

    /// Makes room on the Lua stack; moves pending items into their tables when
    /// they take too much of it.
    mutating func refill() throws {
        if releasable && (p - start) - released >= Self.releaseChunk { releaseInput() }
        if lua_gettop(L) - bottom > Self.stackBudget { flushAll() }
        if lua_checkstack(L, 4096) != 0 {
            room = 4096
            return
        }
        flushAll()
        if lua_checkstack(L, 64) != 0 {
            room = 64
            return
        }
        throw fail(p, "the document is nested too deeply for the Lua stack \(location(p))")
    }

    /// Gives back the pages of input before the current value (json.read).
    mutating func releaseInput() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let upTo = ((p - start) / page) * page
        guard upTo > released else { return }
        let from = UnsafeMutableRawPointer(mutating: start + released)
        if madvise(from, upTo - released, Int32(MADV_DONTNEED)) == 0 { released = upTo }
    }

    /// Moves every container's pending items into its table (created now if
    /// needed) and compacts the stack. Called at the start of a value, when
    /// every open object has its current key pushed last.
    mutating func flushAll() {
        guard depth > 0 else { return }
        let top = lua_gettop(L)
        var write = frames[0].base
        for i in 0..<depth {
            var f = frames[i]
            let next = i + 1 < depth ? frames[i + 1].base : top + 1
            let itemsEnd = f.isObject ? next - 1 : next
            let first = f.base + 1
            let slots = itemsEnd - first
            if !f.created {
                lua_createtable(L, f.isObject ? 0 : slots, f.isObject ? slots / 2 : 0)
                lua_copy(L, -1, f.base)
                lua_settop(L, -2)
                f.created = true
            }
            if f.isObject {
                var k = first
                while k < itemsEnd {
                    lua_pushvalue(L, k)
                    lua_pushvalue(L, k + 1)
                    lua_rawset(L, f.base)
                    k += 2
                }
            } else {
                for j in 0..<slots {
                    lua_pushvalue(L, first + j)
                    lua_rawseti(L, f.base, lua_Integer(f.flushed) + lua_Integer(j) + 1)
                }
                f.flushed += Int(slots)
            }
            if write != f.base { lua_copy(L, f.base, write) }
            f.base = write
            write += 1
            if f.isObject {
                if write != itemsEnd { lua_copy(L, itemsEnd, write) }
                write += 1
            }
            frames[i] = f
        }
        lua_settop(L, write - 1)
    }

    // MARK: strings

    /// The first byte at or after `from` that is '"', '\\', a control
    /// character or non-ASCII (or `end`). Eight bytes at a time.
    @inline(__always)
    func scanPlain(_ from: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        var q = from
        while end - q >= 8 {
            let w = UnsafeRawPointer(q).loadUnaligned(as: UInt64.self)
            let m = jsonSpecialBytes(w)
            if m != 0 { return q + (m.trailingZeroBitCount &>> 3) }
            q += 8
        }
        while q < end {
            let c = q.pointee
            if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { return q }
            q += 1
        }
        return q
    }

    /// Pushes the string that starts at p (a '"') and moves p past it.
    @inline(__always)
    mutating func pushString() throws {
        let open = p
        let s = p + 1
        var q = s
        while true {
            q = scanPlain(q)
            if q == end { throw unterminatedString(open) }
            let c = q.pointee
            if c == 0x22 {
                lua_pushlstring(L, UnsafeRawPointer(s).assumingMemoryBound(to: CChar.self), q - s)
                p = q + 1
                return
            }
            if c >= 0x80 {
                let n = jsonUTF8SequenceLength(q, end)
                if n == 0 { throw invalidUTF8(q) }
                q += n
                continue
            }
            if c == 0x5C {
                try pushEscapedString(open: open, plainUntil: q)
                return
            }
            throw controlCharacter(q)
        }
    }

    /// pushString for object keys, through the key cache.
    @inline(__always)
    mutating func pushKey() throws {
        let s = p + 1
        let q = scanPlain(s)
        guard let keyCache, q < end && q.pointee == 0x22 else {
            try pushString()
            return
        }
        let n = q - s
        let hash = Self.hashKey(s, n)
        let slot = Int(truncatingIfNeeded: hash) & (Self.keyCacheSize - 1)
        let entry = keyCache + slot
        if entry.pointee.hash == hash && entry.pointee.count == n
            && (n == 0 || memcmp(entry.pointee.bytes!, s, n) == 0)
        {
            lua_rawgeti(L, keyCacheSlot, lua_Integer(slot + 1))
        } else {
            let made = lua_pushlstring(L, UnsafeRawPointer(s).assumingMemoryBound(to: CChar.self), n)
            lua_pushvalue(L, -1)
            lua_rawseti(L, keyCacheSlot, lua_Integer(slot + 1))
            entry.pointee = CachedKey(
                hash: hash, count: n, bytes: UnsafeRawPointer(made!).assumingMemoryBound(to: UInt8.self))
        }
        p = q + 1
    }

    @inline(__always)
    static func hashKey(_ s: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var a: UInt64 = 0
        var b: UInt64 = 0
        if n >= 8 {
            a = UnsafeRawPointer(s).loadUnaligned(as: UInt64.self)
            b = UnsafeRawPointer(s + n - 8).loadUnaligned(as: UInt64.self)
        } else {
            for i in 0..<n { a = a << 8 | UInt64(s[i]) }
        }
        var h = (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(n)
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }

    @inline(__always)
    mutating func reserveScratch(_ used: Int, _ more: Int) {
        if used + more <= scratchCapacity { return }
        var capacity = max(scratchCapacity * 2, 256)
        while capacity < used + more { capacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        if let old = scratch {
            bigger.update(from: old, count: used)
            old.deallocate()
        }
        scratch = bigger
        scratchCapacity = capacity
    }

    /// The slow path: the string has escapes. Unescapes into `scratch`.
    mutating func pushEscapedString(open: UnsafePointer<UInt8>, plainUntil: UnsafePointer<UInt8>) throws {
        let s = open + 1
        var used = plainUntil - s
        reserveScratch(0, used + 64)
        scratch!.update(from: s, count: used)
        var q = plainUntil
        while true {
            // q is at a special byte.
            let c = q.pointee
            if c == 0x22 {
                lua_pushlstring(L, UnsafeRawPointer(scratch!).assumingMemoryBound(to: CChar.self), used)
                p = q + 1
                return
            }
            if c == 0x5C {
                if end - q < 2 { throw unterminatedString(open) }
                reserveScratch(used, 4)
                let out = scratch! + used
                switch q[1] {
                case 0x22, 0x5C, 0x2F:
                    out.pointee = q[1]
                    used += 1
                    q += 2
                case 0x62: out.pointee = 0x08; used += 1; q += 2
                case 0x66: out.pointee = 0x0C; used += 1; q += 2
                case 0x6E: out.pointee = 0x0A; used += 1; q += 2
                case 0x72: out.pointee = 0x0D; used += 1; q += 2
                case 0x74: out.pointee = 0x09; used += 1; q += 2
                case 0x75:
                    var code = try hex4(q, open: open)
                    let escape = q
                    q += 6
                    if code >= 0xD800 && code <= 0xDBFF {
                        guard end - q >= 6, q[0] == 0x5C, q[1] == 0x75 else {
                            throw fail(
                                escape,
                                "lone high surrogate \(escapeText(escape)) \(location(escape)): it must be followed "
                                    + "by a low surrogate \\uDC00-\\uDFFF (the two encode one character)")
                        }
                        let low = try hex4(q, open: open)
                        guard low >= 0xDC00 && low <= 0xDFFF else {
                            throw fail(
                                escape,
                                "lone high surrogate \(escapeText(escape)) \(location(escape)): it is followed by "
                                    + "\(escapeText(q)), not by a low surrogate \\uDC00-\\uDFFF")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        q += 6
                    } else if code >= 0xDC00 && code <= 0xDFFF {
                        throw fail(
                            escape,
                            "lone low surrogate \(escapeText(escape)) \(location(escape)): it must follow "
                                + "a high surrogate \\uD800-\\uDBFF")
                    }
                    used += writeUTF8(code, to: out)
                default:
                    throw fail(
                        q,
                        "invalid escape \(escapeText(q, length: 2)) \(location(q)) in a string "
                            + "(valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                }
            } else if c >= 0x80 {
                let n = jsonUTF8SequenceLength(q, end)
                if n == 0 { throw invalidUTF8(q) }
                reserveScratch(used, n)
                (scratch! + used).update(from: q, count: n)
                used += n
                q += n
            } else {
                throw controlCharacter(q)
            }
            let run = q
            q = scanPlain(q)
            if q == end { throw unterminatedString(open) }
            let n = q - run
            if n > 0 {
                reserveScratch(used, n)
                (scratch! + used).update(from: run, count: n)
                used += n
            }
        }
    }

    /// The 4 hex digits of the \u escape at q.
    func hex4(_ q: UnsafePointer<UInt8>, open: UnsafePointer<UInt8>) throws -> UInt32 {
        var code: UInt32 = 0
        for i in 2..<6 {
            if q + i >= end { throw unterminatedString(open) }
            let c = q[i]
            var digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default:
                throw fail(
                    q,
                    "invalid escape \(escapeText(q)) \(location(q)): \\u must be followed by 4 hex digits")
            }
            code = code << 4 | digit
        }
        return code
    }

    func writeUTF8(_ code: UInt32, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if code < 0x80 {
            out[0] = UInt8(code)
            return 1
        }
        if code < 0x800 {
            out[0] = UInt8(0xC0 | (code >> 6))
            out[1] = UInt8(0x80 | (code & 0x3F))
            return 2
        }
        if code < 0x10000 {
            out[0] = UInt8(0xE0 | (code >> 12))
            out[1] = UInt8(0x80 | ((code >> 6) & 0x3F))
            out[2] = UInt8(0x80 | (code & 0x3F))
            return 3
        }
        out[0] = UInt8(0xF0 | (code >> 18))
        out[1] = UInt8(0x80 | ((code >> 12) & 0x3F))
        out[2] = UInt8(0x80 | ((code >> 6) & 0x3F))
        out[3] = UInt8(0x80 | (code & 0x3F))
        return 4
    }

    // MARK: numbers

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    mutating func pushNumber() throws {
        let s = p
        var q = p
        var negative = false
        if q.pointee == 0x2D {
            negative = true
            q += 1
            if q == end { throw fail(q, "unexpected end of input \(location(q)): expected a digit after '-'") }
        }
        var mantissa: UInt64 = 0
        var digits = 0  // digits of the integer and fraction parts
        let c0 = q.pointee
        if c0 == 0x30 {
            q += 1
            digits = 1
            if q < end && Self.isDigit(q.pointee) {
                throw fail(q, "invalid number \(location(q)): leading zeros are not allowed ('\(text(s, q + 1))')")
            }
        } else if c0 >= 0x31 && c0 <= 0x39 {
            repeat {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(q.pointee &- 0x30) }
                digits += 1
                q += 1
            } while q < end && Self.isDigit(q.pointee)
        } else {
            if c0 == 0x49 {  // -Infinity
                throw fail(s, "unexpected '-Infinity' \(location(s)): JSON has no infinities (write null or a string)")
            }
            throw fail(q, "invalid number \(location(q)): expected a digit after '-' but found \(describeByte(q))")
        }
        var isFloat = false
        var fractionDigits = 0
        if q < end && q.pointee == 0x2E {
            isFloat = true
            q += 1
            if q == end || !Self.isDigit(q.pointee) {
                throw fail(
                    q,
                    "invalid number \(location(q)): expected a digit after the decimal point"
                        + (q == end ? "" : " but found \(describeByte(q))"))
            }
            repeat {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(q.pointee &- 0x30) }
                digits += 1
                fractionDigits += 1
                q += 1
            } while q < end && Self.isDigit(q.pointee)
        }
        var exponent = 0
        if q < end && (q.pointee | 0x20) == 0x65 {
            isFloat = true
            q += 1
            var negativeExponent = false
            if q < end && (q.pointee == 0x2B || q.pointee == 0x2D) {
                negativeExponent = q.pointee == 0x2D
                q += 1
            }
            if q == end || !Self.isDigit(q.pointee) {
                throw fail(
                    q,
                    "invalid number \(location(q)): expected a digit in the exponent"
                        + (q == end ? "" : " but found \(describeByte(q))"))
            }
            repeat {
                if exponent < 100_000 { exponent = exponent * 10 + Int(q.pointee &- 0x30) }
                q += 1
            } while q < end && Self.isDigit(q.pointee)
            if negativeExponent { exponent = -exponent }
        }
        p = q
        if !isFloat && digits <= 19 {
            if !negative {
                if mantissa <= UInt64(Int64.max) {
                    lua_pushinteger(L, lua_Integer(mantissa))
                    return
                }
            } else if mantissa <= UInt64(Int64.max) + 1 {
                lua_pushinteger(L, lua_Integer(bitPattern: 0 &- mantissa))
                return
            }
        }
        // Exact when the digits fit in 53 bits and the power of ten is exact
        // (Clinger's fast path); strtod otherwise.
        let power = exponent - fractionDigits
        if digits <= 15 && power >= -22 && power <= 22 {
            var d = Double(mantissa)
            if power < 0 { d /= jsonPowerOfTen(-power) } else if power > 0 { d *= jsonPowerOfTen(power) }
            lua_pushnumber(L, negative ? -d : d)
            return
        }
        lua_pushnumber(L, slowNumber(s, q))
    }

    func slowNumber(_ s: UnsafePointer<UInt8>, _ q: UnsafePointer<UInt8>) -> Double {
        let n = q - s
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf in
            for i in 0..<n {
                let c = s[i]
                buf[i] = CChar(bitPattern: c == 0x2E ? decimalPoint : c)
            }
            buf[n] = 0
            return strtod(buf.baseAddress!, nil)
        }
    }

    // MARK: errors

    func fail(_ q: UnsafePointer<UInt8>, _ message: String) -> LuaError {
        LuaError.validation("\(function): \(message)", extra: ["offset": .integer(Int64(q - start + 1))])
    }

    /// "at byte N (line L, column C)"; columns count characters.
    func location(_ q: UnsafePointer<UInt8>) -> String {
        var line = 1
        var column = 1
        func count(_ bytes: UnsafePointer<UInt8>, _ n: Int) {
            for i in 0..<n {
                let c = bytes[i]
                if c == 0x0A {
                    line += 1
                    column = 1
                } else if c & 0xC0 != 0x80 {
                    column += 1
                }
            }
        }
        let offset = q - start
        // Pages given back are read again from the file.
        let fromFile = min(offset, released)
        if fromFile > 0 {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var done = 0
            while done < fromFile {
                let n = buffer.withUnsafeMutableBytes {
                    pread(sourceFD, $0.baseAddress, min($0.count, fromFile - done), off_t(done))
                }
                if n <= 0 { return "at byte \(offset + 1)" }
                buffer.withUnsafeBufferPointer { count($0.baseAddress!, n) }
                done += n
            }
        }
        if offset > fromFile { count(start + fromFile, offset - fromFile) }
        if sourceLine > 0 { return "at byte \(offset + 1) of line \(sourceLine + line - 1) (column \(column))" }
        return "at byte \(offset + 1) (line \(line), column \(column))"
    }

    func text(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> String {
        String(decoding: UnsafeBufferPointer(start: a, count: min(b, end) - a), as: UTF8.self)
    }

    func describeByte(_ q: UnsafePointer<UInt8>) -> String {
        if q >= end { return "the end of input" }
        return jsonDescribeByte(q.pointee)
    }

    func escapeText(_ q: UnsafePointer<UInt8>, length: Int = 6) -> String {
        var n = 0
        while n < length && q + n < end && (n == 0 || q[n] != 0x5C) && q[n] >= 0x20 && q[n] < 0x7F { n += 1 }
        return "'" + text(q, q + n) + "'"
    }

    func unexpectedEnd(expecting what: String, unclosed: Bool = false) -> LuaError {
        var message = "unexpected end of input \(location(end)): expected \(what)"
        if unclosed && depth > 0 {
            let f = frames[depth - 1]
            message += " (the \(f.isObject ? "object" : "array") opened \(location(start + f.open)) is not closed)"
        }
        return fail(end, message)
    }

    func unterminatedString(_ open: UnsafePointer<UInt8>) -> LuaError {
        fail(end, "unexpected end of input \(location(end)) inside the string that starts \(location(open)) "
            + "(no closing '\"')")
    }

    func invalidUTF8(_ q: UnsafePointer<UInt8>) -> LuaError {
        var bytes = ""
        var i = 0
        while i < 4 && q + i < end {
            if i > 0 && q[i] & 0xC0 != 0x80 { break }
            bytes += (i > 0 ? " " : "") + jsonHex(q[i])
            i += 1
        }
        return fail(q, "invalid UTF-8 \(location(q)) in a string (bytes \(bytes)); JSON text must be UTF-8")
    }

    var controlNames: [UInt8: String] {
        [0x0A: "newline", 0x0D: "carriage return", 0x09: "tab", 0x08: "backspace", 0x0C: "form feed", 0x00: "NUL"]
    }

    func controlCharacter(_ q: UnsafePointer<UInt8>) -> LuaError {
        let c = q.pointee
        let names: [UInt8: String] = [0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0C: "\\f"]
        let suggestion = names[c] ?? "\\u00" + String(jsonHex(c).dropFirst(2))
        return fail(
            q, "raw control character \(jsonHex(c))\(controlNames[c].map { " (\($0))" } ?? "") \(location(q)) in a string: "
                + "write it as \(suggestion)")
    }

    func expectedSeparator(isObject: Bool) -> LuaError {
        let what = isObject ? "',' or '}' after an object member" : "',' or ']' after an array item"
        var hint = ""
        switch p.pointee {
        case 0x22: hint = " (a comma is missing)"
        case 0x2F: hint = " (JSON does not allow comments)"
        case 0x5D where isObject: hint = " (the object is closed with ']')"
        case 0x7D where !isObject: hint = " (the array is closed with '}')"
        default: break
        }
        return fail(p, "expected \(what) \(location(p)) but found \(describeByte(p))\(hint)")
    }

    func unexpectedValue() -> LuaError {
        let c = p.pointee
        let found = "expected a JSON value \(location(p)) but found \(describeByte(p))"
        func starts(_ word: String) -> Bool {
            let w = Array(word.utf8)
            return end - p >= w.count && (0..<w.count).allSatisfy { p[$0] == w[$0] }
        }
        var hint: String?
        switch c {
        case 0x3C:
            hint = starts("<?xml") ? "the text looks like XML, not JSON" : "the text looks like an HTML page, not JSON"
        case 0x27: hint = "strings must use double quotes, not single quotes"
        case 0x2F: hint = "JSON does not allow comments"
        case 0x2B: hint = "a number must not start with '+'"
        case 0x2E: hint = "a number must start with a digit: write 0.5, not .5"
        case 0x4E where starts("NaN"): hint = "JSON has no NaN; write null or a string"
        case 0x49 where starts("Infinity"): hint = "JSON has no infinities; write null or a string"
        case 0x54, 0x46: hint = "the literals true, false and null are lowercase"
        case 0x4E where starts("None"), 0x4E where starts("Null"), 0x4E where starts("NULL"):
            hint = "the literals true, false and null are lowercase"
        case 0x75 where starts("undefined"): hint = "JSON has no undefined; write null"
        case 0x5D, 0x7D, 0x2C, 0x3A: hint = nil
        case 0xE2: hint = "typographic quotes are not JSON quotes; use \""
        default: hint = nil
        }
        if let hint { return fail(p, "\(found) (\(hint))") }
        return fail(p, found)
    }
}

// MARK: helpers shared with the encoder

/// The high bit of each byte of `w` that is '"', '\\', below 0x20 or
/// non-ASCII (exact for the lowest flagged byte, which is all that is used).
@inline(__always)
func jsonSpecialBytes(_ w: UInt64) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let quote = w ^ (ones &* 0x22)
    let slash = w ^ (ones &* 0x5C)
    let t = ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | ((w &- ones &* 0x20) & ~w) | w
    return t & highs
}

/// The length of the well-formed UTF-8 sequence at q (lead byte >= 0x80),
/// or 0: rejects overlong forms, surrogates and code points above U+10FFFF.
@inline(__always)
func jsonUTF8SequenceLength(_ q: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Int {
    let b0 = q[0]
    let available = end - q
    @inline(__always) func continuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
    if b0 < 0xC2 { return 0 }
    if b0 < 0xE0 {
        return available >= 2 && continuation(q[1]) ? 2 : 0
    }
    if b0 < 0xF0 {
        guard available >= 3 else { return 0 }
        let b1 = q[1]
        let low: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
        let high: UInt8 = b0 == 0xED ? 0x9F : 0xBF
        return b1 >= low && b1 <= high && continuation(q[2]) ? 3 : 0
    }
    if b0 < 0xF5 {
        guard available >= 4 else { return 0 }
        let b1 = q[1]
        let low: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
        let high: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
        return b1 >= low && b1 <= high && continuation(q[2]) && continuation(q[3]) ? 4 : 0
    }
    return 0
}

@inline(__always)
func jsonPowerOfTen(_ e: Int) -> Double {
    switch e {
    case 0: return 1e0
    case 1: return 1e1
    case 2: return 1e2
    case 3: return 1e3
    case 4: return 1e4
    case 5: return 1e5
    case 6: return 1e6
    case 7: return 1e7
    case 8: return 1e8
    case 9: return 1e9
    case 10: return 1e10
    case 11: return 1e11
    case 12: return 1e12
    case 13: return 1e13
    case 14: return 1e14
    case 15: return 1e15
    case 16: return 1e16
    case 17: return 1e17
    case 18: return 1e18
    case 19: return 1e19
    case 20: return 1e20
    case 21: return 1e21
    default: return 1e22
    }
}

func jsonHex(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    return "0x" + String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
}

/// "'x'", "a newline", "byte 0xC3", ...
func jsonDescribeByte(_ c: UInt8) -> String {
    switch c {
    case 0x0A: return "a newline (0x0A)"
    case 0x0D: return "a carriage return (0x0D)"
    case 0x09: return "a tab (0x09)"
    case 0x00: return "a NUL byte (0x00)"
    case 0x27: return "\"'\""
    case 0x21...0x7E: return "'\(String(decoding: [c], as: UTF8.self))'"
    case 0x20: return "a space"
    default: return "byte \(jsonHex(c))"
    }
}
