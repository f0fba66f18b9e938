import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `require "csv.native"`: the native half of the `csv` module (SPEC.md §3);
/// `stdlib/csv.lua` is the module scripts see. Native: `read` (a streaming
/// iterator), `write` (a whole list at once) and `writer` (one row per call,
/// which the Lua side uses for iterator input so that the iterator runs in
/// Lua, where it may yield: an HTTP pager can feed csv.write directly).
///
/// Reading (RFC 4180, lenient where no data is lost):
/// - fields are separated by `separator` (one byte, default ","); a field in
///   double quotes may hold separators, CR, LF and doubled quotes (`""`);
///   a quote inside an unquoted field is kept as it is;
/// - records end with LF, CRLF or a lone CR; empty lines are skipped (write
///   a single empty field as `""` to keep it: csv.write does);
/// - a UTF-8 byte order mark at the start of the file is skipped; bytes are
///   passed through as they are (no UTF-8 check, no trimming);
/// - with `header=true` (the default) the first record names the columns
///   (empty or repeated names are errors) and rows are tables keyed by
///   them; a row with more fields than the header is an error, one with
///   fewer is an error too unless `strict=false` (the missing fields are
///   then nil); with `header=false` rows are arrays of strings, of any length;
/// - every field is a string ("" for an empty one): CSV has no types.
/// - errors are `kind = "validation"` with `file` and `line` (the line where
///   the record, or the unterminated quoted field, starts).
enum CSVModule {
    static let quote: UInt8 = 0x22
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A

    static var builtin: BuiltinModule {
        RecordIO.module("csv", registerTypes: registerTypes, read: read, write: writeList, writer: openWriter,
            extra: ["parts": CSVParts.open, "count": CSVParts.count])
    }

    static func registerTypes(_ lua: LuaState) {
        lua.registerReaderType(
            CSVReader.self,
            methods: [
                "header": { call in
                    let reader = try call.object(1, "reader", as: CSVReader.self)
                    guard let columns = reader.columns else {
                        call.lua.pushNil()
                        return .results(1)
                    }
                    call.lua.newTable(arrayCount: Int32(columns.count))
                    for (i, name) in columns.enumerated() {
                        call.lua.push(bytes: name)
                        lua_rawseti(call.lua.L, -2, lua_Integer(i + 1))
                    }
                    return .results(1)
                }
            ])
        lua.registerWriterType(CSVWriter.self) { call, writer in
            if call.argumentCount < 2 { throw call.argumentError(2, "row", expected: "a table") }
            try writer.write(call.lua, writerSlot: 1, row: 2)
        }
    }

    // MARK: options

    /// `separator`: one byte, not a quote, CR or LF.
    static func separator(_ options: LuaOptions) throws -> UInt8 {
        try options.with("separator") { i in
            let lua = options.lua
            if lua.isNoneOrNil(i) { return 0x2C }
            guard lua.type(at: i) == LUA_TSTRING else { throw options.fieldError("separator", expected: "a string") }
            let bytes = lua.withBytes(at: i) { Array($0) } ?? []
            guard bytes.count == 1 else {
                throw LuaError.validation(
                    "\(options.owner): field 'separator' must be exactly one byte (\",\", \";\", \"\\t\", \"|\"), "
                        + "got \(bytes.count) bytes")
            }
            guard bytes[0] != quote && bytes[0] != cr && bytes[0] != lf else {
                throw LuaError.validation(
                    "\(options.owner): field 'separator' cannot be a double quote, CR or LF")
            }
            return bytes[0]
        }
    }

    // MARK: csv.read

    /// csv.read(path [, {header=true, separator=",", strict=true}])
    /// → iterator, reader, nil, reader (the reader closes the file when the
    /// for loop ends, also by break or error, as io.lines does).
    static func read(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        var header = true
        var separator: UInt8 = 0x2C
        var strict = true
        if let options = try call.optionalTable(2, "options") {
            try RecordIO.checkKnownFields(options, ["header", "separator", "strict"])
            header = try options.bool("header") ?? true
            separator = try Self.separator(options)
            strict = try options.bool("strict") ?? true
        }
        registerTypes(lua)
        let input = try ChunkedInput(path: path, function: "csv.read")
        let reader = CSVReader(input: input, separator: separator, header: header, strict: strict)
        lua.ensureStack(8)
        do {
            try input.skipByteOrderMark()
            if header { try reader.readHeader() }
        } catch {
            reader.close()
            throw error
        }
        // The column names as Lua strings, kept by the iterator (made once).
        if let columns = reader.columns {
            lua.newTable(arrayCount: Int32(columns.count))
            for (i, name) in columns.enumerated() {
                lua.push(bytes: name)
                lua_rawseti(lua.L, -2, lua_Integer(i + 1))
            }
        } else {
            lua.pushNil()
        }
        lua.push(function: "csv.read", anchoring: ()) { call in
            try reader.next(&call)
        }
        return RecordIO.iteratorResults(lua, reader)
    }

    // MARK: csv.write / csv.writer

    static func writerOptions(_ call: LuaCall, _ index: Int32) throws -> CSVWriter.Options {
        var result = CSVWriter.Options()
        guard let options = try call.optionalTable(index, "options") else { return result }
        try RecordIO.checkKnownFields(options, ["header", "separator", "crlf", "extra"])
        result.separator = try separator(options)
        result.crlf = try options.bool("crlf") ?? false
        if let extra = try options.string("extra") {
            guard extra == "error" || extra == "ignore" else {
                throw LuaError.validation(
                    "\(options.owner): field 'extra' must be \"error\" or \"ignore\", got \"\(extra)\"")
            }
            result.ignoreExtra = extra == "ignore"
        }
        try options.with("header") { i in
            let lua = options.lua
            if lua.isNoneOrNil(i) { return }
            guard lua.type(at: i) == LUA_TTABLE else {
                throw options.fieldError("header", expected: "a list of column names")
            }
            let n = lua.rawLength(i)
            guard n > 0 else {
                throw LuaError.validation("\(options.owner): field 'header' must be a non-empty list of column names")
            }
            var names: [[UInt8]] = []
            var seen: [[UInt8]: Int] = [:]
            lua.ensureStack(2)
            for k in 1...n {
                lua_rawgeti(lua.L, i, lua_Integer(k))
                defer { lua.pop() }
                guard lua.type(at: -1) == LUA_TSTRING, let name = lua.withBytes(at: -1, { Array($0) }),
                    !name.isEmpty
                else {
                    throw LuaError.validation(
                        "\(options.owner): header[\(k)] must be a non-empty string, got "
                            + (lua.type(at: -1) == LUA_TSTRING ? "an empty string" : lua.typeName(at: -1)))
                }
                if let first = seen[name] {
                    throw LuaError.validation(
                        "\(options.owner): header[\(k)] '\(String(decoding: name, as: UTF8.self))' repeats header[\(first)]")
                }
                seen[name] = k
                names.append(name)
            }
            result.header = names
        }
        return result
    }

    /// csv.writer(path [, opts]) → writer (w:write(row), w:close() → count, w:abort()).
    static func openWriter(_ call: inout LuaCall) throws -> LuaReturn {
        let path = try call.string(1, "path")
        let options = try writerOptions(call, 2)
        try pushWriter(call, path: path, options: options)
        return .results(1)
    }

    @discardableResult
    static func pushWriter(_ call: LuaCall, path: String, options: CSVWriter.Options) throws -> CSVWriter {
        let lua = call.lua
        registerTypes(lua)
        let output = try AtomicOutput(path: path, function: call.name)
        let writer = CSVWriter(output: output, options: options)
        lua.ensureStack(4)
        lua.push(object: writer)
        if let header = options.header {
            // The header's names as Lua strings, kept in the userdata's user value.
            lua.newTable(arrayCount: Int32(header.count))
            for (i, name) in header.enumerated() {
                lua.push(bytes: name)
                lua_rawseti(lua.L, -2, lua_Integer(i + 1))
            }
            lua_setiuservalue(lua.L, -2, 1)
        }
        JSONModule.pushNull(lua)
        writer.nullPointer = lua_touserdata(lua.L, -1)
        lua.pop()
        return writer
    }

    /// csv.write(path, list [, opts]) → number of rows written.
    static func writeList(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        try RecordIO.checkList(call, 2, "rows")
        let options = try writerOptions(call, 3)
        let writer = try pushWriter(call, path: path, options: options)
        let slot = lua.top
        return try RecordIO.writeList(lua, to: writer) { row in try writer.write(lua, writerSlot: slot, row: row) }
    }
}
