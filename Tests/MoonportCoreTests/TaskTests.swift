import Foundation
import LuaBridge
import MoonportCore
import XCTest

final class TaskTests: XCTestCase {
    func testSpawnAndWaitReturnEveryResultAndCanWaitTwice() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local h = task.spawn(function(a, b) task.sleep(0.01) return a + b, "two", nil, 4 end, 1, 2)
            local a, b, c, d = task.wait(h)
            local a2 = task.wait(h)
            return a, b, c, d, a2, select("#", task.wait(h))
            """)
        XCTAssertEqual(v, [3, "two", nil, 4, 3, 4])
    }

    func testWaitingTasksOverlap() throws {
        let start = Date()
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local hs = {}
            for i = 1, 50 do hs[i] = task.spawn(function() task.sleep(0.2) return i end) end
            local sum = 0
            for i = 1, 50 do sum = sum + task.wait(hs[i]) end
            return sum
            """)
        XCTAssertEqual(v, [1275])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5, "50 sleeps of 0.2 s ran at the same time")
    }

    func testMapKeepsOrderAndRespectsTheConcurrencyLimit() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local active, most = 0, 0
            local out = task.map({5, 4, 3, 2, 1, 6, 7, 8, 9, 10}, function(x, i)
              active = active + 1
              most = math.max(most, active)
              task.sleep(0.001 * x)
              active = active - 1
              return x * 10 + i
            end, {concurrency = 3})
            return table.concat(out, ","), most
            """)
        XCTAssertEqual(v, ["51,42,33,24,15,66,77,88,99,110", 3])
    }

    func testMapRaisesTheFailureOfTheLowestIndexAndStartsNothingAfter() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local started = 0
            local ok, e = pcall(task.map, {1, 2, 3, 4, 5, 6, 7, 8}, function(x)
              started = started + 1
              task.sleep(0.03 * x)  -- 1 ends first (3 starts), then 2 fails: no item after it starts
              if x == 2 or x == 3 then error("item " .. x .. " failed", 0) end
              return x
            end, {concurrency = 2})
            return ok, e, started
            """)
        XCTAssertEqual(v[0], false)
        XCTAssertEqual(v[1], "item 2 failed")
        XCTAssertEqual(v[2], 3, "items 1 and 2 ran together, 3 started when 1 finished, nothing after the failure")
    }

    func testAllAndArgumentChecks() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local r = task.all({function() task.sleep(0.02) return "a" end, function() return "b" end})
            local ok1, e1 = pcall(task.all, {function() end, 42})
            local ok2, e2 = pcall(task.map, {}, "not a function")
            local ok3, e3 = pcall(task.sleep, -1)
            local ok4, e4 = pcall(task.wait, {})
            local ok5, e5 = pcall(task.map, {1}, print, {concurrency = 0})
            return r[1] .. r[2], e1.kind, e1.message, e2.message, e3.kind, e4.message, e5.message
            """)
        XCTAssertEqual(v[0], "ab")
        XCTAssertEqual(v[1], "validation")
        XCTAssertEqual(v[2], "task.all: item 2 must be a function, got number")
        XCTAssertEqual(v[3], "task.map: argument #2 (fn) must be a function, got string")
        XCTAssertEqual(v[4], "validation")
        XCTAssertEqual(v[5], "task.wait: argument #1 (task) must be a moonport.task, got table")
        XCTAssertEqual(v[6], "task.map: concurrency must be an integer >= 1, got 0")
    }

    func testErrorsSurfaceAtWaitWithTheTasksTraceback() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local moonport = require "moonport"
            local function deep() error(moonport.error("network", "connection reset")) end
            local h = task.spawn(function() task.sleep(0.01) deep() end)
            local ok, e = pcall(task.wait, h)
            local s = task.spawn(function() error("plain string") end)
            local ok2, e2 = pcall(task.wait, s)
            return ok, e.kind, e.message, e.traceback, ok2, e2
            """, name: "@tasks.lua")
        XCTAssertEqual(v[0], false)
        XCTAssertEqual(v[1], "network")
        XCTAssertEqual(v[2], "connection reset")
        let traceback = v[3].stringValue ?? ""
        XCTAssertTrue(traceback.contains("tasks.lua:3: connection reset"), traceback)
        XCTAssertTrue(traceback.contains("in upvalue 'deep'") || traceback.contains("in local 'deep'"), traceback)
        XCTAssertEqual(v[4], false)
        XCTAssertTrue(v[5].stringValue?.hasPrefix("tasks.lua:6: plain string\nstack traceback:") == true, "\(v[5])")
    }

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

    func testWaitingWorksInsidePcallAndTheScriptsOwnCoroutines() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            local h = task.spawn(function() task.sleep(0.01) return 5 end)
            local gen = coroutine.wrap(function()
              local ok, x = pcall(task.wait, h)
              coroutine.yield(x)
              task.sleep(0.01)
              coroutine.yield(x * 2)
            end)
            local self_ok, self_err = pcall(function()
              local me
              me = task.spawn(function() task.sleep(0.01) return pcall(task.wait, me) end)
              return task.wait(me)
            end)
            local ok, err = task.wait(task.spawn(function()
              local me2
              return pcall(task.wait, coroutine.running())
            end))
            return gen(), gen(), self_ok
            """)
        XCTAssertEqual(v, [5, 10, true])
    }

    func testManyFinishedTasksAreCollected() throws {
        let v = try MoonportHost().evaluate("""
            local task = require "task"
            collectgarbage()
            local before = collectgarbage("count")
            for round = 1, 20 do
              local hs = {}
              for i = 1, 1000 do hs[i] = task.spawn(function() return i end) end
              for i = 1, 1000 do task.wait(hs[i]) end
            end
            collectgarbage() collectgarbage()
            return collectgarbage("count") - before
            """)
        guard case .number(let growthKB) = v[0] else { return XCTFail("\(v)") }
        XCTAssertLessThan(growthKB, 512, "20,000 finished tasks left \(growthKB) KB behind")
    }
}
