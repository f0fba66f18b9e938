import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// csv.writer and csv.write (the rules are in CSVModule.swift).
final class CSVWriter: RecordWriter {
    static let luaTypeName = "csv.writer"

    struct Options {
        var header: [[UInt8]]?
        var separator: UInt8 = 0x2C
        var crlf = false
        var ignoreExtra = false
    }

    let output: AtomicOutput
    let separator: UInt8
    let crlf: Bool
    let ignoreExtra: Bool
    /// The columns: given, or the sorted keys of the first row when it is a record.
    var columns: [[UInt8]]?
    var headerWritten = false
    /// Rows written (the header line not counted).
    var rows = 0
    /// Rows were written as lists before any header was known.
    var listRowsWithoutHeader = false
    var nullPointer: UnsafeMutableRawPointer?

    init(output: AtomicOutput, options: CSVWriter.Options) {
        self.output = output
        separator = options.separator
        crlf = options.crlf
        ignoreExtra = options.ignoreExtra
        columns = options.header
    }

    var function: String { output.function }

    func failure(_ message: String) -> LuaError {
        LuaError.validation(
            "\(function): \(message)", extra: ["file": .text(output.path), "row": .integer(Int64(rows + 1))])
    }

    func commit() throws {
        if output.finished {
            if output.committed { return }
            throw LuaError.usage("\(function): the writer of '\(output.path)' was aborted")
        }
        if !headerWritten, let columns {
            writeHeader(columns)
        }
        try output.commit()
    }

    /// Writes the row at `row`; the writer's userdata is at `writerSlot`
    /// (its user value holds the column names as Lua strings).
    func write(_ lua: LuaState, writerSlot: Int32, row rowIndex: Int32) throws {
        if output.finished {
            throw LuaError.usage("\(function): the writer of '\(output.path)' is closed")
        }
        let L = lua.L
        let row = lua.absolute(rowIndex)
        let rowNumber = rows + 1
        guard lua.type(at: row) == LUA_TTABLE else {
            throw failure("row \(rowNumber) must be a table (a list of fields or a record), got \(lua.typeName(at: row))")
        }
        lua.ensureStack(8)
        let base = lua.top
        let start = output.out.count
        let hadHeader = headerWritten
        let hadColumns = columns != nil
        do {
            let n = lua.rawLength(row)
            if n > 0 {
                if let columns {
                    if n != columns.count {
                        throw failure("row \(rowNumber) has \(n) fields but the header has \(columns.count) columns")
                    }
                    if !headerWritten { writeHeader(columns) }
                } else {
                    listRowsWithoutHeader = true
                }
                let lineStart = output.out.count
                for i in 1...n {
                    if i > 1 { output.out.appendByte(separator) }
                    lua_rawgeti(L, row, lua_Integer(i))
                    try writeValue(lua, -1, row: rowNumber, column: i, named: false)
                    lua.pop()
                }
                endLine(lineStart)
            } else {
                if columns == nil {
                    if listRowsWithoutHeader {
                        throw failure(
                            "row \(rowNumber) is a record (keyed table) but the rows before it were lists "
                                + "and no header was given (pass {header={...}})")
                    }
                    try inferColumns(lua, writerSlot: writerSlot, row: row, rowNumber: rowNumber)
                }
                let columns = columns!
                if !headerWritten { writeHeader(columns) }
                _ = lua_getiuservalue(L, writerSlot, 1)
                let keys = lua.top
                let lineStart = output.out.count
                var found = 0
                for i in 0..<columns.count {
                    if i > 0 { output.out.appendByte(separator) }
                    lua_rawgeti(L, keys, lua_Integer(i + 1))
                    if lua_rawget(L, row) != LUA_TNIL { found += 1 }
                    try writeValue(lua, -1, row: rowNumber, column: i + 1, named: true)
                    lua.pop()
                }
                endLine(lineStart)
                if !ignoreExtra { try checkExtraFields(lua, row: row, keys: keys, found: found, rowNumber: rowNumber) }
            }
        } catch {
            // The writer stays usable after a rejected row (w:write under pcall).
            output.out.count = start
            headerWritten = hadHeader
            if !hadColumns { columns = nil }
            lua.top = base
            throw error
        }
        lua.top = base
        rows += 1
        try output.flushIfNeeded()
    }

    /// A record's fields that are not columns are an error (data would be
    /// lost); `extra = "ignore"` drops them.
    func checkExtraFields(_ lua: LuaState, row: Int32, keys: Int32, found: Int, rowNumber: Int) throws {
        let L = lua.L
        var total = 0
        lua.pushNil()
        while lua_next(L, row) != 0 {
            lua.pop()
            total += 1
        }
        guard total > found else { return }
        let known = Set(columns ?? [])
        lua.pushNil()
        while lua_next(L, row) != 0 {
            lua.pop()
            if lua.type(at: -1) == LUA_TSTRING, let name = lua.withBytes(at: -1, { Array($0) }), known.contains(name) {
                continue
            }
            let shown = lua.type(at: -1) == LUA_TSTRING ? "'\(lua.toString(-1) ?? "")'" : "[\(lua.describe(-1))]"
            lua.pop()
            throw failure(
                "row \(rowNumber) has the field \(shown), which is not a column of the header "
                    + "(add it to {header=...}, or pass {extra=\"ignore\"} to leave such fields out)")
        }
    }

    /// The columns of a record written without a header: its keys, sorted (bytewise).
    func inferColumns(_ lua: LuaState, writerSlot: Int32, row: Int32, rowNumber: Int) throws {
        let L = lua.L
        var names: [[UInt8]] = []
        lua.pushNil()
        while lua_next(L, row) != 0 {
            lua.pop()
            guard lua.type(at: -1) == LUA_TSTRING, let name = lua.withBytes(at: -1, { Array($0) }) else {
                let key = lua.describe(-1)
                lua.pop()
                throw failure(
                    "row \(rowNumber) has the key [\(key)], which cannot name a column "
                        + "(rows are lists {a, b} or records {name = value})")
            }
            names.append(name)
        }
        if names.isEmpty {
            throw failure(
                "row \(rowNumber) is empty, so the columns cannot be taken from it (pass {header={...}})")
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        columns = names
        lua.newTable(arrayCount: Int32(names.count))
        for (i, name) in names.enumerated() {
            lua.push(bytes: name)
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
        lua_setiuservalue(L, writerSlot, 1)
    }

    func writeHeader(_ columns: [[UInt8]]) {
        let lineStart = output.out.count
        for (i, name) in columns.enumerated() {
            if i > 0 { output.out.appendByte(separator) }
            name.withUnsafeBufferPointer { writeField($0.baseAddress!, $0.count) }
        }
        endLine(lineStart)
        headerWritten = true
    }

    /// Ends a line; a line that would be empty (one empty field) is written
    /// as `""`, since readers skip empty lines.
    @inline(__always)
    func endLine(_ lineStart: Int) {
        if output.out.count == lineStart {
            output.out.appendByte(CSVModule.quote)
            output.out.appendByte(CSVModule.quote)
        }
        if crlf { output.out.appendByte(CSVModule.cr) }
        output.out.appendByte(CSVModule.lf)
    }

    /// `column` is 1-based; `named`: say the header's name for it in messages.
    func writeValue(_ lua: LuaState, _ index: Int32, row: Int, column number: Int, named: Bool) throws {
        let L = lua.L
        var column: String {
            if named, let columns, number <= columns.count {
                return "'" + String(decoding: columns[number - 1], as: UTF8.self) + "'"
            }
            return "\(number)"
        }
        switch lua_type(L, index) {
        case LUA_TSTRING:
            var n = 0
            let p = mp_tolstring(L, index, &n)!
            writeField(UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), n)
        case LUA_TNUMBER:
            if lua_isinteger(L, index) != 0 {
                writeInteger(lua_tointegerx(L, index, nil))
            } else {
                let d = lua_tonumberx(L, index, nil)
                guard d.isFinite else {
                    throw failure(
                        "row \(row), column \(column): \(d.isNaN ? "NaN" : "an infinite number") has no CSV form "
                            + "(convert it with tostring first if that is what you want)")
                }
                // The shortest text that reads back as the same double (as json does).
                var text = d.description
                text.withUTF8 { writeField($0.baseAddress!, $0.count) }
            }
        case LUA_TBOOLEAN:
            if lua_toboolean(L, index) != 0 { output.out.append("true") } else { output.out.append("false") }
        case LUA_TNIL:
            break
        case LUA_TUSERDATA where lua_touserdata(L, index) == nullPointer:
            break
        default:
            throw failure(
                "row \(row), column \(column): cannot write a \(lua.typeName(at: index)) to CSV "
                    + "(only strings, numbers, booleans, nil and json.null)")
        }
    }

    @inline(__always)
    func writeInteger(_ v: Int64) {
        var buf: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buf) { raw in
            let b = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var u = v < 0 ? 0 &- UInt64(bitPattern: v) : UInt64(v)
            var i = 24
            repeat {
                i -= 1
                b[i] = UInt8(truncatingIfNeeded: u % 10) &+ 0x30
                u /= 10
            } while u != 0
            if v < 0 {
                i -= 1
                b[i] = 0x2D
            }
            writeField(b + i, 24 - i)
        }
    }

    /// Writes one field, quoted only when it must be: it holds the
    /// separator, a quote, CR or LF, or starts or ends with a space or tab
    /// (which many readers would trim).
    @inline(__always)
    func writeField(_ p: UnsafePointer<UInt8>, _ n: Int) {
        var needs = false
        if n > 0 {
            let first = p[0], last = p[n - 1]
            if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { needs = true }
            if !needs {
                let sep = separator
                for i in 0..<n {
                    let c = p[i]
                    if c == sep || c == CSVModule.quote || c == CSVModule.lf || c == CSVModule.cr {
                        needs = true
                        break
                    }
                }
            }
        }
        if !needs {
            output.out.append(p, n)
            return
        }
        output.out.reserve(2 * n + 2)
        output.out.put(CSVModule.quote)
        for i in 0..<n {
            let c = p[i]
            output.out.put(c)
            if c == CSVModule.quote { output.out.put(c) }
        }
        output.out.put(CSVModule.quote)
    }
}
