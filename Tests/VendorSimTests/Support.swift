import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

@testable import VendorSim

/// An answer, read whole.
struct Reply: @unchecked Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    var array: [Any] { json as? [Any] ?? [] }
    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// Each vendor's right credentials as headers.
enum Auth {
    static let clari = [("apikey", SimulatorCredentials.clariAPIKey)]
    static let clariIngest = clari + [("partnerkey", SimulatorCredentials.clariPartnerKey)]
    static let claravine = [("X-Api-Key", SimulatorCredentials.claravineAPIKey), ("X-Api-Secret", SimulatorCredentials.claravineAPISecret)]
    static let quantive = [("Authorization", "Bearer " + SimulatorCredentials.quantiveAPIToken),
                           ("gtmhub-accountId", SimulatorCredentials.quantiveAccountID)]
    static let cordial = [("Authorization", "Basic " + Data((SimulatorCredentials.cordialAPIKey + ":").utf8).base64EncodedString())]
    static let mediarithmics = [("Authorization", SimulatorCredentials.mediarithmicsAPIToken)]
}

/// A simulator on a free loopback port and a plain HTTP client to talk to it.
/// A test class sharing one simulator (started before its first test,
/// stopped after its last); `configure` adjusts the simulator's settings.
class SimTestCase: XCTestCase {
    nonisolated(unsafe) static var shared: SimHarness!
    var sim: SimHarness { Self.shared }

    class func configure(_ config: inout SimulatorConfig) {}

    override class func setUp() {
        super.setUp()
        shared = try! SimHarness { configure(&$0) }
    }

    override class func tearDown() {
        shared.shutdown()
        shared = nil
        super.tearDown()
    }
}

final class SimHarness: @unchecked Sendable {
    let simulator: VendorSimulator
    let endpoints: SimulatorEndpoints
    let client: HTTPClient

    init(_ configure: (inout SimulatorConfig) -> Void = { _ in }) throws {
        var config = SimulatorConfig()
        config.speed = 40
        config.threads = 1
        config.dataDirectory = NSTemporaryDirectory() + "moonport-simtests-\(UUID().uuidString)"
        configure(&config)
        simulator = VendorSimulator(config: config)
        endpoints = try simulator.startBlocking()
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(20))))
    }

    func shutdown() {
        try? client.syncShutdown()
        try? simulator.stopBlocking()
        try? FileManager.default.removeItem(atPath: simulator.config.dataDirectory)
    }

    /// `path` is relative to the simulator's root (`/clari/v4/...`).
    func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil, json: Any? = nil,
        contentType: String? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: endpoints.root + path)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        var payload = body
        if let json {
            payload = Array(try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]))
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        }
        if let contentType { request.headers.replaceOrAdd(name: "Content-Type", value: contentType) }
        if let payload { request.body = .bytes(ByteBuffer(bytes: payload)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 1 << 30)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
    }

    func stats() async throws -> [String: Any] {
        try await send(.GET, "/__sim/stats").object
    }

    /// Polls `path` until `status(reply)` is one of `terminal`; returns every
    /// status seen, consecutive repeats dropped.
    func poll(
        _ path: String, headers: [(String, String)], terminal: Set<String>, timeout: Double = 10,
        status: (Reply) -> String?
    ) async throws -> [String] {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let r = try await send(.GET, path, headers: headers)
            guard r.status == 200, let s = status(r) else {
                XCTFail("polling \(path): \(r.status) \(r.text)")
                return seen
            }
            if seen.last != s { seen.append(s) }
            if terminal.contains(s) { return seen }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        XCTFail("polling \(path): no terminal status within \(timeout) s (seen \(seen))")
        return seen
    }
}

/// Asserts `seen` is `order` with some steps possibly skipped (never reversed), ending with `last`.
func assertInOrder(_ seen: [String], _ order: [String], ending last: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(seen.last, last, "final status", file: file, line: line)
    var i = 0
    for s in seen {
        guard let k = order[i...].firstIndex(of: s) else {
            XCTFail("status \(s) out of order in \(seen) (expected order \(order))", file: file, line: line)
            return
        }
        i = k
    }
    XCTAssertGreaterThan(seen.count, 1, "the job should be seen in more than one state: \(seen)", file: file, line: line)
}

extension Dictionary where Key == String, Value == Any {
    func dict(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    func str(_ key: String) -> String? { self[key] as? String }
    func num(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
}

/// A test-side AWS SigV4 signer (written from the AWS documentation, not
/// shared with the simulator's verifier).
enum TestSigner {
    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Headers for a GET of `path` (already URI-encoded) on `host`, signed with the key pair.
    static func getHeaders(path: String, host: String, accessKey: String, secret: String, region: String = "us-east-1") -> [(String, String)] {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = f.string(from: Date())
        let day = String(amzDate.prefix(8))
        let payloadHash = hex(SHA256.hash(data: [UInt8]()))
        let signedHeaders = "host;x-amz-content-sha256;x-amz-date"
        let canonicalHeaders = "host:\(host)\nx-amz-content-sha256:\(payloadHash)\nx-amz-date:\(amzDate)\n"
        let canonicalRequest = "GET\n\(path)\n\n\(canonicalHeaders)\n\(signedHeaders)\n\(payloadHash)"
        let scope = "\(day)/\(region)/s3/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + hex(SHA256.hash(data: Array(canonicalRequest.utf8)))
        func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
        }
        var key = Array(("AWS4" + secret).utf8)
        for part in [day, region, "s3", "aws4_request"] { key = hmac(key, part) }
        let signature = hex(hmac(key, stringToSign))
        return [
            ("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"),
            ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash),
        ]
    }
}
