import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Quantive, formerly Gtmhub, written from Quantive's API examples
/// (002_f300338cc4b71af8.txt), under `/quantive/results/api` (what
/// QUANTIVE_BASE_URL points at under --sandbox; the real host for US
/// accounts is `https://app.us.gtmhub.com/api`, 002:3-6; for the others
/// **(assumed: the examples name only the US URL)** `https://app.gtmhub.com/api`),
/// paths under `/v1`.
///
/// - Auth (002:4-14): `Authorization: Bearer TOKEN` (wrong or missing → 401)
///   and `gtmhub-accountId: ACCOUNT` (wrong or missing → 403, assumed).
/// - Errors **(assumed shape)**: `{message}` with 400, 401, 402, 403, 404, 500.
/// - Goals: `POST /v1/goals` `{name, sessionId, ownerId, tags: [{title}]}` →
///   the goal with its `id` (002:15-29); `PATCH /v1/goals/{id}` with the
///   changed fields (002:31-42); `GET /v1/goals?tags=TAG` → `{items}`
///   (002:43-51); `DELETE /v1/goals/{id}` (002:52-59). **(Assumed, the
///   examples do not show them)**: `GET /v1/goals/{id}`; several tags
///   comma-separated; `filter` (a JSON object: field equality, or
///   `{"$in"|"$nin"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": ...}`), `sort`
///   (`name,-dateCreated`), `fields` (projection), `skip`/`limit` paging
///   (default 100, at most 1000) and `totalCount` (variants
///   `quantive.page_cap`, `quantive.skip`, `quantive.total`); the goals'
///   `dateCreated` / `dateModified` (variant `quantive.goal_dates`: absent,
///   as the examples show only the id, 002:29); DELETE → 204;
///   402 once an account holds `maxGoals` goals (the plan's limit).
/// - Sessions **(assumed; 002:30 says sessions can be queried through the
///   API)**: `GET /v1/sessions` → `{items}`: the previous (closed), current
///   (open) and next (planned) quarter, by today's date.
final class QuantiveSim: VendorModule, @unchecked Sendable {
    /// The readings this vendor offers where its document is silent (see `SimVariant`).
    static let variants: [SimVariant] = [
        // 002_f300338cc4b71af8.txt:43-51 documents no paging.
        SimVariant("quantive.page_cap", ["none", "50"],
                   "GET /v1/goals: Quantive's API documentation documents no paging; a page holds what limit asks "
                   + "(default) or at most 50 whatever limit asks"),
        SimVariant("quantive.skip", ["honoured", "ignored"],
                   "GET /v1/goals: Quantive's API documentation documents no skip parameter; it is honoured (default) "
                   + "or ignored (every request answers from the first goal)"),
        // 002_f300338cc4b71af8.txt:51 reads only items.
        SimVariant("quantive.total", ["sent", "absent"],
                   "GET /v1/goals: Quantive's API documentation reads only items; the answer carries totalCount too "
                   + "(default) or items alone"),
        // 002_f300338cc4b71af8.txt:29 reads only the new goal's id: no creation time is shown.
        SimVariant("quantive.goal_dates", ["sent", "absent"],
                   "Goals: Quantive's API documentation reads only a goal's id; goals carry dateCreated and "
                   + "dateModified (default) or no dates at all"),
    ]

    typealias ErrorStyle = Void

    let name = "quantive"
    let prefix = "/quantive/results/api"
    let context: SimContext

    static let maxGoals = 5000
    static let maxLimit = 1000

    struct State {
        var ids: IdGenerator
        var sessions: [[String: Any]] = []
        var users: [[String: Any]] = []
        var goals: [String: [String: Any]] = [:]
        var order: [String] = []
    }

    private let lock = NIOLock()
    private var state: State

    init(context: SimContext) {
        self.context = context
        state = Self.seeded(context.seed)
    }

    func reset() {
        let s = Self.seeded(context.seed)
        lock.withLock { state = s }
    }

    static func seeded(_ seed: UInt64) -> State {
        var s = State(ids: IdGenerator(seed: seed, stream: "quantive.ids"))
        var rng = SplitMix64(seed: seed, stream: "quantive.data")
        let people = DemoData.people(8, rng: &rng)
        s.users = people.map { ["id": s.ids.objectId(), "name": $0.name, "email": "\($0.email)@example.com"] }

        // Quarters around today: previous (closed), current (open), next (planned).
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let today = Date(timeIntervalSince1970: DemoData.today())
        let year = cal.component(.year, from: today), month = cal.component(.month, from: today)
        let quarter = (month - 1) / 3
        for (offset, status) in [(-1, "closed"), (0, "open"), (1, "planned")] {
            let q = quarter + offset
            let y = year + Int((Double(q) / 4).rounded(.down))
            let qi = ((q % 4) + 4) % 4
            let start = cal.date(from: DateComponents(year: y, month: qi * 3 + 1, day: 1))!
            let end = cal.date(byAdding: DateComponents(month: 3, second: -1), to: start)!
            s.sessions.append([
                "id": s.ids.objectId(), "title": "Q\(qi + 1) \(y)", "status": status,
                "start": Dates.iso(start.timeIntervalSince1970), "end": Dates.iso(end.timeIntervalSince1970),
                "parentId": NSNull(), "color": ["#3867d6", "#20bf6b", "#f7b731"][offset + 1],
            ])
        }
        let objectives = [
            "Grow net new ARR", "Improve gross retention", "Launch the partner program", "Shorten the sales cycle",
            "Raise NPS above 50", "Expand into EMEA", "Cut onboarding time in half", "Ship the self-serve plan",
            "Reach 99.95% uptime", "Double qualified pipeline", "Hire the APAC team", "Reduce support backlog",
        ]
        let tags = ["growth", "retention", "product", "sales", "customer", "platform"]
        let created = DemoData.today() - 40 * 86_400
        for (i, objective) in objectives.enumerated() {
            let session = s.sessions[i < 9 ? 1 : 0]
            let owner = rng.pick(s.users)
            let id = s.ids.objectId()
            s.goals[id] = [
                "id": id, "name": objective, "description": "Seeded demo goal: \(objective.lowercased()).",
                "sessionId": session["id"]!, "ownerId": owner["id"]!, "tags": [["title": rng.pick(tags)]],
                "attainment": Double(rng.int(0...100)) / 100, "dateCreated": Dates.iso(created + Double(i) * 3600),
                "dateModified": Dates.iso(created + Double(i) * 3600), "createdById": owner["id"]!, "metrics": [Any](),
            ]
            s.order.append(id)
        }
        return s
    }

    func routes() -> [Route] {
        [
            // 002_f300338cc4b71af8.txt:43-51 GET /v1/goals?tags=Test Tag → {items}; filter, sort, fields,
            // skip, limit, totalCount (assumed: not in the examples)
            endpoint(.GET, "/v1/goals", style: ()) { r, _ in self.listGoals(r) },
            // 002_f300338cc4b71af8.txt:15-29 POST /v1/goals {name, sessionId, ownerId, tags:[{title}]} → the goal, its id
            endpoint(.POST, "/v1/goals", style: ()) { r, _ in self.createGoal(r) },
            // (assumed: not in the examples) GET /v1/goals/{id} → the goal
            endpoint(.GET, "/v1/goals/{id}", style: ()) { _, p in self.getGoal(p["id"]) },
            // 002_f300338cc4b71af8.txt:31-42 PATCH /v1/goals/{id} with the fields to change
            endpoint(.PATCH, "/v1/goals/{id}", style: ()) { r, p in self.updateGoal(r, p["id"]) },
            // 002_f300338cc4b71af8.txt:52-59 DELETE /v1/goals/{id} (answer assumed: 204; 404 once gone)
            endpoint(.DELETE, "/v1/goals/{id}", style: ()) { _, p in self.deleteGoal(p["id"]) },
            // 002_f300338cc4b71af8.txt:30 sessions "by querying ... through the API" (path and shape assumed)
            endpoint(.GET, "/v1/sessions", style: ()) { _, _ in self.sessions() },
        ]
    }

    /// 002_f300338cc4b71af8.txt:4-14: Bearer token and gtmhub-accountId (the statuses assumed).
    func authenticate(_ request: SimRequest, style: Void) -> SimResponse? {
        guard request.header("Authorization") == "Bearer " + SimulatorCredentials.quantiveAPIToken else {
            return .json(401, ["message": "Unauthorized: missing or invalid bearer token"])
        }
        guard request.header("gtmhub-accountId") == SimulatorCredentials.quantiveAccountID else {
            return .json(403, ["message": "Forbidden: the token has no access to this account (gtmhub-accountId)"])
        }
        return nil
    }

    func error(_ style: Void, status: Int, code: String, message: String) -> SimResponse {
        .json(status, ["message": message])
    }

    func tooManyRequests(_ style: Void, _ budget: RateLimiter.Budget) -> SimResponse {
        .json(429, ["message": "Too many requests; retry in \(budget.resetSeconds) s"],
              headers: [("Retry-After", String(budget.resetSeconds))])
    }

    func unrouted(_ request: SimRequest, status: Int) -> SimResponse {
        .json(status, ["message": status == 405 ? "Method \(request.method.rawValue) not allowed" : "Not found: \(request.path)"])
    }

    private func bad(_ message: String) -> SimResponse { .json(400, ["message": message]) }

    func sessions() -> SimResponse {
        let items = lock.withLock { state.sessions }
        return .json(200, ["items": items, "totalCount": items.count])
    }

    func listGoals(_ request: SimRequest) -> SimResponse {
        var filter: [String: Any] = [:]
        if let f = request.queryValue("filter"), !f.isEmpty {
            guard let obj = JSON.decode(Array(f.utf8)) as? [String: Any] else {
                return bad("filter must be a JSON object, for example {\"name\":\"Grow ARR\",\"sessionId\":\"...\"}")
            }
            filter = obj
        }
        // 002_f300338cc4b71af8.txt:48 ?tags=Test Tag: goals with a tag of that title (several
        // comma-separated: any of them, assumed).
        let tagTitles = request.queryValue("tags").map {
            Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        } ?? []
        let skipped = request.queryValue("skip").map { Int($0) } ?? 0
        let limit = request.queryValue("limit").map { Int($0) } ?? 100
        guard let skipped, skipped >= 0 else { return bad("skip must be a number >= 0") }
        guard let limit, (1...Self.maxLimit).contains(limit) else { return bad("limit must be between 1 and \(Self.maxLimit)") }
        // The paging readings (assumed, variants): skip ignored, a page-size cap.
        let skip = context.config.variant("quantive.skip") == "ignored" ? 0 : skipped
        let pageSize = Int(context.config.variant("quantive.page_cap")).map { min($0, limit) } ?? limit
        let fields = request.queryValue("fields").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let goals: [[String: Any]] = lock.withLock { state.order.compactMap { state.goals[$0] } }
        var matched = goals.filter { g in filter.allSatisfy { Self.matches(g[$0.key], $0.value) } }
        if !tagTitles.isEmpty {
            matched = matched.filter { g in
                (g["tags"] as? [Any] ?? []).contains { ($0 as? [String: Any])?.string("title").map(tagTitles.contains) ?? false }
            }
        }
        if let sort = request.queryValue("sort"), !sort.isEmpty {
            let keys = sort.split(separator: ",").map { k -> (String, Bool) in
                let t = k.trimmingCharacters(in: .whitespaces)
                return t.hasPrefix("-") ? (String(t.dropFirst()), false) : (t.hasPrefix("+") ? String(t.dropFirst()) : t, true)
            }
            matched.sort { a, b in
                for (key, ascending) in keys {
                    let c = Self.compare(a[key], b[key])
                    if c != 0 { return ascending ? c < 0 : c > 0 }
                }
                return false
            }
        }
        let page = matched.dropFirst(skip).prefix(pageSize).map { stored -> [String: Any] in
            let g = shown(stored)
            guard let fields, !fields.isEmpty else { return g }
            var out: [String: Any] = ["id": g["id"]!]
            for f in fields { if let v = g[f] { out[f] = v } }
            return out
        }
        if context.config.variant("quantive.total") == "absent" { return .json(200, ["items": Array(page)]) }
        return .json(200, ["items": Array(page), "totalCount": matched.count])
    }

    /// One filter condition against a value.
    static func matches(_ value: Any?, _ condition: Any) -> Bool {
        if let ops = condition as? [String: Any], ops.keys.allSatisfy({ $0.hasPrefix("$") }) {
            return ops.allSatisfy { op, arg in
                switch op {
                case "$in": return (arg as? [Any])?.contains { compare(value, $0) == 0 } ?? false
                case "$nin": return !((arg as? [Any])?.contains { compare(value, $0) == 0 } ?? false)
                case "$ne": return compare(value, arg) != 0
                case "$gt": return value != nil && compare(value, arg) > 0
                case "$gte": return value != nil && compare(value, arg) >= 0
                case "$lt": return value != nil && compare(value, arg) < 0
                case "$lte": return value != nil && compare(value, arg) <= 0
                default: return false
                }
            }
        }
        return compare(value, condition) == 0
    }

    /// Orders JSON scalars: numbers by value, everything else by its text.
    static func compare(_ a: Any?, _ b: Any?) -> Int {
        switch (a, b) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        default: break
        }
        if let x = a as? NSNumber, let y = b as? NSNumber, !(a is String), !(b is String) {
            return x.doubleValue < y.doubleValue ? -1 : (x.doubleValue > y.doubleValue ? 1 : 0)
        }
        let x = a as? String ?? JSON.encodeString(a!), y = b as? String ?? JSON.encodeString(b!)
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    func getGoal(_ id: String) -> SimResponse {
        guard let g = lock.withLock({ state.goals[id] }) else { return .json(404, ["message": "Goal \(id) not found"]) }
        return .json(200, shown(g))
    }

    /// A goal as answered: without its dates in the `quantive.goal_dates=absent`
    /// reading (002_f300338cc4b71af8.txt:29 reads only the id; the dates are assumed).
    private func shown(_ goal: [String: Any]) -> [String: Any] {
        guard context.config.variant("quantive.goal_dates") == "absent" else { return goal }
        return goal.filter { $0.key != "dateCreated" && $0.key != "dateModified" }
    }

    /// Checks the fields a create or update may set; nil when valid.
    private func check(_ body: [String: Any], creating: Bool, sessionIds: Set<String>, userIds: Set<String>) -> String? {
        if creating || body["name"] != nil {
            guard let n = body.string("name"), !n.trimmingCharacters(in: .whitespaces).isEmpty else { return "name is required" }
        }
        if creating || body["sessionId"] != nil {
            guard let s = body.string("sessionId") else { return "sessionId is required" }
            guard sessionIds.contains(s) else { return "session \(s) does not exist" }
        }
        if let o = body["ownerId"], !(o is NSNull) {
            guard let owner = o as? String, userIds.contains(owner) else { return "ownerId \(o) is not a user of this account" }
        }
        if body["description"] != nil && !(body["description"] is String) && !(body["description"] is NSNull) {
            return "description must be a string"
        }
        if let tags = body["tags"] {
            guard let list = tags as? [Any], list.allSatisfy({ ($0 as? [String: Any])?.string("title") != nil }) else {
                return "tags must be a list of {title}"
            }
        }
        return nil
    }

    func createGoal(_ request: SimRequest) -> SimResponse {
        guard let body = request.jsonObject else { return bad("The body must be a JSON object") }
        let now = context.clock.now()
        enum Outcome { case invalid(String), full, created([String: Any]) }
        let outcome: Outcome = lock.withLock {
            let sessions = Set(state.sessions.compactMap { $0["id"] as? String })
            let users = Set(state.users.compactMap { $0["id"] as? String })
            if let problem = check(body, creating: true, sessionIds: sessions, userIds: users) { return .invalid(problem) }
            guard state.goals.count < Self.maxGoals else { return .full }
            let id = state.ids.objectId()
            var goal: [String: Any] = [
                "description": "", "tags": [Any](), "attainment": 0, "metrics": [Any](),
                "ownerId": state.users.first?["id"] ?? NSNull(),
            ]
            for (k, v) in body where k != "id" { goal[k] = v }
            goal["id"] = id
            goal["dateCreated"] = Dates.iso(now)
            goal["dateModified"] = Dates.iso(now)
            goal["createdById"] = goal["ownerId"]
            state.goals[id] = goal
            state.order.append(id)
            return .created(goal)
        }
        switch outcome {
        case .invalid(let m): return bad(m)
        case .full: return .json(402, ["message": "Your plan allows at most \(Self.maxGoals) goals; upgrade to add more"])
        case .created(let goal):
            context.stats.created(name, "goals", identity: "\(body.string("name")!)|\(body.string("sessionId")!)")
            return .json(200, shown(goal))
        }
    }

    func updateGoal(_ request: SimRequest, _ id: String) -> SimResponse {
        guard let body = request.jsonObject else { return bad("The body must be a JSON object") }
        let now = context.clock.now()
        enum Outcome { case missing, invalid(String), updated([String: Any]) }
        let outcome: Outcome = lock.withLock {
            guard var goal = state.goals[id] else { return .missing }
            let sessions = Set(state.sessions.compactMap { $0["id"] as? String })
            let users = Set(state.users.compactMap { $0["id"] as? String })
            if let problem = check(body, creating: false, sessionIds: sessions, userIds: users) { return .invalid(problem) }
            for (k, v) in body where !["id", "dateCreated", "createdById"].contains(k) { goal[k] = v }
            goal["dateModified"] = Dates.iso(now)
            state.goals[id] = goal
            return .updated(goal)
        }
        switch outcome {
        case .missing: return .json(404, ["message": "Goal \(id) not found"])
        case .invalid(let m): return bad(m)
        case .updated(let goal):
            context.stats.count(name, "goal_updates")
            return .json(200, shown(goal))
        }
    }

    func deleteGoal(_ id: String) -> SimResponse {
        let removed: Bool = lock.withLock {
            guard state.goals.removeValue(forKey: id) != nil else { return false }
            state.order.removeAll { $0 == id }
            return true
        }
        guard removed else { return .json(404, ["message": "Goal \(id) not found"]) }
        context.stats.count(name, "goals_deleted")
        return .empty(204)
    }
}
