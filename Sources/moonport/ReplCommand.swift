import ArgumentParser
import CEditline
import CMoonport
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ReplCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "An interactive Lua prompt with moonport's modules (reads stdin line by line when it is not a terminal).",
        discussion: """
            On a terminal: line editing and history (libedit; the history file is ~/.moonport/history, \
            or $MOONPORT_HISTORY; set it empty for none), Tab completes globals and fields, Ctrl-C cancels \
            the line or stops the running chunk, Ctrl-D on an empty line exits.

            An expression shows its values (`1+1` prints 2; `=x` is `return x`); an unfinished chunk \
            continues on the next line (prompt >>). Each chunk runs as a task, so calls that wait for I/O \
            work; `local` variables do not outlive their chunk.

            When stdin is not a terminal, lines are read without prompts: results go to stdout, errors to \
            stderr. Exit codes: 0 at the end of input when every chunk ran, 1 if any chunk failed (a syntax \
            or runtime error, or an unfinished chunk at the end), 130 if Ctrl-C stopped it.
            """
    )

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.applyOutput()
        let sandbox = try runtime.startSandbox()
        defer { sandbox?.stop() }
        let options = runtime.hostOptions(script: nil, sandbox: sandbox)
        try startTracing(options)
        let host = MoonportHost(options: options)
        host.setArguments(script: nil, arguments: [], interpreter: CommandLine.arguments[0])
        host.catchInterrupts()
        let session = ReplSession(host: host)
        if isatty(0) != 0 {
            setlocale(LC_CTYPE, "")  // libedit reads and shows UTF-8 as characters
            let editor = LineEditor(
                program: "moonport", historyPath: LineEditor.defaultHistoryPath(),
                completer: { [unowned session] text in session.complete(text) })
            if let editor {
                writeText(Self.banner(sandbox: sandbox != nil) + "\n", to: 1)
                interactive(session, editor)
                editor.close()
                return
            }
        }
        let status = piped(session)
        if status != 0 { throw ExitCode(status) }
    }

    /// The one line the REPL opens with on a terminal.
    static func banner(sandbox: Bool) -> String {
        "moonport \(MoonportModule.version) (Lua 5.4): help() to start, Ctrl-D to quit"
            + (sandbox ? "; sandbox: every vendor goes to the built-in simulator" : "")
    }

    /// The terminal loop. Ends (status 0) at Ctrl-D on an empty line.
    private func interactive(_ session: ReplSession, _ editor: LineEditor) {
        while true {
            switch editor.readLine(prompt: session.prompt) {
            case .endOfInput:
                writeText("\n", to: 1)
                return
            case .interrupted:
                session.cancelInput()
                writeText("^C\n", to: 1)
            case .line(let line):
                editor.remember(line)
                let outcome = session.feed(line)
                if case .interrupted = outcome { writeText("\n", to: 2) }  // after the terminal's "^C"
                _ = report(outcome)
            }
        }
    }

    /// Reads stdin line by line (no prompts), as scripts feed it.
    private func piped(_ session: ReplSession) -> Int32 {
        var failed = false
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        while true {
            let n = mp_read_stdin_line(&buffer, &capacity)
            if mp_sigint_take() != 0 { return Exit.interrupted }  // Ctrl-C while reading
            if n == -2 { continue }  // another signal
            guard n >= 0, let buffer else { break }
            var bytes = UnsafeRawBufferPointer(start: buffer, count: n)[...]
            if bytes.last == 0x0a { bytes = bytes.dropLast() }
            if bytes.last == 0x0d { bytes = bytes.dropLast() }
            let line = String(decoding: bytes, as: UTF8.self)
            switch report(session.feed(line)) {
            case .ok: break
            case .failed: failed = true
            case .interrupted: return Exit.interrupted
            }
        }
        if let outcome = session.finishInput(), report(outcome) != .ok { failed = true }
        return failed ? Exit.scriptError : 0
    }

    private enum Reported { case ok, failed, interrupted }

    /// Prints an outcome: values to stdout, errors to stderr; any secret
    /// value the process has seen shows as *** (SPEC.md §4: REPL echo).
    private func report(_ outcome: ReplSession.Outcome) -> Reported {
        switch outcome {
        case .empty, .incomplete:
            return .ok
        case .success(let values):
            if !values.isEmpty { writeText(Redaction.scrub(values.joined(separator: "\t")) + "\n", to: 1) }
            return .ok
        case .failure(let message):
            writeText(Redaction.scrub(message) + "\n", to: 2)
            return .failed
        case .taskFailed(let values, let message):
            if !values.isEmpty { writeText(Redaction.scrub(values.joined(separator: "\t")) + "\n", to: 1) }
            writeText(Redaction.scrub(message) + "\n", to: 2)
            return .failed
        case .interrupted(let message):
            writeText(Redaction.scrub(message) + "\n", to: 2)
            return .interrupted
        }
    }
}
