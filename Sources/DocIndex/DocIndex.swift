/// The doc comments of Lua sources, read into a table that moonport.doc
/// (help(), `moonport types`) uses as it is: the one parser of `---` blocks
/// and `---@` annotations (stdlib/README.md).
///
/// The EmbedStdlib build plugin runs it over stdlib/*.lua and the `---@meta`
/// stubs of stdlib/_meta/ and compiles the result into the binary, so a run
/// parses nothing; at run time it reads only a file the compiled-in index
/// cannot know: a script's own (help(fn) of a script's function) or the
/// files of MOONPORT_STDLIB_DIR.
///
/// The result is the text of a Lua chunk returning
///   {files = {[module] = FILE}, meta = {FILE...}}
/// FILE = {name =, lead = LINE|nil, blocks = {[LINE] = BLOCK},
///         defs = {{owner = "M"|nil, name =, at = LINE}} (`M.name = ...` and
///           `name = value,` lines below a block that says something),
///         functions = {{qname = "a.b:c", params = {...}, at = LINE}},
///         classes = {{name =, at = LINE, var = "Client"|nil}}}
/// where LINE is the line right below a block of `---` lines (a function
/// defined on line LINE has blocks[LINE] as its doc), and
/// BLOCK = {lines = {...} (indentation removed), text = {...}, params =
///          {{name=, optional=, type=, description=}}, returns = {{type=,
///          description=}}, fields = {{name=, type=, description=}}, see =
///          {...}, deprecated =, has_text =, summary =}.
public enum DocIndex {
    public typealias Source = (name: String, source: String)

    /// `return {files = {...}, meta = {...}}` for the modules and the meta stubs.
    public static func luaChunk(modules: [Source], meta: [Source]) -> String {
        var out = LuaWriter()
        out.raw("return {files = {\n")
        for module in modules.sorted(by: { $0.name < $1.name }) {
            out.raw("[")
            out.string(Array(module.name.utf8))
            out.raw("] = ")
            fileEntry(module, into: &out)
            out.raw(",\n")
        }
        out.raw("}, meta = {\n")
        for stub in meta.sorted(by: { $0.name < $1.name }) {
            fileEntry(stub, into: &out)
            out.raw(",\n")
        }
        out.raw("}}\n")
        return out.text
    }

    /// `return FILE` for one file (a script's).
    public static func luaChunk(file: Source) -> String {
        var out = LuaWriter()
        out.raw("return ")
        fileEntry(file, into: &out)
        out.raw("\n")
        return out.text
    }

    // MARK: - One file

    private static func fileEntry(_ file: Source, into out: inout LuaWriter) {
        let lines = splitLines(Array(file.source.utf8))
        // The runs of doc lines: (first, last) as 0-based indices.
        var runs: [(first: Int, last: Int)] = []
        var i = 0
        while i < lines.count {
            if isDocLine(lines[i]) {
                let first = i
                while i + 1 < lines.count, isDocLine(lines[i + 1]) { i += 1 }
                runs.append((first, i))
            }
            i += 1
        }
        var blocks: [Int: Block] = [:]  // key: the 1-based line below the run
        for run in runs {
            blocks[run.last + 2] = Block(lines[run.first...run.last].map { Array($0.drop(while: isSpace)) })
        }
        func line(_ n: Int) -> [UInt8]? { n >= 1 && n <= lines.count ? lines[n - 1] : nil }

        out.raw("{name = ")
        out.string(Array(file.name.utf8))
        if let first = runs.first, first.first == 0 {
            out.raw(", lead = \(first.last + 2)")
        }
        out.raw(",\nblocks = {\n")
        for key in blocks.keys.sorted() {
            out.raw("[\(key)] = ")
            blocks[key]!.write(into: &out)
            out.raw(",\n")
        }
        out.raw("},\ndefs = {")
        // Definitions that are not `function` lines, right below a block that
        // says something: `owner.name = ...` and `name = value,` (a field of a
        // table constructor).
        for run in runs {
            let at = run.last + 2
            guard blocks[at]!.hasText, let text = line(at) else { continue }
            if let (owner, name) = assignment(text) {
                out.raw("{owner = ")
                out.string(owner)
                out.raw(", name = ")
                out.string(name)
                out.raw(", at = \(at)},")
            } else if let name = constructorField(text) {
                out.raw("{name = ")
                out.string(name)
                out.raw(", at = \(at)},")
            }
        }
        out.raw("},\nfunctions = {")
        let functions = functionLines(lines)
        for f in functions {
            out.raw("{qname = ")
            out.string(f.qname)
            out.raw(", params = ")
            out.list(f.params)
            out.raw(", at = \(f.line)},")
        }
        out.raw("},\nclasses = {")
        // `---@class NAME` lines: the class's block is the run that holds the
        // line; `local VAR = ...` right below it names the table whose
        // `function VAR:m(` lines (in `functions`) are its methods.
        for run in runs {
            for n in run.first...run.last {
                guard let name = classLine(lines[n]) else { continue }
                let at = run.last + 2
                out.raw("{name = ")
                out.string(name)
                out.raw(", at = \(at)")
                if let next = line(at), let variable = localAssignment(next) {
                    out.raw(", var = ")
                    out.string(variable)
                }
                out.raw("},")
            }
        }
        out.raw("}}")
    }

    // MARK: - Lines

    static func isSpace(_ b: UInt8) -> Bool { b == 32 || (b >= 9 && b <= 13) }
    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
    }
    static func isWordByte(_ b: UInt8) -> Bool { isAlnum(b) || b == 95 }
    static func isIdentifierStart(_ b: UInt8) -> Bool { isWordByte(b) && !(b >= 48 && b <= 57) }
    static let dash = UInt8(ascii: "-")

    static func splitLines(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: 10, omittingEmptySubsequences: false).map { line in
            var l = Array(line)
            if l.last == 13 { l.removeLast() }
            return l
        }
    }

    /// `---` starts a doc line; `----...` (a ruler) does not.
    static func isDocLine(_ line: [UInt8]) -> Bool {
        let rest = line.drop(while: isSpace)
        return rest.starts(with: [dash, dash, dash]) && !rest.starts(with: [dash, dash, dash, dash])
    }

    static func trimmed<C: BidirectionalCollection>(_ s: C) -> [UInt8] where C.Element == UInt8 {
        Array(s.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    static func trimmedEnd<C: BidirectionalCollection>(_ s: C) -> [UInt8] where C.Element == UInt8 {
        Array(s.reversed().drop(while: isSpace).reversed())
    }

    /// `owner.name = value` (not `==`): (owner, name).
    static func assignment(_ line: [UInt8]) -> ([UInt8], [UInt8])? {
        let rest = line.drop(while: isSpace)
        let path = rest.prefix { isWordByte($0) || $0 == UInt8(ascii: ".") }
        guard let dot = path.lastIndex(of: UInt8(ascii: ".")), dot > path.startIndex else { return nil }
        let name = Array(path[(dot + 1)...])
        guard !name.isEmpty else { return nil }
        let after = rest[path.endIndex...].drop(while: isSpace)
        guard after.first == UInt8(ascii: "="), after.count >= 2,
              after[after.index(after: after.startIndex)] != UInt8(ascii: "=") else { return nil }
        return (Array(path[..<dot]), name)
    }

    /// `name = value,` alone on its line (a field of a table constructor).
    static func constructorField(_ line: [UInt8]) -> [UInt8]? {
        let rest = line.drop(while: isSpace)
        let name = rest.prefix(while: isWordByte)
        guard !name.isEmpty else { return nil }
        var after = rest[name.endIndex...].drop(while: isSpace)
        guard after.first == UInt8(ascii: "=") else { return nil }
        after = after.dropFirst().drop(while: isSpace)
        let value = after.prefix { isWordByte($0) || $0 == UInt8(ascii: ".") }
        guard !value.isEmpty else { return nil }
        after = after[value.endIndex...].drop(while: isSpace)
        if after.first == UInt8(ascii: ",") { after = after.dropFirst() }
        guard after.allSatisfy(isSpace) else { return nil }
        return Array(name)
    }

    /// `function QNAME(params)` lines, QNAME as `a.b:c`.
    static func functionLines(_ lines: [[UInt8]]) -> [(qname: [UInt8], params: [[UInt8]], line: Int)] {
        var found: [(qname: [UInt8], params: [[UInt8]], line: Int)] = []
        let keyword = Array("function".utf8)
        for (i, line) in lines.enumerated() {
            var rest = line.drop(while: isSpace)
            guard rest.starts(with: keyword) else { continue }
            rest = rest.dropFirst(keyword.count)
            guard let first = rest.first, isSpace(first) else { continue }
            rest = rest.drop(while: isSpace)
            let qname = rest.prefix { isWordByte($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") }
            guard !qname.isEmpty else { continue }
            rest = rest[qname.endIndex...].drop(while: isSpace)
            guard rest.first == UInt8(ascii: "("), let close = rest.firstIndex(of: UInt8(ascii: ")")) else { continue }
            let list = rest[rest.index(after: rest.startIndex)..<close]
            let params = list.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                .map { trimmed($0) }.filter { !$0.isEmpty }
            found.append((Array(qname), params, i + 1))
        }
        return found
    }

    /// `---@class NAME` (NAME: letters, digits, `_`, `.`).
    static func classLine(_ line: [UInt8]) -> [UInt8]? {
        var rest = line.drop(while: isSpace)
        guard rest.starts(with: [dash, dash, dash]) else { return nil }
        rest = rest.dropFirst(3).drop(while: isSpace)
        let tag = Array("@class".utf8)
        guard rest.starts(with: tag) else { return nil }
        rest = rest.dropFirst(tag.count)
        guard let first = rest.first, isSpace(first) else { return nil }
        let name = rest.drop(while: isSpace).prefix { isWordByte($0) || $0 == UInt8(ascii: ".") }
        return name.isEmpty ? nil : Array(name)
    }

    /// `local VAR =`: VAR.
    static func localAssignment(_ line: [UInt8]) -> [UInt8]? {
        var rest = line.drop(while: isSpace)
        let keyword = Array("local".utf8)
        guard rest.starts(with: keyword) else { return nil }
        rest = rest.dropFirst(keyword.count)
        guard let first = rest.first, isSpace(first) else { return nil }
        rest = rest.drop(while: isSpace)
        guard let start = rest.first, isIdentifierStart(start) else { return nil }
        let name = rest.prefix(while: isWordByte)
        guard rest[name.endIndex...].drop(while: isSpace).first == UInt8(ascii: "=") else { return nil }
        return Array(name)
    }
}
