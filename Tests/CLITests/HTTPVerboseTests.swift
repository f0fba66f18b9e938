import Foundation
import XCTest

/// `moonport run -v` logs every HTTP exchange to stderr, secrets masked, against a
/// real loopback server (TestHTTPServer).
final class HTTPVerboseTests: XCTestCase {
    func testVerboseLogsEachExchangeWithoutSecrets() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        let script = LuaScriptTests.root.appendingPathComponent("Tests/lua/support/http_verbose.lua")
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
