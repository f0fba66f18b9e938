import CLua
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--summary FILE`: a JSON summary of the run, written at its end, also
/// after a failure or a signal. What the host knows (outcome, exit code,
/// duration, the error) is put together here; what the Lua side knows
/// (jobs, steps, requests per vendor) comes from `moonport.run`. Secrets
/// seen by the process are masked in it, as in every log line.
enum RunSummary {
    struct Facts {
        var outcome: String
        var exitCode: Int32
        var message: String?
        var error: ErrorFacts?
        var duration: Double = 0

        init(outcome: String, exitCode: Int32, message: String? = nil, error: ErrorFacts? = nil) {
            self.outcome = outcome
            self.exitCode = exitCode
            self.message = message
            self.error = error
        }
    }

    static let startedAt = LogSink.timestamp()

    static func clock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The host's part, as a JSON object's text.
    static func factsJSON(_ facts: Facts) -> String {
        func s(_ v: String) -> String { LogSink.jsonString(Redaction.scrub(v)) }
        var fields = [
            "\"outcome\":\(s(facts.outcome))",
            "\"exit_code\":\(facts.exitCode)",
            "\"duration\":\((facts.duration * 1000).rounded() / 1000)",
            "\"started\":\(s(startedAt))",
            "\"finished\":\(s(LogSink.timestamp()))",
            "\"run\":\(s(LogSink.shared.runID))",
            "\"moonport\":\(s(MoonportModule.version))",
        ]
        if let script = CommandLine.arguments.dropFirst().first(where: { $0.hasSuffix(".lua") }) {
            fields.append("\"script\":\(s(script))")
        }
        if let m = facts.message {
            var e = ["\"message\":\(s(firstLines(m)))"]
            if let k = facts.error?.kind { e.append("\"kind\":\(s(k))") }
            if let v = facts.error?.vendor { e.append("\"vendor\":\(s(v))") }
            if let st = facts.error?.status { e.append("\"status\":\(st)") }
            fields.append("\"error\":{" + e.joined(separator: ",") + "}")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The message without its traceback.
    static func firstLines(_ m: String) -> String {
        if let r = m.range(of: "\nstack traceback:") { return String(m[..<r.lowerBound]) }
        return m
    }

    /// Writes the summary to `path` (nothing without one), through a
    /// temporary file renamed over it.
    static func write(to path: String?, facts: Facts, host: MoonportHost?) {
        guard let path else { return }
        let base = factsJSON(facts)
        var text: String?
        if let host {
            let lua = host.lua
            let top = lua.top
            let chunk = "local f = require('json').decode(...); return require('moonport.run').summary_json(f)"
            if lua.load(chunk, name: "=(summary)") == LUA_OK {
                lua.push(base)
                if lua.pcall(1, 1) == LUA_OK { text = lua.toString(-1) }
            }
            lua.top = top
        }
        let out = Redaction.scrub(text ?? base) + "\n"
        let tmp = path + ".moonport-\(getpid()).tmp"
        guard let f = fopen(tmp, "wb") else {
            LogSink.shared.write(level: .error, "--summary \(path): cannot write: \(String(cString: strerror(errno)))")
            return
        }
        var bytes = Array(out.utf8)
        _ = fwrite(&bytes, 1, bytes.count, f)
        fclose(f)
        if rename(tmp, path) != 0 {
            LogSink.shared.write(level: .error, "--summary \(path): cannot write: \(String(cString: strerror(errno)))")
            unlink(tmp)
        }
    }
}
