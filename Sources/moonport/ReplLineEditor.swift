import CEditline
import CMoonport
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The REPL's terminal: BSD libedit (emacs keys), a history file, Tab
/// completion, Ctrl-C at the prompt.
///
/// libedit calls back through C function pointers (the prompt, the
/// character reader and the Tab command); they find this object through
/// EL_CLIENTDATA, so there is no global state. Everything here runs on the main thread, which is also the
/// Lua runtime's owner: the completion callback may read the Lua state.
final class LineEditor {
    enum Input {
        case line(String)
        /// Ctrl-C at the prompt.
        case interrupted
        /// Ctrl-D on an empty line (or the terminal went away).
        case endOfInput
    }

    private let el: OpaquePointer
    private let history: OpaquePointer
    private let historyPath: String?
    private var promptText: UnsafeMutablePointer<CChar>
    private let completer: (String) -> Completion
    private var closed = false
    /// Set by `readCharacter` when it saw Ctrl-C.
    private var interruptSeen = false

    /// nil when libedit cannot be set up (then read stdin without it).
    init?(program: String, historyPath: String?, completer: @escaping (String) -> Completion) {
        guard let el = mp_el_init(program) else { return nil }
        guard let history = history_init() else {
            el_end(el)
            return nil
        }
        self.el = el
        self.history = history
        self.historyPath = historyPath
        self.completer = completer
        promptText = strdup("> ")
        mp_history_setsize(history, 1000)
        mp_history_setunique(history, 1)  // no consecutive duplicates
        mp_el_set_clientdata(el, Unmanaged.passUnretained(self).toOpaque())
        mp_el_set_signal(el, 0)  // SIGINT is ours (see readLine)
        mp_el_set_editor(el, "emacs")
        mp_el_set_prompt(el, lineEditorPrompt)
        mp_el_set_history(el, history)
        mp_el_set_getc(el, lineEditorGetChar)
        mp_el_add_function(el, "moonport-complete", "Complete a Lua name", lineEditorComplete)
        mp_el_bind(el, "^I", "moonport-complete")
        el_source(el, nil)  // ~/.editrc (or $EDITRC) may rebind keys
        if let path = historyPath {
            Self.prepareHistoryFile(path)
            _ = mp_history_load(history, path)
        }
    }

    deinit {
        close()
        free(promptText)
    }

    /// Saves the history and gives the terminal back (el_end restores its
    /// settings). Safe to call more than once.
    func close() {
        guard !closed else { return }
        closed = true
        saveHistory()
        el_end(el)
        history_end(history)
    }

    /// Reads one line. Ctrl-C at the prompt ends el_gets: our SIGINT handler
    /// (the runtime's, installed without SA_RESTART) interrupts the read with
    /// EINTR and sets a flag; `readCharacter` sees either and makes el_gets
    /// return NULL, and the flag tells this apart from end of input.
    func readLine(prompt: String) -> Input {
        free(promptText)
        promptText = strdup(prompt)
        _ = mp_sigint_take()  // a Ctrl-C seen before this prompt is old news
        interruptSeen = false
        var count: Int32 = 0
        let raw = el_gets(el, &count)
        if interruptSeen || mp_sigint_take() != 0 { return .interrupted }
        guard let raw, count > 0 else { return .endOfInput }
        var line = String(cString: raw)
        while let last = line.last, last.isNewline { line.removeLast() }
        return .line(line)
    }

    /// Adds a line to the history and saves the file (so a crash or
    /// `os.exit` loses nothing).
    func remember(_ line: String) {
        guard line.contains(where: { $0 != " " && $0 != "\t" }) else { return }
        mp_history_enter(history, line)
        saveHistory()
    }

    private func saveHistory() {
        guard let path = historyPath else { return }
        Self.prepareHistoryFile(path)
        _ = mp_history_save(history, path)
        chmod(path, 0o600)
    }

    /// Creates the history file's folder (0700) and the file (0600) when
    /// missing, so the history is never readable by others, not even for a
    /// moment.
    static func prepareHistoryFile(_ path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        makeFolders(folder)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if fd >= 0 { closeDescriptor(fd) }
    }

    private static func makeFolders(_ folder: String) {
        guard !folder.isEmpty, access(folder, F_OK) != 0 else { return }
        if let slash = folder.lastIndex(of: "/"), slash != folder.startIndex {
            makeFolders(String(folder[..<slash]))
        }
        mkdir(folder, 0o700)
    }

    /// The history file: $MOONPORT_HISTORY (empty: no history file), else
    /// ~/.moonport/history.
    static func defaultHistoryPath() -> String? {
        if let v = getenv("MOONPORT_HISTORY") {
            let path = String(cString: v)
            return path.isEmpty ? nil : path
        }
        guard let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty else { return nil }
        return home + "/.moonport/history"
    }

    // MARK: callbacks

    /// EL_GETCFN: one character from stdin, as libedit's own reader does, but
    /// a Ctrl-C can never be lost: the signal may arrive just before read()
    /// blocks (then read would not see EINTR), so the flag is checked before
    /// each read and at least every 100 ms while waiting for a key.
    /// Returns 1 (a character), 0 (end of input) or -1 (error, or Ctrl-C).
    fileprivate func readCharacter(_ out: UnsafeMutablePointer<wchar_t>) -> Int32 {
        var state = mbstate_t()
        var pending: [CChar] = []
        while true {
            if mp_sigint_take() != 0 {
                interruptSeen = true
                errno = EINTR
                return -1
            }
            var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, 100)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return -1 }
            if ready == 0 { continue }
            var byte: CChar = 0
            let n = read(0, &byte, 1)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n < 0 { return -1 }
            if n == 0 { return 0 }
            pending.append(byte)
            var wide: wchar_t = 0
            let used = pending.withUnsafeBufferPointer { mbrtowc(&wide, $0.baseAddress, $0.count, &state) }
            switch used {
            case -2:  // an incomplete multibyte character: read on
                pending.removeAll(keepingCapacity: true)
                continue
            case -1:  // not valid here: pass the byte on as it is
                out.pointee = wchar_t(UInt8(bitPattern: byte))
                return 1
            default:
                out.pointee = wide
                return 1
            }
        }
    }

    fileprivate var prompt: UnsafeMutablePointer<CChar> { promptText }

    /// Tab: one candidate inserts its rest, several insert their common
    /// prefix, and when there is nothing to insert they are listed.
    fileprivate func completeAtCursor() -> UInt8 {
        guard let info = el_line(el)?.pointee, let buffer = info.buffer, let cursor = info.cursor else {
            return UInt8(CC_ERROR)
        }
        let text = String(
            decoding: UnsafeRawBufferPointer(start: buffer, count: max(0, buffer.distance(to: cursor))),
            as: UTF8.self)
        // Tab at the start of a line or after a blank indents.
        if text.isEmpty || text.last == " " || text.last == "\t" {
            el_insertstr(el, "  ")
            return UInt8(CC_REFRESH)
        }
        let completion = completer(text)
        if completion.candidates.isEmpty { return UInt8(CC_REFRESH_BEEP) }
        let insertion = completion.insertion
        if !insertion.isEmpty {
            el_insertstr(el, insertion)
            return UInt8(CC_REFRESH)
        }
        if completion.candidates.count == 1 { return UInt8(CC_REFRESH) }
        list(completion.candidates)
        return UInt8(CC_REDISPLAY)
    }

    /// Prints candidates in columns below the line; libedit then redraws
    /// the prompt and the line (CC_REDISPLAY).
    private func list(_ candidates: [String]) {
        let limit = 300
        let shown = Array(candidates.prefix(limit))
        let width = (shown.map(\.count).max() ?? 0) + 2
        let columns = max(1, Int(mp_terminal_columns(1) > 0 ? mp_terminal_columns(1) : 80) / width)
        let rows = (shown.count + columns - 1) / columns
        var out = "\n"
        for r in 0..<rows {
            var line = ""
            for c in 0..<columns {
                let i = c * rows + r
                guard i < shown.count else { break }
                let name = shown[i]
                line += name
                if c < columns - 1 && (c + 1) * rows + r < shown.count {
                    line += String(repeating: " ", count: width - name.count)
                }
            }
            out += line + "\n"
        }
        if candidates.count > limit { out += "... (\(candidates.count - limit) more)\n" }
        writeText(out, to: 1)
    }
}

private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

private func editor(of el: OpaquePointer?) -> LineEditor? {
    guard let el, let raw = mp_el_get_clientdata(el) else { return nil }
    return Unmanaged<LineEditor>.fromOpaque(raw).takeUnretainedValue()
}

/// EL_PROMPT: the prompt stays valid until the next readLine.
private func lineEditorPrompt(_ el: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    editor(of: el)?.prompt
}

/// EL_GETCFN: reads one character (see LineEditor.readCharacter).
private func lineEditorGetChar(_ el: OpaquePointer?, _ out: UnsafeMutablePointer<wchar_t>?) -> Int32 {
    guard let out, let editor = editor(of: el) else { return -1 }
    return editor.readCharacter(out)
}

/// The "moonport-complete" command, bound to Tab.
private func lineEditorComplete(_ el: OpaquePointer?, _ key: Int32) -> UInt8 {
    editor(of: el)?.completeAtCursor() ?? UInt8(CC_ERROR)
}

