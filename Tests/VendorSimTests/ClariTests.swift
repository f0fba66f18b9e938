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
            $0.object.str("status")
        }
    }

    /// 001_5f3c65e90f1cda6d.txt:2157 {code, namespace, errorId, message, orgId (int32)}; the forecast's namespace is fcw (:244).
    private func assertExportError(_ r: Reply, _ status: Int, _ code: String, namespace: String = "exports",
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        XCTAssertEqual(r.object.str("code"), code, r.text, file: file, line: line)
        XCTAssertEqual(r.object.str("namespace"), namespace, file: file, line: line)
        XCTAssertNotNil(r.object.str("errorId"), file: file, line: line)
        XCTAssertNotNil(r.object.str("message"), file: file, line: line)
        XCTAssertEqual(r.object.num("orgId"), 101, file: file, line: line)
    }

    /// Polls GET /v2/ingest/job/{id} (202 while running) until it ends; the statuses and last HTTP status.
    private func waitForIngestJob(_ id: String) async throws -> (seen: [String], status: Int, body: [String: Any]) {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let r = try await sim.send(.GET, "/clari/v2/ingest/job/\(id)", headers: Auth.clariIngest)
            let m = r.object.dict("message")
            let s = try XCTUnwrap(m.str("status"), r.text)
            if seen.last != s { seen.append(s) }
            if r.status != 202 { return (seen, r.status, m) }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        XCTFail("ingest job \(id) did not end")
        return (seen, 0, [:])
    }

    func testForecastCSVExportMovesThroughStatusesAndHasHeaderThenRows() async throws {
        let job = try await exportForecast("net_new", ["timePeriod": "2024_Q1", "typesToExport": ["forecast", "quota"], "exportFormat": "CSV"])
        let seen = try await waitForJob(job)
        assertInOrder(seen, ["SCHEDULED", "STARTED", "DONE"], ending: "DONE")

        // 001_5f3c65e90f1cda6d.txt:409: the job, flat; module upper case; times epoch milliseconds; ids integers.
        let status = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)", headers: Auth.clari)
        let j = status.object
        XCTAssertEqual(j.str("jobId"), job)
        XCTAssertEqual(j.str("fileType"), "CSV")
        XCTAssertEqual(j.str("module"), "FORECAST")
        XCTAssertNil(j["parameters"], "the seed's job has no parameters")
        for key in ["userId", "orgId", "startTime", "endTime", "expiredTime", "downloads", "version"] {
            XCTAssertNotNil(j[key] as? Int, "job field \(key) is an integer: \(String(describing: j[key]))")
        }
        XCTAssertGreaterThan(j["startTime"] as? Int ?? 0, 1_600_000_000_000, "epoch milliseconds")
        for key in ["title", "fileName", "currency"] { XCTAssertNotNil(j.str(key), "job field \(key)") }

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
        XCTAssertEqual(after.object.num("downloads"), 2)
    }

    func testForecastJSONIsHeaderRowThenDataRows() async throws {
        let job = try await exportForecast("renewals", ["timePeriod": "2024_Q2", "includeHistorical": true, "currency": "EUR", "typesToExport": ["forecast"]])
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
        let job = try await exportForecast("sim-rows-25", ["timePeriod": "2024_Q1", "typesToExport": ["forecast", "quota", "adjustment"], "exportFormat": "CSV"])
        _ = try await waitForJob(job)
        let r = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1 + 25 + 1, "header, 25 rows, empty after the last newline")
        XCTAssertEqual(lines[1].split(separator: ",")[6], "forecast")
        XCTAssertEqual(lines[2].split(separator: ",")[6], "quota")
        XCTAssertEqual(lines[4].split(separator: ",")[0], "sim-user-0000000002")

        let jsonJob = try await exportForecast("sim-rows-7", ["timePeriod": "2024_Q1"])
        _ = try await waitForJob(jsonJob)
        let j = try await sim.send(.GET, "/clari/v4/export/jobs/\(jsonJob)/results", headers: Auth.clari)
        XCTAssertEqual((j.json as? [[Any]])?.count, 8, j.text)
    }

    func testSimBytesSizeRangeAndRepeatability() async throws {
        let n = 3_000_000
        let job = try await exportForecast("sim-bytes-\(n)", ["timePeriod": "2024_Q3", "typesToExport": ["forecast", "quota"]])
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
        // 001_5f3c65e90f1cda6d.txt:350, :290, :256, :316, :333.
        let invalid = try await post("net_new", base.merging(["typesToExport": ["forecast", "pipeline"]]) { $1 })
        assertExportError(invalid, 400, "bad_request", namespace: "fcw")
        XCTAssertEqual(invalid.object.str("message"), "The following typesToExport values are invalid: [\"pipeline\"]")
        assertExportError(try await post("net_new", base.merging(["typesToExport": "forecast"]) { $1 }), 400, "bad_request", namespace: "fcw")
        for crm in ["crm_total", "crm_closed"] {
            assertExportError(try await post("net_new", base.merging(["typesToExport": ["forecast", crm]]) { $1 }), 400, "type_not_supported", namespace: "fcw")
        }
        assertExportError(try await post("net_new", base.merging(["exportFormat": "XML"]) { $1 }), 400, "bad_request", namespace: "fcw")
        assertExportError(try await post("net_new", base.merging(["schedule": "WEEKLY"]) { $1 }), 400, "bad_request", namespace: "fcw")
        assertExportError(try await post("net_new", base.merging(["currency": "dollars"]) { $1 }), 400, "bad_request", namespace: "fcw")
        assertExportError(try await post("net_new", ["timePeriod": "2024-Q1"]), 400, "bad_request", namespace: "fcw")
        assertExportError(try await post("no_such_forecast", base), 400, "no_such_forecast_config", namespace: "fcw")
        let notJSON = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, body: Array("{oops".utf8))
        assertExportError(notJSON, 400, "bad_request", namespace: "fcw")
        XCTAssertTrue(notJSON.object.str("message")?.hasPrefix("The request body was malformed: ") ?? false)

        // Activity errors: {code, namespace: activity, errorId, message, userId, orgId} (001_5f3c65e90f1cda6d.txt:2096).
        let activity: [String: Any] = ["activityTypes": ["MEETING"], "startDate": "2024-01-01T00:00:00Z", "endDate": "2024-01-31T00:00:00Z"]
        for bad in [["exportFormat": "CSV"], ["activityTypes": ["CALL"]], ["startDate": "2024-01-01"], ["endDate": "2024-01-31T00:00:00"]] as [[String: Any]] {
            let r = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari, json: activity.merging(bad) { $1 })
            XCTAssertEqual(r.status, 400, "\(bad): \(r.text)")
            XCTAssertEqual(r.object.str("namespace"), "activity")
            XCTAssertEqual(r.object.str("code"), "Bad request")
            XCTAssertNotNil(r.object.str("userId"))
        }
        // Audit export errors: {errors: [{code, message, target, status}]} (001_5f3c65e90f1cda6d.txt:954), actor ids int64.
        for bad in [["sessionType": "DESKTOP"], ["actorId": "u-1001"]] as [[String: Any]] {
            let r = try await sim.send(.POST, "/clari/v4/export/audit/events", headers: Auth.clari, json: bad)
            XCTAssertEqual(r.status, 400)
            let e = try XCTUnwrap((r.object["errors"] as? [[String: Any]])?.first, r.text)
            XCTAssertEqual(e.str("status"), "400", "status is a 3-character string")
            XCTAssertNotNil(e.str("message"))
        }

        let stats = try await sim.stats()
        let stillZeroExports = stats.dict("created").dict("clari").num("export_jobs") ?? 0
        let jobs = try await sim.send(.GET, "/clari/v4/export/jobs", headers: Auth.clari)
        // Each user's listing holds that user's jobs (001_5f3c65e90f1cda6d.txt:711): together, every job created.
        let othersJobs = try await sim.send(.GET, "/clari/v4/export/jobs", headers: [("apikey", ClariSim.otherUserAPIKey)])
        XCTAssertEqual(jobs.array.count + othersJobs.array.count, stillZeroExports, "rejected exports create nothing; the listing is a bare array")
    }

    func testTimePeriodDefaultsToTheCurrentQuarter() async throws {
        // 001_5f3c65e90f1cda6d.txt:171: timePeriod defaults to the current quarter; typesToExport to forecast and forecast_updated (:215).
        let job = try await exportForecast("net_new", ["exportFormat": "CSV"])
        _ = try await waitForJob(job)
        let r = try await sim.send(.GET, "/clari/v4/export/jobs/\(job)/results", headers: Auth.clari)
        let rows = r.text.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(Set(rows.map { String($0[4]) }), [ClariSim.currentQuarter(Date().timeIntervalSince1970)])
        XCTAssertEqual(Set(rows.map { String($0[6]) }), ["forecast", "forecast_updated"])
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
        XCTAssertEqual((noPartner.array.first as? [String: Any])?.str("errorCode"), "INVALID_PARTNER_KEY")
        let wrongPartner = try await sim.send(.GET, "/clari/v2/ingest/job/x", headers: Auth.clari + [("partnerkey", "nope")])
        XCTAssertEqual(wrongPartner.status, 401)
        XCTAssertEqual(wrongPartner.object.str("error"), "Invalid authentication credentials")
    }

    /// 001_5f3c65e90f1cda6d.txt:711 GET /export/jobs lists the caller's own jobs; :803/:842 the limits
    /// list the organisation's; :512 another user's job answers 403.
    func testAnotherUsersExportIsInTheLimitsButNotInOurListingAndAnswers403() async throws {
        let otherKey = [("apikey", ClariSim.otherUserAPIKey)]
        let r = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: otherKey, json: ["timePeriod": "2014_Q1"])
        XCTAssertEqual(r.status, 200, r.text)
        let other = try XCTUnwrap(r.object.str("jobId"))
        let mine = try await exportForecast("net_new", ["timePeriod": "2014_Q2"])
        let limits = try await sim.send(.GET, "/clari/v4/admin/limits", headers: Auth.clari)
        let submitted = (limits.object.dict("jobs")["submittedJobIds"] as? [Any] ?? []).compactMap { $0 as? String }
        XCTAssertTrue(submitted.contains(other) && submitted.contains(mine), limits.text)
        let ours = try await sim.send(.GET, "/clari/v4/export/jobs", headers: Auth.clari)
        let ourIds = ours.array.compactMap { ($0 as? [String: Any])?.str("jobId") }
        XCTAssertTrue(ourIds.contains(mine)); XCTAssertFalse(ourIds.contains(other))
        let theirs = try await sim.send(.GET, "/clari/v4/export/jobs", headers: otherKey)
        XCTAssertEqual(theirs.array.compactMap { ($0 as? [String: Any])?.str("jobId") }, [other])
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/\(other)", headers: Auth.clari), 403, "SWW")
        assertExportError(try await sim.send(.PATCH, "/clari/v4/export/jobs/\(other)", headers: Auth.clari, json: ["type": "CANCEL"]), 403, "SWW")
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/\(other)/results", headers: Auth.clari), 403, "SWW")
        let own = try await sim.send(.GET, "/clari/v4/export/jobs/\(other)", headers: otherKey)
        XCTAssertEqual(own.status, 200, own.text)
        XCTAssertEqual(own.object.num("userId"), ClariSim.otherUserId)
    }

    /// `moonport sim --list-variants` shows these texts to users: they name Clari's API documentation, never a seed file.
    func testVariantHelpNamesClarisDocumentationNotSeedFiles() {
        for v in ClariSim.variants {
            XCTAssertFalse(v.help.contains(".txt"), v.key + ": " + v.help)
            XCTAssertTrue(v.help.contains("Clari's API documentation"), v.key + ": " + v.help)
        }
    }

    func testCancelAfterDoneIsRefusedAndUnknownJobIs400() async throws {
        let job = try await exportForecast("expansion", ["timePeriod": "2025_Q4"])
        _ = try await waitForJob(job)
        let cancel = try await sim.send(.PATCH, "/clari/v4/export/jobs/\(job)", headers: Auth.clari, json: ["type": "CANCEL"])
        assertExportError(cancel, 400, "export_failed_to_cancel")
        XCTAssertEqual(cancel.object.str("message"), "Cannot cancel the job because it already finished executing.")
        // 001_5f3c65e90f1cda6d.txt:506–511: the generic body (code SWW) of :739.
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/nope", headers: Auth.clari), 400, "SWW")
        assertExportError(try await sim.send(.GET, "/clari/v4/export/jobs/nope/results", headers: Auth.clari), 400, "invalid_jobId")
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
        // 001_5f3c65e90f1cda6d.txt:2049 date-times with an offset; activityTypes optional (:2023).
        let a = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari,
                                   json: ["activityTypes": ["MEETING", "EMAIL_SENT"], "startDate": "2024-03-01T00:00:00-08:00", "endDate": "2024-03-07T00:00:00Z", "exportFormat": "JSON"])
        XCTAssertEqual(a.status, 202, a.text)
        let aJob = try XCTUnwrap(a.object.str("jobId"))
        _ = try await waitForJob(aJob)
        let activities = try await sim.send(.GET, "/clari/v4/export/jobs/\(aJob)/results", headers: Auth.clari)
        let items = try XCTUnwrap(activities.object["activities"] as? [[String: Any]])
        XCTAssertFalse(items.isEmpty)
        XCTAssertTrue(items.allSatisfy { ["MEETING", "EMAIL_SENT"].contains($0.str("activityType") ?? "") })
        XCTAssertTrue(items.allSatisfy { ($0["date"] as? Int ?? 0) > 1_600_000_000_000 }, "dates in epoch milliseconds (:2208)")
        let all = try await sim.send(.POST, "/clari/v4/export/activity", headers: Auth.clari,
                                     json: ["startDate": "2024-03-01T00:00:00Z", "endDate": "2024-03-02T00:00:00+05:30"])
        XCTAssertEqual(all.status, 202, all.text)

        let au = try await sim.send(.POST, "/clari/v4/export/audit/events", headers: Auth.clari, json: ["sessionType": "WEB", "actorId": 1003])
        XCTAssertEqual(au.status, 202, au.text)
        let auJob = try XCTUnwrap(au.object.str("jobId"))
        _ = try await waitForJob(auJob)
        let job = try await sim.send(.GET, "/clari/v4/export/jobs/\(auJob)", headers: Auth.clari)
        XCTAssertEqual(job.object.str("module"), "AUDIT")
        let audit = try await sim.send(.GET, "/clari/v4/export/jobs/\(auJob)/results", headers: Auth.clari)
        let events = try XCTUnwrap(audit.object["items"] as? [[String: Any]])
        XCTAssertFalse(events.isEmpty)
        XCTAssertTrue(events.allSatisfy { $0.str("sessionType") == "WEB" && $0.str("actorId") == "1003" })
        for key in ["actorId", "sessionId", "sessionType", "event", "ipAddress", "actorType"] {
            XCTAssertNotNil(events.first?[key], "required field \(key) (:1104)")
        }
        let actors = try XCTUnwrap(audit.object["actors"] as? [[String: Any]])
        XCTAssertEqual(actors.first.map { Set($0.keys) }, ["actorType", "actorId", "name", "email"])
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
        XCTAssertEqual(Set(all.compactMap { $0.str("correlationID") }).count, 250)
        let byActor = try await sim.send(.GET, "/clari/v4/audit/events?actorId=1002&limit=1000", headers: Auth.clari)
        XCTAssertTrue((byActor.object["items"] as? [[String: Any]] ?? []).allSatisfy { $0.str("actorId") == "1002" })

        // 001_5f3c65e90f1cda6d.txt:1030 limit 1..1000; 4XX {errors: [...]} (:1183).
        for bad in ["limit=1001", "limit=0", "actorId=abc"] {
            let r = try await sim.send(.GET, "/clari/v4/audit/events?\(bad)", headers: Auth.clari)
            XCTAssertEqual(r.status, 400, bad)
            let err = try XCTUnwrap((r.object["errors"] as? [[String: Any]])?.first)
            XCTAssertEqual(err.str("code"), "invalid_parameter")
            XCTAssertEqual(err.str("status"), "400")
        }
    }

    func testAuditPageCapVariantStillLinksEveryPage() async throws {
        let capped = try SimHarness { $0.variants = ["clari.audit_page_cap": "50"] }
        defer { capped.shutdown() }
        var url: String? = "/clari/v4/audit/events?limit=1000"
        var count = 0, pages = 0
        while let next = url {
            let r = try await capped.send(.GET, next, headers: Auth.clari)
            let items = r.object["items"] as? [Any] ?? []
            XCTAssertLessThanOrEqual(items.count, 50)
            count += items.count
            pages += 1
            url = r.object.str("nextLink").map { String($0.dropFirst(capped.endpoints.root.count)) }
        }
        XCTAssertEqual(count, 250)
        XCTAssertEqual(pages, 5)
    }

    func testJobAndListingVariants() async throws {
        let wrapped = try SimHarness { $0.variants = ["clari.job": "wrapped", "clari.jobs_listing": "wrapped"] }
        defer { wrapped.shutdown() }
        let r = try await wrapped.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, json: [:])
        let id = try XCTUnwrap(r.object.str("jobId"), r.text)
        let job = try await wrapped.send(.GET, "/clari/v4/export/jobs/\(id)", headers: Auth.clari)
        XCTAssertEqual(job.object.dict("job").str("jobId"), id)
        let list = try await wrapped.send(.GET, "/clari/v4/export/jobs", headers: Auth.clari)
        XCTAssertEqual((list.object["jobs"] as? [[String: Any]])?.first?.str("module"), "FORECAST")
        // The default: flat and bare (001_5f3c65e90f1cda6d.txt:409, :723).
        let flat = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, json: [:])
        let bare = try await sim.send(.GET, "/clari/v4/export/jobs", headers: Auth.clari)
        XCTAssertTrue(bare.array.contains { ($0 as? [String: Any])?.str("jobId") == flat.object.str("jobId") })
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
        let fields = list.first?["fields"] as? [[String: Any]] ?? []
        XCTAssertTrue(fields.contains { $0.str("id") == "opportunity.amount" }, "field ids as :1290 shows them")
        // 4XX [{statusCode, reaspnPhrase, description, details}] (001_5f3c65e90f1cda6d.txt:1327).
        for query in ["", "?" + (0...100).map { "oppId=x\($0)" }.joined(separator: "&")] {
            let bad = try await sim.send(.GET, "/clari/v4/opportunity" + query, headers: Auth.clari)
            XCTAssertEqual(bad.status, 400)
            let e = try XCTUnwrap(bad.array.first as? [String: Any], bad.text)
            XCTAssertEqual(e.num("statusCode"), 400)
            XCTAssertEqual(e.str("reaspnPhrase"), "Bad Request")
            XCTAssertNotNil(e.str("details"))
        }
    }

    private func records(_ n: Int, bad: Int? = nil) -> [[String: Any]] {
        (0..<n).map { i in ["id": "opp-\(i)", "createdAt": 1_700_000_000_000, "updatedAt": i == bad ? 1_600_000_000_000 : 1_700_000_500_000, "Amount": i * 10] }
    }

    private func ingestError(_ r: Reply, file: StaticString = #filePath, line: UInt = #line) -> String? {
        XCTAssertEqual(r.status, 400, r.text, file: file, line: line)
        let e = r.array.first as? [String: Any]
        XCTAssertEqual(e?.str("errorCode"), "INVALID_INPUT_FORMAT", r.text, file: file, line: line)
        return e?.str("errorSummary")
    }

    func testIngestionLimitsAndRecordRules() async throws {
        let ok = try await sim.send(.POST, "/clari/v2/ingest/entity/opportunity?mode=incremental&isLastBatch=false", headers: Auth.clariIngest,
                                    json: [["sourceEntity": "Opportunity", "records": records(60)], ["sourceEntity": "Opportunity", "records": records(40).map { $0.merging(["id": "o2-\($0["id"]!)"]) { $1 } }]])
        XCTAssertEqual(ok.status, 200, ok.text)
        let path = "/clari/v2/ingest/entity/opportunity"
        // The seed's own summaries (001_5f3c65e90f1cda6d.txt:1655–1688).
        let reply24689 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: [["sourceEntity": "O", "records": records(101)]])
        XCTAssertEqual(ingestError(reply24689),
                       "The number of records limit to 100")
        let reply24938 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: [["sourceEntity": "O", "records": records(5, bad: 3)]])
        XCTAssertEqual(ingestError(reply24938),
                       "Failed validation for data at path: / updatedAt should be greater than or equal to createdAt")
        let reply25251 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: ["sourceEntity": "O"])
        XCTAssertEqual(ingestError(reply25251), "Payload is not an array")
        let reply25439 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: records(2))
        XCTAssertEqual(ingestError(reply25439), "sourceEntity is missing dataSet")
        let reply25624 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: [["sourceEntity": "O"]])
        XCTAssertEqual(ingestError(reply25624), "records is missing for dataSet")
        let reply25821 = try await sim.send(.POST, path, headers: Auth.clariIngest, json: [["sourceEntity": "O", "records": [["createdAt": 1, "updatedAt": 2]]]])
        XCTAssertEqual(ingestError(reply25821),
                       "Primary key field is missing")
        let reply26085 = try await sim.send(.POST, path + "?mode=sometimes", headers: Auth.clariIngest,
                                                      json: [["sourceEntity": "O", "records": records(1)]])
        XCTAssertTrue(ingestError(reply26085)?.hasPrefix("Mode value is invalid") ?? false)
        let reply26389 = try await sim.send(.POST, "/clari/v2/ingest/entity/lead", headers: Auth.clariIngest,
                                                      json: [["sourceEntity": "O", "records": records(1)]])
        XCTAssertTrue(ingestError(reply26389)?.hasPrefix("Entity is not valid/enabled") ?? false)
    }

    private func multipart(_ file: [UInt8], part: String = "FileData") -> (body: [UInt8], type: String) {
        let boundary = "sim-boundary-\(UUID().uuidString)"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part)\"; filename=\"data.json\"\r\nContent-Type: application/json\r\n\r\n".utf8)
        body += file
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        return (body, "multipart/form-data; boundary=\(boundary)")
    }

    private func bulk(_ value: Any, on harness: SimHarness? = nil) async throws -> Reply {
        let m = multipart(Array(try JSONSerialization.data(withJSONObject: value)))
        return try await (harness ?? sim).send(.POST, "/clari/v2/ingest/bulk/entity/opportunity?mode=initial&isLastBatch=true",
                                               headers: Auth.clariIngest, body: m.body, contentType: m.type)
    }

    /// 001_5f3c65e90f1cda6d.txt:1793: 202 while running, 200 SUCCESS, 400 VALIDATION_ERROR, 500 FAILED.
    func testBulkIngestionJobsAnswerTheirStateWithTheirStatus() async throws {
        let r = try await bulk([["sourceEntity": "Opportunity", "records": records(500)]])
        XCTAssertEqual(r.status, 202, r.text)
        let good = try await waitForIngestJob(try XCTUnwrap(r.object.str("jobId")))
        assertInOrder(good.seen, ["QUEUED", "IN_PROGRESS", "SUCCESS"], ending: "SUCCESS")
        XCTAssertEqual(good.status, 200)
        XCTAssertEqual(good.body.str("module"), "DATA_INGESTION")

        let r2 = try await bulk([["sourceEntity": "Opportunity", "records": records(10, bad: 4)]])
        let invalid = try await waitForIngestJob(try XCTUnwrap(r2.object.str("jobId")))
        XCTAssertEqual(invalid.status, 400)
        XCTAssertEqual(invalid.seen.last, "VALIDATION_ERROR")
        XCTAssertEqual((invalid.body["message"] as? [[String: Any]])?.first?.str("errorCode"), "INVALID_INPUT_FORMAT")

        let r3 = try await bulk([["sourceEntity": "sim-fail", "records": records(2)]])
        let failed = try await waitForIngestJob(try XCTUnwrap(r3.object.str("jobId")))
        XCTAssertEqual(failed.status, 500)
        XCTAssertEqual(failed.seen.last, "FAILED")
        XCTAssertEqual(failed.body.str("message"), "Bulk ingestion job failed. Please retry ingestion.")

        let missing = try await sim.send(.GET, "/clari/v2/ingest/job/nope", headers: Auth.clariIngest)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.object.str("error"), "Bulk ingestion job not found. Please provide correct jobId.")
    }

    /// A bare array of records is not the /ingest/entity structure (001_5f3c65e90f1cda6d.txt:1370): never wrapped silently.
    func testBulkFileMustHaveTheIngestStructure() async throws {
        let r = try await bulk(records(3))
        XCTAssertEqual(r.status, 202, "default reading: the job reports it")
        let job = try await waitForIngestJob(try XCTUnwrap(r.object.str("jobId")))
        XCTAssertEqual(job.status, 400)
        XCTAssertEqual((job.body["message"] as? [[String: Any]])?.first?.str("errorSummary"), "sourceEntity is missing dataSet")

        let strict = try SimHarness { $0.variants = ["clari.bulk_errors": "submit"] }
        defer { strict.shutdown() }
        let reply29955 = try await bulk(records(3), on: strict)
        XCTAssertEqual(ingestError(reply29955), "sourceEntity is missing dataSet")
        let reply30102 = try await bulk(["records": records(1)], on: strict)
        XCTAssertEqual(ingestError(reply30102), "Payload is not an array")

        let wrongPart = multipart(Array("[]".utf8), part: "file")
        let r3 = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity", headers: Auth.clariIngest, body: wrongPart.body, contentType: wrongPart.type)
        XCTAssertEqual(r3.status, 400)
        XCTAssertEqual((r3.array.first as? [String: Any])?.str("errorCode"), "INVALID_FILE_FORMAT")

        let huge = multipart([UInt8](repeating: 32, count: ClariSim.maxBulkFileBytes + 1))
        let r4 = try await sim.send(.POST, "/clari/v2/ingest/bulk/entity/opportunity", headers: Auth.clariIngest, body: huge.body, contentType: huge.type)
        XCTAssertEqual(r4.status, 400)
        XCTAssertEqual((r4.array.first as? [String: Any])?.str("errorCode"), "INVALID_FILE_FORMAT")
    }

    func testPicklistAddAndGet() async throws {
        let add = try await sim.send(.POST, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest,
                                     json: ["fieldName": "stage", "fieldType": "picklist", "values": ["Verbal Commit", "Prospecting"]])
        XCTAssertEqual(add.status, 200, add.text)
        XCTAssertEqual(add.object.str("message"), "picklist options have been updated successfully.")
        // 001_5f3c65e90f1cda6d.txt:2437 fieldNames, comma separated → {field: [values]}.
        let get = try await sim.send(.GET, "/clari/v2/ingest/schema/opportunity/field?fieldNames=stage,forecastCategory", headers: Auth.clariIngest)
        XCTAssertEqual(Set(get.object.keys), ["stage", "forecastCategory"])
        let values = get.object["stage"] as? [String] ?? []
        XCTAssertTrue(values.contains("Verbal Commit"))
        XCTAssertEqual(values.filter { $0 == "Prospecting" }.count, 1, "values are merged, not repeated")
        let all = try await sim.send(.GET, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest)
        XCTAssertTrue(all.object.keys.contains("region"))
        let badType = try await sim.send(.POST, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest,
                                         json: ["fieldName": "stage", "fieldType": "text", "values": ["a"]])
        XCTAssertEqual(ingestError(badType), "FieldType is not supported. Supported FieldTypes are [picklist, multipicklist]")
        let undefined = try await sim.send(.POST, "/clari/v2/ingest/schema/opportunity/field", headers: Auth.clariIngest,
                                           json: ["fieldName": "nope", "fieldType": "picklist", "values": ["a"]])
        XCTAssertEqual(ingestError(undefined), "Oops! nope is not defined in schema.")
    }

    func testLimitsListSubmittedAndRunningJobs() async throws {
        let job = try await exportForecast("net_new", [:])
        let limits = try await sim.send(.GET, "/clari/v4/admin/limits", headers: Auth.clari).object.dict("jobs")
        XCTAssertTrue((limits["submittedJobIds"] as? [String])?.contains(job) ?? false)
        XCTAssertTrue((limits["runningJobIds"] as? [String])?.contains(job) ?? false)
        _ = try await waitForJob(job)
        let later = try await sim.send(.GET, "/clari/v4/admin/limits", headers: Auth.clari).object.dict("jobs")
        XCTAssertFalse((later["runningJobIds"] as? [String] ?? []).contains(job))
    }
}
