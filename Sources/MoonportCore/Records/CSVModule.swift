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
        BuiltinModule(name: "csv.native") { call in
            let lua = call.lua
            lua.ensureStack(8)
            registerTypes(lua)
            lua.newTable(recordCount: 3)
            let module = lua.top
            lua.setFunction(module, "read", qualifiedName: "csv.read") { call in try read(&call) }
            lua.setFunction(module, "write", qualifiedName: "csv.write") { call in try writeList(&call) }
            lua.setFunction(module, "writer", qualifiedName: "csv.writer") { call in try openWriter(&call) }
            return .results(1)
        }
    }

    static func registerTypes(_ lua: LuaState) {
        lua.registerObjectType(
            CSVReader.self,
            methods: [
                "close": { call in
                    try call.object(1, "reader", as: CSVReader.self).close()
                    return .results(0)
                },
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
                },
            ],
            metamethods: [
                "__close": { call in
                    call.lua.object(at: 1, as: CSVReader.self)?.close()
                    return .results(0)
                },
                "__tostring": { call in
                    let path = call.lua.object(at: 1, as: CSVReader.self)?.input.path ?? "?"
                    call.lua.push("csv.reader (\(path))")
                    return .results(1)
                },
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
        lua.push(object: reader)
        lua.pushNil()
        lua.pushValue(at: -2)
        return .results(4)
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
        do {
            let n = lua.rawLength(2)
            if n > 0 {
                for i in 1...n {
                    lua_rawgeti(lua.L, 2, lua_Integer(i))
                    try writer.write(lua, writerSlot: slot, row: slot + 1)
                    lua.top = slot
                }
            }
            try writer.commit()
        } catch {
            writer.output.abort()
            throw error
        }
        lua.push(writer.rows)
        return .results(1)
    }
}

// MARK: - reader

final class CSVReader: LuaObject {
    static let luaTypeName = "csv.reader"

    let input: ChunkedInput
    let separator: UInt8
    let useHeader: Bool
    let strict: Bool
    /// The line of the next unread byte (1-based).
    var line = 1
    /// The column names (header=true).
    var columns: [[UInt8]]?
    /// End of the iteration: the file was read to its end (the next calls return nil).
    var finished = false

    /// The fields of the current record: their bytes one after another in
    /// `scratch`, the end of field i at `ends[i]`.
    var scratch: UnsafeMutablePointer<UInt8>
    var scratchCapacity = 4096
    var scratchCount = 0
    var ends: UnsafeMutablePointer<Int>
    var endsCapacity = 64
    var fieldCount = 0

    init(input: ChunkedInput, separator: UInt8, header: Bool, strict: Bool) {
        self.input = input
        self.separator = separator
        useHeader = header
        self.strict = strict
        scratch = .allocate(capacity: scratchCapacity)
        ends = .allocate(capacity: endsCapacity)
    }

    deinit {
        scratch.deallocate()
        ends.deallocate()
    }

    func close() { input.close() }

    var path: String { input.path }

    func failure(_ line: Int, _ message: String) -> LuaError {
        LuaError.validation(
            "csv.read: \(path):\(line): \(message)", extra: ["file": .text(path), "line": .integer(Int64(line))])
    }

    func field(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        let start = i == 0 ? 0 : ends[i - 1]
        return UnsafeBufferPointer(start: scratch + start, count: ends[i] - start)
    }

    func readHeader() throws {
        guard let headerLine = try nextRecord() else {
            columns = []
            return
        }
        var names: [[UInt8]] = []
        var seen: [[UInt8]: Int] = [:]
        for i in 0..<fieldCount {
            let name = Array(field(i))
            if name.isEmpty {
                throw failure(
                    headerLine,
                    "column \(i + 1) of the header has no name (every column needs one; "
                        + "read with {header=false} to get rows as arrays)")
            }
            if let first = seen[name] {
                throw failure(
                    headerLine,
                    "column \(i + 1) of the header, '\(String(decoding: name, as: UTF8.self))', "
                        + "repeats the name of column \(first) (read with {header=false} to get rows as arrays)")
            }
            seen[name] = i + 1
            names.append(name)
        }
        columns = names
    }

    /// The iterator: pushes the next row and the line it starts on, or nil.
    func next(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let L = lua.L
        if finished {
            lua.pushNil()
            return .results(1)
        }
        guard input.isOpen else {
            throw LuaError.usage("csv.read: the reader of '\(path)' was closed before the end of the file")
        }
        guard let rowLine = try nextRecord() else {
            finished = true
            close()
            lua.pushNil()
            return .results(1)
        }
        lua.ensureStack(6)
        let n = fieldCount
        if let columns {
            if n > columns.count {
                throw failure(
                    rowLine,
                    "the row has \(n) fields but the header has \(columns.count) columns "
                        + "(a separator inside a value that should have been quoted?)")
            }
            if n < columns.count && strict {
                throw failure(
                    rowLine,
                    "the row has \(n) fields but the header has \(columns.count) columns "
                        + "(read with {strict=false} to accept short rows, the missing fields being nil)")
            }
            lua_createtable(L, 0, Int32(n))
            let row = lua.top
            call.pushAnchor()
            let keys = lua.top
            for i in 0..<n {
                lua_rawgeti(L, keys, lua_Integer(i + 1))
                let f = field(i)
                _ = UnsafeRawPointer(f.baseAddress!).withMemoryRebound(to: CChar.self, capacity: max(f.count, 1)) {
                    lua_pushlstring(L, $0, f.count)
                }
                lua_rawset(L, row)
            }
            lua.pop()
        } else {
            lua_createtable(L, Int32(n), 0)
            for i in 0..<n {
                let f = field(i)
                _ = UnsafeRawPointer(f.baseAddress!).withMemoryRebound(to: CChar.self, capacity: max(f.count, 1)) {
                    lua_pushlstring(L, $0, f.count)
                }
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
        }
        lua.push(rowLine)
        return .results(2)
    }

    // MARK: scanning

    @inline(__always)
    func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if scratchCapacity - scratchCount < n {
            var c = scratchCapacity * 2
            while c - scratchCount < n { c *= 2 }
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            bigger.update(from: scratch, count: scratchCount)
            scratch.deallocate()
            scratch = bigger
            scratchCapacity = c
        }
        (scratch + scratchCount).update(from: p, count: n)
        scratchCount += n
    }

    @inline(__always)
    func endField() {
        if fieldCount == endsCapacity {
            let bigger = UnsafeMutablePointer<Int>.allocate(capacity: endsCapacity * 2)
            bigger.update(from: ends, count: fieldCount)
            ends.deallocate()
            ends = bigger
            endsCapacity *= 2
        }
        ends[fieldCount] = scratchCount
        fieldCount += 1
    }

    enum Scan { case complete, needMore }

    /// Reads the next record that is not an empty line into the fields;
    /// returns the line it starts on, or nil at the end of the file.
    func nextRecord() throws -> Int? {
        while true {
            if input.start == input.end {
                if try !input.fill() { return nil }
                continue
            }
            let c = input.buffer[input.start]
            if c == CSVModule.lf {
                input.start += 1
                line += 1
                continue
            }
            if c == CSVModule.cr {
                if input.start + 1 == input.end && !input.eof {
                    try input.fill()
                    continue
                }
                input.start += 1
                if input.start < input.end && input.buffer[input.start] == CSVModule.lf { input.start += 1 }
                line += 1
                continue
            }
            let startLine = line
            switch try scanRecord() {
            case .complete: return startLine
            case .needMore: try input.fill()
            }
        }
    }

    /// Scans one record from `input.start`. When the buffer ends before the
    /// record does (and the file does not), returns `.needMore` without
    /// consuming anything: the caller reads more and the record is scanned
    /// again from its start.
    func scanRecord() throws -> Scan {
        let buf = input.buffer
        let end = input.end
        let eof = input.eof
        let sep = separator
        let quote = CSVModule.quote, cr = CSVModule.cr, lf = CSVModule.lf
        var p = input.start
        var l = line
        fieldCount = 0
        scratchCount = 0
        while true {
            if p < end && buf[p] == quote {
                let quoteLine = l
                p += 1
                while true {
                    var q = p
                    while q < end {
                        let c = buf[q]
                        if c == quote { break }
                        if c == lf {
                            l += 1
                        } else if c == cr && (q + 1 >= end || buf[q + 1] != lf) {
                            l += 1
                        }
                        q += 1
                    }
                    append(buf + p, q - p)
                    if q == end {
                        if !eof { return .needMore }
                        throw failure(
                            quoteLine,
                            "field \(fieldCount + 1) starts with a quote on line \(quoteLine) that is never closed "
                                + "(the file ends inside the quoted field)")
                    }
                    if q + 1 == end && !eof { return .needMore }
                    if q + 1 < end && buf[q + 1] == quote {
                        var dq = quote
                        append(&dq, 1)
                        p = q + 2
                        continue
                    }
                    p = q + 1
                    break
                }
                if p < end {
                    let c = buf[p]
                    if c != sep && c != lf && c != cr {
                        throw failure(
                            l,
                            "unexpected \(describe(c)) after the closing quote of field \(fieldCount + 1) "
                                + "(a quote inside a quoted field must be doubled: \"\")")
                    }
                }
            } else {
                var q = p
                while q < end {
                    let c = buf[q]
                    if c == sep || c == lf || c == cr { break }
                    q += 1
                }
                append(buf + p, q - p)
                p = q
            }
            endField()
            if p == end {
                if !eof { return .needMore }
                break
            }
            let c = buf[p]
            if c == sep {
                p += 1
                continue
            }
            if c == lf {
                p += 1
                l += 1
                break
            }
            // CR, maybe followed by LF
            if p + 1 == end && !eof { return .needMore }
            p += 1
            if p < end && buf[p] == lf { p += 1 }
            l += 1
            break
        }
        input.start = p
        line = l
        return .complete
    }

    func describe(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "character '\(Character(Unicode.Scalar(c)))'" }
        if c == 0x20 { return "space" }
        let hex = String(c, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" : "")\(hex)"
    }
}

// MARK: - writer

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
