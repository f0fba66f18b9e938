import Foundation
import XCTest

/// deploy/ (the container build, the Kubernetes CronJob, the Airflow DAG),
/// checked by Tests/Support/deploy_check.py as far as can be done here: see
/// that file for what is validated and what needs a tool that may be absent
/// (kubernetes-validate, Airflow), which it reports as skipped.
final class DeployTests: XCTestCase {
    func testDeployFilesParseAndMapExitCodesToRetries() throws {
        let root = LuaScriptTests.root
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ProcessInfo.processInfo.environment["MOONPORT_DEPLOY_PYTHON"] ?? "python3"
        process.arguments = [python, root.appendingPathComponent("Tests/Support/deploy_check.py").path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(text)
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("ok   CronJob: concurrencyPolicy Forbid"), text)
        XCTAssertTrue(text.contains("ok   DAG: exit code 0 succeeds, 4/130/143 are retried"), text)
        XCTAssertTrue(text.contains("ok   Dockerfile:"), text)
    }
}
