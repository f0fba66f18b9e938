import Foundation
import XCTest

/// `moonport state list | show | forget | clear` against PostgreSQL
/// (--state postgres://...): the same tests as on SQLite.
final class PostgresStateCommandTests: StateCommandTests {
    override var shown: String { TestPostgres.shown(database) }
    /// As the error message quotes it for a shell (the URL has a '?').
    override var shownWord: String { "'" + shown + "'" }
    override func makeDatabase() throws -> String { try TestPostgres.freshDatabase() }

    override func tearDown() {
        if let database { TestPostgres.drop(database) }
        super.tearDown()
    }

    /// `clear --namespace NAME` removes that namespace's keys alone.
    func testClearOfOneNamespaceKeepsTheOthers() throws {
        for name in ["team_a.lua", "team_b.lua"] {
            let url = folder.appendingPathComponent(name)
            try MoonportProcess.write("require('state').once('load', function() return 1 end)", to: url)
            let r = try MoonportProcess.run(["run", "--state", database, url.path], directory: folder)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let before = try state(["list"])
        XCTAssertTrue(before.stdout.contains("2 step(s) done"), before.stdout)
        let clear = try state(["--namespace", "team_a", "clear", "--yes"])
        XCTAssertEqual(clear.status, 0, clear.stderr)
        let after = try state(["list"])
        XCTAssertTrue(after.stdout.contains("1 step(s) done") && after.stdout.contains("team_b"), after.stdout)
        XCTAssertFalse(after.stdout.contains("team_a"), after.stdout)
    }
}
