import CLua
import LuaBridge
import Synchronization

/// `require "moonport.state"`: the primitives under stdlib/state.lua, over
/// the state database (opened when first used, so a script that never
/// touches `state` creates no file).
///   get(key) -> text | nil; set(key, text) (waits for the disk, others run);
///   delete(key) -> existed; keys(prefix) -> {key...}; entries(prefix) -> {{key=, stored_at=}...};
///   complete(key, text, clearing) (one transaction); claim(name) -> taken; release(name);
///   path() -> the database path (a URL without credentials); namespace() -> --namespace or nil
public enum StateModule {
    /// `--namespace NAME` of this process (nil: derived from the script's name, see stdlib/state.lua).
    nonisolated(unsafe) public static var namespace: String?

    static func builtin(path: String) -> BuiltinModule {
        let database = Database.shared(path)
        return BuiltinModule(name: "moonport.state") { call in
            let lua = call.lua
            lua.newTable(recordCount: 5)
            lua.setFunction(-1, "get", qualifiedName: "state.get") { call in
                let key = try call.string(1, "key")
                guard let text = try database.store().get(key) else { return call.results(.nil) }
                return call.results(.text(text))
            }
            lua.setFunction(-1, "set", qualifiedName: "state.set") { call in
                let key = try call.string(1, "key")
                let text = try call.string(2, "value")
                let store = try database.store()
                // The write waits for fsync: off the Lua thread, so other tasks run meanwhile.
                return try call.suspend({ try store.locked { try $0.set(key, text) } }, deliver: { _, _ in 0 })
            }
            lua.setFunction(-1, "delete", qualifiedName: "state.delete") { call in
                let key = try call.string(1, "key")
                let store = try database.store()
                return try call.suspend({ try store.locked { try $0.delete(key) } }, deliver: { lua, existed in
                    lua.push(existed)
                    return 1
                })
            }
            lua.setFunction(-1, "delete_prefix", qualifiedName: "state.delete_prefix") { call in
                let prefix = try call.string(1, "prefix")
                guard !prefix.isEmpty else { throw LuaError.validation("state.delete_prefix: the prefix must not be empty") }
                let store = try database.store()
                return try call.suspend({ try store.locked { try $0.deletePrefix(prefix) } }, deliver: { lua, count in
                    lua.push(Int64(count))
                    return 1
                })
            }
            lua.setFunction(-1, "keys", qualifiedName: "state.keys") { call in
                let prefix = try call.optionalString(1, "prefix") ?? ""
                let keys = try database.store().locked { try $0.keys(prefix: prefix) }
                return call.results(.table(Dictionary(uniqueKeysWithValues: keys.enumerated().map {
                    (LuaValue.integer(Int64($0.offset + 1)), LuaValue.text($0.element))
                })))
            }
            lua.setFunction(-1, "entries", qualifiedName: "state.entries") { call in
                let prefix = try call.optionalString(1, "prefix") ?? ""
                let rows = try database.store().locked { try $0.entries(prefix: prefix) }
                return call.results(.table(Dictionary(uniqueKeysWithValues: rows.enumerated().map {
                    (LuaValue.integer(Int64($0.offset + 1)),
                     LuaValue.record(["key": .text($0.element.key), "stored_at": .text($0.element.storedAt)]))
                })))
            }
            lua.setFunction(-1, "complete", qualifiedName: "state.once") { call in
                let key = try call.string(1, "key")
                let text = try call.string(2, "value")
                let clearing = try call.string(3, "clearing")
                let store = try database.store()
                return try call.suspend({ try store.locked { try $0.complete(key, text, clearing: clearing) } }, deliver: { _, _ in 0 })
            }
            lua.setFunction(-1, "claim", qualifiedName: "state.once") { call in
                let name = try call.string(1, "name")
                let store = try database.store()
                return try call.suspend({ try store.locked { try $0.tryClaim(name) } }, deliver: { lua, taken in
                    lua.push(taken)
                    return 1
                })
            }
            lua.setFunction(-1, "release", qualifiedName: "state.once") { call in
                let name = try call.string(1, "name")
                try database.store().locked { try $0.release(name) }
                return call.results()
            }
            lua.setFunction(-1, "path", qualifiedName: "state.path") { call in
                call.results(.text(StateStores.display(path)))
            }
            lua.setFunction(-1, "namespace", qualifiedName: "state.namespace") { call in
                guard let namespace = StateModule.namespace else { return call.results(.nil) }
                return call.results(.text(namespace))
            }
            return .results(1)
        }
    }

    /// The database, opened on first use; an open that failed is retried
    /// next time. One per location in a process, so that `--lock` (taken
    /// before the script runs) and the script's `state` share a connection.
    public final class Database: Sendable {
        public let path: String
        private let opened = Mutex<SharedStore?>(nil)
        private static let all = Mutex<[String: Database]>([:])

        init(path: String) { self.path = path }

        public static func shared(_ path: String) -> Database {
            all.withLock { all in
                if let known = all[path] { return known }
                let made = Database(path: path)
                all[path] = made
                return made
            }
        }

        public func store() throws -> SharedStore {
            try opened.withLock { box in
                if let box { return box }
                let store = SharedStore(try StateStores.open(path))
                box = store
                return store
            }
        }
    }

    /// One store (a SQLite or PostgreSQL connection) used from the Lua
    /// thread and from the tasks that write, one at a time.
    public final class SharedStore: @unchecked Sendable {
        private let store: any StateBackend
        private let lock = Mutex(())

        init(_ store: any StateBackend) { self.store = store }

        public func locked<R>(_ body: (any StateBackend) throws -> R) throws -> R {
            try lock.withLock { _ in try body(store) }
        }

        func get(_ key: String) throws -> String? { try locked { try $0.get(key) } }
    }
}
