import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// The S3-compatible store Cordial's `s3` (and `aws`) exports are written to.
/// Each bucket remembers the access keys that wrote into it; a GetObject must
/// be signed (AWS Signature Version 4) with one of them.
final class S3Store: Sendable {
    struct Object: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String
        let modified: Double
    }

    private struct Bucket {
        var region = "us-east-1"
        var secrets: [String: String] = [:]
        var objects: [String: Object] = [:]
    }

    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    func put(bucket: String, region: String, key: String, bytes: [UInt8], contentType: String, accessKeyId: String, secret: String, now: Double) {
        let etag = "\"" + Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined() + "\""
        buckets.withLockedValue { b in
            b[bucket, default: Bucket()].secrets[accessKeyId] = secret
            b[bucket]!.region = region
            b[bucket]!.objects[key] = Object(bytes: bytes, contentType: contentType, etag: etag, modified: now)
        }
    }

    enum Lookup { case noBucket, unknownKeyId, found(secret: String, region: String, object: Object?) }

    func lookup(bucket: String, accessKeyId: String, key: String) -> Lookup {
        buckets.withLockedValue { b in
            guard let bk = b[bucket] else { return .noBucket }
            guard let secret = bk.secrets[accessKeyId] else { return .unknownKeyId }
            return .found(secret: secret, region: bk.region, object: bk.objects[key])
        }
    }

    func reset() { buckets.withLockedValue { $0 = [:] } }
}

/// `GET`/`HEAD /s3/{bucket}/{key}` (path-style GetObject) with SigV4 checks
/// and `Range` support. Errors are S3's XML bodies. No faults are injected
/// here: the store stands for the customer's own bucket, not a vendor.
enum S3Routes {
    static let prefix = "/s3"

    static func routes(store: S3Store) -> [Route] {
        [
            Route(vendor: nil, method: .GET, pattern: prefix + "/{bucket}/{key*}") { request, params in
                getObject(request, bucket: params["bucket"], key: key(of: request) ?? params["key"], store: store)
            },
        ]
    }

    /// The object key of a path-style request, empty segments kept: S3 keys
    /// may hold "//" (Cordial writes "folder//file" for a path ending in "/"),
    /// which the router's segments would drop.
    static func key(of request: SimRequest) -> String? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 3, parts[0].isEmpty, parts[1] == prefix.dropFirst() else { return nil }
        return parts[3...].map { SimRequest.decodePath($0) }.joined(separator: "/")
    }

    static func xmlError(_ status: Int, code: String, message: String, resource: String) -> SimResponse {
        let esc = { (s: String) in
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>\(code)</Code><Message>\(esc(message))</Message><Resource>\(esc(resource))</Resource>\
            <RequestId>\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16))</RequestId></Error>
            """
        return SimResponse.text(status, xml, contentType: "application/xml")
    }

    static func getObject(_ request: SimRequest, bucket: String, key: String, store: S3Store) -> SimResponse {
        let resource = "/\(bucket)/\(key)"
        guard let auth = request.header("Authorization") else {
            return xmlError(403, code: "AccessDenied", message: "Access Denied: the request is not signed", resource: resource)
        }
        guard let parsed = SigV4.parseAuthorization(auth) else {
            return xmlError(400, code: "AuthorizationHeaderMalformed", message: "The Authorization header is not AWS4-HMAC-SHA256", resource: resource)
        }
        switch store.lookup(bucket: bucket, accessKeyId: parsed.accessKeyId, key: key) {
        case .noBucket:
            return xmlError(404, code: "NoSuchBucket", message: "The specified bucket does not exist", resource: resource)
        case .unknownKeyId:
            return xmlError(403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", resource: resource)
        case .found(let secret, let region, let object):
            guard parsed.region == region, parsed.service == "s3" else {
                return xmlError(400, code: "AuthorizationHeaderMalformed",
                                message: "The authorization header is malformed; the region '\(parsed.region)' is wrong; expecting '\(region)'",
                                resource: resource)
            }
            if let date = request.header("x-amz-date").flatMap(SigV4.parseAmzDate), abs(date - Date().timeIntervalSince1970) > 900 {
                return xmlError(403, code: "RequestTimeTooSkewed",
                                message: "The difference between the request time and the current time is too large.", resource: resource)
            }
            guard SigV4.verify(request, parsed, secret: secret) else {
                return xmlError(403, code: "SignatureDoesNotMatch",
                                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                                resource: resource)
            }
            guard let object else {
                return xmlError(404, code: "NoSuchKey", message: "The specified key does not exist.", resource: resource)
            }
            return Ranges.respond(
                to: request, body: BytesBody(bytes: object.bytes), contentType: object.contentType, etag: object.etag,
                headers: [("Last-Modified", httpDate(object.modified))])
        }
    }

    static func httpDate(_ t: Double) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: Date(timeIntervalSince1970: t))
    }
}

/// AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 ...`).
enum SigV4 {
    struct Authorization {
        let accessKeyId: String
        let date: String
        let region: String
        let service: String
        let signedHeaders: [String]
        let signature: String
    }

    static func parseAuthorization(_ header: String) -> Authorization? {
        let prefix = "AWS4-HMAC-SHA256 "
        guard header.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for item in header.dropFirst(prefix.count).split(separator: ",") {
            let kv = item.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request" else { return nil }
        return Authorization(accessKeyId: scope[0], date: scope[1], region: scope[2], service: scope[3],
                             signedHeaders: signed.split(separator: ";").map(String.init), signature: signature.lowercased())
    }

    /// RFC 3986 encoding with AWS's unreserved set (`A-Z a-z 0-9 - _ . ~`).
    static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8))
        for b in s.utf8 {
            if unreserved.contains(b) || (keepSlash && b == 47) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func canonicalRequest(_ request: SimRequest, signedHeaders: [String]) -> String {
        let path = request.path.split(separator: "/", omittingEmptySubsequences: false)
            .map { encode(String($0).removingPercentEncoding ?? String($0)) }.joined(separator: "/")
        let pairs: [(String, String)] = request.query.map { (encode($0.name), encode($0.value)) }
        let sorted = pairs.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query = sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let headers = signedHeaders.map { name -> String in
            let values = request.headers[name].map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            return name + ":" + values.joined(separator: ",") + "\n"
        }.joined()
        let payload = request.header("x-amz-content-sha256") ?? hex(SHA256.hash(data: request.body))
        return [request.method == .HEAD ? "HEAD" : request.method.rawValue, path.isEmpty ? "/" : path, query, headers,
                signedHeaders.joined(separator: ";"), payload].joined(separator: "\n")
    }

    static func verify(_ request: SimRequest, _ auth: Authorization, secret: String) -> Bool {
        guard auth.signedHeaders.contains("host"), auth.signedHeaders == auth.signedHeaders.map({ $0.lowercased() }),
              let amzDate = request.header("x-amz-date"), amzDate.hasPrefix(auth.date) else { return false }
        let canonical = canonicalRequest(request, signedHeaders: auth.signedHeaders)
        let scope = "\(auth.date)/\(auth.region)/\(auth.service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + hex(SHA256.hash(data: Array(canonical.utf8)))
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [auth.date, auth.region, auth.service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let expected = hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key))
        return constantTimeEqual(expected, auth.signature)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` → seconds since 1970.
    static func parseAmzDate(_ text: String) -> Double? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.date(from: text)?.timeIntervalSince1970
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in x.indices { d |= x[i] ^ y[i] }
        return d == 0
    }
}
