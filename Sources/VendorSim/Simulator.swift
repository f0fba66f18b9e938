import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// How a simulator runs.
public struct SimulatorConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port.
    public var port = 0
    public var faults = FaultSpec()
    /// Seeds the demo data, the ids and the fault decisions.
    public var seed: UInt64 = 1
    /// Time multiplier (`MOONPORT_SIM_SPEED`): 50 makes jobs move 50 times faster.
    public var speed: Double = SimClock.speedFromEnvironment()
    /// Where Cordial writes exports whose destination is not S3 (`<dir>/<type>/<path>/<file>`).
    public var dataDirectory: String = VendorSimulator.defaultDataDirectory()
    /// Per-minute allowance by vendor name (`clari`, `claravine`, `quantive`,
    /// `cordial`, `mediarithmics`); unset vendors get `RateLimiter.defaultPerMinute`.
    public var rateLimits: [String: Int] = [:]
    /// Clari's concurrent export jobs.
    public var clariConcurrentLimit = 3
    /// Clari's export jobs per month (one simulator run counts as one month).
    public var clariMonthlyQuota = 1000
    /// Event-loop threads serving connections.
    public var threads = 2
    /// The reading chosen for each variant key where a vendor's document is
    /// silent (`SimVariants`); unset keys answer in their default reading.
    public var variants: [String: String] = [:]

    public init() {}

    public init(faults: FaultSpec = FaultSpec(), seed: UInt64 = 1, speed: Double? = nil, port: Int = 0) {
        self.faults = faults
        self.seed = seed
        if let speed { self.speed = speed }
        self.port = port
    }

    /// Parses `vendor=N` (an allowance per minute) into `rateLimits`.
    public mutating func addRateLimit(_ text: String) throws(FaultSpecError) {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let n = Int(parts[1]), n >= 0 else {
            throw FaultSpecError("bad rate limit \"\(text)\": expected VENDOR=N, e.g. cordial=60")
        }
        guard Stats.vendors.contains(parts[0]) else {
            throw FaultSpecError("unknown vendor \"\(parts[0])\" in rate limit (vendors: \(Stats.vendors.joined(separator: ", ")))")
        }
        rateLimits[parts[0]] = n
    }
}

/// The fixed dummy credentials the simulator accepts (and only those). They
/// are not secrets: they open nothing but the simulator.
public enum SimulatorCredentials {
    public static let clariAPIKey = "sandbox-clari-api-key"
    public static let clariPartnerKey = "sandbox-clari-partner-key"
    public static let claravineAPIKey = "sandbox-claravine-api-key"
    public static let claravineAPISecret = "sandbox-claravine-api-secret"
    public static let quantiveAPIToken = "sandbox-quantive-api-token"
    public static let quantiveAccountID = "sandbox-quantive-account"
    public static let cordialAPIKey = "sandbox-cordial-api-key"
    public static let mediarithmicsAPIToken = "sandbox-mediarithmics-api-token"

    /// SPEC.md §4's variable names → the dummy values.
    public static let environment: [String: String] = [
        "CLARI_API_KEY": clariAPIKey,
        "CLARI_PARTNER_KEY": clariPartnerKey,
        "CLARAVINE_API_KEY": claravineAPIKey,
        "CLARAVINE_API_SECRET": claravineAPISecret,
        "QUANTIVE_API_TOKEN": quantiveAPIToken,
        "QUANTIVE_ACCOUNT_ID": quantiveAccountID,
        "CORDIAL_API_KEY": cordialAPIKey,
        "MEDIARITHMICS_API_TOKEN": mediarithmicsAPIToken,
    ]
}

/// Where a started simulator answers.
public struct SimulatorEndpoints: Sendable {
    public let port: Int
    /// `http://127.0.0.1:PORT`
    public let root: String
    /// Vendor name → base URL (what the vendor's `*_BASE_URL` holds).
    public let baseURLs: [String: String]
    /// The S3-compatible store Cordial's `s3` exports go to (path-style: `/s3/{bucket}/{key}`).
    public let s3URL: String
    /// Every `*_BASE_URL` and dummy credential of SPEC.md §4, plus
    /// `MOONPORT_SIM_URL` and `MOONPORT_SIM_S3_URL`.
    public var environment: [String: String]

    /// `export NAME=VALUE` lines, sorted by name.
    public var exportLines: [String] {
        environment.keys.sorted().map { "export \($0)=\(environment[$0]!)" }
    }
}

/// Shared parts every vendor uses.
final class SimContext: Sendable {
    let config: SimulatorConfig
    let clock: SimClock
    let stats: Stats
    let limiter: RateLimiter
    let s3: S3Store

    init(config: SimulatorConfig) {
        self.config = config
        clock = SimClock(speed: config.speed)
        stats = Stats()
        limiter = RateLimiter(limits: config.rateLimits, clock: clock)
        s3 = S3Store()
    }

    var seed: UInt64 { config.seed }

    /// Set when the simulator stops: pending timers then do nothing.
    let stopped = NIOLockedValueBox(false)

    /// Runs `work` after `simulatedSeconds` (scaled by the speed), unless the
    /// simulator has stopped by then.
    func after(_ simulatedSeconds: Double, _ work: @escaping @Sendable () -> Void) {
        let stopped = self.stopped
        DispatchQueue.global().asyncAfter(deadline: .now() + clock.real(simulatedSeconds)) {
            if !stopped.withLockedValue({ $0 }) { work() }
        }
    }
}

/// What every vendor file provides.
protocol VendorModule: AnyObject, Sendable {
    /// The error family of a group of endpoints (Clari has three).
    associatedtype ErrorStyle: Sendable

    /// `clari`, `claravine`, ...
    var name: String { get }
    /// The path prefix on the simulator (`/clari`, `/quantive/results/api`).
    var prefix: String { get }
    var context: SimContext { get }

    func routes() -> [Route]
    /// Back to the seeded state.
    func reset()
    /// nil when the request carries the right credentials, else the vendor's 401/403.
    func authenticate(_ request: SimRequest, style: ErrorStyle) -> SimResponse?
    /// The vendor's error body.
    func error(_ style: ErrorStyle, status: Int, code: String, message: String) -> SimResponse
    /// The vendor's 429 (body and headers).
    func tooManyRequests(_ style: ErrorStyle, _ budget: RateLimiter.Budget) -> SimResponse
    /// Headers added to every answer (the remaining allowance, where the vendor sends it).
    func rateHeaders(_ budget: RateLimiter.Budget) -> [(String, String)]
    /// The rate-limit bucket of an endpoint (per vendor unless the vendor limits per endpoint).
    func rateKey(method: HTTPMethod, pattern: String) -> String
    /// The answer for an unknown path (404) or method (405) under the prefix.
    func unrouted(_ request: SimRequest, status: Int) -> SimResponse
}

extension VendorModule {
    func rateHeaders(_ budget: RateLimiter.Budget) -> [(String, String)] { [] }
    func rateKey(method: HTTPMethod, pattern: String) -> String { name }

    /// An endpoint: checks the credentials, takes from the rate-limit budget,
    /// then runs `handler`. Injected 500/429 faults answer with the vendor's bodies.
    func endpoint(
        _ method: HTTPMethod, _ pattern: String, style: ErrorStyle, maxBody: Int = Route.defaultMaxBody,
        _ handler: @escaping @Sendable (SimRequest, Params) -> SimResponse
    ) -> Route {
        let vendor = name
        let limiter = context.limiter
        let key = rateKey(method: method, pattern: pattern)
        return Route(
            vendor: vendor, method: method, pattern: prefix + pattern, maxBody: maxBody,
            fault: { kind in
                if kind == .tooManyRequests { return self.tooManyRequests(style, limiter.faultBudget(vendor: vendor)) }
                return self.error(style, status: 500, code: "internal_error", message: "Internal server error (simulated)")
            },
            handler: { request, params in
                if let denied = self.authenticate(request, style: style) { return denied }
                let budget = limiter.take(vendor: vendor, key: key)
                if budget.refused { return self.tooManyRequests(style, budget) }
                return handler(request, params).adding(headers: self.rateHeaders(budget))
            })
    }
}

/// The vendor simulator: all five vendor APIs on one loopback port, each under
/// its own prefix, with job life cycles, limits, seeded faults and counters.
public final class VendorSimulator: Sendable {
    public let config: SimulatorConfig
    let context: SimContext
    let faults: FaultInjector
    private let vendors: [any VendorModule]
    private let app: SimApp
    private let server: SimServer
    private let channel = NIOLockedValueBox<Channel?>(nil)

    /// The body `GET /__sim/stats` answers (JSON text), read in this process.
    public func statsJSON() -> [UInt8] { JSON.encode(context.stats.json(faults: faults)) }

    public init(config: SimulatorConfig = SimulatorConfig()) {
        self.config = config
        let context = SimContext(config: config)
        self.context = context
        faults = FaultInjector(spec: config.faults, seed: config.seed)
        let vendors: [any VendorModule] = [
            ClariSim(context: context), ClaravineSim(context: context), QuantiveSim(context: context),
            CordialSim(context: context), MediarithmicsSim(context: context),
        ]
        self.vendors = vendors
        var routes: [Route] = []
        var errors: [String: @Sendable (SimRequest, Int) -> SimResponse] = [:]
        var prefixes: [String: String] = [:]
        for v in vendors {
            routes += v.routes()
            errors[v.name] = { request, status in v.unrouted(request, status: status) }
            if let first = Router.split(v.prefix).first { prefixes[String(first)] = v.name }
        }
        let faults = self.faults
        routes += S3Routes.routes(store: context.s3)
        routes += Self.adminRoutes(context: context, faults: faults, vendors: vendors)
        app = SimApp(router: Router(routes: routes, prefixes: prefixes), faults: faults, stats: context.stats,
                     clock: context.clock, vendorErrors: errors)
        server = SimServer(app: app, threads: config.threads)
    }

    /// Binds and starts serving; returns where.
    public func start() async throws -> SimulatorEndpoints {
        let ch = try await server.bind(host: config.host, port: config.port).get()
        return started(ch)
    }

    /// `start()` for synchronous callers (the CLI): blocks until the port is bound.
    public func startBlocking() throws -> SimulatorEndpoints {
        let ch = try server.bind(host: config.host, port: config.port).wait()
        return started(ch)
    }

    private func started(_ ch: Channel) -> SimulatorEndpoints {
        channel.withLockedValue { $0 = ch }
        return endpoints(port: ch.localAddress?.port ?? config.port)
    }

    /// Closes the listening socket and every connection, and stops the event loops.
    public func stop() async throws {
        context.stopped.withLockedValue { $0 = true }
        if let ch = channel.withLockedValue({ c in defer { c = nil }; return c }) {
            try? await ch.close().get()
        }
        try await server.group.shutdownGracefully()
    }

    public func stopBlocking() throws {
        context.stopped.withLockedValue { $0 = true }
        if let ch = channel.withLockedValue({ c in defer { c = nil }; return c }) {
            try? ch.close().wait()
        }
        try server.group.syncShutdownGracefully()
    }

    func endpoints(port: Int) -> SimulatorEndpoints {
        let root = "http://\(config.host):\(port)"
        var base: [String: String] = [:]
        for v in vendors { base[v.name] = root + v.prefix }
        var env = SimulatorCredentials.environment
        env["CLARI_BASE_URL"] = base["clari"]
        env["CLARAVINE_BASE_URL"] = base["claravine"]
        env["QUANTIVE_BASE_URL"] = base["quantive"]
        env["CORDIAL_BASE_URL"] = base["cordial"]
        env["MEDIARITHMICS_BASE_URL"] = base["mediarithmics"]
        env["MOONPORT_SIM_URL"] = root
        env["MOONPORT_SIM_S3_URL"] = root + S3Routes.prefix
        return SimulatorEndpoints(port: port, root: root, baseURLs: base, s3URL: root + S3Routes.prefix, environment: env)
    }

    /// Back to the seeded state: objects, counters, rate-limit windows and the
    /// fault sequence (which starts again at request 1).
    public func reset() {
        for v in vendors { v.reset() }
        context.stats.reset()
        context.limiter.reset()
        context.s3.reset()
        faults.reset()
    }

    /// Replaces the fault spec and seed; the fault sequence starts again at request 1.
    public func setFaults(_ spec: FaultSpec, seed: UInt64) {
        faults.configure(spec: spec, seed: seed)
    }

    /// The faults injected so far (the most recent `FaultInjector.logLimit`).
    public var faultLog: [FaultRecord] { faults.log }

    /// A temporary folder for this process's simulator files.
    public static func defaultDataDirectory() -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return (base as NSString).appendingPathComponent("moonport-sim-\(getpid())")
    }

    /// `/__sim/*`: stats, reset, faults. No credentials, no faults.
    static func adminRoutes(context: SimContext, faults: FaultInjector, vendors: [any VendorModule]) -> [Route] {
        [
            Route(vendor: nil, method: .GET, pattern: "/__sim/stats") { _, _ in
                .json(200, context.stats.json(faults: faults))
            },
            Route(vendor: nil, method: .GET, pattern: "/__sim/faults") { _, _ in
                .json(200, faults.json())
            },
            Route(vendor: nil, method: .POST, pattern: "/__sim/faults") { request, _ in
                guard let body = request.jsonObject else {
                    return .json(400, ["error": "expected a JSON object {\"spec\": \"500:0.1,...\", \"seed\": N}"])
                }
                let spec: FaultSpec
                do { spec = try FaultSpec(parsing: body.string("spec") ?? "") } catch let e as FaultSpecError {
                    return .json(400, ["error": e.message])
                } catch {
                    return .json(400, ["error": "\(error)"])
                }
                let seed = (body["seed"] as? NSNumber).map { UInt64(truncatingIfNeeded: $0.int64Value) } ?? faults.seed
                faults.configure(spec: spec, seed: seed)
                return .json(200, faults.json())
            },
            Route(vendor: nil, method: .POST, pattern: "/__sim/reset") { _, _ in
                for v in vendors { v.reset() }
                context.stats.reset()
                context.limiter.reset()
                context.s3.reset()
                faults.reset()
                return .json(200, ["reset": true])
            },
            Route(vendor: nil, method: .GET, pattern: "/__sim/health") { _, _ in
                .json(200, ["ok": true])
            },
        ]
    }
}
