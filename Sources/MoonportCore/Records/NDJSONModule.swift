import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `require "ndjson.native"`: the native half of `ndjson` (SPEC.md §3);
/// `stdlib/ndjson.lua` is the module scripts see.
///
/// - `read(path)` → iterator of decoded values (and the line number), one
///   JSON text per line, decoded by json's parser (same values, same
///   messages); blank lines (only spaces, tabs, CR) are skipped, CRLF is
///   accepted, a UTF-8 byte order mark at the start of the file is
///   skipped; a line may be of any length (the buffer grows for it and
///   shrinks back after). Errors: `kind = "validation"` with `file`, `line`
///   and `offset` (the 1-based byte within the line), as "at byte N of line L".
/// - `write(path, list [, {sort_keys=}])` / `writer(path [, opts])`: one
///   compact JSON text per line (json's encoder), LF line ends, written
///   atomically (temporary file, fsync, rename).
enum NDJSONModule {
    static var builtin: BuiltinModule {
        RecordIO.module("ndjson", registerTypes: registerTypes, read: read, write: writeList, writer: openWriter,
            extra: ["parts": NDJSONParts.open, "count": NDJSONParts.count])
    }

    static func registerTypes(_ lua: LuaState) {
        lua.registerReaderType(NDJSONReader.self)
        lua.registerWriterType(NDJSONWriter.self) { call, writer in
            try writer.write(call.lua, value: 2)
        }
    }

    /// ndjson.read(path) → iterator, reader, nil, reader.
    static func read(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        if let options = try call.optionalTable(2, "options") {
            try RecordIO.checkKnownFields(options, [])
        }
        registerTypes(lua)
        let input = try ChunkedInput(path: path, function: "ndjson.read")
        do {
            try input.skipByteOrderMark()
        } catch {
            input.close()
            throw error
        }
        let reader = NDJSONReader(input: input)
        lua.ensureStack(6)
        lua.push(function: "ndjson.read") { call in try reader.next(call.lua) }
        return RecordIO.iteratorResults(lua, reader)
    }

    static func writerOptions(_ call: LuaCall, _ index: Int32) throws -> JSONEncodeOptions {
        var result = JSONEncodeOptions()
        guard let options = try call.optionalTable(index, "options") else { return result }
        try RecordIO.checkKnownFields(options, ["sort_keys"])
        result.sortKeys = try options.bool("sort_keys") ?? false
        return result
    }

    static func openWriter(_ call: inout LuaCall) throws -> LuaReturn {
        let path = try call.string(1, "path")
        let options = try writerOptions(call, 2)
        registerTypes(call.lua)
        let writer = NDJSONWriter(output: try AtomicOutput(path: path, function: call.name), options: options)
        call.lua.push(object: writer)
        return .results(1)
    }

    /// ndjson.write(path, list [, opts]) → the number of lines written.
    static func writeList(_ call: inout LuaCall) throws -> LuaReturn {
        let lua = call.lua
        let path = try call.string(1, "path")
        try RecordIO.checkList(call, 2, "list")
        let options = try writerOptions(call, 3)
        let writer = NDJSONWriter(output: try AtomicOutput(path: path, function: call.name), options: options)
        return try RecordIO.writeList(lua, to: writer) { item in try writer.write(lua, value: item) }
    }
}

final class NDJSONReader: RecordReader {
    static let luaTypeName = "ndjson.reader"

    let input: ChunkedInput
    /// The number of the next line (1-based).
    var line = 1
    var finished = false
    /// Bytes after `input.start` already searched for a LF.
    var scanned = 0

    init(input: ChunkedInput) { self.input = input }

    /// Pushes the next value and its line number, or nil at the end.
    func next(_ lua: LuaState) throws -> LuaReturn {
        if finished {
            lua.pushNil()
            return .results(1)
        }
        guard input.isOpen else {
            throw LuaError.usage("ndjson.read: the reader of '\(input.path)' was closed before the end of the file")
        }
        guard let (bytes, number) = try nextLine() else {
            lua.pushNil()
            return .results(1)
        }
        // The line goes to the parser whole (from its start, so its offsets
        // count from there): spaces, tabs and the CR of CRLF around the
        // value are JSON whitespace.
        do {
            try JSONParser.decode(lua, bytes, function: "ndjson.read", source: input.path, line: number)
        } catch var error as LuaError {
            error.extra["file"] = .text(input.path)
            error.extra["line"] = .integer(Int64(number))
            throw error
        }
        lua.push(number)
        return .results(2)
    }

    /// The next line that is not blank (blank: only spaces, tabs, CR), as
    /// its bytes (valid until the next call) and its number; nil after the
    /// last one (the file is then closed). The one line rule of ndjson.read
    /// and ndjson.native.parts.
    func nextLine() throws -> (UnsafeRawBufferPointer, Int)? {
        if finished { return nil }
        while true {
            let from = input.start + scanned
            let lineEnd: Int
            let nextStart: Int
            if from < input.end, let hit = memchr(input.buffer + from, 0x0A, input.end - from) {
                lineEnd = hit.assumingMemoryBound(to: UInt8.self) - input.buffer
                nextStart = lineEnd + 1
            } else if !input.eof {
                scanned = input.end - input.start
                try input.fill()
                continue
            } else if input.start == input.end {
                finished = true
                input.close()
                return nil
            } else {
                lineEnd = input.end
                nextStart = input.end
            }
            scanned = 0
            let number = line
            line += 1
            let lineStart = input.start
            input.start = nextStart
            var first = lineStart
            while first < lineEnd && isSpace(input.buffer[first]) { first += 1 }
            if first == lineEnd { continue }
            return (UnsafeRawBufferPointer(start: input.buffer + lineStart, count: lineEnd - lineStart), number)
        }
    }

    @inline(__always)
    func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D }
}

final class NDJSONWriter: RecordWriter {
    static let luaTypeName = "ndjson.writer"

    let output: AtomicOutput
    let options: JSONEncodeOptions
    var rows = 0

    init(output: AtomicOutput, options: JSONEncodeOptions) {
        self.output = output
        self.options = options
    }

    func commit() throws { try output.commitOnce() }

    func write(_ lua: LuaState, value: Int32) throws {
        let function = output.function
        if output.finished {
            throw LuaError.usage("\(function): the writer of '\(output.path)' is closed")
        }
        let item = rows + 1
        if lua.isNoneOrNil(value) {
            throw LuaError.validation(
                "\(function): item \(item) is nil (write json.null for a JSON null)",
                extra: ["file": .text(output.path), "item": .integer(Int64(item))])
        }
        do {
            try JSONWriter.encode(lua, value: value, options: options, function: function, appendingTo: &output.out)
        } catch var error as LuaError {
            let prefix = "\(function): "
            if error.message.hasPrefix(prefix) {
                error.message = "\(function): item \(item): " + error.message.dropFirst(prefix.count)
            }
            error.extra["file"] = .text(output.path)
            error.extra["item"] = .integer(Int64(item))
            throw error
        }
        output.out.appendByte(0x0A)
        rows += 1
        try output.flushIfNeeded()
    }
}
