import CLua
import CMoonport
import Synchronization

/// Owns one `lua_State` and drives its coroutines.
///
/// Exactly one thread uses a runtime: the one that created it. Lua code runs
/// in coroutines ("tasks"); a Swift binding that does I/O starts the work on
/// Swift's concurrency pool and suspends its coroutine (`LuaCall.suspend`).
/// When the work finishes, its value is posted to the runtime's inbox and the
/// owner resumes the coroutine. Nothing else ever touches the state.
public final class LuaRuntime {
    public let main: LuaState
    private let wake: WakeHandle
    private let inbox: Inbox
    private var operations: [UInt64: PendingOperation] = [:]
    private var deliveries: [OpaquePointer: PendingOperation] = [:]
    private var readyTasks: [LuaTask] = []
    private var liveTasks: [ObjectIdentifier: LuaTask] = [:]
    private var nextOperationID: UInt64 = 1
    /// The task whose coroutine runs now.
    public private(set) var currentTask: LuaTask?
    /// Set once Ctrl-C was seen while this runtime drove its tasks.
    public private(set) var interrupted = false

    public init() {
        guard let L = luaL_newstate() else { fatalError("cannot create a Lua state (out of memory)") }
        main = LuaState(L)
        wake = WakeHandle(mp_wake_new())
        inbox = Inbox(wake: wake)
        mp_extraspace(L).pointee = Unmanaged.passUnretained(self).toOpaque()
        luaL_openlibs(L)
        mp_gc_generational(L)  // as lua.c does: scripts behave (and perform) as under lua5.4
        mp_patch_coroutine_library(L)
    }

    deinit {
        for op in operations.values { op.work?.cancel() }
        mp_extraspace(main.L).pointee = nil
        lua_close(main.L)
        mp_wake_free(wake.pointer)
    }

    /// The runtime that owns a Lua thread (every thread shares the main
    /// state's extra space).
    static func owning(_ L: OpaquePointer) -> LuaRuntime? {
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
        main.unref(task.ref)
        if case .failure(let errorRef, _)? = task.outcome { main.unref(errorRef) }
    }

    /// The number of host operations in flight.
    public var pendingOperations: Int { operations.count }

    // MARK: tasks

    /// Makes a task of the function at `top - nargs` of the main stack and
    /// its arguments (all popped), and queues it to run.
    @discardableResult
    public func spawn(nargs: Int32, name: String = "task") -> LuaTask {
        let L = main.L
        let thread = lua_newthread(L)!
        mp_insert(L, -(nargs + 2))  // thread below the function and its arguments
        lua_xmove(L, thread, nargs + 1)
        let ref = main.ref()  // anchors the thread
        mp_mark_root(L, thread)
        let task = LuaTask(thread: thread, ref: ref, name: name, nargs: nargs)
        liveTasks[ObjectIdentifier(task)] = task
        readyTasks.append(task)
        return task
    }

    /// Runs the loop until `task` has finished (other tasks progress too).
    public func wait(for task: LuaTask) {
        drive { task.isFinished }
    }

    /// Runs the loop until no task can run and nothing is in flight.
    public func runUntilIdle() {
        drive { false }
    }

    /// The loop: resume what is ready, then sleep until an operation
    /// completes or Ctrl-C arrives.
    private func drive(until done: () -> Bool) {
        while true {
            while !readyTasks.isEmpty {
                let task = readyTasks.removeFirst()
                resume(task)
            }
            if done() { return }
            if operations.isEmpty { return }  // nothing can wake anything
            _ = mp_wake_wait(wake.pointer, -1)
            if mp_sigint_take() != 0 { interrupt() }
            for completion in inbox.drain() {
                guard let op = operations.removeValue(forKey: completion.id) else { continue }
                op.outcome = completion.outcome
                deliveries[op.coroutine] = op
                readyTasks.append(op.task)
            }
        }
    }

    /// Ctrl-C while tasks wait: cancel the work in flight and let each
    /// waiting coroutine fail with `kind = "interrupted"`.
    public func interrupt() {
        interrupted = true
        for (id, op) in operations {
            op.work?.cancel()
            operations[id] = nil
            op.outcome = .failure(LuaError(.interrupted, "interrupted"))
            deliveries[op.coroutine] = op
            readyTasks.append(op.task)
        }
    }

    private func resume(_ task: LuaTask) {
        guard !task.isFinished else { return }
        let previous = currentTask
        currentTask = task
        mp_set_running(task.thread)
        var nres: Int32 = 0
        let nargs = task.pendingArguments
        task.pendingArguments = 0
        let status = lua_resume(task.thread, main.L, nargs, &nres)
        mp_set_running(previous?.thread)
        currentTask = previous
        if mp_sigint_take() != 0 { interrupt() }
        let co = LuaState(task.thread)
        switch status {
        case LUA_OK:
            task.finish(.success(count: nres))
            liveTasks[ObjectIdentifier(task)] = nil
        case LUA_YIELD where nres == 1 && mp_is_wait_sentinel(task.thread, -1) != 0:
            co.pop()  // waiting for an operation; it will be made ready again
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
        let text = main.toString(-1) ?? "(error)"
        main.pop()
        task.finish(.failure(errorRef: errorRef, message: text))
        liveTasks[ObjectIdentifier(task)] = nil
    }

    // MARK: operations

    func startOperation<T: Sendable>(
        on coroutine: OpaquePointer, name: String,
        work: @escaping @Sendable () async throws -> T,
        deliver: @escaping (LuaState, T) throws -> Int32
    ) throws {
        guard let task = currentTask else {
            throw LuaError(.usage, "\(name) cannot wait outside a task")
        }
        let id = nextOperationID
        nextOperationID += 1
        let op = PendingOperation(id: id, coroutine: coroutine, task: task, name: name) { lua, value in
            guard let value = value as? T else { throw LuaError(.runtime, "\(name): result of an unexpected type") }
            return try deliver(lua, value)
        }
        operations[id] = op
        let inbox = self.inbox
        op.work = Task {
            let outcome: Result<any Sendable, any Error>
            do {
                outcome = .success(try await work())
            } catch {
                outcome = .failure(error)
            }
            inbox.post(Completion(id: id, outcome: outcome))
        }
    }

    /// Pushes the outcome of the operation the coroutine waited for.
    func deliver(to lua: LuaState) -> Int32 {
        guard let op = deliveries.removeValue(forKey: lua.L), let outcome = op.outcome else {
            lua.push(LuaError(.runtime, "a coroutine was resumed with no result to deliver"))
            return MP_RAISE
        }
        do {
            switch outcome {
            case .success(let value): return try op.deliver(lua, value)
            case .failure(let error): throw error
            }
        } catch {
            lua.pushRaised(error, function: op.name)
            return MP_RAISE
        }
    }
}

/// A coroutine driven by the runtime: a script's main chunk, a REPL line,
/// or (later) a `task.spawn`.
public final class LuaTask {
    public enum Outcome {
        /// Finished: `count` results are on top of `thread`'s stack.
        case success(count: Int32)
        /// Failed: the error object is anchored at `errorRef` in the registry;
        /// `message` is "message\nstack traceback: ...".
        case failure(errorRef: Int32, message: String)
    }

    public let thread: OpaquePointer
    public let ref: Int32
    public let name: String
    var pendingArguments: Int32
    var released = false
    public private(set) var outcome: Outcome?

    init(thread: OpaquePointer, ref: Int32, name: String, nargs: Int32) {
        self.thread = thread
        self.ref = ref
        self.name = name
        self.pendingArguments = nargs
    }

    public var isFinished: Bool { outcome != nil }

    func finish(_ outcome: Outcome) { self.outcome = outcome }
}

final class PendingOperation {
    let id: UInt64
    let coroutine: OpaquePointer
    let task: LuaTask
    let name: String
    let deliver: (LuaState, any Sendable) throws -> Int32
    var outcome: Result<any Sendable, any Error>?
    var work: Task<Void, Never>?

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

/// Completions posted from any thread, drained by the owner.
final class Inbox: Sendable {
    private let items = Mutex<[Completion]>([])
    private let wake: WakeHandle

    init(wake: WakeHandle) { self.wake = wake }

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
