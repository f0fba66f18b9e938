import CLua
import LuaBridge

/// The error that ended a run, as a person reads it: the message, a hint
/// for the common slips, then the script's own frames only (the frames of
/// moonport's stdlib, C functions and tasks moonport started are left out
/// unless `-v`). An error raised inside moonport's own parallel work shows
/// once, at the script's line that started it.
public enum ErrorText {
    public static func forPerson(_ message: String, host: MoonportHost) -> String {
        let parsed = parse(message)
        var out = parsed.head
        if let hint = hint(for: parsed, host: host) { out += "\n" + hint }
        if host.options.verbose {
            if let r = message.range(of: "\nstack traceback:") { out += String(message[r.lowerBound...]) }
            return out
        }
        if !parsed.scriptFrames.isEmpty {
            out += "\nstack traceback:\n" + parsed.scriptFrames.map { "\t" + $0 }.joined(separator: "\n")
        }
        return out
    }

    struct Parsed {
        /// The message (the lines before the first traceback).
        var head: String
        /// The frames of the script's own code, innermost first, once each.
        var scriptFrames: [String]
    }

    static func isScriptFrame(_ frame: String) -> Bool {
        !(frame.hasPrefix("[C]") || frame.hasPrefix("stdlib/") || frame.hasPrefix("(...tail")
            || frame.hasPrefix("[string") || frame.hasPrefix("moonport.") || frame.hasPrefix("=") || frame.isEmpty)
    }

    static func parse(_ message: String) -> Parsed {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var head: [String] = []
        var i = 0
        while i < lines.count, lines[i] != "stack traceback:" {
            head.append(lines[i])
            i += 1
        }
        // Segments: the outer traceback, then those of errors that came out of
        // tasks or were kept where first raised; the innermost is the last.
        var segments: [[String]] = [[]]
        while i < lines.count {
            let line = lines[i]
            if line.hasPrefix("\t") {
                segments[segments.count - 1].append(String(line.dropFirst()))
            } else if line != "stack traceback:" {
                segments.append([])
            }
            i += 1
        }
        var seen = Set<String>()
        var frames: [String] = []
        for segment in segments.reversed() {
            for f in segment where isScriptFrame(f) && seen.insert(f).inserted { frames.append(f) }
        }
        return Parsed(head: head.joined(separator: "\n"), scriptFrames: frames)
    }

    /// "file.lua:12" of the script's line where the error showed.
    static func scriptLocation(_ parsed: Parsed) -> (file: String, line: Int)? {
        func location(_ text: String) -> (String, Int)? {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, let n = Int(parts[1]) else { return nil }
            let file = String(parts[0])
            guard isScriptFrame(file) else { return nil }
            return (file, n)
        }
        if let l = location(parsed.head) { return l }
        for f in parsed.scriptFrames { if let l = location(f) { return l } }
        return nil
    }

    static func sourceLine(_ file: String, _ line: Int, script: String?) -> String? {
        var path = file
        // Lua shortens a long chunk name to "...the/end.lua": the script's own path ends so.
        if file.hasPrefix("...") {
            guard let script, script.hasSuffix(String(file.dropFirst(3))) else { return nil }
            path = script
        }
        guard let text = MoonportHost.readWholeFile(path) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard line >= 1, line <= lines.count else { return nil }
        return String(lines[line - 1])
    }

    /// The word just before `.name` / `:name` on a line of code.
    static func owner(of name: String, in code: String) -> (owner: String, separator: Character)? {
        let chars = Array(code)
        let target = Array(name)
        var i = 0
        while i + target.count <= chars.count {
            if Array(chars[i..<(i + target.count)]) == target {
                let endOK = i + target.count == chars.count || !(chars[i + target.count].isLetter || chars[i + target.count].isNumber || chars[i + target.count] == "_")
                var j = i - 1
                while j >= 0, chars[j] == " " { j -= 1 }
                if endOK, j >= 0, chars[j] == "." || chars[j] == ":" {
                    let sep = chars[j]
                    var k = j - 1
                    while k >= 0, chars[k] == " " { k -= 1 }
                    var start = k
                    while start >= 0, chars[start].isLetter || chars[start].isNumber || chars[start] == "_" { start -= 1 }
                    if start < k { return (String(chars[(start + 1)...k]), sep) }
                }
            }
            i += 1
        }
        return nil
    }

    /// The names of the functions a loaded module (or global table) has.
    static func functionNames(of table: String, host: MoonportHost) -> [String] {
        let lua = host.lua
        let top = lua.top
        defer { lua.top = top }
        let chunk = """
            local name = ...
            local t = package.loaded[name]
            if type(t) ~= "table" then t = rawget(_G, name) end
            if type(t) ~= "table" then return "" end
            local names = {}
            for k, v in pairs(t) do
              if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) == "function" then names[#names + 1] = k end
            end
            local mt = getmetatable(t)
            if type(mt) == "table" and type(mt.__index) == "table" then
              for k, v in pairs(mt.__index) do
                if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) == "function" then names[#names + 1] = k end
              end
            end
            return table.concat(names, " ")
            """
        guard lua.load(chunk, name: "=(hint)") == LUA_OK else { return [] }
        lua.push(table)
        guard lua.pcall(1, 1) == LUA_OK, let text = lua.toString(-1) else { return [] }
        return text.split(separator: " ").map(String.init)
    }

    static func quoted(after marker: String, in text: String) -> String? {
        guard let r = text.range(of: marker) else { return nil }
        let rest = text[r.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    static func hint(for parsed: Parsed, host: MoonportHost) -> String? {
        let head = parsed.head
        // A missing module: Lua lists where it looked; say how to add a folder.
        if let module = quoted(after: "module '", in: head), head.contains("' not found") {
            return "hint: moonport looked for '\(module)' in the places listed above (built-in modules first); "
                + "to add a folder of modules, run with -I DIR (before the script), or set MOONPORT_PATH=DIR "
                + "(several folders separated by ; or :)"
        }
        // clari.exprot(...): a misspelt function of a module.
        for marker in ["attempt to call a nil value (field '", "attempt to call a nil value (method '"] {
            guard let name = quoted(after: marker, in: head), let loc = scriptLocation(parsed),
                let code = sourceLine(loc.file, loc.line, script: host.options.scriptPath), let found = owner(of: name, in: code) else { continue }
            let names = functionNames(of: found.owner, host: host)
            guard !names.isEmpty else { continue }
            let best = names.map { ($0, editDistance($0, name)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            if let best, best.1 <= max(2, name.count / 3) {
                return "hint: \(found.owner) has no function '\(name)'; did you mean \(best.0)? (\(found.owner)\(found.separator)\(best.0))"
            }
            return "hint: \(found.owner) has no function '\(name)' (help(\(found.owner)) lists what it has)"
        }
        // client.limits(): a method called with a dot.
        let selfSlip = head.contains("(local 'self')") || head.contains("bad 'self'") || head.contains("calling 'self'")
            || (head.hasPrefix("stdlib/") && head.contains("attempt to index a nil value (local '"))
        if selfSlip,
            let loc = scriptLocation(parsed), let code = sourceLine(loc.file, loc.line, script: host.options.scriptPath) {
            var i = code.startIndex
            while let dot = code[i...].firstIndex(of: ".") {
                let after = code[code.index(after: dot)...]
                let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                if !name.isEmpty, after.dropFirst(name.count).first == "(",
                    let found = owner(of: String(name), in: code), found.separator == "." {
                    return "hint: call it as \(found.owner):\(name)(...) (with a colon): it is a method"
                }
                i = code.index(after: dot)
            }
        }
        return nil
    }

    /// Levenshtein distance (for "did you mean").
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
