import Foundation
import XCTest

/// `moonport run -v` logs every HTTP exchange to stderr, secrets masked, against a
/// real loopback server (Tests/Support/http_test_server.py).
final class HTTPVerboseTests: XCTestCase {
    /// Starts the test server; returns the process and its base URL.
    static func startServer() throws -> (Process, Pipe, String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/http_test_server.py")
        let process = Process()
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + [script.path]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw NSError(domain: "HTTPVerboseTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no port from the test server"])
        }
        return (process, input, "http://127.0.0.1:\(port)")
    }

    func testVerboseLogsEachExchangeWithoutSecrets() throws {
        let (server, input, base) = try Self.startServer()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            try? input.fileHandleForWriting.close()
        }
        let folder = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("fetch.lua")
        try MoonportProcess.write("""
            local http = require "http"
            local base = arg[1]
            local auth = {Authorization = "Bearer TOKEN-XYZZY", ["X-Api-Key"] = "KEY-PLUGH"}
            local res = http.get(base .. "/json?api_key=SECRETQ&page=2", {headers = auth})
            local res2 = http.get(base .. "/status/503-then-200?page=v&token=SECRETT", {headers = auth, retry = {attempts = 3, base = 0.01}})
            print(res.status, res2.status, res2.attempts)
            """, to: script)
        let r = try MoonportProcess.run(["run", "-v", script.path, base], timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "200\t200\t2\n")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        let first = lines.filter { $0.contains("GET \(base)/json?api_key=***&page=2 200 52 B") }
        XCTAssertEqual(first.count, 1, r.stderr)
        if let line = first.first {
            XCTAssertNotNil(line.range(of: #" \d+ ms \(attempt 1\)"#, options: .regularExpression), line)
        }
        let retried = lines.filter { $0.contains("GET \(base)/status/503-then-200?page=v&token=*** ") && $0.contains(" B ") && $0.contains(" ms (attempt") }
        XCTAssertEqual(retried.count, 2, r.stderr)
        XCTAssertTrue(retried.first?.contains(" 503 ") ?? false, r.stderr)
        XCTAssertTrue(retried.first?.contains("(attempt 1)") ?? false, r.stderr)
        XCTAssertTrue(retried.last?.contains(" 200 ") ?? false, r.stderr)
        XCTAssertTrue(retried.last?.contains("(attempt 2)") ?? false, r.stderr)
        for secret in ["TOKEN-XYZZY", "KEY-PLUGH", "SECRETQ", "SECRETT"] {
            XCTAssertFalse(r.stderr.contains(secret), "\(secret) leaked: \(r.stderr)")
        }
    }
}
