import Foundation
import NIOHTTP1
import XCTest

@testable import VendorSim

final class ClaravineTests: SimTestCase {

    private func submit(_ dataset: String, _ name: String, fields: [String], rows: [[Any]]) async throws -> Reply {
        try await sim.send(.POST, "/claravine/v1/datasets/\(dataset)/data", headers: Auth.claravine,
                           json: ["transactionName": name, "fields": fields, "rows": rows])
    }

    private func waitFor(_ dataset: String, _ id: String) async throws -> [String] {
        try await sim.poll("/claravine/v1/datasets/\(dataset)/transactions/\(id)/status/", headers: Auth.claravine,
                           terminal: ["Complete", "Failed"]) { $0.object.str("status") }
    }

    /// 000_cbb1a42faebe38eb.txt:45 and :49: "the list of ... uuid's": bare uuid strings in the default reading.
    func testDatasetsAndTransactionsList() async throws {
        let r = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(Set(r.array.compactMap { $0 as? String }), ["ds-forecasts", "ds-campaigns", "ds-creatives"])

        let seeded = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        XCTAssertEqual(seeded.array.count, 4)
        let first = try XCTUnwrap(seeded.array.first as? String)
        let status = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/\(first)/status/", headers: Auth.claravine)
        XCTAssertEqual(status.object.str("status"), "Complete")

        let data = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transaction/\(first)/data/", headers: Auth.claravine)
        XCTAssertEqual(data.status, 200)
        XCTAssertEqual((data.object["fields"] as? [String])?.first, "campaign_id")
        XCTAssertFalse((data.object["rows"] as? [[Any]] ?? []).isEmpty)

        let badDate = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/?start-date=yesterday", headers: Auth.claravine)
        XCTAssertEqual(badDate.status, 400)
        let future = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/?start-date=2999-01-01&end-date=2999-12-31",
                                        headers: Auth.claravine)
        XCTAssertEqual(future.array.count, 0)
        let missing = try await sim.send(.GET, "/claravine/v1/datasets/ds-nope/transactions/", headers: Auth.claravine)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.object.str("code"), "not_found")
    }

    func testSubmitCompletesAndDataComesBack() async throws {
        let fields = ["campaign_id", "campaign_name", "channel", "region"]
        let rows: [[Any]] = [["C-1", "Spring launch", "search", "NA"], ["C-2", "Summer", "social", ""]]
        let r = try await submit("ds-campaigns", "Load 1", fields: fields, rows: rows)
        XCTAssertEqual(r.status, 200, r.text)
        let id = try XCTUnwrap(r.object.str("transactionUuid"))
        assertInOrder(try await waitFor("ds-campaigns", id), ["Pending", "Complete"], ending: "Complete")
        let data = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transaction/\(id)/data/", headers: Auth.claravine)
        XCTAssertEqual(data.object["fields"] as? [String], fields)
        XCTAssertEqual((data.object["rows"] as? [[String]]), rows as? [[String]])
        let day = Dates.day(Date().timeIntervalSince1970)
        let list = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/?start-date=\(day)&end-date=\(day)", headers: Auth.claravine)
        XCTAssertTrue(list.array.contains { $0 as? String == id })
    }

    func testRowsThatBreakARuleFailTheTransaction() async throws {
        let fields = ["campaign_id", "campaign_name", "channel"]
        let cases: [(String, [String], [[Any]])] = [
            ("short row", fields, [["C-1", "A", "search"], ["C-2", "B"]]),
            ("empty required", fields, [["C-1", "", "search"]]),
            ("null required", fields, [["C-1", NSNull(), "search"]]),
            ("missing required field", ["campaign_id", "campaign_name"], [["C-1", "A"]]),
        ]
        for (name, f, rows) in cases {
            let r = try await submit("ds-campaigns", name, fields: f, rows: rows)
            XCTAssertEqual(r.status, 200, "invalid data is accepted, then fails silently: \(r.text)")
            let id = try XCTUnwrap(r.object.str("transactionUuid"))
            let final = try await waitFor("ds-campaigns", id).last
            XCTAssertEqual(final, "Failed", name)
        }
    }

    func testValidationErrorsAndAuth() async throws {
        let rows = (0...1000).map { i -> [Any] in ["C-\(i)", "n", "search"] }
        let tooMany = try await submit("ds-campaigns", "big", fields: ["campaign_id", "campaign_name", "channel"], rows: rows)
        XCTAssertEqual(tooMany.status, 400)
        XCTAssertEqual(tooMany.object.str("code"), "too_many_rows")
        let exactly = try await submit("ds-campaigns", "exactly 1000", fields: ["campaign_id", "campaign_name", "channel"], rows: Array(rows.prefix(1000)))
        XCTAssertEqual(exactly.status, 200)

        let shapes: [[String: Any]] = [
            ["transactionName": "x", "fields": "campaign_id", "rows": []],
            ["transactionName": "x", "fields": ["campaign_id"], "rows": ["C-1"]],
            ["transactionName": "x", "fields": [], "rows": []],
            ["fields": ["campaign_id"], "rows": []],
        ]
        for body in shapes {
            let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine, json: body)
            XCTAssertEqual(r.status, 400, "\(body)")
            XCTAssertEqual(r.object.str("code"), "validation_error")
        }
        for headers in [[], [("X-Api-Key", SimulatorCredentials.claravineAPIKey), ("X-Api-Secret", "wrong")],
                        [("X-Api-Key", SimulatorCredentials.claravineAPIKey)]] {
            let r = try await sim.send(.GET, "/claravine/v1/datasets", headers: headers)
            XCTAssertEqual(r.status, 401)
            XCTAssertEqual(r.object.str("code"), "unauthorized")
        }
    }

    /// `moonport sim --list-variants` shows the help strings to users: they name the
    /// vendor's documentation, never the project's copy of it (file:line stays in code comments).
    func testVariantHelpNamesTheVendorsDocumentationNotSeedFiles() {
        for v in ClaravineSim.variants + QuantiveSim.variants {
            XCTAssertFalse(v.help.contains(".txt"), "\(v.key): \(v.help)")
            XCTAssertFalse(v.help.range(of: #"\b00[0-9]_"#, options: .regularExpression) != nil, "\(v.key): \(v.help)")
            XCTAssertTrue(v.help.contains("Claravine's API documentation") || v.help.contains("Quantive's API documentation"),
                          "\(v.key): \(v.help)")
        }
    }
}

/// The readings Claravine's article leaves open: listings as objects, the
/// create answer `{uuid}`, the status as a bare word.
final class ClaravineObjectsVariantTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) {
        config.variants = ["claravine.listing": "objects", "claravine.create_answer": "uuid", "claravine.status": "word"]
    }

    func testObjectsUuidAnswerAndStatusWord() async throws {
        let ds = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertTrue(ds.array.allSatisfy { ($0 as? [String: Any])?.str("name") != nil })
        let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine,
                                   json: ["transactionName": "Objects", "fields": ["campaign_id", "campaign_name", "channel"],
                                          "rows": [["C-1", "A", "search"]]])
        XCTAssertNil(r.object["transactionUuid"])
        let id = try XCTUnwrap(r.object.str("uuid"))
        let words = try await sim.poll("/claravine/v1/datasets/ds-campaigns/transactions/\(id)/status/", headers: Auth.claravine,
                                       terminal: ["Complete", "Failed"]) { $0.text }
        XCTAssertEqual(words.last, "Complete")
        let list = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        let mine = try XCTUnwrap(list.array.compactMap { $0 as? [String: Any] }.first { $0.str("uuid") == id })
        XCTAssertEqual(mine.str("name"), "Objects")
        for key in ["status", "createdAt"] { XCTAssertNotNil(mine[key], key) }
    }
}

final class ClaravineWrappedVariantTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) { config.variants = ["claravine.listing": "wrapped"] }

    func testWrappedListings() async throws {
        let ds = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual((ds.object["datasets"] as? [[String: Any]])?.count, 3)
        let tx = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        XCTAssertEqual((tx.object["transactions"] as? [[String: Any]])?.count, 4)
    }
}

/// 000_cbb1a42faebe38eb.txt:49 "the list of transaction/submissions UUIDs": objects with
/// a name but no status and no creation time (`claravine.listing=names_only`).
final class ClaravineNamesOnlyVariantTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) { config.variants = ["claravine.listing": "names_only"] }

    func testNamesWithoutStatusOrCreationTime() async throws {
        let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine,
                                   json: ["transactionName": "Names only", "fields": ["campaign_id", "campaign_name", "channel"],
                                          "rows": [["C-1", "A", "search"]]])
        let id = try XCTUnwrap(r.object.str("transactionUuid"))
        let list = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        let items = list.array.compactMap { $0 as? [String: Any] }
        XCTAssertEqual(items.count, 5, "the 4 seeded transactions and ours")
        for item in items { XCTAssertEqual(Set(item.keys), ["uuid", "name"]) }
        XCTAssertEqual(items.first { $0.str("uuid") == id }?.str("name"), "Names only")
        let ds = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(ds.array.compactMap { ($0 as? [String: Any])?.str("name") }.count, 3)
    }
}

final class QuantiveTests: SimTestCase {
    let base = "/quantive/results/api/v1"

    private func currentSession() async throws -> String {
        let r = try await sim.send(.GET, base + "/sessions", headers: Auth.quantive)
        let items = r.object["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.count, 3)
        return try XCTUnwrap(items.first { $0.str("status") == "open" }?.str("id"))
    }

    func testGoalLifecycle() async throws {
        let session = try await currentSession()
        let created = try await sim.send(.POST, base + "/goals", headers: Auth.quantive,
                                         json: ["name": "Win 40 new logos", "sessionId": session, "description": "d", "tags": [["title": "sales"]]])
        XCTAssertEqual(created.status, 200, created.text)
        let id = try XCTUnwrap(created.object.str("id"))
        XCTAssertEqual(created.object.str("name"), "Win 40 new logos")

        let got = try await sim.send(.GET, base + "/goals/\(id)", headers: Auth.quantive)
        XCTAssertEqual(got.object.str("sessionId"), session)

        let patched = try await sim.send(.PATCH, base + "/goals/\(id)", headers: Auth.quantive, json: ["description": "updated"])
        XCTAssertEqual(patched.object.str("description"), "updated")
        XCTAssertEqual(patched.object.str("name"), "Win 40 new logos")

        let filter = "{\"name\":\"Win 40 new logos\",\"sessionId\":\"\(session)\"}".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let found = try await sim.send(.GET, base + "/goals?filter=\(filter)&fields=name,sessionId", headers: Auth.quantive)
        XCTAssertEqual(found.object.num("totalCount"), 1)
        let item = try XCTUnwrap((found.object["items"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(item.keys), ["id", "name", "sessionId"])

        let deleted = try await sim.send(.DELETE, base + "/goals/\(id)", headers: Auth.quantive)
        XCTAssertEqual(deleted.status, 204)
        let gone = try await sim.send(.GET, base + "/goals/\(id)", headers: Auth.quantive)
        XCTAssertEqual(gone.status, 404)
        XCTAssertNotNil(gone.object.str("message"))
    }

    func testListPagingSortAndValidation() async throws {
        let all = try await sim.send(.GET, base + "/goals?sort=name", headers: Auth.quantive)
        let names = (all.object["items"] as? [[String: Any]] ?? []).compactMap { $0.str("name") }
        XCTAssertGreaterThanOrEqual(names.count, 12)
        XCTAssertEqual(names, names.sorted())
        let page = try await sim.send(.GET, base + "/goals?sort=-name&skip=2&limit=3", headers: Auth.quantive)
        let pageNames = (page.object["items"] as? [[String: Any]] ?? []).compactMap { $0.str("name") }
        XCTAssertEqual(pageNames, Array(names.sorted(by: >).dropFirst(2).prefix(3)))
        XCTAssertEqual(page.object.num("totalCount"), names.count)

        let zeroLimit = try await sim.send(.GET, base + "/goals?limit=0", headers: Auth.quantive).status
        XCTAssertEqual(zeroLimit, 400)
        let badFilter = try await sim.send(.GET, base + "/goals?filter=notjson", headers: Auth.quantive).status
        XCTAssertEqual(badFilter, 400)
        let session = try await currentSession()
        let noName = try await sim.send(.POST, base + "/goals", headers: Auth.quantive, json: ["sessionId": session])
        XCTAssertEqual(noName.status, 400)
        XCTAssertNotNil(noName.object.str("message"))
        let badSession = try await sim.send(.POST, base + "/goals", headers: Auth.quantive, json: ["name": "x", "sessionId": "nope"])
        XCTAssertEqual(badSession.status, 400)
    }

    /// 002_f300338cc4b71af8.txt:43-51: GET /v1/goals?tags=Test Tag → {items} holding the goals with that tag.
    func testFilterByTag() async throws {
        let session = try await currentSession()
        let created = try await sim.send(.POST, base + "/goals", headers: Auth.quantive,
                                         json: ["name": "New Objective", "sessionId": session, "tags": [["title": "Test Tag"]]])
        let id = try XCTUnwrap(created.object.str("id"))
        let r = try await sim.send(.GET, base + "/goals?tags=Test%20Tag", headers: Auth.quantive)
        let items = r.object["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.compactMap { $0.str("id") }, [id])
        let none = try await sim.send(.GET, base + "/goals?tags=No%20such%20tag", headers: Auth.quantive)
        XCTAssertEqual((none.object["items"] as? [Any])?.count, 0)
        _ = try await sim.send(.DELETE, base + "/goals/\(id)", headers: Auth.quantive)
    }

    func testAuthFailures() async throws {
        let noToken = try await sim.send(.GET, base + "/goals", headers: [("gtmhub-accountId", SimulatorCredentials.quantiveAccountID)])
        XCTAssertEqual(noToken.status, 401)
        XCTAssertNotNil(noToken.object.str("message"))
        let wrongToken = try await sim.send(.GET, base + "/goals", headers: [("Authorization", "Bearer nope"), ("gtmhub-accountId", SimulatorCredentials.quantiveAccountID)])
        XCTAssertEqual(wrongToken.status, 401)
        let wrongAccount = try await sim.send(.GET, base + "/goals", headers: [("Authorization", "Bearer " + SimulatorCredentials.quantiveAPIToken), ("gtmhub-accountId", "other")])
        XCTAssertEqual(wrongAccount.status, 403)
        XCTAssertNotNil(wrongAccount.object.str("message"))
    }
}

/// The paging readings Quantive's examples leave open: a page-size cap,
/// skip ignored, no totalCount.
final class QuantivePagingVariantTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) {
        config.variants = ["quantive.page_cap": "50", "quantive.skip": "ignored", "quantive.total": "absent"]
    }

    func testCapSkipIgnoredAndNoTotal() async throws {
        let base = "/quantive/results/api/v1"
        let sessions = try await sim.send(.GET, base + "/sessions", headers: Auth.quantive)
        let session = try XCTUnwrap((sessions.object["items"] as? [[String: Any]])?.first?.str("id"))
        for i in 0..<55 {
            let r = try await sim.send(.POST, base + "/goals", headers: Auth.quantive, json: ["name": "Bulk \(i)", "sessionId": session])
            XCTAssertEqual(r.status, 200)
        }
        let first = try await sim.send(.GET, base + "/goals?limit=100", headers: Auth.quantive)
        let items = first.object["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.count, 50, "capped at 50 whatever limit asks")
        XCTAssertNil(first.object["totalCount"])
        let second = try await sim.send(.GET, base + "/goals?limit=100&skip=50", headers: Auth.quantive)
        XCTAssertEqual((second.object["items"] as? [[String: Any]])?.first?.str("id"), items.first?.str("id"), "skip ignored")
        let small = try await sim.send(.GET, base + "/goals?limit=10", headers: Auth.quantive)
        XCTAssertEqual((small.object["items"] as? [Any])?.count, 10)
    }
}

/// 002_f300338cc4b71af8.txt:29 reads only the new goal's id: goals without dates
/// (`quantive.goal_dates=absent`) in every answer that carries a goal.
final class QuantiveGoalDatesVariantTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) { config.variants = ["quantive.goal_dates": "absent"] }

    func testGoalsWithoutDates() async throws {
        let base = "/quantive/results/api/v1"
        let sessions = try await sim.send(.GET, base + "/sessions", headers: Auth.quantive)
        let session = try XCTUnwrap((sessions.object["items"] as? [[String: Any]])?.first?.str("id"))
        let created = try await sim.send(.POST, base + "/goals", headers: Auth.quantive, json: ["name": "Dateless", "sessionId": session])
        XCTAssertEqual(created.status, 200, created.text)
        let id = try XCTUnwrap(created.object.str("id"))
        let got = try await sim.send(.GET, base + "/goals/\(id)", headers: Auth.quantive)
        let patched = try await sim.send(.PATCH, base + "/goals/\(id)", headers: Auth.quantive, json: ["description": "d"])
        let listed = try await sim.send(.GET, base + "/goals", headers: Auth.quantive)
        let items = listed.object["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.count, 13, "the 12 seeded goals and ours")
        for goal in [created.object, got.object, patched.object] + items {
            XCTAssertNil(goal["dateCreated"], "\(goal)")
            XCTAssertNil(goal["dateModified"], "\(goal)")
            XCTAssertNotNil(goal["id"])
        }
    }
}
