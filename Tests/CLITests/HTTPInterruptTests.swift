import Foundation
import XCTest

/// Ctrl-C while requests are in flight cancels them and exits 130 at once.
final class HTTPInterruptTests: XCTestCase {
    func testCtrlCCancelsRequestsInFlight() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let base = server.base
        let start = Date()
        let r = try MoonportProcess.run(["run", "-e", """
            local http, task = require "http", require "task"
            task.map({1, 2, 3, 4}, function() return http.get("\(base)/slow?secs=30", {timeout = 60}).status end, {concurrency = 4})
            print("not reached")
            """], interruptAfter: 1.0)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        XCTAssertFalse(r.stdout.contains("not reached"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 15, "the 30 s requests were cancelled, not waited out")
    }
}
