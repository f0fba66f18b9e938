import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ndjson.native.parts(path, {size=, bytes=, tables=, prefix=, suffix=})`
/// → next_part: the values of an NDJSON file (lines as ndjson.read reads
/// them) cut into parts, each given as `prefix` .. the text of a JSON array
/// of its values .. `suffix`; no Lua value is made per record. A part holds
/// at most `size` values and its text (prefix and suffix included) at most
/// `bytes` bytes (both unlimited by default). `next_part()` returns text,
/// count, first_line, last_line, more (whether another value follows: the
/// value after a part is read, and checked, before the part is given), or
/// nil after the last value. `next_part(file)` writes the text to `file`
/// instead (created or emptied; memory then stays small whatever `bytes`
/// is) and returns its size in bytes in place of the text.
///
/// Each line is checked as json's parser checks it and copied without its
/// insignificant whitespace (keys in the file's order, numbers and escapes
/// as written). A line the copier cannot vouch for (an exponent, a long
/// number, a \u surrogate, deep nesting, or an error) is decoded by json's
/// parser and encoded by json's encoder, so errors are ndjson.read's own:
/// kind = "validation" with `file` and `line`. Also kind = "validation":
/// with `tables = true`, a value that is not an object or an array (with
/// `file`, `line`, `record` — its number among the values — and `got`, its
/// Lua type); a value whose text alone exceeds `bytes` (with `file`,
/// `line`, `record` and `record_bytes`).
///
/// `ndjson.native.count(path)` → the lines with something else than
/// whitespace (space, tab, CR, VT, FF), counted without reading them as JSON.
final class NDJSONParts {
    let reader: NDJSONReader
    let size: Int
    let bytes: Int
    let tablesOnly: Bool
    let prefix: [UInt8]
    let suffix: [UInt8]
    var out = JSONWriter(capacity: 1 << 16)
    /// next_part(file): the file being written, and the bytes already written to it.
    var fd: Int32 = -1
    var written = 0
    /// A value read after the end of the previous part: the first of the next.
    var carry = JSONWriter(capacity: 1 << 10)
    var carryLine = 0
    var hasCarry = false
    /// Values read so far.
    var records = 0

    init(reader: NDJSONReader, size: Int, bytes: Int, tablesOnly: Bool, prefix: [UInt8], suffix: [UInt8]) {
        self.reader = reader
        self.size = size
        self.bytes = bytes
        self.tablesOnly = tablesOnly
        self.prefix = prefix
        self.suffix = suffix
    }

    deinit {
        if fd >= 0 { _ = sysClose(fd) }
        out.deallocate()
        carry.deallocate()
        reader.input.close()
    }

    var path: String { reader.input.path }

    /// The next part; after an error the iterator is finished and its file closed.
    func next(_ call: inout LuaCall) throws -> LuaReturn {
        let into = call.lua.isNoneOrNil(1) ? nil : try call.string(1, "file")
        do {
            return try nextPart(call.lua, into: into)
        } catch {
            reader.finished = true
            hasCarry = false
            reader.input.close()
            throw error
        }
    }

    /// Writes `out` to the file and empties it.
    private func flushOut(_ into: String) throws {
        let code = RecordIO.writeAll(fd, UnsafeRawPointer(out.bytes), out.count)
        if code != 0 { throw RecordIO.ioError("ndjson.parts", "write", into, errno: code) }
        written += out.count
        out.count = 0
    }

    private func nextPart(_ lua: LuaState, into: String?) throws -> LuaReturn {
        lua.ensureStack(8)
        if reader.finished && !hasCarry {
            lua.pushNil()
            return .results(1)
        }
        guard hasCarry || reader.input.isOpen else {
            throw LuaError.usage("ndjson.parts: the reader of '\(path)' was closed before the end of the file")
        }
        if let into {
            fd = createTruncated(into)
            if fd < 0 { throw RecordIO.ioError("ndjson.parts", "create", into, errno: errno) }
        }
        defer {
            if fd >= 0 {
                _ = sysClose(fd)
                fd = -1
            }
        }
        written = 0
        out.count = 0
        if !prefix.isEmpty { prefix.withUnsafeBufferPointer { out.append($0.baseAddress!, $0.count) } }
        out.appendByte(0x5B)
        var count = 0
        var first = 0
        var last = 0
        var more = false
        if hasCarry {
            out.append(carry.bytes, carry.count)
            hasCarry = false
            count = 1
            first = carryLine
            last = carryLine
        }
        while let (line, number) = try reader.nextLine() {
            if let into, out.count >= RecordIO.chunk { try flushOut(into) }
            let mark = out.count
            if count > 0 { out.appendByte(0x2C) }
            let start = out.count
            records += 1
            try append(lua, line, number)
            let length = out.count - start
            if tablesOnly {
                let c = out.bytes[start]
                if c != 0x7B && c != 0x5B {
                    let got = c == 0x22 ? "string" : c == 0x74 || c == 0x66 ? "boolean" : c == 0x6E ? "userdata" : "number"
                    throw LuaError.validation(
                        "ndjson.parts: \(path): line \(number): the value is a \(got == "userdata" ? "null" : got), "
                            + "not an object or an array",
                        extra: ["file": .text(path), "line": .integer(Int64(number)),
                                "record": .integer(Int64(records)), "got": .text(got)])
                }
            }
            if prefix.count + length + 2 + suffix.count > bytes {
                throw LuaError.validation(
                    "ndjson.parts: \(path): line \(number): the value is \(length) bytes, more than a part of "
                        + "\(bytes) bytes can hold"
                        + (prefix.count + suffix.count > 0 ? " (with the \(prefix.count + suffix.count) bytes around its values)" : ""),
                    extra: ["file": .text(path), "line": .integer(Int64(number)),
                            "record": .integer(Int64(records)), "record_bytes": .integer(Int64(length))])
            }
            if count == size || written + out.count + 1 + suffix.count > bytes {
                carry.count = 0
                carry.append(out.bytes + start, length)
                carryLine = number
                hasCarry = true
                out.count = mark
                more = true
                break
            }
            if count == 0 { first = number }
            last = number
            count += 1
        }
        if count == 0 {
            lua.pushNil()
            return .results(1)
        }
        out.appendByte(0x5D)
        if !suffix.isEmpty { suffix.withUnsafeBufferPointer { out.append($0.baseAddress!, $0.count) } }
        if let into {
            try flushOut(into)
            if sysClose(fd) != 0 {
                fd = -1
                throw RecordIO.ioError("ndjson.parts", "write", into, errno: errno)
            }
            fd = -1
            lua.push(written)
        } else {
            out.pushString(lua)
        }
        lua.push(count)
        lua.push(first)
        lua.push(last)
        lua.push(more)
        return .results(5)
    }

    /// Appends the value of one line to `out`: copied when the copier can
    /// vouch for it, else decoded and encoded by json itself.
    private func append(_ lua: LuaState, _ line: UnsafeRawBufferPointer, _ number: Int) throws {
        if JSONTextCopy.copy(line.baseAddress!.assumingMemoryBound(to: UInt8.self), line.count, into: &out) {
            return
        }
        let base = lua.top
        defer { lua.top = base }
        do {
            try JSONParser.decode(lua, line, function: "ndjson.read", source: path, line: number)
            try JSONWriter.encode(lua, value: -1, options: JSONEncodeOptions(), function: "json.encode", appendingTo: &out)
        } catch var error as LuaError {
            error.extra["file"] = .text(path)
            error.extra["line"] = .integer(Int64(number))
            throw error
        }
    }

    /// ndjson.parts(path [, {size=, bytes=, tables=false, prefix="", suffix=""}]) → next_part.
    static func open(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        var size = Int.max
        var bytes = Int.max
        var tables = false
        var prefix: [UInt8] = []
        var suffix: [UInt8] = []
        if let options = try call.optionalTable(2, "options") {
            try RecordIO.checkKnownFields(options, ["size", "bytes", "tables", "prefix", "suffix"])
            prefix = Array((try options.string("prefix") ?? "").utf8)
            suffix = Array((try options.string("suffix") ?? "").utf8)
            if let s = try options.integer("size") {
                guard s >= 1 else { throw LuaError.validation("\(options.owner): field 'size' must be >= 1, got \(s)") }
                size = Int(s)
            }
            if let b = try options.integer("bytes") {
                guard b >= 3 else { throw LuaError.validation("\(options.owner): field 'bytes' must be >= 3, got \(b)") }
                bytes = Int(b)
            }
            tables = try options.bool("tables") ?? false
        }
        let input = try ChunkedInput(path: path, function: "ndjson.parts")
        do {
            try input.skipByteOrderMark()
        } catch {
            input.close()
            throw error
        }
        let parts = NDJSONParts(
            reader: NDJSONReader(input: input), size: size, bytes: bytes, tablesOnly: tables, prefix: prefix, suffix: suffix)
        lua.ensureStack(2)
        lua.push(function: "ndjson.parts") { call in try parts.next(&call) }
        return .results(1)
    }

    /// ndjson.count(path) → the lines that are not blank.
    static func count(_ call: inout LuaCall) throws -> LuaReturn {
        let path = try call.string(1, "path")
        let input = try ChunkedInput(path: path, function: "ndjson.count")
        defer { input.close() }
        var n = 0
        var blank = true
        while true {
            if input.start == input.end {
                if !(try input.fill()) { break }
            }
            var q = input.buffer + input.start
            let end = input.buffer + input.end
            while q < end {
                let c = q.pointee
                if c == 0x0A {
                    if !blank { n += 1 }
                    blank = true
                } else if blank && c != 0x20 && (c < 0x09 || c > 0x0D) {
                    blank = false
                }
                q += 1
            }
            input.start = input.end
        }
        if !blank { n += 1 }
        call.lua.push(n)
        return .results(1)
    }
}

/// open(2) of a file to write from its start (created, or emptied), callable
/// where a method named `open` hides it.
private func createTruncated(_ path: String) -> Int32 { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }

/// A checked copy of one JSON text without its insignificant whitespace,
/// for values that go from a file to a request body unchanged.
enum JSONTextCopy {
    /// Containers deeper than this are left to json's parser.
    static let maxDepth = 64

    /// Appends the JSON text at `s` (`n` bytes; whitespace around it
    /// allowed) to `out`, without insignificant whitespace. Returns false
    /// (and leaves `out` as it was) unless the text is one value that
    /// json's parser accepts and whose copy json's encoder could have
    /// written (numbers without an exponent and of at most 18 characters,
    /// no \u escape of a surrogate, nesting of at most `maxDepth`).
    static func copy(_ s: UnsafePointer<UInt8>, _ n: Int, into out: inout JSONWriter) -> Bool {
        out.reserve(n)
        let d = out.bytes
        var o = out.count
        var p = s
        let end = s + n
        // Bit i of `objects`: container i (from the outside) is an object.
        var objects: UInt64 = 0
        var depth = 0

        @inline(__always) func skipSpace() {
            while p < end {
                let c = p.pointee
                if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { p += 1 } else { return }
            }
        }
        @inline(__always) func put(_ c: UInt8) {
            d[o] = c
            o += 1
        }
        /// Copies the string at p (a '"'); false when it is not one to copy.
        func string() -> Bool {
            let open = p
            var q = p + 1
            while true {
                while end - q >= 8 {
                    let m = jsonSpecialBytes(UnsafeRawPointer(q).loadUnaligned(as: UInt64.self))
                    if m != 0 {
                        q += m.trailingZeroBitCount &>> 3
                        break
                    }
                    q += 8
                }
                guard q < end else { return false }
                let c = q.pointee
                if c == 0x22 {
                    q += 1
                    break
                } else if c == 0x5C {
                    guard end - q >= 2 else { return false }
                    switch q[1] {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
                        q += 2
                    case 0x75:
                        guard end - q >= 6 else { return false }
                        var v: UInt32 = 0
                        for k in 2..<6 {
                            let h = q[k]
                            let digit: UInt8
                            if h &- 0x30 < 10 {
                                digit = h &- 0x30
                            } else if (h | 0x20) &- 0x61 < 6 {
                                digit = (h | 0x20) &- 0x61 &+ 10
                            } else {
                                return false
                            }
                            v = v << 4 | UInt32(digit)
                        }
                        if v >= 0xD800 && v <= 0xDFFF { return false }
                        q += 6
                    default:
                        return false
                    }
                } else if c < 0x20 {
                    return false
                } else if c >= 0x80 {
                    let k = jsonUTF8SequenceLength(q, end)
                    if k == 0 { return false }
                    q += k
                } else {
                    q += 1
                }
            }
            let length = q - open
            (d + o).update(from: open, count: length)
            o += length
            p = q
            return true
        }
        func number() -> Bool {
            let from = p
            if p.pointee == 0x2D { p += 1 }
            guard p < end else { return false }
            if p.pointee == 0x30 {
                p += 1
            } else if p.pointee &- 0x31 < 9 {
                while p < end && p.pointee &- 0x30 < 10 { p += 1 }
            } else {
                return false
            }
            if p < end && p.pointee == 0x2E {
                p += 1
                guard p < end && p.pointee &- 0x30 < 10 else { return false }
                while p < end && p.pointee &- 0x30 < 10 { p += 1 }
            }
            if p < end && (p.pointee | 0x20) == 0x65 { return false }
            let length = p - from
            if length > 18 { return false }
            (d + o).update(from: from, count: length)
            o += length
            return true
        }
        func literal(_ word: StaticString) -> Bool {
            let k = word.utf8CodeUnitCount
            guard end - p >= k, memcmp(p, word.utf8Start, k) == 0 else { return false }
            (d + o).update(from: p, count: k)
            o += k
            p += k
            return true
        }

        skipSpace()
        // A value is expected here.
        value: while true {
            guard p < end else { return false }
            switch p.pointee {
            case 0x7B, 0x5B:
                let isObject = p.pointee == 0x7B
                if depth == maxDepth { return false }
                if isObject { objects |= 1 << UInt64(depth) } else { objects &= ~(1 << UInt64(depth)) }
                depth += 1
                put(p.pointee)
                p += 1
                skipSpace()
                guard p < end else { return false }
                if p.pointee == (isObject ? 0x7D : 0x5D) {
                    put(p.pointee)
                    p += 1
                    depth -= 1
                } else if isObject {
                    guard p.pointee == 0x22, string() else { return false }
                    skipSpace()
                    guard p < end && p.pointee == 0x3A else { return false }
                    put(0x3A)
                    p += 1
                    skipSpace()
                    continue value
                } else {
                    continue value
                }
            case 0x22:
                guard string() else { return false }
            case 0x74:
                guard literal("true") else { return false }
            case 0x66:
                guard literal("false") else { return false }
            case 0x6E:
                guard literal("null") else { return false }
            default:
                guard number() else { return false }
            }
            // After a value: the end, a comma or the close of its container.
            while true {
                skipSpace()
                if depth == 0 {
                    guard p == end else { return false }
                    out.count = o
                    return true
                }
                guard p < end else { return false }
                let isObject = objects & (1 << UInt64(depth - 1)) != 0
                let c = p.pointee
                if c == 0x2C {
                    put(0x2C)
                    p += 1
                    skipSpace()
                    if isObject {
                        guard p < end, p.pointee == 0x22, string() else { return false }
                        skipSpace()
                        guard p < end && p.pointee == 0x3A else { return false }
                        put(0x3A)
                        p += 1
                        skipSpace()
                    }
                    continue value
                }
                guard c == (isObject ? 0x7D : 0x5D) else { return false }
                put(c)
                p += 1
                depth -= 1
            }
        }
    }
}
