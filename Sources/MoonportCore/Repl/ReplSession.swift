import CLua
import CMoonport
import LuaBridge

/// The REPL without a terminal: input accumulation, "return" first, running
/// each chunk as a task, formatting the results, completion.
///
/// As the standalone `lua` does, a line is first compiled as
/// `return <line>` (so an expression shows its values; a leading `=` also
/// means `return`), then as it is. A syntax error that ends in `<eof>` means
/// the input is not finished: the next line is appended (prompt `>> `).
/// Each chunk runs as a task of the host's runtime, so calls that wait for
/// I/O work at the prompt. `local` variables do not survive between chunks.
public final class ReplSession {
    /// What one line of input led to.
    public enum Outcome: Equatable, Sendable {
        /// A blank line with nothing pending.
        case empty
        /// The chunk is not finished: show the continuation prompt.
        case incomplete
        /// The chunk ran; its results, each formatted (print them joined by tabs).
        case success([String])
        /// A syntax error, or a runtime error with its traceback.
        case failure(String)
        /// Ctrl-C stopped the chunk (the message says where).
        case interrupted(String)
        /// The chunk ran (its results), but a task started earlier failed
        /// with nobody waiting for it: never swallowed, reported as an error.
        case taskFailed(results: [String], message: String)
    }

    public let host: MoonportHost
    public var formatter: ValueFormatter
    /// The chunk name given to `load` (errors read "stdin:1: ...").
    public var chunkName = "=stdin"
    private var pending: [String] = []

    public static let prompt = "> "
    public static let continuationPrompt = ">> "

    public init(host: MoonportHost, formatter: ValueFormatter = ValueFormatter()) {
        self.host = host
        self.formatter = formatter
        ReplHelp.install(in: host.lua)
    }

    /// True while an unfinished chunk waits for more lines.
    public var isContinuing: Bool { !pending.isEmpty }

    /// The prompt to show before the next line.
    public var prompt: String { pending.isEmpty ? Self.prompt : Self.continuationPrompt }

    /// The lines of the unfinished chunk.
    public var pendingInput: String { pending.joined(separator: "\n") }

    /// Forgets the unfinished chunk (Ctrl-C at the prompt).
    public func cancelInput() { pending.removeAll() }

    /// Takes one line (without its newline; it may hold several lines).
    public func feed(_ line: String) -> Outcome {
        if pending.isEmpty && line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return .empty }
        pending.append(line)
        var source = pending.joined(separator: "\n")
        if source.hasPrefix("=") { source = "return " + source.dropFirst() }

        let asReturn = compile("return " + source)
        if case .loaded = asReturn { return run() }
        let asStatement = compile(source)
        switch (asReturn, asStatement) {
        case (_, .loaded):
            return run()
        case (.incomplete, _), (_, .incomplete):
            return .incomplete
        case (_, .failed(let message)):
            pending.removeAll()
            return .failure(message)
        }
    }

    /// End of input: an unfinished chunk is a syntax error (nil if none).
    public func finishInput() -> Outcome? {
        guard !pending.isEmpty else { return nil }
        var source = pending.joined(separator: "\n")
        if source.hasPrefix("=") { source = "return " + source.dropFirst() }
        pending.removeAll()
        // Prefer the message that says what is missing ("'}' expected near <eof>").
        var messages: [(incomplete: Bool, text: String)] = []
        for candidate in [source, "return " + source] {
            switch compile(candidate) {
            case .loaded:
                host.lua.pop()
                return nil
            case .incomplete(let message): messages.append((true, message))
            case .failed(let message): messages.append((false, message))
            }
        }
        return .failure((messages.first(where: \.incomplete) ?? messages[0]).text)
    }

    /// Tab completion for the text before the cursor.
    public func complete(_ textBeforeCursor: String) -> Completion {
        LuaCompleter.complete(textBeforeCursor, in: host.lua)
    }

    // MARK: compiling and running

    private enum Compiled {
        /// The chunk is on top of the main stack.
        case loaded
        case incomplete(String)
        case failed(String)
    }

    private func compile(_ source: String) -> Compiled {
        let lua = host.lua
        lua.ensureStack(2)
        if lua.load(source, name: chunkName) == LUA_OK { return .loaded }
        let message = lua.toString(-1) ?? "(syntax error)"
        lua.pop()
        return message.hasSuffix("<eof>") ? .incomplete(message) : .failed(message)
    }

    /// Runs the chunk on top of the main stack as a task.
    private func run() -> Outcome {
        pending.removeAll()
        let runtime = host.runtime
        // Ctrl-C after the line was read and before Lua runs: the chunk is
        // interrupted before it starts (the front end clears stale ones).
        if mp_sigint_take() != 0 {
            host.lua.pop()
            return .interrupted("interrupted")
        }
        runtime.clearInterrupted()
        let task = runtime.spawn(nargs: 0, name: "stdin")
        runtime.wait(for: task)
        defer {
            runtime.release(task)
            runtime.clearInterrupted()
        }
        switch task.outcome {
        case .success(let count)?:
            let results = formatResults(of: task, count: count)
            if let failed = host.takeUnobservedFailures() { return .taskFailed(results: results, message: failed) }
            return .success(results)
        case .failure(_, let message)?:
            return runtime.interrupted ? .interrupted(message) : .failure(message)
        case nil:
            return .failure("stdin: the chunk stopped while waiting for an operation that never finished")
        }
    }

    /// Formats the results left on the finished coroutine's stack (and pops
    /// them). `__tostring` runs there under pcall; Ctrl-C stops a runaway one.
    private func formatResults(of task: LuaTask, count: Int32) -> [String] {
        guard count > 0 else { return [] }
        let co = LuaState(task.thread)
        mp_set_running(task.thread)
        defer {
            mp_set_running(nil)
            lua_sethook(task.thread, nil, 0, 0)
            co.pop(count)
        }
        let base = co.top - count + 1
        return (0..<count).map { formatter.format(co, at: base + $0) }
    }
}
