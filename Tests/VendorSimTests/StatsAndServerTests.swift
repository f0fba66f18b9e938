import Foundation
import NIOHTTP1
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import VendorSim

final class StatsTests: XCTestCase {
    private var sims: [SimHarness] = []

    override func tearDown() {
        for s in sims { s.shutdown() }
        sims = []
        super.tearDown()
    }

    private func make(seed: UInt64 = 1) throws -> SimHarness {
        let s = try SimHarness { $0.seed = seed; $0.clariConcurrentLimit = 20 }
        sims.append(s)
        return s
    }

    func testCreatedObjectsAndDuplicatesPerVendorAndKind() async throws {
        let sim = try make()
        // Clari: the same export parameters twice.
        let export: [String: Any] = ["timePeriod": "2024_Q1", "typesToExport": ["forecast"]]
        for body in [export, export, export.merging(["exportFormat": "CSV"]) { $1 }] {
            let r = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, json: body)
            XCTAssertEqual(r.status, 200, r.text)
        }
        // Claravine: the same transactionName twice in one dataset, once in another.
        let tx: [String: Any] = ["transactionName": "Daily load", "fields": ["campaign_id", "campaign_name", "channel"], "rows": [["C", "N", "search"], ["D", "M", "social"]]]
        for dataset in ["ds-campaigns", "ds-campaigns", "ds-creatives"] {
            let r = try await sim.send(.POST, "/claravine/v1/datasets/\(dataset)/data", headers: Auth.claravine, json: tx)
            XCTAssertEqual(r.status, 200, r.text)
        }
        // Cordial: the same export name twice.
        for _ in 0..<2 {
            let r = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial,
                                       json: ["name": "nightly", "exportType": "csv", "destination": ["type": "gcs", "gcs_bucket": "b"]])
            XCTAssertEqual(r.status, 200, r.text)
        }
        // Quantive: the same goal name in the same session twice.
        let sessions = try await sim.send(.GET, "/quantive/results/api/v1/sessions", headers: Auth.quantive)
        let session = try XCTUnwrap((sessions.object["items"] as? [[String: Any]])?.first?.str("id"))
        for _ in 0..<2 {
            let r = try await sim.send(.POST, "/quantive/results/api/v1/goals", headers: Auth.quantive, json: ["name": "Twice", "sessionId": session])
            XCTAssertEqual(r.status, 200, r.text)
        }
        // mediarithmics: the same file twice on one import, once on another.
        let imports = try await sim.send(.GET, "/mediarithmics/v1/datamarts/1502/document_imports", headers: Auth.mediarithmics)
        let ndjsonImport = try XCTUnwrap((imports.object["data"] as? [[String: Any]])?.first { $0.str("mime_type") == "APPLICATION_X_NDJSON" }?.str("id"))
        let other = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports", headers: Auth.mediarithmics,
                                       json: ["document_type": "USER_SEGMENT", "mime_type": "APPLICATION_X_NDJSON", "name": "Other"])
        let otherImport = try XCTUnwrap(other.object.dict("data").str("id"))
        let file = Array("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n".utf8)
        for id in [ndjsonImport, ndjsonImport, otherImport] {
            let r = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports/\(id)/executions", headers: Auth.mediarithmics,
                                       body: file, contentType: "application/x-ndjson")
            XCTAssertEqual(r.status, 200, r.text)
        }

        let stats = try await sim.stats()
        let created = stats.dict("created"), dups = stats.dict("duplicates")
        XCTAssertEqual(created.dict("clari").num("export_jobs"), 3)
        XCTAssertEqual(created.dict("claravine").num("transactions"), 3)
        XCTAssertEqual(created.dict("claravine").num("rows_received"), 6)
        XCTAssertEqual(created.dict("cordial").num("exports"), 2)
        XCTAssertEqual(created.dict("quantive").num("goals"), 2)
        XCTAssertEqual(created.dict("mediarithmics").num("executions"), 3)
        XCTAssertEqual(created.dict("mediarithmics").num("lines_received"), 9)
        XCTAssertEqual(created.dict("mediarithmics").num("document_imports"), 1)
        XCTAssertEqual(dups.dict("clari").num("export_jobs"), 1)
        XCTAssertEqual(dups.dict("claravine").num("transactions"), 1)
        XCTAssertEqual(dups.dict("cordial").num("exports"), 1)
        XCTAssertEqual(dups.dict("quantive").num("goals"), 1)
        XCTAssertEqual(dups.dict("mediarithmics").num("executions"), 1)
        XCTAssertEqual(dups.num("total"), 5)
        XCTAssertEqual(stats.num("requests"), 3 + 3 + 2 + 1 + 2 + 1 + 1 + 3)
        XCTAssertEqual(stats.dict("vendorRequests").num("claravine"), 3)
    }

    func testResetReturnsToTheSeededStateAndRepeatsIds() async throws {
        let sim = try make()
        let sessions = try await sim.send(.GET, "/quantive/results/api/v1/sessions", headers: Auth.quantive)
        let session = try XCTUnwrap((sessions.object["items"] as? [[String: Any]])?.first?.str("id"))
        let first = try await sim.send(.POST, "/quantive/results/api/v1/goals", headers: Auth.quantive, json: ["name": "Before reset", "sessionId": session])
        let id = try XCTUnwrap(first.object.str("id"))

        let reset = try await sim.send(.POST, "/__sim/reset")
        XCTAssertEqual(reset.status, 200)
        let gone = try await sim.send(.GET, "/quantive/results/api/v1/goals/\(id)", headers: Auth.quantive)
        XCTAssertEqual(gone.status, 404)
        let stats = try await sim.stats()
        XCTAssertEqual(stats.num("requests"), 1, "counters were zeroed (the GET above counts)")
        XCTAssertNil(stats.dict("created").dict("quantive").num("goals"))
        XCTAssertEqual(stats.dict("duplicates").num("total"), 0)
        let goals = try await sim.send(.GET, "/quantive/results/api/v1/goals", headers: Auth.quantive)
        XCTAssertEqual(goals.object.num("totalCount"), 12, "the seeded goals are back")

        let again = try await sim.send(.POST, "/quantive/results/api/v1/goals", headers: Auth.quantive, json: ["name": "After reset", "sessionId": session])
        XCTAssertEqual(again.object.str("id"), id, "ids repeat after a reset")
    }

    func testTheSameSeedGivesTheSameDemoData() async throws {
        let a = try make(seed: 5), b = try make(seed: 5), c = try make(seed: 6)
        let paths: [(String, [(String, String)])] = [
            ("/quantive/results/api/v1/goals", Auth.quantive), ("/clari/v4/audit/events?limit=20", Auth.clari),
            ("/claravine/v1/datasets/ds-campaigns/transactions/", Auth.claravine),
        ]
        for (path, headers) in paths {
            let ra = try await a.send(.GET, path, headers: headers), rb = try await b.send(.GET, path, headers: headers)
            let rc = try await c.send(.GET, path, headers: headers)
            XCTAssertEqual(ra.text.replacingOccurrences(of: a.endpoints.root, with: ""), rb.text.replacingOccurrences(of: b.endpoints.root, with: ""), path)
            XCTAssertNotEqual(ra.text, rc.text, path)
        }
    }
}

final class ServerTests: SimTestCase {

    /// Sends raw bytes on one connection and reads `count` responses (by Content-Length).
    private func raw(_ text: String, responses count: Int) throws -> (responses: [(head: String, body: String)], closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(sim.endpoints.port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(rc, 0)
        let bytes = Array(text.utf8)
        XCTAssertEqual(bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, bytes.count)
        var buffer: [UInt8] = []
        var out: [(String, String)] = []
        var closed = false
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            // Parse what is there.
            while let sep = Multipart.find([13, 10, 13, 10], in: buffer, from: 0) {
                let head = String(decoding: buffer[..<sep], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                guard buffer.count >= sep + 4 + length else { break }
                out.append((head, String(decoding: buffer[(sep + 4)..<(sep + 4 + length)], as: UTF8.self)))
                buffer.removeFirst(sep + 4 + length)
            }
            let expectClose = text.lowercased().contains("connection: close")
            if out.count >= count && (closed || !expectClose) { break }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                closed = n == 0
                break
            }
            buffer += chunk[0..<n]
        }
        return (out, closed)
    }

    func testPipelinedRequestsAreAnsweredInOrderOnOneConnection() throws {
        let auth = "X-Api-Key: \(SimulatorCredentials.claravineAPIKey)\r\nX-Api-Secret: \(SimulatorCredentials.claravineAPISecret)\r\n"
        let text = "GET /__sim/health HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /claravine/v1/datasets HTTP/1.1\r\nHost: x\r\n\(auth)\r\n"
            + "GET /claravine/v1/nothing HTTP/1.1\r\nHost: x\r\n\(auth)\r\n"
            + "GET /__sim/health HTTP/1.1\r\nHost: x\r\n\r\n"
        let (responses, _) = try raw(text, responses: 4)
        XCTAssertEqual(responses.count, 4)
        guard responses.count == 4 else { return }
        XCTAssertTrue(responses[0].body.contains("\"ok\":true"))
        XCTAssertTrue(responses[1].body.contains("ds-forecasts"))
        XCTAssertTrue(responses[2].head.hasPrefix("HTTP/1.1 404"))
        XCTAssertTrue(responses[2].body.contains("not_found"))
        XCTAssertTrue(responses[3].body.contains("\"ok\":true"))
    }

    func testConnectionCloseIsHonoured() throws {
        let (responses, closed) = try raw("GET /__sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", responses: 1)
        XCTAssertEqual(responses.count, 1)
        XCTAssertTrue(responses.first?.head.lowercased().contains("connection: close") ?? false)
        XCTAssertTrue(closed)
    }

    func testUnknownPathsAndMethodsUseTheVendorsBodies() async throws {
        let mics = try await sim.send(.GET, "/mediarithmics/v1/nowhere", headers: Auth.mediarithmics)
        XCTAssertEqual(mics.status, 404)
        XCTAssertEqual(mics.object.str("status"), "error")
        let cordial = try await sim.send(.DELETE, "/cordial/v2/jobs", headers: Auth.cordial)
        XCTAssertEqual(cordial.status, 405)
        XCTAssertEqual(cordial.object["error"] as? Bool, true)
        let ingest = try await sim.send(.GET, "/clari/v2/ingest/nothing", headers: Auth.clariIngest)
        XCTAssertEqual(ingest.status, 404)
        XCTAssertNotNil((ingest.array.first as? [String: Any])?.str("errorCode"))
        let none = try await sim.send(.GET, "/nothing")
        XCTAssertEqual(none.status, 404)
    }

    func testJSONEncodingRoundTripsDecodedAndNativeValues() throws {
        let text = #"{"b":true,"f":false,"i":-42,"big":9007199254740993,"d":1.25,"s":"q\"uote\\ tab\t é ✓ \u0001","n":null,"a":[1,"x",{"k":[]}],"o":{}}"#
        let decoded = try XCTUnwrap(JSON.decode(Array(text.utf8)))
        let again = try XCTUnwrap(JSON.decode(JSON.encode(decoded)) as? NSDictionary)
        XCTAssertEqual(again, decoded as? NSDictionary)
        XCTAssertEqual(JSON.encodeString(["z": 1, "a": [true, 2.5, NSNull()], "m": "é"] as [String: Any]), #"{"a":[true,2.5,null],"m":"é","z":1}"#)
        XCTAssertEqual(JSON.encodeString(["x": Double.nan]), #"{"x":null}"#)
        XCTAssertEqual(Dates.iso(0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Dates.iso(1_706_745_599.5), "2024-01-31T23:59:59.500Z")
        XCTAssertEqual(Dates.parseDay("2024-02-29").map(Dates.day), "2024-02-29")
        XCTAssertNil(Dates.parseDay("2023-02-29"))
    }

    func testEndpointsNameEveryVariableOfTheSpec() {
        let env = sim.endpoints.environment
        for name in ["CLARI_API_KEY", "CLARI_PARTNER_KEY", "CLARI_BASE_URL", "CLARAVINE_API_KEY", "CLARAVINE_API_SECRET", "CLARAVINE_BASE_URL",
                     "QUANTIVE_API_TOKEN", "QUANTIVE_ACCOUNT_ID", "QUANTIVE_BASE_URL", "CORDIAL_API_KEY", "CORDIAL_BASE_URL",
                     "MEDIARITHMICS_API_TOKEN", "MEDIARITHMICS_BASE_URL", "MOONPORT_SIM_S3_URL"] {
            XCTAssertNotNil(env[name], name)
        }
        XCTAssertEqual(env["QUANTIVE_BASE_URL"], sim.endpoints.root + "/quantive/results/api")
        XCTAssertEqual(env["CLARI_BASE_URL"], sim.endpoints.baseURLs["clari"])
        XCTAssertTrue(sim.endpoints.exportLines.contains("export CORDIAL_API_KEY=\(SimulatorCredentials.cordialAPIKey)"))
    }
}
