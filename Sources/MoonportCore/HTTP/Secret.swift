import Synchronization

/// A credential (API key, token, password). Printing, interpolating,
/// dumping or mirroring it shows `Secret(***)`; the value itself comes out
/// only through `reveal()`, which the transport calls when it writes the
/// request's headers.
///
/// Creating a Secret registers its value with `SecretRegistry`, so the value
/// is masked wherever it turns up later in a log line, a trace or an error
/// message (a server that echoes the token in an error body, for instance).
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) {
        self.value = value
        SecretRegistry.shared.register(value)
    }

    /// The raw value. Only for building request headers: never log it,
    /// never put it in an error message.
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "Secret(***)" }
    public var debugDescription: String { "Secret(***)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Every secret value this process has seen (auth values, secret header
/// values the transport sent, secret query parameters): `Redaction.scrub`
/// replaces them with `***` in any text. Values shorter than `minimumLength`
/// are not kept (masking every "abc" in every log line would do more harm
/// than good; such values are not real credentials).
public final class SecretRegistry: Sendable {
    public static let shared = SecretRegistry()
    public static let minimumLength = 4
    /// A bound on the work `scrub` does per line.
    static let capacity = 4096

    private struct State {
        var values: Set<String> = []
        /// Longest first, so that "Bearer abc..." is masked whole before "abc..." is.
        var ordered: [[UInt8]] = []
    }

    private let state = Mutex(State())

    init() {}

    public func register(_ value: String) {
        guard value.utf8.count >= Self.minimumLength else { return }
        // A value made only of spaces or of one repeated character is no credential.
        guard let first = value.first, value.contains(where: { $0 != first }) else { return }
        state.withLock { s in
            guard !s.values.contains(value), s.values.count < Self.capacity else { return }
            s.values.insert(value)
            let bytes = Array(value.utf8)
            let at = s.ordered.firstIndex { $0.count < bytes.count } ?? s.ordered.count
            s.ordered.insert(bytes, at: at)
        }
    }

    /// Registers what a header value carries: the whole value, and the
    /// credential after an auth scheme ("Bearer T" → also "T"; "Basic B64"
    /// → also B64, the decoded "user:password" and its password).
    public func registerHeaderValue(_ value: String) {
        register(value)
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return }
        let scheme = parts[0].lowercased()
        let credential = String(parts[1]).trimmingSpaces()
        register(credential)
        if scheme == "basic", let decoded = Base64.decode(credential), let text = String(validating: decoded, as: UTF8.self) {
            register(text)
            if let colon = text.firstIndex(of: ":") {
                register(String(text[..<colon]))
                register(String(text[text.index(after: colon)...]))
            }
        }
    }

    public var isEmpty: Bool { state.withLock { $0.values.isEmpty } }

    /// Forgets every value (tests).
    public func removeAll() { state.withLock { $0 = State() } }

    func contains(_ value: String) -> Bool { state.withLock { $0.values.contains(value) } }

    /// The text with every registered value replaced by `mask`.
    func scrub(_ text: String, mask: String) -> String {
        if text.utf8.count < Self.minimumLength { return text }
        guard let out = scrub(bytes: Array(text.utf8), mask: mask) else { return text }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes with every registered value replaced by `mask`; nil when
    /// nothing was found (the caller keeps its original).
    func scrub(bytes input: [UInt8], mask: String) -> [UInt8]? {
        let secrets = state.withLock { $0.ordered }
        if secrets.isEmpty || input.count < Self.minimumLength { return nil }
        var bytes = input
        var changed = false
        let maskBytes = Array(mask.utf8)
        for secret in secrets where secret.count <= bytes.count {
            guard let firstHit = Self.find(secret, in: bytes, from: 0) else { continue }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var i = 0
            var hit: Int? = firstHit
            while let h = hit {
                out.append(contentsOf: bytes[i..<h])
                out.append(contentsOf: maskBytes)
                i = h + secret.count
                hit = Self.find(secret, in: bytes, from: i)
            }
            out.append(contentsOf: bytes[i...])
            bytes = out
            changed = true
        }
        return changed ? bytes : nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        let n = needle.count
        guard n > 0, haystack.count - start >= n else { return nil }
        let first = needle[0]
        var i = start
        let last = haystack.count - n
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { nd in
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n && h[i + j] == nd[j] { j += 1 }
                        if j == n { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Standard base64 (RFC 4648), without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "=") { break }
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(acc >> UInt32(bits) & 0xFF))
            }
        }
        return out
    }
}
