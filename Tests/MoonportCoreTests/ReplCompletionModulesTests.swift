import LuaBridge
import MoonportCore
import XCTest

/// Issue 14: `require "clar<Tab>` completes module names; moonport's
/// internals (_def, _expose, moonport.* modules) stay out of completion.
final class ReplCompletionModulesTests: XCTestCase {
    func testRequireCompletesModuleNames() {
        let s = ReplSession(host: MoonportHost())
        XCTAssertEqual(s.complete("require \"clar").candidates, ["claravine", "clari"])
        XCTAssertEqual(s.complete("local q = require('quan").candidates, ["quantive"])
        XCTAssertEqual(s.complete("require 'work").insertion, "flow")
        XCTAssertFalse(s.complete("require \"").candidates.contains { $0.hasPrefix("moonport.") })
        // The parts of a built-in kept in files of their own are not offered.
        XCTAssertFalse(s.complete("require \"").candidates.contains { $0.hasPrefix("clari.") || $0.hasSuffix(".native") })
        XCTAssertTrue(s.complete("require \"moonport.pa").candidates.contains("moonport.paging"))
        // not a require: ordinary completion (nothing in a string)
        XCTAssertEqual(s.complete("print \"clar").candidates, [])
    }

    func testInternalsStayOutOfCompletion() {
        let s = ReplSession(host: MoonportHost())
        _ = s.feed("clari = require 'clari'")
        let all = s.complete("clari.").candidates
        XCTAssertTrue(all.contains("export"), "\(all)")
        XCTAssertFalse(all.contains { $0.hasPrefix("_") }, "\(all)")
        // asked for by their "_": shown
        XCTAssertTrue(s.complete("clari._").candidates.contains("_def"))
    }
}
