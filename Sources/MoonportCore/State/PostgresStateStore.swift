import Foundation
import Logging
import LuaBridge
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The state store in PostgreSQL (`--state postgres://user@host:port/db`,
/// or `$MOONPORT_STATE`): workers on many machines share it, so any of them
/// can resume any run (SPEC.md §6).
///
/// One table, `moonport_state (key, value, updated_at)`, as in SQLite. One
/// connection per process, used one call at a time. Claims (`state.once`
/// steps, `--lock`) are session-level advisory locks on that connection:
/// they end with the session, so a worker killed with SIGKILL releases them
/// when the kernel closes its socket, and a worker whose machine vanished
/// when the server's TCP keepalive gives up (set to about 30 s below).
/// A dropped connection is opened again (with the claims it held taken
/// again) and the call retried; a claim that another worker took in the
/// meantime is an error, never a step done twice.
///
/// Credentials in the URL (or `$PGPASSWORD`) are never shown: `location`
/// and every message name the URL without them.
public final class PostgresStateStore: StateBackend, @unchecked Sendable {
    public let location: String
    private let settings: Settings
    private let logger = Logger(label: "moonport.state.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// The connection and the claims held on it; one call at a time.
    private let lock = NSLock()
    private var connection: PostgresConnection?
    private var held: [String: Int] = [:]

    /// One event-loop thread for every store of the process.
    static let group: MultiThreadedEventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// What a URL says, parsed once.
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var user: String
        var password: String?
        public var database: String
        public var sslmode: String
        public var connectTimeout: Int64

        /// `postgres://user:password@host:port/db?sslmode=disable|prefer|require|verify-full&connect_timeout=S`;
        /// the password may instead come from `$PGPASSWORD`.
        public init(url: String) throws {
            guard StateStores.isURL(url), let parts = URLComponents(string: url), let host = parts.host, !host.isEmpty else {
                throw LuaError.usage("state: '\(Self.redacted(url))' is not a PostgreSQL URL "
                    + "(write postgres://USER@HOST:PORT/DATABASE; the password in $PGPASSWORD or in the URL)")
            }
            self.host = host
            port = parts.port ?? 5432
            user = parts.user.flatMap { $0.removingPercentEncoding ?? $0 }
                ?? ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
            password = parts.password.flatMap { $0.removingPercentEncoding ?? $0 }
                ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
            let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
            database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
            var sslmode = "prefer"
            var timeout: Int64 = 10
            for item in parts.queryItems ?? [] {
                switch item.name {
                case "sslmode": sslmode = item.value ?? sslmode
                case "connect_timeout": timeout = Int64(item.value ?? "") ?? timeout
                default:
                    throw LuaError.usage("state: \(Self.redacted(url)): unknown parameter '\(item.name)' (known: sslmode, connect_timeout)")
                }
            }
            guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslmode) else {
                throw LuaError.usage("state: \(Self.redacted(url)): sslmode must be disable, prefer, require or verify-full")
            }
            self.sslmode = sslmode
            connectTimeout = max(1, timeout)
        }

        /// The URL without user and password (and without any secret query value).
        public static func redacted(_ url: String) -> String {
            guard var parts = URLComponents(string: url) else {
                // Not parseable: keep the scheme and what follows the last '@'.
                guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
                return String(url[..<scheme.upperBound]) + url[url.index(after: at)...]
            }
            parts.user = nil
            parts.password = nil
            return parts.string ?? url
        }

        var shown: String { "postgres://\(host):\(port)/\(database)" }
    }

    /// Connects (an error of kind `network` when the server cannot be
    /// reached, `auth` when it refuses the credentials) and creates the table if missing.
    public init(url: String) throws {
        settings = try Settings(url: url)
        location = Settings.redacted(url)
        try lock.withLock {
            _ = try connected()
            try createTable()
        }
    }

    deinit {
        if let connection { try? connection.close().wait() }
    }

    // MARK: - StateBackend

    public func get(_ key: String) throws -> String? {
        try rows("SELECT value FROM moonport_state WHERE key = \(key)", what: "read '\(key)'").first?.first
    }

    public func set(_ key: String, _ value: String) throws {
        _ = try rows("""
            INSERT INTO moonport_state (key, value) VALUES (\(key), \(value))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()
            """, what: "write '\(key)'")
    }

    @discardableResult
    public func delete(_ key: String) throws -> Bool {
        !(try rows("DELETE FROM moonport_state WHERE key = \(key) RETURNING 1", what: "delete '\(key)'")).isEmpty
    }

    @discardableResult
    public func deletePrefix(_ prefix: String) throws -> Int {
        try rows("DELETE FROM moonport_state WHERE left(key, length(\(prefix))) = \(prefix) RETURNING 1",
                 what: "delete the keys under '\(prefix)'").count
    }

    public func keys(prefix: String) throws -> [String] {
        try rows("SELECT key FROM moonport_state WHERE left(key, length(\(prefix))) = \(prefix) ORDER BY key COLLATE \"C\"",
                 what: "list the keys").map { $0[0] }
    }

    public func entries(prefix: String) throws -> [StateEntry] {
        try rows("""
            SELECT key, value, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            FROM moonport_state WHERE left(key, length(\(prefix))) = \(prefix) ORDER BY key COLLATE "C"
            """, what: "list the keys").map { StateEntry(key: $0[0], value: $0[1], storedAt: $0[2]) }
    }

    /// One statement, so one transaction: the results written and the journal gone together.
    public func complete(_ key: String, _ value: String, clearing: String) throws {
        _ = try rows("""
            WITH cleared AS (DELETE FROM moonport_state WHERE left(key, length(\(clearing))) = \(clearing) AND key <> \(key))
            INSERT INTO moonport_state (key, value) VALUES (\(key), \(value))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()
            """, what: "write '\(key)'")
    }

    /// `pg_try_advisory_lock` on this process's session.
    public func tryClaim(_ name: String) throws -> Bool {
        try lock.withLock {
            let taken = try retrying("claim '\(name)'") { connection in
                try Self.values(connection.query("SELECT pg_try_advisory_lock(\(StateStores.claimHash(name)))::text",
                                                 logger: logger).wait())
            }.first?.first == "true"
            if taken { held[name, default: 0] += 1 }
            return taken
        }
    }

    public func release(_ name: String) throws {
        try lock.withLock {
            guard let n = held[name] else { return }
            held[name] = n > 1 ? n - 1 : nil
            guard let connection, !connection.isClosed else { return }
            _ = try? connection.query("SELECT pg_advisory_unlock(\(StateStores.claimHash(name)))", logger: logger).wait()
        }
    }

    // MARK: - the connection

    private func rows(_ query: PostgresQuery, what: String) throws -> [[String]] {
        try lock.withLock {
            try retrying(what) { connection in try Self.values(connection.query(query, logger: logger).wait()) }
        }
    }

    private static func values(_ result: PostgresQueryResult) throws -> [[String]] {
        try result.rows.map { row in try row.map { cell in try cell.decode(String?.self) ?? "" } }
    }

    /// Runs `body` on the connection; after a dropped connection, opens it
    /// again (taking the claims again) and runs it once more, up to 3 times
    /// with a pause. Call with `lock` held.
    private func retrying<R>(_ what: String, _ body: (PostgresConnection) throws -> R) throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            let connection = try connected()
            do {
                return try body(connection)
            } catch let error as PSQLError where Self.isDropped(error) && attempt < 4 {
                self.connection = nil
                try? connection.close().wait()
                usleep(UInt32(200_000 * attempt))
            } catch {
                throw failure(what, error)
            }
        }
    }

    private static func isDropped(_ error: PSQLError) -> Bool {
        ([.serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection] as [PSQLError.Code]).contains(error.code)
    }

    /// The open connection, opening it (and taking the held claims again) if needed. Call with `lock` held.
    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        var configuration: PostgresConnection.Configuration
        do {
            configuration = PostgresConnection.Configuration(
                host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                database: settings.database, tls: try tls())
        } catch let e as LuaError { throw e } catch {
            throw LuaError(.usage, "state: \(settings.shown): cannot set up TLS: \(error)")
        }
        configuration.options.connectTimeout = .seconds(settings.connectTimeout)
        // The server notices a vanished worker within about 30 s (its
        // advisory locks then end), not after the system's two hours.
        configuration.options.additionalStartupParameters = [
            ("application_name", "moonport"),
            ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "4"),
        ]
        let opened: PostgresConnection
        do {
            opened = try PostgresConnection.connect(on: Self.group.next(), configuration: configuration, id: 1, logger: logger).wait()
        } catch {
            throw failure("connect", error)
        }
        connection = opened
        for (name, _) in held {
            let again = try Self.values(opened.query("SELECT pg_try_advisory_lock(\(StateStores.claimHash(name)))::text",
                                                     logger: logger).wait()).first?.first == "true"
            if !again {
                held[name] = nil
                throw LuaError(.network, "state: the connection to \(settings.shown) was lost while this run held '\(name)', "
                    + "and another worker has taken it since: stopping here so that nothing is done twice (rerun to resume)")
            }
        }
        return opened
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        switch settings.sslmode {
        case "disable": return .disable
        case "verify-ca", "verify-full":
            return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            let context = try NIOSSLContext(configuration: config)
            return settings.sslmode == "require" ? .require(context) : .prefer(context)
        }
    }

    /// Several workers may start at once: the table is created under an advisory lock.
    private func createTable() throws {
        _ = try retrying("create the table moonport_state") { connection in
            _ = try connection.query("SELECT pg_advisory_lock(7305366873227010)", logger: logger).wait()
            defer { _ = try? connection.query("SELECT pg_advisory_unlock(7305366873227010)", logger: logger).wait() }
            _ = try connection.query("""
                CREATE TABLE IF NOT EXISTS moonport_state (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: logger).wait()
        }
    }

    /// The error for a failed call: kind `network` when the server could not
    /// be reached or the connection was lost (exit code 4: rerun later),
    /// `auth` for refused credentials, `usage` otherwise. No credentials in it.
    private func failure(_ what: String, _ error: any Error) -> LuaError {
        if let e = error as? LuaError { return e }
        guard let e = error as? PSQLError else {
            return LuaError(.network, "state: cannot \(what) (state store \(settings.shown)): \(scrub("\(error)"))")
        }
        var why = e.code.description
        var kind = LuaError.Kind.network
        if let server = e.serverInfo {
            let state = server[.sqlState] ?? ""
            why = server[.message] ?? why
            if state.hasPrefix("28") { kind = .auth } else if !state.hasPrefix("08") && !state.hasPrefix("57") { kind = .usage }
            if state.hasPrefix("3D") { why += " (create it, or name another database in the URL)" }
        } else if let underlying = e.underlying {
            why = "\(underlying)"
        }
        if ([.unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError] as [PSQLError.Code]).contains(e.code) {
            kind = .auth
            if e.code == .authMechanismRequiresPassword { why = "the server asks for a password (give it in $PGPASSWORD or the URL)" }
        }
        let hint = kind == .network ? " (is the database up and reachable? the run can be retried: exit code 4)" : ""
        return LuaError(kind, "state: cannot \(what) (state store \(settings.shown)): \(scrub(why))\(hint)")
    }

    /// Removes the user and password from a message, should a driver ever print them.
    private func scrub(_ text: String) -> String {
        var out = text
        if let password = settings.password, !password.isEmpty { out = out.replacingOccurrences(of: password, with: Redaction.mask) }
        return out
    }
}
