import CLua
import CMoonport
import LuaBridge

/// `csv.native.parts(path, {size=, columns=})` → next_part, header: the rows
/// of a CSV file (header=true, strict, as csv.read reads them) cut into parts
/// of `size` rows, each encoded straight from the parsed fields as a JSON
/// array of arrays of strings; no Lua table is made per row. `next_part()`
/// returns json, count, first_line, last_line, or nil after the last row.
/// `columns` (a list of header names) picks and orders the columns; a name
/// that is not a column of the file is a validation error naming it.
/// `csv.native.count(path)` → the number of data rows (records after the
/// header), counted without making Lua values.
final class CSVParts {
    let reader: CSVReader
    let size: Int
    let map: [Int]?
    let width: Int
    var emitter: JSONEmitter

    init(reader: CSVReader, size: Int, map: [Int]?, width: Int, L: OpaquePointer) {
        self.reader = reader
        self.size = size
        self.map = map
        self.width = width
        emitter = JSONEmitter(L: L, function: "csv.parts", options: JSONEncodeOptions(), out: JSONWriter(capacity: 1 << 16))
    }

    deinit {
        emitter.out.deallocate()
        emitter.releaseFrames()
        reader.close()
    }

    /// The next part; after an error the iterator is finished and its file
    /// closed (the rows of a part cut short are not given again).
    func next(_ call: inout LuaCall) throws -> LuaReturn {
        do {
            return try nextPart(&call)
        } catch {
            reader.finished = true
            reader.close()
            throw error
        }
    }

    private func nextPart(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        lua.ensureStack(6)
        if reader.finished {
            lua.pushNil()
            return .results(1)
        }
        guard reader.input.isOpen else {
            throw LuaError.usage("csv.parts: the reader of '\(reader.path)' was closed before the end of the file")
        }
        emitter.out.count = 0
        emitter.out.appendByte(0x5B)
        var count = 0
        var first = 0
        var last = 0
        while count < size {
            guard let rowLine = try reader.nextRecord() else {
                reader.finished = true
                reader.close()
                break
            }
            try reader.checkWidth(width, line: rowLine, shortRows: .refused(hint: false))
            if count > 0 { emitter.out.appendByte(0x2C) }
            emitter.out.appendByte(0x5B)
            if let map {
                for (k, i) in map.enumerated() {
                    if k > 0 { emitter.out.appendByte(0x2C) }
                    let f = reader.field(i)
                    try emitter.writeString(f.baseAddress!, f.count, key: nil)
                }
            } else {
                for i in 0..<width {
                    if i > 0 { emitter.out.appendByte(0x2C) }
                    let f = reader.field(i)
                    try emitter.writeString(f.baseAddress!, f.count, key: nil)
                }
            }
            emitter.out.appendByte(0x5D)
            if count == 0 { first = rowLine }
            last = rowLine
            count += 1
        }
        if count == 0 {
            lua.pushNil()
            return .results(1)
        }
        emitter.out.appendByte(0x5D)
        emitter.out.pushString(lua)
        lua.push(count)
        lua.push(first)
        lua.push(last)
        return .results(4)
    }

    /// csv.parts(path [, {size=1000, columns=nil}]) → next_part, header.
    static func open(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        var size = 1000
        var wanted: [[UInt8]]?
        if let options = try call.optionalTable(2, "options") {
            try RecordIO.checkKnownFields(options, ["size", "columns"])
            if let s = try options.integer("size") {
                guard s >= 1 else { throw LuaError.validation("\(options.owner): field 'size' must be >= 1, got \(s)") }
                size = Int(s)
            }
            wanted = try options.with("columns") { i -> [[UInt8]]? in
                if lua.isNoneOrNil(i) { return nil }
                guard lua.type(at: i) == LUA_TTABLE else { throw options.fieldError("columns", expected: "a list of column names") }
                var names: [[UInt8]] = []
                let n = lua.rawLength(i)
                if n > 0 {
                    for k in 1...n {
                        lua_rawgeti(lua.L, i, lua_Integer(k))
                        defer { lua.pop() }
                        guard lua.type(at: -1) == LUA_TSTRING, let name = lua.withBytes(at: -1, { Array($0) }) else {
                            throw LuaError.validation("\(options.owner): columns[\(k)] must be a string, got \(lua.typeName(at: -1))")
                        }
                        names.append(name)
                    }
                }
                return names
            }
        }
        let input = try ChunkedInput(path: path, function: "csv.parts")
        let reader = CSVReader(input: input, separator: 0x2C, header: true, strict: true)
        var map: [Int]?
        do {
            try input.skipByteOrderMark()
            try reader.readHeader()
            if let wanted {
                var index: [[UInt8]: Int] = [:]
                for (i, name) in (reader.columns ?? []).enumerated() { index[name] = i }
                map = try wanted.map { name in
                    guard let i = index[name] else {
                        throw LuaError.validation(
                            "csv.parts: field '\(String(decoding: name, as: UTF8.self))' is not a column of \(path)",
                            extra: ["file": .text(path), "field": .text(String(decoding: name, as: UTF8.self))])
                    }
                    return i
                }
            }
        } catch {
            reader.close()
            throw error
        }
        let columns = reader.columns ?? []
        let parts = CSVParts(reader: reader, size: size, map: map, width: columns.count, L: lua.L)
        lua.ensureStack(4)
        lua.push(function: "csv.parts") { call in try parts.next(&call) }
        lua.newTable(arrayCount: Int32(columns.count))
        for (i, name) in columns.enumerated() {
            lua.push(bytes: name)
            lua_rawseti(lua.L, -2, lua_Integer(i + 1))
        }
        return .results(2)
    }

    /// csv.count(path [, {header=true}]) → the number of records after the
    /// header. Every record is checked against the header's width as
    /// csv.parts checks it, so that a ragged row is reported before the
    /// first part is sent. With header = false: every record, of any
    /// width, the first one too (as csv.read with {header=false} gives them).
    static func count(_ call: inout LuaCall) throws -> LuaReturn {
        let path = try call.string(1, "path")
        var header = true
        if let options = try call.optionalTable(2, "options") {
            try RecordIO.checkKnownFields(options, ["header"])
            header = try options.bool("header") ?? true
        }
        let input = try ChunkedInput(path: path, function: "csv.count")
        let reader = CSVReader(input: input, separator: 0x2C, header: header, strict: header)
        defer { reader.close() }
        try input.skipByteOrderMark()
        if !header {
            var n = 0
            while try reader.nextRecord() != nil { n += 1 }
            call.lua.push(n)
            return .results(1)
        }
        try reader.readHeader()
        let width = reader.columns?.count ?? 0
        var n = 0
        while let line = try reader.nextRecord() {
            try reader.checkWidth(width, line: line, shortRows: .refused(hint: false))
            n += 1
        }
        call.lua.push(n)
        return .results(1)
    }
}
