import Crypto
import Foundation
import NIOHTTP1
import XCTest

@testable import VendorSim

final class ClariTests: SimTestCase {
    override class func configure(_ config: inout SimulatorConfig) { config.clariConcurrentLimit = 50 }

    private func exportForecast(_ id: String, _ body: [String: Any]) async throws -> String {
        let r = try await sim.send(.POST, "/clari/v4/export/forecast/\(id)", headers: Auth.clari, json: body)
        XCTAssertEqual(r.status, 200, r.text)
        return try XCTUnwrap(r.object.str("jobId"), r.text)
    }

    private func waitForJob(_ jobId: String) async throws -> [String] {
        try await sim.poll("/clari/v4/export/jobs/\(jobId)", headers: Auth.clari, terminal: ["DONE", "FAILED", "CANCELLED", "ABORTED"]) {
            $0.object.dict("job").str("status")
        }
    }

    private func assertExportError(_ r: Reply, _ status: Int, _ code: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        XCTAssertEqual(r.object.str("code"), code, r.text, file: file, line: line)
        XCTAssertEqual(r.object.str("namespace"), "exports", file: file, line: line)
        XCTAssertNotNil(r.object.str("errorId"), file: file, line: line)
        XCTAssertNotNil(r.object.str("message"), file: file, line: line)
        XCTAssertNotNil(r.object.str("orgId"), file: file, line: line)
    }

    func testForecastCSVExportMovesThroughStatusesAndHasHeaderThenRows() async throws {
        let job = try await exportForecast("net_new", ["timePeriod": "2024_Q1", "typesToExport": ["forecast", "quota"], "exportFormat": "CSV"])
        let seen = try await waitForJob(job)
        assertInOrder(seen, ["SCHEDULED", "STARTED", "DONE"], ending: "DONE")

        let status = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)", headers: Auth.clari)
        let j = status.object.dict("job")
        XCTAssertEqual(j.str("jobId"), job)
        XCTAssertEqual(j.str("fileType"), "CSV")
        XCTAssertEqual(j.str("module"), "forecast")
        for key in ["userId", "orgId", "title", "startTime", "endTime", "expiredTime", "fileName", "downloads"] {
            XCTAssertNotNil(j[key], "job field \(key)")
        }

        let r = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/csv") ?? false)
        let lines = r.text.split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init), ClariData.forecastColumns.joined(separator: ","))
        XCTAssertEqual(lines.count - 1, 12 * 2, "12 seeded users x 2 types")
        XCTAssertTrue(lines.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 10 })
        let again = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        XCTAssertEqual(again.body, r.body, "the same job gives the same file")
        let after = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)", headers: Auth.clari)
        XCTAssertEqual(after.object.dict("job").num("downloads"), 2)
    }

    func testForecastJSONIsHeaderRowThenDataRows() async throws {
        let job = try await exportForecast("renewals", ["timePeriod": "2024_Q2", "includeHistorical": true, "currency": "EUR"])
        _ = try await waitForJob(job)
        let r = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        XCTAssertEqual(r.header("Content-Type"), "application/json")
        let rows = try XCTUnwrap(r.json as? [[Any]])
        XCTAssertEqual(rows.first as? [String], ClariData.forecastColumns)
        XCTAssertEqual(rows.count - 1, 12 * 5, "12 users x (current + 4 weekly snapshots) x 1 type")
        XCTAssertEqual(rows[1][8] as? String, "EUR")
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.count == 10 && $0[7] is NSNumber })
    }

    func testSimRowsGivesExactlyNDataRows() async throws {
        let job = try await exportForecast("sim-rows-25", ["timePeriod": "2024_Q1", "typesToExport": ["forecast", "crm_total", "adjustment"], "exportFormat": "CSV"])
        _ = try await waitForJob(job)
        let r = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1 + 25 + 1, "header, 25 rows, empty after the last newline")
        XCTAssertEqual(lines[1].split(separator: ",")[6], "forecast")
        XCTAssertEqual(lines[2].split(separator: ",")[6], "crm_total")
        XCTAssertEqual(lines[4].split(separator: ",")[0], "sim-user-0000000002")

        let jsonJob = try await exportForecast("sim-rows-7", ["timePeriod": "2024_Q1"])
        _ = try await waitForJob(jsonJob)
        let j = try await sim.send(.GET, "/clari/v4/export/jobs/\(jsonJob)/results", headers: Auth.clari)
        XCTAssertEqual((j.json as? [[Any]])?.count, 8, j.text)
    }

    func testSimBytesSizeRangeAndRepeatability() async throws {
        let n = 3_000_000
        let job = try await exportForecast("sim-bytes-\(n)", ["timePeriod": "2024_Q3", "typesToExport": ["forecast", "crm_closed"]])
        _ = try await waitForJob(job)
        let path = "/clari/v4/export/jobs/\(job)/results"
        let full = try await sim.send(.GET, path, headers: Auth.clari)
        XCTAssertEqual(full.status, 200)
        XCTAssertEqual(full.header("Accept-Ranges"), "bytes")
        XCTAssertEqual(full.header("Content-Length"), String(full.body.count))
        XCTAssertLessThanOrEqual(full.body.count, n)
        XCTAssertGreaterThan(full.body.count, n - 400, "about N bytes")
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(full.body)) as? [[Any]])
        XCTAssertEqual(rows.first as? [String], ClariData.forecastColumns)

        let second = try await sim.send(.GET, path, headers: Auth.clari)
        XCTAssertEqual(SHA256.hash(data: second.body), SHA256.hash(data: full.body), "identical on every request")

        let part = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=1000000-1000999")])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.header("Content-Range"), "bytes 1000000-1000999/\(full.body.count)")
        XCTAssertEqual(part.body, Array(full.body[1_000_000..<1_001_000]))

        let open = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=2000000-")])
        XCTAssertEqual(open.status, 206)
        XCTAssertEqual(open.body, Array(full.body[2_000_000...]))

        let suffix = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=-10")])
        XCTAssertEqual(suffix.body, Array(full.body.suffix(10)))

        let etag = try XCTUnwrap(full.header("ETag"))
        let ifRange = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=5-9"), ("If-Range", etag)])
        XCTAssertEqual(ifRange.status, 206)
        let staleIfRange = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=5-9"), ("If-Range", "\"other\"")])
        XCTAssertEqual(staleIfRange.status, 200)

        let beyond = try await sim.send(.GET, path, headers: Auth.clari + [("Range", "bytes=\(full.body.count)-")])
        XCTAssertEqual(beyond.status, 416)
        XCTAssertEqual(beyond.header("Content-Range"), "bytes */\(full.body.count)")

        let head = try await sim.send(.HEAD, path, headers: Auth.clari)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(full.body.count))
        XCTAssertTrue(head.body.isEmpty)
    }

    func testExportValidationErrors() async throws {
        let base: [String: Any] = ["timePeriod": "2024_Q1"]
        func post(_ id: String, _ body: [String: Any]) async throws -> Reply {
            try await sim.send(.POST, "/clari/v4/export/forecast/\(id)", headers: Auth.clari, json: body)
        }
        assertExportError(try await post("net_new", base.merging(["typesToExport": ["forecast", "pipeline"]]) { $1 }), 400, "invalid_typesToExport")
        assertExportError(try await post("net_new", base.merging(["typesToExport": "forecast"]) { $1 }), 400, "invalid_typesToExport")
        assertExportError(try await post("net_new", base.merging(["exportFormat": "XML"]) { $1 }), 400, "invalid_exportFormat")
        assertExportError(try await post("net_new", base.merging(["schedule": "WEEKLY"]) { $1 }), 400, "invalid_schedule")
        assertExportError(try await post("net_new", ["typesToExport": ["forecast"]]), 400, "invalid_timePeriod")
        assertExportError(try await post("net_new", ["timePeriod": "2024-Q1"]), 400, "invalid_timePeriod")
        assertExportError(try await post("no_such_forecast", base), 404, "forecast_not_found")
        let notJSON = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, body: Array("{oops".utf8))
        assertExportError(notJSON, 400, "invalid_request")

        let activity: [String: Any] = ["activityTypes": ["MEETING"], "startDate": "2024-01-01", "endDate": "2024-01-31"]
        let csvActivity = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari,
                                             json: activity.merging(["exportFormat": "CSV"]) { $1 })
        assertExportError(csvActivity, 400, "invalid_exportFormat")
        let badType = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari,
                                         json: activity.merging(["activityTypes": ["CALL"]]) { $1 })
        assertExportError(badType, 400, "invalid_activityTypes")
        let badAudit = try await sim.send(.POST, "/clari/v4/export/audit/events", headers: Auth.clari, json: ["sessionType": "DESKTOP"])
        assertExportError(badAudit, 400, "invalid_sessionType")

        let stats = try await sim.stats()
        let stillZeroExports = stats.dict("created").dict("clari").num("export_jobs") ?? 0
        let jobs = try await sim.send(.GET, "/clari/v4/export/jobs", headers: Auth.clari)
        XCTAssertEqual((jobs.object["jobs"] as? [Any])?.count, stillZeroExports, "rejected exports create nothing")
    }

    func testAuthFailures() async throws {
        for headers in [[], [("apikey", "wrong")], [("Authorization", "Bearer " + SimulatorCredentials.clariAPIKey)]] {
            let r = try await sim.send(.GET, "/clari/v4/admin/limits", headers: headers)
            XCTAssertEqual(r.status, 401)
            XCTAssertEqual(r.object.str("message"), "Invalid authentication credentials")
        }
        let body: [[String: Any]] = [["sourceEntity": "Opportunity", "records": [["id": "1", "createdAt": 1, "updatedAt": 2]]]]
        let noPartner = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity", headers: Auth.clari, json: body)
        XCTAssertEqual(noPartner.status, 401)
        XCTAssertEqual(noPartner.object.str("message"), "Invalid authentication credentials")
        let wrongPartner = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity",
                                              headers: Auth.clari + [("partnerkey", "nope")], json: body)
        XCTAssertEqual(wrongPartner.status, 401)
    }

    func testCancelAfterDoneIsRefusedAndUnknownJobIs404() async throws {
        let job = try await exportForecast("expansion", ["timePeriod": "2025_Q4"])
        _ = try await waitForJob(job)
        let cancel = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(job)", headers: Auth.clari, json: ["type": "CANCEL"])
        assertExportError(cancel, 400, "invalid_job_state")
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/nope", headers: Auth.clari), 404, "job_not_found")
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/nope/results", headers: Auth.clari), 404, "job_not_found")
        let unknownPath = try await sim.send(.GET, "/clari/v4/nothing/here", headers: Auth.clari)
        XCTAssertEqual(unknownPath.status, 404)
        XCTAssertEqual(unknownPath.object.str("namespace"), "exports")
    }

    func testFailingForecastEndsFailed() async throws {
        let job = try await exportForecast("sim-fail", ["timePeriod": "2024_Q1"])
        let seen = try await waitForJob(job)
        assertInOrder(seen, ["SCHEDULED", "STARTED", "FAILED"], ending: "FAILED")
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari), 400, "invalid_jobId")
    }

    func testActivityAndAuditExportShapes() async throws {
        let a = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari,
                                   json: ["activityTypes": ["MEETING", "EMAIL_SENT"], "startDate": "2024-03-01", "endDate": "2024-03-07", "exportFormat": "JSON"])
        XCTAssertEqual(a.status, 202, a.text)
        let aJob = try XCTUnwrap(a.object.str("jobId"))
        _ = try await waitForJob(aJob)
        let activities = try await sim.send(.GET, "/clari/v4/export/jobs/\(aJob)/results", headers: Auth.clari)
        let items = try XCTUnwrap(activities.object["activities"] as? [[String: Any]])
        XCTAssertFalse(items.isEmpty)
        XCTAssertTrue(items.allSatisfy { ["MEETING", "EMAIL_SENT"].contains($0.str("type") ?? "") })

        let au = try await sim.send(.POST, "/clari/v4/export/audit/events", headers: Auth.clari, json: ["sessionType": "WEB"])
        XCTAssertEqual(au.status, 202, au.text)
        let auJob = try XCTUnwrap(au.object.str("jobId"))
        _ = try await waitForJob(auJob)
        let audit = try await sim.send(.GET, "/clari/v4/export/jobs/\(auJob)/results", headers: Auth.clari)
        let events = try XCTUnwrap(audit.object["items"] as? [[String: Any]])
        XCTAssertFalse(events.isEmpty)
        XCTAssertTrue(events.allSatisfy { $0.str("sessionType") == "WEB" })
        XCTAssertNotNil(audit.object["actors"] as? [[String: Any]])
    }

    func testAuditEventsPagesFollowNextLink() async throws {
        var url: String? = "/clari/v4/audit/events?limit=100"
        var all: [[String: Any]] = []
        var pages = 0
        while let next = url {
            let r = try await sim.send(.GET, next, headers: Auth.clari)
            XCTAssertEqual(r.status, 200, r.text)
            all += r.object["items"] as? [[String: Any]] ?? []
            XCTAssertNotNil(r.object["actors"] as? [Any])
            pages += 1
            url = r.object.str("nextLink").map { String($0.dropFirst(sim.endpoints.root.count)) }
            XCTAssertTrue(r.object.str("nextLink")?.hasPrefix(sim.endpoints.baseURLs["clari"]!) ?? true)
        }
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(all.count, 250)
        XCTAssertEqual(Set(all.compactMap { $0.str("id") }).count, 250)

        let bad = try await sim.send(.GET, "/clari/v4/audit/events?limit=1001", headers: Auth.clari)
        XCTAssertEqual(bad.status, 400)
        let err = try XCTUnwrap((bad.object["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(err.str("code"), "invalid_parameter")
        XCTAssertEqual(err.str("target"), "limit")
        XCTAssertEqual(err.num("status"), 400)
    }

    func testOpportunitiesAtMostHundredIds() async throws {
        let data = ClariData(seed: 1)
        let ids = data.opportunities.prefix(3).map(\.id)
        let r = try await sim.send(.GET, "/clari/v4/opportunity?" + ids.map { "oppId=\($0)" }.joined(separator: "&") + "&oppId=unknown&mode=default",
                                   headers: Auth.clari)
        XCTAssertEqual(r.status, 200, r.text)
        let list = r.array.compactMap { $0 as? [String: Any] }
        XCTAssertEqual(list.compactMap { $0.str("id") }, Array(ids))
        XCTAssertNotNil(list.first?.dict("crmScore").num("score"))
        XCTAssertFalse((list.first?["fields"] as? [Any] ?? []).isEmpty)
        let tooMany = try await sim.send(.GET, "/clari/v4/opportunity?" + (0...100).map { "oppId=x\($0)" }.joined(separator: "&"), headers: Auth.clari)
        assertExportError(tooMany, 400, "invalid_request")
    }

    private func records(_ n: Int, bad: Int? = nil) -> [[String: Any]] {
        (0..<n).map { i in ["id": "opp-\(i)", "createdAt": 1_700_000_000_000, "updatedAt": i == bad ? 1_600_000_000_000 : 1_700_000_500_000, "Amount": i * 10] }
    }

    func testIngestionLimitsAndRecordRules() async throws {
        let ok = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity?mode=incremental&isLastBatch=false", headers: Auth.clariIngest,
                                    json: [["sourceEntity": "Opportunity", "records": records(60)], ["sourceEntity": "Opportunity", "records": records(40)]])
        XCTAssertEqual(ok.status, 200, ok.text)

        let tooMany = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity", headers: Auth.clariIngest,
                                         json: [["sourceEntity": "Opportunity", "records": records(101)]])
        XCTAssertEqual(tooMany.status, 400)
        let e = try XCTUnwrap(tooMany.array.first as? [String: Any])
        XCTAssertEqual(e.str("errorCode"), "RECORD_LIMIT_EXCEEDED")
        XCTAssertNotNil(e.str("errorSummary"))

        let backwards = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity", headers: Auth.clariIngest,
                                          json: [["sourceEntity": "Opportunity", "records": records(5, bad: 3)]])
        XCTAssertEqual(backwards.status, 400)
        let b = try XCTUnwrap(backwards.array.first as? [String: Any])
        XCTAssertEqual(b.str("errorCode"), "INVALID_RECORD")
        XCTAssertTrue(b.str("errorSummary")?.contains("updatedAt") ?? false)

        let badMode = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity?mode=sometimes", headers: Auth.clariIngest,
                                         json: [["sourceEntity": "Opportunity", "records": records(1)]])
        XCTAssertEqual(badMode.status, 400)
    }

    private func multipart(_ file: [UInt8], part: String = "FileData") -> (body: [UInt8], type: String) {
        let boundary = "sim-boundary-\(UUID().uuidString)"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part)\"; filename=\"data.json\"\r\nContent-Type: application/json\r\n\r\n".utf8)
        body += file
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        return (body, "multipart/form-data; boundary=\(boundary)")
    }

    func testBulkIngestionJobsAndLimits() async throws {
        let good = multipart(Array(try JSONSerialization.data(withJSONObject: [["sourceEntity": "Opportunity", "records": records(500)]])))
        let r = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity?mode=initial&isLastBatch=true", headers: Auth.clariIngest,
                                   body: good.body, contentType: good.type)
        XCTAssertEqual(r.status, 202, r.text)
        let job = try XCTUnwrap(r.object.str("jobId"))
        let seen = try await sim.poll("/clari/v2/ingest/job/\(job)", headers: Auth.clariIngest,
                                      terminal: ["SUCCESS", "FAILED", "VALIDATION_FAILED"]) { $0.object.dict("message").str("status") }
        assertInOrder(seen, ["QUEUED", "IN_PROGRESS", "SUCCESS"], ending: "SUCCESS")

        let bad = multipart(Array(try JSONSerialization.data(withJSONObject: records(10, bad: 4))))
        let r2 = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity", headers: Auth.clariIngest, body: bad.body, contentType: bad.type)
        XCTAssertEqual(r2.status, 202)
        let job2 = try XCTUnwrap(r2.object.str("jobId"))
        let seen2 = try await sim.poll("/clari/v2/ingest/job/\(job2)", headers: Auth.clariIngest,
                                       terminal: ["SUCCESS", "FAILED", "VALIDATION_FAILED"]) { $0.object.dict("message").str("status") }
        XCTAssertEqual(seen2.last, "VALIDATION_FAILED")

        let wrongPart = multipart(Array("[]".utf8), part: "file")
        let r3 = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity", headers: Auth.clariIngest, body: wrongPart.body, contentType: wrongPart.type)
        XCTAssertEqual(r3.status, 400)
        XCTAssertEqual((r3.array.first as? [String: Any])?.str("errorCode"), "INVALID_REQUEST_BODY")

        let huge = multipart([UInt8](repeating: 32, count: ClariSim.maxBulkFileBytes + 1))
        let r4 = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity", headers: Auth.clariIngest, body: huge.body, contentType: huge.type)
        XCTAssertEqual(r4.status, 400)
        XCTAssertEqual((r4.array.first as? [String: Any])?.str("errorCode"), "FILE_TOO_LARGE")

        let missing = try await sim.send(.GET, "/clari/v2/ingest/job/nope", headers: Auth.clariIngest)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual((missing.array.first as? [String: Any])?.str("errorCode"), "JOB_NOT_FOUND")
    }

    func testPicklistAddAndGet() async throws {
        let add = try await sim.send(.POST, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest,
                                     json: ["fieldName": "stage", "fieldType": "picklist", "values": ["Verbal Commit", "Prospecting"]])
        XCTAssertEqual(add.status, 200, add.text)
        let get = try await sim.send(.GET, "/clari/v2/ingest/schema/opportunity/field?fieldName=stage", headers: Auth.clariIngest)
        let values = get.object["values"] as? [String] ?? []
        XCTAssertTrue(values.contains("Verbal Commit"))
        XCTAssertEqual(values.filter { $0 == "Prospecting" }.count, 1, "values are merged, not repeated")
        let badType = try await sim.send(.POST, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest,
                                         json: ["fieldName": "x", "fieldType": "text", "values": ["a"]])
        XCTAssertEqual(badType.status, 400)
        XCTAssertEqual((badType.array.first as? [String: Any])?.str("errorCode"), "INVALID_FIELD_TYPE")
    }
}
