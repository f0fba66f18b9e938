import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Cordial, under `/cordial`, paths under `/v2`, written from Cordial's
/// "Audience Trends export API" page (003_3d234a6b4716e979.txt, cited below
/// as 003:LINE). Where that page is silent (the jobs resource, the contacts
/// export, auth, error bodies, rate limits) the simulator follows the
/// project's vendor notes and says "(assumed)"; where several readings are
/// plausible it offers them as variants (`CordialSim.variants`).
///
/// - Auth (assumed): HTTP Basic, the API key as user name and an empty
///   password; wrong or missing → 401.
/// - Errors (assumed): `{error: true, errorKey, message}` (`RECORD_NOT_FOUND`,
///   `INVALID_JSON_PROVIDED`, `VALIDATION_ERROR`, `STORAGE_CONNECTION_ERROR`, ...).
/// - `POST /v2/audiencetrendsexport` (003:19-23) → `{jobId}` (assumed). Body
///   (003:26-74): `name` (letters, numbers, dashes), `exportType` "csv",
///   `destination` (optional: required only for SFTP, FTP, S3 and GCS; type
///   "aws", or none, leaves the file on the Jobs page of Cordial's UI, 003:30-33,
///   kept 30 days, 003:17), `selected_timeframe_start` / `_end` (dates),
///   `audiences` (names). The file has a column per day of the timeframe and a
///   row per audience (003:77, 94, 116, 140).
/// - `POST /v2/contactexports` (assumed: not on that page) → `{jobId}`.
/// - Jobs (003:15 "the jobs resource", assumed shape): Pending (2 s, scaled) →
///   Processing (3 s) → Done, then the file is written to the destination:
///   `s3` into the simulator's S3-compatible store (`MOONPORT_SIM_S3_URL`,
///   GetObject signed with the destination's keys); ftp, sftp and gcs into
///   `dataDirectory/<type>/<path>/<file>`; the UI (`aws`, or no destination)
///   into `dataDirectory/ui/<job id>/<file>`, which no API reads. A destination
///   whose server or bucket is `sim-fail` ends Failed (STORAGE_CONNECTION_ERROR).
/// - History (assumed): the jobs resource starts with `historyCount` finished
///   contacts exports made before the run (`contacts-YYYY-MM`), as a real
///   account's does; `reset` brings them back.
/// - Rate limits per endpoint and method (assumed): every answer carries
///   `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`, `X-Rate-Limit-Reset`
///   (seconds until the window resets); 429 adds `Retry-After` (seconds).
final class CordialSim: VendorModule, @unchecked Sendable {
    /// The readings this vendor offers where its document is silent (see `SimVariant`).
    static let variants: [SimVariant] = [
        // 003_3d234a6b4716e979.txt:15 names only "the jobs resource": its filters, shape and paging are assumed.
        SimVariant("cordial.jobs_filter", ["honoured", "ignored"],
                   "GET /v2/jobs?jobName=&status=: Cordial's API documentation names only 'the jobs resource': the listing filters by jobName and status (default), or ignores both filters and lists every job"),
        SimVariant("cordial.jobs_listing", ["bare", "wrapped"],
                   "GET /v2/jobs (shape not in Cordial's API documentation): a bare JSON list of jobs (default), or {data: [...], total, page, per_page}"),
        SimVariant("cordial.paging", ["honoured", "capped", "ignored", "capped_ignored"],
                   "GET /v2/jobs page/per_page (not in Cordial's API documentation): as asked (default), per_page capped at 20, both ignored (every job in one answer), or capped at 20 with page ignored (always the first 20)"),
        // 003_3d234a6b4716e979.txt:70 "path to folder and file" (S3: /folder/contactsExport.csv), :116-127 the
        // example's path "folder" ("uploaded to s3://my_bucket/folder"), :136 a trailing slash doubles one.
        SimVariant("cordial.s3_path", ["extension", "folder", "file"],
                   "S3 destination.path: Cordial's API documentation says 'path to folder and file' and shows both /folder/contactsExport.csv and folder: the last part names the file when it has a file extension (default, assumed), the path is always a folder (the file's name is added), or the path is always the file's key"),
    ]

    typealias ErrorStyle = Void

    let name = "cordial"
    let prefix = "/cordial"
    let context: SimContext

    static let pendingSeconds = 2.0
    static let processingSeconds = 3.0
    /// 003:35-37 "Possible Values: AWS, FTP, SFTP, S3, GCS" (the examples write them in lower case).
    static let destinationTypes = ["aws", "ftp", "sftp", "s3", "gcs"]
    /// Page size cap of the `cordial.paging=capped` reading.
    static let pageCap = 20

    struct Contact { let fields: [String: String]; let lists: [String] }

    struct Job {
        let id: String
        let jobName: String
        /// `audiencetrendsexport` or `contactexports`.
        let kind: String
        let exportType: String
        /// The destination as sent; nil when none was given (the UI's Jobs page).
        let destination: [String: Any]?
        /// `aws` (the UI), `ftp`, `sftp`, `s3` or `gcs`, in lower case.
        let destinationType: String
        let created: Double
        let fileName: String
        let content: [UInt8]
        let rows: Int
        let failure: String?
        var location: String?
        var written = false
    }

    struct State {
        var ids: IdGenerator
        var jobs: [String: Job] = [:]
        var order: [String] = []
    }

    let audiences = ["Newsletter subscribers", "VIP customers", "Cart abandoners", "Winback 90d", "Spring promo", "App users"]
    let contacts: [Contact]
    private let lock = NIOLock()
    private var state: State

    init(context: SimContext) {
        self.context = context
        state = State(ids: IdGenerator(seed: context.seed, stream: "cordial.ids"))
        var rng = SplitMix64(seed: context.seed, stream: "cordial.data")
        let cities = ["Austin", "Lyon", "Osaka", "Toronto", "Lisbon", "Denver", "Berlin", "Melbourne"]
        var list: [Contact] = []
        for i in 0..<200 {
            let f = rng.pick(DemoData.firstNames), l = rng.pick(DemoData.lastNames)
            let email = "\(f.lowercased()).\(l.lowercased().replacingOccurrences(of: "'", with: ""))\(i)@example.com"
            let lists = audiences.filter { _ in rng.int(1...3) == 1 }
            list.append(Contact(fields: [
                "email": email, "channels.email.address": email,
                "channels.email.subscribeStatus": rng.int(1...10) <= 8 ? "subscribed" : "unsubscribed",
                "first_name": f, "last_name": l, "city": rng.pick(cities),
                "lifetime_value": String(rng.int(0...5000)), "cID": String(format: "%024llx", rng.next()),
            ], lists: lists))
        }
        contacts = list
        state = freshState()
    }

    func reset() {
        let fresh = freshState()
        lock.withLock { state = fresh }
    }

    /// How many finished exports the account has from before the run.
    static let historyCount = 3

    /// The state the simulator starts from: no job of the run yet, and the
    /// account's history (`historyCount` exports made before the run).
    private func freshState() -> State {
        var s = State(ids: IdGenerator(seed: context.seed, stream: "cordial.ids"))
        for job in history() {
            s.jobs[job.id] = job
            s.order.append(job.id)
        }
        return s
    }

    /// (assumed: 003_3d234a6b4716e979.txt is silent on what an account
    /// already holds) A real account's jobs resource is not empty: monthly
    /// contacts exports made before the run, oldest first, finished (Done),
    /// their files on the Jobs page of the UI (no destination), named
    /// `contacts-YYYY-MM` for the month they ran. Their lists, rows and ids
    /// come from the seed (ids from a stream of their own, so the run's job
    /// ids do not depend on them); their times, like every time the
    /// simulator shows, from the wall clock. They are read as every job is
    /// (`jobJSON`), so they have the same shape under every variant, and are
    /// not counted as created by the run.
    private func history() -> [Job] {
        var rng = SplitMix64(seed: context.seed, stream: "cordial.history")
        var ids = IdGenerator(seed: context.seed, stream: "cordial.history.ids")
        let now = context.clock.now()
        let fields = ["email", "channels.email.subscribeStatus"]
        var jobs: [Job] = []
        for monthsAgo in stride(from: Self.historyCount, through: 1, by: -1) {
            let created = now - Double(monthsAgo * 30) * 86_400 - Double(rng.int(0...20 * 3600))
            let name = "contacts-" + String(Dates.day(created).prefix(7))
            let list = rng.pick(audiences)
            let selected = contacts.filter { $0.lists.contains(list) }
            var text = fields.joined(separator: ",") + "\n"
            for c in selected { text += fields.map { Self.csvField(c.fields[$0] ?? "") }.joined(separator: ",") + "\n" }
            jobs.append(Job(id: ids.objectId(), jobName: name, kind: "contactexports", exportType: "csv", destination: nil,
                            destinationType: "aws", created: created, fileName: name + ".csv", content: Array(text.utf8),
                            rows: selected.count, failure: nil, location: nil, written: true))
        }
        return jobs
    }

    func routes() -> [Route] {
        [
            // 003_3d234a6b4716e979.txt:19-23 POST /v2/audiencetrendsexport: creates an export job from the JSON body
            endpoint(.POST, "/v2/audiencetrendsexport", style: ()) { r, _ in self.audienceTrends(r) },
            // (assumed) POST /v2/contactexports: not in 003_3d234a6b4716e979.txt; vendors.md § Cordial
            endpoint(.POST, "/v2/contactexports", style: ()) { r, _ in self.contactExport(r) },
            // 003_3d234a6b4716e979.txt:15 "status ... through the jobs resource"; the listing is (assumed), variants cordial.jobs_*
            endpoint(.GET, "/v2/jobs", style: ()) { r, _ in self.listJobs(r) },
            // 003_3d234a6b4716e979.txt:15 the jobs resource; GET /v2/jobs/{id} and its shape are (assumed), vendors.md § Cordial
            endpoint(.GET, "/v2/jobs/{id}", style: ()) { _, p in self.getJob(p["id"]) },
        ]
    }

    // (assumed) HTTP Basic with the API key as user name: not in 003_3d234a6b4716e979.txt.
    func authenticate(_ request: SimRequest, style: Void) -> SimResponse? {
        let expected = "Basic " + Data((SimulatorCredentials.cordialAPIKey + ":").utf8).base64EncodedString()
        guard request.header("Authorization") == expected else {
            return .json(401, ["error": true, "errorKey": "UNAUTHORIZED", "message": "Invalid API key (HTTP Basic: the key as user name, empty password)"])
        }
        return nil
    }

    // (assumed) error body {error: true, errorKey, message}: not in 003_3d234a6b4716e979.txt.
    func error(_ style: Void, status: Int, code: String, message: String) -> SimResponse {
        .json(status, ["error": true, "errorKey": code == "internal_error" ? "INTERNAL_SERVER_ERROR" : code, "message": message])
    }

    func rateKey(method: HTTPMethod, pattern: String) -> String { "cordial \(method.rawValue) \(pattern)" }

    // (assumed) rate-limit headers: not in 003_3d234a6b4716e979.txt.
    func rateHeaders(_ budget: RateLimiter.Budget) -> [(String, String)] {
        [("X-Rate-Limit-Limit", String(budget.limit)), ("X-Rate-Limit-Remaining", String(budget.remaining)),
         ("X-Rate-Limit-Reset", String(budget.resetSeconds))]
    }

    func tooManyRequests(_ style: Void, _ budget: RateLimiter.Budget) -> SimResponse {
        error((), status: 429, code: "TOO_MANY_REQUESTS", message: "Rate limit exceeded for this endpoint; retry after \(budget.resetSeconds) s")
            .adding(headers: [("Retry-After", String(budget.resetSeconds))] + rateHeaders(budget))
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        error((), status: status, code: status == 405 ? "METHOD_NOT_ALLOWED" : "RECORD_NOT_FOUND",
              message: status == 405 ? "Method \(request.method.rawValue) not allowed on \(request.path)" : "No such endpoint: \(request.path)")
    }

    private func invalid(_ message: String) -> SimResponse { error((), status: 400, code: "VALIDATION_ERROR", message: message) }

    // MARK: Validation

    /// 003:27 "The name may only contain letters, numbers, and dashes."
    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
        }
    }

    /// The destination's type in lower case: `aws` when none is given
    /// (003:30-33: the file then goes to the Jobs page of the UI).
    static func destinationType(_ body: [String: Any]) -> String {
        (body.object("destination")?.string("type") ?? "aws").lowercased()
    }

    /// Checks a destination (003:30-71); returns the 400 answer when it is bad.
    private func checkDestination(_ value: Any?) -> SimResponse? {
        // 003:30-33 destination is required only for SFTP, FTP, S3 or GCS; "aws" (or none) is the UI's Jobs page.
        if value == nil || value is NSNull { return nil }
        guard let d = value as? [String: Any] else { return invalid("destination must be an object: {type, ...}") }
        // 003:35-37 "AWS, FTP, SFTP, S3, GCS"; the examples (83, 100, 122, 148) use lower case: both are accepted.
        guard let raw = d.string("type"), Self.destinationTypes.contains(raw.lowercased()) else {
            return invalid("destination.type must be one of AWS, FTP, SFTP, S3, GCS")
        }
        let type = raw.lowercased()
        func need(_ keys: [String]) -> SimResponse? {
            for k in keys where (d.string(k) ?? "").isEmpty { return invalid("destination.\(k) is required for type \(raw)") }
            return nil
        }
        switch type {
        case "aws":
            break  // 003:33, 79-90: {"type": "aws"} alone, the file is downloaded from the UI
        case "ftp", "sftp":
            // 003:40-50 server, username, password (required for FTP/SFTP); 003:51-54 savedKey instead of a password (SFTP)
            if let r = need(["server", "username"]) { return r }
            if (d.string("password") ?? "").isEmpty && (d.string("savedKey") ?? "").isEmpty {
                return invalid("destination.password (or destination.savedKey) is required for type \(raw)")
            }
            // 003:55-57 port, a number, required for FTP/SFTP; the SFTP example (003:102) sends "21", a string: both are accepted.
            guard let p = d["port"], !(p is NSNull) else { return invalid("destination.port is required for type \(raw)") }
            guard let port = d.int("port") ?? d.string("port").flatMap({ Int($0) }), (1...65535).contains(port) else {
                return invalid("destination.port must be a port number")
            }
        case "s3":
            // 003:58-69 aws_access_key_id, aws_secret_access_key, aws_bucket, aws_region: required if type is S3
            if let r = need(["aws_access_key_id", "aws_secret_access_key", "aws_bucket", "aws_region"]) { return r }
            let bucket = d.string("aws_bucket")!
            let ok = (3...63).contains(bucket.count) && bucket.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." || $0 == "_"
            }
            if !ok {
                // (assumed) what Cordial says when it cannot reach the bucket
                return error((), status: 400, code: "STORAGE_CONNECTION_ERROR", message: "Could not connect to bucket \(bucket): invalid bucket name")
            }
        default:
            // 003:71 gcs_bucket (003:144-150 the GCS example)
            if let r = need(["gcs_bucket"]) { return r }
        }
        if let path = d["path"], !(path is NSNull) {
            // 003:70 path: S3 "path to folder and file", FTP/SFTP/GCS "path to folder"; (assumed) no "." or ".." parts
            guard let p = path as? String, !p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                return invalid("destination.path must be a path without . or .. parts")
            }
        }
        return nil
    }

    private func commonChecks(_ body: [String: Any], types: [String]) -> SimResponse? {
        guard let name = body.string("name"), Self.validName(name) else {
            return invalid("name is required and may only contain letters, numbers, and dashes")
        }
        // 003:28 exportType: "Only csv is supported" (audience trends); 003:16 "Export supports file type CSV"
        let exportType = body.string("exportType") ?? ""
        guard types.contains(exportType) else { return invalid("exportType must be \(types.joined(separator: ", "))") }
        return checkDestination(body["destination"])
    }

    // MARK: Exports

    /// 003:19-23 POST /v2/audiencetrendsexport with the body of 003:26-74.
    func audienceTrends(_ request: SimRequest) -> SimResponse {
        guard let body = request.jsonObject else {
            return error((), status: 400, code: "INVALID_JSON_PROVIDED", message: "The body is not a JSON object")
        }
        if let r = commonChecks(body, types: ["csv"]) { return r }
        // 003:72-73 selected_timeframe_start / _end: dates (2021-08-17)
        guard let startText = body.string("selected_timeframe_start"), let start = Dates.parseDay(startText),
              let endText = body.string("selected_timeframe_end"), let end = Dates.parseDay(endText), start <= end else {
            return invalid("selected_timeframe_start and selected_timeframe_end are required dates (YYYY-MM-DD), start not after end")
        }
        // 003:74 audiences: array of audience names; (assumed) an unknown name is 404 RECORD_NOT_FOUND
        guard let wanted = body.strings("audiences"), !wanted.isEmpty else { return invalid("audiences must be a non-empty list of audience names") }
        if let unknown = wanted.first(where: { !audiences.contains($0) }) {
            return error((), status: 404, code: "RECORD_NOT_FOUND", message: "Audience \"\(unknown)\" not found")
        }
        // 003:77, 94, 116, 140: "a column for each day in the selected timeframe and a row for each audience".
        // (assumed) the first column, naming the audience, is headed "audience"; the cells are the audience's size that day.
        var days: [Double] = []
        var day = start
        while day <= end {
            days.append(day)
            day += 86_400
        }
        var csv = (["audience"] + days.map { Dates.day($0) }).joined(separator: ",") + "\n"
        for a in wanted {
            let base = 1000 + (audiences.firstIndex(of: a) ?? 0) * 2500
            let cells = days.map { d -> String in
                var rng = SplitMix64(seed: context.seed, stream: "cordial.trend.\(a).\(Int(d))")
                return String(base + rng.int(0...400))
            }
            csv += ([Self.csvField(a)] + cells).joined(separator: ",") + "\n"
        }
        return create(body, kind: "audiencetrendsexport", ext: "csv", content: Array(csv.utf8), rows: wanted.count)
    }

    /// (assumed) POST /v2/contactexports: not in 003_3d234a6b4716e979.txt; vendors.md § Cordial.
    func contactExport(_ request: SimRequest) -> SimResponse {
        guard let body = request.jsonObject else {
            return error((), status: 400, code: "INVALID_JSON_PROVIDED", message: "The body is not a JSON object")
        }
        if let r = commonChecks(body, types: ["csv", "json", "txt"]) { return r }
        var fields = ["email", "channels.email.subscribeStatus"]
        if body["fields"] != nil {
            guard let f = body.strings("fields"), !f.isEmpty else { return invalid("fields must be a non-empty list of contact attributes") }
            fields = f
        }
        var lists: [String]? = nil
        if body["lists"] != nil {
            guard let l = body.strings("lists") else { return invalid("lists must be a list of list names") }
            if let unknown = l.first(where: { !audiences.contains($0) }) {
                return error((), status: 404, code: "RECORD_NOT_FOUND", message: "List \"\(unknown)\" not found")
            }
            lists = l
        }
        if body["showHeader"] != nil && body.bool("showHeader") == nil { return invalid("showHeader must be a boolean") }
        if body["compress"] != nil && body.bool("compress") == nil { return invalid("compress must be a boolean") }
        let exportType = body.string("exportType")!
        let selected = contacts.filter { c in lists.map { l in c.lists.contains { l.contains($0) } } ?? true }
        var text = ""
        switch exportType {
        case "json":
            for c in selected {
                text += JSON.encodeString(Dictionary(uniqueKeysWithValues: fields.map { ($0, c.fields[$0] ?? "") })) + "\n"
            }
        default:
            let sep = exportType == "txt" ? "\t" : ","
            let cell = { (s: String) in exportType == "txt" ? s : Self.csvField(s) }
            if body.bool("showHeader") ?? true { text += fields.map(cell).joined(separator: sep) + "\n" }
            for c in selected { text += fields.map { cell(c.fields[$0] ?? "") }.joined(separator: sep) + "\n" }
        }
        var content = Array(text.utf8)
        var ext = exportType
        if body.bool("compress") == true {
            content = Gzip.stored(content)
            ext += ".gz"
        }
        return create(body, kind: "contactexports", ext: ext, content: content, rows: selected.count)
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// (assumed, variant cordial.s3_path=extension) Whether the last part of
    /// a path names a file rather than a folder: it ends with a file
    /// extension, as 003:70's "/folder/contactsExport.csv" does; the list of
    /// extensions is not in the seed.
    static func namesFile(_ segment: Substring) -> Bool {
        let lower = segment.lowercased()
        return [".csv", ".json", ".txt", ".gz", ".zip"].contains { lower.hasSuffix($0) && lower.count > $0.count }
    }

    /// Where an S3 export goes: 003:70 "path to folder and file" (the file's
    /// name then comes from the path) or, as in the example of 003:116-127,
    /// a folder. 003:136: a trailing slash gives a doubled one ("folder/" →
    /// "folder//FILE"). (assumed) a leading slash does not start the key.
    /// `reading`: the variant cordial.s3_path (extension | folder | file).
    static func s3Key(path: String?, fileName: String, reading: String = "extension") -> (key: String, file: String) {
        var p = Substring(path ?? "")
        while p.hasPrefix("/") { p = p.dropFirst() }
        if !p.hasSuffix("/"), let last = p.split(separator: "/").last {
            if reading == "file" || (reading == "extension" && namesFile(last)) { return (String(p), String(last)) }
        }
        return (p.isEmpty ? fileName : p + "/" + fileName, fileName)
    }

    private var s3Reading: String { context.config.variant("cordial.s3_path") }

    private func create(_ body: [String: Any], kind: String, ext: String, content: [UInt8], rows: Int) -> SimResponse {
        let name = body.string("name")!
        let destination = body.object("destination")
        let type = Self.destinationType(body)
        let server = destination?.string("server") ?? destination?.string("aws_bucket") ?? destination?.string("gcs_bucket")
        let failure = server == "sim-fail" ? "STORAGE_CONNECTION_ERROR: could not connect to \(server!)" : nil
        // 003:27 name "Defines the export file name"; for S3 the path may name the file (003:70).
        var fileName = "\(name).\(ext)"
        if type == "s3" { fileName = Self.s3Key(path: destination?.string("path"), fileName: fileName, reading: s3Reading).file }
        let now = context.clock.now()
        let id: String = lock.withLock {
            let id = state.ids.objectId()
            state.jobs[id] = Job(id: id, jobName: name, kind: kind, exportType: body.string("exportType")!, destination: destination,
                                 destinationType: type, created: now, fileName: fileName, content: content, rows: rows, failure: failure)
            state.order.append(id)
            return id
        }
        context.stats.created(self.name, "exports", identity: name)
        context.stats.count(self.name, kind)
        // Write the file when the job is due to be Done, even if nobody polls.
        context.after(Self.pendingSeconds + Self.processingSeconds + 0.01) { [weak self] in _ = self?.deliver(id) }
        // (assumed) the answer {jobId}: 003_3d234a6b4716e979.txt shows no response.
        return .json(200, ["jobId": id])
    }

    /// Writes a finished job's file to its destination (once); returns the job.
    @discardableResult
    private func deliver(_ id: String) -> Job? {
        let now = context.clock.now()
        return lock.withLock { () -> Job? in
            guard var job = state.jobs[id] else { return nil }
            guard !job.written, job.failure == nil,
                  (now - job.created) * context.clock.speed >= Self.pendingSeconds + Self.processingSeconds else { return job }
            let d = job.destination ?? [:]
            let contentType = job.fileName.hasSuffix(".gz") ? "application/gzip" : (job.exportType == "json" ? "application/x-ndjson" : (job.exportType == "csv" ? "text/csv" : "text/plain"))
            switch job.destinationType {
            case "s3":
                let bucket = d.string("aws_bucket")!
                let key = Self.s3Key(path: d.string("path"), fileName: job.fileName, reading: s3Reading).key
                context.s3.put(bucket: bucket, region: d.string("aws_region")!, key: key, bytes: job.content, contentType: contentType,
                               accessKeyId: d.string("aws_access_key_id")!, secret: d.string("aws_secret_access_key")!, now: now)
                job.location = "s3://\(bucket)/\(key)"
            case "aws":
                // 003:33, 77 the file is downloaded via the UI's Jobs page (kept 30 days, 003:17): no API reads it.
                let dir = (context.config.dataDirectory as NSString).appendingPathComponent("ui/" + job.id)
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: (dir as NSString).appendingPathComponent(job.fileName), contents: Data(job.content))
            default:
                // 003:70 FTP, SFTP, GCS: path to folder
                let folder = (d.string("path") ?? "").split(separator: "/").joined(separator: "/")
                let dir = (context.config.dataDirectory as NSString).appendingPathComponent(job.destinationType + (folder.isEmpty ? "" : "/" + folder))
                let path = (dir as NSString).appendingPathComponent(job.fileName)
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: path, contents: Data(job.content))
                job.location = path
            }
            job.written = true
            state.jobs[id] = job
            return job
        }
    }

    // MARK: Jobs

    /// (assumed) a job of the jobs resource (003:15 names it, shows nothing of it): vendors.md § Cordial.
    private func jobJSON(_ job: Job, now: Double) -> [String: Any] {
        let elapsed = (now - job.created) * context.clock.speed
        let startAt = job.created + context.clock.real(Self.pendingSeconds)
        let endAt = startAt + context.clock.real(Self.processingSeconds)
        var j: [String: Any] = [
            "_id": job.id, "jobName": job.jobName, "totalItems": job.rows,
            "metadata": ["fileName": job.fileName, "exportType": job.exportType],
        ]
        var times: [String: Any] = ["start": NSNull(), "end": NSNull()]
        var result: [String: Any] = [:]
        let status: String
        if elapsed < Self.pendingSeconds {
            status = "Pending"
            j["completedItems"] = 0
        } else if elapsed < Self.pendingSeconds + Self.processingSeconds {
            status = "Processing"
            times["start"] = Dates.iso(startAt)
            j["completedItems"] = Int(Double(job.rows) * min(1, (elapsed - Self.pendingSeconds) / Self.processingSeconds))
        } else {
            times["start"] = Dates.iso(startAt)
            times["end"] = Dates.iso(endAt)
            if let f = job.failure {
                status = "Failed"
                j["completedItems"] = 0
                result = ["error": f]
            } else {
                status = "Done"
                j["completedItems"] = job.rows
                result = ["fileName": job.fileName, "bytes": job.content.count, "rows": job.rows, "destinationType": job.destinationType]
                if let location = job.location { result["location"] = location }
            }
        }
        j["status"] = status
        j["times"] = times
        j["result"] = result
        return j
    }

    /// (assumed) GET /v2/jobs/{id}: 003:15 "Export status information is available through the jobs resource".
    func getJob(_ id: String) -> SimResponse {
        let now = context.clock.now()
        guard let job = deliver(id) else {
            return error((), status: 404, code: "RECORD_NOT_FOUND", message: "Job \(id) not found")
        }
        return .json(200, jobJSON(job, now: now))
    }

    /// (assumed) GET /v2/jobs?jobName=&status=&page=&per_page=, newest first:
    /// the listing is not in 003_3d234a6b4716e979.txt; its filters, paging and
    /// shape follow the variants cordial.jobs_filter, cordial.paging and
    /// cordial.jobs_listing.
    func listJobs(_ request: SimRequest) -> SimResponse {
        let page = request.queryValue("page").map { Int($0) } ?? 1
        let perPage = request.queryValue("per_page").map { Int($0) } ?? 25
        guard let page, page >= 1, let perPage, (1...1000).contains(perPage) else {
            return invalid("page must be >= 1 and per_page between 1 and 1000")
        }
        let ids = lock.withLock { state.order }
        let now = context.clock.now()
        var jobs = ids.reversed().compactMap { deliver($0) }.map { jobJSON($0, now: now) }
        if context.config.variant("cordial.jobs_filter") == "honoured" {
            if let name = request.queryValue("jobName") { jobs = jobs.filter { ($0["jobName"] as? String) == name } }
            if let status = request.queryValue("status") { jobs = jobs.filter { ($0["status"] as? String) == status } }
        }
        var shown: [[String: Any]]
        var per = perPage
        switch context.config.variant("cordial.paging") {
        case "ignored":
            shown = jobs
            per = jobs.count
        case "capped_ignored":
            // (assumed) a page-size cap, and page ignored: always the first page.
            per = min(perPage, Self.pageCap)
            shown = Array(jobs.prefix(per))
        default:
            if context.config.variant("cordial.paging") == "capped" { per = min(perPage, Self.pageCap) }
            let (skip, overflow) = (page - 1).multipliedReportingOverflow(by: per)
            shown = overflow ? [] : Array(jobs.dropFirst(skip).prefix(per))
        }
        if context.config.variant("cordial.jobs_listing") == "wrapped" {
            return .json(200, ["data": shown, "total": jobs.count, "page": page, "per_page": per])
        }
        return .json(200, shown)
    }
}

/// gzip with stored (uncompressed) deflate blocks: a valid `.gz` file that
/// any gunzip reads, without a compression library.
enum Gzip {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255]
        var offset = 0
        repeat {
            let n = min(65_535, data.count - offset)
            let last = offset + n >= data.count
            out.append(last ? 1 : 0)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        let crc = crc32(data), size = UInt32(truncatingIfNeeded: data.count)
        for v in [crc, size] { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        return out
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xFFFF_FFFF
        for b in data { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
