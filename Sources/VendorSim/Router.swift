import NIOHTTP1

/// Path parameters of a matched route (`{name}` in the pattern), percent-decoded.
public struct Params: Sendable {
    var values: [String: String] = [:]
    public subscript(_ name: String) -> String { values[name] ?? "" }
}

/// One endpoint: method + path pattern (`/clari/v4/export/jobs/{jobId}`; a
/// final `{name*}` takes the rest of the path, slashes included).
struct Route: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case param(String)
        case rest(String)
    }

    /// The vendor the route belongs to; nil for the simulator's own routes
    /// (`/__sim/*`, the S3 store), which get no faults and count no vendor request.
    let vendor: String?
    let method: HTTPMethod
    let pattern: String
    let segments: [Segment]
    /// The most body bytes kept; a larger body is drained and the handler sees
    /// `bodyTooLarge` (so it can answer with the vendor's own 400).
    let maxBody: Int
    let handler: @Sendable (SimRequest, Params) -> SimResponse
    /// The vendor's answer for an injected 500 or 429 fault on this route.
    let fault: @Sendable (FaultKind) -> SimResponse

    static let defaultMaxBody = 16 * 1024 * 1024

    init(
        vendor: String?, method: HTTPMethod, pattern: String, maxBody: Int = Route.defaultMaxBody,
        fault: @escaping @Sendable (FaultKind) -> SimResponse = { _ in .empty(500) },
        handler: @escaping @Sendable (SimRequest, Params) -> SimResponse
    ) {
        self.vendor = vendor
        self.method = method
        self.pattern = pattern
        self.maxBody = maxBody
        self.fault = fault
        self.handler = handler
        segments = Router.split(pattern).map { s in
            if s.hasPrefix("{") && s.hasSuffix("*}") { return .rest(String(s.dropFirst().dropLast(2))) }
            if s.hasPrefix("{") && s.hasSuffix("}") { return .param(String(s.dropFirst().dropLast())) }
            return .literal(String(s))
        }
    }

    func match(_ parts: [Substring]) -> Params? {
        var params = Params()
        var i = 0
        for (k, seg) in segments.enumerated() {
            switch seg {
            case .literal(let s):
                guard i < parts.count, String(parts[i]) == s else { return nil }
                i += 1
            case .param(let name):
                guard i < parts.count else { return nil }
                params.values[name] = SimRequest.decodePath(parts[i])
                i += 1
            case .rest(let name):
                guard k == segments.count - 1, i < parts.count else { return nil }
                params.values[name] = parts[i...].map { SimRequest.decodePath($0) }.joined(separator: "/")
                i = parts.count
            }
        }
        return i == parts.count ? params : nil
    }
}

/// Finds the route for a method and path. Empty segments are ignored, so a
/// trailing slash is optional (Claravine documents paths ending in `/`).
struct Router: Sendable {
    enum Match {
        case found(Route, Params)
        /// The path exists under another method.
        case wrongMethod(vendor: String?)
        case notFound(vendor: String?)
    }

    /// Routes by their first path segment (every pattern starts with a literal).
    private let index: [String: [Route]]
    /// First path segment → vendor name (`clari` → `clari`, `quantive` → `quantive`).
    let prefixes: [String: String]

    init(routes: [Route], prefixes: [String: String]) {
        var index: [String: [Route]] = [:]
        for r in routes {
            guard case .literal(let first)? = r.segments.first else { preconditionFailure("route \(r.pattern) must start with a literal") }
            index[first, default: []].append(r)
        }
        self.index = index
        self.prefixes = prefixes
    }

    func match(method: HTTPMethod, path: String) -> Match {
        let parts = Self.split(path)
        let effective = method == .HEAD ? HTTPMethod.GET : method
        var pathMatched = false
        for route in parts.first.flatMap({ index[String($0)] }) ?? [] {
            guard let params = route.match(parts) else { continue }
            if route.method == effective { return .found(route, params) }
            pathMatched = true
        }
        let vendor = parts.first.flatMap { prefixes[String($0)] }
        return pathMatched ? .wrongMethod(vendor: vendor) : .notFound(vendor: vendor)
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

extension SimRequest {
    static func decodePath(_ s: Substring) -> String {
        String(s).removingPercentEncoding ?? String(s)
    }
}
