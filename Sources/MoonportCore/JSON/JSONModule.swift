import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `require "json"` (SPEC.md §3): decode and encode straight between JSON
/// text and Lua values, with no Swift value tree in between.
///
/// - `json.decode(s)` / `json.encode(v [, {pretty=, sort_keys=}])`
/// - `json.null`: a unique full userdata (tostring gives "json.null")
/// - `json.array(t)` / `json.object(t)`: mark t (returned) so it encodes as [] / {}
/// - `json.read(path)` / `json.write(path, v [, opts])`: file helpers; `read`
///   parses the file's bytes without making a Lua string of them, `write`
///   writes a temporary file and renames it over `path`.
///
/// Marks: a table is marked by a shared metatable (the ones `json.decode`
/// gives its arrays and objects). A table whose metatable is someone else's
/// is marked by `__jsontype = "array" | "object"` in that metatable (dkjson's
/// convention), or, when `json.array`/`json.object` is called on it, in a
/// weak-keyed side table, so the table keeps its own metatable.
///
/// Conventions:
/// - Decoding is strict RFC 8259. A leading UTF-8 byte order mark is
///   rejected (with a message saying how to strip it).
/// - Every error is `kind = "validation"`. Decode errors carry `offset`, the
///   1-based byte offset of the offending byte (length + 1 when the input
///   ends too early), also given in the message with line and column.
///   Encode errors carry `path` ("$.items[3].name", Lua's 1-based indexes).
///   json.read / json.write errors carry `file`.
/// - Numbers without fraction or exponent that fit in 64 bits decode as
///   integers, all others as floats. Floats encode as the shortest text that
///   reads back as the same double, always with a '.' or an exponent, so
///   they decode as floats again (1.0 -> "1.0", 1e300 -> "1e+300").
/// - Nesting is limited to `maxDepth` levels both ways; both are iterative.
public enum JSONModule {
    /// Deepest nesting of arrays and objects that decode and encode accept.
    public static let maxDepth = 10_000

    public static var builtin: BuiltinModule {
        BuiltinModule(name: "json") { call in
            let lua = call.lua
            lua.ensureStack(8)
            lua.newTable(recordCount: 8)
            let module = lua.top

            lua.setFunction(module, "decode", qualifiedName: "json.decode") { call in
                let lua = call.lua
                guard lua.type(at: 1) == LUA_TSTRING else {
                    throw call.argumentError(1, "text", expected: "a string")
                }
                var length = 0
                let bytes = mp_tolstring(lua.L, 1, &length)
                try JSONParser.decode(
                    lua, UnsafeRawBufferPointer(start: bytes, count: length), function: "json.decode")
                return .results(1)
            }

            lua.setFunction(module, "encode", qualifiedName: "json.encode") { call in
                let lua = call.lua
                if call.argumentCount < 1 { throw call.argumentError(1, "value", expected: "a value") }
                let options = try JSONEncodeOptions(call, 2, function: "json.encode")
                var writer = try JSONWriter.encode(lua, value: 1, options: options, function: "json.encode")
                defer { writer.deallocate() }
                writer.pushString(lua)
                return .results(1)
            }

            lua.setFunction(module, "array", qualifiedName: "json.array") { call in
                try call.checkType(1, "table", LUA_TTABLE, "a table")
                JSONModule.mark(call.lua, table: 1, as: .array)
                call.lua.top = 1
                return .results(1)
            }

            lua.setFunction(module, "object", qualifiedName: "json.object") { call in
                try call.checkType(1, "table", LUA_TTABLE, "a table")
                JSONModule.mark(call.lua, table: 1, as: .object)
                call.lua.top = 1
                return .results(1)
            }

            lua.setFunction(module, "read", qualifiedName: "json.read") { call in
                let path = try call.string(1, "path")
                try JSONFiles.readFile(call.lua, path: path)
                return .results(1)
            }

            lua.setFunction(module, "write", qualifiedName: "json.write") { call in
                let path = try call.string(1, "path")
                if call.argumentCount < 2 { throw call.argumentError(2, "value", expected: "a value") }
                let options = try JSONEncodeOptions(call, 3, function: "json.write")
                let written = try JSONFiles.writeFile(call.lua, path: path, value: 2, options: options)
                call.lua.push(Int64(written))
                return .results(1)
            }

            pushNull(lua)
            lua.rawSet(module, "null")
            return .results(1)
        }
    }

    // MARK: sentinels and marks

    public enum Mark { case array, object }

    /// The registry key of the table that holds json's shared values:
    /// [1] json.null, [2] the array mark, [3] the object mark, [4] the
    /// weak-keyed table of marks for tables with a metatable of their own.
    static let registryKey = "moonport.json"

    /// Pushes the shared table, creating it the first time.
    static func pushShared(_ lua: LuaState) {
        let L = lua.L
        lua.ensureStack(8)
        if lua.rawGet(mp_registryindex(), registryKey) == LUA_TTABLE { return }
        lua.pop()
        lua.newTable(arrayCount: 4)
        let shared = lua.top

        _ = lua_newuserdatauv(L, 0, 0)
        lua.newTable(recordCount: 3)
        lua.push("json.null")
        lua.rawSet(-2, "__name")
        lua.push("json.null")
        lua.rawSet(-2, "__metatable")
        lua.push(function: "json.null.__tostring") { call in
            call.lua.push("json.null")
            return .results(1)
        }
        lua.rawSet(-2, "__tostring")
        lua_setmetatable(L, -2)
        lua_rawseti(L, shared, 1)

        for (i, mark) in ["array", "object"].enumerated() {
            lua.newTable(recordCount: 2)
            lua.push("json." + mark)
            lua.rawSet(-2, "__name")
            lua.push(mark)
            lua.rawSet(-2, "__jsontype")
            lua_rawseti(L, shared, lua_Integer(i + 2))
        }

        lua.newTable()
        lua.newTable(recordCount: 1)
        lua.push("k")
        lua.rawSet(-2, "__mode")
        lua_setmetatable(L, -2)
        lua_rawseti(L, shared, 4)

        lua.pushValue(at: shared)
        lua.rawSet(mp_registryindex(), registryKey)
    }

    /// Pushes json.null, the array mark, the object mark and the side marks (4 values).
    static func pushSentinels(_ lua: LuaState) {
        pushShared(lua)
        let shared = lua.top
        for i in 1...4 { lua_rawgeti(lua.L, shared, lua_Integer(i)) }
        lua_rotate(lua.L, shared, -1)
        lua.pop()
    }

    private static func pushShared(_ lua: LuaState, item: lua_Integer) {
        pushShared(lua)
        lua_rawgeti(lua.L, -1, item)
        lua_copy(lua.L, -1, -2)
        lua.pop()
    }

    /// Pushes `json.null` (the same userdata every time in one Lua state).
    public static func pushNull(_ lua: LuaState) { pushShared(lua, item: 1) }

    /// Pushes the shared metatable that marks tables as JSON arrays (or objects).
    public static func pushMarkMetatable(_ lua: LuaState, _ mark: Mark) {
        pushShared(lua, item: mark == .array ? 2 : 3)
    }

    /// The weak-keyed table of marks for tables that have a metatable of their own.
    static func pushSideMarks(_ lua: LuaState) { pushShared(lua, item: 4) }

    /// Marks the table at `table`: with the shared metatable when it has none
    /// (or one of ours), in the side table otherwise.
    static func mark(_ lua: LuaState, table: Int32, as mark: Mark) {
        let t = lua.absolute(table)
        lua.ensureStack(6)
        pushMarkMetatable(lua, .array)
        let arrayMT = lua.top
        pushMarkMetatable(lua, .object)
        let objectMT = lua.top
        defer { lua.top = arrayMT - 1 }
        if lua_getmetatable(lua.L, t) == 0
            || lua_rawequal(lua.L, -1, arrayMT) != 0 || lua_rawequal(lua.L, -1, objectMT) != 0
        {
            lua.pushValue(at: mark == .array ? arrayMT : objectMT)
            lua_setmetatable(lua.L, t)
            return
        }
        pushSideMarks(lua)
        lua.pushValue(at: t)
        lua.push(mark == .array ? "array" : "object")
        lua_rawset(lua.L, -3)
    }
}

/// The options of json.encode / json.write.
struct JSONEncodeOptions {
    var pretty = false
    var sortKeys = false

    init() {}

    init(_ call: LuaCall, _ index: Int32, function: String) throws {
        guard let table = try call.optionalTable(index, "options") else { return }
        let lua = call.lua
        pretty = try table.bool("pretty") ?? false
        sortKeys = try table.bool("sort_keys") ?? false
        // An option with a typo must not be ignored silently.
        lua.ensureStack(3)
        lua.pushNil()
        while lua_next(lua.L, table.index) != 0 {
            lua.pop()
            let key = lua.type(at: -1) == LUA_TSTRING ? lua.toString(-1) : nil
            if key != "pretty" && key != "sort_keys" {
                let shown = key.map { "'\($0)'" } ?? lua.describe(-1)
                lua.pop()
                throw LuaError.validation("\(function): options: unknown field \(shown) (known: pretty, sort_keys)")
            }
        }
    }
}

/// json.read / json.write.
enum JSONFiles {
    /// Reads the whole file and decodes it. A regular file is read into a
    /// private anonymous mapping, which the parser gives back page by page
    /// as it goes (its strings are copied into Lua), so the peak memory is
    /// about that of the decoded value, not value + text.
    static func readFile(_ lua: LuaState, path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw RecordIO.ioError("json.read", "open", path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw RecordIO.ioError("json.read", "stat", path, errno: errno) }
        let size = Int(info.st_size)
        let regular = (info.st_mode & S_IFMT) == S_IFREG

        // The mapping: exactly the file (as stat saw it).
        if regular && size > 0,
            let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != UnsafeMutableRawPointer(bitPattern: -1)
        {
            defer { munmap(mapped, size) }
            var length = 0
            while length < size {
                let n = read(fd, mapped + length, size - length)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RecordIO.ioError("json.read", "read", path, errno: errno)
                }
                if n == 0 { break }
                length += n
            }
            var probe: UInt8 = 0
            if length == size && read(fd, &probe, 1) == 0 {
                try decodeFile(lua, UnsafeRawBufferPointer(start: mapped, count: length), path: path, fd: fd)
                return
            }
            // The file changed while being read: read it again the plain way.
            if lseek(fd, 0, SEEK_SET) != 0 { throw RecordIO.ioError("json.read", "seek", path, errno: errno) }
        }

        var capacity = max(size, 0) + 4096
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var length = 0
        while true {
            if length == capacity {
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                bigger.copyMemory(from: buffer, byteCount: length)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let n = read(fd, buffer + length, capacity - length)
            if n < 0 {
                if errno == EINTR { continue }
                throw RecordIO.ioError("json.read", "read", path, errno: errno)
            }
            if n == 0 { break }
            length += n
        }
        try decodeFile(lua, UnsafeRawBufferPointer(start: buffer, count: length), path: path, fd: -1)
    }

    private static func decodeFile(_ lua: LuaState, _ bytes: UnsafeRawBufferPointer, path: String, fd: Int32) throws {
        do {
            try JSONParser.decode(lua, bytes, function: "json.read", source: path, releasableFrom: fd)
        } catch var error as LuaError {
            error.extra["file"] = .text(path)
            throw error
        }
    }

    /// Encodes, then writes through the one atomic writer (a temporary file
    /// beside `path`, fsynced and renamed; a dead run's leftovers removed).
    static func writeFile(_ lua: LuaState, path: String, value: Int32, options: JSONEncodeOptions) throws -> Int {
        var writer = try JSONWriter.encode(lua, value: value, options: options, function: "json.write")
        defer { writer.deallocate() }
        writer.appendByte(0x0A)  // a text file ends with a newline
        let output = try AtomicOutput(path: path, function: "json.write")
        try output.write(UnsafeRawBufferPointer(start: writer.bytes, count: writer.count))
        try output.commit()
        return writer.count
    }
}
