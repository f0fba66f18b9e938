import Foundation
import XCTest

/// The PostgreSQL of the tests of `--state postgres://...`:
/// $MOONPORT_TEST_POSTGRES_URL, which scripts/test.sh (and so CI) sets after
/// starting a throwaway server. Each test gets a database of its own.
enum TestPostgres {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "MOONPORT_TEST_POSTGRES_URL is not set under CI: scripts/test.sh starts a PostgreSQL for these tests"
        }
    }

    static var url: String? {
        guard let v = ProcessInfo.processInfo.environment["MOONPORT_TEST_POSTGRES_URL"], !v.isEmpty else { return nil }
        return v
    }

    /// A new, empty database; skips the test when there is no PostgreSQL
    /// (except under CI, where that is a failure).
    static func freshDatabase() throws -> String {
        guard let url else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw Missing() }
            throw XCTSkip("no PostgreSQL: set MOONPORT_TEST_POSTGRES_URL (scripts/test.sh starts one)")
        }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try psql(url, "CREATE DATABASE \(name)")
        return with(database: String(name), in: url)
    }

    static func drop(_ databaseURL: String) {
        guard let url, let name = URLComponents(string: databaseURL)?.path.dropFirst(), !name.isEmpty else { return }
        try? psql(url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// `url` naming another database.
    static func with(database: String, in url: String) -> String {
        var parts = URLComponents(string: url)!
        parts.path = "/" + database
        return parts.string!
    }

    /// The URL as moonport shows it: without user and password.
    static func shown(_ url: String) -> String {
        var parts = URLComponents(string: url)!
        parts.user = nil
        parts.password = nil
        return parts.string!
    }

    /// Runs one statement with psql (Debian's postgresql-client).
    static func psql(_ url: String, _ sql: String) throws {
        var parts = URLComponents(string: url)!
        parts.query = nil
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-q", "-v", "ON_ERROR_STOP=1", parts.string!, "-c", sql]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw NSError(domain: "psql", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "psql \(sql): \(why)"])
        }
    }
}
