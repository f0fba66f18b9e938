import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// What `task` needs the host for: the end of the script. The rest of
/// `task` is tested in Lua (Tests/lua/task_test.lua, LuaScriptTests.testTask).
final class TaskTests: XCTestCase {
    func testAFailedTaskNobodyWaitedForFailsTheScript() throws {
        let host = MoonportHost()
        try host.load(chunk: """
            local task = require "task"
            task.spawn(function() task.sleep(0.01) error("lost in the background") end)
            task.spawn(function() return "fine" end)
            """, name: "@bg.lua")
        guard case .failure(let message) = host.execute() else { return XCTFail("the failure was swallowed") }
        XCTAssertTrue(message.contains("a task that nothing waited for failed (task started at bg.lua:2)"), message)
        XCTAssertTrue(message.contains("bg.lua:2: lost in the background"), message)
    }

    func testTasksWaitingForEachOtherAreReportedNotHung() throws {
        let host = MoonportHost()
        try host.load(chunk: """
            local task = require "task"
            local a, b
            a = task.spawn(function() task.sleep(0.01) task.wait(b) end)
            b = task.spawn(function() task.sleep(0.01) task.wait(a) end)
            task.wait(a)
            """, name: "@deadlock.lua")
        guard case .failure(let message) = host.execute() else { return XCTFail("expected a failure") }
        XCTAssertTrue(message.contains("never finished"), message)
    }
}
