import AsyncHTTPClient
import LuaBridge
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body read from disk as it is sent, never held in memory: a
/// file as the whole body (`body_file`), or `multipart/form-data` whose file
/// parts stream from disk (`multipart`). Each attempt (a retry, a redirect)
/// opens the files again; a file whose size changed since the request was
/// checked fails the attempt rather than sending something else.
public struct Upload: Sendable {
    public enum Part: Sendable {
        case field(name: String, value: [UInt8], contentType: String?)
        case file(name: String, path: String, filename: String, contentType: String)

        var name: String {
            switch self {
            case .field(let name, _, _), .file(let name, _, _, _): return name
            }
        }
    }

    enum Shape: Sendable {
        case file(path: String, size: Int64)
        case multipart(boundary: String, parts: [Part], sizes: [Int64])
    }

    let shape: Shape

    /// A file as the whole body. Checked now: it must be a readable regular file.
    public static func file(_ path: String, field: String = "body_file") throws -> Upload {
        Upload(shape: .file(path: path, size: try fileSize(path, field: field)))
    }

    /// `multipart/form-data` with these parts, in order.
    public static func multipart(_ parts: [Part]) throws -> Upload {
        var sizes: [Int64] = []
        for (i, part) in parts.enumerated() {
            if case .file(let name, let path, _, _) = part {
                sizes.append(try fileSize(path, field: "multipart[\(i + 1)] ('\(name)')"))
            }
        }
        var rng = SystemRandomNumberGenerator()
        // 32 hex digits, always the same length (so is the body for the same parts).
        let boundary = "moonport-" + (0..<2).map { _ in
            let hex = String(rng.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        return Upload(shape: .multipart(boundary: boundary, parts: parts, sizes: sizes))
    }

    /// The Content-Type this body needs (nil: the caller's own).
    public var contentType: String? {
        if case .multipart(let boundary, _, _) = shape { return "multipart/form-data; boundary=\(boundary)" }
        return nil
    }

    /// What a trace or a log shows instead of the bytes.
    public var summary: String {
        switch shape {
        case .file(let path, let size):
            return "<file \(path), \(size) bytes>"
        case .multipart(_, let parts, let sizes):
            var files = sizes.makeIterator()
            let described = parts.map { part -> String in
                switch part {
                case .field(let name, let value, _):
                    return Redaction.isSecretName(name) ? "\(name)=\(Redaction.mask)" : "\(name)=\(value.count) bytes"
                case .file(let name, let path, _, _):
                    return "\(name)=<file \(path), \(files.next() ?? 0) bytes>"
                }
            }
            return "<multipart: " + described.joined(separator: "; ") + ">"
        }
    }

    /// Bytes on the wire.
    public var length: Int64 {
        switch shape {
        case .file(_, let size):
            return size
        case .multipart(let boundary, let parts, let sizes):
            var total: Int64 = 0
            var files = sizes.makeIterator()
            for part in parts {
                total += Int64(Self.partHead(part, boundary: boundary).count)
                switch part {
                case .field(_, let value, _): total += Int64(value.count)
                case .file: total += files.next() ?? 0
                }
                total += 2  // CRLF after the content
            }
            return total + Int64(Self.closing(boundary).count)
        }
    }

    /// A fresh body for one attempt.
    func requestBody() -> HTTPClientRequest.Body {
        .stream(UploadStream(upload: self), length: .known(length))
    }

    // MARK: - The wire format (RFC 7578)

    static func partHead(_ part: Part, boundary: String) -> [UInt8] {
        var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(quoted(part.name))\""
        switch part {
        case .field(_, _, let contentType):
            if let contentType { head += "\r\nContent-Type: \(contentType)" }
        case .file(_, _, let filename, let contentType):
            head += "; filename=\"\(quoted(filename))\"\r\nContent-Type: \(contentType)"
        }
        return Array((head + "\r\n\r\n").utf8)
    }

    static func closing(_ boundary: String) -> [UInt8] { Array("--\(boundary)--\r\n".utf8) }

    /// A name inside a quoted-string: quotes and backslashes escaped, line breaks dropped.
    static func quoted(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\"", "\\": out += "\\" + String(c)
            case "\r", "\n": continue
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func fileSize(_ path: String, field: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw LuaError.validation("http.request: \(field): cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw LuaError.validation("http.request: \(field): '\(path)' is not a regular file")
        }
        guard access(path, R_OK) == 0 else {
            throw LuaError.validation("http.request: \(field): cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        return Int64(st.st_size)
    }
}

/// The body of one attempt, produced piece by piece: multipart heads and
/// fields from memory, files in 256 KiB reads.
struct UploadStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let upload: Upload

    enum Piece {
        case bytes([UInt8])
        case file(path: String, size: Int64)
    }

    var pieces: [Piece] {
        switch upload.shape {
        case .file(let path, let size):
            return [.file(path: path, size: size)]
        case .multipart(let boundary, let parts, let sizes):
            var out: [Piece] = []
            var files = sizes.makeIterator()
            for part in parts {
                var head = Upload.partHead(part, boundary: boundary)
                switch part {
                case .field(_, let value, _):
                    head += value
                    head += Array("\r\n".utf8)
                    out.append(.bytes(head))
                case .file(_, let path, _, _):
                    out.append(.bytes(head))
                    out.append(.file(path: path, size: files.next() ?? 0))
                    out.append(.bytes(Array("\r\n".utf8)))
                }
            }
            out.append(.bytes(Upload.closing(boundary)))
            return out
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(pieces: pieces) }

    final class Iterator: AsyncIteratorProtocol {
        static let chunk = 256 * 1024
        var pieces: [Piece]
        var index = 0
        var fd: Int32 = -1
        var left: Int64 = 0
        var currentPath = ""

        init(pieces: [Piece]) { self.pieces = pieces }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            while true {
                if fd >= 0 {
                    if left == 0 {
                        close(fd)
                        fd = -1
                        continue
                    }
                    return try readChunk()
                }
                guard index < pieces.count else { return nil }
                let piece = pieces[index]
                index += 1
                switch piece {
                case .bytes(let b):
                    return ByteBuffer(bytes: b)
                case .file(let path, let size):
                    fd = open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else {
                        throw LuaError.validation("http.request: cannot open '\(path)' to send it: \(String(cString: strerror(errno)))")
                    }
                    currentPath = path
                    left = size
                }
            }
        }

        private func readChunk() throws -> ByteBuffer {
            let want = Int(Swift.min(Int64(Self.chunk), left))
            var buffer = ByteBuffer()
            buffer.reserveCapacity(want)
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                var r: Int
                repeat { r = read(fd, raw.baseAddress, want) } while r < 0 && errno == EINTR
                if r < 0 { failure = errno }
                return Swift.max(r, 0)
            }
            if failure != 0 {
                throw LuaError(.network, "http.request: reading '\(currentPath)' to send it failed: \(String(cString: strerror(failure)))")
            }
            guard n > 0 else {
                throw LuaError.validation("http.request: '\(currentPath)' got shorter while it was being sent; nothing more was sent")
            }
            left -= Int64(n)
            if left == 0 {
                // A file that grew is not what was measured either.
                var st = stat()
                if fstat(fd, &st) == 0, Int64(st.st_size) != Int64(lseek(fd, 0, SEEK_CUR)) {
                    throw LuaError.validation("http.request: '\(currentPath)' changed size while it was being sent")
                }
            }
            return buffer
        }
    }
}
