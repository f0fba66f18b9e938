import Foundation

/// What never reaches a log line, a trace or an error message.
public enum Redaction {
    public static let mask = "***"

    /// Names of headers, query parameters and JSON fields that hold secrets,
    /// judged word by word (`X-Api-Key`, `apiKey`, `aws_secret_access_key`,
    /// `partnerkey` are secrets; `sortKey`, `Idempotency-Key`, `keyword`,
    /// `author`, `sessionId` are not):
    /// - the usual auth headers (Authorization, Cookie, ...);
    /// - a word that is, or ends in, token, secret, password, passwd, pwd,
    ///   signature, credential(s), cookie; or the word `auth` on its own;
    /// - `key` on its own, or after api, access, secret, private, partner,
    ///   client, auth, signing, session, license, encryption, master
    ///   (also written as one word: apikey, partnerkey, accesskey, ...).
    public static func isSecretName(_ name: String) -> Bool {
        let n = name.lowercased()
        if ["authorization", "proxy-authorization", "cookie", "set-cookie"].contains(n) { return true }
        let words = Self.words(name)
        if words == ["key"] || words == ["auth"] { return true }
        for (i, word) in words.enumerated() {
            if secretWords.contains(where: { word.hasSuffix($0) }) || word == "auth" { return true }
            if word == "key" {
                if i == 0 || keyOwners.contains(words[i - 1]) { return true }
            } else if word.hasSuffix("key"), keyOwners.contains(String(word.dropLast(3))) {
                return true
            }
        }
        return false
    }

    private static let secretWords = ["token", "secret", "password", "passwd", "pwd", "signature", "credential",
        "credentials", "cookie"]
    private static let keyOwners: Set<String> = ["api", "access", "secret", "private", "partner", "client", "auth",
        "signing", "session", "license", "encryption", "master"]

    /// `X-Api-Key` -> [x, api, key]; `apiKey` -> [api, key]; `aws_secret_access_key` -> [aws, secret, access, key].
    static func words(_ name: String) -> [String] {
        var out: [String] = []
        var current = ""
        var previousLower = false
        for c in name.unicodeScalars {
            let isUpper = c.properties.isUppercase
            let isAlnum = c.properties.isAlphabetic || ("0"..."9").contains(c)
            if !isAlnum || (isUpper && previousLower) {
                if !current.isEmpty { out.append(current) }
                current = ""
            }
            if isAlnum { current.unicodeScalars.append(c) }
            previousLower = isAlnum && !isUpper
        }
        if !current.isEmpty { out.append(current) }
        return out.map { $0.lowercased() }
    }

    /// The URL with secret query values masked and any user:password removed.
    public static func url(_ text: String) -> String {
        guard var parts = URLComponents(string: text) else { return text }
        if parts.user != nil || parts.password != nil {
            parts.user = nil
            parts.password = nil
        }
        if let items = parts.percentEncodedQueryItems, items.contains(where: { isSecretName($0.name) }) {
            parts.percentEncodedQueryItems = items.map { item in
                isSecretName(item.name) ? URLQueryItem(name: item.name, value: mask) : item
            }
        }
        return parts.string ?? text
    }

    /// Header value as it may be shown.
    public static func header(name: String, value: String, secretHeaders: Set<String> = []) -> String {
        isSecretName(name) || secretHeaders.contains(name.lowercased()) ? mask : value
    }

    /// The text with every secret value the process has seen (auth values,
    /// secret headers and query values sent) replaced by `***`. Applied to
    /// every log line, `-v` line, trace line and http error message.
    public static func scrub(_ text: String) -> String {
        SecretRegistry.shared.scrub(text, mask: mask)
    }

    /// Registers the values of the query parameters named like secrets
    /// (raw and percent-decoded), so an echo of them is masked too.
    static func registerQuerySecrets(of url: String) {
        guard url.utf8.contains(UInt8(ascii: "?")), let items = URLComponents(string: url)?.percentEncodedQueryItems else { return }
        for item in items where isSecretName(item.name) {
            guard let v = item.value else { continue }
            SecretRegistry.shared.register(v)
            if let decoded = v.removingPercentEncoding { SecretRegistry.shared.register(decoded) }
        }
    }

    /// Registers the string values of JSON or form bodies under names
    /// like secrets ({"password": "..."}), at any depth.
    static func registerBodySecrets(_ body: [UInt8], contentType: String?) {
        guard !body.isEmpty, body.count <= 1 << 20, mayNameASecret(body) else { return }
        let ctype = contentType?.lowercased() ?? ""
        if ctype.contains("json") || body.first == UInt8(ascii: "{") || body.first == UInt8(ascii: "[") {
            guard let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return }
            func walk(_ v: Any, secret: Bool) {
                if let d = v as? [String: Any] {
                    for (k, x) in d { walk(x, secret: secret || isSecretName(k)) }
                } else if let a = v as? [Any] {
                    for x in a { walk(x, secret: secret) }
                } else if secret, let s = v as? String {
                    SecretRegistry.shared.register(s)
                }
            }
            walk(value, secret: false)
        } else if ctype.contains("x-www-form-urlencoded") {
            var c = URLComponents()
            c.percentEncodedQuery = String(decoding: body, as: UTF8.self)
            for item in c.percentEncodedQueryItems ?? [] where isSecretName(item.name) {
                guard let v = item.value else { continue }
                SecretRegistry.shared.register(v)
                if let decoded = v.replacingOccurrences(of: "+", with: " ").removingPercentEncoding {
                    SecretRegistry.shared.register(decoded)
                }
            }
        }
    }

    /// Every name `isSecretName` accepts holds one of these (lowercased).
    private static let secretStems: [[UInt8]] = ["token", "secret", "passw", "pwd", "signature", "credential",
        "cookie", "auth", "key"].map { Array($0.utf8) }
    /// The (lowercased) first bytes of the stems: the scan tries the stems only at these.
    private static let stemStarts: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for stem in secretStems { t[Int(stem[0])] = true }
        return t
    }()

    /// False when no name in `body` can be a secret's: the body is ASCII,
    /// none of the stems appears (any case) and there is no `\u` escape that
    /// could spell one. Parsing a large upload only to find nothing is skipped.
    static func mayNameASecret(_ body: [UInt8]) -> Bool {
        let starts = stemStarts
        return body.withUnsafeBufferPointer { b in
            let n = b.count
            var i = 0
            while i < n {
                let c = b[i] | 0x20  // ASCII lowercase (also maps some punctuation, harmlessly)
                if b[i] == UInt8(ascii: "\\"), i + 1 < n, b[i + 1] == UInt8(ascii: "u") { return true }
                // Beyond ASCII, full lowercasing can make a stem (KELVIN SIGN -> k).
                if b[i] >= 0x80 { return true }
                if !starts[Int(c)] {
                    i += 1
                    continue
                }
                for stem in secretStems where stem[0] == c && i + stem.count <= n {
                    var k = 1
                    while k < stem.count && (b[i + k] | 0x20) == stem[k] { k += 1 }
                    if k == stem.count { return true }
                }
                i += 1
            }
            return false
        }
    }

    /// A JSON value with the values under names like secrets replaced by
    /// `***` at any depth, and every string scrubbed of registered secrets.
    static func jsonValue(_ v: Any) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d { out[scrub(k)] = isSecretName(k) && !(x is NSNull) ? mask : jsonValue(x) }
            return out
        }
        if let a = v as? [Any] { return a.map(jsonValue) }
        if let s = v as? String { return scrub(s) }
        return v
    }
}

/// The parts of a URL the transport needs.
struct URLParts {
    let scheme: String
    let host: String
    let port: Int?

    init?(_ text: String) {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(),
            !host.isEmpty
        else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = c.port
    }

    /// The origin of `text` (see `origin`), or nil when it is not a URL
    /// with a host. The common shape (`http[s]://name[:port]` then `/`, `?`,
    /// `#` or the end, the name of letters, digits, dots and hyphens) is read
    /// here without Foundation's parser (it ran three times per request);
    /// anything else goes through `URLComponents`, as before.
    static func origin(of text: String) -> String? {
        var text = text
        return text.withUTF8 { b -> String? in
            var i = 0
            let n = b.count
            func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c | 0x20 : c }
            let scheme: String
            if n >= 7, lower(b[0]) == 0x68, lower(b[1]) == 0x74, lower(b[2]) == 0x74, lower(b[3]) == 0x70 {
                if b[4] == UInt8(ascii: ":") { scheme = "http"; i = 4 }
                else if lower(b[4]) == 0x73, b[5] == UInt8(ascii: ":") { scheme = "https"; i = 5 }
                else { return nil }
            } else {
                return nil
            }
            guard i + 2 < n, b[i + 1] == UInt8(ascii: "/"), b[i + 2] == UInt8(ascii: "/") else { return nil }
            i += 3
            var host: [UInt8] = []
            while i < n {
                let c = b[i]
                let ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 0x2E || c == 0x2D
                guard ok else { break }
                host.append(lower(c))
                i += 1
            }
            guard !host.isEmpty else { return nil }
            var port = scheme == "https" ? 443 : 80
            if i < n, b[i] == UInt8(ascii: ":") {
                i += 1
                var digits = 0, value = 0
                while i < n, b[i] >= 48, b[i] <= 57, digits < 5 {
                    value = value * 10 + Int(b[i] - 48)
                    digits += 1
                    i += 1
                }
                guard digits > 0, value <= 65535 else { return nil }
                port = value
            }
            guard i == n || b[i] == UInt8(ascii: "/") || b[i] == UInt8(ascii: "?") || b[i] == UInt8(ascii: "#") else {
                return nil
            }
            return scheme + "://" + String(decoding: host, as: UTF8.self) + ":" + String(port)
        } ?? URLParts(text)?.origin
    }

    /// scheme://host:port, with the default port made explicit.
    var origin: String {
        let p = port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(p)"
    }

    /// A Location header resolved against the URL that sent it.
    static func resolve(_ location: String, against base: String) -> String? {
        guard let baseURL = URL(string: base), let resolved = URL(string: location, relativeTo: baseURL) else {
            return nil
        }
        let s = resolved.absoluteString
        return URLParts(s) == nil ? nil : s
    }
}
