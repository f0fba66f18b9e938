import Crypto
import Foundation

/// AWS Signature Version 4, header form, for reading files back from S3
/// (Cordial delivers exports to the customer's bucket). The request is signed
/// once, when it is built: `host`, `x-amz-content-sha256` and `x-amz-date`
/// are signed; the `Authorization` header is a secret like any other auth.
public struct AWSSigV4: Sendable {
    public var accessKey: Secret
    public var secretKey: Secret
    public var region: String
    public var service: String
    public var sessionToken: Secret?

    public init(accessKey: Secret, secretKey: Secret, region: String, service: String = "s3", sessionToken: Secret? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
        self.sessionToken = sessionToken
    }

    /// The headers to add: x-amz-date, x-amz-content-sha256 (and
    /// x-amz-security-token) in `plain`, and `Authorization` as `auth`.
    public func sign(method: String, url: String, body: [UInt8]?, now: Date = Date())
        -> (plain: [(name: String, value: String)], auth: Auth)? {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let rawHost = c.host?.lowercased() else {
            return nil
        }
        let defaultPort = scheme == "https" ? 443 : 80
        let host = c.port.map { $0 == defaultPort ? rawHost : "\(rawHost):\($0)" } ?? rawHost
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = f.string(from: now)
        let day = String(amzDate.prefix(8))
        let payload = Self.hex(SHA256.hash(data: body ?? []))

        var signed: [(String, String)] = [("host", host), ("x-amz-content-sha256", payload), ("x-amz-date", amzDate)]
        if let token = sessionToken { signed.append(("x-amz-security-token", token.reveal())) }
        signed.sort { $0.0 < $1.0 }
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        let canonicalPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.encode(String($0).removingPercentEncoding ?? String($0)) }.joined(separator: "/")
        var pairs: [(String, String)] = []
        for item in c.percentEncodedQueryItems ?? [] {
            let name: String = item.name.removingPercentEncoding ?? item.name
            let raw: String = item.value ?? ""
            let value: String = raw.removingPercentEncoding ?? raw
            pairs.append((Self.encode(name), Self.encode(value)))
        }
        pairs.sort { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query: String = pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let signedNames = signed.map(\.0).joined(separator: ";")
        let canonical = [method.uppercased(), canonicalPath, query,
                         signed.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payload].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + Self.hex(SHA256.hash(data: Array(canonical.utf8)))
        var key = SymmetricKey(data: Array(("AWS4" + secretKey.reveal()).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(accessKey.reveal())/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"
        var plain: [(name: String, value: String)] = [("x-amz-content-sha256", payload), ("x-amz-date", amzDate)]
        var auth = Auth.header("Authorization", Secret(authorization))
        if let token = sessionToken { auth = auth + .header("x-amz-security-token", token) }
        plain.sort { $0.name < $1.name }
        return (plain, auth)
    }

    /// RFC 3986 with AWS's unreserved set.
    static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
