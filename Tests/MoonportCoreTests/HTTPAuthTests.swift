import Foundation
import LuaBridge
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

/// `auth = {...}` of http.request against the loopback server: the headers
/// that arrive, validation, redirects, and secrets in error messages.
final class HTTPAuthTests: XCTestCase {
    var server: TestHTTPServer!

    override func setUpWithError() throws { server = try TestHTTPServer() }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    func run(_ code: String) throws -> [LuaValue] {
        try MoonportHost().evaluate("""
            local http = require "http"
            local json = require "json"
            local BASE = "\(server.base)"
            local function hits(path, key)
              return http.get(BASE .. "/__hits", {query = {path = path, key = key}, retry = false}):json().count
            end
            local function catch(f, ...)
              local ok, e = pcall(f, ...)
              assert(not ok, "expected an error, the call succeeded")
              assert(type(e) == "table", "expected an error object, got " .. tostring(e))
              return e
            end

            """ + code)
    }

    func testEachAuthFormArrivesAsTheVendorExpects() throws {
        let v = try run("""
            local function echo(auth, headers)
              return http.get(BASE .. "/echo", {auth = auth, headers = headers}):json().headers
            end
            local q = echo({bearer = "qt-bearer-01", headers = {["gtmhub-accountId"] = "acct-0001"}})
            local b = echo({basic = {"cordial-key-01", ""}})
            local b2 = echo({basic = {user = "u-0001", password = "p-0001"}})
            local h = echo({header = "apikey", value = "clari-key-01", headers = {partnerkey = "clari-partner-01"}})
            local r = echo({authorization = "mics-raw-01"})
            local k = echo({key_header = "X-Api-Key", key = "cv-key-01", secret_header = "X-Api-Secret", secret = "cv-secret-01"})
            local o = echo({bearer = "over-tok-01"}, {Authorization = "Bearer plain", ["X-Plain"] = "keep"})
            return q.authorization, q["gtmhub-accountid"], b.authorization, b2.authorization,
              h.apikey, h.partnerkey, h.authorization, r.authorization, k["x-api-key"], k["x-api-secret"],
              o.authorization, o["x-plain"]
            """)
        XCTAssertEqual(v, [
            "Bearer qt-bearer-01", "acct-0001",
            .text("Basic " + Data("cordial-key-01:".utf8).base64EncodedString()),
            .text("Basic " + Data("u-0001:p-0001".utf8).base64EncodedString()),
            "clari-key-01", "clari-partner-01", nil, "mics-raw-01", "cv-key-01", "cv-secret-01",
            "Bearer over-tok-01", "keep",
        ])
    }

    func testAuthIsValidatedWithoutEchoingTheValue() throws {
        let v = try run("""
            local url = BASE .. "/echo?key=auth-v"
            local cases = {
              {auth = "tok-VALID-0001"},
              {auth = {bearer = 42.5, bogus = "tok-VALID-0002"}},
              {auth = {bearer = true}},
              {auth = {bearer = ""}},
              {auth = {bearer = "tok-VALID-0003\\r\\nX-Injected: 1"}},
              {auth = {bearer = "tok-VALID-0004", basic = {"u", "tok-VALID-0005"}}},
              {auth = {basic = "tok-VALID-0006"}},
              {auth = {basic = {password = "tok-VALID-0007"}}},
              {auth = {header = "X-Api-Key"}},
              {auth = {header = "Bad Name", value = "tok-VALID-0008"}},
              {auth = {key_header = "X-Api-Key", key = "tok-VALID-0009", secret_header = "X-Api-Secret"}},
              {auth = {value = "tok-VALID-0010"}},
              {auth = {headers = {["X-A"] = {}}}},
            }
            local out = {}
            for i, opts in ipairs(cases) do
              local e = catch(http.get, url, opts)
              out[#out + 1] = e.kind .. "|" .. e.message .. "|" .. tostring(e)
            end
            return hits("/echo", "auth-v"), table.concat(out, "\\n")
            """)
        XCTAssertEqual(v[0], 0, "nothing was sent")
        let lines = (v[1].stringValue ?? "").split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 13)
        for line in lines {
            XCTAssertTrue(line.hasPrefix("validation|"), line)
            XCTAssertFalse(line.contains("tok-VALID"), "a secret in a validation error: \(line)")
        }
        let expectedFields = ["auth must be a table", "bogus", "'bearer' must be a string", "'bearer' is empty",
            "'bearer' contains a line break", "not bearer and basic", "'basic' must be a table", "'basic.user' is required",
            "'value' is required", "'header' must be a header name", "'secret' is required", "'value' needs 'header'",
            "'headers.X-A' must be a string"]
        for (line, field) in zip(lines, expectedFields) {
            XCTAssertTrue(line.contains(field), "'\(line)' does not name \(field)")
        }
    }

    func testCrossOriginRedirectDropsAuthSameOriginKeepsIt() throws {
        let other = try TestHTTPServer()
        defer { other.stop() }
        let v = try run("""
            local auth = {bearer = "redir-tok-01", headers = {["X-Account-Id"] = "redir-acct-01"}}
            local away = http.get(BASE .. "/redirect", {query = {to = "\(other.base)/echo"}, auth = auth,
              headers = {["X-Plain"] = "keep"}}):json()
            local home = http.get(BASE .. "/redirect?to=/echo", {auth = auth}):json()
            local k = http.get(BASE .. "/redirect", {query = {to = "\(other.base)/echo"},
              auth = {key_header = "X-Vendor-Id", key = "kid-0001", secret_header = "X-Vendor-Pass", secret = "kpass-0001"}}):json()
            return away.headers.authorization, away.headers["x-account-id"], away.headers["x-plain"],
              home.headers.authorization, home.headers["x-account-id"], k.headers["x-vendor-id"], k.headers["x-vendor-pass"]
            """)
        XCTAssertEqual(v, [nil, nil, "keep", "Bearer redir-tok-01", "redir-acct-01", nil, nil])
    }

    func testAServerEchoingTheTokenDoesNotPutItInTheError() throws {
        let v = try run("""
            local e = catch(http.get, BASE .. "/echo-auth", {auth = {bearer = "echo-tok-0001"}})
            local e2 = catch(http.get, BASE .. "/echo-auth", {headers = {Authorization = "Bearer plain-tok-0002"}})
            local e3 = catch(http.get, BASE .. "/echo-auth?api_key=query-key-0003", {auth = {basic = {"cuser-0004", "cpass-0005"}}})
            local res = http.get(BASE .. "/echo-auth", {auth = {authorization = "raw-tok-0006"}, raise = false})
            return e.kind, e.status, e.message, tostring(e), json.encode(e.details), tostring(e2), json.encode(e2.details),
              tostring(e3), json.encode(e3.details), http.redact(res.body), res.body
            """)
        XCTAssertEqual(v[0], "http")
        XCTAssertEqual(v[1], 401)
        let texts = v.map { $0.stringValue ?? "" }
        XCTAssertTrue(texts[2].contains("Invalid authentication credentials: ***"), texts[2])
        for (i, text) in texts.prefix(10).enumerated() {
            for secret in ["echo-tok-0001", "plain-tok-0002", "query-key-0003", "cuser-0004", "cpass-0005", "raw-tok-0006",
                           Data("cuser-0004:cpass-0005".utf8).base64EncodedString()] {
                XCTAssertFalse(text.contains(secret), "value \(i) holds \(secret): \(text)")
            }
        }
        // raise = false: the body is the script's own data, unchanged.
        XCTAssertTrue(texts[10].contains("raw-tok-0006"))
    }
}
