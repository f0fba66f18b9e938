import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// The csv module (SPEC.md §3): RFC 4180 reading and writing, streaming,
/// errors with file and line, atomic writes, iterator input, closing at break.
final class CSVTests: RecordFileTestCase {

    /// Runs a chunk with `csv`, `json` and `P` (the test folder) defined.
    @discardableResult
    private func run(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> [LuaValue] {
        do {
            return try host.evaluate(
                "local csv = require 'csv'; local json = require 'json'; local P = \(quoted(dir.path)) .. '/'\n"
                    + code)
        } catch {
            XCTFail("script failed: \(error)", file: file, line: line)
            throw error
        }
    }

    private func quoted(_ s: String) -> String {
        "\"" + s.utf8.map { "\\" + String($0) }.joined() + "\""
    }

    /// Reads `p` with options and returns all rows as JSON text (sorted keys).
    private func readAll(_ p: String, _ options: String = "nil") throws -> String {
        let r = try run(
            """
            local out = {}
            for row in csv.read(\(quoted(p)), \(options)) do out[#out + 1] = row end
            return json.encode(json.array(out), {sort_keys = true})
            """)
        return r.first?.stringValue ?? ""
    }

    /// Runs code that must raise; returns kind, message, file, line of the error.
    private func failure(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> (kind: String?, message: String, file: String?, line: Int64?)
    {
        let r = try run(
            """
            local ok, e = pcall(function() \(code) end)
            if ok then return "no error" end
            if type(e) ~= "table" then return "not a table", tostring(e) end
            return e.kind, e.message, e.file or false, e.line or false
            """, file: file, line: line)
        XCTAssertEqual(r.count, 4, "expected an error, got \(r)", file: file, line: line)
        var lineNumber: Int64?
        if case .integer(let l)? = r.dropFirst(3).first { lineNumber = l }
        return (r.first?.stringValue, r.dropFirst().first?.stringValue ?? "", r.dropFirst(2).first?.stringValue, lineNumber)
    }

    // MARK: csv.native.parts / count (Claravine's CSV path: rows encoded as JSON, no Lua table per row)

    func testNativePartsEncodeRowsAsJSONInParts() throws {
        let p = try put(
            "parts.csv",
            "\u{FEFF}id,name,note\r\n1,\"Smith, John\",\"He said \"\"hi\"\"\"\r\n2,plain,\"two\nlines\"\n\n3,tab\there,\n4,\u{E9}t\u{E9},x\n5,a,b\n")
        let r = try run(
            """
            local native = require "csv.native"
            local out = {native.count(\(quoted(p)))}
            local next_part, header = native.parts(\(quoted(p)), {size = 2})
            out[#out + 1] = table.concat(header, "|")
            for j, n, first, last in next_part do out[#out + 1] = j .. " " .. n .. " " .. first .. "-" .. last end
            out[#out + 1] = tostring(next_part())
            local sub = native.parts(\(quoted(p)), {size = 10, columns = {"note", "id"}})
            out[#out + 1] = (sub())
            return table.concat(out, "\\n")
            """)
        XCTAssertEqual(
            r.first?.stringValue,
            [
                "5", "id|name|note",
                #"[["1","Smith, John","He said \"hi\""],["2","plain","two\nlines"]] 2 2-3"#,
                #"[["3","tab\there",""],["4","\#u{E9}t\#u{E9}","x"]] 2 6-7"#,
                #"[["5","a","b"]] 1 8-8"#,
                "nil",
                #"[["He said \"hi\"","1"],["two\nlines","2"],["","3"],["x","4"],["b","5"]]"#,
            ].joined(separator: "\n"))
    }

    func testNativePartsErrorsAndEmptyFile() throws {
        let p = try put("bad.csv", "id,name\n1,a\n2,b,c\n")
        let missing = try failure("require('csv.native').parts(\(quoted(p)), {columns = {'name', 'budget'}})")
        XCTAssertEqual(missing.kind, "validation")
        XCTAssertTrue(missing.message.contains("'budget' is not a column of"), missing.message)
        let ragged = try failure("for _ in require('csv.native').parts(\(quoted(p))) do end")
        XCTAssertEqual(ragged.kind, "validation")
        XCTAssertEqual(ragged.line, 3)
        XCTAssertTrue(ragged.message.contains("the row has 3 fields but the header has 2 columns"), ragged.message)
        let e = try put("empty.csv", "id,name\n")
        let r = try run(
            "local n = require('csv.native'); local it = n.parts(\(quoted(e))); return n.count(\(quoted(e))), it()")
        XCTAssertEqual(r.first, .integer(0))
        XCTAssertEqual(r.count, 2)
        XCTAssertEqual(r.last, .nil)
    }

    /// V.count_csv_rows's count: every record, of any width, header names unchecked.
    func testNativeCountWithoutHeader() throws {
        let p = try put("loose.csv", "\u{FEFF}a,a\n1\n\n\"2\n\",3,4\r\n5,6")
        let r = try run(
            "local n = require('csv.native'); local V = require('moonport.vendor')\n"
                + "return n.count(\(quoted(p)), {header = false}), V.count_csv_rows(\(quoted(p)))")
        XCTAssertEqual(r, [.integer(4), .integer(3)])
        let open = try put("open.csv", "a,b\n1,\"2\n")
        let e = try failure("require('csv.native').count(\(quoted(open)), {header = false})")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.line, 2)
        let bad = try failure("require('csv.native').count(\(quoted(p)), {headers = false})")
        XCTAssertTrue(bad.message.contains("unknown field 'headers'"), bad.message)
    }

    // MARK: reading

    func testHeaderRowsAndQuoting() throws {
        let p = try put(
            "a.csv",
            "id,name,note\n1,\"Smith, John\",\"He said \"\"hi\"\"\"\n2,plain,\"two\nlines\"\n3,,\"\"\n")
        XCTAssertEqual(
            try readAll(p),
            #"[{"id":"1","name":"Smith, John","note":"He said \"hi\""},{"id":"2","name":"plain","note":"two\nlines"},{"id":"3","name":"","note":""}]"#
        )
    }

    func testArraysWithoutHeaderAndRaggedRowsAllowed() throws {
        let p = try put("a.csv", "a,b,c\n1\n,,\n")
        XCTAssertEqual(try readAll(p, "{header=false}"), #"[["a","b","c"],["1"],["","",""]]"#)
    }

    func testCRLFAndLoneCRAndEmbeddedCRLF() throws {
        let p = try put("a.csv", "k,v\r\n1,\"x\r\ny\"\r\n2,z\r3,w")
        XCTAssertEqual(try readAll(p), #"[{"k":"1","v":"x\r\ny"},{"k":"2","v":"z"},{"k":"3","v":"w"}]"#)
    }

    func testByteOrderMarkIsSkipped() throws {
        let p = try put("a.csv", [0xEF, 0xBB, 0xBF] + Array("id,x\n1,2\n".utf8))
        XCTAssertEqual(try readAll(p), #"[{"id":"1","x":"2"}]"#)
    }

    func testEmptyLinesAreSkippedAndLineNumbersCount() throws {
        let p = try put("a.csv", "a,b\n\n1,2\r\n\r\n\"3\n\",4\n\n5,6\n")
        let r = try run(
            """
            local lines = {}
            for row, line in csv.read(\(quoted(p))) do lines[#lines + 1] = line .. ":" .. row.a end
            return table.concat(lines, " ")
            """)
        XCTAssertEqual(r.first?.stringValue, "3:1 5:3\n 8:5")
    }

    func testSeparatorOption() throws {
        let p = try put("a.csv", "a;b\n\"x;y\";2\n")
        XCTAssertEqual(try readAll(p, "{separator=';'}"), #"[{"a":"x;y","b":"2"}]"#)
        let t = try put("t.tsv", "a\tb\n1\t2\n")
        XCTAssertEqual(try readAll(t, "{separator='\\t'}"), #"[{"a":"1","b":"2"}]"#)
        let e = try failure("csv.read(\(quoted(p)), {separator=';;'})")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertTrue(e.message.contains("exactly one byte"), e.message)
        let q = try failure("csv.read(\(quoted(p)), {separator='\"'})")
        XCTAssertTrue(q.message.contains("cannot be a double quote"), q.message)
    }

    func testBytesPassThrough() throws {
        let p = try put("a.csv", Array("a\n".utf8) + [0xFF, 0xFE, 0x41, 0x0A])
        let r = try run("for row in csv.read(\(quoted(p))) do return row.a end")
        XCTAssertEqual(r.first, .string([0xFF, 0xFE, 0x41]))
    }

    func testQuoteInsideUnquotedFieldIsKept() throws {
        let p = try put("a.csv", "h\n5'11\"\n")
        XCTAssertEqual(try readAll(p), #"[{"h":"5'11\""}]"#)
    }

    func testHeaderErrors() throws {
        let dup = try put("dup.csv", "id,name,id\n1,2,3\n")
        var e = try failure("csv.read(\(quoted(dup)))")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.file, dup)
        XCTAssertEqual(e.line, 1)
        XCTAssertTrue(e.message.contains("column 3 of the header, 'id', repeats the name of column 1"), e.message)
        let empty = try put("empty.csv", "id,,x\n")
        e = try failure("csv.read(\(quoted(empty)))")
        XCTAssertTrue(e.message.contains("column 2 of the header has no name"), e.message)
        // header=false reads them fine.
        XCTAssertEqual(try readAll(dup, "{header=false}"), #"[["id","name","id"],["1","2","3"]]"#)
    }

    func testRaggedRows() throws {
        let p = try put("r.csv", "a,b,c\n1,2,3\n4,5,6,7\n")
        var e = try failure("for _ in csv.read(\(quoted(p))) do end")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.line, 3)
        XCTAssertEqual(e.file, p)
        XCTAssertTrue(e.message.contains("\(p):3: the row has 4 fields but the header has 3 columns"), e.message)
        let short = try put("s.csv", "a,b,c\n1,2\n")
        e = try failure("for _ in csv.read(\(quoted(short))) do end")
        XCTAssertEqual(e.line, 2)
        XCTAssertTrue(e.message.contains("has 2 fields but the header has 3"), e.message)
        XCTAssertEqual(try readAll(short, "{strict=false}"), #"[{"a":"1","b":"2"}]"#)
        // strict=false never drops data: more fields is still an error.
        e = try failure("for _ in csv.read(\(quoted(p)), {strict=false}) do end")
        XCTAssertEqual(e.line, 3)
    }

    func testUnterminatedQuoteNamesTheLineWhereItStarted() throws {
        let p = try put("u.csv", "a,b\n1,2\n3,\"never\nclosed\nat all\n")
        let e = try failure("for _ in csv.read(\(quoted(p))) do end")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.line, 3)
        XCTAssertTrue(e.message.contains("field 2 starts with a quote on line 3 that is never closed"), e.message)
        let bad = try put("b.csv", "a,b\n\"x\"y,2\n")
        let e2 = try failure("for _ in csv.read(\(quoted(bad))) do end")
        XCTAssertEqual(e2.line, 2)
        XCTAssertTrue(e2.message.contains("unexpected character 'y' after the closing quote of field 1"), e2.message)
    }

    func testMissingFileAndArgumentChecks() throws {
        var e = try failure("csv.read(P .. 'nope.csv')")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertEqual(e.file, path("nope.csv"))
        XCTAssertTrue(e.message.contains("cannot open '\(path("nope.csv"))': No such file or directory"), e.message)
        e = try failure("csv.read(42)")
        XCTAssertEqual(e.message, "csv.read: argument #1 (path) must be a string, got number")
        e = try failure("csv.read(P .. 'x.csv', {hedaer=false})")
        XCTAssertTrue(e.message.contains("unknown field 'hedaer'"), e.message)
        e = try failure("csv.read(P .. 'x.csv', {header='yes'})")
        XCTAssertTrue(e.message.contains("field 'header' must be a boolean"), e.message)
    }

    func testRecordsSpanningChunksAndLongFields() throws {
        // 200,000 rows (several 64 KiB chunks), with a 300 KB field in the middle.
        var text = "id,text\n"
        for i in 1...100_000 { text += "\(i),\"v,\(i)\"\n" }
        let big = String(repeating: "x\"\"y\n", count: 60_000)
        text += "big,\"\(big)\"\n"
        for i in 100_001...200_000 { text += "\(i),w\(i)\n" }
        let p = try put("big.csv", text)
        let r = try run(
            """
            local n, sum, biglen, last = 0, 0, 0, nil
            for row, line in csv.read(\(quoted(p))) do
              n = n + 1
              if row.id == "big" then biglen = #row.text; bigline = line else sum = sum + tonumber(row.id) end
              last = line
            end
            return n, sum, biglen, bigline, last
            """)
        XCTAssertEqual(r, [200_001, .integer(200_000 * 200_001 / 2), 240_000, 100_002, 260_002])
    }

    func testBreakClosesTheFile() throws {
        let p = try put("a.csv", "a\n1\n2\n3\n")
        let before = openFileCount()
        try run(
            """
            for i = 1, 50 do
              for row in csv.read(\(quoted(p))) do break end
            end
            """)
        XCTAssertEqual(openFileCount(), before)
        // An error inside the loop closes it too; reading to the end closes it.
        try run(
            """
            for i = 1, 20 do
              pcall(function() for row in csv.read(\(quoted(p))) do error("x") end end)
              for row in csv.read(\(quoted(p))) do end
            end
            """)
        XCTAssertEqual(openFileCount(), before)
        // r:close() and calling the iterator after it.
        let r = try run(
            """
            local it, r = csv.read(\(quoted(p)))
            local first = it().a
            r:close()
            local ok, e = pcall(it)
            return first, ok, e.kind
            """)
        XCTAssertEqual(r, ["1", false, "usage"])
        XCTAssertEqual(openFileCount(), before)
    }

    private func openFileCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    // MARK: writing

    func testWriteQuotesOnlyWhenNeeded() throws {
        let p = path("w.csv")
        let r = try run(
            """
            return csv.write(\(quoted(p)), {
              {"plain", "a,b", 'say "hi"', "two\\nlines", " lead", "trail ", "cr\\rx", "", 42, -7, 1.5, 0.1, 1e300, 3.0, true, false, json.null},
            })
            """)
        XCTAssertEqual(r, [1])
        XCTAssertEqual(
            try contents(p),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" lead\",\"trail \",\"cr\rx\",,42,-7,1.5,0.1,1e+300,3.0,true,false,\n"
        )
    }

    func testKeyedRowsHeaderAndRoundTrip() throws {
        let p = path("k.csv")
        try run(
            """
            local rows = {
              {id = 1, name = "Zoë, \\"Z\\"", note = "line1\\r\\nline2"},
              {id = 2, name = "", note = json.null},
              {id = 3, name = "x"},
            }
            assert(csv.write(\(quoted(p)), rows) == 3)
            """)
        // sorted keys as the header
        XCTAssertEqual(
            try contents(p), "id,name,note\n1,\"Zoë, \"\"Z\"\"\",\"line1\r\nline2\"\n2,,\n3,x,\n")
        XCTAssertEqual(
            try readAll(p),
            #"[{"id":"1","name":"Zoë, \"Z\"","note":"line1\r\nline2"},{"id":"2","name":"","note":""},{"id":"3","name":"x","note":""}]"#
        )
        // explicit header order, separator, CRLF
        let q = path("k2.csv")
        try run(
            """
            csv.write(\(quoted(q)), {{b = "1;2", a = 2}}, {header = {"b", "a"}, separator = ";", crlf = true})
            """)
        XCTAssertEqual(try contents(q), "b;a\r\n\"1;2\";2\r\n")
        XCTAssertEqual(try readAll(q, "{separator=';'}"), #"[{"a":"2","b":"1;2"}]"#)
    }

    func testRoundTripOfAwkwardFields() throws {
        let p = path("rt.csv")
        let r = try run(
            """
            local fields = {"", " ", "\\"", "\\"\\"", ",", "\\n", "\\r\\n", "\\r", "a\\"b", "x,y\\nz", "é", "\\0nul"}
            local rows = {}
            for i, f in ipairs(fields) do rows[i] = {f, "k" .. i} end
            rows[#rows + 1] = {""}   -- a row of one empty field survives (written as "")
            csv.write(\(quoted(p)), rows)
            local i = 0
            for row in csv.read(\(quoted(p)), {header = false}) do
              i = i + 1
              local want = rows[i]
              assert(#row == #want, "row " .. i .. " has " .. #row .. " fields")
              for j = 1, #want do
                assert(row[j] == want[j], ("row %d field %d: %q ~= %q"):format(i, j, row[j], want[j]))
              end
            end
            return i
            """)
        XCTAssertEqual(r, [13])
    }

    func testFloatsRoundTripExactly() throws {
        let p = path("f.csv")
        let r = try run(
            """
            local xs = {0.1, 1/3, 2^53 + 0.0, -1e-7, 123456.789e10, 5e-324, 1.7976931348623157e308}
            local rows = {}
            for i, x in ipairs(xs) do rows[i] = {x} end
            csv.write(\(quoted(p)), rows)
            local i = 0
            for row in csv.read(\(quoted(p)), {header = false}) do
              i = i + 1
              assert(tonumber(row[1]) == xs[i], row[1])
              assert(math.type(tonumber(row[1])) == "float", row[1])
            end
            return i
            """)
        XCTAssertEqual(r, [7])
    }

    func testIteratorInputStreams() throws {
        let p = path("it.csv")
        let r = try run(
            """
            local i = 0
            local n = csv.write(\(quoted(p)), function()
              i = i + 1
              if i <= 1000 then return {id = i, sq = i * i} end
            end, {header = {"id", "sq"}})
            local sum = 0
            for row in csv.read(\(quoted(p))) do sum = sum + tonumber(row.sq) end
            -- rows straight from a reader
            local copied = csv.write(P .. "copy.csv", (csv.read(\(quoted(p)))), {header = {"id", "sq"}})
            return n, sum, copied
            """)
        XCTAssertEqual(r, [1000, 333_833_500, 1000])
        XCTAssertEqual(try contents(path("copy.csv")), try contents(p))
    }

    func testAtomicWriteLeavesNoFileOnError() throws {
        let p = path("atomic.csv")
        // An error in a row, in the iterator, and in a value: neither the
        // target nor a temporary file is left.
        var e = try failure("csv.write(\(quoted(p)), {{1, 2}, {3, {}}})")
        XCTAssertEqual(e.kind, "validation")
        XCTAssertTrue(e.message.contains("row 2, column 2: cannot write a table"), e.message)
        e = try failure(
            """
            local i = 0
            csv.write(\(quoted(p)), function() i = i + 1; if i > 500 then error({kind = "boom"}) end; return {i} end)
            """)
        XCTAssertEqual(e.kind, "boom")
        e = try failure("csv.write(\(quoted(p)), {{0/0}})")
        XCTAssertTrue(e.message.contains("NaN has no CSV form"), e.message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        // An existing file is kept as it was when the write fails.
        _ = try put("atomic.csv", "old\n")
        _ = try failure("csv.write(\(quoted(p)), {{1}, 5})")
        XCTAssertEqual(try contents(p), "old\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["atomic.csv"])
    }

    func testWriteErrorsAndArgumentChecks() throws {
        let p = path("e.csv")
        var e = try failure("csv.write(\(quoted(p)), {{a = 1, b = 2}}, {header = {'a'}})")
        XCTAssertTrue(e.message.contains("row 1 has the field 'b', which is not a column of the header"), e.message)
        XCTAssertEqual(try run("return csv.write(\(quoted(p)), {{a = 1, b = 2}}, {header = {'a'}, extra = 'ignore'})"), [1])
        XCTAssertEqual(try contents(p), "a\n1\n")
        e = try failure("csv.write(\(quoted(p)), {{1, 2, 3}}, {header = {'a', 'b'}})")
        XCTAssertTrue(e.message.contains("row 1 has 3 fields but the header has 2 columns"), e.message)
        e = try failure("csv.write(\(quoted(p)), {a = 1})")
        XCTAssertTrue(e.message.contains("got a table without item 1"), e.message)
        e = try failure("csv.write(\(quoted(p)), 'rows')")
        XCTAssertTrue(e.message.contains("argument #2 (rows) must be a list"), e.message)
        e = try failure("csv.write(\(quoted(p)), {}, {header = {'a', 'a'}})")
        XCTAssertTrue(e.message.contains("header[2] 'a' repeats header[1]"), e.message)
        e = try failure("csv.write(\(quoted(p)), {}, {crlf = 1})")
        XCTAssertTrue(e.message.contains("field 'crlf' must be a boolean"), e.message)
        e = try failure("csv.write(\(quoted(p)), {{}})")
        XCTAssertTrue(e.message.contains("row 1 is empty"), e.message)
        e = try failure("csv.write(P .. 'no/such/dir/x.csv', {})")
        XCTAssertTrue(e.message.contains("No such file or directory"), e.message)
        // The error points at the caller, not at stdlib/csv.lua.
        let r = try run("local ok, e = pcall(csv.write, \(quoted(p)), {{{}}}); return tostring(e)")
        XCTAssertFalse(r.first?.stringValue?.contains("stdlib/csv.lua") ?? true, "\(r)")
        // Header only, for an empty list with a header.
        XCTAssertEqual(try run("return csv.write(\(quoted(p)), {}, {header = {'x', 'y'}})"), [0])
        XCTAssertEqual(try contents(p), "x,y\n")
    }

    func testWriterObject() throws {
        let p = path("w.csv")
        let r = try run(
            """
            do
              local w <close> = csv.writer(\(quoted(p)), {header = {"a"}})
              w:write({a = 1})
              assert(not pcall(w.write, w, {a = {}}))  -- a rejected row leaves nothing behind
              w:write({a = 2})
            end
            local rows = {}
            for row in csv.read(\(quoted(p))) do rows[#rows + 1] = row.a end
            -- aborted by an error in the block: the old file stays
            pcall(function()
              local w <close> = csv.writer(\(quoted(p)))
              w:write({9})
              error("stop")
            end)
            local again = {}
            for row in csv.read(\(quoted(p))) do again[#again + 1] = row.a end
            return table.concat(rows, ","), table.concat(again, ",")
            """)
        XCTAssertEqual(r, ["1,2", "1,2"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["w.csv"])
    }
}
