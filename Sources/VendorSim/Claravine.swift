import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Claravine, written from Claravine's API article (000_cbb1a42faebe38eb.txt),
/// under `/claravine` (the customer's host, `https://[customer].claravine.com`,
/// 000:47), paths under `/v1`.
///
/// - Auth: an API key and an API secret (000:11-35). The header names are not
///   in the article **(assumed: `X-Api-Key`, `X-Api-Secret`)**; wrong or
///   missing → 401.
/// - Errors **(assumed shape)**: `{code, message}`; the article documents none.
/// - Datasets (000:45): "the list of datasets/templates uuid's"; the seeded
///   ones: `ds-forecasts`, `ds-campaigns`, `ds-creatives` (each with its own
///   required fields, the "field and template governance" of 000:61).
/// - `POST /v1/datasets/{dataset}/data` `{transactionName, fields, rows}`
///   (000:67-120), at most 1,000 rows (000:65; more → 400 `too_many_rows`,
///   **assumed**: the article gives the limit, not the answer) → the transaction's uuid
///   **(answer's shape assumed: `{transactionUuid}`, or `{uuid}` in the
///   `claravine.create_answer` variant)**. The transaction is Pending for 2 s
///   (scaled), then Complete, or Failed when a row breaks a rule: a row whose
///   length differs from `fields`, a required field of the dataset missing
///   from `fields`, or an empty value in a required field. Invalid data fails
///   silently (000:61): the status (000:122-124) is the only signal.
/// - `GET .../transaction/{t}/data/` (singular, 000:53-55) → `{fields, rows}`
///   once Complete **(the article does not say what a Pending or Failed one
///   answers; assumed: 400 `transaction_not_complete`)**.
/// - Rate limit **(assumed)**: `X-RateLimit-Limit` / `X-RateLimit-Remaining`
///   (per minute) on every answer; 429 when spent.
final class ClaravineSim: VendorModule, @unchecked Sendable {
    /// The readings this vendor offers where its document is silent (see `SimVariant`).
    static let variants: [SimVariant] = [
        // 000_cbb1a42faebe38eb.txt:45 and :49 "the list of ... uuid's": the shape is not shown.
        SimVariant("claravine.listing", ["uuids", "objects", "wrapped", "names_only"],
                   "GET /v1/datasets and GET .../transactions/: Claravine's API documentation says \"the list of ... "
                   + "uuid's\": bare uuid strings (default), objects [{uuid,name,status,createdAt}], those objects "
                   + "wrapped {datasets:[...]} / {transactions:[...]}, or objects [{uuid,name}] with no status or "
                   + "creation time (names_only)"),
        // 000_cbb1a42faebe38eb.txt:67-120 shows the request only.
        SimVariant("claravine.create_answer", ["transactionUuid", "uuid"],
                   "POST /v1/datasets/{dataset}/data: Claravine's API documentation shows the request only; the answer "
                   + "is {transactionUuid} (default) or {uuid}"),
        // 000_cbb1a42faebe38eb.txt:122 names the words, not the body.
        SimVariant("claravine.status", ["object", "word"],
                   "GET .../transactions/{transaction}/status/: Claravine's API documentation names the words Pending, "
                   + "Complete, Failed, not the body: {status: WORD} (default) or the word alone as plain text"),
    ]

    typealias ErrorStyle = Void

    let name = "claravine"
    let prefix = "/claravine"
    let context: SimContext

    static let maxRows = 1000
    static let pendingSeconds = 2.0

    struct Field { let name: String; let required: Bool }
    struct Dataset { let uuid: String; let name: String; let fields: [Field] }
    struct Transaction {
        let uuid: String
        let dataset: String
        let name: String
        let created: Double
        let fields: [String]
        let rows: [[Any]]
        /// nil when the data is valid; else why the transaction fails.
        let failure: String?
    }

    struct State {
        var ids: IdGenerator
        var transactions: [String: Transaction] = [:]
        var order: [String] = []
    }

    let datasets: [Dataset] = [
        Dataset(uuid: "ds-forecasts", name: "Forecasts", fields: ClariData.forecastColumns.map {
            Field(name: $0, required: ["userId", "timePeriod", "type", "amount"].contains($0))
        }),
        Dataset(uuid: "ds-campaigns", name: "Campaign Taxonomy", fields: [
            Field(name: "campaign_id", required: true), Field(name: "campaign_name", required: true),
            Field(name: "channel", required: true), Field(name: "region", required: false),
            Field(name: "start_date", required: false), Field(name: "budget", required: false),
        ]),
        Dataset(uuid: "ds-creatives", name: "Creative Metadata", fields: [
            Field(name: "creative_id", required: true), Field(name: "campaign_id", required: true),
            Field(name: "format", required: false), Field(name: "landing_url", required: true),
        ]),
    ]

    private let lock = NIOLock()
    private var state: State

    init(context: SimContext) {
        self.context = context
        state = State(ids: IdGenerator(seed: context.seed, stream: "claravine.ids"))
        state = seeded()
    }

    /// A few finished transactions in `ds-campaigns`, over the last weeks.
    private func seeded() -> State {
        var s = State(ids: IdGenerator(seed: context.seed, stream: "claravine.ids"))
        var rng = SplitMix64(seed: context.seed, stream: "claravine.data")
        let channels = ["search", "social", "display", "video", "email"]
        let regions = ["NA", "EMEA", "APAC", "LATAM"]
        let today = DemoData.today()
        for week in 1...4 {
            let uuid = s.ids.uuid()
            let fields = ["campaign_id", "campaign_name", "channel", "region", "start_date", "budget"]
            let rows: [[Any]] = (0..<rng.int(8...20)).map { i in
                let id = String(format: "CMP-%05d", rng.int(1...99_999))
                return [id, "\(rng.pick(DemoData.companies)) \(rng.pick(["Spring", "Summer", "Launch", "Always-on"])) \(i + 1)",
                        rng.pick(channels), rng.pick(regions), Dates.day(today - Double(week * 7 - i % 5) * 86_400),
                        String(rng.int(5...200) * 500)]
            }
            let t = Transaction(uuid: uuid, dataset: "ds-campaigns", name: "Weekly taxonomy load W-\(week)",
                                created: today - Double(week * 7) * 86_400 + 9 * 3600, fields: fields, rows: rows, failure: nil)
            s.transactions[uuid] = t
            s.order.append(uuid)
        }
        return s
    }

    func reset() {
        let s = seeded()
        lock.withLock { state = s }
    }

    func routes() -> [Route] {
        [
            // 000_cbb1a42faebe38eb.txt:45-47 GET /v1/datasets: the datasets/templates uuid's the user may use
            endpoint(.GET, "/v1/datasets", style: ()) { _, _ in self.listDatasets() },
            // 000_cbb1a42faebe38eb.txt:49-51 GET /v1/datasets/{dataset}/transactions/: the transaction uuids;
            // 000_cbb1a42faebe38eb.txt:57-59 with ?start-date=YYYY-MM-DD&end-date=YYYY-MM-DD
            endpoint(.GET, "/v1/datasets/{dataset}/transactions", style: ()) { r, p in self.listTransactions(r, p["dataset"]) },
            // 000_cbb1a42faebe38eb.txt:53-55 GET /v1/datasets/{dataset}/transaction/{transaction}/data/ (singular): header and data
            endpoint(.GET, "/v1/datasets/{dataset}/transaction/{transaction}/data", style: ()) { _, p in
                self.data(p["dataset"], p["transaction"])
            },
            // 000_cbb1a42faebe38eb.txt:122-124 GET .../transactions/{transaction}/status/: Pending, Complete, Failed
            endpoint(.GET, "/v1/datasets/{dataset}/transactions/{transaction}/status", style: ()) { _, p in
                self.status(p["dataset"], p["transaction"])
            },
            // 000_cbb1a42faebe38eb.txt:61-120 POST /v1/datasets/{dataset}/data {transactionName, fields, rows}, 1,000 rows at most
            endpoint(.POST, "/v1/datasets/{dataset}/data", style: ()) { r, p in self.submit(r, p["dataset"]) },
        ]
    }

    /// 000_cbb1a42faebe38eb.txt:11-35: an API key and an API secret; the header names (assumed).
    func authenticate(_ request: SimRequest, style: Void) -> SimResponse? {
        guard request.header("X-Api-Key") == SimulatorCredentials.claravineAPIKey,
              request.header("X-Api-Secret") == SimulatorCredentials.claravineAPISecret else {
            return .json(401, ["code": "unauthorized", "message": "Invalid or missing API key and secret"])
        }
        return nil
    }

    /// The error body (assumed: the article documents none).
    func error(_ style: Void, status: Int, code: String, message: String) -> SimResponse {
        .json(status, ["code": code, "message": message])
    }

    /// The per-minute allowance (assumed header names: the article documents no rate limit).
    func rateHeaders(_ budget: RateLimiter.Budget) -> [(String, String)] {
        [("X-RateLimit-Limit", String(budget.limit)), ("X-RateLimit-Remaining", String(budget.remaining))]
    }

    func tooManyRequests(_ style: Void, _ budget: RateLimiter.Budget) -> SimResponse {
        error((), status: 429, code: "rate_limited",
              message: "Per-minute allowance of \(budget.limit) requests is spent")
            .adding(headers: rateHeaders(budget) + [("Retry-After", String(budget.resetSeconds))])
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        error((), status: status, code: status == 405 ? "method_not_allowed" : "not_found",
              message: status == 405 ? "Method \(request.method.rawValue) not allowed on \(request.path)" : "No such endpoint: \(request.path)")
    }

    private func dataset(_ id: String) -> Dataset? { datasets.first { $0.uuid == id } }

    private func notFoundDataset(_ id: String) -> SimResponse {
        error((), status: 404, code: "not_found", message: "Dataset \(id) not found")
    }

    private func statusWord(_ t: Transaction, now: Double) -> String {
        if (now - t.created) * context.clock.speed < Self.pendingSeconds { return "Pending" }
        return t.failure == nil ? "Complete" : "Failed"
    }

    /// A listing in the chosen `claravine.listing` reading: bare uuids,
    /// the objects, the objects wrapped in `{key: [...]}`, or objects with
    /// only `uuid` and `name` (no status, no creation time).
    private func listing(_ key: String, _ objects: [[String: Any]]) -> SimResponse {
        switch context.config.variant("claravine.listing") {
        case "objects": return .json(200, objects)
        case "wrapped": return .json(200, [key: objects])
        case "names_only": return .json(200, objects.map { o in o.filter { $0.key == "uuid" || $0.key == "name" } })
        default: return .json(200, objects.map { $0["uuid"] as? String ?? "" })
        }
    }

    func listDatasets() -> SimResponse {
        listing("datasets", datasets.map { d in ["uuid": d.uuid, "name": d.name] as [String: Any] })
    }

    func listTransactions(_ request: SimRequest, _ datasetId: String) -> SimResponse {
        guard dataset(datasetId) != nil else { return notFoundDataset(datasetId) }
        var from: Double?, to: Double?
        for (key, bound) in [("start-date", 0), ("end-date", 1)] {
            guard let text = request.queryValue(key) else { continue }
            guard let day = Dates.parseDay(text) else {
                return error((), status: 400, code: "validation_error", message: "\(key) must be a date YYYY-MM-DD")
            }
            if bound == 0 { from = day } else { to = day + 86_400 }
        }
        let now = context.clock.now()
        let list: [[String: Any]] = lock.withLock {
            state.order.compactMap { state.transactions[$0] }
                .filter { t in t.dataset == datasetId && (from.map { t.created >= $0 } ?? true) && (to.map { t.created < $0 } ?? true) }
                .map { ["uuid": $0.uuid, "name": $0.name, "status": statusWord($0, now: now), "createdAt": Dates.iso($0.created)] }
        }
        return listing("transactions", list)
    }

    func data(_ datasetId: String, _ id: String) -> SimResponse {
        guard dataset(datasetId) != nil else { return notFoundDataset(datasetId) }
        let now = context.clock.now()
        guard let t = lock.withLock({ state.transactions[id] }), t.dataset == datasetId else {
            return error((), status: 404, code: "not_found", message: "Transaction \(id) not found in dataset \(datasetId)")
        }
        let word = statusWord(t, now: now)
        guard word == "Complete" else {
            return error((), status: 400, code: "transaction_not_complete", message: "Transaction \(id) is \(word); its data is available once Complete")
        }
        return .json(200, ["fields": t.fields, "rows": t.rows])
    }

    func status(_ datasetId: String, _ id: String) -> SimResponse {
        guard dataset(datasetId) != nil else { return notFoundDataset(datasetId) }
        let now = context.clock.now()
        guard let t = lock.withLock({ state.transactions[id] }), t.dataset == datasetId else {
            return error((), status: 404, code: "not_found", message: "Transaction \(id) not found in dataset \(datasetId)")
        }
        let word = statusWord(t, now: now)
        if context.config.variant("claravine.status") == "word" { return .text(200, word) }
        return .json(200, ["status": word])
    }

    func submit(_ request: SimRequest, _ datasetId: String) -> SimResponse {
        guard let ds = dataset(datasetId) else { return notFoundDataset(datasetId) }
        guard let body = request.jsonObject else {
            return error((), status: 400, code: "validation_error", message: "The body must be a JSON object {transactionName, fields, rows}")
        }
        guard let name = body.string("transactionName"), !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            return error((), status: 400, code: "validation_error", message: "transactionName is required")
        }
        guard let fields = body.strings("fields"), !fields.isEmpty else {
            return error((), status: 400, code: "validation_error", message: "fields must be a non-empty list of field names")
        }
        guard let rawRows = body.array("rows") else {
            return error((), status: 400, code: "validation_error", message: "rows must be a list of rows (lists of values)")
        }
        // 000_cbb1a42faebe38eb.txt:65 at most 1,000 rows per POST; the answer to more is not in the
        // article (assumed: 400 with the code too_many_rows).
        guard rawRows.count <= Self.maxRows else {
            return error((), status: 400, code: "too_many_rows",
                         message: "A submission may carry at most \(Self.maxRows) rows; this one has \(rawRows.count)")
        }
        var rows: [[Any]] = []
        rows.reserveCapacity(rawRows.count)
        for (i, r) in rawRows.enumerated() {
            guard let row = r as? [Any] else {
                return error((), status: 400, code: "validation_error", message: "Row \(i + 1) is not a list of values")
            }
            rows.append(row)
        }
        let failure = Self.rule(dataset: ds, fields: fields, rows: rows)
        let now = context.clock.now()
        let uuid: String = lock.withLock {
            let uuid = state.ids.uuid()
            state.transactions[uuid] = Transaction(uuid: uuid, dataset: datasetId, name: name, created: now,
                                                   fields: fields, rows: rows, failure: failure)
            state.order.append(uuid)
            return uuid
        }
        context.stats.created(self.name, "transactions", identity: datasetId + "|" + name)
        context.stats.count(self.name, "rows_received", rows.count)
        return .json(200, [context.config.variant("claravine.create_answer"): uuid])
    }

    /// The first rule the data breaks (the transaction then ends Failed), or nil.
    static func rule(dataset: Dataset, fields: [String], rows: [[Any]]) -> String? {
        for f in dataset.fields where f.required && !fields.contains(f.name) {
            return "Required field \(f.name) is missing"
        }
        let required = Set(dataset.fields.filter(\.required).map(\.name))
        for (i, row) in rows.enumerated() {
            if row.count != fields.count {
                return "Row \(i + 1) has \(row.count) values for \(fields.count) fields"
            }
            for (k, value) in row.enumerated() where required.contains(fields[k]) {
                if value is NSNull || (value as? String)?.trimmingCharacters(in: .whitespaces).isEmpty == true {
                    return "Row \(i + 1): required field \(fields[k]) is empty"
                }
            }
        }
        return nil
    }
}
