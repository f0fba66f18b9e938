import ArgumentParser
import Foundation
import LuaBridge
import MoonportCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `moonport state [--state PATH] list | show KEY | forget KEY | clear`:
/// what `state.once` and `state.set` stored in a state database, and the
/// way to make the next run do a step afresh.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "List, show or forget what state.once and state.set stored: moonport state list | show KEY | forget KEY | clear.",
        discussion: """
            list          every key, when it was stored, and for a Job its vendor, kind, id and last known status
            show KEY      the stored value (values of secret-looking fields masked)
            forget KEY    removes KEY (state.once's results and journal, state.set's value): the next run does that step afresh
            clear         removes every key of the database

            The database is --state PATH (or a PostgreSQL URL postgres://USER@HOST:PORT/DB), else \
            $MOONPORT_STATE, else .moonport/state.sqlite (the default of moonport run); no other database is \
            read or changed, and no SQLite file is created. Keys are shown with their namespace (a run's \
            --namespace, else its script's file name without .lua); --namespace NAME limits every action to \
            one ('' for the unnamed one). forget and clear ask for confirmation on a terminal; elsewhere they \
            need --yes.
            """
    )

    @Option(name: .customLong("state"), help: ArgumentHelp(
        "The state database: a path, or a PostgreSQL URL postgres://USER@HOST:PORT/DB (default: $MOONPORT_STATE, else .moonport/state.sqlite).", valueName: "PATH_OR_URL"))
    var state: String?

    @Option(name: .customLong("namespace"), help: ArgumentHelp(
        "Only the keys of this namespace ('' for the unnamed one); default: every namespace.", valueName: "NAME"))
    var namespace: String?

    @Flag(name: [.customShort("y"), .customLong("yes")], help: "forget, clear: do it without asking.")
    var yes = false

    @Flag(name: .customLong("all"), help: "list: also the journal entries of steps a run was doing when it stopped.")
    var all = false

    @Argument(help: "list, show, forget or clear.")
    var action: String

    @Argument(help: "The key (show, forget).")
    var key: String?

    static let actions = ["list", "show", "forget", "clear"]

    func validate() throws {
        guard Self.actions.contains(action) else {
            throw ValidationError("unknown action '\(action)': use list, show KEY, forget KEY or clear")
        }
        if (action == "show" || action == "forget") && key == nil {
            throw ValidationError("moonport state \(action) needs a KEY (moonport state list shows them)")
        }
        if (action == "list" || action == "clear") && key != nil {
            throw ValidationError("moonport state \(action) takes no KEY")
        }
        if let path = state, path.isEmpty { throw ValidationError("--state needs a path") }
    }

    /// --state, else $MOONPORT_STATE, else the default of `moonport run`.
    var path: String {
        if let state { return state }
        if let env = getenv("MOONPORT_STATE").map({ String(cString: $0) }), !env.isEmpty { return env }
        return HostOptions.defaultStatePath
    }

    func run() throws {
        let location = self.path
        // A URL is shown without its credentials, everywhere below.
        let path = StateStores.display(location)
        let store: (any StateBackend)?
        do { store = try StateStores.openExisting(location) } catch let error as LuaError {
            printError(error.message)
            throw ExitCode(error.kind == .network ? Exit.temporary : Exit.scriptError)
        } catch {
            printError("\(error)")
            throw ExitCode(Exit.scriptError)
        }
        guard let store else {
            let what = "no state database at \(path)" + (state == nil ? " (give --state PATH, or set MOONPORT_STATE)" : "")
            switch action {
            case "list", "clear":
                printLine("\(what): nothing stored", to: 1)
                return
            default:
                printError(what)
                throw ExitCode(Exit.scriptError)
            }
        }
        var entries = try store.entries()
        if let namespace { entries = entries.filter { StateView.split($0.key).namespace == namespace } }
        let view = StateView(entries: entries)
        switch action {
        case "list":
            printLine(view.listing(path: path, all: all), to: 1)
        case "show":
            let key = key!
            let text = view.show(key)
            guard !text.isEmpty else {
                printError("nothing stored under '\(key)' in \(path) (moonport state --state \(shellWord(path)) list shows the keys)")
                throw ExitCode(Exit.scriptError)
            }
            printLine(text, to: 1)
        case "forget":
            let key = key!
            let rows = view.rows(of: key)
            guard !rows.isEmpty else {
                printError("nothing stored under '\(key)' in \(path) (moonport state --state \(shellWord(path)) list shows the keys)")
                throw ExitCode(Exit.scriptError)
            }
            let namespaces = Set(rows.map { StateView.split($0.key).namespace })
            guard namespaces.count == 1 else {
                printError("'\(key)' is stored in \(namespaces.count) namespaces (\(namespaces.sorted().map { $0.isEmpty ? "''" : $0 }.joined(separator: ", "))): "
                    + "say which with --namespace NAME")
                throw ExitCode(Exit.usage)
            }
            let what = view.describe(key)
            try confirm("Forget '\(key)' (\(what)) in \(path)? The next run will do that step afresh.", action: "forget")
            for row in rows { try store.delete(row.key) }
            printLine("forgot '\(key)' (\(what)) in \(path)", to: 1)
        default:  // clear
            let n = view.entries.count
            guard n > 0 else {
                printLine("\(path) holds nothing: nothing to clear", to: 1)
                return
            }
            let scope = namespace.map { " in the namespace '\($0)'" } ?? ""
            try confirm("Remove all \(n) entries\(scope) of \(path)? Every step of the next run starts afresh.", action: "clear")
            if namespace == nil {
                try store.deletePrefix("")
            } else if namespace == "" {
                for e in view.entries { try store.delete(e.key) }
            } else {
                try store.deletePrefix(namespace! + "\u{1E}")
            }
            printLine("cleared \(path) (\(n) entries removed)", to: 1)
        }
    }

    /// Asks on a terminal; without one, refuses unless --yes.
    func confirm(_ question: String, action: String) throws {
        if yes { return }
        guard isatty(0) == 1 else {
            printError("state \(action): not on a terminal, so nothing was changed; add --yes to \(action) without asking")
            throw ExitCode(Exit.usage)
        }
        FileHandle.standardError.write(Data((question + " [y/N] ").utf8))
        let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard answer == "y" || answer == "yes" else {
            printLine("nothing changed", to: 2)
            throw ExitCode(Exit.scriptError)
        }
    }
}

/// A word for the shell: as it is when plain, else single-quoted.
func shellWord(_ s: String) -> String {
    let plain = !s.isEmpty && s.unicodeScalars.allSatisfy {
        CharacterSet.alphanumerics.contains($0) || "._/:@%+=,-".unicodeScalars.contains($0)
    }
    return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The rows of a state database, as an operator reads them.
struct StateView {
    let entries: [StateEntry]

    static let journalSeparator: Character = "\u{1F}"

    /// A stored key's namespace ("" for the unnamed one) and the rest ("once:KEY", "v:KEY", "j:KEY\u{1F}WHAT").
    static func split(_ stored: String) -> (namespace: String, rest: String) {
        guard let sep = stored.firstIndex(of: "\u{1E}") else { return ("", stored) }
        return (String(stored[..<sep]), String(stored[stored.index(after: sep)...]))
    }

    struct Item {
        var namespace: String = ""
        var key: String
        var by: String  // "once", "set", "once (unfinished)"
        var storedAt: String
        var summary: String
    }

    /// The rows stored under `key`: its once results, its set value, its journal.
    func rows(of key: String) -> [StateEntry] {
        entries.filter {
            let rest = Self.split($0.key).rest
            return rest == "once:" + key || rest == "v:" + key || rest.hasPrefix("j:" + key + "\u{1F}")
        }
    }

    var items: [Item] {
        var out: [Item] = []
        var journals: [String: (namespace: String, key: String, count: Int, last: String)] = [:]
        var done: Set<String> = []
        for e in entries {
            let (ns, rest) = Self.split(e.key)
            if rest.hasPrefix("once:") {
                let key = String(rest.dropFirst(5))
                done.insert(ns + "\u{1E}" + key)
                out.append(Item(namespace: ns, key: key, by: "once", storedAt: e.storedAt, summary: Self.summary(onceValue: e.value)))
            } else if rest.hasPrefix("v:") {
                out.append(Item(namespace: ns, key: String(rest.dropFirst(2)), by: "set", storedAt: e.storedAt,
                                summary: Self.summary(value: Self.decode(e.value))))
            } else if rest.hasPrefix("j:"), let sep = rest.firstIndex(of: Self.journalSeparator) {
                let key = String(rest[rest.index(rest.startIndex, offsetBy: 2)..<sep])
                let j = journals[ns + "\u{1E}" + key] ?? (ns, key, 0, "")
                journals[ns + "\u{1E}" + key] = (ns, key, j.count + 1, max(j.last, e.storedAt))
            }
        }
        for (id, j) in journals where !done.contains(id) {
            out.append(Item(namespace: j.namespace, key: j.key, by: "once (unfinished)", storedAt: j.last,
                            summary: "a run stopped inside this step; \(j.count) journal record(s) of what it created, adopted by the next run"))
        }
        return out.sorted { ($0.key, $0.namespace, $0.by) < ($1.key, $1.namespace, $1.by) }
    }

    func listing(path: String, all: Bool) -> String {
        let items = self.items
        let once = items.filter { $0.by == "once" }.count, set = items.filter { $0.by == "set" }.count
        let unfinished = items.count - once - set
        var head = "\(path): \(once) step(s) done (state.once), \(set) value(s) (state.set)"
        if unfinished > 0 { head += ", \(unfinished) step(s) unfinished" }
        guard !items.isEmpty || (all && !entries.isEmpty) else { return head + "\n(nothing stored)" }
        let namespaced = items.contains { !$0.namespace.isEmpty }
        var rows = [["KEY"] + (namespaced ? ["NAMESPACE"] : []) + ["STORED (UTC)", "BY", "WHAT"]]
        for i in items {
            rows.append([printable(i.key)] + (namespaced ? [i.namespace.isEmpty ? "''" : printable(i.namespace)] : [])
                + [i.storedAt, i.by, i.summary])
        }
        var lines = [head, ""] + table(rows)
        let journal = entries.filter { Self.split($0.key).rest.hasPrefix("j:") }
        if all && !journal.isEmpty {
            lines += ["", "journal (what steps in progress created; internal, kept until the step ends):"]
            var jrows = [["STEP", "RECORD", "STORED (UTC)", "VALUE"]]
            for e in journal {
                let rest = Self.split(e.key).rest.dropFirst(2)
                let parts = rest.split(separator: Self.journalSeparator, maxSplits: 1, omittingEmptySubsequences: false)
                jrows.append([printable(String(parts[0])), printable(parts.count > 1 ? String(parts[1]) : ""), e.storedAt,
                              Self.preview(Self.decode(e.value), limit: 80)])
            }
            lines += table(jrows)
        }
        return lines.joined(separator: "\n")
    }

    /// What `forget` removes, in a few words.
    func describe(_ key: String) -> String {
        items.filter { $0.key == key }.map { "\($0.by): \($0.summary)" }.joined(separator: "; ")
    }

    func show(_ key: String) -> String {
        var out: [String] = []
        for e in rows(of: key) {
            let (ns, rest) = Self.split(e.key)
            let label: String
            if rest.hasPrefix("once:") { label = "state.once results" } else if rest.hasPrefix("v:") {
                label = "state.set value"
            } else {
                label = "journal record '\(printable(String(rest.split(separator: Self.journalSeparator, maxSplits: 1).last ?? "")))'"
            }
            var value = Self.decode(e.value)
            if rest.hasPrefix("once:"), let d = value as? [String: Any], let values = d["values"] { value = values }
            let inNamespace = ns.isEmpty ? "" : " (namespace \(printable(ns)))"
            out.append("\(printable(key))\(inNamespace): \(label), stored \(e.storedAt)")
            let jobs = Self.jobs(in: value)
            for j in jobs { out.append("  job: \(j)") }
            out.append(Self.pretty(value))
            out.append("")
        }
        return out.joined(separator: "\n").trimmingCharacters(in: .newlines)
    }

    // MARK: - values

    static func decode(_ text: String) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
    }

    /// Values of fields whose name looks secret masked, and every secret this process knows.
    static func redacted(_ v: Any) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d { out[k] = Redaction.isSecretName(k) && !(x is [String: Any]) && !(x is [Any]) ? Redaction.mask : redacted(x) }
            return out
        }
        if let a = v as? [Any] { return a.map(redacted) }
        return v
    }

    static func json(_ v: Any, pretty: Bool) -> String {
        let value = redacted(v)
        var options: JSONSerialization.WritingOptions = [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: options) else { return Redaction.scrub("\(value)") }
        return Redaction.scrub(String(decoding: data, as: UTF8.self))
    }

    static func pretty(_ v: Any) -> String { json(v, pretty: true) }

    static func preview(_ v: Any, limit: Int = 60) -> String {
        let text = json(v, pretty: false)
        return text.count > limit ? String(text.prefix(limit - 3)) + "..." : text
    }

    /// "clari forecast job 7f3a (done, DONE)" for each stored Job in `v`, in order.
    static func jobs(in v: Any) -> [String] {
        if let d = v as? [String: Any] {
            if d["$class"] as? String == "moonport.Job", let j = d["data"] as? [String: Any] {
                func s(_ k: String) -> String? { j[k].map { "\($0)" }.flatMap { $0 == "<null>" ? nil : $0 } }
                let status = [s("status"), s("vendor_status")].compactMap { $0 }.joined(separator: ", ")
                return ["\(s("vendor") ?? "?") \(s("kind") ?? "?") job \(s("id") ?? "?")\(status.isEmpty ? "" : " (\(status))")"]
            }
            return d.keys.sorted().flatMap { jobs(in: d[$0]!) }
        }
        if let a = v as? [Any] { return a.flatMap { jobs(in: $0) } }
        return []
    }

    static func summary(value: Any) -> String {
        let jobs = jobs(in: value)
        if jobs.count == 1 { return jobs[0] }
        if jobs.count > 1 {
            let shown = jobs.prefix(3).joined(separator: "; ")
            return "\(jobs.count) jobs: \(shown)\(jobs.count > 3 ? "; ..." : "")"
        }
        return preview(value)
    }

    static func summary(onceValue text: String) -> String {
        guard let d = decode(text) as? [String: Any], let values = d["values"] as? [Any] else { return preview(decode(text)) }
        if values.isEmpty { return "done (no results)" }
        return summary(value: values.count == 1 ? values[0] : values)
    }

    // MARK: - text

    /// Control characters (the journal's separator, newlines) shown visibly.
    func printable(_ s: String) -> String {
        String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\u{FFFD}" : Character($0) })
    }

    func table(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for r in rows { for (i, c) in r.enumerated() where i < columns - 1 { widths[i] = min(max(widths[i], c.count), 48) } }
        return rows.map { r in
            r.enumerated().map { i, c in
                i == r.count - 1 ? c : c.padding(toLength: max(widths[i], c.count), withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
