import CLua
import Dispatch
import LuaBridge
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--progress auto|plain|off`: what long waits (polls, rate-limit waits,
/// downloads) show while they last.
public enum ProgressMode: String, Sendable, CaseIterable {
    /// A redrawn line on a terminal, plain lines otherwise.
    case auto
    /// A log line once a wait has lasted a few seconds, then at least every `plainInterval` seconds while it lasts.
    case plain
    /// Nothing.
    case off
}

/// The waits going on now, shown as one line redrawn every second on a
/// terminal (the elapsed time moves even when a poll sleeps 60 s), or as a
/// plain log line at least every minute when stderr is not a terminal (a
/// scheduler's log then shows that the run is alive). One implementation for
/// every kind of wait: the vendors' polls call it from Lua
/// (`moonport.activity`), the HTTP layer from Swift.
public final class ProgressReporter: @unchecked Sendable {
    public static let shared = ProgressReporter()

    struct Activity {
        var text: String
        var vendor: String?
        var job: String?
        let started: Double
        var lastPlain: Double
    }

    private let lock = NSLockLite()
    private var activities: [Int: Activity] = [:]
    private var order: [Int] = []
    private var nextID = 1
    private var timer: DispatchSourceTimer?
    private var _mode: ProgressMode = .auto

    /// Seconds between plain lines of one wait (60 at most, so a scheduler
    /// sees one a minute; `MOONPORT_PROGRESS_INTERVAL` sets it, for tests).
    public let plainInterval: Double = {
        if let text = getenv("MOONPORT_PROGRESS_INTERVAL").map({ String(cString: $0) }), let v = Double(text), v > 0 {
            return v
        }
        return 55
    }()

    public var mode: ProgressMode {
        get { lock.withLock { _mode } }
        set { lock.withLock { _mode = newValue } }
    }

    /// What `mode` comes to for this process: "terminal", "plain" or "off".
    var effective: String { lock.withLock { effectiveLocked } }

    private var effectiveLocked: String {
        switch _mode {
        case .off: return "off"
        case .plain: return "plain"
        case .auto:
            // JSON lines are read by a log collector: no redrawn line among them.
            return LogSink.shared.stderrIsTerminal && LogSink.shared.format == .text ? "terminal" : "plain"
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Starts showing a wait; returns its id (for `update` and `end`).
    @discardableResult
    /// `announce`: a plain line at once (else only after `plainInterval`,
    /// so short downloads do not fill a scheduler's log).
    public func begin(_ text: String, vendor: String? = nil, job: String? = nil, announce: Bool = true,
                      since: Double = 0) -> Int {
        let now = Self.now()
        let started = now - max(0, since)
        let (id, style) = lock.withLock { () -> (Int, String) in
            let id = nextID
            nextID += 1
            // Plain lines: the first after a few seconds (a wait that ends at
            // once leaves no line), then one every plainInterval.
            let first = announce ? min(5, plainInterval) : plainInterval
            activities[id] = Activity(text: text, vendor: vendor, job: job, started: started,
                lastPlain: now - plainInterval + first)
            order.append(id)
            startTimerLocked()
            return (id, effectiveLocked)
        }
        if style == "terminal" && announce { redraw() }
        return id
    }

    /// A new text for a wait going on (the elapsed time is added when shown).
    public func update(_ id: Int, _ text: String) {
        let style = lock.withLock { () -> String in
            activities[id]?.text = text
            return effectiveLocked
        }
        if style == "terminal" { redraw() }
    }

    /// The wait is over: its line goes (on a terminal).
    public func end(_ id: Int) {
        let (style, empty) = lock.withLock { () -> (String, Bool) in
            activities[id] = nil
            order.removeAll { $0 == id }
            if order.isEmpty {
                timer?.cancel()
                timer = nil
            }
            return (effectiveLocked, order.isEmpty)
        }
        if style == "terminal" {
            if empty { LogSink.shared.progress("") } else { redraw() }
        }
    }

    /// Ends every wait (the run is over).
    public func endAll() {
        let ids = lock.withLock { order }
        for id in ids { end(id) }
    }

    private func startTimerLocked() {
        guard timer == nil, effectiveLocked != "off" else { return }
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        timer = t
    }

    private func tick() {
        let now = Self.now()
        switch effective {
        case "terminal":
            redraw()
        case "plain":
            let due = lock.withLock { () -> [Activity] in
                var out: [Activity] = []
                var said = Set<String>()
                for id in order {
                    guard var a = activities[id], now - a.lastPlain >= plainInterval else { continue }
                    a.lastPlain = now
                    activities[id] = a
                    // Parallel waits of the same kind: one line for them all.
                    if said.insert(a.text).inserted { out.append(a) }
                }
                return out
            }
            for a in due { plainLine(a.text, vendor: a.vendor, job: a.job, elapsed: now - a.started) }
        default:
            return
        }
    }

    /// The newest wait, with its elapsed time (and how many others go on).
    private func redraw() {
        let now = Self.now()
        let text: String? = lock.withLock {
            guard let id = order.last, let a = activities[id] else { return nil }
            let others = order.count > 1 ? " (+\(order.count - 1) more)" : ""
            return "\(a.text), \(Self.human(now - a.started))\(others)"
        }
        if let text { LogSink.shared.progress(text) }
    }

    private func plainLine(_ text: String, vendor: String?, job: String?, elapsed: Double) {
        var fields: [(String, String)] = []
        if let vendor { fields.append(("vendor", vendor)) }
        if let job { fields.append(("job", job)) }
        let line = "\(text) (still waiting, \(Self.human(elapsed)))"
        LogSink.shared.write(level: .info, line, fields: fields)
    }

    /// "downloading URL: 12.3 MB of 40.0 MB, 3.1 MB/s".
    public static func transferText(_ label: String, bytes: Int64, of total: Int64?, seconds: Double) -> String {
        func size(_ b: Int64) -> String {
            let d = Double(b)
            if d >= 1e9 { return "\((d / 1e8).rounded() / 10) GB" }
            if d >= 1e6 { return "\((d / 1e5).rounded() / 10) MB" }
            if d >= 1e3 { return "\((d / 1e2).rounded() / 10) kB" }
            return "\(b) B"
        }
        let rate = seconds > 0 ? Int64(Double(bytes) / seconds) : 0
        return "\(label): \(size(bytes))\(total.map { " of " + size($0) } ?? ""), \(size(rate))/s"
    }

    /// "42 s", "3 min 05 s", "1 h 02 min".
    public static func human(_ seconds: Double) -> String {
        let s = Int(max(0, seconds))
        if s < 60 { return "\(s) s" }
        if s < 3600 {
            let sec = s % 60
            return "\(s / 60) min \(sec < 10 ? "0" : "")\(sec) s"
        }
        let min = (s % 3600) / 60
        return "\(s / 3600) h \(min < 10 ? "0" : "")\(min) min"
    }
}

/// Bytes sent and received over HTTP by this process (every attempt), for
/// the run summary.
public final class TransferCounters: @unchecked Sendable {
    public static let shared = TransferCounters()
    private let lock = NSLockLite()
    private var up: Int64 = 0
    private var down: Int64 = 0

    func add(up u: Int64, down d: Int64) {
        lock.withLock {
            up += u
            down += d
        }
    }

    public var totals: (up: Int64, down: Int64) { lock.withLock { (up, down) } }
}

/// `require "moonport.activity"`: the progress of long waits, from Lua.
///   begin(text [, {vendor=, job=, since=}]) -> id  (since: seconds already waited)
///   update(id, text)
///   finish(id)
///   mode -> "terminal", "plain" or "off"
enum ActivityModule {
    static var builtin: BuiltinModule { BuiltinModule(name: "moonport.activity") { call in
        let lua = call.lua
        lua.newTable(recordCount: 4)
        lua.setFunction(-1, "begin", qualifiedName: "moonport.activity.begin") { call in
            let text = try call.string(1, "text")
            var vendor: String?
            var job: String?
            var since = 0.0
            if let fields = try call.optionalTable(2, "fields") {
                vendor = try fields.string("vendor")
                job = try fields.string("job")
                since = try fields.number("since") ?? 0
            }
            let id = ProgressReporter.shared.begin(text, vendor: vendor, job: job, since: since)
            call.lua.push(id)
            return .results(1)
        }
        lua.setFunction(-1, "update", qualifiedName: "moonport.activity.update") { call in
            ProgressReporter.shared.update(Int(try call.integer(1, "id")), try call.string(2, "text"))
            return .results(0)
        }
        lua.setFunction(-1, "finish", qualifiedName: "moonport.activity.finish") { call in
            ProgressReporter.shared.end(Int(try call.integer(1, "id")))
            return .results(0)
        }
        lua.setFunction(-1, "transfer", qualifiedName: "moonport.activity.transfer") { call in
            let t = TransferCounters.shared.totals
            call.lua.push(t.up)
            call.lua.push(t.down)
            return .results(2)
        }
        // columns() -> the terminal's width (stdout), 0 when it is not a terminal
        lua.setFunction(-1, "columns", qualifiedName: "moonport.activity.columns") { call in
            call.lua.push(terminalColumns())
            return .results(1)
        }
        lua.push(ProgressReporter.shared.effective)
        lua.rawSet(-2, "mode")
        lua.push(LogSink.shared.format.rawValue)
        lua.rawSet(-2, "log_format")
        return .results(1)
    } }
}

/// The width of the terminal on stdout ($COLUMNS when set), 0 when stdout is not a terminal.
public func terminalColumns() -> Int {
    if let c = getenv("COLUMNS").map({ String(cString: $0) }), let n = Int(c), n > 0 { return n }
    guard isatty(1) == 1 else { return 0 }
    var size = winsize()
    if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 80
}
