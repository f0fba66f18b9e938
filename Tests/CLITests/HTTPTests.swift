import Foundation
import XCTest

/// The `http` module against real loopback servers (TestHTTPServer), no
/// mocked transport: the Lua test files Tests/lua/http/*_test.lua, each run
/// by LuaTestFile with the servers' addresses in its environment
/// (Tests/lua/lib/http_server.lua reads them).
final class HTTPTests: XCTestCase {
    var server: TestHTTPServer!
    /// A second server: another origin (redirects, rate-limit budgets).
    var other: TestHTTPServer!

    override func setUpWithError() throws {
        server = try TestHTTPServer()
        other = try TestHTTPServer()
    }

    override func tearDown() {
        server?.stop()
        other?.stop()
        server = nil
        other = nil
    }

    var environment: [String: String] {
        ["MOONPORT_TEST_HTTP_URL": server.base, "MOONPORT_TEST_HTTP_OTHER_URL": other.base,
         "MOONPORT_TEST_CLOSED_PORT": String(TestHTTPServer.closedPort())]
    }

    func testRequests() throws { try LuaTestFile.run("http/requests_test.lua", environment: environment) }
    func testDownloads() throws { try LuaTestFile.run("http/download_test.lua", environment: environment) }
    func testUploads() throws { try LuaTestFile.run("http/upload_test.lua", environment: environment) }
    func testAuth() throws { try LuaTestFile.run("http/auth_test.lua", environment: environment) }
}
