import Foundation
import XCTest

/// `moonport run --trace FILE` (and `repl --trace`): one redacted NDJSON
/// line per HTTP attempt, mode 0600; no secret in the trace, in -v stderr or
/// in error messages.
final class HTTPTraceTests: XCTestCase {
    static let secrets = [
        "TRACE-BEARER-111", "TRACE-ACCT-222", "TRACE-PW-333", "TRACE-QKEY-444", "TRACE-NESTED-555",
        "TRACE-FORM-666", "TRACE-BASICPW-777", "TRACE-ECHO-888",
    ]

    func withServer(_ body: (String) throws -> Void) throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        try body(base)
    }

    /// The trace's lines, each parsed (fails the test on a line that is not a JSON object).
    func traceLines(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"), "the last line is whole", file: file, line: line)
        return try text.split(separator: "\n").map { l in
            let object = try JSONSerialization.jsonObject(with: Data(l.utf8))
            guard let dict = object as? [String: Any] else {
                XCTFail("not a JSON object: \(l)", file: file, line: line)
                return [:]
            }
            return dict
        }
    }

    func testAStreamedUploadIsTracedAsASummaryWithSecretFieldsMasked() throws {
        try withServer { base in
            let folder = try MoonportProcess.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let trace = folder.appendingPathComponent("trace.ndjson")
            let data = folder.appendingPathComponent("data.json")
            try MoonportProcess.write(String(repeating: "{\"row\": 1}\n", count: 1000), to: data)
            let r = try MoonportProcess.run(["run", "-v", "--trace", trace.path, "-e", """
                local http = require "http"
                local res = http.post("\(base)/multipart", {multipart = {
                  {name = "api_key", value = "TRACE-MPART-999"}, {name = "FileData", file = "\(data.path)"}}})
                assert(res:json().parts[2].size == 11000)
                """], timeout: 60)
            XCTAssertEqual(r.status, 0, r.stderr)
            let raw = try String(contentsOf: trace, encoding: .utf8)
            XCTAssertFalse(raw.contains("TRACE-MPART-999"), raw)
            XCTAssertFalse(r.stderr.contains("TRACE-MPART-999"), r.stderr)
            let line = try traceLines(trace).first ?? [:]
            XCTAssertEqual(line["request_body"] as? String,
                           "<multipart: api_key=***; FileData=<file \(data.path), 11000 bytes>>", raw)
            XCTAssertEqual(line["request_body_bytes"] as? Int, 11319)
            XCTAssertTrue(((line["request_headers"] as? [String: String])?["content-type"] ?? "").hasPrefix("multipart/form-data; boundary="))
        }
    }

    func testTraceRecordsEveryAttemptRedacted() throws {
        try withServer { base in
            let folder = try MoonportProcess.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let trace = folder.appendingPathComponent("trace.ndjson")
            let download = folder.appendingPathComponent("out.bin")
            let script = LuaScriptTests.root.appendingPathComponent("Tests/lua/support/http_trace.lua")
            let closed = TestHTTPServer.closedPort()
            let r = try MoonportProcess.run(["run", "-v", "--trace", trace.path, script.path, base, String(closed), download.path],
                                            timeout: 60)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix("false\t"), r.stdout)
            XCTAssertTrue(r.stdout.contains("Invalid authentication credentials: ***"), r.stdout)
            XCTAssertTrue(r.stderr.contains("Invalid authentication credentials: ***"), r.stderr)

            // Mode 0600.
            let attributes = try FileManager.default.attributesOfItem(atPath: trace.path)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)

            let raw = try String(contentsOf: trace, encoding: .utf8)
            for secret in Self.secrets {
                XCTAssertFalse(raw.contains(secret), "\(secret) is in the trace:\n\(raw)")
                XCTAssertFalse(r.stderr.contains(secret), "\(secret) is in stderr:\n\(r.stderr)")
                XCTAssertFalse(r.stdout.contains(secret), "\(secret) is in stdout:\n\(r.stdout)")
            }
            let basicPair = Data("svc-user:TRACE-BASICPW-777".utf8).base64EncodedString()
            XCTAssertFalse(raw.contains(basicPair))
            XCTAssertFalse(r.stderr.contains(basicPair))

            let lines = try traceLines(trace)
            // 2 posts, 503 + 200, download, refused, echo-auth twice.
            XCTAssertEqual(lines.count, 8, raw)
            for line in lines {
                for field in ["time", "method", "url", "attempt", "request_headers", "duration_ms"] {
                    XCTAssertNotNil(line[field], "\(field) missing in \(line)")
                }
                XCTAssertTrue(line["status"] != nil || line["error"] != nil, "neither status nor error: \(line)")
                if line["status"] != nil { XCTAssertNotNil(line["response_headers"], "\(line)") }
                XCTAssertNotNil((line["time"] as? String).flatMap { ISO8601DateFormatter.withFractions.date(from: $0) }, "\(line)")
            }
            guard lines.count == 8 else { return }

            let post = lines[0]
            XCTAssertEqual(post["method"] as? String, "POST")
            XCTAssertEqual(post["status"] as? Int, 200)
            XCTAssertEqual(post["url"] as? String, "\(base)/echo?api_key=***&page=2")
            let headers = post["request_headers"] as? [String: String] ?? [:]
            XCTAssertEqual(headers["authorization"], "***")
            XCTAssertEqual(headers["x-account-id"], "***")
            XCTAssertEqual(headers["content-type"], "application/json")
            let body = post["request_body"] as? [String: Any] ?? [:]
            XCTAssertEqual(body["password"] as? String, "***")
            XCTAssertEqual(body["name"] as? String, "visible-name")
            let nested = ((body["nested"] as? [String: Any])?["list"] as? [[String: Any]])?.first
            XCTAssertEqual(nested?["api_token"] as? String, "***")
            XCTAssertGreaterThan(post["request_body_bytes"] as? Int ?? 0, 0)
            let echoed = post["response_body"] as? [String: Any] ?? [:]
            XCTAssertEqual((echoed["headers"] as? [String: Any])?["authorization"] as? String, "***")
            XCTAssertEqual(echoed["method"] as? String, "POST")
            XCTAssertNotNil(post["response_body_bytes"] as? Int)

            let form = lines[1]
            XCTAssertEqual(form["request_body"] as? String, "client_secret=***&grant=x")

            XCTAssertEqual(lines[2]["status"] as? Int, 503)
            XCTAssertEqual(lines[2]["attempt"] as? Int, 1)
            XCTAssertEqual(lines[3]["status"] as? Int, 200)
            XCTAssertEqual(lines[3]["attempt"] as? Int, 2)

            XCTAssertEqual(lines[4]["streamed_bytes"] as? Int, 5000)
            XCTAssertNil(lines[4]["response_body"])

            XCTAssertNil(lines[5]["status"])
            XCTAssertTrue((lines[5]["error"] as? String ?? "").contains("refused"), "\(lines[5])")

            XCTAssertEqual(lines[6]["status"] as? Int, 401)
            XCTAssertEqual((lines[6]["response_body"] as? [String: Any])?["message"] as? String,
                           "Invalid authentication credentials: ***")
        }
    }

    func testTraceAppendsAndWorksInTheREPL() throws {
        try withServer { base in
            let folder = try MoonportProcess.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let trace = folder.appendingPathComponent("t.ndjson")
            let chunk = "print(require('http').get('\(base)/json', {auth = {header = 'X-Api-Key', value = 'REPL-KEY-999'}}).status)\n"
            // The REPL's echo of a value holding the key masks it too (SPEC.md §4).
            let r1 = try MoonportProcess.run(["repl", "--trace", trace.path], stdin: chunk + "'the key is REPL-KEY-999'\n")
            XCTAssertEqual(r1.status, 0, r1.stderr)
            XCTAssertTrue(r1.stdout.hasPrefix("200\n"), r1.stdout)
            XCTAssertTrue(r1.stdout.contains("the key is ***"), r1.stdout)
            XCTAssertFalse(r1.stdout.contains("REPL-KEY-999"), r1.stdout)
            let r2 = try MoonportProcess.run(["run", "--trace", trace.path, "-e", chunk])
            XCTAssertEqual(r2.status, 0, r2.stderr)
            let lines = try traceLines(trace)
            XCTAssertEqual(lines.count, 2, "appended, not replaced")
            XCTAssertEqual((lines.first?["request_headers"] as? [String: String])?["x-api-key"], "***")
            XCTAssertFalse(try String(contentsOf: trace, encoding: .utf8).contains("REPL-KEY-999"))
        }
    }

    func testATraceFileThatCannotBeOpenedIsBadUsage() throws {
        let r = try MoonportProcess.run(["run", "--trace", "/nonexistent-dir/sub/trace.ndjson", "-e", "print(1)"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--trace"), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
