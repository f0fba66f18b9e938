import CLua
import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// The Lua heap limit (MOONPORT_LUA_MEMORY_LIMIT_MB) and what an allocation
/// failure does: under Lua a catchable "not enough memory"; under Swift the
/// process stops with a clear message and exit 1, never a longjmp through a
/// Swift frame (see moonport_shim.h).
final class MemoryLimitTests: XCTestCase {
    private static let limitVariable = "MOONPORT_LUA_MEMORY_LIMIT_MB"

    func testTheLimitIsReadFromTheEnvironment() {
        setenv(Self.limitVariable, "24", 1)
        XCTAssertEqual(LuaRuntime.configuredMemoryLimit, 24 << 20)
        setenv(Self.limitVariable, "none", 1)
        XCTAssertNil(LuaRuntime.configuredMemoryLimit, "not a number: no limit")
        unsetenv(Self.limitVariable)
        XCTAssertNil(LuaRuntime.configuredMemoryLimit)
    }

    /// (a) in this process: too much memory asked by Lua code, also inside a
    /// Lua function that Swift calls under pcall, is Lua's ordinary
    /// catchable error, and the state goes on working.
    func testOutOfMemoryUnderLuaIsACatchableError() throws {
        setenv(Self.limitVariable, "32", 1)
        let h = MoonportHost()
        unsetenv(Self.limitVariable)
        let lua = h.lua
        // Calls its argument under pcall from Swift and keeps the status and
        // message. It pushes nothing after: the heap is at its limit until
        // Lua collects, and an allocation from Swift would stop the process.
        final class Seen { var status: Int32 = -1, message = "" }
        let seen = Seen()
        lua.pushGlobals()
        lua.setFunction(-1, "call_from_swift") { call in
            try call.function(1, "f")
            let lua = call.lua
            lua.pushValue(at: 1)
            seen.status = lua.pcall(0, 0)
            seen.message = lua.toString(-1) ?? ""
            lua.top = 0
            return .results(0)
        }
        lua.pop()
        let v = try h.evaluate("""
            local ok, e = pcall(string.rep, "x", 64 * 1024 * 1024)
            call_from_swift(function()
              local t = {}
              for i = 1, 1e9 do t[i] = ("y"):rep(200) .. i end
            end)
            collectgarbage()
            return ok, e, #string.rep("z", 1000)
            """)
        XCTAssertEqual(v[0], false)
        XCTAssertEqual(v[1], "not enough memory")
        XCTAssertEqual(seen.status, LUA_ERRMEM, seen.message)
        XCTAssertEqual(seen.message, "not enough memory")
        XCTAssertEqual(v[2], 1000, "the state works after both failures")
    }

    /// (a) and (b) in a child process (`moonport run` with a 16 MiB limit):
    /// Lua's own allocation failure is caught by pcall; then json.encode
    /// (Swift) pushes an 18 MiB string, and the process stops with the
    /// message and exit code 1 (not a signal, not a longjmp through Swift).
    func testOutOfMemoryWhileSwiftPushesStopsTheProcessWithAClearMessage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("moonport-oom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("oom.lua")
        try """
            local json = require "json"
            local ok, e = pcall(string.rep, "x", 64 * 1024 * 1024)
            print("pure Lua: " .. tostring(ok) .. ", " .. tostring(e))
            local s = string.rep("x", 3 * 1024 * 1024)
            print("before encode")
            local out = json.encode({s, s, s, s, s, s})
            print("after encode " .. #out)
            """.write(to: script, atomically: true, encoding: .utf8)

        let limited = try runMoonport(["run", script.path], environment: [Self.limitVariable: "16"])
        print("limited run: exit \(limited.status) (\(limited.reason)), stdout \(limited.stdout.debugDescription), stderr \(limited.stderr.debugDescription)")
        XCTAssertEqual(limited.reason, "exit", "ended by exit, not by a signal")
        XCTAssertEqual(limited.status, 1)
        XCTAssertEqual(limited.stdout, "pure Lua: false, not enough memory\nbefore encode\n")
        XCTAssertTrue(
            limited.stderr.hasPrefix("moonport: out of memory in the Lua state ("), limited.stderr)
        XCTAssertTrue(limited.stderr.hasSuffix(" MiB, limit 16 MiB); stopping\n"), limited.stderr)

        let unlimited = try runMoonport(["run", script.path], environment: [:])
        XCTAssertEqual(unlimited.status, 0, unlimited.stderr)
        XCTAssertTrue(unlimited.stdout.hasSuffix("after encode \(6 * (3 * 1024 * 1024 + 2) + 7)\n"), unlimited.stdout)
    }

    private struct Outcome {
        var status: Int32
        var reason: String
        var stdout: String
        var stderr: String
    }

    /// The built `moonport` (next to the test bundle, or .build/debug).
    private var moonport: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("moonport")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/moonport")
    }

    private func runMoonport(_ arguments: [String], environment: [String: String]) throws -> Outcome {
        let process = Process()
        process.executableURL = moonport
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env[Self.limitVariable] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("moonport-oom-\(UUID().uuidString).out")
        let err = out.appendingPathExtension("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            reason: process.terminationReason == .exit ? "exit" : "signal",
            stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8))
    }
}
