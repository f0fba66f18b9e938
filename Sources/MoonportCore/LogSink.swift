import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `log.*` and moonport's own diagnostics go: one line each on stderr,
/// "2026-11-23T13:50:01.123Z INFO  message". Debug lines only with `-v`.
public final class LogSink: @unchecked Sendable {
    public static let shared = LogSink()

    private let lock = NSLockLite()
    private var _verbose = false

    public var verbose: Bool {
        get { lock.withLock { _verbose } }
        set { lock.withLock { _verbose = newValue } }
    }

    /// A swift-log logger that writes through this sink.
    public func logger(label: String) -> Logger {
        Logger(label: label) { _ in StderrLogHandler(sink: self) }
    }

    /// The logger behind the Lua `log` module.
    public private(set) lazy var scriptLogger: Logger = logger(label: "script")

    /// `--log-format text|json`.
    public enum Format: String, Sendable, CaseIterable { case text, json }

    private var _format: Format = .text
    public var format: Format {
        get { lock.withLock { _format } }
        set { lock.withLock { _format = newValue } }
    }

    /// This run's id (the `run` field of JSON log lines and of the summary).
    public let runID: String = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let n = (UInt64(ts.tv_sec) &* 1_000_003) ^ UInt64(ts.tv_nsec) ^ (UInt64(getpid()) << 32)
        return String(n, radix: 16)
    }()

    public func write(level: Logger.Level, _ message: String) {
        write(level: level, message, fields: [])
    }

    /// A log line; `fields` (vendor, job, ...) go into JSON lines as
    /// fields of their own, and are left out of text lines.
    public func write(level: Logger.Level, _ message: String, fields: [(String, String)]) {
        if level == .debug || level == .trace, !verbose { return }
        // No secret the process has seen reaches stderr.
        let line: String
        if format == .json {
            var parts = ["\"time\":\(Self.jsonString(Self.timestamp()))",
                "\"level\":\(Self.jsonString(Self.jsonLevel(level)))",
                "\"message\":\(Self.jsonString(Redaction.scrub(message)))",
                "\"run\":\(Self.jsonString(runID))"]
            for (k, v) in fields where k != "run" {
                parts.append("\(Self.jsonString(k)):\(Self.jsonString(Redaction.scrub(v)))")
            }
            line = "{" + parts.joined(separator: ",") + "}\n"
        } else {
            line = "\(Self.timestamp()) \(Self.name(of: level)) \(Redaction.scrub(message))\n"
        }
        lock.withLock {
            var line = (progressShown ? "\r\u{1B}[K" : "") + line
            progressShown = false
            line.withUTF8 { buf in writeAll(2, UnsafeRawBufferPointer(buf)) }
        }
    }

    /// Whether stderr is a terminal (progress lines are drawn only then).
    public let stderrIsTerminal = isatty(2) == 1
    private var progressShown = false

    /// Draws `text` as the one progress line at the bottom of the terminal
    /// (replacing the last one); an empty text clears it. Log lines clear it
    /// first, so the two never interleave. Nothing when stderr is not a terminal.
    public func progress(_ text: String) {
        guard stderrIsTerminal else { return }
        let scrubbed = Redaction.scrub(text)
        lock.withLock {
            var out = "\r\u{1B}[K" + scrubbed
            progressShown = !scrubbed.isEmpty
            out.withUTF8 { buf in writeAll(2, UnsafeRawBufferPointer(buf)) }
        }
    }

    static func jsonLevel(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warn"
        case .error: return "error"
        case .critical: return "critical"
        }
    }

    /// A JSON string literal.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func name(of level: Logger.Level) -> String {
        switch level {
        case .trace: return "TRACE"
        case .debug: return "DEBUG"
        case .info: return "INFO "
        case .notice: return "NOTE "
        case .warning: return "WARN "
        case .error: return "ERROR"
        case .critical: return "CRIT "
        }
    }

    /// UTC, ISO-8601 with milliseconds.
    public static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

/// The swift-log handler: level filtering by the sink's verbosity.
struct StderrLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level {
        get { sink.verbose ? .debug : .info }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var text = event.message.description
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if sink.format == .json {
            sink.write(level: event.level, text, fields: merged.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") })
            return
        }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        sink.write(level: event.level, text)
    }
}

/// A pthread mutex (Foundation's NSLock without Foundation).
final class NSLockLite: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// write(2) until every byte is out (or the descriptor fails).
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += n
    }
}

/// Writes text to a file descriptor (1: stdout, 2: stderr) unbuffered,
/// after flushing C stdio (where Lua's print and io.write buffer), so output
/// keeps its order.
public func writeText(_ text: String, to fd: Int32) {
    fflush(nil)
    var text = text
    text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
}

/// writeText with a newline.
public func printLine(_ text: String, to fd: Int32 = 1) {
    writeText(text + "\n", to: fd)
}
