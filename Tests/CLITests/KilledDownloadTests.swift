import Foundation
import XCTest

/// A download killed with SIGKILL while its temporary file exists leaves
/// nothing behind once the same script is rerun with the same state: the
/// vendors' downloads write through moonport.file_writer (the Swift atomic
/// writer), whose next write of the same path removes a dead run's
/// temporary file. The simulator is a `moonport sim` child, so that the jobs
/// the state database names outlive the killed run.
final class KilledDownloadTests: XCTestCase {
    func testKilledClaravineDownloadLeavesNoTemporaryFileAfterRerun() throws { try killAndRerun("claravine") }
    func testKilledQuantiveDownloadLeavesNoTemporaryFileAfterRerun() throws { try killAndRerun("quantive") }
    func testKilledMediarithmicsDownloadLeavesNoTemporaryFileAfterRerun() throws { try killAndRerun("mediarithmics") }

    private func killAndRerun(_ vendor: String) throws {
        let dir = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let output = outDir.appendingPathComponent("\(vendor).json")

        // Speed 10: jobs move fast, a `slow` answer still takes 0.2 s.
        let previousSpeed = ProcessInfo.processInfo.environment["MOONPORT_SIM_SPEED"]
        setenv("MOONPORT_SIM_SPEED", "10", 1)
        let (sim, simEnv) = try AuthCheckTests.startSim()
        if let previousSpeed { setenv("MOONPORT_SIM_SPEED", previousSpeed, 1) } else { unsetenv("MOONPORT_SIM_SPEED") }
        defer { sim.interrupt(); sim.waitUntilExit() }
        XCTAssertNotNil(simEnv["MOONPORT_SIM_URL"])

        let root = LuaScriptTests.root
        let arguments = ["run", "--state", dir.appendingPathComponent("state.sqlite").path,
                         "-I", root.appendingPathComponent("Tests/lua/lib").path,
                         root.appendingPathComponent("Tests/lua/support/killed_download.lua").path]
        var env = ProcessInfo.processInfo.environment.merging(simEnv) { $1 }
        env["KILL_VENDOR"] = vendor
        env["KILL_OUT"] = output.path
        env["HOME"] = dir.path
        env["XDG_CONFIG_HOME"] = ""

        // The first run: killed as soon as its temporary file exists.
        let first = Process()
        first.executableURL = MoonportProcess.executable
        first.arguments = arguments
        first.environment = env.merging(["KILL_SLOW": "1"]) { $1 }
        first.currentDirectoryURL = dir
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        var temporary: [String] = []
        let deadline = Date().addingTimeInterval(60)
        while temporary.isEmpty && first.isRunning && Date() < deadline {
            temporary = try temporaryFiles(in: outDir, besides: output.lastPathComponent)
            if temporary.isEmpty { usleep(2_000) }
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()  // reaped: its PID is dead for the rerun
        XCTAssertEqual(first.terminationReason, .uncaughtSignal, "\(vendor): the first run was killed, not finished")
        XCTAssertFalse(temporary.isEmpty, "\(vendor): the download's temporary file existed when the run was killed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "\(vendor): no output from the killed run")

        // The rerun, with the same state: the output is complete and alone.
        let rerun = try MoonportProcess.run(arguments, environment: env, directory: dir, timeout: 120)
        XCTAssertEqual(rerun.status, 0, "\(vendor) rerun:\n\(rerun.stdout)\(rerun.stderr)")
        XCTAssertEqual(try temporaryFiles(in: outDir, besides: output.lastPathComponent), [],
                       "\(vendor): a temporary file is left after the rerun")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outDir.path), [output.lastPathComponent])
        let data = try Data(contentsOf: output)
        let decoded = try JSONSerialization.jsonObject(with: data)
        switch vendor {
        case "claravine":
            let rows = (decoded as? [String: Any])?["rows"] as? [Any]
            XCTAssertGreaterThan(rows?.count ?? 0, 0, "the transaction's rows: \(String(decoding: data, as: UTF8.self))")
        case "quantive":
            XCTAssertGreaterThan((decoded as? [Any])?.count ?? 0, 0, "the goals: \(String(decoding: data, as: UTF8.self))")
        default:
            XCTAssertEqual((decoded as? [String: Any])?["status"] as? String, "SUCCEEDED",
                           "the execution's record: \(String(decoding: data, as: UTF8.self))")
        }
        XCTAssertTrue(rerun.stdout.contains("downloaded \(output.path): "), rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains(", \(data.count) bytes"), "the bytes reported are the file's: \(rerun.stdout)")
    }

    /// The files in `folder` other than `target`: what a killed write leaves.
    private func temporaryFiles(in folder: URL, besides target: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != target }.sorted()
    }
}
