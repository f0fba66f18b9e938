import CLua
import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// A Swift object handed to Lua, counting how many are alive.
final class Counter: LuaObject {
    static let luaTypeName = "test.Counter"
    nonisolated(unsafe) static var alive = 0
    var value: Int64 = 0
    init() { Counter.alive += 1 }
    deinit { Counter.alive -= 1 }
}

final class BridgeTests: XCTestCase {
    private func host() -> MoonportHost { MoonportHost() }

    /// Registers a global Swift function on the host.
    private func define(_ host: MoonportHost, _ name: String, _ body: @escaping LuaFunctionBody) {
        let lua = host.lua
        lua.pushGlobals()
        lua.setFunction(-1, name, body)
        lua.pop()
    }

    // MARK: values both ways

    func testValuesFromLuaKeepTheirTypes() throws {
        let h = host()
        let values = try h.evaluate(#"return 42, 1.5, 2^53, math.maxinteger, math.mininteger, "a\0b\255", true, nil, {1, 2, x = {y = "z"}}"#)
        XCTAssertEqual(values[0], .integer(42))
        XCTAssertEqual(values[1], .number(1.5))
        XCTAssertEqual(values[2], .number(9007199254740992.0))
        XCTAssertEqual(values[3], .integer(Int64.max))
        XCTAssertEqual(values[4], .integer(Int64.min))
        XCTAssertEqual(values[5], .string([0x61, 0, 0x62, 0xFF]), "strings are bytes, not necessarily UTF-8")
        XCTAssertEqual(values[6], .boolean(true))
        XCTAssertEqual(values[7], .nil)
        XCTAssertEqual(values[8][1], .integer(1))
        XCTAssertEqual(values[8]["x"]["y"], "z")
    }

    func testValuesFromSwiftKeepTheirTypes() throws {
        let h = host()
        define(h, "make") { call in
            call.results(.integer(Int64.min), .number(0.1), .string([0xC3, 0x28]), .record(["list": .array([1, 2, 3])]))
        }
        let v = try h.evaluate("""
            local i, f, s, t = make()
            return math.type(i), i == math.mininteger, math.type(f), f == 0.1, #s, s:byte(1), #t.list, t.list[3]
            """)
        XCTAssertEqual(v, ["integer", true, "float", true, 2, 0xC3, 3, 3])
    }

    func testArgumentCheckingNamesTheArgument() throws {
        let h = host()
        define(h, "greet") { call in
            let name = try call.string(1, "name")
            let times = try call.integer(2, "times")
            return call.results(.text(String(repeating: name, count: Int(times))))
        }
        XCTAssertEqual(try h.evaluate("return greet('ab', 2)"), ["abab"])
        let v = try h.evaluate("""
            local ok, e = pcall(greet, {}, 2)
            local ok2, e2 = pcall(greet, 'x', 1.5)
            return ok, e.kind, e.message, ok2, e2.message
            """)
        XCTAssertEqual(v[0], false)
        XCTAssertEqual(v[1], "validation")
        XCTAssertEqual(v[2], "greet: argument #1 (name) must be a string, got table")
        XCTAssertEqual(v[3], false)
        XCTAssertEqual(v[4], "greet: argument #2 (times) must be an integer, got number")
    }

    // MARK: errors through Swift frames

    func testSwiftErrorsBecomeErrorObjectsWithPosition() throws {
        let h = host()
        define(h, "fail") { _ in
            throw LuaError(.http, "server said no", vendor: "clari", status: 503, code: "busy", retryable: true)
        }
        let v = try h.evaluate("""
            local ok, e = pcall(function() fail() end)
            local ok2, e2 = pcall(fail) -- called from a C function: the position of the Lua code around it
            assert(tostring(e2) == "errors.lua:2: server said no", tostring(e2))
            return ok, e.kind, e.vendor, e.status, e.code, e.retryable, tostring(e), getmetatable(e) ~= nil
            """, name: "@errors.lua")
        XCTAssertEqual(v, [false, "http", "clari", 503, "busy", true, "errors.lua:1: server said no", true])
    }

    func testUncaughtErrorHasMessageAndTraceback() throws {
        let h = host()
        define(h, "fail") { _ in throw LuaError.validation("bad input") }
        XCTAssertThrowsError(try h.evaluate("""
            local function inner() fail() end
            local function outer() inner() end
            outer()
            """, name: "@script.lua")) { error in
            let message = (error as? ScriptError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("script.lua:1: bad input\nstack traceback:"), message)
            XCTAssertTrue(message.contains("script.lua:1: in "), message)
            XCTAssertTrue(message.contains("script.lua:2: in "), message)
            XCTAssertTrue(message.contains("script.lua:3: in main chunk"), message)
        }
    }

    func testLuaErrorsRaisedInsideCallbacksPassThroughSwift() throws {
        let h = host()
        // A Swift function that calls back into Lua under pcall and re-raises.
        define(h, "call_back") { call in
            try call.function(1, "callback")
            call.lua.pushValue(at: 1)
            guard call.lua.pcall(0, 1) == LUA_OK else { throw LuaErrorOnStack() }
            return .results(1)
        }
        XCTAssertEqual(try h.evaluate("return call_back(function() return 7 end)"), [7])
        let v = try h.evaluate("local ok, e = pcall(call_back, function() error('deep') end) return ok, e")
        XCTAssertEqual(v[0], false)
        XCTAssertTrue(v[1].stringValue?.contains("deep") == true)
        // The state is still usable after errors crossed the bridge many times.
        XCTAssertEqual(try h.evaluate("""
            local n = 0
            for i = 1, 10000 do if not pcall(call_back, function() error('x') end) then n = n + 1 end end
            return n
            """), [10000])
    }

    // MARK: userdata

    func testUserdataMethodsAndNoLeakAcrossAMillionCalls() throws {
        let h = host()
        let lua = h.lua
        lua.registerObjectType(Counter.self, methods: [
            "add": { call in
                let c = try call.object(1, "self", as: Counter.self)
                c.value += try call.integer(2, "n")
                return call.results(.integer(c.value))
            }
        ])
        define(h, "counter") { call in
            call.lua.push(object: Counter())
            return .results(1)
        }
        XCTAssertEqual(Counter.alive, 0)
        let v = try h.evaluate("""
            local total = 0
            for i = 1, 1000000 do
              local c = counter()
              total = total + c:add(1)
            end
            local keep = counter()
            keep:add(41)
            local ok, e = pcall(keep.add, "not a counter", 1)
            return total, keep:add(1), ok, e.message
            """)
        XCTAssertEqual(v[0], 1_000_000)
        XCTAssertEqual(v[1], 42)
        XCTAssertEqual(v[2], false)
        XCTAssertEqual(v[3], "test.Counter:add: argument #1 (self) must be a test.Counter, got string")
        _ = try h.evaluate("collectgarbage() collectgarbage()")
        XCTAssertEqual(Counter.alive, 0, "every userdata released its Swift object")
    }

    // MARK: suspending coroutines

    private func defineSleep(_ h: MoonportHost) {
        define(h, "sleep_ms") { call in
            let ms = try call.integer(1, "ms")
            return try call.suspend({
                try await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000)
                return ms
            }, deliver: { lua, value in
                lua.push(value)
                return 1
            })
        }
        define(h, "fail_later") { call in
            let message = try call.string(1, "message")
            return try call.suspend({ () async throws -> Int in
                try await Task.sleep(nanoseconds: 1_000_000)
                throw LuaError(.network, message, retryable: true)
            }, deliver: { _, _ in 0 })
        }
    }

    func testHundredTasksSleepingAtOnceTakeOneSleep() throws {
        let h = host()
        defineSleep(h)
        let lua = h.lua
        _ = try h.evaluate("results = {}")
        try h.load(chunk: "local i = ... results[i] = sleep_ms(200) + i", name: "=task")
        let chunk = lua.ref()
        let start = Date()
        var tasks: [LuaTask] = []
        for i in 1...100 {
            lua.pushRef(chunk)
            lua.push(i)
            tasks.append(h.runtime.spawn(nargs: 1))
        }
        h.runtime.runUntilIdle()
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(tasks.allSatisfy(\.isFinished))
        XCTAssertLessThan(elapsed, 2.0, "the 100 sleeps overlapped")
        XCTAssertEqual(try h.evaluate("local s = 0 for i = 1, 100 do s = s + results[i] end return s"), [.integer(100 * 200 + 5050)])
    }

    func testAsyncErrorsAreCatchableAndWaitingWorksInsidePcallAndCoroutines() throws {
        let h = host()
        defineSleep(h)
        let v = try h.evaluate("""
            local ok, e = pcall(fail_later, "connection reset")
            local co = coroutine.wrap(function(a)
              local x = sleep_ms(5)
              local y = coroutine.yield(a + x)
              return y + sleep_ms(1)
            end)
            local first = co(1)
            local second = co(100)
            local t = coroutine.create(function() return sleep_ms(2) end)
            local rok, r = coroutine.resume(t)
            return ok, e.kind, e.message, e.retryable, first, second, rok, r, coroutine.status(t)
            """)
        XCTAssertEqual(v, [false, "network", "connection reset", true, 6, 101, true, 2, "dead"])
    }

    func testWaitingWhereLuaCannotYieldIsAClearError() throws {
        let h = host()
        defineSleep(h)
        let v = try h.evaluate("""
            local ok, e = pcall(table.sort, {3, 2, 1}, function(a, b) sleep_ms(1) return a < b end)
            return ok, e.kind, e.message
            """)
        XCTAssertEqual(v[0], false)
        XCTAssertEqual(v[1], "usage")
        XCTAssertTrue(v[2].stringValue?.contains("sleep_ms cannot wait here") == true, "\(v[2])")
    }

    func testArgIsSetRawlySoNoMetamethodRunsFromSwift() throws {
        let h = host()
        _ = try h.evaluate("""
            setmetatable(_G, {__newindex = function(_, k) error("no new globals: " .. k) end})
            """)
        // lua_setglobal would call __newindex here, from a Swift frame, and
        // its error would longjmp over Swift (with no pcall: a panic).
        h.setArguments(script: "job.lua", arguments: ["a", "b"], interpreter: "moonport")
        let v = try h.evaluate("return arg[0], arg[1], arg[2], arg[-1], pcall(function() newglobal = 1 end)")
        XCTAssertEqual(Array(v.prefix(5)), ["job.lua", "a", "b", "moonport", false])
    }

    func testYieldAtTopLevelIsAnErrorAsInStockLua() throws {
        let h = host()
        XCTAssertThrowsError(try h.evaluate("coroutine.yield(1)")) { error in
            XCTAssertTrue("\(error)".contains("attempt to yield from outside a coroutine"), "\(error)")
        }
    }
}
