import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The streaming reader of csv.read (the rules are in CSVModule.swift).
final class CSVReader: RecordReader {
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

    enum ShortRows { case accepted, refused(hint: Bool) }

    /// The record just read against the header's width: the one rule of
    /// csv.read, csv.native.parts and csv.native.count. A long row is always
    /// an error; a short one unless `shortRows` accepts it (`hint`: say how).
    func checkWidth(_ width: Int, line: Int, shortRows: ShortRows) throws {
        let n = fieldCount
        if n > width {
            throw failure(
                line,
                "the row has \(n) fields but the header has \(width) columns "
                    + "(a separator inside a value that should have been quoted?)")
        }
        if n < width, case .refused(let hint) = shortRows {
            throw failure(
                line,
                "the row has \(n) fields but the header has \(width) columns"
                    + (hint ? " (read with {strict=false} to accept short rows, the missing fields being nil)" : ""))
        }
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
            try checkWidth(columns.count, line: rowLine, shortRows: strict ? .refused(hint: true) : .accepted)
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
