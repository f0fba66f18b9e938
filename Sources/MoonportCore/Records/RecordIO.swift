import CLua
import CMoonport
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File plumbing shared by `csv` and `ndjson`: their native modules' shape,
/// a chunked reader whose memory does not grow with the file, and an atomic
/// writer (temporary file beside the target, fsync, rename).
/// close(2), callable where a method named `close` hides it.
@inline(__always)
func sysClose(_ fd: Int32) -> Int32 { close(fd) }
func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

enum RecordIO {
    /// The size of one read(2) and of one write(2) batch.
    static let chunk = 64 << 10

    /// write(2) until all `count` bytes of `base` are in `fd` (EINTR is
    /// retried): 0, or the errno of the failure.
    static func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int32 {
        var offset = 0
        while offset < count {
            let n = sysWrite(fd, base + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    /// An I/O failure: kind "validation" with `file` (as json.read/json.write do).
    static func ioError(_ function: String, _ what: String, _ path: String, errno code: Int32) -> LuaError {
        let reason = String(cString: strerror(code))
        return LuaError.validation("\(function): cannot \(what) '\(path)': \(reason)", extra: ["file": .text(path)])
    }

    /// Rejects fields of an options table that are not in `known` (a typo
    /// must not be ignored silently).
    static func checkKnownFields(_ options: LuaOptions, _ known: [String]) throws {
        let lua = options.lua
        lua.ensureStack(3)
        lua.pushNil()
        while lua_next(lua.L, options.index) != 0 {
            lua.pop()
            let key = lua.type(at: -1) == LUA_TSTRING ? lua.toString(-1) : nil
            if key == nil || !known.contains(key!) {
                let shown = key.map { "'\($0)'" } ?? lua.describe(-1)
                lua.pop()
                throw LuaError.validation(
                    "\(options.owner): unknown field \(shown) (known: \(known.joined(separator: ", ")))")
            }
        }
    }

    /// Checks the rows argument: a list (a table with items 1..n, or empty)
    /// or, in the Lua wrappers, an iterator function.
    static func checkList(_ call: LuaCall, _ i: Int32, _ what: String) throws {
        let lua = call.lua
        guard lua.type(at: i) == LUA_TTABLE else {
            throw call.argumentError(i, what, expected: "a list (a table 1..n) or an iterator function")
        }
        if lua.rawLength(i) == 0 {
            lua.ensureStack(3)
            lua.pushNil()
            if lua_next(lua.L, lua.absolute(i)) != 0 {
                lua.pop(2)
                throw LuaError.validation(
                    "\(call.name): argument #\(i) (\(what)) must be a list (a table 1..n) or an iterator function, "
                        + "got a table without item 1 (a single record? wrap it: {record})")
            }
        }
    }
}

extension RecordIO {
    /// The native module of a record format (`csv.native`, `ndjson.native`):
    /// `read` (a streaming iterator), `write` (a whole list at once) and
    /// `writer` (one item per call), named FORMAT.read etc. in messages.
    /// `registerTypes` makes the metatables of its reader and writer.
    static func module(
        _ format: String, registerTypes: @escaping (LuaState) -> Void, read: @escaping LuaFunctionBody,
        write: @escaping LuaFunctionBody, writer: @escaping LuaFunctionBody, extra: [String: LuaFunctionBody] = [:]
    ) -> BuiltinModule {
        BuiltinModule(name: "\(format).native") { call in
            let lua = call.lua
            lua.ensureStack(8)
            registerTypes(lua)
            lua.newTable(recordCount: 3)
            let module = lua.top
            lua.setFunction(module, "read", qualifiedName: "\(format).read", read)
            lua.setFunction(module, "write", qualifiedName: "\(format).write", write)
            lua.setFunction(module, "writer", qualifiedName: "\(format).writer", writer)
            for (name, body) in extra { lua.setFunction(module, name, qualifiedName: "\(format).\(name)", body) }
            return .results(1)
        }
    }

    /// The end of FORMAT.read, once its iterator function is pushed: returns
    /// iterator, reader, nil, reader (the reader as the for loop's closing
    /// value closes the file when the loop ends, also by break or error, as
    /// io.lines does).
    static func iteratorResults<R: RecordReader>(_ lua: LuaState, _ reader: R) -> LuaReturn {
        lua.push(object: reader)
        lua.pushNil()
        lua.pushValue(at: -2)
        return .results(4)
    }

    /// FORMAT.write(path, list, opts) once `writer` is open: each item of
    /// the list (argument 2) is pushed and written by `write(slot)`, then
    /// the file is committed; an error removes the temporary file instead.
    /// Returns the number written.
    static func writeList<W: RecordWriter>(_ lua: LuaState, to writer: W, _ write: (Int32) throws -> Void) throws
        -> LuaReturn
    {
        lua.ensureStack(4)
        let base = lua.top
        do {
            let n = lua.rawLength(2)
            if n > 0 {
                for i in 1...n {
                    lua_rawgeti(lua.L, 2, lua_Integer(i))
                    try write(base + 1)
                    lua.top = base
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

/// What csv.read's and ndjson.read's readers have in common: the file.
protocol RecordReader: LuaObject {
    var input: ChunkedInput { get }
}

extension LuaState {
    /// The metatable of a reader: r:close() and the format's own `methods`,
    /// `__close` (closes the file) and `__tostring` ("csv.reader (PATH)").
    func registerReaderType<R: RecordReader>(_ type: R.Type, methods: [String: LuaFunctionBody] = [:]) {
        var all = methods
        all["close"] = { call in
            try call.object(1, "reader", as: R.self).input.close()
            return .results(0)
        }
        registerObjectType(
            R.self, methods: all,
            metamethods: [
                "__close": { call in
                    call.lua.object(at: 1, as: R.self)?.input.close()
                    return .results(0)
                },
                "__tostring": { call in
                    let path = call.lua.object(at: 1, as: R.self)?.input.path ?? "?"
                    call.lua.push("\(R.luaTypeName) (\(path))")
                    return .results(1)
                },
            ])
    }
}

/// A file read in chunks into one buffer. `start..<end` is the data not yet
/// consumed; `fill` moves it to the front and reads more after it, growing
/// the buffer only when one record does not fit (and shrinking it back).
final class ChunkedInput {
    let path: String
    let function: String
    private(set) var fd: Int32
    private(set) var buffer: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var start = 0
    var end = 0
    private(set) var eof = false
    /// Bytes consumed before `buffer[0]` (for offsets in messages).
    private(set) var consumedBefore = 0

    init(path: String, function: String) throws {
        self.path = path
        self.function = function
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw RecordIO.ioError(function, "open", path, errno: errno) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            _ = sysClose(fd)
            throw RecordIO.ioError(function, "read", path, errno: EISDIR)
        }
        self.fd = fd
        capacity = 2 * RecordIO.chunk
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    var isOpen: Bool { fd >= 0 }

    func close() {
        if fd >= 0 {
            _ = sysClose(fd)
            fd = -1
        }
    }

    /// Keeps `start..<end`, reads more after it. Reads at least as many bytes
    /// as are already pending (so a record that spans many chunks is
    /// re-scanned O(log n) times, not O(n / chunk)). Returns false when
    /// nothing more could be read (end of file; `eof` is then true).
    @discardableResult
    func fill() throws -> Bool {
        if eof || fd < 0 {
            eof = true
            return false
        }
        let pending = end - start
        if start > 0 {
            if pending > 0 { (buffer).update(from: buffer + start, count: pending) }
            consumedBefore += start
            start = 0
            end = pending
        }
        let want = max(RecordIO.chunk, pending)
        if capacity - end < want {
            var newCapacity = capacity * 2
            while newCapacity - end < want { newCapacity *= 2 }
            resize(newCapacity)
        } else if capacity > 8 * RecordIO.chunk && pending + want <= 2 * RecordIO.chunk {
            // A long record has gone: give the memory back.
            resize(2 * RecordIO.chunk)
        }
        var got = 0
        while got < want && end < capacity {
            let n = read(fd, buffer + end, capacity - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw RecordIO.ioError(function, "read", path, errno: errno)
            }
            if n == 0 {
                eof = true
                break
            }
            end += n
            got += n
        }
        return got > 0
    }

    private func resize(_ newCapacity: Int) {
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: buffer, count: end)
        buffer.deallocate()
        buffer = bigger
        capacity = newCapacity
    }

    /// Skips a UTF-8 byte order mark at the very start of the file.
    func skipByteOrderMark() throws {
        while end - start < 3 && !eof { try fill() }
        if end - start >= 3 && buffer[start] == 0xEF && buffer[start + 1] == 0xBB && buffer[start + 2] == 0xBF {
            start += 3
        }
    }
}

/// Temporary files of atomic writes: `PATH.tmp-PID-RANDOM`.
enum AtomicTemp {
    /// A fresh temporary name beside `path`, after removing the ones a dead
    /// process left there (a run killed mid-write): a rerun that writes the
    /// same file leaves nothing behind. Another live process's are kept.
    static func name(for path: String) -> String {
        removeStale(for: path)
        return "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func removeStale(for path: String) {
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let folder = parent.isEmpty ? "/" : parent
        let prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".tmp-"
        guard let dir = opendir(folder) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            // Read the name in place: copying `d_name` (a fixed 256-byte array)
            // out of readdir's buffer can read past its end for the last entry.
            let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let file = String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
            guard file.hasPrefix(prefix) else { continue }
            let rest = file.dropFirst(prefix.count).split(separator: "-")
            guard rest.count == 2, let pid = Int32(rest[0]), UInt32(rest[1]) != nil, pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH {
                unlink(folder == "/" ? "/" + file : folder + "/" + file)
            }
        }
    }
}

/// A file written atomically: bytes go to `PATH.tmp-PID-RANDOM` beside the
/// target (same folder, so the rename cannot cross file systems); `commit`
/// flushes, fsyncs and renames it over the target; anything else (an
/// error, `abort`, the writer being collected) removes it, so no half file
/// is ever left under the target's name.
final class AtomicOutput {
    let path: String
    let temp: String
    let function: String
    private var fd: Int32
    var out = JSONWriter(capacity: 2 * RecordIO.chunk)
    private(set) var committed = false
    private(set) var finished = false

    init(path: String, function: String) throws {
        self.path = path
        self.function = function
        temp = AtomicTemp.name(for: path)
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            let code = errno
            finished = true  // deinit (which runs: self is complete) frees the buffer, removes nothing
            throw RecordIO.ioError(function, "create a temporary file for", path, errno: code)
        }
    }

    deinit {
        abort()
        out.deallocate()
    }

    /// Writes the buffer out once it holds a chunk.
    @inline(__always)
    func flushIfNeeded() throws {
        if out.count >= RecordIO.chunk { try flush() }
    }

    func flush() throws {
        try writeAll(UnsafeRawPointer(out.bytes), out.count)
        out.count = 0
    }

    /// write(2) until all `count` bytes are in the temporary file; a failure
    /// removes it and says which file and why.
    private func writeAll(_ base: UnsafeRawPointer, _ count: Int) throws {
        guard fd >= 0 else { throw LuaError.usage("\(function): the writer of '\(path)' is closed") }
        let code = RecordIO.writeAll(fd, base, count)
        if code != 0 {
            abort()
            throw RecordIO.ioError(function, "write", temp, errno: code)
        }
    }

    /// Appends raw bytes (a downloaded chunk), going straight to the file
    /// once the buffer holds a chunk.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        out.append(base.assumingMemoryBound(to: UInt8.self), bytes.count)
        try flushIfNeeded()
    }

    /// Writes these bytes as they are (no copy into the buffer; anything
    /// buffered goes first): a batch of a download's received bytes.
    func write(unbuffered bytes: UnsafeRawBufferPointer) throws {
        try flush()
        guard let base = bytes.baseAddress else { return }
        try writeAll(base, bytes.count)
    }

    /// Empties the temporary file (a download that has to start over).
    func restart() throws {
        out.count = 0
        guard fd >= 0, ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            let code = errno
            abort()
            throw RecordIO.ioError(function, "truncate", temp, errno: code)
        }
    }

    /// Flush, fsync, close, rename over `path`, fsync the folder.
    func commit() throws {
        try flush()
        if fsync(fd) != 0 {
            let code = errno
            abort()
            throw RecordIO.ioError(function, "sync", temp, errno: code)
        }
        let closed = sysClose(fd)
        fd = -1
        if closed != 0 {
            let code = errno
            abort()
            throw RecordIO.ioError(function, "close", temp, errno: code)
        }
        if rename(temp, path) != 0 {
            let code = errno
            abort()
            throw RecordIO.ioError(function, "rename the temporary file to", path, errno: code)
        }
        committed = true
        finished = true
        // Make the rename itself durable (best effort).
        let folder = MoonportHost.folder(of: path)
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            _ = sysClose(dir)
        }
    }

    /// `commit` for a writer's close: nothing when already committed, a
    /// usage error when aborted.
    func commitOnce() throws {
        if finished {
            if committed { return }
            throw LuaError.usage("\(function): the writer of '\(path)' was aborted")
        }
        try commit()
    }

    /// Closes and removes the temporary file (nothing when already done).
    func abort() {
        if fd >= 0 {
            _ = sysClose(fd)
            fd = -1
        }
        if !finished {
            unlink(temp)
            finished = true
        }
    }
}

/// What csv.writer and ndjson.writer have in common: an atomic output, a
/// count of what was written, and a commit.
protocol RecordWriter: LuaObject {
    var output: AtomicOutput { get }
    var rows: Int { get }
    func commit() throws
}

extension LuaState {
    /// The metatable of a writer: w:write(x) (the format's own `write`),
    /// w:close() -> count (commits), w:abort(), and `__close` so that
    /// `local w <close> = ...` commits when the block ends normally and
    /// removes the temporary file when it ends by an error.
    func registerWriterType<W: RecordWriter>(_ type: W.Type, write: @escaping (inout LuaCall, W) throws -> Void) {
        registerObjectType(
            W.self,
            methods: [
                "write": { call in
                    let writer = try call.object(1, "writer", as: W.self)
                    try write(&call, writer)
                    return .results(0)
                },
                "close": { call in
                    let writer = try call.object(1, "writer", as: W.self)
                    try writer.commit()
                    call.lua.push(writer.rows)
                    return .results(1)
                },
                "abort": { call in
                    try call.object(1, "writer", as: W.self).output.abort()
                    return .results(0)
                },
            ],
            metamethods: [
                "__close": { call in
                    guard let writer = call.lua.object(at: 1, as: W.self) else { return .results(0) }
                    if call.lua.isNoneOrNil(2) {
                        if !writer.output.finished { try writer.commit() }
                    } else {
                        writer.output.abort()
                    }
                    return .results(0)
                },
                "__tostring": { call in
                    let path = call.lua.object(at: 1, as: W.self)?.output.path ?? "?"
                    call.lua.push("\(W.luaTypeName) (\(path))")
                    return .results(1)
                },
            ])
    }
}

/// `moonport.file_writer(path)`: a file of text written atomically, by
/// pieces, through the same `AtomicOutput` as csv.writer and ndjson.writer
/// (so a rerun removes the temporary file a killed run left). w:write(text),
/// w:close() -> the bytes written, w:abort(), and `<close>`.
final class FileWriter: RecordWriter {
    static let luaTypeName = "moonport.file_writer"

    let output: AtomicOutput
    /// The bytes written (what w:close() returns).
    var rows = 0

    init(output: AtomicOutput) { self.output = output }

    func commit() throws { try output.commitOnce() }

    static func open(_ call: inout LuaCall) throws -> LuaReturn {
        let path = try call.string(1, "path")
        call.lua.registerWriterType(FileWriter.self) { call, writer in
            if writer.output.finished {
                throw LuaError.usage("\(writer.output.function): the writer of '\(writer.output.path)' is closed")
            }
            guard let n = try call.lua.withBytes(at: 2, { bytes -> Int in
                try writer.output.write(bytes)
                return bytes.count
            }) else { throw call.argumentError(2, "text", expected: "a string") }
            writer.rows += n
        }
        call.lua.push(object: FileWriter(output: try AtomicOutput(path: path, function: call.name)))
        return .results(1)
    }
}
