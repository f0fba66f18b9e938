import Foundation

/// A finished Clari export's file.
struct ClariResult: Sendable {
    let body: any GeneratedBody
    let contentType: String
}

/// Clari's seeded demo data (users, forecasts, audit events, opportunities)
/// and the export files made from it. Everything is derived from the seed.
final class ClariData: Sendable {
    /// A Clari user: `userId` is an integer (001_5f3c65e90f1cda6d.txt:418), shown as a
    /// string in audit events and actors (001_5f3c65e90f1cda6d.txt:1115, 1176).
    struct User: Sendable { let id: Int, name: String, email: String }

    struct AuditEvent: Sendable {
        let correlationID: String
        let event: String
        let actorId: Int
        let impersonatingActorId: Int?
        let sessionId: String
        let sessionType: String
        let ipAddress: String
        let timestamp: Double
        let targetType: String
        let targetId: String

        /// 001_5f3c65e90f1cda6d.txt:1101 Audit Event Response Object.
        var json: [String: Any] {
            [
                "correlationID": correlationID, "actorId": String(actorId),
                "impersonatingActorId": impersonatingActorId.map { String($0) as Any } ?? NSNull(),
                "actorType": "USER", "sessionId": sessionId, "ipAddress": ipAddress, "sessionType": sessionType,
                "event": event, "eventParameters": ["targetType": targetType, "targetId": targetId],
                "eventTimestamp": Dates.iso(timestamp),
            ]
        }
    }

    struct Opportunity: Sendable {
        let id: String, name: String, account: String, stage: String, amount: Double, closeDate: String
        let ownerId: Int, category: String, score: Int
    }

    let seed: UInt64
    let users: [User]
    /// Seeded forecast ids → display names.
    static let forecasts: [String: String] = [
        "net_new": "Net New", "net_new_arr": "Net New ARR", "renewals": "Renewals",
        "expansion": "Expansion", "pipeline": "Pipeline Coverage",
    ]
    let auditEvents: [AuditEvent]
    let opportunities: [Opportunity]
    private let opportunityIndex: [String: Int]

    init(seed: UInt64) {
        self.seed = seed
        var rng = SplitMix64(seed: seed, stream: "clari.data")
        let people = DemoData.people(12, rng: &rng)
        users = people.enumerated().map { i, p in User(id: 1001 + i, name: p.name, email: "\(p.email)@example.com") }

        // 250 audit events over the 30 days before today (several pages at the default limit of 100).
        let events = ["user.login", "user.logout", "forecast.submitted", "forecast.adjusted", "export.created",
                      "opportunity.viewed", "settings.changed", "report.downloaded"]
        let end = DemoData.today()
        var times = (0..<250).map { _ in end - Double(rng.int(1...(30 * 86_400))) }
        times.sort()
        var audit: [AuditEvent] = []
        for (i, t) in times.enumerated() {
            let actor = rng.pick(people.indices.map { $0 })
            let impersonated = rng.int(1...20) == 1
            let event = rng.pick(events)
            let typeRoll = rng.int(1...10)
            let session = String(format: "%08x-%04x-4%03x-a%03x-%012llx", UInt32(truncatingIfNeeded: rng.next()),
                                 rng.int(0...0xffff), rng.int(0...0xfff), rng.int(0...0xfff), rng.next() & 0xffff_ffff_ffff)
            audit.append(AuditEvent(
                correlationID: String(format: "corr-%06d", i + 1), event: event, actorId: 1001 + actor,
                impersonatingActorId: impersonated ? 1001 : nil, sessionId: session,
                sessionType: typeRoll <= 7 ? "WEB" : (typeRoll <= 9 ? "IOS" : "ANDROID"),
                ipAddress: "10.0.\(rng.int(0...255)).\(rng.int(1...254))", timestamp: t,
                targetType: event.split(separator: ".").first.map(String.init) ?? "user",
                targetId: String(format: "%@-%04d", event.split(separator: ".").first.map(String.init) ?? "obj", rng.int(1...9999))))
        }
        auditEvents = audit

        let stages = ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
        let categories = ["Pipeline", "Best Case", "Commit", "Closed", "Omitted"]
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var opps: [Opportunity] = []
        for _ in 0..<80 {
            let suffix = String((0..<8).map { _ in rng.pick(alphabet) })
            let account = rng.pick(DemoData.companies)
            opps.append(Opportunity(
                id: "0065g00000" + suffix, name: "\(account) - \(rng.pick(DemoData.deals))", account: account,
                stage: rng.pick(stages), amount: Double(rng.int(5...500) * 1000), closeDate: Dates.day(end + Double(rng.int(-60...120)) * 86_400),
                ownerId: 1001 + rng.int(0...11), category: rng.pick(categories), score: rng.int(3...98)))
        }
        opportunities = opps
        opportunityIndex = Dictionary(uniqueKeysWithValues: opps.enumerated().map { ($1.id, $0) })
    }

    // MARK: Forecasts

    enum ForecastSource: Sendable, Equatable {
        case seeded(String)
        /// `sim-rows-N`: N data rows.
        case rows(Int)
        /// `sim-bytes-N`: a body of about N bytes.
        case bytes(Int)
        /// `sim-fail`: the job ends FAILED.
        case fail
    }

    func forecastSource(_ id: String) -> ForecastSource? {
        if Self.forecasts[id] != nil { return .seeded(id) }
        if id == "sim-fail" { return .fail }
        if id.hasPrefix("sim-rows-"), let n = Int(id.dropFirst(9)), n >= 0, n <= 10_000_000_000 { return .rows(n) }
        if id.hasPrefix("sim-bytes-"), let n = Int(id.dropFirst(10)), n >= 0, n <= 1 << 42 { return .bytes(n) }
        return nil
    }

    static func validTimePeriod(_ t: String) -> Bool {
        let p = Array(t.utf8)
        return p.count == 7 && p[0...3].allSatisfy { (48...57).contains($0) } && p[4] == UInt8(ascii: "_")
            && p[5] == UInt8(ascii: "Q") && (49...52).contains(p[6])
    }

    struct ForecastSpec: Sendable {
        let forecastId: String
        let timePeriod: String
        let types: [String]
        let currency: String
        let scopeId: String
        let includeHistorical: Bool
        let csv: Bool
    }

    static let forecastColumns = ["userId", "userName", "userEmail", "forecastId", "timePeriod", "snapshot", "type", "amount", "currency", "scopeId"]

    /// One cell as text: a JSON value or a CSV field.
    private static func cell(_ s: String, csv: Bool) -> String {
        if !csv { return JSON.encodeString(s) }
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    private static func headerLine(csv: Bool) -> String {
        csv ? forecastColumns.joined(separator: ",") + "\n" : "[\n[" + forecastColumns.map { cell($0, csv: false) }.joined(separator: ",") + "]"
    }

    /// The forecast file: a header row, then one row per user, snapshot and type.
    /// JSON is an array of arrays (`[[header...], [row...], ...]`), CSV the same rows.
    func forecastResult(_ spec: ForecastSpec, source: ForecastSource) -> ClariResult {
        let contentType = spec.csv ? "text/csv; charset=utf-8" : "application/json"
        let header = Array(Self.headerLine(csv: spec.csv).utf8)
        let footer: [UInt8] = spec.csv ? [] : Array("\n]\n".utf8)
        switch source {
        case .rows(let n):
            let t = syntheticTemplates(spec)
            return ClariResult(body: RowsBody(header: header, footer: footer, templates: t, rowCount: n, seed: seed), contentType: contentType)
        case .bytes(let n):
            let t = syntheticTemplates(spec)
            let rows = RowsBody.rowsFitting(n, header: header.count, footer: footer.count, templates: t)
            return ClariResult(body: RowsBody(header: header, footer: footer, templates: t, rowCount: rows, seed: seed), contentType: contentType)
        case .fail:
            return ClariResult(body: BytesBody(bytes: []), contentType: contentType)
        case .seeded(let id):
            var out = header
            var snapshots = ["current"]
            if spec.includeHistorical, let start = Self.quarterStart(spec.timePeriod) {
                snapshots += (0..<4).map { Dates.day(start + Double($0) * 7 * 86_400) }
            }
            for user in users {
                for snapshot in snapshots {
                    for type in spec.types {
                        let amount = DemoData.amount(seed, "\(id)|\(spec.timePeriod)|\(user.id)|\(snapshot)|\(type)",
                                                     range: type == "quota" ? 400_000...900_000 : 20_000...650_000)
                        let cells = [String(user.id), user.name, user.email, id, spec.timePeriod, snapshot, type]
                            .map { Self.cell($0, csv: spec.csv) } + [String(format: "%.2f", amount)]
                            + [spec.currency, spec.scopeId].map { Self.cell($0, csv: spec.csv) }
                        let line = spec.csv ? cells.joined(separator: ",") + "\n" : ",\n[" + cells.joined(separator: ",") + "]"
                        out += Array(line.utf8)
                    }
                }
            }
            out += footer
            return ClariResult(body: BytesBody(bytes: out), contentType: contentType)
        }
    }

    /// Fixed-width synthetic rows (one template per exported type): user numbers
    /// and amounts are filled in per row, so the body is generated on demand.
    private func syntheticTemplates(_ spec: ForecastSpec) -> [RowsBody.Template] {
        spec.types.enumerated().map { k, type in
            let salt = UInt64(k) &* 0x1000_0001
            let c = { (s: String) in Self.cell(s, csv: spec.csv) }
            let q = spec.csv ? "" : "\""
            let sep = ","
            var pieces: [RowsBody.Template.Piece] = [.text(spec.csv ? "" : ",\n[")]
            pieces += [.text(q + "sim-user-"), .slot(width: 10, value: .group), .text(q + sep)]
            pieces += [.text(q + "Sim User "), .slot(width: 10, value: .group), .text(q + sep)]
            pieces += [.text(q + "sim.user."), .slot(width: 10, value: .group), .text("@example.com" + q + sep)]
            pieces += [.text([c(spec.forecastId), c(spec.timePeriod), c("current"), c(type)].joined(separator: sep) + sep)]
            pieces += [.slot(width: 6, value: .number(salt: salt)), .text("."), .slot(width: 2, value: .number(salt: salt &+ 7))]
            pieces += [.text(sep + c(spec.currency) + sep + c(spec.scopeId) + (spec.csv ? "\n" : "]"))]
            return RowsBody.Template(pieces)
        }
    }

    static func quarterStart(_ period: String) -> Double? {
        guard validTimePeriod(period), let y = Int(period.prefix(4)), let q = Int(period.suffix(1)) else { return nil }
        return Dates.parseDay(String(format: "%04d-%02d-01", y, (q - 1) * 3 + 1))
    }

    // MARK: Activity

    /// Activities for every day of the range, derived from (seed, day, user):
    /// the same range always gives the same activities. The record is
    /// 001_5f3c65e90f1cda6d.txt:2188 (activityId, activityType, subject, date in
    /// epoch milliseconds, activityOwnerId, activityOrganiserId, accounts,
    /// opportunities, participants).
    func activityResult(types: [String], start: Double, end: Double) -> ClariResult {
        var items: [[String: Any]] = []
        var day = (start / 86_400).rounded(.down) * 86_400
        let subjects = ["Quarterly business review", "Pricing follow-up", "Security questionnaire", "Renewal terms",
                        "Kick-off", "Proposal", "Intro call", "Contract redlines"]
        while day < end {
            for user in users {
                var rng = SplitMix64(seed: seed, stream: "clari.activity.\(Int(day)).\(user.id)")
                for n in 0..<rng.int(0...4) {
                    let type = rng.pick(ClariSim.activityTypes)
                    let opp = rng.pick(opportunities)
                    let t = day + Double(rng.int(8 * 3600...18 * 3600))
                    let other = rng.pick(users)
                    guard types.contains(type), t >= start, t < end else { continue }
                    let sfdc = { (id: Int) in String(format: "0053x%010dQKK", id) }
                    items.append([
                        "activityId": String(format: "%08x%08x%04d", UInt32(Int(day) / 86_400), UInt32(user.id), n),
                        "activityType": type, "subject": rng.pick(subjects), "date": Int64(t * 1000),
                        "activityOwnerId": sfdc(user.id), "activityOrganiserId": sfdc(user.id),
                        "accounts": [["accountId": "0014x" + opp.id.suffix(13), "accountName": opp.account, "accountOwnerId": sfdc(opp.ownerId)]],
                        "opportunities": [["opportunityId": opp.id, "opportunityName": opp.name, "opportunityOwnerId": sfdc(opp.ownerId)]],
                        "participants": [
                            ["name": user.name, "email": user.email, "sfdcUserId": sfdc(user.id), "isInternal": true],
                            ["name": other.name, "email": other.email, "sfdcUserId": sfdc(other.id), "isInternal": true],
                        ],
                    ])
                }
            }
            day += 86_400
        }
        return ClariResult(body: BytesBody(bytes: JSON.encode(["activities": items])), contentType: "application/json")
    }

    // MARK: Audit

    /// The filters of 001_5f3c65e90f1cda6d.txt:884 (export body) and :1035 (query):
    /// actor ids are int64, the rest strings.
    struct AuditFilter: Sendable {
        var actorId, impersonatingActorId: Int?
        var sessionId, sessionType, event: String?
        var from, to: Double?

        init(_ values: [String: Any]) {
            func int(_ key: String) -> Int? {
                if let n = values[key] as? NSNumber, !isBool(n) { return n.intValue }
                return (values[key] as? String).flatMap { Int($0) }
            }
            actorId = int("actorId")
            impersonatingActorId = int("impersonatingActorId")
            sessionId = values.string("sessionId")
            sessionType = values.string("sessionType")
            event = values.string("event")
            from = values.string("dateFrom").flatMap(Dates.parse)
            to = values.string("dateTo").flatMap(Dates.parse)
        }

        func matches(_ e: AuditEvent) -> Bool {
            if let actorId, e.actorId != actorId { return false }
            if let impersonatingActorId, e.impersonatingActorId != impersonatingActorId { return false }
            if let sessionId, e.sessionId != sessionId { return false }
            if let sessionType, e.sessionType != sessionType { return false }
            if let event, e.event != event { return false }
            if let from, e.timestamp < from { return false }
            if let to, e.timestamp > to { return false }
            return true
        }
    }

    /// 001_5f3c65e90f1cda6d.txt:1164 Actor Object: actorType, actorId, name, email.
    private func actors(for events: [AuditEvent]) -> [[String: Any]] {
        var ids = Set<Int>()
        for e in events {
            ids.insert(e.actorId)
            if let i = e.impersonatingActorId { ids.insert(i) }
        }
        return users.filter { ids.contains($0.id) }.map { ["actorType": "USER", "actorId": String($0.id), "name": $0.name, "email": $0.email] }
    }

    func auditResult(_ filter: AuditFilter) -> ClariResult {
        let events = auditEvents.filter(filter.matches)
        let body: [String: Any] = ["items": events.map(\.json), "actors": actors(for: events)]
        return ClariResult(body: BytesBody(bytes: JSON.encode(body)), contentType: "application/json")
    }

    func auditPage(_ filter: AuditFilter, offset: Int, limit: Int) -> (items: [[String: Any]], actors: [[String: Any]], nextOffset: Int?) {
        let all = auditEvents.filter(filter.matches)
        let page = Array(all.dropFirst(offset).prefix(limit))
        let next = offset + page.count < all.count ? offset + page.count : nil
        return (page.map(\.json), actors(for: page), next)
    }

    // MARK: Opportunities

    /// 001_5f3c65e90f1cda6d.txt:1269 Opportunity Export Object: id, crmScore
    /// {message, score}, fields [{id, alias, imageUrl, trendHistory, trend, value, originalValue}].
    func opportunity(_ id: String) -> [String: Any]? {
        guard let i = opportunityIndex[id] else { return nil }
        let o = opportunities[i]
        let message = o.score >= 70 ? "Strong engagement in the last 14 days" : (o.score >= 40 ? "Engagement is steady" : "No recent activity with the buyer")
        func field(_ id: String, _ alias: String, _ value: Any) -> [String: Any] {
            ["id": "opportunity." + id, "alias": alias, "imageUrl": "", "trendHistory": [Any](), "trend": "", "value": value, "originalValue": value]
        }
        return [
            "id": o.id,
            "crmScore": ["message": message, "score": o.score],
            "fields": [
                field("name", "Name", o.name), field("accountName", "Account Name", o.account),
                field("stage", "Stage", o.stage), field("amount", "Amount", o.amount),
                field("closeDate", "Close Date", o.closeDate), field("ownerId", "Owner", String(o.ownerId)),
                field("forecastCategory", "Forecast Category", o.category),
            ],
        ]
    }
}
