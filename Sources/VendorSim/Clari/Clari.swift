import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Clari, under `/clari`, written from Clari's OpenAPI document
/// (`001_5f3c65e90f1cda6d.txt`; every route cites the lines it implements):
/// exports, jobs, limits, audit and opportunities under `/v4` (the server's
/// `basePath`, 001_5f3c65e90f1cda6d.txt:63–67); ingestion under `/v2` (:1372).
///
/// - Auth: `apikey` on every call; ingestion also `partnerkey`. A wrong key:
///   401 `{message: "Invalid authentication credentials"}` (:2142), for
///   `/ingest/job` `{error: ...}` (:1949); a wrong partner key on ingestion:
///   401 `[{errorCode: "INVALID_PARTNER_KEY", errorSummary: "Unauthorized PartnerKey"}]` (:1690).
/// - Error bodies, per family (`ErrorStyle`): exports `{code, namespace:
///   "exports", errorId, message, orgId}` (:2157), forecast the same with
///   namespace `fcw` (:244), activity `{code, namespace: "activity", errorId,
///   message, userId, orgId}` (:2098), audit `{errors: [{code, message,
///   target, status, details}]}` (:954, :1183), ingestion `[{errorCode,
///   errorSummary}]` (:1627), the ingestion job `{error}` (:1959), opportunity
///   `[{statusCode, reaspnPhrase, description, details}]` (:1325).
/// - Export jobs: SCHEDULED (2 s) → STARTED (3 s) → DONE, scaled by the speed
///   (:386); `PATCH {"type":"CANCEL"}` → CANCELLED (still queued) or ABORTED
///   (running); a finished job answers 400 `export_failed_to_cancel` (:569).
///   The forecast id `sim-fail` ends FAILED.
/// - Limits: `concurrentLimit` jobs not finished, `monthlyQuota` jobs in a
///   rolling 30-day window (:832); over either → 400 `export_monthly_quota_reached` (:2127).
/// - Results (ClariData): forecast JSON `[[header...], [row...], ...]` or CSV;
///   `sim-rows-N` gives N data rows, `sim-bytes-N` about N bytes, streamed with `Range` support.
/// - Ingestion: `/ingest/entity` at most 100 records (:1667), `updatedAt >= createdAt`;
///   bulk: multipart part `FileData` (:1418) of at most 10 MB holding the same
///   `[{sourceEntity, records}]` structure (:1370) → job 202 QUEUED / IN_PROGRESS,
///   200 SUCCESS, 400 VALIDATION_ERROR, 500 FAILED (:1825–1996). The
///   sourceEntity `sim-fail` makes the job end FAILED.
final class ClariSim: VendorModule, @unchecked Sendable {
    /// The readings this vendor offers where its document is silent (see `SimVariant`).
    // Seed lines of the readings below: clari.job 001_5f3c65e90f1cda6d.txt:409–505; clari.jobs_listing :723;
    // clari.audit_page_cap :1024; clari.bulk_errors :1370, :1919, :1434.
    static let variants: [SimVariant] = [
        SimVariant("clari.job", ["flat", "wrapped"],
                   "GET /v4/export/jobs/{jobId}: Clari's API documentation shows the job flat (default); some clients see it wrapped as {\"job\": {...}}"),
        SimVariant("clari.jobs_listing", ["bare", "wrapped"],
                   "GET /v4/export/jobs: Clari's API documentation shows a bare JSON array (default), or wrapped as {\"jobs\": [...]}"),
        SimVariant("clari.audit_page_cap", ["none", "50"],
                   "GET /v4/audit/events: Clari's API documentation says `limit` 1..1000 may span several pages; whether a page can hold fewer than `limit`: none (default), or pages capped at 50 items (nextLink still given)"),
        SimVariant("clari.bulk_errors", ["job", "submit"],
                   "POST /v2/ingest/bulk/entity/{entity} with a file that is not [{sourceEntity, records}] (the structure Clari's API documentation requires): accepted, the job then answers 400 VALIDATION_ERROR (default; the documentation's job errors list 'Payload is not an array', 'sourceEntity is missing dataSet'), or the upload itself answers 400 INVALID_INPUT_FORMAT"),
    ]

    enum ErrorStyle: Sendable { case exports, forecast, activity, audit, ingestion, ingestJob, opportunity }

    let name = "clari"
    let prefix = "/clari"
    let context: SimContext

    /// 001_5f3c65e90f1cda6d.txt:2178–2180 orgId is an int32; :421–422 userId an integer.
    static let orgId = 101
    static let apiUserId = 1001
    /// Another user of the same organisation (a second API key): its exports
    /// count in the org's limits (001_5f3c65e90f1cda6d.txt:803, :842) but are not
    /// in the caller's GET /export/jobs (:711), and reading one answers 403 (:512).
    static let otherUserAPIKey = "sandbox-clari-other-user-key"
    static let otherUserId = 1002
    static let exportTypes = ["forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed"]
    /// 001_5f3c65e90f1cda6d.txt:290 CRM Totals and CRM Closed: not supported by the Export API.
    static let unsupportedExportTypes = ["crm_total", "crm_closed"]
    static let activityTypes = ["MEETING", "EMAIL_SENT", "EMAIL_RECEIVED", "ATTACHMENT_SENT", "ATTACHMENT_RECEIVED"]
    static let sessionTypes = ["WEB", "IOS", "ANDROID"]
    /// The entities enabled for this simulated partner integration (001_5f3c65e90f1cda6d.txt:1468).
    static let ingestEntities = ["account", "opportunity"]
    static let maxIngestRecords = 100
    static let maxBulkFileBytes = 10 * 1024 * 1024
    /// Simulated seconds in SCHEDULED / QUEUED, then in STARTED / IN_PROGRESS.
    static let queuedSeconds = 2.0
    static let runningSeconds = 3.0
    /// The quota window (001_5f3c65e90f1cda6d.txt:832: a rolling 30 day period), in simulated seconds.
    static let quotaWindow = 30.0 * 86_400
    static let auditPageCap = 50

    struct ExportJob {
        let id: String
        /// The user who started it (001_5f3c65e90f1cda6d.txt:421).
        let userId: Int
        /// `FORECAST`, `ACTIVITY` or `AUDIT` (001_5f3c65e90f1cda6d.txt:436: upper case).
        let module: String
        let title: String
        let fileName: String
        let fileType: String
        let currency: String?
        let created: Double
        var cancelledAt: Double?
        /// CANCELLED (cancelled while SCHEDULED) or ABORTED (while STARTED), 001_5f3c65e90f1cda6d.txt:390.
        var cancelWord: String?
        let failure: String?
        var downloads = 0
        let result: ClariResult
    }

    struct IngestJob {
        let id: String
        let entity: String
        let mode: String
        let isLastBatch: Bool
        let created: Double
        let recordCount: Int
        /// Why it ends 400 VALIDATION_ERROR (the ingestion errors), if it does.
        let validationErrors: [[String: String]]
        /// Whether it ends 500 FAILED.
        let fails: Bool
    }

    struct State {
        var ids: IdGenerator
        var jobs: [String: ExportJob] = [:]
        var jobOrder: [String] = []
        var ingestJobs: [String: IngestJob] = [:]
        var picklists: [String: [String: (type: String, values: [String])]] = [:]
        var data: ClariData
    }

    let lock = NIOLock()
    var state: State

    init(context: SimContext) {
        self.context = context
        state = Self.seeded(context.seed)
    }

    static func seeded(_ seed: UInt64) -> State {
        var s = State(ids: IdGenerator(seed: seed, stream: "clari.ids"), data: ClariData(seed: seed))
        // The partner schema: the picklist fields defined for each entity.
        s.picklists = [
            "opportunity": [
                "stage": ("picklist", ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]),
                "forecastCategory": ("picklist", ["Pipeline", "Best Case", "Commit", "Closed", "Omitted"]),
                "region": ("multipicklist", []),
            ],
            "account": ["segments": ("multipicklist", ["SMB", "Mid-Market", "Enterprise", "Public Sector"]), "isACustomerOf": ("multipicklist", [])],
        ]
        return s
    }

    func reset() { lock.withLock { state = Self.seeded(context.seed) } }

    func variant(_ key: String) -> String { context.config.variant(key) }

    /// The user whose API key made the request.
    static func userId(_ request: SimRequest) -> Int {
        request.header("apikey") == otherUserAPIKey ? otherUserId : apiUserId
    }

    /// 001_5f3c65e90f1cda6d.txt:512 403 "Invalid permissions to view this job", with the generic body of :739.
    private func forbidden() -> SimResponse {
        error(.exports, status: 403, code: "SWW", message: "Invalid permissions to view this job.")
    }

    // MARK: Routes

    func routes() -> [Route] {
        [
            // 001_5f3c65e90f1cda6d.txt:76 POST /export/forecast/{forecastId}: 200 {jobId}; 400 fcw errors; timePeriod optional.
            endpoint(.POST, "/v4/export/forecast/{forecastId}", style: .forecast) { r, p in self.exportForecast(r, p["forecastId"]) },
            // 001_5f3c65e90f1cda6d.txt:1998 POST /export/activity: 202 {jobId}.
            endpoint(.POST, "/v4/export/activity", style: .activity) { r, _ in self.exportActivity(r) },
            // 001_5f3c65e90f1cda6d.txt:865 POST /export/audit/events: 202 {jobId}; 400 {errors}.
            endpoint(.POST, "/v4/export/audit/events", style: .audit) { r, _ in self.exportAudit(r) },
            // 001_5f3c65e90f1cda6d.txt:708 GET /export/jobs: a bare array of jobs.
            endpoint(.GET, "/v4/export/jobs", style: .exports) { r, _ in self.listJobs(r) },
            // 001_5f3c65e90f1cda6d.txt:381 GET /export/jobs/{jobId}: the job, flat.
            endpoint(.GET, "/v4/export/jobs/{jobId}", style: .exports) { r, p in self.getJob(r, p["jobId"]) },
            // 001_5f3c65e90f1cda6d.txt:524 PATCH /export/jobs/{jobId} {type: CANCEL}: 200 {status, successful}; 400 export_failed_to_cancel.
            endpoint(.PATCH, "/v4/export/jobs/{jobId}", style: .exports) { r, p in self.cancelJob(r, p["jobId"]) },
            // 001_5f3c65e90f1cda6d.txt:597 GET /export/jobs/{jobId}/results: the file; 400 invalid_jobId before DONE.
            endpoint(.GET, "/v4/export/jobs/{jobId}/results", style: .exports) { r, p in self.results(r, p["jobId"]) },
            // 001_5f3c65e90f1cda6d.txt:800 GET /admin/limits: {jobs: {...}}.
            endpoint(.GET, "/v4/admin/limits", style: .exports) { _, _ in self.limits() },
            // 001_5f3c65e90f1cda6d.txt:1008 GET /audit/events: {nextLink, items, actors}; limit 1..1000.
            endpoint(.GET, "/v4/audit/events", style: .audit) { r, _ in self.auditEvents(r) },
            // 001_5f3c65e90f1cda6d.txt:1229 GET /opportunity?oppId=...: [{id, crmScore, fields}]; 4XX [{statusCode, ...}].
            endpoint(.GET, "/v4/opportunity", style: .opportunity) { r, _ in self.opportunities(r) },
            // 001_5f3c65e90f1cda6d.txt:1502 POST /ingest/entity/{entity}: 200; 400 [{errorCode, errorSummary}].
            endpoint(.POST, "/v2/ingest/entity/{entity}", style: .ingestion) { r, p in self.ingest(r, p["entity"]) },
            // 001_5f3c65e90f1cda6d.txt:1360 POST /ingest/bulk/entity/{entity}: multipart FileData → 202 {jobId}.
            endpoint(.POST, "/v2/ingest/bulk/entity/{entity}", style: .ingestion, maxBody: Self.maxBulkFileBytes + 1024 * 1024) { r, p in
                self.ingestBulk(r, p["entity"])
            },
            // 001_5f3c65e90f1cda6d.txt:1793 GET /ingest/job/{jobId}: 202 running, 200 done, 400 VALIDATION_ERROR, 500 FAILED.
            endpoint(.GET, "/v2/ingest/job/{jobId}", style: .ingestJob) { _, p in self.ingestJob(p["jobId"]) },
            // 001_5f3c65e90f1cda6d.txt:2307 POST /ingest/schema/{entity}/field {fieldName, fieldType, values}.
            endpoint(.POST, "/v2/ingest/schema/{entity}/field", style: .ingestion) { r, p in self.addPicklist(r, p["entity"]) },
            // 001_5f3c65e90f1cda6d.txt:2412 GET /ingest/schema/{entity}/field?fieldNames=A,B → {A: [values], B: [values]}.
            endpoint(.GET, "/v2/ingest/schema/{entity}/field", style: .ingestion) { r, p in self.getPicklist(r, p["entity"]) },
        ]
    }

    // MARK: Auth, errors, rate limits

    func authenticate(_ request: SimRequest, style: ErrorStyle) -> SimResponse? {
        let invalid = "Invalid authentication credentials"
        let key = request.header("apikey")
        if key != SimulatorCredentials.clariAPIKey && key != Self.otherUserAPIKey {
            switch style {
            case .ingestJob: return .json(401, ["error": invalid])  // 001_5f3c65e90f1cda6d.txt:1949
            case .audit: return error(.audit, status: 401, code: "unauthorized", message: invalid)  // :1183 4XX
            default: return .json(401, ["message": invalid])  // :2142
            }
        }
        if style == .ingestion || style == .ingestJob, request.header("partnerkey") != SimulatorCredentials.clariPartnerKey {
            if style == .ingestJob { return .json(401, ["error": invalid]) }
            return .json(401, [["errorCode": "INVALID_PARTNER_KEY", "errorSummary": "Unauthorized PartnerKey"]])  // :1708
        }
        return nil
    }

    private static func reason(_ status: Int) -> String {
        HTTPResponseStatus(statusCode: status).reasonPhrase
    }

    func error(_ style: ErrorStyle, status: Int, code: String, message: String) -> SimResponse {
        let errorId = UUID().uuidString.lowercased()
        switch style {
        case .exports, .forecast:
            // 001_5f3c65e90f1cda6d.txt:2157 (exports) and :244 (namespace fcw).
            let c = code == "internal_error" ? "internal_server_error" : code
            return .json(status, ["code": c, "namespace": style == .forecast && status != 500 ? "fcw" : "exports", "errorId": errorId,
                                  "message": message, "orgId": Self.orgId])
        case .activity:
            // 001_5f3c65e90f1cda6d.txt:2098 {code, namespace: activity, errorId, message, userId, orgId}.
            if status >= 500 {
                return .json(status, ["code": "internal_server_error", "namespace": "exports", "errorId": errorId, "message": message, "orgId": Self.orgId])
            }
            return .json(status, ["code": code, "namespace": "activity", "errorId": errorId, "message": message,
                                  "userId": String(Self.apiUserId), "orgId": String(Self.orgId)])
        case .audit:
            return auditError(status: status, code: code, message: message, target: nil)
        case .ingestion:
            // 001_5f3c65e90f1cda6d.txt:1627 / :1767 [{errorCode, errorSummary}].
            let c = code == "internal_error" ? "INTERNAL_SERVER_ERROR" : code
            return .json(status, [["errorCode": c, "errorSummary": message]])
        case .ingestJob:
            // 001_5f3c65e90f1cda6d.txt:1959 {error}.
            return .json(status, ["error": message])
        case .opportunity:
            // 001_5f3c65e90f1cda6d.txt:1325 [{statusCode, reaspnPhrase, description, details}] (the seed's spelling).
            return .json(status, [["statusCode": status, "reaspnPhrase": Self.reason(status), "description": code, "details": message]])
        }
    }

    /// 001_5f3c65e90f1cda6d.txt:1183 {errors: [{code, message, target, status (3 characters), details}]}.
    func auditError(status: Int, code: String, message: String, target: String?, details: String? = nil) -> SimResponse {
        var e: [String: Any] = ["code": code, "message": message, "status": String(status)]
        if let target { e["target"] = target }
        if let details { e["details"] = details }
        return .json(status, ["errors": [e]])
    }

    func tooManyRequests(_ style: ErrorStyle, _ budget: RateLimiter.Budget) -> SimResponse {
        let retry = [("Retry-After", String(budget.resetSeconds))]
        switch style {
        case .ingestJob:
            return error(style, status: 429, code: "", message: "API rate limit exceeded").adding(headers: retry)  // :1969
        case .ingestion:
            return error(style, status: 429, code: "TOO_MANY_REQUESTS",
                         message: "Max concurrent async ingestion jobs limit reached for partner").adding(headers: retry)  // :1498
        default:
            // (assumed) The export and audit routes document no 429: the code too_many_requests is the simulator's.
            let message = "Rate limit of \(budget.limit) requests per minute exceeded; retry in \(budget.resetSeconds) s"
            return error(style, status: 429, code: "too_many_requests", message: message).adding(headers: retry)
        }
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        let style: ErrorStyle = request.path.contains("/v2/") ? .ingestion : (request.path.contains("/v4/audit/") ? .audit : .exports)
        let what = status == 405 ? "Method \(request.method.rawValue) not allowed on" : "No such endpoint:"
        return error(style, status: status, code: status == 405 ? "method_not_allowed" : "not_found", message: "\(what) \(request.path)")
    }

    // MARK: Export jobs

    private enum Phase: Equatable { case scheduled, started, done, failed, cancelled(String) }

    private func phase(_ job: ExportJob, at now: Double) -> Phase {
        if let c = job.cancelledAt, now >= c { return .cancelled(job.cancelWord ?? "CANCELLED") }
        let elapsed = (now - job.created) * context.clock.speed
        if elapsed < Self.queuedSeconds { return .scheduled }
        if elapsed < Self.queuedSeconds + Self.runningSeconds { return .started }
        return job.failure == nil ? .done : .failed
    }

    private func statusWord(_ p: Phase) -> String {
        switch p {
        case .scheduled: return "SCHEDULED"
        case .started: return "STARTED"
        case .done: return "DONE"
        case .failed: return "FAILED"
        case .cancelled(let word): return word
        }
    }

    static func millis(_ t: Double) -> Int64 { Int64((t * 1000).rounded(.down)) }

    /// 001_5f3c65e90f1cda6d.txt:409 the job, flat: times are epoch milliseconds
    /// (:437–440), ids integers (:421–422), module upper case (:436).
    private func jobJSON(_ job: ExportJob, now: Double) -> [String: Any] {
        let p = phase(job, at: now)
        let endAt = job.created + context.clock.real(Self.queuedSeconds + Self.runningSeconds)
        var j: [String: Any] = [
            "jobId": job.id, "userId": job.userId, "orgId": Self.orgId, "title": job.title, "module": job.module,
            "startTime": Self.millis(job.created), "endTime": NSNull(), "expiredTime": NSNull(), "version": 1,
            "fileName": job.fileName, "fileType": job.fileType, "status": statusWord(p), "viewed": job.downloads > 0,
            "cellsTruncated": false, "rowsTruncated": false, "downloads": job.downloads, "deliveryStatusMap": [String: Any](),
        ]
        if let c = job.currency { j["currency"] = c }
        switch p {
        case .done, .failed:
            j["endTime"] = Self.millis(endAt)
            j["expiredTime"] = Self.millis(endAt + 30 * 86_400)
        case .cancelled:
            j["endTime"] = Self.millis(job.cancelledAt ?? now)
        default:
            break
        }
        return j
    }

    /// Jobs not finished yet, oldest first (the caller holds the lock).
    private func runningIds(_ s: State, now: Double) -> [String] {
        s.jobOrder.filter { id in
            let p = phase(s.jobs[id]!, at: now)
            return p == .scheduled || p == .started
        }
    }

    /// Jobs counting against the quota: submitted in the last 30 (simulated) days (the caller holds the lock).
    private func submittedIds(_ s: State, now: Double) -> [String] {
        s.jobOrder.filter { (now - s.jobs[$0]!.created) * context.clock.speed < Self.quotaWindow }
    }

    /// Creates a job unless a limit is reached: 400 export_monthly_quota_reached
    /// (001_5f3c65e90f1cda6d.txt:2127, namespace exports, with `source`).
    private func submit(
        _ request: SimRequest, module: String, identity: String, title: String, fileName: String, fileType: String, currency: String?,
        failure: String? = nil, status: Int, result: @escaping (String) -> ClariResult
    ) -> SimResponse {
        let limitC = context.config.clariConcurrentLimit, quota = context.config.clariMonthlyQuota
        let now = context.clock.now()
        let created: String? = lock.withLock {
            let running = runningIds(state, now: now).count
            guard running < limitC, submittedIds(state, now: now).count < quota else { return nil }
            let id = state.ids.objectId()
            state.jobs[id] = ExportJob(
                id: id, userId: Self.userId(request), module: module, title: title, fileName: fileName.replacingOccurrences(of: "{jobId}", with: id),
                fileType: fileType, currency: currency, created: now, failure: failure, result: result(id))
            state.jobOrder.append(id)
            return id
        }
        guard let id = created else {
            return .json(400, ["code": "export_monthly_quota_reached", "namespace": "exports", "errorId": UUID().uuidString.lowercased(),
                               "message": "The monthly quota limit of \(quota) or concurrent limit of \(limitC) has been reached.",
                               "orgId": Self.orgId, "source": "Export"])
        }
        context.stats.created(name, "export_jobs", identity: identity)
        return .json(status, ["jobId": id])
    }

    /// The JSON object body (empty body: no parameters), or the answer for a malformed one.
    private func exportBody(_ request: SimRequest, _ style: ErrorStyle) -> ([String: Any]?, SimResponse?) {
        if request.body.isEmpty { return ([:], nil) }
        guard let body = request.jsonObject else {
            let text = String(decoding: request.body.prefix(200), as: UTF8.self)
            let code = style == .activity ? "Bad request" : "bad_request"
            if style == .audit {
                return (nil, auditError(status: 400, code: "bad_request", message: "The request body was malformed", target: "body", details: text))
            }
            return (nil, error(style, status: 400, code: code, message: "The request body was malformed: \(text)"))  // :316
        }
        return (body, nil)
    }

    /// The current calendar quarter as `YYYY_QN` (001_5f3c65e90f1cda6d.txt:171: timePeriod defaults to the current quarter).
    static func currentQuarter(_ now: Double) -> String {
        let day = Dates.day(now)
        let year = day.prefix(4), month = Int(day.dropFirst(5).prefix(2)) ?? 1
        return "\(year)_Q\((month - 1) / 3 + 1)"
    }

    func exportForecast(_ request: SimRequest, _ forecastId: String) -> SimResponse {
        let (parsed, malformed) = exportBody(request, .forecast)
        guard var body = parsed else { return malformed! }
        // The parameters may also come in the query (001_5f3c65e90f1cda6d.txt:100–150); the body wins.
        for key in ["timePeriod", "scopeId", "currency", "exportFormat"] where body[key] == nil {
            if let v = request.queryValue(key) { body[key] = v }
        }
        if body["includeHistorical"] == nil, let v = request.queryValue("includeHistorical") { body["includeHistorical"] = v == "true" }
        if body["typesToExport"] == nil, !request.queryValues("typesToExport").isEmpty {
            body["typesToExport"] = request.queryValues("typesToExport").flatMap { $0.split(separator: ",").map(String.init) }
        }
        func bad(_ message: String, code: String = "bad_request") -> SimResponse {
            error(.forecast, status: 400, code: code, message: message)
        }
        let data = lock.withLock { state.data }
        guard let source = data.forecastSource(forecastId) else {
            // 001_5f3c65e90f1cda6d.txt:256
            return bad("Forecast \(forecastId) does not exist in the ForecastTemplate.", code: "no_such_forecast_config")
        }
        var timePeriod = Self.currentQuarter(context.clock.now())
        if let t = body["timePeriod"], !(t is NSNull) {
            guard let text = t as? String, ClariData.validTimePeriod(text) else {
                return bad("The timePeriod parameter is invalid: it must be a fiscal quarter such as 2024_Q1")
            }
            timePeriod = text
        }
        // 001_5f3c65e90f1cda6d.txt:215 typesToExport defaults to forecast and forecast_updated.
        var types = ["forecast", "forecast_updated"]
        if let raw = body["typesToExport"], !(raw is NSNull) {
            guard let t = body.strings("typesToExport"), !t.isEmpty else {
                return bad("typesToExport must be a list of: \(Self.exportTypes.joined(separator: ", "))")
            }
            let invalid = t.filter { !Self.exportTypes.contains($0) }
            if !invalid.isEmpty {
                // 001_5f3c65e90f1cda6d.txt:350
                return bad("The following typesToExport values are invalid: [\(invalid.map { "\"\($0)\"" }.joined(separator: ", "))]")
            }
            if t.contains(where: Self.unsupportedExportTypes.contains) {
                // 001_5f3c65e90f1cda6d.txt:290
                return bad("CRM Totals and CRM Closed are not supported typeToExport values for Export API. Please see Forecast API documentation if you’d like to retrieve CRM Totals or CRM Closed values.",
                           code: "type_not_supported")
            }
            types = t
        }
        let format = body["exportFormat"] == nil ? "JSON" : (body.string("exportFormat") ?? "")
        guard ["JSON", "CSV"].contains(format) else { return bad("exportFormat must be JSON or CSV") }
        let schedule = body["schedule"] == nil ? "NONE" : (body.string("schedule") ?? "")
        guard ["NONE", "ONCE", "MAX"].contains(schedule) else { return bad("schedule must be NONE, ONCE or MAX") }
        var currency: String?
        if let c = body["currency"], !(c is NSNull) {
            // (assumed) "three upper-case letters": :333 documents only the refusal's message.
            guard let text = c as? String, text.count == 3, text.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                return bad("The currency parameter is invalid.")  // :333
            }
            currency = text
        }
        if body["includeHistorical"] != nil && body.bool("includeHistorical") == nil { return bad("includeHistorical must be a boolean") }
        if body["scopeId"] != nil && !(body["scopeId"] is NSNull) && body.string("scopeId") == nil { return bad("scopeId must be a string") }
        let historical = body.bool("includeHistorical") ?? false
        let ext = format == "CSV" ? "csv" : "json"
        let spec = ClariData.ForecastSpec(
            forecastId: forecastId, timePeriod: timePeriod, types: types, currency: currency ?? "USD",
            scopeId: body.string("scopeId") ?? "", includeHistorical: historical, csv: format == "CSV")
        return submit(
            request, module: "FORECAST", identity: "forecast|\(forecastId)|" + JSON.encodeString(body),
            title: ClariData.forecasts[forecastId] ?? "Forecast Export",
            fileName: "clari_export_forecast_\(forecastId)_\(timePeriod)_{jobId}.\(ext)",
            fileType: format, currency: currency ?? "USD",
            failure: source == .fail ? "The forecast could not be computed (simulated failure)" : nil, status: 200
        ) { _ in data.forecastResult(spec, source: source) }
    }

    /// A date-time with a UTC offset (001_5f3c65e90f1cda6d.txt:2049: "Ensure to provide UTC offset").
    private static func offsetDateTime(_ text: String?) -> Double? {
        guard let text, Dates.parseDay(text) == nil else { return nil }
        return Dates.parse(text)
    }

    func exportActivity(_ request: SimRequest) -> SimResponse {
        let (parsed, bad) = exportBody(request, .activity)
        guard let body = parsed else { return bad! }
        func refuse(_ message: String) -> SimResponse { error(.activity, status: 400, code: "Bad request", message: message) }
        // 001_5f3c65e90f1cda6d.txt:2023 activityTypes: default null (every type).
        var types = Self.activityTypes
        if let raw = body["activityTypes"], !(raw is NSNull) {
            guard let t = body.strings("activityTypes") else {
                return refuse("activityTypes must be a list of: \(Self.activityTypes.joined(separator: ", "))")
            }
            if let badType = t.first(where: { !Self.activityTypes.contains($0) }) {
                return refuse("Unsupported activityType \(badType); supported: \(Self.activityTypes.joined(separator: ", "))")
            }
            if !t.isEmpty { types = t }
        }
        guard let start = Self.offsetDateTime(body.string("startDate")), let end = Self.offsetDateTime(body.string("endDate")) else {
            return refuse("startDate and endDate are required ISO-8601 date-times with a UTC offset, e.g. 2023-03-10T00:00:00Z")
        }
        // (assumed) start <= end and a range of at most a year: the document states neither.
        guard start <= end, end - start <= 366 * 86_400 else {
            return refuse("startDate must not be after endDate, and the range at most a year")
        }
        if body["exportFormat"] != nil && body.string("exportFormat") != "JSON" {
            return refuse("exportFormat must be JSON")  // :2071 enum [JSON]
        }
        let data = lock.withLock { state.data }
        return submit(
            request, module: "ACTIVITY", identity: "activity|" + JSON.encodeString(body), title: "Activity Export",
            fileName: "clari_export_activity_{jobId}.json", fileType: "JSON", currency: nil, status: 202
        ) { _ in data.activityResult(types: types, start: start, end: end + 86_400) }
    }

    func exportAudit(_ request: SimRequest) -> SimResponse {
        let (parsed, bad) = exportBody(request, .audit)
        guard let body = parsed else { return bad! }
        if let refused = auditFilterError(body, integersAs: .json) { return refused }
        let filter = ClariData.AuditFilter(body)
        let data = lock.withLock { state.data }
        return submit(
            request, module: "AUDIT", identity: "audit|" + JSON.encodeString(body), title: "Audit Events Export",
            fileName: "clari_export_audit_events_{jobId}.json", fileType: "JSON", currency: nil, status: 202
        ) { _ in data.auditResult(filter) }
    }

    enum IntegerSource { case json, query }

    /// The audit filters' rules (001_5f3c65e90f1cda6d.txt:884–936 body, :1035–1080 query).
    private func auditFilterError(_ values: [String: Any], integersAs source: IntegerSource) -> SimResponse? {
        func refuse(_ target: String, _ message: String) -> SimResponse {
            auditError(status: 400, code: "invalid_parameter", message: message, target: target)
        }
        for key in ["actorId", "impersonatingActorId"] {
            guard let v = values[key], !(v is NSNull) else { continue }
            let ok: Bool
            switch source {
            case .json: ok = (v as? NSNumber).map { !isBool($0) && $0.doubleValue == $0.doubleValue.rounded() } ?? false
            case .query: ok = (v as? String).flatMap { Int64($0) } != nil
            }
            if !ok { return refuse(key, "\(key) must be an integer (int64)") }
        }
        if let v = values["sessionId"], !(v is NSNull) {
            guard let s = v as? String, s.count <= 36 else { return refuse("sessionId", "sessionId must be a UUID") }
        }
        if let v = values["sessionType"], !(v is NSNull) {
            guard let s = v as? String, Self.sessionTypes.contains(s) else { return refuse("sessionType", "sessionType must be WEB, IOS or ANDROID") }
        }
        for key in ["dateFrom", "dateTo"] {
            guard let v = values[key], !(v is NSNull) else { continue }
            guard let t = v as? String, Dates.parse(t) != nil else { return refuse(key, "\(key) must be an ISO-8601 date or date-time") }
        }
        if let v = values["event"], !(v is NSNull), !(v is String) { return refuse("event", "event must be a string") }
        return nil
    }

    /// 001_5f3c65e90f1cda6d.txt:711 the jobs initiated by the caller (the API key's user) only.
    func listJobs(_ request: SimRequest) -> SimResponse {
        let now = context.clock.now(), user = Self.userId(request)
        let jobs: [[String: Any]] = lock.withLock {
            state.jobOrder.reversed().compactMap { id in state.jobs[id].flatMap { $0.userId == user ? jobJSON($0, now: now) : nil } }
        }
        if variant("clari.jobs_listing") == "wrapped" { return .json(200, ["jobs": jobs]) }
        return .json(200, jobs)
    }

    /// An unknown job on the results route: 400 invalid_jobId (001_5f3c65e90f1cda6d.txt:688–699).
    private func unknownJob(_ id: String) -> SimResponse {
        error(.exports, status: 400, code: "invalid_jobId", message: "Cannot retrieve data for the requested jobId: job \(id) does not exist")
    }

    /// An unknown job on GET /export/jobs/{jobId}: 400 with the generic body
    /// (001_5f3c65e90f1cda6d.txt:506–511 → :739–755, code SWW).
    private func unknownJobGeneric() -> SimResponse {
        error(.exports, status: 400, code: "SWW", message: "Something went wrong")
    }

    func getJob(_ request: SimRequest, _ id: String) -> SimResponse {
        let now = context.clock.now()
        guard let job = lock.withLock({ state.jobs[id] }) else { return unknownJobGeneric() }
        if job.userId != Self.userId(request) { return forbidden() }
        let j = jobJSON(job, now: now)
        if variant("clari.job") == "wrapped" { return .json(200, ["job": j]) }
        return .json(200, j)
    }

    func cancelJob(_ request: SimRequest, _ id: String) -> SimResponse {
        guard let body = request.jsonObject, let type = body.string("type") else {
            return error(.exports, status: 400, code: "bad_request", message: "The body must be {\"type\": \"CANCEL\"}")
        }
        guard type == "CANCEL" else {
            return error(.exports, status: 400, code: "bad_request", message: "Unsupported type \"\(type)\"; only CANCEL is supported")
        }
        let now = context.clock.now()
        enum Outcome { case missing, forbidden, finished, cancelled(String) }
        let outcome: Outcome = lock.withLock {
            guard var job = state.jobs[id] else { return .missing }
            if job.userId != Self.userId(request) { return .forbidden }
            let p = phase(job, at: now)
            guard p == .scheduled || p == .started else { return .finished }
            job.cancelledAt = now
            job.cancelWord = p == .scheduled ? "CANCELLED" : "ABORTED"
            state.jobs[id] = job
            return .cancelled(job.cancelWord!)
        }
        switch outcome {
        case .missing:
            return unknownJob(id)
        case .forbidden:
            return forbidden()
        case .finished:
            // 001_5f3c65e90f1cda6d.txt:579
            return error(.exports, status: 400, code: "export_failed_to_cancel", message: "Cannot cancel the job because it already finished executing.")
        case .cancelled(let word):
            return .json(200, ["status": word, "successful": true])
        }
    }

    func results(_ request: SimRequest, _ id: String) -> SimResponse {
        let now = context.clock.now()
        enum Outcome { case missing, forbidden, notReady, ready(ExportJob) }
        let outcome: Outcome = lock.withLock {
            guard var job = state.jobs[id] else { return .missing }
            if job.userId != Self.userId(request) { return .forbidden }
            guard phase(job, at: now) == .done else { return .notReady }
            if request.method != .HEAD {
                job.downloads += 1
                state.jobs[id] = job
            }
            return .ready(job)
        }
        switch outcome {
        case .missing:
            return unknownJob(id)
        case .forbidden:
            return forbidden()
        case .notReady:
            // 001_5f3c65e90f1cda6d.txt:699
            return error(.exports, status: 400, code: "invalid_jobId", message: "Cannot retrieve data for job because it has not finished executing.")
        case .ready(let job):
            return Ranges.respond(
                to: request, body: job.result.body, contentType: job.result.contentType, etag: "\"clari-\(job.id)\"",
                headers: [("Content-Disposition", "attachment; filename=\"\(job.fileName)\"")])
        }
    }

    /// 001_5f3c65e90f1cda6d.txt:815: runningJobIds is left out when no job is in progress (:838).
    func limits() -> SimResponse {
        let now = context.clock.now()
        let limitC = context.config.clariConcurrentLimit, quota = context.config.clariMonthlyQuota
        let (running, submitted) = lock.withLock { (runningIds(state, now: now), submittedIds(state, now: now)) }
        var jobs: [String: Any] = [
            "concurrentLimit": limitC, "monthlyQuota": quota, "submittedJobIds": submitted,
            "availableConcurrentLimit": max(0, limitC - running.count),
            "availableMonthlyQuota": max(0, quota - submitted.count),
        ]
        if !running.isEmpty { jobs["runningJobIds"] = running }
        return .json(200, ["jobs": jobs])
    }

    // MARK: Audit and opportunities

    func auditEvents(_ request: SimRequest) -> SimResponse {
        var limit = 100  // 001_5f3c65e90f1cda6d.txt:1024 Defaults to 100
        if let t = request.queryValue("limit") {
            guard let n = Int(t), (1...1000).contains(n) else {
                return auditError(status: 400, code: "invalid_parameter", message: "limit must be an integer between 1 and 1000", target: "limit")
            }
            limit = n
        }
        var offset = 0
        if let c = request.queryValue("cursor") {
            guard let n = Int(c), n >= 0 else {
                return auditError(status: 400, code: "invalid_parameter", message: "cursor is not valid", target: "cursor")
            }
            offset = n
        }
        var params: [String: Any] = [:]
        for (k, v) in request.query where k != "limit" && k != "cursor" { params[k] = v }
        if let refused = auditFilterError(params, integersAs: .query) { return refused }
        let pageSize = variant("clari.audit_page_cap") == "none" ? limit : min(limit, Self.auditPageCap)
        let data = lock.withLock { state.data }
        let page = data.auditPage(ClariData.AuditFilter(params), offset: offset, limit: pageSize)
        var out: [String: Any] = ["items": page.items, "actors": page.actors]
        if let next = page.nextOffset {
            var q = request.query.filter { $0.name != "cursor" && $0.name != "limit" }
            q.append(("limit", String(limit)))
            q.append(("cursor", String(next)))
            out["nextLink"] = request.origin + prefix + "/v4/audit/events?" + q.map { "\(urlEncode($0.name))=\(urlEncode($0.value))" }.joined(separator: "&")
        }
        return .json(200, out)
    }

    func opportunities(_ request: SimRequest) -> SimResponse {
        let ids = request.queryValues("oppId")
        guard !ids.isEmpty else {
            // 001_5f3c65e90f1cda6d.txt:1327 the seed's own example.
            return error(.opportunity, status: 400, code: "invalid query parameter", message: "oppId is required")
        }
        guard ids.count <= 100 else {
            // 001_5f3c65e90f1cda6d.txt:1255 maxItems: 100
            return error(.opportunity, status: 400, code: "invalid query parameter", message: "at most 100 oppId values a request; got \(ids.count)")
        }
        let data = lock.withLock { state.data }
        return .json(200, ids.compactMap { data.opportunity($0) })
    }
}

/// Percent-encodes a query component.
func urlEncode(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
