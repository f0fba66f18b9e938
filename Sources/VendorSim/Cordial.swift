import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Cordial (vendors.md § Cordial), under `/cordial`, paths under `/v2`.
///
/// - Auth: HTTP Basic, the API key as user name and an empty password; wrong
///   or missing → 401.
/// - Errors: `{error: true, errorKey, message}` (`RECORD_NOT_FOUND`,
///   `INVALID_JSON_PROVIDED`, `VALIDATION_ERROR`, `STORAGE_CONNECTION_ERROR`, ...).
/// - Exports: `POST /v2/audiencetrendsexport` and `POST /v2/contactexports` →
///   `{jobId}`. `name`: letters, digits and dashes. `destination.type`: aws,
///   ftp, sftp, s3 or gcs, each with its required fields; a bad destination → 400.
/// - Jobs: Pending (2 s, scaled) → Processing (3 s) → Done, then the file is
///   written to the destination: `s3` and `aws` into the simulator's
///   S3-compatible store (`MOONPORT_SIM_S3_URL`, GetObject signed with the
///   destination's keys); ftp, sftp and gcs into
///   `dataDirectory/<type>/<path>/<file>`. A destination whose server or bucket
///   is `sim-fail` ends Failed (STORAGE_CONNECTION_ERROR).
/// - Rate limits per endpoint and method: every answer carries
///   `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`, `X-Rate-Limit-Reset`
///   (seconds until the window resets); 429 adds `Retry-After` (seconds).
final class CordialSim: VendorModule, @unchecked Sendable {
    typealias ErrorStyle = Void

    let name = "cordial"
    let prefix = "/cordial"
    let context: SimContext

    static let pendingSeconds = 2.0
    static let processingSeconds = 3.0
    static let destinationTypes = ["aws", "ftp", "sftp", "s3", "gcs"]

    struct Contact { let fields: [String: String]; let lists: [String] }

    struct Job {
        let id: String
        let jobName: String
        /// `audiencetrendsexport` or `contactexports`.
        let kind: String
        let exportType: String
        let destination: [String: Any]
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
    }

    func reset() {
        lock.withLock { state = State(ids: IdGenerator(seed: context.seed, stream: "cordial.ids")) }
    }

    func routes() -> [Route] {
        [
            endpoint(.POST, "/v2/audiencetrendsexport", style: ()) { r, _ in self.audienceTrends(r) },
            endpoint(.POST, "/v2/contactexports", style: ()) { r, _ in self.contactExport(r) },
            endpoint(.GET, "/v2/jobs", style: ()) { r, _ in self.listJobs(r) },
            endpoint(.GET, "/v2/jobs/{id}", style: ()) { _, p in self.getJob(p["id"]) },
        ]
    }

    func authenticate(_ request: SimRequest, style: Void) -> SimResponse? {
        let expected = "Basic " + Data((SimulatorCredentials.cordialAPIKey + ":").utf8).base64EncodedString()
        guard request.header("Authorization") == expected else {
            return .json(401, ["error": true, "errorKey": "UNAUTHORIZED", "message": "Invalid API key (HTTP Basic: the key as user name, empty password)"])
        }
        return nil
    }

    func error(_ style: Void, status: Int, code: String, message: String) -> SimResponse {
        .json(status, ["error": true, "errorKey": code == "internal_error" ? "INTERNAL_SERVER_ERROR" : code, "message": message])
    }

    func rateKey(method: HTTPMethod, pattern: String) -> String { "cordial \(method.rawValue) \(pattern)" }

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

    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
        }
    }

    /// Checks a destination; returns the 400 answer when it is bad.
    private func checkDestination(_ value: Any?) -> SimResponse? {
        guard let d = value as? [String: Any] else { return invalid("destination is required: {type, ...}") }
        guard let type = d.string("type"), Self.destinationTypes.contains(type) else {
            return invalid("destination.type must be one of \(Self.destinationTypes.joined(separator: ", "))")
        }
        func need(_ keys: [String]) -> SimResponse? {
            for k in keys where (d.string(k) ?? "").isEmpty { return invalid("destination.\(k) is required for type \(type)") }
            return nil
        }
        switch type {
        case "s3", "aws":
            if let r = need(["aws_access_key_id", "aws_secret_access_key", "aws_bucket"]) { return r }
            let bucket = d.string("aws_bucket")!
            let ok = (3...63).contains(bucket.count) && bucket.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
            }
            if !ok {
                return error((), status: 400, code: "STORAGE_CONNECTION_ERROR", message: "Could not connect to bucket \(bucket): invalid bucket name")
            }
        case "ftp", "sftp":
            if let r = need(["server", "username"]) { return r }
            if (d.string("password") ?? "").isEmpty && (d.string("savedKey") ?? "").isEmpty {
                return invalid("destination.password or destination.savedKey is required for type \(type)")
            }
            if let p = d["port"], !(p is NSNull) {
                guard let port = d.int("port") ?? d.string("port").flatMap(Int.init), (1...65535).contains(port) else {
                    return invalid("destination.port must be a port number")
                }
            }
        default:
            if let r = need(["gcs_bucket"]) { return r }
        }
        if let path = d["path"], !(path is NSNull) {
            guard let p = path as? String, !p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                return invalid("destination.path must be a relative folder without . or .. parts")
            }
        }
        return nil
    }

    private func commonChecks(_ body: [String: Any], types: [String]) -> SimResponse? {
        guard let name = body.string("name"), Self.validName(name) else {
            return invalid("name is required and may contain only letters, digits and dashes")
        }
        let exportType = body.string("exportType") ?? ""
        guard types.contains(exportType) else { return invalid("exportType must be \(types.joined(separator: ", "))") }
        return checkDestination(body["destination"])
    }

    // MARK: Exports

    func audienceTrends(_ request: SimRequest) -> SimResponse {
        guard let body = request.jsonObject else {
            return error((), status: 400, code: "INVALID_JSON_PROVIDED", message: "The body is not a JSON object")
        }
        if let r = commonChecks(body, types: ["csv"]) { return r }
        guard let startText = body.string("selected_timeframe_start"), let start = Dates.parse(startText),
              let endText = body.string("selected_timeframe_end"), let end = Dates.parse(endText), start <= end else {
            return invalid("selected_timeframe_start and selected_timeframe_end are required dates, start before end")
        }
        guard end - start <= 366 * 86_400 else { return invalid("the timeframe may span at most a year") }
        guard let wanted = body.strings("audiences"), !wanted.isEmpty else { return invalid("audiences must be a non-empty list of audience names") }
        if let unknown = wanted.first(where: { !audiences.contains($0) }) {
            return error((), status: 404, code: "RECORD_NOT_FOUND", message: "Audience \"\(unknown)\" not found")
        }
        var csv = "date,audience,contacts,added,removed\n"
        var rows = 0
        var day = (start / 86_400).rounded(.down) * 86_400
        while day <= end {
            for a in wanted {
                var rng = SplitMix64(seed: context.seed, stream: "cordial.trend.\(a).\(Int(day))")
                let base = 1000 + (audiences.firstIndex(of: a) ?? 0) * 2500
                csv += "\(Dates.day(day)),\(Self.csvField(a)),\(base + rng.int(0...400)),\(rng.int(0...60)),\(rng.int(0...40))\n"
                rows += 1
            }
            day += 86_400
        }
        return create(body, kind: "audiencetrendsexport", ext: "csv", content: Array(csv.utf8), rows: rows)
    }

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

    private func create(_ body: [String: Any], kind: String, ext: String, content: [UInt8], rows: Int) -> SimResponse {
        let name = body.string("name")!
        let destination = body.object("destination")!
        let server = destination.string("server") ?? destination.string("aws_bucket") ?? destination.string("gcs_bucket")
        let failure = server == "sim-fail" ? "STORAGE_CONNECTION_ERROR: could not connect to \(server!)" : nil
        let now = context.clock.now()
        let id: String = lock.withLock {
            let id = state.ids.objectId()
            state.jobs[id] = Job(id: id, jobName: name, kind: kind, exportType: body.string("exportType")!, destination: destination,
                                 created: now, fileName: "\(name)-\(id).\(ext)", content: content, rows: rows, failure: failure)
            state.order.append(id)
            return id
        }
        context.stats.created(self.name, "exports", identity: name)
        context.stats.count(self.name, kind)
        // Write the file when the job is due to be Done, even if nobody polls.
        context.after(Self.pendingSeconds + Self.processingSeconds + 0.01) { [weak self] in _ = self?.deliver(id) }
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
            let d = job.destination
            let type = d.string("type")!
            let folder = (d.string("path") ?? "").split(separator: "/").joined(separator: "/")
            let key = folder.isEmpty ? job.fileName : folder + "/" + job.fileName
            let contentType = job.fileName.hasSuffix(".gz") ? "application/gzip" : (job.exportType == "json" ? "application/x-ndjson" : (job.exportType == "csv" ? "text/csv" : "text/plain"))
            if type == "s3" || type == "aws" {
                let bucket = d.string("aws_bucket")!
                context.s3.put(bucket: bucket, region: d.string("aws_region").flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1", key: key, bytes: job.content, contentType: contentType,
                               accessKeyId: d.string("aws_access_key_id")!, secret: d.string("aws_secret_access_key")!, now: now)
                job.location = "s3://\(bucket)/\(key)"
            } else {
                let dir = (context.config.dataDirectory as NSString).appendingPathComponent(type + (folder.isEmpty ? "" : "/" + folder))
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

    private func jobJSON(_ job: Job, now: Double) -> [String: Any] {
        let elapsed = (now - job.created) * context.clock.speed
        let startAt = job.created + context.clock.real(Self.pendingSeconds)
        let endAt = startAt + context.clock.real(Self.processingSeconds)
        var j: [String: Any] = [
            "_id": job.id, "jobName": job.jobName, "type": job.kind, "totalItems": job.rows,
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
                result = ["location": job.location ?? NSNull(), "fileName": job.fileName, "bytes": job.content.count,
                          "rows": job.rows, "destinationType": job.destination.string("type") ?? ""]
            }
        }
        j["status"] = status
        j["times"] = times
        j["result"] = result
        return j
    }

    func getJob(_ id: String) -> SimResponse {
        let now = context.clock.now()
        guard let job = deliver(id) else {
            return error((), status: 404, code: "RECORD_NOT_FOUND", message: "Job \(id) not found")
        }
        return .json(200, jobJSON(job, now: now))
    }

    func listJobs(_ request: SimRequest) -> SimResponse {
        let page = request.queryValue("page").map { Int($0) } ?? 1
        let perPage = request.queryValue("per_page").map { Int($0) } ?? 25
        guard let page, page >= 1, let perPage, (1...1000).contains(perPage) else {
            return invalid("page must be >= 1 and per_page between 1 and 1000")
        }
        let ids = lock.withLock { state.order }
        let now = context.clock.now()
        var jobs = ids.reversed().compactMap { deliver($0) }.map { jobJSON($0, now: now) }
        if let name = request.queryValue("jobName") { jobs = jobs.filter { ($0["jobName"] as? String) == name } }
        if let status = request.queryValue("status") { jobs = jobs.filter { ($0["status"] as? String) == status } }
        let (skip, overflow) = (page - 1).multipliedReportingOverflow(by: perPage)
        return .json(200, overflow ? [] : Array(jobs.dropFirst(skip).prefix(perPage)))
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
