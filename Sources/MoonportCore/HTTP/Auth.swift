/// How a request proves who sends it: a list of headers whose values are
/// `Secret`s. The pieces below cover the five vendors of vendors.md and
/// compose with `+` (Clari ingestion = `apikey` + `partnerkey`):
///
///     .header("apikey", key)                         // Clari
///     .header("apikey", key) + .header("partnerkey", p)  // Clari ingestion
///     .keyAndSecret(keyHeader: "X-Api-Key", key: k, secretHeader: "X-Api-Secret", secret: s)  // Claravine
///     .bearer(token, extra: [("gtmhub-accountId", account)])  // Quantive
///     .basic(user: apiKey, password: Secret(""))     // Cordial
///     .authorization(token)                          // mediarithmics: the raw token
///
/// Put in `HTTPRequestSpec.auth`, the headers are written by the transport
/// when it builds each attempt (they replace plain headers of the same
/// name), are dropped on a redirect to another origin, show as `***` in
/// `-v` and `--trace`, and their values are masked in any log line or error.
public struct Auth: Sendable, CustomStringConvertible {
    public struct Header: Sendable {
        public let name: String
        public let value: Secret
        public init(name: String, value: Secret) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var headers: [Header]

    public init(headers: [Header]) { self.headers = headers }

    /// A named header holding the credential (`apikey: TOKEN`, `X-Api-Key: KEY`).
    public static func header(_ name: String, _ value: Secret) -> Auth {
        Auth(headers: [Header(name: name, value: value)])
    }

    /// `Authorization: Bearer TOKEN`, plus headers that go with it (an account id).
    public static func bearer(_ token: Secret, extra: [(name: String, value: Secret)] = []) -> Auth {
        Auth(headers: [Header(name: "Authorization", value: Secret("Bearer " + token.reveal()))]
            + extra.map { Header(name: $0.name, value: $0.value) })
    }

    /// HTTP Basic: `Authorization: Basic base64(user:password)`.
    public static func basic(user: Secret, password: Secret) -> Auth {
        let pair = user.reveal() + ":" + password.reveal()
        return Auth(headers: [Header(name: "Authorization", value: Secret("Basic " + Base64.encode(Array(pair.utf8))))])
    }

    /// `Authorization: TOKEN`, the raw value with no scheme.
    public static func authorization(_ token: Secret) -> Auth {
        Auth(headers: [Header(name: "Authorization", value: token)])
    }

    /// A key and a secret, each in its own header.
    public static func keyAndSecret(keyHeader: String, key: Secret, secretHeader: String, secret: Secret) -> Auth {
        Auth(headers: [Header(name: keyHeader, value: key), Header(name: secretHeader, value: secret)])
    }

    public static func + (a: Auth, b: Auth) -> Auth { Auth(headers: a.headers + b.headers) }

    /// Lower-case header names: they join `HTTPRequestSpec.secretHeaders`.
    public var headerNames: Set<String> { Set(headers.map { $0.name.lowercased() }) }

    /// Makes sure every value is known to the registry (a value is
    /// registered when its Secret is made; this also covers the derived
    /// forms: the token after "Bearer ", the decoded Basic pair).
    func registerValues() {
        for h in headers { SecretRegistry.shared.registerHeaderValue(h.value.reveal()) }
    }

    public var description: String {
        "Auth(" + headers.map { "\($0.name): ***" }.joined(separator: ", ") + ")"
    }
}

extension HTTPRequestSpec {
    /// Adds auth: its headers are written at send time, marked secret.
    public mutating func authorize(_ auth: Auth) {
        self.auth = self.auth.map { $0 + auth } ?? auth
        secretHeaders.formUnion(auth.headerNames)
    }
}
