/// One doc block read: its description lines and its annotations.
struct Block {
    struct Param {
        var name: [UInt8], optional: Bool, type: [UInt8], description: [UInt8]
    }

    struct Return {
        var type: [UInt8], description: [UInt8]
    }

    struct Field {
        var name: [UInt8], type: [UInt8], description: [UInt8]
    }

    /// The lines as written, indentation removed (`moonport types` copies them).
    let lines: [[UInt8]]
    var text: [[UInt8]] = []
    var params: [Param] = []
    var returns: [Return] = []
    var fields: [Field] = []
    var see: [[UInt8]] = []
    var deprecated = false
    /// Whether a line says something besides the annotations (a block of
    /// bare @param lines is not a doc).
    var hasText = false

    init(_ lines: [[UInt8]]) {
        self.lines = lines
        typealias I = DocIndex
        for line in lines {
            let afterDashes = line.dropFirst(3)
            if let c = afterDashes.drop(while: I.isSpace).first, c != UInt8(ascii: "@") { hasText = true }
            let body = afterDashes
            let lead = body.drop(while: I.isSpace)
            if lead.first == UInt8(ascii: "@"), lead.count > 1, I.isAlnum(lead[lead.startIndex + 1]) {
                let tagPart = lead.dropFirst()
                let tag = Array(tagPart.prefix(while: I.isAlnum))
                let rest = I.trimmed(tagPart.dropFirst(tag.count))
                switch String(decoding: tag, as: UTF8.self) {
                case "param":
                    guard let (name, tail) = Self.nameAndTail(rest) else { break }
                    let (type, description) = Self.splitType(tail)
                    let optional = name.last == UInt8(ascii: "?")
                    params.append(Param(name: optional ? Array(name.dropLast()) : name, optional: optional,
                                        type: type.isEmpty ? Array("any".utf8) : type,
                                        description: Self.cleanDescription(description)))
                case "return":
                    let (type, description) = Self.splitType(rest)
                    returns.append(Return(type: type, description: Self.cleanDescription(description)))
                case "field":
                    guard let (name, tail) = Self.nameAndTail(rest) else { break }
                    let (type, description) = Self.splitType(tail)
                    fields.append(Field(name: name, type: type, description: Self.cleanDescription(description)))
                case "see":
                    see.append(rest)
                case "deprecated":
                    deprecated = true
                default:
                    break
                }
            } else {
                text.append(Array(body.first == 32 ? body.dropFirst() : body))
            }
        }
        while let first = text.first, first.allSatisfy(I.isSpace) { text.removeFirst() }
        while let last = text.last, last.allSatisfy(I.isSpace) { text.removeLast() }
    }

    /// The first sentence of the description (at most one line's worth): what a listing shows.
    var summary: [UInt8] {
        var words: [[UInt8]] = []
        for line in text {
            let s = DocIndex.trimmed(line)
            if s.isEmpty { break }
            words.append(s)
        }
        let joined = Array(words.joined(separator: [32]))
        var sentence = joined
        if joined.count > 1 {
            for i in 0..<(joined.count - 1)
            where [UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "?")].contains(joined[i]) && DocIndex.isSpace(joined[i + 1]) {
                sentence = Array(joined[...i])
                break
            }
        }
        if sentence.count > 100 {
            var cut = Array(sentence.prefix(97))
            // Drop the last (partial) word and the spaces before it.
            var end = cut.count
            while end > 0, !DocIndex.isSpace(cut[end - 1]) { end -= 1 }
            var start = end
            while start > 0, DocIndex.isSpace(cut[start - 1]) { start -= 1 }
            if start < end { cut = Array(cut[..<start]) }
            sentence = cut + Array(" ...".utf8)
        }
        return sentence
    }

    /// "NAME rest": (NAME, rest with its leading spaces removed).
    static func nameAndTail(_ s: [UInt8]) -> ([UInt8], [UInt8])? {
        let name = s.prefix { !DocIndex.isSpace($0) }
        guard !name.isEmpty else { return nil }
        return (Array(name), Array(s[name.endIndex...].drop(while: DocIndex.isSpace)))
    }

    /// Splits "TYPE rest" where TYPE may hold spaces inside brackets or around
    /// `|` and `:` ("fun(a: string): integer", "table<string, any>").
    static func splitType(_ s: [UInt8]) -> ([UInt8], [UInt8]) {
        var depth = 0
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "<") || c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: ")") || c == UInt8(ascii: ">") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
            } else if DocIndex.isSpace(c) && depth <= 0 {
                var j = i
                while j < n, DocIndex.isSpace(s[j]) { j += 1 }
                let before: UInt8? = i > 0 ? s[i - 1] : nil
                let after: UInt8? = j < n ? s[j] : nil
                let colon = UInt8(ascii: ":"), bar = UInt8(ascii: "|")
                if before == colon || before == bar || after == bar || (after == colon && before == UInt8(ascii: ")")) {
                    i = j - 1
                } else {
                    return (Array(s[..<i]), Array(s[j...]))
                }
            }
            i += 1
        }
        return (s, [])
    }

    static func cleanDescription(_ s: [UInt8]) -> [UInt8] {
        var d = s[...]
        if d.first == UInt8(ascii: "#") { d = d.dropFirst().drop(while: DocIndex.isSpace) }
        if d.starts(with: [DocIndex.dash, DocIndex.dash]) { d = d.dropFirst(2).drop(while: DocIndex.isSpace) }
        return DocIndex.trimmedEnd(d)
    }

    func write(into out: inout LuaWriter) {
        out.raw("{lines = ")
        out.list(lines)
        if !text.isEmpty {
            out.raw(", text = ")
            out.list(text)
        }
        out.records("params", params, flags: { $0.optional ? ["optional"] : [] }) {
            [("name", $0.name), ("type", $0.type), ("description", $0.description)]
        }
        out.records("returns", returns) { [("type", $0.type), ("description", $0.description)] }
        out.records("fields", fields) { [("name", $0.name), ("type", $0.type), ("description", $0.description)] }
        if !see.isEmpty {
            out.raw(", see = ")
            out.list(see)
        }
        if deprecated { out.raw(", deprecated = true") }
        if hasText {
            out.raw(", has_text = true, summary = ")
            out.string(summary)
        }
        out.raw("}")
    }
}

/// Lua source text, built byte by byte.
struct LuaWriter {
    private var bytes: [UInt8] = []

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// A quoted Lua string: printable ASCII as it is, every other byte as
    /// `\ddd` (so a UTF-8 sequence cut by a summary stays bytes, not U+FFFD).
    mutating func string(_ s: [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for b in s {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(b)
            case 32...126:
                bytes.append(b)
            default:
                bytes.append(UInt8(ascii: "\\"))
                let digits = String(b)
                bytes.append(contentsOf: (String(repeating: "0", count: 3 - digits.count) + digits).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func list(_ items: [[UInt8]]) {
        raw("{")
        for item in items {
            string(item)
            raw(",")
        }
        raw("}")
    }

    /// `, NAME = {{k = "v", ...}, ...}` (nothing for an empty list): a list
    /// of records, each written as its string fields in the order given,
    /// with its `flags` (fields that are `true`) after the first field.
    mutating func records<T>(
        _ name: String, _ items: [T], flags: (T) -> [String] = { _ in [] }, _ fields: (T) -> [(String, [UInt8])]
    ) {
        if items.isEmpty { return }
        raw(", \(name) = {")
        for item in items {
            for (i, (key, value)) in fields(item).enumerated() {
                raw(i == 0 ? "{\(key) = " : ", \(key) = ")
                string(value)
                if i == 0 { for flag in flags(item) { raw(", \(flag) = true") } }
            }
            raw("},")
        }
        raw("}")
    }
}
