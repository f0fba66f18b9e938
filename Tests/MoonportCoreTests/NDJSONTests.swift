import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// The ndjson module (SPEC.md §3): one JSON value per line, streaming,
/// json's decoder and encoder, errors with line and byte, atomic writes.
final class NDJSONTests: RecordFileTestCase {

    private func quoted(_ s: String) -> String {
        "\"" + s.utf8.map { "\\" + String($0) }.joined() + "\""
    }

    @discardableResult
    private func run(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> [LuaValue] {
        do {
            return try host.evaluate(
                "local ndjson = require 'ndjson'; local json = require 'json'; local P = \(quoted(dir.path)) .. '/'\n"
                    + code)
        } catch {
            XCTFail("script failed: \(error)", file: file, line: line)
            throw error
        }
    }

    /// All values of the file, each re-encoded, with their line numbers.
    private func readAll(_ p: String) throws -> String {
        let r = try run(
            """
            local out = {}
            for v, line in ndjson.read(\(quoted(p))) do out[#out + 1] = line .. "=" .. json.encode(v, {sort_keys = true}) end
            return table.concat(out, " ")
            """)
        return r.first?.stringValue ?? ""
    }

    private func failure(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> (kind: String?, message: String, line: Int64?, offset: Int64?, file: String?)
    {
        let r = try run(
            """
            local ok, e = pcall(function() \(code) end)
            if ok then return "no error" end
            if type(e) ~= "table" then return "not a table", tostring(e) end
            return e.kind, e.message, e.line or false, e.offset or false, e.file or false
            """, file: file, line: line)
        XCTAssertEqual(r.count, 5, "expected an error, got \(r)", file: file, line: line)
        func int(_ i: Int) -> Int64? {
            if r.count > i, case .integer(let v) = r[i] { return v }
            return nil
        }
        return (r.first?.stringValue, r.count > 1 ? r[1].stringValue ?? "" : "", int(2), int(3), r.count > 4 ? r[4].stringValue : nil)
    }

    // MARK: ndjson.native.parts / count (Clari's NDJSON path: values copied as JSON, no Lua table per record)

    func testNativePartsCopyValuesAsJSONInParts() throws {
        let p = try put(
            "parts.ndjson",
            [0xEF, 0xBB, 0xBF]
                + Array(
                    ("{ \"b\" : 1, \"a\":[ true ,false, null, -0.5, \"x\\\"y\\u00e9\" ] }\r\n\n  \t\n\"caf\u{E9}\"\n"
                        + "[\"\\ud83d\\ude00\", 1e2]\n[ ]\n{}\n7").utf8))
        let r = try run(
            """
            local native = require "ndjson.native"
            local out = {native.count(\(quoted(p)))}
            local next_part = native.parts(\(quoted(p)), {size = 2})
            for j, n, first, last, more in next_part do out[#out + 1] = j .. " " .. n .. " " .. first .. "-" .. last .. " " .. tostring(more) end
            out[#out + 1] = tostring(next_part())
            return table.concat(out, "\\n")
            """)
        XCTAssertEqual(
            r.first?.stringValue,
            [
                "6",
                #"[{"b":1,"a":[true,false,null,-0.5,"x\"y\u00e9"]},"caf\#u{E9}"] 2 1-4 true"#,
                #"[["😀",100.0],[]] 2 5-6 true"#,
                #"[{},7] 2 7-8 false"#,
                "nil",
            ].joined(separator: "\n"))
        // Parts of at most 30 bytes: the first value alone is 47 bytes.
        let tooBig = try failure("for _ in require('ndjson.native').parts(\(quoted(p)), {bytes = 30}) do end")
        XCTAssertEqual(tooBig.kind, "validation")
        XCTAssertEqual(tooBig.line, 1)
        XCTAssertTrue(tooBig.message.contains("the value is 47 bytes, more than a part of 30 bytes can hold"), tooBig.message)
        let r2 = try run(
            """
            local out = {}
            for j, n, first, last, more in require("ndjson.native").parts(\(quoted(p)), {bytes = 50}) do
              out[#out + 1] = j .. " " .. n .. " " .. first .. "-" .. last .. " " .. tostring(more)
            end
            return table.concat(out, "\\n")
            """)
        XCTAssertEqual(
            r2.first?.stringValue,
            [
                #"[{"b":1,"a":[true,false,null,-0.5,"x\"y\u00e9"]}] 1 1-1 true"#,
                #"["caf\#u{E9}",["😀",100.0],[],{},7] 5 4-8 false"#,
            ].joined(separator: "\n"))
    }

    /// Clari's data.json files: prefix and suffix around each part, counted
    /// in `bytes`, the text written to a file by next_part(file).
    func testNativePartsWithPrefixAndSuffixIntoAFile() throws {
        let p = try put("wrap.ndjson", "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n")
        let r = try run(
            """
            local out = {}
            local next_part = require("ndjson.native").parts(\(quoted(p)), {prefix = '[{"s":"a","records":', suffix = "}]", bytes = 41})
            local file = P .. "part.json"
            while true do
              local size, n, first, last, more = next_part(file)
              if size == nil then break end
              local f = assert(io.open(file, "rb")); local text = f:read("a"); f:close()
              out[#out + 1] = text .. " " .. size .. " " .. n .. " " .. first .. "-" .. last .. " " .. tostring(more)
            end
            return table.concat(out, "\\n")
            """)
        XCTAssertEqual(
            r.first?.stringValue,
            [
                #"[{"s":"a","records":[{"id":1},{"id":2}]}] 41 2 1-2 true"#,
                #"[{"s":"a","records":[{"id":3}]}] 32 1 3-3 false"#,
            ].joined(separator: "\n"))
        let tooBig = try failure(
            "require('ndjson.native').parts(\(quoted(p)), {prefix = '[{\"s\":\"a\",\"records\":', suffix = '}]', bytes = 30})()")
        XCTAssertEqual(tooBig.line, 1)
        XCTAssertTrue(tooBig.message.contains("the value is 8 bytes, more than a part of 30 bytes can hold (with the 22 bytes around its values)"), tooBig.message)
    }

    func testNativePartsErrorsNameFileAndLine() throws {
        let p = try put("bad.ndjson", "{\"a\":1}\n\n{\"a\":1,,}\n")
        let bad = try failure("for _ in require('ndjson.native').parts(\(quoted(p))) do end")
        XCTAssertEqual(bad.kind, "validation")
        XCTAssertEqual(bad.line, 3)
        XCTAssertEqual(bad.file, p)
        XCTAssertTrue(bad.message.contains("line 3"), bad.message)
        // The same message as ndjson.read gives for that line.
        let read = try failure("for _ in ndjson.read(\(quoted(p))) do end")
        XCTAssertEqual(bad.message, read.message)
        let s = try put("scalar.ndjson", "{\"a\":1}\n[1]\nnull\n")
        let scalar = try failure("for _ in require('ndjson.native').parts(\(quoted(s)), {tables = true}) do end")
        XCTAssertEqual(scalar.kind, "validation")
        XCTAssertEqual(scalar.line, 3)
        XCTAssertTrue(scalar.message.contains("line 3: the value is a null, not an object or an array"), scalar.message)
        let deep = try put("deep.ndjson", String(repeating: "[", count: 10_001) + String(repeating: "]", count: 10_001) + "\n")
        let tooDeep = try failure("for _ in require('ndjson.native').parts(\(quoted(deep))) do end")
        XCTAssertEqual(tooDeep.line, 1)
        XCTAssertTrue(tooDeep.message.contains("nesting deeper than"), tooDeep.message)
        let invalid = try put("utf8.ndjson", Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}\n".utf8))
        let notUTF8 = try failure("for _ in require('ndjson.native').parts(\(quoted(invalid))) do end")
        XCTAssertEqual(notUTF8.kind, "validation")
        XCTAssertEqual(notUTF8.line, 1)
        let e = try put("empty.ndjson", "\n \r\n")
        let r = try run(
            "local n = require('ndjson.native'); local it = n.parts(\(quoted(e))); return n.count(\(quoted(e))), it()")
        XCTAssertEqual(r.first, .integer(0))
        XCTAssertEqual(r.last, .nil)
        let missing = try failure("require('ndjson.native').parts(P .. 'nope.ndjson')")
        XCTAssertEqual(missing.kind, "validation")
        XCTAssertTrue(missing.message.contains("cannot open"), missing.message)
    }

    /// The copy of each line is json.encode(json.decode(line)) up to key
    /// order, number spelling and escapes: every value decodes the same.
    func testNativePartsDecodeAsTheLinesDo() throws {
        let lines = [
            #"{"k":"v","n":-12.25,"z":0,"e":"","u":"\u0041\n\t\/","deep":{"a":[[{"b":null}]]}}"#,
            #"  [1, 2 , 3]  "#, #""\u00e9\u4e2d""#, "123456789012345678", "1234567890123456789012", "-1.5E3", "true",
        ]
        let p = try put("same.ndjson", lines.joined(separator: "\n") + "\n")
        let r = try run(
            """
            local a, b = {}, {}
            for v in ndjson.read(\(quoted(p))) do a[#a + 1] = json.encode(v, {sort_keys = true}) end
            for part in require("ndjson.native").parts(\(quoted(p)), {size = 3}) do
              for _, v in ipairs(json.decode(part)) do b[#b + 1] = json.encode(v, {sort_keys = true}) end
            end
            return table.concat(a, "\\n"), table.concat(b, "\\n")
            """)
        XCTAssertEqual(r.count, 2)
        XCTAssertEqual(r.first?.stringValue, r.last?.stringValue)
    }

    func testReadValuesBlankLinesCRLFAndBOM() throws {
        let p = try put(
            "a.ndjson",
            [0xEF, 0xBB, 0xBF]
                + Array("{\"a\":1,\"b\":[1,2.5,null]}\r\n\r\n   \n\"text\"\nnull\n  [] \r\n{}\nfalse\n42".utf8))
        XCTAssertEqual(
            try readAll(p), #"1={"a":1,"b":[1,2.5,null]} 4="text" 5=null 6=[] 7={} 8=false 9=42"#)
    }

    func testNullIsJsonNullAndDoesNotStopTheLoop() throws {
        let p = try put("n.ndjson", "null\nnull\n1\n")
        let r = try run(
            """
            local n, nulls = 0, 0
            for v in ndjson.read(\(quoted(p))) do n = n + 1; if v == json.null then nulls = nulls + 1 end end
            return n, nulls
            """)
        XCTAssertEqual(r, [3, 2])
    }

    func testErrorsNameTheLineAndTheByteInIt() throws {
        let p = try put("bad.ndjson", "{\"a\":1}\n\n{\"a\":2}\n{\"a\": tru}\n{\"a\":4}\n")
        let e = try failure("for v in ndjson.read(\(quoted(p))) do end")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.line, 4)
        XCTAssertEqual(e.offset, 10)
        XCTAssertEqual(e.file, p)
        XCTAssertTrue(e.message.hasPrefix("ndjson.read: \(p): "), e.message)
        XCTAssertTrue(e.message.contains("invalid literal at byte 10 of line 4 (column 10): expected 'true'"), e.message)
        // Two values on one line, an unterminated line at the end of the file.
        let two = try put("two.ndjson", "1\n{} {}\n")
        let e2 = try failure("for v in ndjson.read(\(quoted(two))) do end")
        XCTAssertEqual(e2.line, 2)
        XCTAssertEqual(e2.offset, 4)
        let cut = try put("cut.ndjson", "[1]\n[2")
        let e3 = try failure("for v in ndjson.read(\(quoted(cut))) do end")
        XCTAssertEqual(e3.line, 2)
        XCTAssertTrue(e3.message.contains("of line 2"), e3.message)
    }

    func testMissingFileAndArguments() throws {
        var e = try failure("ndjson.read(P .. 'none.ndjson')")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertTrue(e.message.contains("cannot open"), e.message)
        XCTAssertTrue(e.message.contains("No such file or directory"), e.message)
        e = try failure("ndjson.read({})")
        XCTAssertEqual(e.message, "ndjson.read: argument #1 (path) must be a string, got table")
        e = try failure("ndjson.write(P .. 'x', {1}, {pretty = true})")
        XCTAssertTrue(e.message.contains("unknown field 'pretty'"), e.message)
        e = try failure("ndjson.write(P .. 'x', {a = 1})")
        XCTAssertTrue(e.message.contains("got a table without item 1"), e.message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testWriteAndRoundTrip() throws {
        let p = path("out.ndjson")
        let r = try run(
            """
            local values = {
              {id = 1, name = "Zoë", tags = json.array({}), meta = json.object({})},
              json.null, "line\\nbreak", 1.5, math.maxinteger, true, {1, 2, {x = "y"}},
            }
            local n = ndjson.write(\(quoted(p)), values, {sort_keys = true})
            return n
            """)
        XCTAssertEqual(r, [7])
        XCTAssertEqual(
            try contents(p),
            """
            {"id":1,"meta":{},"name":"Zoë","tags":[]}
            null
            "line\\nbreak"
            1.5
            9223372036854775807
            true
            [1,2,{"x":"y"}]

            """)
        XCTAssertEqual(
            try readAll(p),
            #"1={"id":1,"meta":{},"name":"Zoë","tags":[]} 2=null 3="line\nbreak" 4=1.5 5=9223372036854775807 6=true 7=[1,2,{"x":"y"}]"#
        )
    }

    func testIteratorInputAndAtomicity() throws {
        let p = path("it.ndjson")
        let r = try run(
            """
            local i = 0
            local n = ndjson.write(\(quoted(p)), function()
              i = i + 1
              if i <= 5000 then return {i = i} end
            end)
            local sum = 0
            for v in ndjson.read(\(quoted(p))) do sum = sum + v.i end
            return n, sum
            """)
        XCTAssertEqual(r, [5000, 12_502_500])
        // Failures leave the previous file and no temporary file.
        let before = try contents(p)
        var e = try failure("ndjson.write(\(quoted(p)), {1, 2, {bad = 0/0}})")
        XCTAssertTrue(e.message.contains("item 3"), e.message)
        e = try failure("ndjson.write(\(quoted(p)), {1, nil, 3})")
        XCTAssertTrue(e.message.contains("item 2 is nil"), e.message)
        e = try failure(
            """
            local i = 0
            ndjson.write(\(quoted(p)), function() i = i + 1; if i == 100 then error(json) end; return i end)
            """)
        XCTAssertEqual(try contents(p), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["it.ndjson"])
    }

    func testFiftyMegabyteLine() throws {
        // One 50 MB line between two small ones: the buffer grows for it.
        var bytes = Array("{\"n\":1}\n{\"s\":\"".utf8)
        bytes.reserveCapacity(50_000_100)
        bytes += [UInt8](repeating: 0x61, count: 50_000_000)
        bytes += Array("\"}\n{\"n\":3}\n".utf8)
        let p = try put("big.ndjson", bytes)
        bytes = []
        let r = try run(
            """
            local out = {}
            for v, line in ndjson.read(\(quoted(p))) do out[#out + 1] = v.s and #v.s or v.n end
            return table.unpack(out)
            """)
        XCTAssertEqual(r, [1, 50_000_000, 3])
    }

    func testBreakClosesTheFile() throws {
        let p = try put("a.ndjson", "1\n2\n3\n")
        let before = openFileCount()
        try run(
            """
            for i = 1, 50 do for v in ndjson.read(\(quoted(p))) do break end end
            for i = 1, 10 do pcall(function() for v in ndjson.read(\(quoted(p))) do error("x") end end) end
            """)
        XCTAssertEqual(openFileCount(), before)
    }

    func testWriterObject() throws {
        let p = path("w.ndjson")
        try run(
            """
            local w <close> = ndjson.writer(\(quoted(p)))
            w:write({a = 1})
            w:write(json.null)
            assert(w:close() == 2)
            """)
        XCTAssertEqual(try contents(p), "{\"a\":1}\nnull\n")
    }

    private func openFileCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
}
