/// The error object of SPEC.md §2, as a Swift value.
///
/// Swift bindings `throw` it; the bridge turns it into a Lua table with the
/// fields below and a `__tostring` metamethod, raised by the C trampoline.
public struct LuaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case http, auth, timeout, network, validation, usage, interrupted
        case rateLimited = "rate_limited"
        case jobFailed = "job_failed"
        /// An error that is none of the above (a bug, an unexpected state).
        case runtime
    }

    public var kind: Kind
    public var message: String
    public var vendor: String?
    public var status: Int?
    public var code: String?
    public var retryable: Bool?
    /// The vendor's decoded error body, or other structured detail.
    public var details: LuaValue?
    /// More fields for the error table (for example `offset` for json errors).
    public var extra: [String: LuaValue]

    public init(
        _ kind: Kind, _ message: String, vendor: String? = nil, status: Int? = nil, code: String? = nil,
        retryable: Bool? = nil, details: LuaValue? = nil, extra: [String: LuaValue] = [:]
    ) {
        self.kind = kind
        self.message = message
        self.vendor = vendor
        self.status = status
        self.code = code
        self.retryable = retryable
        self.details = details
        self.extra = extra
    }

    public static func validation(_ message: String, extra: [String: LuaValue] = [:]) -> LuaError {
        LuaError(.validation, message, extra: extra)
    }

    public static func usage(_ message: String) -> LuaError { LuaError(.usage, message) }

    public var description: String { message }
}

/// Thrown by Swift code that has already pushed a Lua error value (for example
/// the error of a Lua callback it called under `pcall`): the bridge raises
/// the value at the top of the stack unchanged.
public struct LuaErrorOnStack: Error, Sendable {
    public init() {}
}
