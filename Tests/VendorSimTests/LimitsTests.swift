import Foundation
import NIOHTTP1
import XCTest

@testable import VendorSim

/// Limits and the states before a job finishes, on simulators running at real
/// speed (jobs take seconds, so nothing finishes during a test).
final class LimitsTests: XCTestCase {
    var sim: SimHarness!

    override func tearDown() {
        sim?.shutdown()
        sim = nil
        super.tearDown()
    }

    private func submit(_ n: Int) async throws -> Reply {
        try await sim.send(.POST, "/clari/v4/export/forecast/pipeline", headers: Auth.clari,
                           json: ["timePeriod": "2024_Q\(n % 4 + 1)", "typesToExport": ["forecast"], "scopeId": "scope-\(n)"])
    }

    func testClariConcurrencyAndMonthlyQuota() async throws {
        sim = try SimHarness { $0.speed = 1; $0.clariConcurrentLimit = 3; $0.clariMonthlyQuota = 5 }
        var jobs: [String] = []
        for i in 0..<3 {
            let r = try await submit(i)
            XCTAssertEqual(r.status, 200, r.text)
            jobs.append(try XCTUnwrap(r.object.str("jobId")))
        }
        let over = try await submit(3)
        XCTAssertEqual(over.status, 400)
        XCTAssertEqual(over.object.str("code"), "export_monthly_quota_reached")
        XCTAssertEqual(over.object.str("namespace"), "exports")
        XCTAssertEqual(over.object.str("message"), "The monthly quota limit of 5 or concurrent limit of 3 has been reached.")

        var limits = try await sim.send(.GET, "/clari/v4/admin/limits", headers: Auth.clari).object.dict("jobs")
        XCTAssertEqual(limits.num("concurrentLimit"), 3)
        XCTAssertEqual(limits.num("monthlyQuota"), 5)
        XCTAssertEqual(limits["runningJobIds"] as? [String], jobs)
        XCTAssertEqual(limits["submittedJobIds"] as? [String], jobs)
        XCTAssertEqual(limits.num("availableConcurrentLimit"), 0)
        XCTAssertEqual(limits.num("availableMonthlyQuota"), 2)

        // Cancelling frees a slot.
        let cancel = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(jobs[0])", headers: Auth.clari, json: ["type": "CANCEL"])
        XCTAssertEqual(cancel.status, 200, cancel.text)
        XCTAssertEqual(cancel.object.str("status"), "CANCELLED")
        XCTAssertEqual(cancel.object["successful"] as? Bool, true)
        let fourth = try await submit(4)
        XCTAssertEqual(fourth.status, 200, fourth.text)
        let again = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(jobs[1])", headers: Auth.clari, json: ["type": "CANCEL"])
        XCTAssertEqual(again.status, 200)
        let sixthStatus = try await submit(5).status
        XCTAssertEqual(sixthStatus, 200)

        // Five submitted: the quota is spent even with a free slot.
        _ = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(jobs[2])", headers: Auth.clari, json: ["type": "CANCEL"])
        let spent = try await submit(6)
        XCTAssertEqual(spent.status, 400)
        XCTAssertEqual(spent.object.str("code"), "export_monthly_quota_reached")
        limits = try await sim.send(.GET, "/clari/v4/admin/limits", headers: Auth.clari).object.dict("jobs")
        XCTAssertEqual(limits.num("availableMonthlyQuota"), 0)
        XCTAssertEqual((limits["submittedJobIds"] as? [String])?.count, 5)
        XCTAssertEqual((limits["runningJobIds"] as? [String])?.count, 2)

        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("created").dict("clari").num("export_jobs"), 5, "refused submissions create nothing")
    }

    func testStatesBeforeJobsFinishAndCancel() async throws {
        sim = try SimHarness { $0.speed = 1 }
        // Clari: no results before DONE; cancel a job in flight; cancelling twice is refused.
        let r = try await submit(0)
        let job = try XCTUnwrap(r.object.str("jobId"))
        let status = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)", headers: Auth.clari)
        XCTAssertEqual(status.object.str("status"), "SCHEDULED")  // the job is flat (001_5f3c65e90f1cda6d.txt:409)
        let early = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        XCTAssertEqual(early.status, 400)
        XCTAssertEqual(early.object.str("code"), "invalid_jobId")
        let cancelStatus = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(job)", headers: Auth.clari, json: ["type": "CANCEL"]).status
        XCTAssertEqual(cancelStatus, 200)
        let after = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)", headers: Auth.clari)
        XCTAssertEqual(after.object.str("status"), "CANCELLED")
        let twice = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(job)", headers: Auth.clari, json: ["type": "CANCEL"])
        XCTAssertEqual(twice.status, 400)
        let wrongType = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(job)", headers: Auth.clari, json: ["type": "PAUSE"])
        XCTAssertEqual(wrongType.status, 400)

        // Claravine: data only once Complete.
        let t = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine,
                                   json: ["transactionName": "early", "fields": ["campaign_id", "campaign_name", "channel"], "rows": [["C1", "Spring", "search"]]])
        let tid = try XCTUnwrap(t.object.str("transactionUuid"), t.text)
        let st = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/\(tid)/status/", headers: Auth.claravine)
        XCTAssertEqual(st.object.str("status"), "Pending")
        let data = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transaction/\(tid)/data/", headers: Auth.claravine)
        XCTAssertEqual(data.status, 400)
        XCTAssertEqual(data.object.str("code"), "transaction_not_complete")

        // mediarithmics: cancel a PENDING execution.
        let exec = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports", headers: Auth.mediarithmics,
                                      json: ["document_type": "USER_ACTIVITY", "mime_type": "APPLICATION_X_NDJSON", "encoding": "utf-8", "name": "Cancel me"])
        let importId = try XCTUnwrap(exec.object.dict("data").str("id"))
        let e = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports/\(importId)/executions", headers: Auth.mediarithmics,
                                   body: Array("{\"$user_account_id\":\"u1\"}\n".utf8), contentType: "application/x-ndjson")
        let execId = try XCTUnwrap(e.object.dict("data").str("id"), e.text)
        XCTAssertEqual(e.object.dict("data").str("status"), "PENDING")
        let c = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports/\(importId)/executions/\(execId)/action",
                                   headers: Auth.mediarithmics, json: ["action": "CANCEL"])
        XCTAssertEqual(c.status, 200, c.text)
        XCTAssertEqual(c.object.dict("data").str("status"), "CANCELED")
        let g = try await sim.send(.GET, "/mediarithmics/v1/datamarts/1502/document_imports/\(importId)/executions/\(execId)", headers: Auth.mediarithmics)
        XCTAssertEqual(g.object.dict("data").str("status"), "CANCELED")
        let c2 = try await sim.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports/\(importId)/executions/\(execId)/action",
                                    headers: Auth.mediarithmics, json: ["action": "CANCEL"])
        XCTAssertEqual(c2.status, 400)
        XCTAssertEqual(c2.object.str("status"), "error")
    }

    func testPerMinuteRateLimitsAnswer429WithTheVendorsHeaders() async throws {
        sim = try SimHarness { $0.speed = 1; $0.rateLimits = ["claravine": 2, "cordial": 2, "clari": 2] }

        // Claravine: X-RateLimit-Limit / -Remaining on every answer.
        let a = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(a.header("X-RateLimit-Limit"), "2")
        XCTAssertEqual(a.header("X-RateLimit-Remaining"), "1")
        let b = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(b.header("X-RateLimit-Remaining"), "0")
        let c = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(c.status, 429)
        XCTAssertEqual(c.header("X-RateLimit-Limit"), "2")
        XCTAssertEqual(c.header("X-RateLimit-Remaining"), "0")
        XCTAssertNotNil(c.object.str("message"))

        // Cordial: per endpoint and method; Retry-After and X-Rate-Limit-*.
        for _ in 0..<2 {
            let ok = try await sim.send(.GET, "/cordial/v2/jobs", headers: Auth.cordial)
            XCTAssertEqual(ok.status, 200)
            XCTAssertEqual(ok.header("X-Rate-Limit-Limit"), "2")
        }
        let limited = try await sim.send(.GET, "/cordial/v2/jobs", headers: Auth.cordial)
        XCTAssertEqual(limited.status, 429)
        let retry = try XCTUnwrap(limited.header("Retry-After").flatMap(Int.init))
        XCTAssertTrue((1...60).contains(retry))
        XCTAssertEqual(limited.header("X-Rate-Limit-Limit"), "2")
        XCTAssertEqual(limited.header("X-Rate-Limit-Remaining"), "0")
        XCTAssertNotNil(limited.header("X-Rate-Limit-Reset").flatMap(Int.init))
        XCTAssertEqual(limited.object["error"] as? Bool, true)
        XCTAssertEqual(limited.object.str("errorKey"), "TOO_MANY_REQUESTS")
        let otherEndpoint = try await sim.send(.GET, "/cordial/v2/jobs/000000000000000000000000", headers: Auth.cordial)
        XCTAssertEqual(otherEndpoint.status, 404, "another endpoint has its own allowance")

        // Clari ingestion: the 429 body is [{errorCode: TOO_MANY_REQUESTS}].
        let body: [[String: Any]] = [["sourceEntity": "Opportunity", "records": [["id": "1", "createdAt": 1, "updatedAt": 2]]]]
        for _ in 0..<2 { _ = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity", headers: Auth.clariIngest, json: body) }
        let clari = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity", headers: Auth.clariIngest, json: body)
        XCTAssertEqual(clari.status, 429)
        XCTAssertEqual((clari.array.first as? [String: Any])?.str("errorCode"), "TOO_MANY_REQUESTS")
        XCTAssertNotNil(clari.header("Retry-After"))
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("created").dict("clari").num("records_received"), 2, "a refused request has no effect")
    }
}
