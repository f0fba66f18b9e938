import Foundation
@testable import MoonportCore
import XCTest

/// `Secret`, the secret registry and `Redaction.scrub`.
final class SecretTests: XCTestCase {
    func testSecretNamesAreJudgedWordByWord() {
        let secret = ["Authorization", "Cookie", "X-Api-Key", "x-api-secret", "apikey", "partnerkey", "apiKey", "api_key",
                      "key", "auth", "access_token", "X-Auth-Token", "client_secret", "password", "db_passwd",
                      "aws_secret_access_key", "aws_access_key_id", "X-Amz-Signature", "refreshToken", "credentials",
                      "session_key", "privateKey"]
        let plain = ["sortKey", "Idempotency-Key", "keyword", "author", "authored_by", "sessionId", "monkey", "keys_total",
                     "tokenizer_version", "name", "gtmhub-accountId", "X-RateLimit-Remaining", "Content-Type"]
        for name in secret { XCTAssertTrue(Redaction.isSecretName(name), "\(name) should be a secret name") }
        for name in plain { XCTAssertFalse(Redaction.isSecretName(name), "\(name) should not be a secret name") }
    }

    func testSecretNeverPrintsItsValue() {
        let s = Secret("sk-live-PRINTME-123")
        XCTAssertEqual("\(s)", "Secret(***)")
        XCTAssertEqual(String(describing: s), "Secret(***)")
        XCTAssertEqual(String(reflecting: s), "Secret(***)")
        XCTAssertEqual(Mirror(reflecting: s).children.count, 0)
        var dumped = ""
        dump(s, to: &dumped)
        XCTAssertFalse(dumped.contains("PRINTME"), dumped)
        var dumpedArray = ""
        dump([s], to: &dumpedArray)
        XCTAssertFalse(dumpedArray.contains("PRINTME"), dumpedArray)
        XCTAssertFalse("\([s])".contains("PRINTME"))
        XCTAssertFalse("\(["k": s])".contains("PRINTME"))
        XCTAssertFalse("\(Optional(s) as Any)".contains("PRINTME"))
        XCTAssertEqual(s.reveal(), "sk-live-PRINTME-123")
    }

    func testAuthDescriptionsAndHeaders() {
        let quantive = Auth.bearer(Secret("qt-TOKEN-abc"), extra: [(name: "gtmhub-accountId", value: Secret("acct-777"))])
        XCTAssertEqual("\(quantive)", "Auth(Authorization: ***, gtmhub-accountId: ***)")
        var dumped = ""
        dump(quantive, to: &dumped)
        XCTAssertFalse(dumped.contains("qt-TOKEN-abc"), dumped)
        XCTAssertFalse(dumped.contains("acct-777"), dumped)
        XCTAssertEqual(quantive.headers.map { $0.value.reveal() }, ["Bearer qt-TOKEN-abc", "acct-777"])

        let cordial = Auth.basic(user: Secret("cordial-key-1"), password: Secret(""))
        XCTAssertEqual(cordial.headers.first?.value.reveal(), "Basic " + Data("cordial-key-1:".utf8).base64EncodedString())
        let clari = Auth.header("apikey", Secret("clari-k-1")) + .header("partnerkey", Secret("clari-p-1"))
        XCTAssertEqual(clari.headerNames, ["apikey", "partnerkey"])
        let claravine = Auth.keyAndSecret(keyHeader: "X-Api-Key", key: Secret("cv-key-1"), secretHeader: "X-Api-Secret", secret: Secret("cv-sec-1"))
        XCTAssertEqual(claravine.headers.map(\.name), ["X-Api-Key", "X-Api-Secret"])
        XCTAssertEqual(Auth.authorization(Secret("mics-raw-1")).headers.first?.value.reveal(), "mics-raw-1")

        var spec = HTTPRequestSpec(method: "GET", url: "http://example.invalid/")
        spec.authorize(quantive)
        XCTAssertEqual(spec.secretHeaders, ["authorization", "gtmhub-accountid"])
        XCTAssertTrue(spec.headers.isEmpty, "auth headers are written at send time, not kept as plain headers")
        let wire = Transport.wireHeaders([(name: "authorization", value: "plain"), (name: "X-Other", value: "1")], auth: spec.auth)
        XCTAssertEqual(wire.filter { $0.name.lowercased() == "authorization" }.map(\.value), ["Bearer qt-TOKEN-abc"])
        XCTAssertTrue(wire.contains { $0.name == "X-Other" })
    }

    func testScrubMasksEveryRegisteredValue() {
        _ = Secret("scrub-me-0001")
        SecretRegistry.shared.registerHeaderValue("Bearer bearer-tok-0002")
        SecretRegistry.shared.registerHeaderValue("Basic " + Data("basic-user-3:basic-pass-3".utf8).base64EncodedString())
        _ = Secret("abc")  // too short to be kept
        XCTAssertEqual(Redaction.scrub("a scrub-me-0001 b scrub-me-0001"), "a *** b ***")
        XCTAssertEqual(Redaction.scrub("Authorization: Bearer bearer-tok-0002"), "Authorization: ***")
        XCTAssertEqual(Redaction.scrub("token bearer-tok-0002."), "token ***.")
        XCTAssertEqual(Redaction.scrub("pw=basic-pass-3"), "pw=***")
        XCTAssertEqual(Redaction.scrub("abc abc"), "abc abc")
        XCTAssertEqual(Redaction.scrub("nothing here"), "nothing here")
        XCTAssertEqual(Redaction.scrub("é scrub-me-0001 ü"), "é *** ü")
        XCTAssertFalse(SecretRegistry.shared.contains("Bearer"), "the scheme word alone is not a secret")
    }

    /// A request body's values under secret names are registered; a body in
    /// which no name can be a secret's is not parsed at all (large uploads).
    func testBodySecretsAreFoundAndPlainBodiesSkipped() {
        XCTAssertFalse(Redaction.mayNameASecret(Array(#"{"transactionName":"x","rows":[["Campaign 1","search"]]}"#.utf8)))
        for body in [#"{"apiKey":"v"}"#, #"{"ACCESS_TOKEN":"v"}"#, #"{"a":{"password":"v"}}"#, #"{"api\u004bey":"v"}"#,
                     "{\"api\u{212A}ey\":\"v\"}"] {  // KELVIN SIGN: lowercases to k
            XCTAssertTrue(Redaction.mayNameASecret(Array(body.utf8)), body)
        }
        Redaction.registerBodySecrets(Array(#"{"user":{"client_secret":"body-secret-0004"}}"#.utf8), contentType: "application/json")
        XCTAssertEqual(Redaction.scrub("x body-secret-0004 y"), "x *** y")
        Redaction.registerBodySecrets(Array(#"{"api\u004bey":"escaped-key-0005"}"#.utf8), contentType: "application/json")
        XCTAssertEqual(Redaction.scrub("escaped-key-0005"), "***", "a name spelled with \\u escapes is still judged")
        Redaction.registerBodySecrets(Array(#"{"name":"Zx9q-unlisted-0006"}"#.utf8), contentType: "application/json")
        XCTAssertEqual(Redaction.scrub("Zx9q-unlisted-0006"), "Zx9q-unlisted-0006")
    }
}
