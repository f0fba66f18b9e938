import LuaBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One stored row: its key (with its prefix: `v:` state.set, `once:`
/// state.once, `j:` the journal of a running once; `NAMESPACE\u{1E}` before
/// it outside the unnamed namespace), value and the time it was stored
/// (ISO-8601, UTC, milliseconds).
public struct StateEntry: Sendable, Equatable {
    public let key: String
    public let value: String
    public let storedAt: String

    public init(key: String, value: String, storedAt: String) {
        self.key = key
        self.value = value
        self.storedAt = storedAt
    }
}

/// The state store of resumable runs, whatever keeps it: `state.once`,
/// `state.get/set`, the exactly-once journal of the vendor bindings,
/// `moonport state` and `--lock` all go through this. Two implementations:
/// ``StateStore`` (SQLite, one machine, the default) and
/// ``PostgresStateStore`` (`--state postgres://...`, shared by workers on
/// many machines). Each call is synchronous (it waits for the database);
/// callers on the Lua thread run the slow ones off it.
public protocol StateBackend: AnyObject {
    /// The store as it may be shown: a path, or the URL without credentials.
    var location: String { get }

    /// The stored text, or nil.
    func get(_ key: String) throws -> String?
    /// Stores (or replaces) `value` under `key`; durable when it returns.
    func set(_ key: String, _ value: String) throws
    /// Forgets `key`; returns whether it was there.
    @discardableResult func delete(_ key: String) throws -> Bool
    /// Forgets every key that starts with `prefix`; returns how many.
    @discardableResult func deletePrefix(_ prefix: String) throws -> Int
    /// The keys that start with `prefix`, sorted (bytewise).
    func keys(prefix: String) throws -> [String]
    /// The rows whose key starts with `prefix`, sorted by key (bytewise).
    func entries(prefix: String) throws -> [StateEntry]
    /// Stores `value` under `key` and forgets every key that starts with
    /// `clearing`, in one transaction (a step's results and the end of its journal).
    func complete(_ key: String, _ value: String, clearing: String) throws

    /// Takes the claim `name` for this process if no other process sharing
    /// the store holds it; false when one does. The claim is tied to this
    /// process (its database session, or an open file), so it ends when the
    /// process ends, however it ends (SIGKILL, a lost machine). Within one
    /// process claims are not exclusive: the caller keeps its own tasks apart.
    func tryClaim(_ name: String) throws -> Bool
    /// Gives back a claim taken with ``tryClaim(_:)``.
    func release(_ name: String) throws
}

extension StateBackend {
    public func keys() throws -> [String] { try keys(prefix: "") }
    public func entries() throws -> [StateEntry] { try entries(prefix: "") }
}

/// Opening a state store from what `--state` / `$MOONPORT_STATE` says.
public enum StateStores {
    /// `postgres://` or `postgresql://`: a PostgreSQL URL, not a path.
    public static func isURL(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    /// `location` as it may be shown: a URL without its credentials.
    public static func display(_ location: String) -> String {
        isURL(location) ? PostgresStateStore.Settings.redacted(location) : location
    }

    /// Opens (creating what is missing) the store at `location`.
    public static func open(_ location: String) throws -> any StateBackend {
        if isURL(location) { return try PostgresStateStore(url: location) }
        return try StateStore(path: location)
    }

    /// Opens an existing store only: nil when there is no SQLite file at
    /// `location` (looking never creates one). A PostgreSQL store is
    /// opened (its table is created if missing: an empty store).
    public static func openExisting(_ location: String) throws -> (any StateBackend)? {
        if isURL(location) { return try PostgresStateStore(url: location) }
        return try StateStore.openExisting(path: location)
    }

    /// A 63-bit hash of a claim's name (FNV-1a): the advisory-lock key in
    /// PostgreSQL, the byte offset of the record lock in SQLite's lock file.
    public static func claimHash(_ name: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return Int64(bitPattern: h & 0x3FFF_FFFF_FFFF_FFFF)
    }
}

/// Claims in a SQLite store: POSIX record locks on one byte each of a lock
/// file beside the database (`<db>-claims`), at the claim's hash. The
/// kernel drops a process's record locks when it ends, however it ends.
final class FileClaims {
    let path: String
    private var fd: Int32 = -1

    init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    private func descriptor() throws -> Int32 {
        if fd >= 0 { return fd }
        let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            throw LuaError.usage("state: cannot open the lock file '\(path)': \(String(cString: strerror(errno)))")
        }
        fd = opened
        return fd
    }

    private func lock(_ name: String, type: Int32) throws -> Bool {
        let fd = try descriptor()
        var record = flock()
        record.l_type = Int16(type)
        record.l_whence = Int16(SEEK_SET)
        record.l_start = off_t(StateStores.claimHash(name) >> 1)
        record.l_len = 1
        while fcntl(fd, F_SETLK, &record) != 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EACCES { return false }
            throw LuaError.usage("state: cannot lock '\(path)': \(String(cString: strerror(errno)))")
        }
        return true
    }

    func tryClaim(_ name: String) throws -> Bool { try lock(name, type: Int32(F_WRLCK)) }

    func release(_ name: String) throws { _ = try lock(name, type: Int32(F_UNLCK)) }
}
