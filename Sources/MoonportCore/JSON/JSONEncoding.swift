import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable byte buffer (malloc/realloc, no ARC in the hot path).
///
/// From `mappedFrom` bytes on (a large value, e.g. json.encode of a 100 MB
/// export), the buffer is its own anonymous mapping, 2 MiB-aligned and
/// advised MADV_HUGEPAGE before it is touched: written 4 KiB page by page,
/// such an output costs one page fault per page (about a fifth of the
/// encoding time); in 2 MiB pages, a few hundred faults. Advice only: where
/// transparent huge pages are off it works as before, and when mmap fails
/// the buffer falls back to realloc.
struct JSONWriter {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    var count = 0
    private(set) var capacity: Int
    /// `bytes` is a mapping of `capacity` bytes (munmap), not malloc's.
    private var mapped = false

    static let mappedFrom = 8 << 20
    static let hugePage = 2 << 20

    init(capacity: Int = 4096) {
        self.capacity = capacity
        bytes = malloc(capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    mutating func deallocate() {
        if mapped {
            munmap(bytes, capacity)
            mapped = false
        } else {
            free(bytes)
        }
        capacity = 0
        count = 0
    }

    @inline(__always)
    mutating func reserve(_ n: Int) {
        if capacity - count < n { grow(n) }
    }

    mutating func grow(_ n: Int) {
        var newCapacity = capacity * 2
        while newCapacity - count < n { newCapacity *= 2 }
        // A mapping grows 8-fold (untouched pages cost address space only), so
        // that moving the bytes costs at most a seventh of the final size.
        if newCapacity >= Self.mappedFrom, let region = Self.mapHuge(max(newCapacity, capacity * 8)) {
            (region.base).update(from: bytes, count: count)
            let wasMapped = mapped
            let old = bytes
            let oldCapacity = capacity
            bytes = region.base
            capacity = region.size
            mapped = true
            if wasMapped { munmap(old, oldCapacity) } else { free(old) }
            return
        }
        if mapped {
            // mmap failed: back to malloc for the rest.
            guard let fresh = malloc(newCapacity) else { fatalError("json: out of memory (\(newCapacity) bytes)") }
            let p = fresh.assumingMemoryBound(to: UInt8.self)
            p.update(from: bytes, count: count)
            munmap(bytes, capacity)
            mapped = false
            bytes = p
            capacity = newCapacity
            return
        }
        guard let moved = realloc(bytes, newCapacity) else {
            fatalError("json: out of memory (\(newCapacity) bytes)")
        }
        bytes = moved.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    /// A fresh 2 MiB-aligned anonymous mapping of at least `size` bytes
    /// (rounded up to 2 MiB), advised MADV_HUGEPAGE; nil when mmap fails.
    static func mapHuge(_ size: Int) -> (base: UnsafeMutablePointer<UInt8>, size: Int)? {
        let huge = hugePage
        let rounded = (size + huge - 1) & ~(huge - 1)
        let span = rounded + huge
        guard let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            raw != MAP_FAILED
        else { return nil }
        let start = (UInt(bitPattern: raw) + UInt(huge - 1)) & ~UInt(huge - 1)
        let head = Int(start - UInt(bitPattern: raw))
        if head > 0 { munmap(raw, head) }
        let tail = span - head - rounded
        let base = UnsafeMutableRawPointer(bitPattern: start)!
        if tail > 0 { munmap(base + rounded, tail) }
        #if os(Linux)
        _ = madvise(base, rounded, Int32(MADV_HUGEPAGE))
        #endif
        return (base.assumingMemoryBound(to: UInt8.self), rounded)
    }

    /// Append with room already reserved.
    @inline(__always)
    mutating func put(_ b: UInt8) {
        bytes[count] = b
        count += 1
    }

    @inline(__always)
    mutating func appendByte(_ b: UInt8) {
        reserve(1)
        put(b)
    }

    @inline(__always)
    mutating func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
        reserve(n)
        (bytes + count).update(from: p, count: n)
        count += n
    }

    mutating func append(_ s: StaticString) {
        append(s.utf8Start, s.utf8CodeUnitCount)
    }

    func pushString(_ lua: LuaState) {
        UnsafeRawPointer(bytes).withMemoryRebound(to: CChar.self, capacity: count) {
            _ = lua_pushlstring(lua.L, $0, count)
        }
    }
}

/// Encodes Lua values as JSON, iteratively (nesting lives in `frames`).
///
/// Tables: marked arrays and objects encode as such; an unmarked table is an
/// array if its keys are exactly 1..n, an object if they are all strings, and
/// an error otherwise (named with its path, `$.items[3].name`, with Lua's
/// 1-based indexes). The common case is read in one `lua_next` pass: an
/// array whose keys come in order 1, 2, 3... is written as it is traversed;
/// if a key comes out of order the output is rolled back to the '[' and the
/// table is checked and then read with `lua_rawgeti`.
struct JSONEmitter {
    enum Mode: UInt8 {
        /// Unmarked, nothing seen yet (no bracket written).
        case undecided
        /// Traversed with lua_next; keys so far were 1, 2, ... in order.
        case arraySequential
        /// Checked to be an array of `length` items; read with lua_rawgeti.
        case arrayIndexed
        /// Traversed with lua_next; every key must be a string.
        case object
        /// Keys collected and sorted in `sortedKeys`.
        case objectSorted
    }

    enum Mark { case none, array, object }

    struct Frame {
        var table: Int32
        var mode: Mode
        var mark: Mark
        /// Array: the index of the current item.
        var current: Int64
        /// arrayIndexed: the number of items.
        var length: Int64
        /// The output length before this table's opening bracket.
        var start: Int
        var items: Int
        var pointer: UnsafeRawPointer?
        var sortStart: Int
        var sortCount: Int
        var sortPosition: Int
    }

    struct SortKey {
        var bytes: UnsafePointer<UInt8>
        var count: Int
    }

    static let cycleScan = 32

    let L: OpaquePointer
    let function: String
    let pretty: Bool
    let sortKeys: Bool
    var out: JSONWriter
    var frames: UnsafeMutablePointer<Frame>
    var frameCapacity = 8
    var depth = 0
    var nullPointer: UnsafeMutableRawPointer?
    var arrayMTPointer: UnsafeRawPointer?
    var objectMTPointer: UnsafeRawPointer?
    var sideMarks: Int32 = 0
    var deepTables = Set<UnsafeRawPointer>()
    var sortedKeys: [SortKey] = []

    init(L: OpaquePointer, function: String, options: JSONEncodeOptions, out: JSONWriter) {
        self.L = L
        self.out = out
        self.function = function
        pretty = options.pretty
        sortKeys = options.sortKeys
        frames = .allocate(capacity: frameCapacity)
    }

    func releaseFrames() { frames.deallocate() }

    // MARK: the loop

    mutating func run(_ root: Int32) throws {
        lua_pushvalue(L, root)
        try emitTop()
        while depth > 0 {
            let fi = depth - 1
            let t = frames[fi].table
            switch frames[fi].mode {
            case .undecided, .arraySequential, .object:
                if lua_next(L, t) == 0 {
                    closeFrame()
                    continue
                }
                // [t, key, value]
                switch frames[fi].mode {
                case .object:
                    if lua_type(L, -2) != LUA_TSTRING { throw keyNotString(fi, key: -2) }
                case .arraySequential:
                    let expected = frames[fi].current + 1
                    if lua_type(L, -2) != LUA_TNUMBER || lua_isinteger(L, -2) == 0
                        || lua_tointegerx(L, -2, nil) != expected
                    {
                        // Out of order: start this table again, the slow way.
                        lua_settop(L, t)
                        out.count = frames[fi].start
                        try analyzeArray(fi)
                        continue
                    }
                default:  // .undecided: the first key decides
                    let keyType = lua_type(L, -2)
                    if keyType == LUA_TSTRING {
                        if sortKeys {
                            lua_settop(L, t)
                            try beginSortedObject(fi)
                            continue
                        }
                        frames[fi].mode = .object
                        out.appendByte(0x7B)
                    } else if keyType == LUA_TNUMBER && lua_isinteger(L, -2) != 0 && lua_tointegerx(L, -2, nil) == 1 {
                        frames[fi].mode = .arraySequential
                        out.appendByte(0x5B)
                    } else {
                        lua_settop(L, t)
                        try analyzeArray(fi)
                        continue
                    }
                }
                separator(fi)
                if frames[fi].mode == .object {
                    var n = 0
                    let k = mp_tolstring(L, -2, &n)!
                    try writeString(UnsafeRawPointer(k).assumingMemoryBound(to: UInt8.self), n, key: fi)
                    colon()
                } else {
                    frames[fi].current += 1
                }
                try emitTop()
            case .arrayIndexed:
                if frames[fi].current == frames[fi].length {
                    closeFrame()
                    continue
                }
                frames[fi].current += 1
                lua_rawgeti(L, t, frames[fi].current)
                separator(fi)
                try emitTop()
            case .objectSorted:
                let f = frames[fi]
                if f.sortPosition == f.sortCount {
                    closeFrame()
                    continue
                }
                let key = sortedKeys[f.sortStart + f.sortPosition]
                frames[fi].sortPosition += 1
                UnsafeRawPointer(key.bytes).withMemoryRebound(to: CChar.self, capacity: key.count) {
                    _ = lua_pushlstring(L, $0, key.count)
                }
                lua_rawget(L, t)
                separator(fi)
                try writeString(key.bytes, key.count, key: fi)
                colon()
                try emitTop()
            }
        }
    }

    @inline(__always)
    mutating func separator(_ fi: Int) {
        if frames[fi].items > 0 { out.appendByte(0x2C) }
        frames[fi].items += 1
        if pretty { newline(indent: fi + 1) }
    }

    @inline(__always)
    mutating func colon() {
        if pretty {
            out.reserve(2)
            out.put(0x3A)
            out.put(0x20)
        } else {
            out.appendByte(0x3A)
        }
    }

    mutating func newline(indent: Int) {
        out.reserve(1 + 2 * indent)
        out.put(0x0A)
        for _ in 0..<(2 * indent) { out.put(0x20) }
    }

    mutating func closeFrame() {
        let f = frames[depth - 1]
        switch f.mode {
        case .undecided:  // an empty table without a mark
            out.append("{}")
        case .arraySequential, .arrayIndexed:
            if f.items > 0 && pretty { newline(indent: depth - 1) }
            out.appendByte(0x5D)
        case .object, .objectSorted:
            if f.items > 0 && pretty { newline(indent: depth - 1) }
            out.appendByte(0x7D)
            if f.mode == .objectSorted { sortedKeys.removeLast(f.sortCount) }
        }
        if depth - 1 >= Self.cycleScan, let p = f.pointer { deepTables.remove(p) }
        lua_settop(L, f.table - 1)
        depth -= 1
    }

    // MARK: values

    /// Writes the value at the top of the stack and pops it, or, for a table,
    /// opens a frame for it (the table stays on the stack).
    @inline(__always)
    mutating func emitTop() throws {
        switch lua_type(L, -1) {
        case LUA_TSTRING:
            var n = 0
            let s = mp_tolstring(L, -1, &n)!
            try writeString(UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), n, key: nil)
        case LUA_TNUMBER:
            if lua_isinteger(L, -1) != 0 {
                writeInteger(lua_tointegerx(L, -1, nil))
            } else {
                let d = lua_tonumberx(L, -1, nil)
                guard d.isFinite else {
                    let name = d.isNaN ? "NaN" : (d < 0 ? "-inf" : "inf")
                    throw fail(
                        "\(path(upTo: depth)) is \(name), which JSON cannot represent (use json.null or a string)",
                        at: depth)
                }
                writeDouble(d)
            }
        case LUA_TBOOLEAN:
            if lua_toboolean(L, -1) != 0 { out.append("true") } else { out.append("false") }
        case LUA_TTABLE:
            try enterTable()
            return
        case LUA_TUSERDATA where lua_touserdata(L, -1) == nullPointer:
            out.append("null")
        case LUA_TNIL:
            out.append("null")
        default:
            throw fail(
                "\(path(upTo: depth)) is \(describeType(-1)), which JSON cannot represent", at: depth)
        }
        lua_settop(L, -2)
    }

    mutating func enterTable() throws {
        let t = lua_gettop(L)
        guard lua_checkstack(L, 8) != 0 else {
            throw fail("\(path(upTo: depth)) is nested too deeply for the Lua stack", at: depth)
        }
        let pointer = lua_topointer(L, t)
        for i in 0..<min(depth, Self.cycleScan) where frames[i].pointer == pointer {
            throw cycle(ancestor: i)
        }
        if depth > Self.cycleScan, let pointer, deepTables.contains(pointer) {
            let i = (Self.cycleScan..<depth).first { frames[$0].pointer == pointer } ?? 0
            throw cycle(ancestor: i)
        }
        if depth >= JSONModule.maxDepth {
            throw fail(
                "\(path(upTo: depth)) is nested deeper than \(JSONModule.maxDepth) levels", at: depth)
        }
        var mark = Mark.none
        if lua_getmetatable(L, t) != 0 {
            let mt = lua_topointer(L, -1)
            if mt == arrayMTPointer {
                mark = .array
            } else if mt == objectMTPointer {
                mark = .object
            } else {
                // Someone else's metatable: __jsontype, then the side table.
                lua_pushstring(L, "__jsontype")
                lua_rawget(L, -2)
                mark = Self.markNamed(L, -1)
                lua_settop(L, -3)
                if mark == .none {
                    lua_pushvalue(L, t)
                    lua_rawget(L, sideMarks)
                    mark = Self.markNamed(L, -1)
                    lua_settop(L, -2)
                }
            }
            if lua_gettop(L) != t { lua_settop(L, t) }
        }
        if depth == frameCapacity {
            let bigger = UnsafeMutablePointer<Frame>.allocate(capacity: frameCapacity * 2)
            bigger.moveInitialize(from: frames, count: depth)
            frames.deallocate()
            frames = bigger
            frameCapacity *= 2
        }
        let fi = depth
        (frames + fi).initialize(
            to: Frame(
                table: t, mode: .undecided, mark: mark, current: 0, length: 0, start: out.count, items: 0,
                pointer: pointer, sortStart: 0, sortCount: 0, sortPosition: 0))
        depth += 1
        if fi >= Self.cycleScan, let pointer { deepTables.insert(pointer) }
        switch mark {
        case .none:
            lua_pushnil(L)
        case .array:
            frames[fi].mode = .arraySequential
            out.appendByte(0x5B)
            lua_pushnil(L)
        case .object:
            if sortKeys {
                try beginSortedObject(fi)
            } else {
                frames[fi].mode = .object
                out.appendByte(0x7B)
                lua_pushnil(L)
            }
        }
    }

    static func markNamed(_ L: OpaquePointer, _ index: Int32) -> Mark {
        guard lua_type(L, index) == LUA_TSTRING else { return .none }
        var n = 0
        let s = mp_tolstring(L, index, &n)!
        if n == 5 && strncmp(s, "array", 5) == 0 { return .array }
        if n == 6 && strncmp(s, "object", 6) == 0 { return .object }
        return .none
    }

    /// Collects and sorts the keys of the table of frame fi (stack: [t]).
    mutating func beginSortedObject(_ fi: Int) throws {
        let t = frames[fi].table
        let first = sortedKeys.count
        lua_pushnil(L)
        while lua_next(L, t) != 0 {
            lua_settop(L, -2)
            guard lua_type(L, -1) == LUA_TSTRING else {
                sortedKeys.removeLast(sortedKeys.count - first)
                frames[fi].mode = .object  // for the path
                throw keyNotString(fi, key: -1)
            }
            var n = 0
            let s = mp_tolstring(L, -1, &n)!
            sortedKeys.append(SortKey(bytes: UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), count: n))
        }
        sortedKeys[first...].sort { a, b in
            let c = memcmp(a.bytes, b.bytes, min(a.count, b.count))
            return c != 0 ? c < 0 : a.count < b.count
        }
        frames[fi].mode = .objectSorted
        frames[fi].sortStart = first
        frames[fi].sortCount = sortedKeys.count - first
        frames[fi].sortPosition = 0
        out.appendByte(0x7B)
    }

    /// The slow path for a table that may be an array (stack: [t], output at
    /// the table's start): checks that its keys are exactly 1..n, then reads
    /// it by index. Raises the error that names the offending key otherwise.
    mutating func analyzeArray(_ fi: Int) throws {
        let t = frames[fi].table
        let mark = frames[fi].mark
        var count: Int64 = 0
        var largest: Int64 = 0
        var firstString: String?
        var firstInteger: Int64?
        var firstOther: (text: String, why: String)?
        lua_pushnil(L)
        while lua_next(L, t) != 0 {
            lua_settop(L, -2)
            if lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) != 0 {
                let k = lua_tointegerx(L, -1, nil)
                if k > 0 {
                    count += 1
                    largest = max(largest, k)
                    if firstInteger == nil || k < firstInteger! { firstInteger = k }
                    continue
                }
                if firstOther == nil { firstOther = (String(k), "array indexes start at 1") }
            } else if lua_type(L, -1) == LUA_TSTRING {
                if firstString == nil { firstString = keyText(-1) }
            } else if firstOther == nil {
                firstOther = (keyText(-1), keyKind(-1))
            }
        }
        let where_ = path(upTo: fi)
        if mark == .array {
            if let s = firstString {
                throw fail("key \(s) of \(where_) is not an array index (the table is marked as a JSON array)", at: fi)
            }
            if let o = firstOther {
                throw fail("key \(o.text) of \(where_) is not an array index (\(o.why))", at: fi)
            }
        } else if mark == .object {
            if let o = firstOther ?? firstInteger.map({ (String($0), "the table is marked as a JSON object") }) {
                throw fail("key \(o.text) of \(where_) is not a string (\(o.why))", at: fi)
            }
        } else {
            if let o = firstOther {
                throw fail("key \(o.text) of \(where_) is not a string (\(o.why))", at: fi)
            }
            if let s = firstString, let i = firstInteger {
                throw fail(
                    "key \(i) of \(where_) is not a string (the table mixes integer keys with string keys such as "
                        + "\(s); a JSON object has string keys only, a JSON array has keys 1..n only)", at: fi)
            }
        }
        if largest != count {
            // The first missing index, then the first key after it.
            var missing: Int64 = 1
            while missing <= count + 1 {
                if lua_rawgeti(L, t, missing) == LUA_TNIL { break }
                lua_settop(L, -2)
                missing += 1
            }
            lua_settop(L, t)
            var after = largest
            lua_pushnil(L)
            while lua_next(L, t) != 0 {
                lua_settop(L, -2)
                let k = lua_tointegerx(L, -1, nil)
                if k > missing && k < after { after = k }
            }
            if mark == .array {
                throw fail(
                    "\(where_) is marked as a JSON array but has a hole: index \(missing) is missing "
                        + "(it has \(count) items up to index \(largest))", at: fi)
            }
            throw fail(
                "key \(after) of \(where_) is not a string (a table with holes is not an array: "
                    + "index \(missing) is missing)", at: fi)
        }
        frames[fi].mode = .arrayIndexed
        frames[fi].length = count
        frames[fi].current = 0
        frames[fi].items = 0
        out.appendByte(0x5B)
    }

    // MARK: scalars

    @inline(__always)
    mutating func writeInteger(_ v: Int64) {
        out.reserve(21)
        var u = UInt64(bitPattern: v)
        if v < 0 {
            out.put(0x2D)
            u = 0 &- u
        }
        var n = 1
        var p: UInt64 = 10
        while n < 20 && u >= p {
            n += 1
            p = p &* 10
        }
        var i = out.count + n - 1
        repeat {
            out.bytes[i] = UInt8(truncatingIfNeeded: u % 10) &+ 0x30
            u /= 10
            i -= 1
        } while u != 0
        out.count += n
    }

    /// The shortest text that reads back as the same double, always with a
    /// '.' or an exponent so that it decodes as a float again.
    @inline(__always)
    mutating func writeDouble(_ d: Double) {
        var text = d.description
        text.withUTF8 { buf in
            out.reserve(buf.count + 2)
            var plain = true
            for c in buf {
                if c == 0x2E || c == 0x65 || c == 0x45 { plain = false }
                out.put(c)
            }
            if plain {
                out.put(0x2E)
                out.put(0x30)
            }
        }
    }

    /// Writes a quoted, escaped string; checks that it is UTF-8. `key` is
    /// the frame whose key this is (nil for a value), for messages.
    ///
    /// Writes through a cursor `o` into room reserved up front, and keeps
    /// this invariant: from `o` there is room for the rest of the input
    /// (`end - q` bytes), the closing quote and 8 bytes of slack. ASCII is
    /// copied 8 bytes at a time (the word is stored before it is checked,
    /// so a clean word costs one load and one store); runs of multi-byte
    /// UTF-8 sequences are validated and copied in an inner loop; only an
    /// escape (up to 6 bytes for 1) reserves again.
    @inline(__always)
    mutating func writeString(_ s: UnsafePointer<UInt8>, _ n: Int, key: Int?) throws {
        out.reserve(n + 10)
        var o = out.bytes + out.count
        o.pointee = 0x22
        o += 1
        let end = s + n
        var q = s
        while true {
            while end - q >= 8 {
                let w = UnsafeRawPointer(q).loadUnaligned(as: UInt64.self)
                UnsafeMutableRawPointer(o).storeBytes(of: w, as: UInt64.self)
                let m = jsonSpecialBytes(w)
                if m != 0 {
                    let k = m.trailingZeroBitCount &>> 3
                    q += k
                    o += k
                    break
                }
                q += 8
                o += 8
            }
            if end - q < 8 {
                while q < end {
                    let c = q.pointee
                    if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { break }
                    o.pointee = c
                    o += 1
                    q += 1
                }
                if q == end { break }
            }
            var c = q.pointee
            if c >= 0x80 {
                // A run of multi-byte sequences (the output has the same length).
                repeat {
                    var len: Int
                    if end - q >= 4 {
                        // Little-endian: the lead byte is the low byte of w.
                        let w = UnsafeRawPointer(q).loadUnaligned(as: UInt32.self)
                        UnsafeMutableRawPointer(o).storeBytes(of: w, as: UInt32.self)
                        if w & 0x00C0_C0F0 == 0x0080_80E0 {
                            // 1110xxxx 10xxxxxx 10xxxxxx: code point bits 15-6 must be >= 0x20
                            // (not overlong) and not 0x360-0x37F (not a surrogate).
                            let top = ((w & 0x0F) &<< 6) | ((w &>> 8) & 0x3F)
                            len = top >= 0x20 && top &- 0x360 >= 0x20 ? 3 : 0
                        } else if w & 0xC0E0 == 0x80C0 && w & 0x1E != 0 {
                            len = 2  // 110xxxxx 10xxxxxx, lead >= 0xC2
                        } else {
                            len = jsonUTF8SequenceLength(q, end)
                        }
                        if len == 0 { throw invalidUTF8(s, n, at: q, key: key) }
                    } else {
                        len = jsonUTF8SequenceLength(q, end)
                        if len == 0 { throw invalidUTF8(s, n, at: q, key: key) }
                        for i in 0..<len { o[i] = q[i] }
                    }
                    q += len
                    o += len
                    if q == end { break }
                    c = q.pointee
                } while c >= 0x80
                continue
            }
            // An escape: up to 6 bytes for 1.
            out.count = o - out.bytes
            out.reserve(end - q + 14)
            o = out.bytes + out.count
            o[0] = 0x5C
            switch c {
            case 0x22: o[1] = 0x22
            case 0x5C: o[1] = 0x5C
            case 0x0A: o[1] = 0x6E
            case 0x0D: o[1] = 0x72
            case 0x09: o[1] = 0x74
            case 0x08: o[1] = 0x62
            case 0x0C: o[1] = 0x66
            default:
                let hex: StaticString = "0123456789abcdef"
                o[1] = 0x75
                o[2] = 0x30
                o[3] = 0x30
                o[4] = hex.utf8Start[Int(c >> 4)]
                o[5] = hex.utf8Start[Int(c & 15)]
                o += 4
            }
            o += 2
            q += 1
        }
        o.pointee = 0x22
        o += 1
        out.count = o - out.bytes
    }

    // MARK: errors

    func fail(_ message: String, at level: Int) -> LuaError {
        LuaError.validation("\(function): \(message)", extra: ["path": .text(path(upTo: level))])
    }

    /// "$", "$.items[3].name", "$[\"a key\"]" (array indexes as in Lua, from 1).
    /// Very deep paths keep their first and last 16 steps.
    func path(upTo level: Int) -> String {
        var text = "$"
        let n = min(level, depth)
        for i in 0..<n {
            if n > 40 && i == 16 { text += "...(\(n - 32) more levels)..." }
            if n > 40 && i >= 16 && i < n - 16 { continue }
            let f = frames[i]
            switch f.mode {
            case .arraySequential, .arrayIndexed:
                text += "[\(f.current)]"
            case .object:
                var n = 0
                if lua_type(L, f.table + 1) == LUA_TSTRING, let k = mp_tolstring(L, f.table + 1, &n) {
                    text += Self.segment(UnsafeRawPointer(k).assumingMemoryBound(to: UInt8.self), n)
                } else {
                    text += "[?]"
                }
            case .objectSorted:
                let k = sortedKeys[f.sortStart + max(f.sortPosition - 1, 0)]
                text += Self.segment(k.bytes, k.count)
            case .undecided:
                text += "[?]"
            }
        }
        return text
    }

    static func segment(_ s: UnsafePointer<UInt8>, _ n: Int) -> String {
        let b = UnsafeBufferPointer(start: s, count: n)
        func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A || c == 0x5F }
        if n > 0 && isLetter(b[0]) && b.allSatisfy({ isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }) {
            return "." + String(decoding: b, as: UTF8.self)
        }
        return "[" + quoted(b) + "]"
    }

    /// A short, printable, double-quoted rendering of bytes (\xNN for the
    /// rest), for messages.
    static func quoted(_ b: UnsafeBufferPointer<UInt8>, limit: Int = 60) -> String {
        var text = "\""
        for (i, c) in b.enumerated() {
            if i == limit {
                text += "..."
                break
            }
            switch c {
            case 0x22: text += "\\\""
            case 0x5C: text += "\\\\"
            case 0x20..<0x7F: text.unicodeScalars.append(Unicode.Scalar(c))
            default: text += "\\x" + jsonHex(c).dropFirst(2)
            }
        }
        return text + "\""
    }

    /// A key as shown in messages: 'name', 3, 1.5, true, a table.
    func keyText(_ index: Int32) -> String {
        switch lua_type(L, index) {
        case LUA_TSTRING:
            var n = 0
            let s = mp_tolstring(L, index, &n)!
            return Self.quoted(
                UnsafeBufferPointer(start: UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), count: n))
        case LUA_TNUMBER:
            if lua_isinteger(L, index) != 0 { return String(lua_tointegerx(L, index, nil)) }
            return luaNumberText(lua_tonumberx(L, index, nil))
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) != 0 ? "true" : "false"
        default:
            return "(\(describeType(index)))"
        }
    }

    func keyKind(_ index: Int32) -> String {
        switch lua_type(L, index) {
        case LUA_TNUMBER: return "a float key"
        case LUA_TBOOLEAN: return "a boolean key"
        default: return "\(describeType(index)) as a key"
        }
    }

    /// "a function", "a userdata (FILE*)", ...
    func describeType(_ index: Int32) -> String {
        let type = lua_type(L, index)
        let name = String(cString: lua_typename(L, type))
        if type == LUA_TUSERDATA || type == LUA_TTABLE {
            let idx = lua_absindex(L, index)
            if lua_checkstack(L, 2) != 0, lua_getmetatable(L, idx) != 0 {
                defer { lua_settop(L, -2) }
                lua_pushstring(L, "__name")
                defer { lua_settop(L, -2) }
                if lua_rawget(L, -2) == LUA_TSTRING, let s = lua_tolstring(L, -1, nil) {
                    return "a \(name) (\(String(cString: s)))"
                }
            }
        }
        if type == LUA_TLIGHTUSERDATA { return "a light userdata" }
        return "a \(name)"
    }

    func keyNotString(_ fi: Int, key index: Int32) -> LuaError {
        let why: String
        switch frames[fi].mark {
        case .object: why = "the table is marked as a JSON object"
        case .array: why = "the table is marked as a JSON array"
        case .none:
            if lua_type(L, index) == LUA_TNUMBER && lua_isinteger(L, index) != 0 {
                why = "the table mixes string keys with integer keys; a JSON object has string keys only"
            } else if lua_type(L, index) == LUA_TNUMBER || lua_type(L, index) == LUA_TBOOLEAN {
                why = keyKind(index)
            } else {
                why = "\(describeType(index)) as a key"
            }
        }
        return fail("key \(keyText(index)) of \(path(upTo: fi)) is not a string (\(why))", at: fi)
    }

    func cycle(ancestor: Int) -> LuaError {
        fail(
            "\(path(upTo: depth)) is the same table as \(path(upTo: ancestor)), which contains it: "
                + "JSON cannot represent cycles", at: depth)
    }

    func invalidUTF8(_ s: UnsafePointer<UInt8>, _ n: Int, at q: UnsafePointer<UInt8>, key: Int?) -> LuaError {
        let position = q - s + 1
        let byte = jsonHex(q.pointee)
        if let fi = key {
            let shown = Self.quoted(UnsafeBufferPointer(start: s, count: n))
            return fail(
                "the key \(shown) of \(path(upTo: fi)) is not valid UTF-8 (byte \(byte) at position "
                    + "\(position) of the key)", at: fi)
        }
        return fail(
            "the string at \(path(upTo: depth)) is not valid UTF-8 (byte \(byte) at position \(position) "
                + "of the string); JSON text must be UTF-8", at: depth)
    }
}

extension JSONWriter {
    /// Encodes the value at `value` (the options are already read).
    static func encode(_ lua: LuaState, value: Int32, options: JSONEncodeOptions, function: String) throws
        -> JSONWriter
    {
        var out = JSONWriter(capacity: 1024)
        do {
            try encode(lua, value: value, options: options, function: function, appendingTo: &out)
        } catch {
            out.deallocate()
            throw error
        }
        return out
    }

    /// Encodes the value at `value` at the end of `out` (ndjson's writer
    /// reuses one buffer for every line; the function above, a fresh one).
    /// On error `out` is as it was.
    static func encode(
        _ lua: LuaState, value: Int32, options: JSONEncodeOptions, function: String, appendingTo out: inout JSONWriter
    ) throws {
        let L = lua.L
        let root = lua.absolute(value)
        guard lua.ensureStack(32) else { throw LuaError.validation("\(function): the Lua stack is full") }
        let base = lua.top
        defer { lua_settop(L, base) }
        let start = out.count
        // The emitter works on `out` itself (a struct of pointers: moved in, moved back).
        var emitter = JSONEmitter(L: L, function: function, options: options, out: out)
        defer {
            emitter.releaseFrames()
            out = emitter.out
        }
        JSONModule.pushSentinels(lua)
        emitter.nullPointer = lua_touserdata(L, -4)
        emitter.arrayMTPointer = lua_topointer(L, -3)
        emitter.objectMTPointer = lua_topointer(L, -2)
        emitter.sideMarks = lua.top
        do {
            try emitter.run(root)
        } catch {
            emitter.out.count = start
            throw error
        }
    }
}
