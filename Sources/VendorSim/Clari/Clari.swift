import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Clari (vendors.md § Clari), under `/clari`: exports, jobs, limits, audit
/// and opportunities under `/v4`; ingestion under `/v2`.
///
/// - Auth: `apikey` on every call; ingestion also `partnerkey`. Wrong or
///   missing → 401 `{message: "Invalid authentication credentials"}`.
/// - Errors: exports `{code, namespace, errorId, message, orgId}`; audit
///   `{errors: [{code, message, target, status, details}]}`; ingestion
///   `[{errorCode, errorSummary}]` (429: `TOO_MANY_REQUESTS`).
/// - Export jobs: SCHEDULED (2 s) → STARTED (3 s) → DONE, scaled by the speed;
///   `PATCH {"type":"CANCEL"}` → CANCELLED (400 once DONE). The forecast id
///   `sim-fail` ends FAILED.
/// - Limits: `concurrentLimit` jobs not yet finished, `monthlyQuota` jobs per
///   run (a run is a "month"); over either → 400 `export_monthly_quota_reached`.
///   `/v4/admin/limits`: `runningJobIds` = jobs not finished,
///   `submittedJobIds` = every job submitted this month (oldest first).
/// - Results (see ClariResults.swift): forecast JSON `[[header...], [row...], ...]`
///   or CSV; `sim-rows-N` gives N data rows, `sim-bytes-N` about N bytes,
///   streamed with `Range` support.
/// - Ingestion: at most 100 records a request, `updatedAt >= createdAt` (epoch ms);
///   bulk: multipart part `FileData`, at most 10 MB → job QUEUED (2 s) →
///   IN_PROGRESS (3 s) → SUCCESS, or VALIDATION_FAILED when a record breaks a rule.
final class ClariSim: VendorModule, @unchecked Sendable {
    enum ErrorStyle: Sendable { case exports, audit, ingestion }

    let name = "clari"
    let prefix = "/clari"
    let context: SimContext

    static let orgId = "org-sim-0001"
    static let apiUserId = "u-1001"
    static let exportTypes = ["forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed"]
    static let activityTypes = ["MEETING", "EMAIL_SENT", "EMAIL_RECEIVED", "ATTACHMENT_SENT", "ATTACHMENT_RECEIVED"]
    static let sessionTypes = ["WEB", "IOS", "ANDROID"]
    static let maxIngestRecords = 100
    static let maxBulkFileBytes = 10 * 1024 * 1024
    /// Simulated seconds in SCHEDULED / QUEUED, then in STARTED / IN_PROGRESS.
    static let queuedSeconds = 2.0
    static let runningSeconds = 3.0

    struct ExportJob {
        let id: String
        /// `forecast`, `activity` or `audit`.
        let module: String
        let title: String
        let fileName: String
        let fileType: String
        let parameters: [String: Any]
        let created: Double
        var cancelledAt: Double?
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
        /// nil: the file is valid (ends SUCCESS); else why it ends VALIDATION_FAILED.
        let validationError: String?
    }

    struct State {
        var ids: IdGenerator
        var jobs: [String: ExportJob] = [:]
        var jobOrder: [String] = []
        var ingestJobs: [String: IngestJob] = [:]
        var picklists: [String: [String: (type: String, values: [String])]] = [:]
        var data: ClariData
    }

    private let lock = NIOLock()
    private var state: State

    init(context: SimContext) {
        self.context = context
        state = Self.seeded(context.seed)
    }

    static func seeded(_ seed: UInt64) -> State {
        var s = State(ids: IdGenerator(seed: seed, stream: "clari.ids"), data: ClariData(seed: seed))
        s.picklists = [
            "opportunity": [
                "stage": ("picklist", ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]),
                "forecastCategory": ("picklist", ["Pipeline", "Best Case", "Commit", "Closed", "Omitted"]),
            ],
            "account": ["segments": ("multipicklist", ["SMB", "Mid-Market", "Enterprise", "Public Sector"])],
        ]
        return s
    }

    func reset() { lock.withLock { state = Self.seeded(context.seed) } }

    // MARK: Routes

    func routes() -> [Route] {
        [
            endpoint(.POST, "/v4/export/forecast/{forecastId}", style: .exports) { r, p in self.exportForecast(r, p["forecastId"]) },
            endpoint(.POST, "/v4/export/activity", style: .exports) { r, _ in self.exportActivity(r) },
            endpoint(.POST, "/v4/export/audit/events", style: .exports) { r, _ in self.exportAudit(r) },
            endpoint(.GET, "/v4/export/jobs", style: .exports) { _, _ in self.listJobs() },
            endpoint(.GET, "/v4/export/jobs/{jobId}", style: .exports) { _, p in self.getJob(p["jobId"]) },
            endpoint(.PATCH, "/v4/export/jobs/{jobId}", style: .exports) { r, p in self.cancelJob(r, p["jobId"]) },
            endpoint(.GET, "/v4/export/jobs/{jobId}/results", style: .exports) { r, p in self.results(r, p["jobId"]) },
            endpoint(.GET, "/v4/admin/limits", style: .exports) { _, _ in self.limits() },
            endpoint(.GET, "/v4/audit/events", style: .audit) { r, _ in self.auditEvents(r) },
            endpoint(.GET, "/v4/opportunity", style: .exports) { r, _ in self.opportunities(r) },
            endpoint(.POST, "/v2/ingest/entity/{entity}", style: .ingestion) { r, p in self.ingest(r, p["entity"]) },
            endpoint(.POST, "/v2/ingest/bulk/entity/{entity}", style: .ingestion, maxBody: Self.maxBulkFileBytes + 1024 * 1024) { r, p in
                self.ingestBulk(r, p["entity"])
            },
            endpoint(.GET, "/v2/ingest/job/{jobId}", style: .ingestion) { _, p in self.ingestJob(p["jobId"]) },
            endpoint(.POST, "/v2/ingest/schema/{entity}/field", style: .ingestion) { r, p in self.addPicklist(r, p["entity"]) },
            endpoint(.GET, "/v2/ingest/schema/{entity}/field", style: .ingestion) { r, p in self.getPicklist(r, p["entity"]) },
        ]
    }

    // MARK: Auth, errors, rate limits

    func authenticate(_ request: SimRequest, style: ErrorStyle) -> SimResponse? {
        var ok = request.header("apikey") == SimulatorCredentials.clariAPIKey
        if style == .ingestion { ok = ok && request.header("partnerkey") == SimulatorCredentials.clariPartnerKey }
        return ok ? nil : .json(401, ["message": "Invalid authentication credentials"])
    }

    func error(_ style: ErrorStyle, status: Int, code: String, message: String) -> SimResponse {
        switch style {
        case .exports:
            return .json(status, ["code": code, "namespace": "exports", "errorId": UUID().uuidString.lowercased(),
                                  "message": message, "orgId": Self.orgId])
        case .audit:
            return .json(status, ["errors": [["code": code, "message": message, "target": NSNull(), "status": status, "details": [Any]()]]])
        case .ingestion:
            return .json(status, [["errorCode": code.uppercased(), "errorSummary": message]])
        }
    }

    func auditError(status: Int, code: String, message: String, target: String) -> SimResponse {
        .json(status, ["errors": [["code": code, "message": message, "target": target, "status": status, "details": [Any]()]]])
    }

    func tooManyRequests(_ style: ErrorStyle, _ budget: RateLimiter.Budget) -> SimResponse {
        let message = "Rate limit of \(budget.limit) requests per minute exceeded; retry in \(budget.resetSeconds) s"
        return error(style, status: 429, code: style == .ingestion ? "TOO_MANY_REQUESTS" : "too_many_requests", message: message)
            .adding(headers: [("Retry-After", String(budget.resetSeconds))])
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        let style: ErrorStyle = request.path.contains("/v2/") ? .ingestion : (request.path.contains("/v4/audit/") ? .audit : .exports)
        let what = status == 405 ? "Method \(request.method.rawValue) not allowed on" : "No such endpoint:"
        return error(style, status: status, code: status == 405 ? "method_not_allowed" : "not_found", message: "\(what) \(request.path)")
    }

    // MARK: Export jobs

    private enum Phase { case scheduled, started, done, failed, cancelled }

    private func phase(_ job: ExportJob, at now: Double) -> Phase {
        let elapsed = (now - job.created) * context.clock.speed
        if let c = job.cancelledAt, now >= c { return .cancelled }
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
        case .cancelled: return "CANCELLED"
        }
    }

    private func jobJSON(_ job: ExportJob, now: Double) -> [String: Any] {
        let p = phase(job, at: now)
        let startAt = job.created + context.clock.real(Self.queuedSeconds)
        let endAt = job.created + context.clock.real(Self.queuedSeconds + Self.runningSeconds)
        var j: [String: Any] = [
            "jobId": job.id, "userId": Self.apiUserId, "orgId": Self.orgId, "title": job.title, "module": job.module,
            "createdTime": Dates.iso(job.created), "fileName": job.fileName, "fileType": job.fileType,
            "status": statusWord(p), "downloads": job.downloads, "parameters": job.parameters,
            "startTime": NSNull(), "endTime": NSNull(), "expiredTime": NSNull(),
        ]
        if p != .scheduled && !(p == .cancelled && (job.cancelledAt ?? 0) < startAt) { j["startTime"] = Dates.iso(startAt) }
        switch p {
        case .done, .failed:
            j["endTime"] = Dates.iso(endAt)
            j["expiredTime"] = Dates.iso(endAt + 7 * 86_400)
        case .cancelled:
            j["endTime"] = Dates.iso(job.cancelledAt ?? now)
        default:
            break
        }
        if let f = job.failure, p == .failed { j["failureReason"] = f }
        if p == .done { j["fileSize"] = job.result.body.count }
        return j
    }

    /// Jobs not finished yet, oldest first (the caller holds the lock).
    private func runningIds(_ s: State, now: Double) -> [String] {
        s.jobOrder.filter { id in
            let p = phase(s.jobs[id]!, at: now)
            return p == .scheduled || p == .started
        }
    }

    /// Creates a job unless a limit is reached (the 400 of vendors.md).
    private func submit(
        module: String, identity: String, title: String, fileName: String, fileType: String,
        parameters: [String: Any], failure: String? = nil, status: Int,
        result: @escaping (String) -> ClariResult
    ) -> SimResponse {
        let limitC = context.config.clariConcurrentLimit, quota = context.config.clariMonthlyQuota
        let now = context.clock.now()
        let created: String? = lock.withLock {
            let running = runningIds(state, now: now).count
            guard running < limitC, state.jobOrder.count < quota else { return nil }
            let id = state.ids.uuid()
            state.jobs[id] = ExportJob(
                id: id, module: module, title: title, fileName: fileName.replacingOccurrences(of: "{jobId}", with: id),
                fileType: fileType, parameters: parameters, created: now, failure: failure, result: result(id))
            state.jobOrder.append(id)
            return id
        }
        guard let id = created else {
            return error(.exports, status: 400, code: "export_monthly_quota_reached",
                         message: "The monthly quota limit of \(quota) or concurrent limit of \(limitC) has been reached.")
        }
        context.stats.created(name, "export_jobs", identity: identity)
        return .json(status, ["jobId": id])
    }

    private func exportBody(_ request: SimRequest) -> ([String: Any]?, SimResponse?) {
        if request.body.isEmpty { return ([:], nil) }
        guard let body = request.jsonObject else {
            return (nil, error(.exports, status: 400, code: "invalid_request", message: "The request body must be a JSON object"))
        }
        return (body, nil)
    }

    func exportForecast(_ request: SimRequest, _ forecastId: String) -> SimResponse {
        let (parsed, bad) = exportBody(request)
        guard let body = parsed else { return bad! }
        let data = lock.withLock { state.data }
        guard let source = data.forecastSource(forecastId) else {
            return error(.exports, status: 404, code: "forecast_not_found", message: "Forecast \(forecastId) does not exist")
        }
        guard let timePeriod = body.string("timePeriod"), ClariData.validTimePeriod(timePeriod) else {
            return error(.exports, status: 400, code: "invalid_timePeriod",
                         message: "timePeriod is required, in the form YYYY_QN (for example 2024_Q1)")
        }
        var types = ["forecast"]
        if body["typesToExport"] != nil {
            guard let t = body.strings("typesToExport"), !t.isEmpty else {
                return error(.exports, status: 400, code: "invalid_typesToExport",
                             message: "typesToExport must be a non-empty list of: \(Self.exportTypes.joined(separator: ", "))")
            }
            if let badType = t.first(where: { !Self.exportTypes.contains($0) }) {
                return error(.exports, status: 400, code: "invalid_typesToExport",
                             message: "Unknown value \"\(badType)\" in typesToExport; allowed: \(Self.exportTypes.joined(separator: ", "))")
            }
            types = t
        }
        let format = body["exportFormat"] == nil ? "JSON" : (body.string("exportFormat") ?? "")
        guard ["JSON", "CSV"].contains(format) else {
            return error(.exports, status: 400, code: "invalid_exportFormat", message: "exportFormat must be JSON or CSV")
        }
        let schedule = body["schedule"] == nil ? "NONE" : (body.string("schedule") ?? "")
        guard ["NONE", "ONCE", "MAX"].contains(schedule) else {
            return error(.exports, status: 400, code: "invalid_schedule", message: "schedule must be NONE, ONCE or MAX")
        }
        let currency = body["currency"] == nil ? "USD" : (body.string("currency") ?? "")
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            return error(.exports, status: 400, code: "invalid_currency", message: "currency must be an ISO 4217 code such as USD")
        }
        if body["includeHistorical"] != nil && body.bool("includeHistorical") == nil {
            return error(.exports, status: 400, code: "invalid_includeHistorical", message: "includeHistorical must be a boolean")
        }
        if body["scopeId"] != nil && body.string("scopeId") == nil {
            return error(.exports, status: 400, code: "invalid_scopeId", message: "scopeId must be a string")
        }
        let historical = body.bool("includeHistorical") ?? false
        let ext = format == "CSV" ? "csv" : "json"
        let spec = ClariData.ForecastSpec(
            forecastId: forecastId, timePeriod: timePeriod, types: types, currency: currency,
            scopeId: body.string("scopeId") ?? "", includeHistorical: historical, csv: format == "CSV")
        return submit(
            module: "forecast", identity: "forecast|\(forecastId)|" + JSON.encodeString(body),
            title: "Forecast export \(forecastId) \(timePeriod)", fileName: "forecast_\(forecastId)_\(timePeriod)_{jobId}.\(ext)",
            fileType: format, parameters: ["forecastId": forecastId, "body": body],
            failure: source == .fail ? "The forecast could not be computed (simulated failure)" : nil, status: 200
        ) { _ in data.forecastResult(spec, source: source) }
    }

    func exportActivity(_ request: SimRequest) -> SimResponse {
        let (parsed, bad) = exportBody(request)
        guard let body = parsed else { return bad! }
        guard let types = body.strings("activityTypes"), !types.isEmpty else {
            return error(.exports, status: 400, code: "invalid_activityTypes",
                         message: "activityTypes must be a non-empty list of: \(Self.activityTypes.joined(separator: ", "))")
        }
        if let badType = types.first(where: { !Self.activityTypes.contains($0) }) {
            return error(.exports, status: 400, code: "invalid_activityTypes",
                         message: "Unknown value \"\(badType)\" in activityTypes; allowed: \(Self.activityTypes.joined(separator: ", "))")
        }
        guard let startText = body.string("startDate"), let start = Dates.parse(startText),
              let endText = body.string("endDate"), let end = Dates.parse(endText) else {
            return error(.exports, status: 400, code: "invalid_date_range", message: "startDate and endDate are required dates (YYYY-MM-DD)")
        }
        guard start <= end, end - start <= 366 * 86_400 else {
            return error(.exports, status: 400, code: "invalid_date_range", message: "startDate must not be after endDate, and the range at most a year")
        }
        if body["exportFormat"] != nil && body.string("exportFormat") != "JSON" {
            return error(.exports, status: 400, code: "invalid_exportFormat", message: "Activity exports support exportFormat JSON only")
        }
        let data = lock.withLock { state.data }
        return submit(
            module: "activity", identity: "activity|" + JSON.encodeString(body), title: "Activity export \(startText) to \(endText)",
            fileName: "activity_{jobId}.json", fileType: "JSON", parameters: body, status: 202
        ) { _ in data.activityResult(types: types, start: start, end: end) }
    }

    func exportAudit(_ request: SimRequest) -> SimResponse {
        let (parsed, bad) = exportBody(request)
        guard let body = parsed else { return bad! }
        if let st = body["sessionType"], !(st is NSNull) {
            guard let s = st as? String, Self.sessionTypes.contains(s) else {
                return error(.exports, status: 400, code: "invalid_sessionType", message: "sessionType must be WEB, IOS or ANDROID")
            }
        }
        for key in ["dateFrom", "dateTo"] where body[key] != nil && !(body[key] is NSNull) {
            guard let t = body.string(key), Dates.parse(t) != nil else {
                return error(.exports, status: 400, code: "invalid_\(key)", message: "\(key) must be an ISO-8601 date or date-time")
            }
        }
        let filter = ClariData.AuditFilter(body: body)
        let data = lock.withLock { state.data }
        return submit(
            module: "audit", identity: "audit|" + JSON.encodeString(body), title: "Audit events export",
            fileName: "audit_events_{jobId}.json", fileType: "JSON", parameters: body, status: 202
        ) { _ in data.auditResult(filter) }
    }

    func listJobs() -> SimResponse {
        let now = context.clock.now()
        let jobs: [[String: Any]] = lock.withLock { state.jobOrder.reversed().map { jobJSON(state.jobs[$0]!, now: now) } }
        return .json(200, ["jobs": jobs])
    }

    func getJob(_ id: String) -> SimResponse {
        let now = context.clock.now()
        guard let j = lock.withLock({ state.jobs[id].map { jobJSON($0, now: now) } }) else {
            return error(.exports, status: 404, code: "job_not_found", message: "Job \(id) does not exist")
        }
        return .json(200, ["job": j])
    }

    func cancelJob(_ request: SimRequest, _ id: String) -> SimResponse {
        guard let body = request.jsonObject, let type = body.string("type") else {
            return error(.exports, status: 400, code: "invalid_request", message: "The body must be {\"type\": \"CANCEL\"}")
        }
        guard type == "CANCEL" else {
            return error(.exports, status: 400, code: "invalid_type", message: "Unsupported type \"\(type)\"; only CANCEL")
        }
        let now = context.clock.now()
        enum Outcome { case missing, refused(String), cancelled }
        let outcome: Outcome = lock.withLock {
            guard var job = state.jobs[id] else { return .missing }
            let p = phase(job, at: now)
            guard p == .scheduled || p == .started else { return .refused(statusWord(p)) }
            job.cancelledAt = now
            state.jobs[id] = job
            return .cancelled
        }
        switch outcome {
        case .missing:
            return error(.exports, status: 404, code: "job_not_found", message: "Job \(id) does not exist")
        case .refused(let word):
            return error(.exports, status: 400, code: "invalid_job_state", message: "Job \(id) is \(word) and can no longer be cancelled")
        case .cancelled:
            return .json(200, ["status": "CANCELLED", "successful": true])
        }
    }

    func results(_ request: SimRequest, _ id: String) -> SimResponse {
        let now = context.clock.now()
        enum Outcome { case missing, notReady(String), ready(ExportJob) }
        let outcome: Outcome = lock.withLock {
            guard var job = state.jobs[id] else { return .missing }
            let p = phase(job, at: now)
            guard p == .done else { return .notReady(statusWord(p)) }
            if request.method != .HEAD {
                job.downloads += 1
                state.jobs[id] = job
            }
            return .ready(job)
        }
        switch outcome {
        case .missing:
            return error(.exports, status: 404, code: "job_not_found", message: "Job \(id) does not exist")
        case .notReady(let word):
            return error(.exports, status: 400, code: "invalid_jobId", message: "Job \(id) has no results: its status is \(word)")
        case .ready(let job):
            return Ranges.respond(
                to: request, body: job.result.body, contentType: job.result.contentType, etag: "\"clari-\(job.id)\"",
                headers: [("Content-Disposition", "attachment; filename=\"\(job.fileName)\"")])
        }
    }

    func limits() -> SimResponse {
        let now = context.clock.now()
        let limitC = context.config.clariConcurrentLimit, quota = context.config.clariMonthlyQuota
        let (running, submitted) = lock.withLock { (runningIds(state, now: now), state.jobOrder) }
        return .json(200, ["jobs": [
            "concurrentLimit": limitC, "monthlyQuota": quota,
            "runningJobIds": running, "submittedJobIds": submitted,
            "availableConcurrentLimit": max(0, limitC - running.count),
            "availableMonthlyQuota": max(0, quota - submitted.count),
        ] as [String: Any]])
    }

    // MARK: Audit and opportunities

    func auditEvents(_ request: SimRequest) -> SimResponse {
        var limit = 100
        if let t = request.queryValue("limit") {
            guard let n = Int(t), (1...1000).contains(n) else {
                return auditError(status: 400, code: "invalid_parameter", message: "limit must be between 1 and 1000", target: "limit")
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
        if let st = request.queryValue("sessionType"), !Self.sessionTypes.contains(st) {
            return auditError(status: 400, code: "invalid_parameter", message: "sessionType must be WEB, IOS or ANDROID", target: "sessionType")
        }
        for key in ["dateFrom", "dateTo"] {
            if let t = request.queryValue(key), Dates.parse(t) == nil {
                return auditError(status: 400, code: "invalid_parameter", message: "\(key) must be an ISO-8601 date or date-time", target: key)
            }
        }
        var params: [String: Any] = [:]
        for (k, v) in request.query where k != "limit" && k != "cursor" { params[k] = v }
        let data = lock.withLock { state.data }
        let page = data.auditPage(ClariData.AuditFilter(body: params), offset: offset, limit: limit)
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
            return error(.exports, status: 400, code: "invalid_request", message: "Give at least one oppId")
        }
        guard ids.count <= 100 else {
            return error(.exports, status: 400, code: "invalid_request", message: "At most 100 oppId values a request; got \(ids.count)")
        }
        let data = lock.withLock { state.data }
        return .json(200, ids.compactMap { data.opportunity($0) })
    }

    // MARK: Ingestion

    /// Checks Clari's body `[{sourceEntity, records: [...]}]`; returns the record count or the errors.
    static func validateIngest(_ value: Any?) -> (count: Int, errors: [[String: String]]) {
        guard let batches = value as? [Any] else {
            return (0, [["errorCode": "INVALID_REQUEST_BODY", "errorSummary": "The body must be a JSON array of {sourceEntity, records}"]])
        }
        var errors: [[String: String]] = []
        var count = 0
        for (b, item) in batches.enumerated() {
            guard let batch = item as? [String: Any], batch.string("sourceEntity") != nil, let records = batch.array("records") else {
                errors.append(["errorCode": "INVALID_REQUEST_BODY", "errorSummary": "Item \(b) must be {sourceEntity: string, records: [...]}"])
                continue
            }
            for (i, r) in records.enumerated() {
                count += 1
                guard let record = r as? [String: Any] else {
                    errors.append(["errorCode": "INVALID_RECORD", "errorSummary": "Item \(b), record \(i) is not an object"])
                    continue
                }
                let id = record["id"]
                guard id is String || (id as? NSNumber).map({ !isBool($0) }) == true else {
                    errors.append(["errorCode": "INVALID_RECORD", "errorSummary": "Item \(b), record \(i): id is required"])
                    continue
                }
                guard let created = record.double("createdAt"), let updated = record.double("updatedAt") else {
                    errors.append(["errorCode": "INVALID_RECORD",
                                   "errorSummary": "Item \(b), record \(i) (id \(id!)): createdAt and updatedAt are required epoch milliseconds"])
                    continue
                }
                if updated < created {
                    errors.append(["errorCode": "INVALID_RECORD",
                                   "errorSummary": "Item \(b), record \(i) (id \(id!)): updatedAt \(String(format: "%.0f", updated)) is before createdAt \(String(format: "%.0f", created))"])
                }
            }
        }
        return (count, errors)
    }

    private func ingestOptions(_ request: SimRequest) -> (mode: String, last: Bool)? {
        let mode = request.queryValue("mode") ?? "incremental"
        guard ["initial", "incremental"].contains(mode) else { return nil }
        let lastText = request.queryValue("isLastBatch") ?? "false"
        guard lastText == "true" || lastText == "false" else { return nil }
        return (mode, lastText == "true")
    }

    private static func validEntity(_ e: String) -> Bool {
        !e.isEmpty && e.count <= 64 && e.first!.isLetter && e.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    func ingest(_ request: SimRequest, _ entity: String) -> SimResponse {
        guard Self.validEntity(entity) else {
            return error(.ingestion, status: 400, code: "INVALID_ENTITY", message: "Unknown entity \"\(entity)\"")
        }
        guard ingestOptions(request) != nil else {
            return error(.ingestion, status: 400, code: "INVALID_PARAMETER", message: "mode must be initial or incremental, isLastBatch true or false")
        }
        let (count, errors) = Self.validateIngest(request.json)
        if count > Self.maxIngestRecords {
            return error(.ingestion, status: 400, code: "RECORD_LIMIT_EXCEEDED",
                         message: "A request may carry at most \(Self.maxIngestRecords) records; this one has \(count)")
        }
        guard errors.isEmpty else { return .json(400, errors) }
        context.stats.count(name, "ingest_requests")
        context.stats.count(name, "records_received", count)
        return .json(200, ["status": "SUCCESS", "recordCount": count, "entity": entity])
    }

    func ingestBulk(_ request: SimRequest, _ entity: String) -> SimResponse {
        guard Self.validEntity(entity) else {
            return error(.ingestion, status: 400, code: "INVALID_ENTITY", message: "Unknown entity \"\(entity)\"")
        }
        guard let options = ingestOptions(request) else {
            return error(.ingestion, status: 400, code: "INVALID_PARAMETER", message: "mode must be initial or incremental, isLastBatch true or false")
        }
        let tooLarge = "FileData may be at most 10 MB (\(Self.maxBulkFileBytes) bytes)"
        if request.bodyTooLarge {
            return error(.ingestion, status: 400, code: "FILE_TOO_LARGE", message: tooLarge)
        }
        guard let type = request.header("Content-Type"), let boundary = Multipart.boundary(type) else {
            return error(.ingestion, status: 400, code: "INVALID_REQUEST_BODY", message: "Expected multipart/form-data with a FileData part")
        }
        guard let part = Multipart.parts(request.body, boundary: boundary).first(where: { $0.name == "FileData" }) else {
            return error(.ingestion, status: 400, code: "INVALID_REQUEST_BODY", message: "The multipart part FileData (data.json) is missing")
        }
        guard part.body.count <= Self.maxBulkFileBytes else {
            return error(.ingestion, status: 400, code: "FILE_TOO_LARGE", message: tooLarge)
        }
        // The file holds Clari's ingestion body, or a plain array of records.
        var value = JSON.decode(part.body)
        if let list = value as? [Any], list.first.map({ ($0 as? [String: Any])?["records"] == nil }) ?? false {
            value = [["sourceEntity": entity, "records": list]]
        }
        let (count, errors) = value == nil ? (0, [["errorSummary": "data.json is not valid JSON"]]) : Self.validateIngest(value)
        let failure = errors.isEmpty ? nil : errors.prefix(5).compactMap { $0["errorSummary"] }.joined(separator: "; ")
        let now = context.clock.now()
        let id: String = lock.withLock {
            let id = state.ids.uuid()
            state.ingestJobs[id] = IngestJob(id: id, entity: entity, mode: options.mode, isLastBatch: options.last,
                                             created: now, recordCount: count, validationError: failure)
            return id
        }
        context.stats.created(name, "ingestion_jobs", identity: entity + "|" + Stats.digest(part.body))
        context.stats.count(name, "records_received", count)
        return .json(202, ["jobId": id])
    }

    func ingestJob(_ id: String) -> SimResponse {
        guard let job = lock.withLock({ state.ingestJobs[id] }) else {
            return error(.ingestion, status: 404, code: "JOB_NOT_FOUND", message: "Job \(id) does not exist")
        }
        let now = context.clock.now()
        let elapsed = (now - job.created) * context.clock.speed
        let status: String, message: String
        if elapsed < Self.queuedSeconds {
            (status, message) = ("QUEUED", "Waiting to be processed")
        } else if elapsed < Self.queuedSeconds + Self.runningSeconds {
            (status, message) = ("IN_PROGRESS", "Processing \(job.recordCount) records")
        } else if let f = job.validationError {
            (status, message) = ("VALIDATION_FAILED", f)
        } else {
            (status, message) = ("SUCCESS", "Ingested \(job.recordCount) records")
        }
        return .json(200, ["message": [
            "jobId": job.id, "status": status, "message": message, "entity": job.entity, "mode": job.mode,
            "isLastBatch": job.isLastBatch, "recordCount": job.recordCount, "createdAt": Dates.iso(job.created),
        ] as [String: Any]])
    }

    func addPicklist(_ request: SimRequest, _ entity: String) -> SimResponse {
        guard let body = request.jsonObject, let field = body.string("fieldName"), !field.isEmpty else {
            return error(.ingestion, status: 400, code: "INVALID_REQUEST_BODY", message: "fieldName is required")
        }
        guard let type = body.string("fieldType"), ["picklist", "multipicklist"].contains(type) else {
            return error(.ingestion, status: 400, code: "INVALID_FIELD_TYPE", message: "fieldType must be picklist or multipicklist")
        }
        guard let values = body.strings("values"), !values.isEmpty else {
            return error(.ingestion, status: 400, code: "INVALID_REQUEST_BODY", message: "values must be a non-empty list of strings")
        }
        let merged: [String] = lock.withLock {
            var current = state.picklists[entity]?[field] ?? (type, [])
            for v in values where !current.values.contains(v) { current.values.append(v) }
            current.type = type
            state.picklists[entity, default: [:]][field] = current
            return current.values
        }
        context.stats.count(name, "picklist_values", values.count)
        return .json(200, ["entity": entity, "fieldName": field, "fieldType": type, "values": merged])
    }

    func getPicklist(_ request: SimRequest, _ entity: String) -> SimResponse {
        let fields = lock.withLock { state.picklists[entity] ?? [:] }
        if let wanted = request.queryValue("fieldName") {
            guard let f = fields[wanted] else {
                return error(.ingestion, status: 404, code: "FIELD_NOT_FOUND", message: "No picklist field \(wanted) on \(entity)")
            }
            return .json(200, ["entity": entity, "fieldName": wanted, "fieldType": f.type, "values": f.values])
        }
        return .json(200, fields.keys.sorted().map { k in
            ["entity": entity, "fieldName": k, "fieldType": fields[k]!.type, "values": fields[k]!.values] as [String: Any]
        })
    }
}

/// Percent-encodes a query component.
func urlEncode(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
