import CLua
import CMoonport
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one `lua_State` and drives its coroutines.
///
/// Exactly one thread uses a runtime: the one that created it. Lua code runs
/// in coroutines ("tasks"); a Swift binding that does I/O starts the work on
/// Swift's concurrency pool and suspends its coroutine (`LuaCall.suspend`):
/// the runtime keeps a `Suspension` until the work ends, its value is posted
/// to the runtime's inbox, and the owner resumes the coroutine, whose call
/// then delivers its results. Nothing else ever touches the state.
public final class LuaRuntime {
    public let main: LuaState
    private let wake: WakeHandle
    private let inbox: Inbox
    /// Suspensions whose work is in flight (or that wait for a task), by id.
    private var suspensions: [UInt64: Suspension] = [:]
    /// Suspensions that ended, by coroutine: resuming it delivers the outcome.
    private var ended: [OpaquePointer: Suspension] = [:]
    private var readyTasks: [LuaTask] = []
    private var liveTasks: [ObjectIdentifier: LuaTask] = [:]
    private var finishedDetached: [LuaTask] = []
    private var nextSuspensionID: UInt64 = 1
    /// The task whose coroutine runs now.
    public private(set) var currentTask: LuaTask?
    /// Set once Ctrl-C was seen while this runtime drove its tasks.
    public private(set) var interrupted = false

    /// `memoryLimit`: bytes the Lua heap may hold (nil: no limit). Past it,
    /// Lua code gets the catchable "not enough memory" error, and an
    /// allocation made from Swift stops the process (see moonport_shim.h).
    public init(memoryLimit: Int? = LuaRuntime.configuredMemoryLimit) {
        guard let L = luaL_newstate(), mp_heap_install(L, max(memoryLimit ?? 0, 0)) != 0 else {
            fatalError("cannot create a Lua state (out of memory)")
        }
        main = LuaState(L)
        inbox = Inbox()
        wake = inbox.wake
        mp_extraspace(L).pointee = Unmanaged.passUnretained(self).toOpaque()
        luaL_openlibs(L)
        mp_gc_generational(L)  // as lua.c does: scripts behave (and perform) as under lua5.4
        mp_patch_coroutine_library(L)
    }

    deinit {
        for suspension in suspensions.values { suspension.cancelWork() }
        mp_extraspace(main.L).pointee = nil
        mp_heap_close(main.L)
        // The semaphore belongs to the inbox: work still finishing after this
        // (a cancelled request) posts to it safely; it is freed with the inbox.
    }

    /// `MOONPORT_LUA_MEMORY_LIMIT_MB`: a limit on the Lua heap, in MiB.
    public static var configuredMemoryLimit: Int? {
        guard let raw = getenv("MOONPORT_LUA_MEMORY_LIMIT_MB"), let mib = Int(String(cString: raw)), mib > 0 else {
            return nil
        }
        return mib.multipliedReportingOverflow(by: 1 << 20).overflow ? nil : mib << 20
    }

    /// The runtime that owns a Lua thread (every thread shares the main
    /// state's extra space).
    public static func owning(_ L: OpaquePointer) -> LuaRuntime? {
        guard let raw = mp_extraspace(L).pointee else { return nil }
        return Unmanaged<LuaRuntime>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Ctrl-C from now on sets a hook on the running coroutine and wakes the
    /// loop; the next Ctrl-C after one was handled does the same.
    public func catchInterrupts() {
        mp_sigint_install(wake.pointer)
    }

    /// Forgets an interrupt that was handled (the REPL goes on after Ctrl-C):
    /// clears `interrupted` and any Ctrl-C not yet seen by the loop.
    public func clearInterrupted() {
        interrupted = false
        _ = mp_sigint_take()
    }

    /// Forgets a finished task: its coroutine and error object can be collected.
    public func release(_ task: LuaTask) {
        guard task.isFinished, !task.released else { return }
        task.released = true
        if let r = task.threadRef { main.unref(r) }
        task.threadRef = nil
        if let r = task.resultsRef { main.unref(r) }
        task.resultsRef = nil
        if case .failure(let errorRef, _)? = task.outcome { main.unref(errorRef) }
        finishedDetached.removeAll { $0 === task }
    }

    /// The number of suspended calls not yet ended.
    public var pendingSuspensions: Int { suspensions.count }

    // MARK: tasks

    /// Makes a task of the function at `top - nargs` of `lua`'s stack (the
    /// main state by default) and its arguments (all popped), and queues it
    /// to run. `detached` tasks are the script's own (`task.spawn`): if one
    /// fails and nobody waits for it, `unobservedFailures` reports it.
    @discardableResult
    public func spawn(on lua: LuaState? = nil, nargs: Int32, name: String = "task", detached: Bool = false) -> LuaTask {
        let L = (lua ?? main).L
        let thread = lua_newthread(L)!
        mp_insert(L, -(nargs + 2))  // thread below the function and its arguments
        lua_xmove(L, thread, nargs + 1)
        mp_mark_root(L, thread)
        let ref = luaL_ref(L, mp_registryindex())  // anchors the thread
        let task = LuaTask(thread: thread, ref: ref, name: name, nargs: nargs)
        task.runtime = self
        task.detached = detached
        liveTasks[ObjectIdentifier(task)] = task
        readyTasks.append(task)
        return task
    }

    /// Suspends the coroutine of `lua` until `target` has finished; then
    /// `deliver` runs on the owner and pushes the call's results.
    public func suspend(
        _ lua: LuaState, until target: LuaTask, name: String, deliver: @escaping (LuaState) throws -> Int32
    ) throws -> LuaReturn {
        let waiter = try checkCanSuspend(lua, name: name)
        guard waiter !== target else { throw LuaError(.usage, "\(name): a task cannot wait for itself") }
        let suspension = newSuspension(on: lua.L, task: waiter, name: name) { lua, _ in try deliver(lua) }
        suspension.isLocal = true
        target.waiters.append(suspension.id)
        return .suspended
    }

    /// Can the call `name`, running on `lua`, suspend its coroutine? The one
    /// check for every suspending call: it needs a task the runtime drives,
    /// and a coroutine that can yield here (not inside a metamethod, a C
    /// iterator such as table.sort's comparator, or the REPL's printer).
    /// Returns the task to resume when the suspension ends.
    func checkCanSuspend(_ lua: LuaState, name: String) throws -> LuaTask {
        guard lua_isyieldable(lua.L) != 0 else {
            throw LuaError(
                .usage,
                "\(name) cannot wait here: it was called from code that cannot be suspended "
                    + "(a metamethod, a C iterator such as table.sort's comparator, or the REPL's printer)")
        }
        guard let task = currentTask else { throw LuaError(.usage, "\(name) cannot wait outside a task") }
        return task
    }

    /// Wakes what waits for a task that just finished.
    private func wakeWaiters(of task: LuaTask) {
        let ids = task.waiters
        task.waiters.removeAll()
        for id in ids {
            guard let suspension = suspensions.removeValue(forKey: id) else { continue }
            end(suspension, .success(Done()))
        }
    }

    /// Tasks of the script's own that failed and that nobody waited for.
    public var unobservedFailures: [LuaTask] {
        finishedDetached.filter { !$0.observed && $0.failed }
    }

    /// Tasks that still wait (for each other, or for a task that waits): a deadlock.
    public var stuckTasks: [LuaTask] { Array(liveTasks.values) }

    /// Runs the loop until `task` has finished (other tasks progress too).
    public func wait(for task: LuaTask) {
        drive { task.isFinished }
    }

    /// Runs the loop until no task can run and nothing is in flight.
    public func runUntilIdle() {
        drive { false }
    }

    /// The loop: resume what is ready, then sleep until a suspension ends
    /// or Ctrl-C arrives.
    private func drive(until done: () -> Bool) {
        while true {
            while !readyTasks.isEmpty {
                let task = readyTasks.removeFirst()
                resume(task)
            }
            if done() { return }
            // Only work in flight off the Lua thread can wake anything.
            if !suspensions.values.contains(where: { !$0.isLocal }) { return }
            _ = mp_wake_wait(wake.pointer, -1)
            if mp_sigint_take() != 0 { interrupt() }
            for completion in inbox.drain() {
                guard let suspension = suspensions.removeValue(forKey: completion.id) else { continue }
                end(suspension, completion.outcome)
            }
        }
    }

    /// Ctrl-C while tasks wait: cancel the work in flight and let each
    /// suspended coroutine fail with `kind = "interrupted"`.
    public func interrupt() {
        interrupted = true
        for (id, suspension) in suspensions {
            suspension.cancelWork()
            suspensions[id] = nil
            end(suspension, .failure(LuaError(.interrupted, "interrupted")))
        }
    }

    /// A suspension ended: its task runs again and its call delivers `outcome`.
    private func end(_ suspension: Suspension, _ outcome: Result<any Sendable, any Error>) {
        suspension.outcome = outcome
        ended[suspension.coroutine] = suspension
        readyTasks.append(suspension.task)
    }

    private func resume(_ task: LuaTask) {
        guard !task.isFinished else { return }
        let previous = currentTask
        currentTask = task
        mp_set_running(task.thread)
        var nres: Int32 = 0
        let nargs = task.pendingArguments
        task.pendingArguments = 0
        let status = mp_resume(task.thread, main.L, nargs, &nres)
        mp_set_running(previous?.thread)
        currentTask = previous
        if mp_sigint_take() != 0 { interrupt() }
        let co = LuaState(task.thread)
        switch status {
        case LUA_OK:
            finished(task, .success(count: nres))
        case LUA_YIELD where nres == 1 && mp_is_suspend_marker(task.thread, -1) != 0:
            co.pop()  // suspended; made ready again when its suspension ends
        case LUA_YIELD:
            co.pop(nres)
            co.push("attempt to yield from outside a coroutine")
            fail(task, status: LUA_ERRRUN)
        default:
            fail(task, status: status)
        }
    }

    /// Records a failed task: its error object (anchored) and a message with
    /// the coroutine's traceback.
    private func fail(_ task: LuaTask, status: Int32) {
        let L = main.L
        main.ensureStack(4)
        lua_xmove(task.thread, L, 1)  // the error object
        main.pushValue(at: -1)
        let errorRef = main.ref()
        mp_error_with_traceback(L, task.thread)
        var text = main.toString(-1) ?? "(error)"
        main.pop()
        // An error that came out of another task (task.wait) carries its traceback.
        let base = main.top
        main.pushRef(errorRef)
        if main.type(at: -1) == LUA_TTABLE, main.rawGet(-1, "traceback") == LUA_TSTRING, let inner = main.toString(-1) {
            text += "\n" + inner
        }
        main.top = base
        finished(task, .failure(errorRef: errorRef, message: text))
    }

    private func finished(_ task: LuaTask, _ outcome: LuaTask.Outcome) {
        task.finish(outcome)
        liveTasks[ObjectIdentifier(task)] = nil
        if task.detached {
            // Keep the results (or the error) and let the coroutine go.
            if case .success(let count) = outcome {
                let L = main.L
                main.ensureStack(count + 2)
                main.newTable(arrayCount: count, recordCount: 1)
                lua_xmove(task.thread, L, count)
                for i in stride(from: count, through: 1, by: -1) { lua_rawseti(L, -1 - i, lua_Integer(i)) }
                main.push(Int64(count))
                main.rawSet(-2, "n")
                task.resultsRef = main.ref()
            } else {
                finishedDetached.append(task)
            }
            if let r = task.threadRef { main.unref(r) }
            task.threadRef = nil
        }
        wakeWaiters(of: task)
    }

    /// Pushes a finished detached task's results (returns their count), or
    /// pushes its error and throws `LuaErrorOnStack`. Marks it observed.
    public func pushOutcome(of task: LuaTask, on lua: LuaState) throws -> Int32 {
        task.observed = true
        finishedDetached.removeAll { $0 === task }
        switch task.outcome {
        case .success?:
            guard let r = task.resultsRef else { return 0 }
            lua.pushRef(r)
            lua.rawGet(-1, "n")
            let n = Int32(truncatingIfNeeded: lua_tointegerx(lua.L, -1, nil))
            lua.pop()
            lua.ensureStack(n + 1)
            for i in 1...max(n, 1) where n > 0 { lua_rawgeti(lua.L, -Int32(i), lua_Integer(i)) }
            mp_remove(lua.L, -(n + 1))
            return n
        case .failure(let errorRef, let message)?:
            lua.ensureStack(4)
            lua.pushRef(errorRef)
            if lua.type(at: -1) == LUA_TTABLE {
                if lua.rawGet(-1, "traceback") == LUA_TNIL {
                    lua.pop()
                    lua.push("task '\(task.name)' failed: \(message)")
                    lua.rawSet(-2, "traceback")
                } else {
                    lua.pop()
                }
            } else {
                lua.pop()
                lua.push(message)
            }
            throw LuaErrorOnStack()
        case nil:
            throw LuaError(.runtime, "task '\(task.name)' has not finished")
        }
    }

    // MARK: suspensions

    /// Suspends the calling coroutine (after `checkCanSuspend`) while `work`
    /// runs on Swift's concurrency pool.
    func suspend<T: Sendable>(
        _ lua: LuaState, name: String,
        work: @escaping @Sendable () async throws -> T,
        deliver: @escaping (LuaState, T) throws -> Int32
    ) throws {
        let suspension = try newSuspension(lua, name: name, deliver: deliver)
        let (id, inbox) = (suspension.id, self.inbox)
        suspension.work = Task {
            let outcome: Result<any Sendable, any Error>
            do {
                outcome = .success(try await work())
            } catch {
                outcome = .failure(error)
            }
            inbox.post(Completion(id: id, outcome: outcome))
        }
    }

    /// A new suspension of the calling coroutine, in `suspensions`.
    private func newSuspension<T: Sendable>(
        _ lua: LuaState, name: String, deliver: @escaping (LuaState, T) throws -> Int32
    ) throws -> Suspension {
        let task = try checkCanSuspend(lua, name: name)
        return newSuspension(on: lua.L, task: task, name: name) { lua, value in
            guard let value = value as? T else { throw LuaError(.runtime, "\(name): result of an unexpected type") }
            return try deliver(lua, value)
        }
    }

    private func newSuspension(
        on coroutine: OpaquePointer, task: LuaTask, name: String,
        deliver: @escaping (LuaState, any Sendable) throws -> Int32
    ) -> Suspension {
        let id = nextSuspensionID
        nextSuspensionID += 1
        let suspension = Suspension(id: id, coroutine: coroutine, task: task, name: name, deliver: deliver)
        suspensions[id] = suspension
        return suspension
    }

    /// Like `suspend(work:)`, for work that reports back through a callback
    /// called on any thread (an event loop), with no Swift task in between;
    /// `start` returns what stops the work on Ctrl-C.
    func suspend<T: Sendable>(
        _ lua: LuaState, name: String,
        start: (@escaping @Sendable (Result<T, any Error>) -> Void) -> @Sendable () -> Void,
        deliver: @escaping (LuaState, T) throws -> Int32
    ) throws {
        let suspension = try newSuspension(lua, name: name, deliver: deliver)
        let (id, inbox) = (suspension.id, self.inbox)
        suspension.cancel = start { result in
            inbox.post(Completion(id: id, outcome: result.map { $0 as any Sendable }))
        }
    }

    /// Pushes the results of the suspended call of the coroutine just resumed.
    func deliver(to lua: LuaState) -> Int32 {
        guard let suspension = ended.removeValue(forKey: lua.L), let outcome = suspension.outcome else {
            lua.push(LuaError(.runtime, "a coroutine was resumed with no result to deliver"))
            return MP_RAISE
        }
        do {
            switch outcome {
            case .success(let value): return try suspension.deliver(lua, value)
            case .failure(let error): throw error
            }
        } catch {
            lua.pushRaised(error, function: suspension.name)
            return MP_RAISE
        }
    }
}

/// A coroutine driven by the runtime: a script's main chunk, a REPL line,
/// or a `task.spawn`.
public final class LuaTask: LuaObject {
    public static let luaTypeName = "moonport.task"

    public enum Outcome {
        /// Finished: `count` results are on top of `thread`'s stack.
        case success(count: Int32)
        /// Failed: the error object is anchored at `errorRef` in the registry;
        /// `message` is "message\nstack traceback: ...".
        case failure(errorRef: Int32, message: String)
    }

    public let thread: OpaquePointer
    /// Anchors the coroutine in the registry while it may run or be read.
    public internal(set) var threadRef: Int32?
    /// A finished detached task's results, as {n=, ...}.
    var resultsRef: Int32?
    public let name: String
    var pendingArguments: Int32
    var released = false
    /// Started by the script (task.spawn), not by the host.
    public internal(set) var detached = false
    /// Someone took its results or its error (task.wait).
    public var observed = false
    var waiters: [UInt64] = []
    weak var runtime: LuaRuntime?
    public private(set) var outcome: Outcome?

    public var failed: Bool {
        if case .failure? = outcome { return true }
        return false
    }

    deinit {
        // Collected (its handle was): let Lua collect its coroutine too.
        if let runtime, !released, isFinished { runtime.release(self) }
    }

    init(thread: OpaquePointer, ref: Int32, name: String, nargs: Int32) {
        self.thread = thread
        self.threadRef = ref
        self.name = name
        self.pendingArguments = nargs
    }

    public var isFinished: Bool { outcome != nil }

    func finish(_ outcome: Outcome) { self.outcome = outcome }
}

/// A Swift call that suspended its coroutine: what it waits for, and how
/// it delivers its results when the coroutine is resumed.
final class Suspension {
    let id: UInt64
    let coroutine: OpaquePointer
    let task: LuaTask
    let name: String
    let deliver: (LuaState, any Sendable) throws -> Int32
    var outcome: Result<any Sendable, any Error>?
    var work: Task<Void, Never>?
    /// Stops work started without a Swift task (an event-loop callback).
    var cancel: (@Sendable () -> Void)?
    /// Waits for something on the Lua thread (another task), not for Swift work.
    var isLocal = false

    func cancelWork() {
        work?.cancel()
        cancel?()
    }

    init(
        id: UInt64, coroutine: OpaquePointer, task: LuaTask, name: String,
        deliver: @escaping (LuaState, any Sendable) throws -> Int32
    ) {
        self.id = id
        self.coroutine = coroutine
        self.task = task
        self.name = name
        self.deliver = deliver
    }
}

/// The value of a suspension on another task (task.wait) that ended.
struct Done: Sendable {}

struct Completion: Sendable {
    let id: UInt64
    let outcome: Result<any Sendable, any Error>
}

/// The semaphore the owner sleeps on (posted by completions and by Ctrl-C).
struct WakeHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { fatalError("cannot create a semaphore") }
        self.pointer = pointer
    }
}

/// Completions posted from any thread, drained by the owner. It owns the
/// semaphore the owner sleeps on; every piece of work in flight holds the
/// inbox, so a completion never posts to a freed semaphore.
final class Inbox: Sendable {
    private let items = Mutex<[Completion]>([])
    let wake = WakeHandle(mp_wake_new())

    deinit { mp_wake_free(wake.pointer) }

    func post(_ completion: Completion) {
        items.withLock { $0.append(completion) }
        mp_wake_post(wake.pointer)
    }

    func drain() -> [Completion] {
        items.withLock { items in
            let out = items
            items.removeAll()
            return out
        }
    }
}
