import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// mediarithmics, under `/mediarithmics`, paths under `/v1`, written from
/// mediarithmics' "Sending documents" page (004_9b3b7e85d9ecdb33.txt, cited
/// below as 004:LINE). Where that page is silent (the listings, GET of one
/// import, cancel, error bodies, the 100 MB limit) the simulator follows the
/// project's vendor notes and says "(assumed)"; where several readings are
/// plausible it offers them as variants (`MediarithmicsSim.variants`).
///
/// - Auth: `Authorization: TOKEN`, the raw token (no `Bearer`, 004:10, 77, 117);
///   wrong or missing → 401 (assumed).
/// - Errors (assumed): `{status: "error", error, error_code, error_id}`.
/// - Seeded datamarts `1502` and `1509`, each with document imports.
/// - Document imports (004:4-47): `document_type` USER_ACTIVITY, USER_SEGMENT,
///   USER_PROFILE or USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS; `mime_type`
///   APPLICATION_X_NDJSON or TEXT_CSV (USER_ACTIVITY: NDJSON only).
/// - Executions (004:72-112): the file is the body, with a Content-Type
///   matching the import's mime type (`application/x-ndjson` / `text/csv`,
///   004:83-86), at most 100 MB (100 MiB, assumed). PENDING (2 s, scaled) →
///   RUNNING (3 s) → SUCCEEDED (004:163-166), with `result.total_success` /
///   `total_failure` / `error_file_uri` (004:132-140) counted from the lines:
///   an NDJSON line that is not a JSON object, a USER_ACTIVITY line without
///   `$ts` or `$type` (assumed: the user activity guide 004:71 refers to), or
///   a CSV line whose field count differs from the header's, is rejected;
///   FAILED when no line succeeds (assumed).
///   `POST .../action {"action": "CANCEL"}` → CANCELED (assumed).
final class MediarithmicsSim: VendorModule, @unchecked Sendable {
    /// The readings this vendor offers where its document is silent (see `SimVariant`).
    static let variants: [SimVariant] = [
        // (assumed) the listings are not in 004_9b3b7e85d9ecdb33.txt: their paging and order are assumed.
        SimVariant("mediarithmics.paging", ["honoured", "capped", "ignored", "capped_ignored"],
                   "GET document_imports and executions listings (not in mediarithmics' documentation): first_result/max_results as asked (default), max_results capped at 20, both ignored (the whole listing in one answer), or capped at 20 with first_result ignored (always the first 20)"),
        SimVariant("mediarithmics.order", ["newest", "oldest"],
                   "GET .../executions (not in mediarithmics' documentation): newest first (default) or oldest first"),
        // 004_9b3b7e85d9ecdb33.txt:129 parameters.number_of_lines, shown only for an NDJSON file.
        SimVariant("mediarithmics.csv_lines", ["with_header", "without_header"],
                   "parameters.number_of_lines of a CSV file (mediarithmics' documentation shows it for an NDJSON file only): counting every line of the file, the header too (default), or the data lines only"),
    ]

    /// Page size cap of the `mediarithmics.paging=capped` reading.
    static let pageCap = 20

    typealias ErrorStyle = Void

    let name = "mediarithmics"
    let prefix = "/mediarithmics"
    let context: SimContext

    static let documentTypes = ["USER_ACTIVITY", "USER_SEGMENT", "USER_PROFILE", "USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS"]
    static let mimeTypes = ["APPLICATION_X_NDJSON": "application/x-ndjson", "TEXT_CSV": "text/csv"]
    static let maxFileBytes = 100 * 1024 * 1024
    static let pendingSeconds = 2.0
    static let runningSeconds = 3.0
    static let datamarts = ["1502", "1509"]

    struct Execution {
        let id: String
        let importId: String
        let created: Double
        /// parameters.number_of_lines (004:129): the file's lines as the variant counts them.
        let lines: Int
        let success: Int
        let failure: Int
        let bytes: Int
        var cancelledAt: Double?
    }

    struct State {
        var nextImport = 8800
        var nextExecution = 55_000
        var imports: [String: [String: Any]] = [:]
        var importOrder: [String] = []
        var executions: [String: Execution] = [:]
        var executionOrder: [String] = []
    }

    private let lock = NIOLock()
    private var state = State()

    init(context: SimContext) {
        self.context = context
        state = seeded()
    }

    private func seeded() -> State {
        var s = State()
        var rng = SplitMix64(seed: context.seed, stream: "mediarithmics.data")
        s.nextImport += rng.int(0...99) * 10
        s.nextExecution += rng.int(0...999) * 10
        let seeds: [(String, String, String, String)] = [
            ("1502", "USER_ACTIVITY", "APPLICATION_X_NDJSON", "Store visits"),
            ("1502", "USER_PROFILE", "TEXT_CSV", "CRM profiles"),
            ("1509", "USER_SEGMENT", "APPLICATION_X_NDJSON", "Lookalike segments"),
        ]
        let today = DemoData.today()
        for (dm, type, mime, name) in seeds {
            s.nextImport += 1
            let id = String(s.nextImport)
            s.imports[id] = importJSON(id: id, datamart: dm, type: type, mime: mime, encoding: "utf-8", name: name)
            s.importOrder.append(id)
            // One finished execution each, a week ago.
            s.nextExecution += 1
            let lines = rng.int(200...5000)
            let failed = rng.int(0...12)
            let eid = String(s.nextExecution)
            s.executions[eid] = Execution(id: eid, importId: id, created: today - 7 * 86_400 + Double(rng.int(0...86_399)),
                                          lines: lines, success: lines - failed, failure: failed, bytes: lines * 180)
            s.executionOrder.append(eid)
        }
        return s
    }

    func reset() {
        let s = seeded()
        lock.withLock { state = s }
    }

    private func importJSON(id: String, datamart: String, type: String, mime: String, encoding: String, name: String) -> [String: Any] {
        ["id": id, "datafarm_key": "DF_EU_2020_02", "datamart_id": datamart, "document_type": type, "mime_type": mime,
         "encoding": encoding, "name": name, "priority": "MEDIUM"]
    }

    func routes() -> [Route] {
        let base = "/v1/datamarts/{dm}/document_imports"
        return [
            // 004_9b3b7e85d9ecdb33.txt:4-17 POST /v1/datamarts/{dm}/document_imports (line 9; line 5 misspells it "documents_imports"), answer 34-47
            endpoint(.POST, base, style: ()) { r, p in self.createImport(r, p["dm"]) },
            // (assumed) GET document_imports?first_result=&max_results=: not in 004_9b3b7e85d9ecdb33.txt; variant mediarithmics.paging
            endpoint(.GET, base, style: ()) { r, p in self.listImports(r, p["dm"]) },
            // (assumed) GET document_imports/{id}: not in 004_9b3b7e85d9ecdb33.txt
            endpoint(.GET, base + "/{id}", style: ()) { _, p in self.getImport(p["dm"], p["id"]) },
            // 004_9b3b7e85d9ecdb33.txt:72-86 POST .../executions, the file as the body, Content-Type matching mime_type; answer 86-112
            endpoint(.POST, base + "/{id}/executions", style: (), maxBody: Self.maxFileBytes) { r, p in
                self.createExecution(r, p["dm"], p["id"])
            },
            // (assumed) GET .../executions: not in 004_9b3b7e85d9ecdb33.txt; variants mediarithmics.paging and mediarithmics.order
            endpoint(.GET, base + "/{id}/executions", style: ()) { r, p in self.listExecutions(r, p["dm"], p["id"]) },
            // 004_9b3b7e85d9ecdb33.txt:113-166 GET .../executions/{exec}: PENDING → RUNNING → SUCCEEDED, parameters and result
            endpoint(.GET, base + "/{id}/executions/{exec}", style: ()) { _, p in self.getExecution(p["dm"], p["id"], p["exec"]) },
            // (assumed) POST .../executions/{exec}/action {"action": "CANCEL"}: not in 004_9b3b7e85d9ecdb33.txt
            endpoint(.POST, base + "/{id}/executions/{exec}/action", style: ()) { r, p in
                self.action(r, p["dm"], p["id"], p["exec"])
            },
        ]
    }

    func authenticate(_ request: SimRequest, style: Void) -> SimResponse? {
        guard request.header("Authorization") == SimulatorCredentials.mediarithmicsAPIToken else {
            return error((), status: 401, code: "AUTHENTICATION_ERROR", message: "Authentication failed: invalid or missing API token")
        }
        return nil
    }

    func error(_ style: Void, status: Int, code: String, message: String) -> SimResponse {
        .json(status, ["status": "error", "error": message, "error_code": code == "internal_error" ? "INTERNAL_ERROR" : code,
                       "error_id": UUID().uuidString.lowercased()])
    }

    func tooManyRequests(_ style: Void, _ budget: RateLimiter.Budget) -> SimResponse {
        error((), status: 429, code: "TOO_MANY_REQUESTS", message: "Too many requests; retry in \(budget.resetSeconds) s")
            .adding(headers: [("Retry-After", String(budget.resetSeconds))])
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        error((), status: status, code: status == 405 ? "METHOD_NOT_ALLOWED" : "NOT_FOUND",
              message: status == 405 ? "Method \(request.method.rawValue) not allowed on \(request.path)" : "No such resource: \(request.path)")
    }

    private func bad(_ message: String) -> SimResponse { error((), status: 400, code: "BAD_REQUEST_DATA", message: message) }
    private func notFound(_ message: String) -> SimResponse { error((), status: 404, code: "NOT_FOUND", message: message) }

    /// The import, if it exists in that datamart (the caller holds no lock).
    private func findImport(_ dm: String, _ id: String) -> [String: Any]? {
        lock.withLock { state.imports[id] }.flatMap { ($0["datamart_id"] as? String) == dm ? $0 : nil }
    }

    private static func paging(_ request: SimRequest) -> (first: Int, max: Int)? {
        let first = request.queryValue("first_result").map { Int($0) } ?? 0
        let max = request.queryValue("max_results").map { Int($0) } ?? 50
        guard let first, first >= 0, let max, (1...1000).contains(max) else { return nil }
        return (first, max)
    }

    /// (assumed) One page of a listing `{status: "ok", data, count, total,
    /// first_result, max_results}`, paged as the variant mediarithmics.paging says.
    private func page(_ all: [[String: Any]], first: Int, max: Int) -> SimResponse {
        var first = first, max = max
        switch context.config.variant("mediarithmics.paging") {
        case "capped": max = min(max, Self.pageCap)
        case "ignored": first = 0; max = Swift.max(1, all.count)
        case "capped_ignored": first = 0; max = min(max, Self.pageCap)
        default: break
        }
        let page = Array(all.dropFirst(first).prefix(max))
        return .json(200, ["status": "ok", "data": page, "count": page.count, "total": all.count, "first_result": first, "max_results": max])
    }

    /// 004:4-47 the import's body and answer.
    func createImport(_ request: SimRequest, _ dm: String) -> SimResponse {
        guard Self.datamarts.contains(dm) else { return notFound("Datamart \(dm) not found") }
        guard let body = request.jsonObject else { return bad("The body must be a JSON object") }
        // 004:19-24 document_type: USER_ACTIVITY, USER_SEGMENT, USER_PROFILE, USER_IDENTIFIERS_ASSOCIATION_DECLARATIONS
        guard let type = body.string("document_type"), Self.documentTypes.contains(type) else {
            return bad("document_type must be one of \(Self.documentTypes.joined(separator: ", "))")
        }
        // 004:25-31 mime_type: APPLICATION_X_NDJSON or TEXT_CSV; USER_ACTIVITY only NDJSON
        guard let mime = body.string("mime_type"), Self.mimeTypes[mime] != nil else {
            return bad("mime_type must be APPLICATION_X_NDJSON or TEXT_CSV")
        }
        guard type != "USER_ACTIVITY" || mime == "APPLICATION_X_NDJSON" else {
            return bad("USER_ACTIVITY documents must use mime_type APPLICATION_X_NDJSON")
        }
        // 004:31-32 encoding; (assumed) only utf-8 is taken here
        let encoding = body.string("encoding") ?? "utf-8"
        guard ["utf-8", "utf8"].contains(encoding.lowercased()) else { return bad("encoding must be utf-8") }
        guard let name = body.string("name"), !name.trimmingCharacters(in: .whitespaces).isEmpty else { return bad("name is required") }
        let created: [String: Any] = lock.withLock {
            state.nextImport += 1
            let id = String(state.nextImport)
            let j = importJSON(id: id, datamart: dm, type: type, mime: mime, encoding: encoding, name: name)
            state.imports[id] = j
            state.importOrder.append(id)
            return j
        }
        context.stats.created(self.name, "document_imports", identity: dm + "|" + name)
        return .json(200, ["status": "ok", "data": created])
    }

    func listImports(_ request: SimRequest, _ dm: String) -> SimResponse {
        guard Self.datamarts.contains(dm) else { return notFound("Datamart \(dm) not found") }
        guard let (first, max) = Self.paging(request) else { return bad("first_result must be >= 0 and max_results between 1 and 1000") }
        let all: [[String: Any]] = lock.withLock {
            state.importOrder.compactMap { state.imports[$0] }.filter { ($0["datamart_id"] as? String) == dm }
        }
        return page(all, first: first, max: max)
    }

    func getImport(_ dm: String, _ id: String) -> SimResponse {
        guard let imp = findImport(dm, id) else { return notFound("Document import \(id) not found in datamart \(dm)") }
        return .json(200, ["status": "ok", "data": imp])
    }

    /// Counts good and bad lines of an uploaded file: `lines` counts the data
    /// lines (not a CSV header). A line is rejected when it is not a JSON
    /// object (NDJSON), lacks `$ts` or `$type` (USER_ACTIVITY, assumed), or
    /// has another number of fields than the header (CSV).
    static func count(_ body: [UInt8], csv: Bool, activity: Bool = false) -> (lines: Int, success: Int, failure: Int) {
        var lines = 0, success = 0, failure = 0
        var headerFields: Int?
        var start = 0
        let n = body.count
        while start < n {
            var end = start
            while end < n && body[end] != 10 { end += 1 }
            var line = body[start..<end]
            if line.last == 13 { line = line.dropLast() }
            start = end + 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            if csv {
                let fields = csvFieldCount(line)
                guard let expected = headerFields else {
                    headerFields = fields
                    continue
                }
                lines += 1
                if fields == expected { success += 1 } else { failure += 1 }
            } else {
                lines += 1
                if let o = JSON.decode(Array(line)) as? [String: Any], !activity || (o["$ts"] != nil && o["$type"] != nil) {
                    success += 1
                } else {
                    failure += 1
                }
            }
        }
        return (lines, success, failure)
    }

    /// Fields in one CSV line (RFC 4180 quotes).
    static func csvFieldCount(_ line: ArraySlice<UInt8>) -> Int {
        var fields = 1
        var quoted = false
        for b in line {
            if b == 34 { quoted.toggle() } else if b == 44 && !quoted { fields += 1 }
        }
        return fields
    }

    func createExecution(_ request: SimRequest, _ dm: String, _ id: String) -> SimResponse {
        guard let imp = findImport(dm, id) else { return notFound("Document import \(id) not found in datamart \(dm)") }
        if request.bodyTooLarge {
            return bad("The file is \(request.bodyLength) bytes; an execution accepts at most 100 MB (\(Self.maxFileBytes) bytes)")
        }
        let mime = imp["mime_type"] as? String ?? ""
        let expected = Self.mimeTypes[mime] ?? ""
        guard request.mediaType == expected else {
            return bad("Content-Type \(request.header("Content-Type") ?? "(none)") does not match the import's mime_type \(mime) (expected \(expected))")
        }
        guard !request.body.isEmpty else { return bad("The file is empty") }
        let csv = mime == "TEXT_CSV"
        let counted = Self.count(request.body, csv: csv, activity: imp["document_type"] as? String == "USER_ACTIVITY")
        // 004:129 number_of_lines; for a CSV file the header is counted or not (variant mediarithmics.csv_lines)
        let headerLines = csv && context.config.variant("mediarithmics.csv_lines") == "with_header" ? 1 : 0
        let now = context.clock.now()
        let exec: Execution = lock.withLock {
            state.nextExecution += 1
            let e = Execution(id: String(state.nextExecution), importId: id, created: now, lines: counted.lines + headerLines,
                              success: counted.success, failure: counted.failure, bytes: request.body.count)
            state.executions[e.id] = e
            state.executionOrder.append(e.id)
            return e
        }
        context.stats.created(name, "executions", identity: id + "|" + Stats.digest(request.body))
        context.stats.count(name, "lines_received", counted.lines)
        // 004:86-112 the answer: the execution, PENDING, with parameters, result and error null
        var data = executionJSON(exec, datamart: dm, now: now, imp: imp)
        data["parameters"] = NSNull()
        data["result"] = NSNull()
        return .json(200, ["status": "ok", "data": data])
    }

    /// The execution as 004:119-162 shows it (and 004:87-111 at creation).
    private func executionJSON(_ e: Execution, datamart: String, now: Double, imp: [String: Any]? = nil) -> [String: Any] {
        let elapsed = (now - e.created) * context.clock.speed
        let startAt = e.created + context.clock.real(Self.pendingSeconds)
        let endAt = startAt + context.clock.real(Self.runningSeconds)
        let tasks = max(1, (e.lines + 999) / 1000)
        let imp = imp ?? lock.withLock { state.imports[e.importId] } ?? [:]
        var status: String
        var done = 0, erroneous = 0
        var start: Any = NSNull(), end: Any = NSNull(), duration: Any = NSNull(), error: Any = NSNull(), result: Any = NSNull()
        let files = "mics://data_file/tenants/1/datamarts/\(datamart)/imports/\(e.importId)/executions/\(e.id)"
        if let c = e.cancelledAt, now >= c {
            status = "CANCELED"
            end = Int64(c * 1000)
        } else if elapsed < Self.pendingSeconds {
            status = "PENDING"
        } else if elapsed < Self.pendingSeconds + Self.runningSeconds {
            status = "RUNNING"
            start = Int64(startAt * 1000)
            done = Int(Double(tasks) * (elapsed - Self.pendingSeconds) / Self.runningSeconds)
        } else {
            start = Int64(startAt * 1000)
            end = Int64(endAt * 1000)
            duration = Int64((endAt - startAt) * 1000)
            done = tasks
            erroneous = e.failure > 0 ? max(1, tasks * e.failure / max(1, e.success + e.failure)) : 0
            // 004:132-140 result: total_success, total_failure, input_file_name, input_file_uri, error_file_uri, ...
            result = ["total_success": e.success, "total_failure": e.failure, "input_file_name": "execution-\(e.id)",
                      "input_file_uri": files + "/input", "error_file_uri": files + "/errors.ndjson",
                      "possible_issue_on_identifiers": false, "top_identifiers": [String: Any]()] as [String: Any]
            if e.success == 0 && e.failure > 0 {
                // (assumed) an execution whose every line was rejected ends FAILED
                status = "FAILED"
                error = ["message": "Every line of the file was rejected (\(e.failure) lines)"]
            } else {
                status = "SUCCEEDED"
            }
        }
        // 004:122-131 parameters: datamart_id, document_import_id, mime_type, document_type, input_file_name, file_uri, number_of_lines, segment_id
        let parameters: [String: Any] = [
            "datamart_id": Int(datamart) ?? datamart as Any, "document_import_id": Int(e.importId) ?? e.importId as Any,
            "mime_type": imp["mime_type"] ?? NSNull(), "document_type": imp["document_type"] ?? NSNull(),
            "input_file_name": "execution-\(e.id)", "file_uri": files + "/input", "number_of_lines": e.lines, "segment_id": NSNull(),
        ]
        return [
            "parameters": parameters, "result": result, "error": error, "id": e.id, "status": status,
            "creation_date": Int64(e.created * 1000), "start_date": start, "duration": duration,
            "organisation_id": "1", "user_id": NSNull(), "cancel_status": NSNull(), "debug": NSNull(), "is_retryable": false,
            "permalink_uri": "execution-\(e.id)", "num_tasks": tasks, "completed_tasks": done, "erroneous_tasks": erroneous,
            "retry_count": 0, "job_type": "DOCUMENT_IMPORT", "import_mode": "MANUAL_FILE", "import_type": NSNull(), "end_date": end,
        ]
    }

    func listExecutions(_ request: SimRequest, _ dm: String, _ id: String) -> SimResponse {
        guard findImport(dm, id) != nil else { return notFound("Document import \(id) not found in datamart \(dm)") }
        guard let (first, max) = Self.paging(request) else { return bad("first_result must be >= 0 and max_results between 1 and 1000") }
        let now = context.clock.now()
        // (assumed) variant mediarithmics.order: newest first (default) or oldest first.
        let newest = context.config.variant("mediarithmics.order") != "oldest"
        let all: [Execution] = lock.withLock {
            (newest ? Array(state.executionOrder.reversed()) : state.executionOrder).compactMap { state.executions[$0] }
                .filter { $0.importId == id }
        }
        return page(all.map { executionJSON($0, datamart: dm, now: now) }, first: first, max: max)
    }

    func getExecution(_ dm: String, _ id: String, _ exec: String) -> SimResponse {
        guard findImport(dm, id) != nil else { return notFound("Document import \(id) not found in datamart \(dm)") }
        let now = context.clock.now()
        guard let e = lock.withLock({ state.executions[exec] }), e.importId == id else {
            return notFound("Execution \(exec) not found for document import \(id)")
        }
        return .json(200, ["status": "ok", "data": executionJSON(e, datamart: dm, now: now)])
    }

    func action(_ request: SimRequest, _ dm: String, _ id: String, _ exec: String) -> SimResponse {
        guard findImport(dm, id) != nil else { return notFound("Document import \(id) not found in datamart \(dm)") }
        guard let body = request.jsonObject, let action = body.string("action") else { return bad("The body must be {\"action\": \"CANCEL\"}") }
        guard action == "CANCEL" else { return bad("Unsupported action \(action); only CANCEL") }
        let now = context.clock.now()
        enum Outcome { case missing, finished(String), cancelled(Execution) }
        let outcome: Outcome = lock.withLock {
            guard var e = state.executions[exec], e.importId == id else { return .missing }
            let status = executionJSON(e, datamart: dm, now: now, imp: state.imports[id] ?? [:])["status"] as? String ?? ""
            guard status == "PENDING" || status == "RUNNING" else { return .finished(status) }
            e.cancelledAt = now
            state.executions[exec] = e
            return .cancelled(e)
        }
        switch outcome {
        case .missing: return notFound("Execution \(exec) not found for document import \(id)")
        case .finished(let s): return bad("Execution \(exec) is \(s) and can no longer be canceled")
        case .cancelled(let e): return .json(200, ["status": "ok", "data": executionJSON(e, datamart: dm, now: now)])
        }
    }
}
