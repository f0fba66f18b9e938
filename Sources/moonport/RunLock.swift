import ArgumentParser
import LuaBridge
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `moonport run` does with the state store before the script runs:
/// a PostgreSQL store is reached at once (a database that is down is exit
/// code 4 before anything is sent to a vendor), and `--lock NAME` is taken
/// (held by another run sharing the store: exit 4 at once, or after
/// `--lock-wait SECONDS`). The lock is a claim of the store (an advisory
/// lock of the database session, or a record lock of a file beside the
/// SQLite database): it ends with this process, however it ends.
enum RunLock {
    /// `$MOONPORT_STATE` when set (the default of --state).
    static var environmentState: String? {
        guard let value = getenv("MOONPORT_STATE").map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }

    /// Opens the store when it is a URL or a lock is asked for, and takes the lock.
    /// Throws ScriptExit-compatible facts through `fail`.
    static func prepare(location: String, lock: String?, wait: Double?) throws(RunLockFailure) {
        guard lock != nil || StateStores.isURL(location) else { return }
        let shown = StateStores.display(location)
        let store: StateModule.SharedStore
        do {
            store = try StateModule.Database.shared(location).store()
        } catch let error as LuaError {
            throw RunLockFailure(code: code(for: error), message: error.message)
        } catch {
            throw RunLockFailure(code: Exit.temporary, message: "state: cannot open \(shown): \(error)")
        }
        guard let lock else { return }
        let deadline = RunSummary.clock() + max(0, wait ?? 0)
        var announced = false
        while true {
            let taken: Bool
            do {
                taken = try store.locked { try $0.tryClaim("lock\u{0}" + lock) }
            } catch let error as LuaError {
                throw RunLockFailure(code: code(for: error), message: error.message)
            } catch {
                throw RunLockFailure(code: Exit.temporary, message: "--lock \(lock): \(error)")
            }
            if taken { return }
            if RunSummary.clock() >= deadline {
                let waited = (wait ?? 0) > 0 ? " after waiting \(formatSeconds(wait ?? 0))" : ""
                throw RunLockFailure(code: Exit.temporary, message:
                    "--lock \(lock): another run sharing the state store \(shown) holds this lock\(waited); "
                    + "not running (exit code 4: a rerun later will run)")
            }
            if !announced {
                LogSink.shared.write(level: .info, "--lock \(lock): another run holds it; waiting up to \(formatSeconds(wait ?? 0))")
                announced = true
            }
            usleep(200_000)
        }
    }

    static func code(for error: LuaError) -> Int32 {
        switch error.kind {
        case .network, .timeout: return Exit.temporary
        case .auth: return Exit.auth
        case .usage, .validation: return Exit.usage
        default: return Exit.scriptError
        }
    }

    static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }
}

struct RunLockFailure: Error {
    var code: Int32
    var message: String
}
