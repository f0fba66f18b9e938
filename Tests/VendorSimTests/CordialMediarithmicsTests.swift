import Foundation
import NIOHTTP1
import XCTest

@testable import VendorSim

final class CordialTests: SimTestCase {

    let s3Destination: [String: Any] = [
        "type": "s3", "aws_access_key_id": "AKIASIMTEST", "aws_secret_access_key": "sim/secret+key", "aws_bucket": "exports-bucket",
        "aws_region": "eu-west-1", "path": "cordial/trends",
    ]

    private func waitFor(_ id: String) async throws -> (seen: [String], job: [String: Any]) {
        let seen = try await sim.poll("/cordial/v2/jobs/\(id)", headers: Auth.cordial, terminal: ["Done", "Failed"]) { $0.object.str("status") }
        let job = try await sim.send(.GET, "/cordial/v2/jobs/\(id)", headers: Auth.cordial).object
        return (seen, job)
    }

    func testAudienceTrendsToS3AndSignedGetObject() async throws {
        let r = try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: [
            "name": "trends-2024-q1", "exportType": "csv", "destination": s3Destination,
            "selected_timeframe_start": "2024-01-01", "selected_timeframe_end": "2024-01-10", "audiences": ["VIP customers", "App users"],
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let id = try XCTUnwrap(r.object.str("jobId"))
        let (seen, job) = try await waitFor(id)
        assertInOrder(seen, ["Pending", "Processing", "Done"], ending: "Done")
        XCTAssertEqual(job.str("_id"), id)
        XCTAssertEqual(job.str("jobName"), "trends-2024-q1")
        XCTAssertEqual(job.num("totalItems"), 2, "a row per audience")
        XCTAssertNotNil(job.dict("times").str("start"))
        XCTAssertEqual(job.dict("metadata").str("exportType"), "csv")
        let fileName = try XCTUnwrap(job.dict("metadata").str("fileName"))
        XCTAssertEqual(fileName, "trends-2024-q1.csv", "003_3d234a6b4716e979.txt:27 name defines the export file name")
        let location = try XCTUnwrap(job.dict("result").str("location"))
        XCTAssertEqual(location, "s3://exports-bucket/cordial/trends/\(fileName)")

        let path = "/s3/exports-bucket/cordial/trends/\(fileName)"
        let host = "127.0.0.1:\(sim.endpoints.port)"
        XCTAssertEqual(sim.endpoints.environment["MOONPORT_SIM_S3_URL"], sim.endpoints.root + "/s3")
        let signed = TestSigner.getHeaders(path: path, host: host, accessKey: "AKIASIMTEST", secret: "sim/secret+key", region: "eu-west-1")
        let object = try await sim.send(.GET, path, headers: signed)
        XCTAssertEqual(object.status, 200, object.text)
        let lines = object.text.split(separator: "\n")
        XCTAssertEqual(lines.first, "audience,2024-01-01,2024-01-02,2024-01-03,2024-01-04,2024-01-05,2024-01-06,2024-01-07,2024-01-08,2024-01-09,2024-01-10")
        XCTAssertEqual(lines.count, 3)
        XCTAssertNotNil(object.header("ETag"))

        let ranged = try await sim.send(.GET, path, headers: signed + [("Range", "bytes=0-3")])
        XCTAssertEqual(ranged.status, 206)
        XCTAssertEqual(ranged.text, "audi")

        let wrongSecret = TestSigner.getHeaders(path: path, host: host, accessKey: "AKIASIMTEST", secret: "not-the-secret", region: "eu-west-1")
        let denied = try await sim.send(.GET, path, headers: wrongSecret)
        XCTAssertEqual(denied.status, 403)
        XCTAssertTrue(denied.text.contains("<Code>SignatureDoesNotMatch</Code>"), denied.text)
        XCTAssertEqual(denied.header("Content-Type"), "application/xml")

        let otherPath = TestSigner.getHeaders(path: path + "x", host: host, accessKey: "AKIASIMTEST", secret: "sim/secret+key", region: "eu-west-1")
        let otherKeyStatus = try await sim.send(.GET, path, headers: otherPath).status
        XCTAssertEqual(otherKeyStatus, 403, "a signature for another key does not open this one")
        let unsigned = try await sim.send(.GET, path)
        XCTAssertEqual(unsigned.status, 403)
        XCTAssertTrue(unsigned.text.contains("<Code>AccessDenied</Code>"))
        let unknownKey = TestSigner.getHeaders(path: path, host: host, accessKey: "AKIAOTHER", secret: "sim/secret+key", region: "eu-west-1")
        let unknownKeyRefused = try await sim.send(.GET, path, headers: unknownKey).text.contains("<Code>InvalidAccessKeyId</Code>")
        XCTAssertTrue(unknownKeyRefused)
        let wrongRegion = TestSigner.getHeaders(path: path, host: host, accessKey: "AKIASIMTEST", secret: "sim/secret+key", region: "us-east-1")
        let malformed = try await sim.send(.GET, path, headers: wrongRegion)
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(malformed.text.contains("<Code>AuthorizationHeaderMalformed</Code>"))
        let noKeyPath = "/s3/exports-bucket/cordial/none.csv"
        let noKey = try await sim.send(.GET, noKeyPath, headers: TestSigner.getHeaders(
            path: noKeyPath, host: host, accessKey: "AKIASIMTEST", secret: "sim/secret+key", region: "eu-west-1"))
        XCTAssertEqual(noKey.status, 404)
        XCTAssertTrue(noKey.text.contains("<Code>NoSuchKey</Code>"))
    }

    func testContactExportToSFTPIsWrittenUnderTheDataDirectory() async throws {
        let r = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: [
            "name": "contacts-vip", "exportType": "csv", "fields": ["email", "first_name", "city"], "lists": ["VIP customers"],
            "showHeader": true, "destination": ["type": "sftp", "server": "sftp.example.com", "port": 22, "username": "u", "password": "p", "path": "out/daily"],
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let (seen, job) = try await waitFor(try XCTUnwrap(r.object.str("jobId")))
        XCTAssertEqual(seen.last, "Done")
        let location = try XCTUnwrap(job.dict("result").str("location"))
        XCTAssertTrue(location.hasPrefix(sim.simulator.config.dataDirectory + "/sftp/out/daily/"), location)
        let text = try String(contentsOfFile: location, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").first, "email,first_name,city")
        XCTAssertEqual(text.split(separator: "\n").count - 1, job.num("totalItems"))

        let gz = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: [
            "name": "contacts-gz", "exportType": "json", "compress": true, "destination": ["type": "gcs", "gcs_bucket": "b1"],
        ])
        let (_, gzJob) = try await waitFor(try XCTUnwrap(gz.object.str("jobId")))
        let gzPath = try XCTUnwrap(gzJob.dict("result").str("location"))
        XCTAssertTrue(gzPath.hasSuffix(".json.gz"))
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: gzPath))
        XCTAssertEqual(Array(bytes.prefix(2)), [0x1F, 0x8B])
    }

    func testValidationAndAuth() async throws {
        func post(_ body: [String: Any]) async throws -> Reply {
            try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: body)
        }
        let good: [String: Any] = ["name": "ok-name", "exportType": "csv", "destination": ["type": "gcs", "gcs_bucket": "b"]]
        for name in ["has space", "under_score", "dots.no", ""] {
            let r = try await post(good.merging(["name": name]) { $1 })
            XCTAssertEqual(r.status, 400, name)
            XCTAssertEqual(r.object["error"] as? Bool, true)
            XCTAssertEqual(r.object.str("errorKey"), "VALIDATION_ERROR")
        }
        let badDestinations: [[String: Any]] = [
            ["type": "dropbox"], ["type": "s3", "aws_bucket": "b"], ["type": "ftp", "server": "h", "username": "u", "port": 21],
            ["type": "gcs"], ["type": "sftp", "server": "h", "username": "u", "password": "p", "port": 22, "path": "../etc"],
            // 003_3d234a6b4716e979.txt:55-57 port is required for FTP/SFTP; 66-69 aws_region for S3
            ["type": "sftp", "server": "h", "username": "u", "password": "p"],
            ["type": "FTP", "server": "h", "username": "u", "password": "p", "port": "ssh"],
            ["type": "s3", "aws_access_key_id": "a", "aws_secret_access_key": "s", "aws_bucket": "bucket"],
        ]
        for d in badDestinations {
            let r = try await post(good.merging(["destination": d]) { $1 })
            XCTAssertEqual(r.status, 400, "\(d)")
            XCTAssertEqual(r.object.str("errorKey"), "VALIDATION_ERROR", "\(d)")
        }
        let badBucket = try await post(good.merging(["destination": ["type": "s3", "aws_access_key_id": "a", "aws_secret_access_key": "s", "aws_bucket": "Bad_Bucket", "aws_region": "us-east-1"]]) { $1 })
        XCTAssertEqual(badBucket.object.str("errorKey"), "STORAGE_CONNECTION_ERROR")
        let notJSON = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, body: Array("nope".utf8))
        XCTAssertEqual(notJSON.object.str("errorKey"), "INVALID_JSON_PROVIDED")
        let missing = try await sim.send(.GET, "/cordial/v2/jobs/abc", headers: Auth.cordial)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.object.str("errorKey"), "RECORD_NOT_FOUND")

        let wrongKey = "Basic " + Data("other:".utf8).base64EncodedString()
        for headers in [[], [("Authorization", wrongKey)], [("Authorization", SimulatorCredentials.cordialAPIKey)]] {
            let r = try await sim.send(.GET, "/cordial/v2/jobs", headers: headers)
            XCTAssertEqual(r.status, 401)
            XCTAssertEqual(r.object["error"] as? Bool, true)
        }
    }

    func testJobsListFiltersByName() async throws {
        let body: [String: Any] = ["name": "listed-export", "exportType": "txt", "destination": ["type": "gcs", "gcs_bucket": "b"]]
        let r = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: body)
        let id = try XCTUnwrap(r.object.str("jobId"))
        let list = try await sim.send(.GET, "/cordial/v2/jobs?jobName=listed-export&per_page=10", headers: Auth.cordial)
        XCTAssertEqual(list.array.compactMap { ($0 as? [String: Any])?.str("_id") }, [id])
        let badPerPage = try await sim.send(.GET, "/cordial/v2/jobs?per_page=0", headers: Auth.cordial).status
        XCTAssertEqual(badPerPage, 400)
    }

    /// 003_3d234a6b4716e979.txt:77, 94, 116, 140: a column for each day of the timeframe, a row for each audience.
    func testAudienceTrendsFileHasAColumnPerDayAndARowPerAudience() async throws {
        let r = try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: [
            "name": "layout-check", "exportType": "csv", "destination": ["type": "gcs", "gcs_bucket": "bucketname", "path": "/audiencetrendsexport"],
            "selected_timeframe_start": "2024-02-27", "selected_timeframe_end": "2024-03-02",
            "audiences": ["App users", "VIP customers", "Winback 90d"],
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let (_, job) = try await waitFor(try XCTUnwrap(r.object.str("jobId")))
        let location = try XCTUnwrap(job.dict("result").str("location"))
        XCTAssertTrue(location.hasSuffix("/gcs/audiencetrendsexport/layout-check.csv"), location)
        let rows = try String(contentsOfFile: location, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, 4, "the header and a row per audience")
        XCTAssertEqual(rows[0].map(String.init), ["audience", "2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"])
        XCTAssertEqual(rows.dropFirst().map { String($0[0]) }, ["App users", "VIP customers", "Winback 90d"])
        for row in rows.dropFirst() {
            XCTAssertEqual(row.count, 6)
            XCTAssertTrue(row.dropFirst().allSatisfy { Int($0) != nil }, "\(row)")
        }
        XCTAssertEqual(job.num("totalItems"), 3)
        // 003_3d234a6b4716e979.txt:72-73 the timeframe is in dates
        let dateTime = try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: [
            "name": "layout-check", "exportType": "csv", "selected_timeframe_start": "2024-02-27T00:00:00Z",
            "selected_timeframe_end": "2024-03-02", "audiences": ["App users"],
        ])
        XCTAssertEqual(dateTime.status, 400)
        // 003_3d234a6b4716e979.txt:28 exportType: only csv
        let json = try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: [
            "name": "layout-check", "exportType": "json", "selected_timeframe_start": "2024-02-27",
            "selected_timeframe_end": "2024-03-02", "audiences": ["App users"],
        ])
        XCTAssertEqual(json.status, 400)
        XCTAssertEqual(json.object.str("errorKey"), "VALIDATION_ERROR")
    }

    /// 003_3d234a6b4716e979.txt:30-33, 79-90: destination is optional; {type: "aws"} leaves the file on the UI's Jobs page.
    /// 003:35-37 vs 83/100/122/148: type words in upper or lower case; 003:55-57 vs 102: the port a number or "21".
    func testDestinationIsOptionalAndTypeWordsInEitherCase() async throws {
        func trends(_ name: String, _ destination: [String: Any]?) async throws -> Reply {
            var body: [String: Any] = ["name": name, "exportType": "csv", "selected_timeframe_start": "2021-07-16",
                                       "selected_timeframe_end": "2021-08-16", "audiences": ["VIP customers", "App users"]]
            if let destination { body["destination"] = destination }
            return try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: body)
        }
        let accepted: [(String, [String: Any]?)] = [
            ("ui-aws", ["type": "aws"]), ("ui-none", nil), ("ui-AWS", ["type": "AWS"]),
            ("sftp-string-port", ["type": "sftp", "server": "example.com", "port": "21", "username": "username", "password": "password", "path": "/"]),
            ("SFTP-upper", ["type": "SFTP", "server": "example.com", "port": 22, "username": "u", "savedKey": "myKeyName"]),
            ("S3-upper", ["type": "S3", "aws_access_key_id": "A1234567890", "aws_secret_access_key": "B1234567890", "aws_bucket": "my_bucket",
                          "aws_region": "us-west-2", "path": "folder"]),
            ("GCS-upper", ["type": "GCS", "gcs_bucket": "bucketname", "path": "/audiencetrendsexport"]),
        ]
        for (name, destination) in accepted {
            let r = try await trends(name, destination)
            XCTAssertEqual(r.status, 200, "\(name): \(r.text)")
            let (seen, job) = try await waitFor(try XCTUnwrap(r.object.str("jobId")))
            XCTAssertEqual(seen.last, "Done", name)
            XCTAssertEqual(job.dict("result").str("destinationType"), (destination?["type"] as? String)?.lowercased() ?? "aws", name)
        }
        let ui = try await trends("ui-file", ["type": "aws"])
        let (_, uiJob) = try await waitFor(try XCTUnwrap(ui.object.str("jobId")))
        XCTAssertNil(uiJob.dict("result")["location"], "no API location: the file is on the Jobs page of the UI")
        let kept = sim.simulator.config.dataDirectory + "/ui/\(try XCTUnwrap(uiJob.str("_id")))/ui-file.csv"
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept), kept)
    }

    /// 003_3d234a6b4716e979.txt:70 (S3 path: folder and file), 116-127 (a folder), 136 (a trailing slash doubles).
    func testS3PathNamesTheFolderOrTheFolderAndFile() async throws {
        let cases: [(String?, String)] = [
            ("folder", "folder/s3-path.csv"), ("/folder/contactsExport.csv", "folder/contactsExport.csv"),
            ("folder/", "folder//s3-path.csv"), (nil, "s3-path.csv"),
        ]
        for (path, key) in cases {
            var destination = s3Destination
            destination["path"] = path
            let r = try await sim.send(.POST, "/cordial/v2/audiencetrendsexport", headers: Auth.cordial, json: [
                "name": "s3-path", "exportType": "csv", "destination": destination,
                "selected_timeframe_start": "2024-01-01", "selected_timeframe_end": "2024-01-02", "audiences": ["App users"],
            ])
            XCTAssertEqual(r.status, 200, r.text)
            let (_, job) = try await waitFor(try XCTUnwrap(r.object.str("jobId")))
            XCTAssertEqual(job.dict("result").str("location"), "s3://exports-bucket/\(key)", "\(path ?? "no path")")
            XCTAssertEqual(job.dict("metadata").str("fileName"), String(key.split(separator: "/").last!))
        }
    }

    /// cordial.s3_path: Cordial's "path to folder and file" read three ways (003:70, 116-127, 136).
    func testS3PathReadings() {
        let cases: [(String, String?, String)] = [
            ("extension", "/folder/x.csv", "folder/x.csv"), ("extension", "folder", "folder/N.csv"),
            ("folder", "/folder/x.csv", "folder/x.csv/N.csv"), ("folder", "folder", "folder/N.csv"),
            ("file", "/folder/x.csv", "folder/x.csv"), ("file", "folder", "folder"),
            ("file", "folder/", "folder//N.csv"), ("file", nil, "N.csv"),
        ]
        for (reading, path, key) in cases {
            XCTAssertEqual(CordialSim.s3Key(path: path, fileName: "N.csv", reading: reading).key, key, "\(reading) \(path ?? "nil")")
        }
    }

    /// The jobs listing is not in 003_3d234a6b4716e979.txt: each variant answers it its own way.
    func testJobsListingVariants() async throws {
        func listing(_ variants: [String: String], _ query: String) async throws -> Any? {
            let h = try SimHarness { $0.variants = variants }
            defer { h.shutdown() }
            for i in 0..<25 {
                let r = try await h.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial,
                                         json: ["name": "job-\(i % 5)", "exportType": "csv"])
                XCTAssertEqual(r.status, 200, r.text)
            }
            return try await h.send(.GET, "/cordial/v2/jobs?" + query, headers: Auth.cordial).json
        }
        let honoured = try await listing([:], "jobName=job-1&per_page=100") as? [[String: Any]]
        XCTAssertEqual(honoured?.count, 5)
        // 25 jobs of the run and the account's earlier ones.
        let all = 25 + CordialSim.historyCount
        let ignored = try await listing(["cordial.jobs_filter": "ignored"], "jobName=job-1&per_page=100") as? [[String: Any]]
        XCTAssertEqual(ignored?.count, all)
        let capped = try await listing(["cordial.paging": "capped"], "page=2&per_page=100") as? [[String: Any]]
        XCTAssertEqual(capped?.count, all - 20, "page 2 of pages of 20")
        let noPaging = try await listing(["cordial.paging": "ignored"], "page=3&per_page=2") as? [[String: Any]]
        XCTAssertEqual(noPaging?.count, all)
        let cappedFirst = try await listing(["cordial.paging": "capped_ignored"], "page=2&per_page=100") as? [[String: Any]]
        XCTAssertEqual(cappedFirst?.count, 20, "always the first page of 20")
        let wrapped = try await listing(["cordial.jobs_listing": "wrapped"], "page=1&per_page=10") as? [String: Any]
        XCTAssertEqual((wrapped?["data"] as? [Any])?.count, 10)
        XCTAssertEqual(wrapped?.num("total"), all)
    }

    /// (assumed: 003_3d234a6b4716e979.txt is silent) The account has finished exports from before the run,
    /// listed oldest last, shaped as every job is, not counted as created, back after a reset, the same per seed.
    func testTheAccountHasEarlierExports() async throws {
        func earlier(_ h: SimHarness) async throws -> [[String: Any]] {
            let list = try await h.send(.GET, "/cordial/v2/jobs?per_page=100", headers: Auth.cordial)
            XCTAssertEqual(list.status, 200, list.text)
            return list.array.compactMap { $0 as? [String: Any] }
        }
        // A simulator of its own: the class's `sim` holds the other tests' jobs.
        let sim = try SimHarness()
        defer { sim.shutdown() }
        let jobs = try await earlier(sim)
        XCTAssertEqual(jobs.count, CordialSim.historyCount)
        let r = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: ["name": "run-export", "exportType": "csv"])
        let id = try XCTUnwrap(r.object.str("jobId"))
        let seen = try await sim.poll("/cordial/v2/jobs/\(id)", headers: Auth.cordial, terminal: ["Done", "Failed"]) { $0.object.str("status") }
        XCTAssertEqual(seen.last, "Done")
        let made = try await sim.send(.GET, "/cordial/v2/jobs/\(id)", headers: Auth.cordial).object
        var starts: [String] = []
        for job in jobs {
            XCTAssertEqual(job.str("status"), "Done")
            let name = try XCTUnwrap(job.str("jobName"))
            XCTAssertNotNil(name.range(of: #"^contacts-\d{4}-\d{2}$"#, options: .regularExpression), name)
            XCTAssertEqual(Set(job.keys), Set(made.keys), "the same fields as a job of the run")
            XCTAssertEqual(Set(job.dict("result").keys), Set(made.dict("result").keys).subtracting(["location"]))
            XCTAssertEqual(job.num("completedItems"), job.num("totalItems"))
            starts.append(try XCTUnwrap(job.dict("times").str("start")))
            let one = try await sim.send(.GET, "/cordial/v2/jobs/\(job.str("_id") ?? "")", headers: Auth.cordial)
            XCTAssertEqual(one.object.str("jobName"), name)
        }
        XCTAssertEqual(starts, starts.sorted(by: >), "newest first")
        let listed = try await earlier(sim)
        XCTAssertEqual(listed.first?.str("_id"), id, "the run's export is the newest")
        XCTAssertEqual(listed.count, CordialSim.historyCount + 1)
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("created").dict("cordial").num("exports"), 1, "earlier exports are not the run's")

        _ = try await sim.send(.POST, "/__sim/reset")
        let back = try await earlier(sim)
        XCTAssertEqual(back.compactMap { $0.str("_id") }, jobs.compactMap { $0.str("_id") }, "back after a reset")
        let again = try await sim.send(.POST, "/cordial/v2/contactexports", headers: Auth.cordial, json: ["name": "run-export", "exportType": "csv"])
        XCTAssertEqual(again.object.str("jobId"), id, "the run's ids do not depend on them")

        let a = try SimHarness { $0.seed = 5 }, b = try SimHarness { $0.seed = 5 }, c = try SimHarness { $0.seed = 6 }
        defer { a.shutdown(); b.shutdown(); c.shutdown() }
        let (la, lb, lc) = (try await earlier(a), try await earlier(b), try await earlier(c))
        XCTAssertEqual(la.compactMap { $0.str("_id") }, lb.compactMap { $0.str("_id") }, "the same seed, the same jobs")
        XCTAssertEqual(la.compactMap { $0.num("totalItems") }, lb.compactMap { $0.num("totalItems") })
        XCTAssertNotEqual(la.compactMap { $0.str("_id") }, lc.compactMap { $0.str("_id") })
    }
}

final class MediarithmicsTests: SimTestCase {
    let base = "/mediarithmics/v1/datamarts/1509/document_imports"

    private func createImport(_ type: String = "USER_ACTIVITY", _ mime: String = "APPLICATION_X_NDJSON", name: String) async throws -> String {
        let r = try await sim.send(.POST, base, headers: Auth.mediarithmics,
                                   json: ["document_type": type, "mime_type": mime, "encoding": "utf-8", "name": name])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.object.str("status"), "ok")
        let data = r.object.dict("data")
        for key in ["id", "datafarm_key", "datamart_id", "document_type", "mime_type", "encoding", "name", "priority"] {
            XCTAssertNotNil(data[key], key)
        }
        return try XCTUnwrap(data.str("id"))
    }

    private func assertError(_ r: Reply, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        XCTAssertEqual(r.object.str("status"), "error", file: file, line: line)
        XCTAssertNotNil(r.object.str("error"), file: file, line: line)
        XCTAssertNotNil(r.object.str("error_code"), file: file, line: line)
        XCTAssertNotNil(r.object.str("error_id"), file: file, line: line)
    }

    func testSeededImportsAndPaging() async throws {
        let r = try await sim.send(.GET, "/mediarithmics/v1/datamarts/1502/document_imports?first_result=0&max_results=1", headers: Auth.mediarithmics)
        XCTAssertEqual(r.object.str("status"), "ok")
        XCTAssertEqual(r.object.num("count"), 1)
        XCTAssertEqual(r.object.num("total"), 2)
        XCTAssertEqual(r.object.num("max_results"), 1)
        assertError(try await sim.send(.GET, "/mediarithmics/v1/datamarts/9999/document_imports", headers: Auth.mediarithmics), 404)
    }

    func testExecutionCountsLinesAndSucceeds() async throws {
        let id = try await createImport(name: "Visits \(UUID().uuidString)")
        let line = { (u: String) in "{\"$user_account_id\":\"\(u)\",\"$type\":\"TOUCH\",\"$ts\":1605262037783}\n" }
        let file = line("a") + line("b") + "not json\n" + line("c") + "\n[1,2]\n" + line("d")
        let r = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array(file.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(r.status, 200, r.text)
        let data = r.object.dict("data")
        XCTAssertEqual(data.str("status"), "PENDING")
        XCTAssertEqual(data.str("job_type"), "DOCUMENT_IMPORT")
        XCTAssertNotNil(data["creation_date"] as? NSNumber)
        // 004_9b3b7e85d9ecdb33.txt:90-92 parameters, result and error are null in the answer to the upload
        XCTAssertTrue(data["parameters"] is NSNull)
        XCTAssertTrue(data["result"] is NSNull)
        XCTAssertTrue(data["error"] is NSNull)
        let exec = try XCTUnwrap(data.str("id"))
        let seen = try await sim.poll(base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics,
                                      terminal: ["SUCCEEDED", "SUCCESS", "FAILED", "LOST", "CANCELED"]) { $0.object.dict("data").str("status") }
        assertInOrder(seen, ["PENDING", "RUNNING", "SUCCEEDED"], ending: "SUCCEEDED")
        let done = try await sim.send(.GET, base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics).object.dict("data")
        XCTAssertEqual(done.dict("result").num("total_success"), 4)
        XCTAssertEqual(done.dict("result").num("total_failure"), 2)
        XCTAssertNotNil(done.dict("result").str("error_file_uri"))
        for key in ["start_date", "end_date", "duration", "num_tasks", "completed_tasks", "erroneous_tasks"] {
            XCTAssertNotNil(done[key] as? NSNumber, key)
        }

        let list = try await sim.send(.GET, base + "/\(id)/executions", headers: Auth.mediarithmics)
        let first = try XCTUnwrap((list.object["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(first.str("id"), exec)
        XCTAssertEqual(first.dict("parameters").num("number_of_lines"), 6)

        let allBad = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array("nope\nnope\n".utf8),
                                        contentType: "application/x-ndjson")
        let badExec = try XCTUnwrap(allBad.object.dict("data").str("id"))
        let badSeen = try await sim.poll(base + "/\(id)/executions/\(badExec)", headers: Auth.mediarithmics,
                                         terminal: ["SUCCEEDED", "FAILED"]) { $0.object.dict("data").str("status") }
        XCTAssertEqual(badSeen.last, "FAILED")
    }

    func testLargeUploadIsCountedAndTheServerStaysResponsive() async throws {
        let id = try await createImport(name: "Large \(UUID().uuidString)")
        var file = ""
        for i in 0..<30_000 { file += i % 1000 == 999 ? "{broken\n" : "{\"$user_account_id\":\"user-\(i)\",\"$type\":\"SITE_VISIT\",\"$ts\":\(1_700_000_000_000 + i)}\n" }
        XCTAssertGreaterThan(file.utf8.count, SimHTTPHandler.offloadBodyBytes)
        let harness = sim, path = base + "/\(id)/executions", bytes = Array(file.utf8)
        async let upload = harness.send(.POST, path, headers: Auth.mediarithmics, body: bytes, contentType: "application/x-ndjson")
        let health = try await sim.send(.GET, "/__sim/health")
        XCTAssertEqual(health.status, 200)
        let r = try await upload
        XCTAssertEqual(r.status, 200, r.text)
        let exec = try XCTUnwrap(r.object.dict("data").str("id"))
        _ = try await sim.poll(base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics, terminal: ["SUCCEEDED", "FAILED"]) {
            $0.object.dict("data").str("status")
        }
        let done = try await sim.send(.GET, base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics).object.dict("data")
        XCTAssertEqual(done.dict("parameters").num("number_of_lines"), 30_000)
        XCTAssertEqual(done.dict("result").num("total_success"), 29_970)
        XCTAssertEqual(done.dict("result").num("total_failure"), 30)
    }

    func testCSVImportCountsFieldsAgainstTheHeader() async throws {
        let id = try await createImport("USER_PROFILE", "TEXT_CSV", name: "Profiles \(UUID().uuidString)")
        let csv = "user_id,email,city\nu1,a@example.com,Lyon\nu2,\"b, c\"@example.com,Osaka\nu3,broken\n"
        let r = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array(csv.utf8), contentType: "text/csv; charset=utf-8")
        XCTAssertEqual(r.status, 200, r.text)
        let exec = try XCTUnwrap(r.object.dict("data").str("id"))
        _ = try await sim.poll(base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics, terminal: ["SUCCEEDED", "FAILED"]) {
            $0.object.dict("data").str("status")
        }
        let done = try await sim.send(.GET, base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics).object.dict("data")
        XCTAssertEqual(done.dict("result").num("total_success"), 2)
        XCTAssertEqual(done.dict("result").num("total_failure"), 1)
    }

    func testValidationErrors() async throws {
        let wrongMime = try await sim.send(.POST, base, headers: Auth.mediarithmics,
                                           json: ["document_type": "USER_ACTIVITY", "mime_type": "TEXT_CSV", "encoding": "utf-8", "name": "x"])
        assertError(wrongMime, 400)
        XCTAssertTrue(wrongMime.object.str("error")?.contains("USER_ACTIVITY") ?? false)
        assertError(try await sim.send(.POST, base, headers: Auth.mediarithmics,
                                       json: ["document_type": "USER_EVENTS", "mime_type": "APPLICATION_X_NDJSON", "name": "x"]), 400)
        assertError(try await sim.send(.POST, base, headers: Auth.mediarithmics,
                                       json: ["document_type": "USER_SEGMENT", "mime_type": "APPLICATION_JSON", "name": "x"]), 400)

        let id = try await createImport(name: "Validation \(UUID().uuidString)")
        let mismatch = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array("{}\n".utf8), contentType: "text/csv")
        assertError(mismatch, 400)
        XCTAssertTrue(mismatch.object.str("error")?.contains("Content-Type") ?? false)
        let noType = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array("{}\n".utf8))
        assertError(noType, 400)

        let huge = [UInt8](repeating: 10, count: MediarithmicsSim.maxFileBytes + 1)
        let tooBig = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: huge, contentType: "application/x-ndjson")
        assertError(tooBig, 400)
        XCTAssertTrue(tooBig.object.str("error")?.contains("100 MB") ?? false)

        assertError(try await sim.send(.GET, base + "/\(id)/executions/123", headers: Auth.mediarithmics), 404)
        assertError(try await sim.send(.GET, base + "/777777", headers: Auth.mediarithmics), 404)
    }

    /// 004_9b3b7e85d9ecdb33.txt:119-166: the execution ends SUCCEEDED with result.total_success / total_failure /
    /// error_file_uri when some lines are rejected: not JSON, or (assumed) a user activity without $ts or $type.
    func testRejectedLinesEndSucceededWithTheSeedsResultFields() async throws {
        let id = try await createImport(name: "Rejected \(UUID().uuidString)")
        let file = """
            {"$email_hash":{"$email":"a@example.com"},"$type":"TOUCH","$session_status":"NO_SESSION","$ts":1605262037783,"$events":[]}
            {"$type":"TOUCH","$events":[]}
            {"$ts":1605262037783}
            not json
            {"$user_account_id":"u2","$type":"TOUCH","$ts":1605262037790}

            """
        let r = try await sim.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics, body: Array(file.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(r.status, 200, r.text)
        let exec = try XCTUnwrap(r.object.dict("data").str("id"))
        let seen = try await sim.poll(base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics, terminal: ["SUCCEEDED", "FAILED"]) {
            $0.object.dict("data").str("status")
        }
        assertInOrder(seen, ["PENDING", "RUNNING", "SUCCEEDED"], ending: "SUCCEEDED")
        let done = try await sim.send(.GET, base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics).object.dict("data")
        let result = done.dict("result"), parameters = done.dict("parameters")
        XCTAssertEqual(result.num("total_success"), 2)
        XCTAssertEqual(result.num("total_failure"), 3)
        for key in ["input_file_name", "input_file_uri", "error_file_uri"] { XCTAssertNotNil(result.str(key), key) }
        XCTAssertEqual(result["possible_issue_on_identifiers"] as? Bool, false)
        XCTAssertNotNil(result["top_identifiers"] as? [String: Any])
        XCTAssertEqual(parameters.num("number_of_lines"), 5)
        XCTAssertEqual(parameters.str("mime_type"), "APPLICATION_X_NDJSON")
        XCTAssertEqual(parameters.str("document_type"), "USER_ACTIVITY")
        XCTAssertNotNil(parameters.num("datamart_id"))
        XCTAssertNotNil(parameters.num("document_import_id"))
        for key in ["input_file_name", "file_uri"] { XCTAssertNotNil(parameters.str(key), key) }
        XCTAssertTrue(parameters["segment_id"] is NSNull)
        XCTAssertNil(parameters["file_size"], "not a field of mediarithmics' parameters")
        for key in ["organisation_id", "permalink_uri", "job_type", "import_mode"] { XCTAssertNotNil(done.str(key), key) }
        for key in ["retry_count", "num_tasks", "completed_tasks", "erroneous_tasks", "end_date", "duration", "start_date"] {
            XCTAssertNotNil(done[key] as? NSNumber, key)
        }
        XCTAssertTrue(done["error"] is NSNull)
    }

    /// 004_9b3b7e85d9ecdb33.txt:129 number_of_lines, shown for NDJSON only: a CSV file's header is counted (default) or not.
    func testCSVNumberOfLinesWithOrWithoutTheHeader() async throws {
        for (variant, expected) in [("with_header", 4), ("without_header", 3)] {
            let h = try SimHarness { $0.variants = ["mediarithmics.csv_lines": variant] }
            defer { h.shutdown() }
            let imp = try await h.send(.POST, base, headers: Auth.mediarithmics,
                                       json: ["document_type": "USER_PROFILE", "mime_type": "TEXT_CSV", "encoding": "utf-8", "name": "CSV lines"])
            let id = try XCTUnwrap(imp.object.dict("data").str("id"))
            let r = try await h.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics,
                                     body: Array("user_id,email\nu1,a@x\nu2,b@x\nu3,c@x\n".utf8), contentType: "text/csv")
            let exec = try XCTUnwrap(r.object.dict("data").str("id"))
            let got = try await h.send(.GET, base + "/\(id)/executions/\(exec)", headers: Auth.mediarithmics).object.dict("data")
            XCTAssertEqual(got.dict("parameters").num("number_of_lines"), expected, variant)
        }
    }

    /// The listings are not in 004_9b3b7e85d9ecdb33.txt: paged as asked, capped at 20, or not paged at all.
    func testListingPagingVariants() async throws {
        for (variant, count) in [("honoured", 25), ("capped", 20), ("ignored", 28), ("capped_ignored", 20)] {
            let h = try SimHarness { $0.variants = ["mediarithmics.paging": variant] }
            defer { h.shutdown() }
            for i in 0..<26 {
                _ = try await h.send(.POST, "/mediarithmics/v1/datamarts/1502/document_imports", headers: Auth.mediarithmics,
                                     json: ["document_type": "USER_SEGMENT", "mime_type": "APPLICATION_X_NDJSON", "name": "Paged \(i)"])
            }
            let page = try await h.send(.GET, "/mediarithmics/v1/datamarts/1502/document_imports?first_result=3&max_results=100",
                                        headers: Auth.mediarithmics).object
            XCTAssertEqual((page["data"] as? [Any])?.count, count, variant)
            XCTAssertEqual(page.num("total"), 28, variant)
        }
    }

    /// mediarithmics.order: the executions listing newest first (default) or oldest first.
    func testExecutionsOrderVariants() async throws {
        for (variant, newestFirst) in [("newest", true), ("oldest", false)] {
            let h = try SimHarness { $0.variants = ["mediarithmics.order": variant] }
            defer { h.shutdown() }
            let imp = try await h.send(.POST, base, headers: Auth.mediarithmics,
                                       json: ["document_type": "USER_ACTIVITY", "mime_type": "APPLICATION_X_NDJSON", "name": "Order"])
            let id = try XCTUnwrap(imp.object.dict("data").str("id"))
            var made: [String] = []
            for i in 0..<3 {
                let r = try await h.send(.POST, base + "/\(id)/executions", headers: Auth.mediarithmics,
                                         body: Array("{\"n\":\(i)}\n".utf8), contentType: "application/x-ndjson")
                made.append(try XCTUnwrap(r.object.dict("data").str("id")))
            }
            let page = try await h.send(.GET, base + "/\(id)/executions", headers: Auth.mediarithmics).object
            let ids = (page["data"] as? [[String: Any]])?.compactMap { $0.str("id") }
            XCTAssertEqual(ids, newestFirst ? made.reversed() : made, variant)
        }
    }

    func testAuthFailures() async throws {
        for headers in [[], [("Authorization", "Bearer " + SimulatorCredentials.mediarithmicsAPIToken)], [("Authorization", "nope")]] {
            assertError(try await sim.send(.GET, base, headers: headers), 401)
        }
    }
}
