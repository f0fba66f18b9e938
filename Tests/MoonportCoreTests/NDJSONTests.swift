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
