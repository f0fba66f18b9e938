import CSQLite
import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state database of resumable runs (`--state PATH`, default
/// `.moonport/state.sqlite`): one table of keys and JSON texts in SQLite,
/// WAL journal with `synchronous = FULL`, so a value that `set` returned
/// for survives a crash (or a SIGKILL) of the process. Several moonport
/// processes may share a database: writes wait up to 10 s for a lock.
public final class StateStore: StateBackend {
    public let path: String
    public var location: String { path }
    private lazy var claims = FileClaims(path: path + "-claims")
    private var db: OpaquePointer?

    public init(path: String) throws {
        self.path = path
        try Self.makeFolder(of: path)
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let why = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close(handle)
            throw LuaError.usage("state: cannot open the state database '\(path)': \(why) (choose another with --state PATH)")
        }
        db = handle
        // The state names jobs, datasets and files: for the owner only (SQLite
        // gives its -wal and -shm files the same mode).
        chmod(path, 0o600)
        sqlite3_busy_timeout(handle, 10_000)
        do {
            // Several processes opening a new database at once: switching it
            // to WAL can be refused as busy without the busy handler; try again.
            var attempts = 0
            while sqlite3_exec(handle, "PRAGMA journal_mode = WAL", nil, nil, nil) != SQLITE_OK {
                attempts += 1
                let code = sqlite3_errcode(handle)
                guard (code == SQLITE_BUSY || code == SQLITE_LOCKED) && attempts < 200 else { throw failure("prepare") }
                usleep(50_000)
            }
            try exec("PRAGMA synchronous = FULL")
            try exec("""
                CREATE TABLE IF NOT EXISTS moonport_state (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL,
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """)
        } catch {
            sqlite3_close(handle)
            db = nil
            throw error
        }
    }

    deinit { sqlite3_close(db) }

    /// The stored text, or nil.
    public func get(_ key: String) throws -> String? {
        try statement("SELECT value FROM moonport_state WHERE key = ?1") { stmt in
            sqlite3_bind_text(stmt, 1, key, Int32(key.utf8.count), Self.transient)
            switch sqlite3_step(stmt) {
            case SQLITE_ROW:
                guard let text = sqlite3_column_text(stmt, 0) else { return "" }
                return String(cString: text)
            case SQLITE_DONE:
                return nil
            default:
                throw failure("read '\(key)'")
            }
        }
    }

    /// Stores (or replaces) `value` under `key`; durable when it returns.
    public func set(_ key: String, _ value: String) throws {
        try statement("""
            INSERT INTO moonport_state (key, value) VALUES (?1, ?2)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """) { stmt in
            sqlite3_bind_text(stmt, 1, key, Int32(key.utf8.count), Self.transient)
            sqlite3_bind_text(stmt, 2, value, Int32(value.utf8.count), Self.transient)
            guard sqlite3_step(stmt) == SQLITE_DONE else { throw failure("write '\(key)'") }
        }
    }

    /// Forgets `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: String) throws -> Bool {
        try statement("DELETE FROM moonport_state WHERE key = ?1") { stmt in
            sqlite3_bind_text(stmt, 1, key, Int32(key.utf8.count), Self.transient)
            guard sqlite3_step(stmt) == SQLITE_DONE else { throw failure("delete '\(key)'") }
            return sqlite3_changes(db) > 0
        }
    }

    /// Forgets every key that starts with `prefix` (in one transaction); returns how many.
    @discardableResult
    public func deletePrefix(_ prefix: String) throws -> Int {
        try statement("DELETE FROM moonport_state WHERE substr(key, 1, length(?1)) = ?1") { stmt in
            sqlite3_bind_text(stmt, 1, prefix, Int32(prefix.utf8.count), Self.transient)
            guard sqlite3_step(stmt) == SQLITE_DONE else { throw failure("delete the keys under '\(prefix)'") }
            return Int(sqlite3_changes(db))
        }
    }

    /// The keys that start with `prefix`, sorted.
    public func keys(prefix: String) throws -> [String] {
        try statement("SELECT key FROM moonport_state WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key") { stmt in
            sqlite3_bind_text(stmt, 1, prefix, Int32(prefix.utf8.count), Self.transient)
            var out: [String] = []
            while true {
                switch sqlite3_step(stmt) {
                case SQLITE_ROW: out.append(sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
                case SQLITE_DONE: return out
                default: throw failure("list the keys")
                }
            }
        }
    }

    public typealias Entry = StateEntry

    /// The rows whose key starts with `prefix`, sorted by key.
    public func entries(prefix: String) throws -> [Entry] {
        try statement("""
            SELECT key, value, updated_at FROM moonport_state
            WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key
            """) { stmt in
            sqlite3_bind_text(stmt, 1, prefix, Int32(prefix.utf8.count), Self.transient)
            var out: [Entry] = []
            while true {
                switch sqlite3_step(stmt) {
                case SQLITE_ROW:
                    func column(_ i: Int32) -> String { sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? "" }
                    out.append(Entry(key: column(0), value: column(1), storedAt: column(2)))
                case SQLITE_DONE: return out
                default: throw failure("list the keys")
                }
            }
        }
    }

    /// Stores `value` under `key` and forgets the keys under `clearing`, in one transaction.
    public func complete(_ key: String, _ value: String, clearing: String) throws {
        try exec("BEGIN IMMEDIATE")
        do {
            try set(key, value)
            try deletePrefix(clearing)
            try exec("COMMIT")
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    /// A record lock in `<path>-claims` (see FileClaims).
    public func tryClaim(_ name: String) throws -> Bool { try claims.tryClaim(name) }

    public func release(_ name: String) throws { try claims.release(name) }

    /// Opens an existing database only: nil when there is no file at `path`
    /// (so that looking at a database never creates one).
    public static func openExisting(path: String) throws -> StateStore? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return try StateStore(path: path)
    }

    // MARK: - SQLite

    /// SQLITE_TRANSIENT: SQLite copies the bound text.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw failure("prepare") }
    }

    private func statement<R>(_ sql: String, _ body: (OpaquePointer) throws -> R) throws -> R {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { throw failure("prepare") }
        defer { sqlite3_finalize(stmt) }
        return try body(stmt)
    }

    private func failure(_ what: String) -> LuaError {
        let why = db.map { String(cString: sqlite3_errmsg($0)) } ?? "not open"
        return LuaError(.usage, "state: cannot \(what) in '\(path)': \(why)")
    }

    /// `mkdir -p` of the database's folder (mode 0700: the state may name jobs and datasets).
    static func makeFolder(of path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let folder = String(path[..<slash])
        guard !folder.isEmpty else { return }
        var built = folder.hasPrefix("/") ? "" : "."
        for part in folder.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw LuaError.usage("state: cannot create the folder '\(built)' for '\(path)': \(String(cString: strerror(errno)))")
            }
        }
    }
}
