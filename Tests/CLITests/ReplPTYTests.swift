import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Drives the real `moonport` binary through a pseudo-terminal, as a person
/// at a keyboard would, and through a pipe, as a script would.
final class ReplPTYTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("moonport-repl-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// HOME is a fresh folder; the history goes to a file in a folder that
    /// does not exist yet (the REPL creates both).
    private var historyPath: String { folder.appendingPathComponent("state/history").path }

    private func start(history: Bool = true, environment: [String: String] = [:]) throws -> PTYProcess {
        var env = ["HOME": folder.path, "TERM": "dumb", "PATH": "/usr/bin:/bin"]
        if history { env["MOONPORT_HISTORY"] = historyPath }
        env.merge(environment) { $1 }
        let p = try PTYProcess(executable: MoonportProcess.executable.path, arguments: ["repl"], environment: env)
        try p.expect("> ")
        return p
    }

    /// Ctrl-D at an empty prompt: the REPL must exit 0.
    private func quit(_ p: PTYProcess, file: StaticString = #filePath, line: UInt = #line) {
        p.send("\u{04}")
        XCTAssertEqual(p.waitForExit(timeout: 10), 0, "exit status after Ctrl-D", file: file, line: line)
    }

    func testExpressionPrintsItsValue() throws {
        let p = try start()
        defer { p.kill() }
        p.send("1+1\r")
        try p.expect("\r\n2\r\n")
        p.send("{10, 'x', k = true}\r")
        try p.expect(#"{10, "x", k = true}"#)
        quit(p)
    }

    func testUTF8InputWithAUTF8Locale() throws {
        let saved = setlocale(LC_CTYPE, nil).map { String(cString: $0) }
        let available = setlocale(LC_CTYPE, "C.UTF-8") != nil
        setlocale(LC_CTYPE, saved ?? "C")
        try XCTSkipUnless(available, "no C.UTF-8 locale")
        let p = try start(environment: ["LANG": "C.UTF-8", "TERM": "xterm"])
        defer { p.kill() }
        p.send("#'h\u{e9}llo \u{2713}'\r")
        try p.expect("\r\n10\r\n")  // 1 + 2 + 3 + 1 + 3 bytes: every byte reached Lua
        p.send("{'\u{e9}t\u{e9}'}\r")
        try p.expect("{\"\u{e9}t\u{e9}\"}")
        quit(p)
    }

    func testMultiLineFunctionDefinition() throws {
        let p = try start()
        defer { p.kill() }
        p.send("function sq(x)\r")
        try p.expect(">> ")
        p.send("return x * x\r")
        try p.expect(">> ")
        p.send("end\r")
        try p.expect("> ")
        p.send("sq(12)\r")
        try p.expect("\r\n144\r\n")
        quit(p)
    }

    func testErrorIsReportedAndTheREPLGoesOn() throws {
        let p = try start()
        defer { p.kill() }
        p.send("error('kaboom')\r")
        try p.expect("stdin:1: kaboom")
        try p.expect("stack traceback:")
        try p.expect("> ")
        p.send("6*7\r")
        try p.expect("\r\n42\r\n")
        quit(p)
    }

    func testTabCompletesAFieldOfALibrary() throws {
        let p = try start()
        defer { p.kill() }
        p.send("string.for\t")
        try p.expect("string.format")
        // The completion is really in the line: calling it works.
        p.send("('%05d', 42)\r")
        try p.expect("\r\n00042\r\n")
        // Several candidates: the common prefix, then a listing.
        p.send("replvar_alpha, replvar_beta = 1, 2\r")
        try p.expect("> ")
        p.send("replv\t")
        try p.expect("replvar_")
        p.send("\t")
        try p.expect("replvar_alpha")
        try p.expect("replvar_beta")
        p.send("alpha\r")
        try p.expect("\r\n1\r\n")
        quit(p)
    }

    func testCtrlCAtThePromptCancelsTheLine() throws {
        let p = try start()
        defer { p.kill() }
        p.send("undefined_function(")
        try p.expect("undefined_function(")  // echoed: libedit has it
        p.send("\u{03}")
        try p.expect("^C")
        try p.expect("> ")
        p.send("1+2\r")
        try p.expect("\r\n3\r\n")
        // Ctrl-C at the continuation prompt drops the whole chunk.
        p.send("function unfinished()\r")
        try p.expect(">> ")
        p.send("\u{03}")
        try p.expect("^C")
        try p.expect("> ")
        p.send("10+1\r")
        try p.expect("\r\n11\r\n")
        quit(p)
    }

    func testCtrlCInterruptsRunningCodeAndThePromptComesBack() throws {
        let p = try start()
        defer { p.kill() }
        p.send("while true do end\r")
        try p.expect("while true do end\r\n")
        XCTAssertTrue(p.waitForTerminalMode(raw: false), "libedit gave the terminal back")
        usleep(300_000)  // the loop runs now
        p.send("\u{03}", atPrompt: false)
        try p.expect("interrupted")
        try p.expect("> ")
        p.send("2+2\r")
        try p.expect("\r\n4\r\n")
        // A second interrupt works too.
        p.send("repeat until false\r")
        try p.expect("repeat until false\r\n")
        XCTAssertTrue(p.waitForTerminalMode(raw: false))
        usleep(300_000)
        p.send("\u{03}", atPrompt: false)
        try p.expect("interrupted")
        try p.expect("> ")
        p.send("3+3\r")
        try p.expect("\r\n6\r\n")
        quit(p)
    }

    func testCtrlDExitsWithStatusZero() throws {
        let p = try start()
        defer { p.kill() }
        p.send("error('a failure does not change the exit status')\r")
        try p.expect("stack traceback:")
        try p.expect("> ")
        quit(p)
    }

    func testHistoryIsSavedAndRecalledInTheNextSession() throws {
        let first = try start()
        defer { first.kill() }
        first.send("40+2\r")
        try first.expect("\r\n42\r\n")
        quit(first)

        var info = stat()
        XCTAssertEqual(stat(historyPath, &info), 0, "history file written")
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "history file mode")
        let saved = try String(contentsOfFile: historyPath, encoding: .utf8)
        XCTAssertTrue(saved.contains("40+2"), saved)

        let second = try start()
        defer { second.kill() }
        second.send("\u{1b}[A")  // Up: the previous session's line
        try second.expect("40+2")
        second.send("\r")
        try second.expect("\r\n42\r\n")
        quit(second)
    }

    func testDefaultHistoryFileIsUnderHome() throws {
        let p = try start(history: false)
        defer { p.kill() }
        p.send("'remember me'\r")
        try p.expect("\r\nremember me\r\n")
        quit(p)
        let path = folder.appendingPathComponent(".moonport/history").path
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0, "~/.moonport/history written")
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains("remember"))
    }

    // MARK: without a terminal

    func testPipedStdinPrintsResultsWithoutPrompts() throws {
        let r = try runPiped("1+1\nx=5\nx*2\n")
        XCTAssertEqual(r.stdout, "2\n10\n")
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(r.status, 0)

        let multi = try runPiped("function f(a)\n  return a, a * 2\nend\nf(21)\nprint('printed')\n{b = 2, a = 1}\n")
        XCTAssertEqual(multi.stdout, "21\t42\nprinted\n{a = 1, b = 2}\n")
        XCTAssertEqual(multi.status, 0)
    }

    func testPipedStdinErrorsGoToStderrAndSetTheExitStatus() throws {
        let r = try runPiped("error('bad')\n3\n")
        XCTAssertEqual(r.stdout, "3\n")
        XCTAssertTrue(r.stderr.contains("stdin:1: bad"), r.stderr)
        XCTAssertEqual(r.status, 1)

        let unfinished = try runPiped("1\nfunction f()\n")
        XCTAssertEqual(unfinished.stdout, "1\n")
        XCTAssertTrue(unfinished.stderr.contains("<eof>"), unfinished.stderr)
        XCTAssertEqual(unfinished.status, 1)
    }

    func testPipedStdinAcceptsCRLFAndAFinalLineWithoutNewline() throws {
        let r = try runPiped("1+1\r\nx = 'a'\r\nx .. 'b'")
        XCTAssertEqual(r.stdout, "2\nab\n")
        XCTAssertEqual(r.status, 0)
    }

    func testPipedStdinCtrlCStopsWithStatus130() throws {
        let r = try MoonportProcess.run(
            ["repl"], stdin: "print('started')\nwhile true do end\nprint('not reached')\n",
            environment: ["HOME": folder.path], interruptAfter: 1.0, timeout: 30)
        XCTAssertEqual(r.status, 130)
        XCTAssertEqual(r.stdout, "started\n")
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
    }

    private func runPiped(_ input: String) throws -> (stdout: String, stderr: String, status: Int32) {
        let r = try MoonportProcess.run(["repl"], stdin: input, environment: ["HOME": folder.path], timeout: 30)
        return (r.stdout, r.stderr, r.status)
    }
}

// MARK: - a process on a pseudo-terminal

private struct PTYError: Error, CustomStringConvertible {
    let description: String
}

/// A child process whose controlling terminal is a new pseudo-terminal: it
/// sees a real tty on stdin/stdout/stderr, and a 0x03 written to the master
/// becomes SIGINT for it, as Ctrl-C does.
final class PTYProcess {
    let master: Int32
    let pid: pid_t
    private var output: [UInt8] = []
    /// Output before this offset was matched by an earlier expect.
    private var matched = 0
    private var exitStatus: Int32?

    init(executable: String, arguments: [String], environment: [String: String]) throws {
        // posix_openpt and friends are not in Swift's Glibc module: look them up.
        guard let openpt = PTYCalls.posixOpenpt, let grant = PTYCalls.grantpt, let unlock = PTYCalls.unlockpt,
            let ptsname = PTYCalls.ptsnameR
        else { throw PTYError(description: "posix_openpt/grantpt/unlockpt/ptsname_r not found") }
        let master = openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw PTYError(description: "posix_openpt: errno \(errno)") }
        guard grant(master) == 0, unlock(master) == 0 else {
            close(master)
            throw PTYError(description: "grantpt/unlockpt: errno \(errno)")
        }
        var nameBuffer = [CChar](repeating: 0, count: 128)
        guard ptsname(master, &nameBuffer, nameBuffer.count) == 0 else {
            close(master)
            throw PTYError(description: "ptsname_r: errno \(errno)")
        }
        let slavePath = String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var size = winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Opened after setsid and without O_NOCTTY: it becomes the
        // controlling terminal of the child's new session.
        posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let setsid: Int16 = 0x80  // POSIX_SPAWN_SETSID
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK) | Int16(POSIX_SPAWN_SETSIGDEF) | setsid)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            close(master)
            throw PTYError(description: "posix_spawn \(executable): error \(rc)")
        }
        self.master = master
        self.pid = child
    }

    deinit {
        kill()
        close(master)
    }

    /// Types text. At the prompt (the default) it first waits until libedit
    /// has put the terminal in raw mode: keys typed before that are handled
    /// by the terminal's cooked mode (echoed twice; a Ctrl-D would be lost).
    func send(_ text: String, atPrompt: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        if atPrompt && !waitForTerminalMode(raw: true) {
            XCTFail("the line editor never read the terminal; output: \(transcript.debugDescription)", file: file, line: line)
        }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(master, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
    }

    /// Waits until `text` appears in the output after the previous match
    /// (fails after `timeout` seconds, showing what came).
    func expect(_ text: String, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line) throws {
        let needle = Array(text.utf8)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let end = find(needle, from: matched) {
                matched = end
                return
            }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 || !readMore(timeout: remaining) {
                let seen = String(decoding: output[matched...], as: UTF8.self)
                XCTFail("expected \(text.debugDescription); got \(seen.debugDescription)", file: file, line: line)
                throw PTYError(description: "expected \(text.debugDescription)")
            }
        }
    }

    /// Waits until the terminal is in raw mode (libedit reads keys) or in
    /// cooked mode (Lua code runs), as the shared terminal settings say.
    @discardableResult
    func waitForTerminalMode(raw: Bool, timeout: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var settings = termios()
            guard tcgetattr(master, &settings) == 0 else { return false }
            let canonical = settings.c_lflag & tcflag_t(ICANON) != 0
            if canonical != raw { return true }
            if !readMore(timeout: 0.005) { usleep(2_000) }  // keep the output flowing
        }
        return false
    }

    /// All output so far (for messages).
    var transcript: String { String(decoding: output, as: UTF8.self) }

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty else { return start }
        var i = start
        while i + needle.count <= output.count {
            if output[i] == needle[0] && Array(output[i..<(i + needle.count)]) == needle { return i + needle.count }
            i += 1
        }
        return nil
    }

    /// Reads what is available within the timeout; false at end of output
    /// or when nothing came.
    private func readMore(timeout: Double) -> Bool {
        var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        let ready = poll(&fds, 1, Int32(max(1, min(timeout, 1.0) * 1000)))
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return timeout > 1.0 }  // keep waiting until the deadline
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress!, $0.count) }
        if n <= 0 { return n < 0 && errno == EINTR }  // EIO: the child closed the terminal
        output.append(contentsOf: buffer[0..<n])
        return true
    }

    /// The exit status, or nil if the child did not exit in time (or was
    /// killed by a signal: then 128 + signal).
    func waitForExit(timeout: Double) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                exitStatus = code
                return code
            }
            // Keep draining so the child never blocks on a full terminal.
            if !readMore(timeout: 0.05) { usleep(10_000) }
        }
        return nil
    }

    func kill() {
        guard exitStatus == nil else { return }
        if waitForExit(timeout: 0) == nil {
            signalProcess(pid, SIGKILL)
            _ = waitForExit(timeout: 5)
        }
    }
}

private func signalProcess(_ pid: pid_t, _ signal: Int32) {
    _ = kill(pid, signal)
}

/// The pseudo-terminal calls of the C library, found with dlsym.
private enum PTYCalls {
    typealias IntToInt = @convention(c) (Int32) -> Int32
    typealias NameR = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        #if os(Linux)
        let everywhere = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        #else
        let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
        #endif
        guard let pointer = dlsym(everywhere, name) else { return nil }
        return unsafeBitCast(pointer, to: type)
    }

    static var posixOpenpt: IntToInt? { symbol("posix_openpt", as: IntToInt.self) }
    static var grantpt: IntToInt? { symbol("grantpt", as: IntToInt.self) }
    static var unlockpt: IntToInt? { symbol("unlockpt", as: IntToInt.self) }
    static var ptsnameR: NameR? { symbol("ptsname_r", as: NameR.self) }
}
