import Foundation
import XCTest

/// Runs the built `moonport` binary as a child process, as a user would.
enum MoonportProcess {
    /// The executable next to the test bundle (swift test builds it too).
    static var executable: URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("moonport")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        // Fallback: the package's default debug build.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/moonport")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs moonport with arguments; `interruptAfter` sends `signal` (SIGINT,
    /// or SIGKILL for a crash) after that many seconds.
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
        directory: URL? = nil, interruptAfter: TimeInterval? = nil, signal: Int32 = SIGINT, timeout: TimeInterval = 60
    ) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a full pipe never blocks the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if let interruptAfter {
            Thread.sleep(forTimeInterval: interruptAfter)
            kill(process.processIdentifier, signal)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            process.terminate()
            XCTFail("moonport \(arguments) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        group.wait()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a Lua test file (Tests/lua/...) under `moonport run --sandbox`
    /// with the test library on the path, in a folder of its own; returns
    /// the result after checking it exited 0 and printed "N passed, 0 failed".
    @discardableResult
    static func runLuaTest(_ relativePath: String, environment extra: [String: String] = [:],
                           file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let root = LuaScriptTests.root
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(
            ["run", "--sandbox", "--state", dir.appendingPathComponent("state.sqlite").path,
             "-I", root.appendingPathComponent("Tests/lua/lib").path, root.appendingPathComponent(relativePath).path],
            environment: ["MOONPORT_SIM_SPEED": "20", "TMPDIR": dir.path].merging(extra) { $1 }, directory: dir, timeout: 300)
        let label = extra.isEmpty ? relativePath : "\(relativePath) with \(extra.keys.sorted().map { "\($0)=\(extra[$0]!)" }.joined(separator: " "))"
        XCTAssertEqual(r.status, 0, "\(label):\n\(r.stdout)\(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stdout.contains(" passed, 0 failed") && !r.stdout.contains("\n0 passed") && !r.stdout.hasPrefix("0 passed"),
                      "\(label): \(r.stdout)\(r.stderr)", file: file, line: line)
        return r
    }

    /// A fresh temporary folder.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("moonport-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}
