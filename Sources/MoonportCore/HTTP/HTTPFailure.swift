import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Why an exchange ended without a final answer: what `Transport` throws.
/// It holds the facts, as the retry policy sees them; `HTTPModule` turns
/// it into the Lua error object (the one place that knows Lua).
public struct HTTPFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No answer: the connection was refused, reset or cut short.
        case network
        /// No answer in time.
        case timeout
        /// The rate limit is spent for longer than the retries may wait.
        case rateLimited
        /// An answer that cannot be followed (a redirect loop, a bad location).
        case http
        /// An answer larger than the in-memory cap (a usage error: use stream_to).
        case tooLarge
    }

    public var kind: Kind
    /// What happened, for a person: the method and the URL (secret query
    /// values masked) first.
    public var message: String
    /// The status of the last answer, when one came.
    public var status: Int?
    /// The failure is one the retry policy retries (a transient one).
    public var retryable: Bool
    /// The request may have taken effect on the server (the retry policy's
    /// verdict): what decides whether a non-idempotent request may be repeated.
    public var mayHaveTakenEffect: Bool
    /// How many attempts the exchange made, when it is known.
    public var attempts: Int?

    public init(
        _ kind: Kind, _ message: String, status: Int? = nil, retryable: Bool, mayHaveTakenEffect: Bool, attempts: Int? = nil
    ) {
        self.kind = kind
        self.message = message
        self.status = status
        self.retryable = retryable
        self.mayHaveTakenEffect = mayHaveTakenEffect
        self.attempts = attempts
    }

    /// A failure whose facts are the retry policy's verdict on `outcome`.
    init(_ kind: Kind, _ message: String, outcome: AttemptOutcome, attempts: Int? = nil) {
        var status: Int?
        if case .response(let s, _) = outcome { status = s }
        self.init(
            kind, message, status: status, retryable: RetryPolicy.isRetryable(outcome),
            mayHaveTakenEffect: RetryPolicy.mayHaveTakenEffect(outcome), attempts: attempts)
    }

    public var description: String { message }
}

/// An error of our own side (a file to send or to write) that ends an
/// exchange as it is: not a transport failure, so never retried nor
/// reworded. `HTTPModule` marks the error type of the Lua bridge with it.
public protocol LocalFailure: Error {}

// MARK: - Classification of the errors of the HTTP client, by type

extension Transport {
    /// How an attempt that threw ended, as the retry policy sees it.
    static func classify(_ error: any Error) -> AttemptOutcome {
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .deadlineExceeded, .connectTimeout: return .timedOut
            default: return .connectionFailed(plainWords(e))
            }
        }
        if errno(of: error) == ECONNREFUSED { return .connectionRefused }
        return .connectionFailed(plainWords(error))
    }

    /// The system error code under an error: an `IOError`'s, or for a
    /// connect to a host name (every address tried), refused when one
    /// address refused, else the first address's code.
    static func errno(of error: any Error) -> Int32? {
        if let e = error as? IOError { return e.errnoCode }
        if let e = error as? NIOConnectionError {
            let codes = e.connectionErrors.compactMap { errno(of: $0.error) }
            return codes.contains(ECONNREFUSED) ? ECONNREFUSED : codes.first
        }
        return nil
    }

    /// What went wrong with a connection, in words an operator reads
    /// ("the server closed the connection"), not the system call that saw it.
    static func plainWords(_ error: any Error) -> String {
        switch errno(of: error) {
        case ECONNREFUSED?: return "the connection was refused"
        case ECONNRESET?: return "the server closed the connection (connection reset)"
        case EPIPE?: return "the server closed the connection while the request was being sent"
        case ETIMEDOUT?: return "the connection timed out"
        case EHOSTUNREACH?: return "the server's host cannot be reached"
        case ENETUNREACH?: return "there is no network route to the server"
        case ECONNABORTED?: return "the connection was aborted"
        default: break
        }
        switch error {
        case let e as HTTPClientError:
            switch e {
            case .remoteConnectionClosed: return "the server closed the connection before answering"
            case .cancelled: return "the request was cancelled"
            case .bodyLengthMismatch: return "the server's answer was cut short"
            default: break
            }
        case let e as NIOConnectionError where e.connectionErrors.isEmpty && (e.dnsAError != nil || e.dnsAAAAError != nil):
            return "the server's host name could not be resolved"
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            return "the secure (TLS) connection failed: \(error)"
        case let e as ChannelError:
            switch e {
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return "the server closed the connection"
            default: break
            }
        default: break
        }
        return String(describing: error)
    }
}
