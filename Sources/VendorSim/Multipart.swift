import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Just enough multipart/form-data to read an upload (Clari's bulk `FileData`).
enum Multipart {
    struct Part {
        let name: String?
        let filename: String?
        let contentType: String?
        let body: [UInt8]
    }

    /// The boundary parameter of a `multipart/form-data` Content-Type.
    static func boundary(_ contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for p in pieces.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].lowercased() == "boundary" else { continue }
            var b = String(kv[1])
            if b.hasPrefix("\"") && b.hasSuffix("\"") && b.count >= 2 { b = String(b.dropFirst().dropLast()) }
            return b.isEmpty ? nil : b
        }
        return nil
    }

    static func parts(_ body: [UInt8], boundary: String) -> [Part] {
        let delimiter = Array(("--" + boundary).utf8)
        var out: [Part] = []
        guard var at = find(delimiter, in: body, from: 0) else { return [] }
        while true {
            var start = at + delimiter.count
            // "--" after the delimiter ends the body.
            if start + 1 < body.count && body[start] == 45 && body[start + 1] == 45 { break }
            if start + 1 < body.count && body[start] == 13 && body[start + 1] == 10 { start += 2 }
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: start) else { break }
            let headerText = String(decoding: body[start..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let next = find([13, 10] + delimiter, in: body, from: contentStart) else { break }
            var name: String?, filename: String?, type: String?
            for line in headerText.split(separator: "\r\n") {
                let kv = line.split(separator: ":", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let key = kv[0].lowercased().trimmingCharacters(in: .whitespaces)
                let value = kv[1].trimmingCharacters(in: .whitespaces)
                if key == "content-type" { type = value }
                if key == "content-disposition" {
                    name = parameter("name", in: value)
                    filename = parameter("filename", in: value)
                }
            }
            out.append(Part(name: name, filename: filename, contentType: type, body: Array(body[contentStart..<next])))
            at = next + 2
        }
        return out
    }

    private static func parameter(_ key: String, in header: String) -> String? {
        for p in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let kv = p.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].lowercased() == key else { continue }
            var v = String(kv[1])
            if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }

    /// The offset of `needle` in `haystack` at or after `from` (memmem).
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard from < haystack.count, !needle.isEmpty else { return nil }
        return haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                let base = h.baseAddress!
                let last = h.count - n.count
                var i = from
                while i <= last {
                    guard let p = memchr(base + i, Int32(n[0]), last - i + 1) else { return nil }
                    let j = base.distance(to: UnsafeRawPointer(p))
                    if memcmp(base + j, n.baseAddress!, n.count) == 0 { return j }
                    i = j + 1
                }
                return nil
            }
        }
    }
}
