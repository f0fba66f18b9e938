import Foundation

/// What never reaches a log line, a trace or an error message.
public enum Redaction {
    public static let mask = "***"

    /// Names of headers, query parameters and JSON fields that hold secrets:
    /// anything named like a key, token, secret, password, signature or
    /// credential, and the usual auth headers.
    public static func isSecretName(_ name: String) -> Bool {
        let n = name.lowercased()
        if ["authorization", "proxy-authorization", "cookie", "set-cookie"].contains(n) { return true }
        for word in ["key", "token", "secret", "password", "passwd", "signature", "credential", "auth", "session"]
        where n.contains(word) {
            return true
        }
        return false
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
