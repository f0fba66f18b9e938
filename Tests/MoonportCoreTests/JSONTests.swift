import Foundation
import LuaBridge
import MoonportCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The json module (SPEC.md §3): strict decoding with byte offsets, the
/// marks that keep [] and {} apart, numbers, strings, errors with paths,
/// pretty/sort_keys output, nesting limits, the file helpers.
final class JSONTests: XCTestCase {
    private var host: MoonportHost!

    override func setUp() {
        super.setUp()
        host = MoonportHost()
    }

    override func tearDown() {
        host = nil
        super.tearDown()
    }

    /// Runs a chunk (with `json` required) and returns its results.
    @discardableResult
    private func run(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> [LuaValue] {
        do {
            return try host.evaluate("local json = require 'json'\n" + code)
        } catch {
            XCTFail("script failed: \(error)", file: file, line: line)
            throw error
        }
    }

    /// A Lua string literal for any bytes (every byte as \ddd).
    private func lit(_ bytes: [UInt8]) -> String {
        "\"" + bytes.map { "\\" + String(format: "%03d", $0) }.joined() + "\""
    }

    private func lit(_ text: String) -> String { lit(Array(text.utf8)) }

    private func text(_ v: LuaValue?) -> String? { v?.stringValue }

    /// json.decode(input) must raise kind = "validation" with this offset
    /// and a message containing `message`.
    private func assertRejects(
        _ input: [UInt8], offset: Int64, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let r = try run(
            """
            local ok, e = pcall(json.decode, \(lit(input)))
            if ok then return "accepted" end
            if type(e) ~= "table" then return "not a table", tostring(e) end
            return e.kind, e.offset, e.message, tostring(e)
            """, file: file, line: line)
        let shown = String(decoding: input, as: UTF8.self)
        XCTAssertEqual(text(r.first), "validation", "input \(shown.debugDescription): \(r)", file: file, line: line)
        XCTAssertEqual(r.count > 1 ? r[1] : nil, .integer(offset), "offset for \(shown.debugDescription): \(r)",
            file: file, line: line)
        let msg = r.count > 2 ? text(r[2]) ?? "" : ""
        XCTAssertTrue(msg.hasPrefix("json.decode: "), msg, file: file, line: line)
        XCTAssertTrue(msg.contains(message), "\(shown.debugDescription): '\(msg)' lacks '\(message)'",
            file: file, line: line)
        XCTAssertTrue(msg.contains("at byte \(offset)"), "message names the offset: \(msg)", file: file, line: line)
    }

    private func assertRejects(
        _ input: String, offset: Int64, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try assertRejects(Array(input.utf8), offset: offset, message, file: file, line: line)
    }

    /// json.encode(<expression>) must raise kind = "validation" whose
    /// message contains `message` (and whose path field is `path`).
    private func assertEncodeFails(
        _ setup: String, _ message: String, path: String? = nil, options: String = "nil",
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let r = try run(
            """
            local v = (function() \(setup) end)()
            local ok, e = pcall(json.encode, v, \(options))
            if ok then return "accepted", e end
            return e.kind, e.message, e.path
            """, file: file, line: line)
        XCTAssertEqual(text(r.first), "validation", "\(setup): \(r)", file: file, line: line)
        let msg = r.count > 1 ? text(r[1]) ?? "" : ""
        XCTAssertTrue(msg.hasPrefix("json.encode: "), msg, file: file, line: line)
        XCTAssertTrue(msg.contains(message), "'\(msg)' lacks '\(message)'", file: file, line: line)
        if let path { XCTAssertEqual(r.count > 2 ? text(r[2]) : nil, path, msg, file: file, line: line) }
    }

    private func encode(_ expression: String, _ options: String = "nil", file: StaticString = #filePath,
        line: UInt = #line) throws -> String?
    {
        text(try run("return json.encode(\(expression), \(options))", file: file, line: line).first)
    }

    // MARK: decoding: values

    func testDecodesScalarsAndContainers() throws {
        let r = try run(
            """
            local v = json.decode(' {"a": [1, 2.5, "x", true, false], "b": {"c": {}}, "d": []} ')
            assert(#v.a == 5 and v.a.n == nil)
            return v.a[1], v.a[2], v.a[3], v.a[4], v.a[5], next(v.b.c) == nil, #v.d, json.decode('"s"'),
              json.decode("12"), json.decode(" true "), json.decode("false")
            """)
        XCTAssertEqual(r, [1, 2.5, "x", true, false, true, 0, "s", 12, true, false])
    }

    func testNullIsOneUniqueValue() throws {
        let r = try run(
            """
            local v = json.decode('[null, {"x": null}]')
            assert(v[1] == json.null and v[2].x == json.null)
            assert(json.decode("null") == json.null)
            assert(json.null ~= nil and json.null ~= false)
            assert(#v == 2, "null keeps its place in arrays")
            assert(require("json").null == json.null)
            return tostring(json.null), type(json.null), json.encode(json.null), json.encode({json.null, 1}),
              getmetatable(json.null)
            """)
        XCTAssertEqual(r, ["json.null", "userdata", "null", "[null,1]", "json.null"])
    }

    func testIntegersStayIntegersWhenTheyFit() throws {
        let r = try run(
            """
            local function t(s) local v = json.decode(s) return math.type(v), v end
            local out = {}
            for _, s in ipairs{"0", "-0", "7", "-12", "9223372036854775807", "-9223372036854775808"} do
              local ty, v = t(s)
              out[#out + 1] = ty
              out[#out + 1] = v
            end
            return table.unpack(out)
            """)
        XCTAssertEqual(r, [
            "integer", 0, "integer", 0, "integer", 7, "integer", -12,
            "integer", .integer(Int64.max), "integer", .integer(Int64.min),
        ])
    }

    func testNumbersThatAreFloats() throws {
        let r = try run(
            """
            local out = {}
            for _, s in ipairs{"1.0", "1e2", "1E2", "1e+2", "-1.5e-3", "9223372036854775808",
                               "-9223372036854775809", "18446744073709551616", "-0.0", "0.1",
                               "123456789012345678901234567890", "5e-324", "1.7976931348623157e308",
                               "2.2250738585072014e-308", "0.30000000000000004", "1e-400", "0.000001"} do
              local v = json.decode(s)
              out[#out + 1] = math.type(v)
              out[#out + 1] = v
            end
            out[#out + 1] = 1 / json.decode("-0.0")
            return table.unpack(out)
            """)
        let expected: [Double] = [
            1.0, 100.0, 100.0, 100.0, -0.0015, 9223372036854775808.0, -9223372036854775809.0,
            18446744073709551616.0, -0.0, 0.1, 123456789012345678901234567890.0, Double.leastNonzeroMagnitude,
            1.7976931348623157e308, 2.2250738585072014e-308, 0.30000000000000004, 0.0, 0.000001,
        ]
        XCTAssertEqual(r.count, expected.count * 2 + 1)
        for (i, d) in expected.enumerated() {
            XCTAssertEqual(r[2 * i], "float", "#\(i)")
            XCTAssertEqual(r[2 * i + 1], .number(d), "#\(i)")
        }
        XCTAssertEqual(r.last, .number(-.infinity), "-0.0 keeps its sign")
    }

    func testStringsEscapesAndUnicode() throws {
        let r = try run(
            #"""
            local s = json.decode([["\"\\\/\b\f\n\r\t"]])
            local pair = json.decode([["\ud83d\ude00"]])
            local nul = json.decode([["a\u0000b"]])
            local raw = json.decode('"héllo 東京 😀"')
            local bmp = json.decode([["\u00e9\u6771\uFFFF\u0041"]])
            return s, pair, #pair, nul, #nul, raw, bmp
            """#)
        XCTAssertEqual(r[0], .string(Array("\"\\/\u{08}\u{0C}\n\r\t".utf8)))
        XCTAssertEqual(r[1], .string([0xF0, 0x9F, 0x98, 0x80]))
        XCTAssertEqual(r[2], 4)
        XCTAssertEqual(r[3], .string([0x61, 0x00, 0x62]))
        XCTAssertEqual(r[4], 3)
        XCTAssertEqual(r[5], "héllo 東京 😀")
        XCTAssertEqual(r[6], .string(Array("é東\u{FFFF}A".utf8)))
    }

    func testLongStringsAndManyEscapes() throws {
        let r = try run(
            #"""
            local long = string.rep("abcdefghij", 10000)
            local esc = string.rep([[x\n\"\u00e9]], 5000)
            local a = json.decode('"' .. long .. '"')
            local b = json.decode('"' .. esc .. '"')
            return a == long, b == string.rep('x\n"é', 5000)
            """#)
        XCTAssertEqual(r, [true, true])
    }

    func testAllRFCWhitespaceIsAccepted() throws {
        let r = try run(#"return json.decode(" \t\n\r[ 1 ,\r\n\t2 ]\r\n\t ")[2]"#)
        XCTAssertEqual(r, [2])
    }

    func testDuplicateKeysLastWins() throws {
        let r = try run(#"local v = json.decode('{"a":1,"b":2,"a":3}') return v.a, v.b"#)
        XCTAssertEqual(r, [3, 2])
    }

    func testDecodedTablesKeepTheirMark() throws {
        let r = try run(
            """
            local v = json.decode('{"a":[],"b":{},"c":[[]],"d":[{}]}')
            return json.encode(v, {sort_keys=true}), json.encode(json.decode("[]")), json.encode(json.decode("{}")),
              getmetatable(v.a) == getmetatable(v.c), getmetatable(v.a) ~= getmetatable(v.b)
            """)
        XCTAssertEqual(r, [#"{"a":[],"b":{},"c":[[]],"d":[{}]}"#, "[]", "{}", true, true])
    }

    func testBigContainersAreBuiltCorrectly() throws {
        // More pending values than fit comfortably on the Lua stack: they are
        // moved into their tables in chunks (flattening nested ones too).
        let r = try run(
            """
            local n = 300000
            local parts = {}
            for i = 1, n do parts[i] = tostring(i) end
            local arr = json.decode("[" .. table.concat(parts, ",") .. "]")
            assert(#arr == n and arr[1] == 1 and arr[n] == n and arr[123456] == 123456)
            local kv = {}
            for i = 1, 150000 do kv[i] = '"k' .. i .. '":' .. i end
            kv[#kv + 1] = '"k7":"last"' -- a duplicate after the first chunk: last wins
            local obj = json.decode("{" .. table.concat(kv, ",") .. "}")
            assert(obj.k1 == 1 and obj.k150000 == 150000 and obj.k7 == "last")
            local nested = json.decode('{"a":[' .. table.concat(parts, ",") .. '],"b":[{"c":[' ..
              table.concat(parts, ",", 1, 250000) .. ']}],"d":1}')
            assert(#nested.a == n and nested.a[n] == n)
            assert(#nested.b == 1 and #nested.b[1].c == 250000 and nested.b[1].c[250000] == 250000)
            assert(nested.d == 1)
            local count = 0
            for _ in pairs(obj) do count = count + 1 end
            return count, json.encode(json.decode(json.encode(arr))) == json.encode(arr)
            """)
        XCTAssertEqual(r, [150000, true])
    }

    func testDeepNestingUpToTheLimit() throws {
        let r = try run(
            """
            local n = 10000
            local s = string.rep("[", n) .. string.rep("]", n)
            local v = json.decode(s)
            local depth = 0
            while type(v) == "table" do depth = depth + 1; v = v[1] end
            local o = string.rep('{"a":', n) .. "1" .. string.rep("}", n)
            local w = json.decode(o)
            return depth, json.encode(json.decode(s)) == s, json.encode(w) == o
            """)
        XCTAssertEqual(r, [10000, true, true])
    }

    func testNestingBeyondTheLimitIsACleanError() throws {
        let r = try run(
            """
            local ok, e = pcall(json.decode, string.rep("[", 10001) .. string.rep("]", 10001))
            local ok2, e2 = pcall(json.decode, string.rep('{"a":', 100000))
            local ok3, e3 = pcall(json.decode, string.rep("[", 1000000))
            return ok, e.kind, e.offset, e.message, ok2, e2.offset, ok3, e3.offset
            """)
        XCTAssertEqual(r[0], false)
        XCTAssertEqual(r[1], "validation")
        XCTAssertEqual(r[2], 10001)
        XCTAssertTrue(text(r[3])?.contains("nesting deeper than 10000 levels") ?? false, "\(r)")
        XCTAssertEqual(r[4], false)
        XCTAssertEqual(r[5], .integer(10000 * 5 + 1))
        XCTAssertEqual(r[6], false)
        XCTAssertEqual(r[7], 10001)
    }

    func testRepeatedLargeDecodesLetTheCollectorKeepUp() throws {
        // Regression guard: stopping the collector for a call and restarting
        // it (lua_gc STOP/RESTART) forgives what the call allocated, and a
        // loop of large decodes or encodes then grows the heap without bound
        // (about +25 MB a round here).
        let r = try run(
            """
            local parts = {}
            for i = 1, 150000 do parts[i] = '{"id":' .. i .. ',"name":"user number ' .. i .. '","tags":["a","b"]}' end
            local s = "[" .. table.concat(parts, ",") .. "]"
            parts = nil
            collectgarbage()
            local base = collectgarbage("count")
            local v = json.decode(s)
            collectgarbage()
            local one = collectgarbage("count") - base
            local peak = 0
            for i = 1, 10 do
              v = json.decode(s)
              peak = math.max(peak, collectgarbage("count") - base)
            end
            local encoded = 0
            for i = 1, 10 do
              encoded = encoded + #json.encode(v)
              peak = math.max(peak, collectgarbage("count") - base)
            end
            return peak / one, encoded == 10 * #s
            """)
        guard case .number(let ratio) = r[0] else { return XCTFail("\(r)") }
        XCTAssertLessThan(ratio, 6, "heap peak over the rounds, in units of one decoded value")
        XCTAssertEqual(r[1], true)
    }

    // MARK: decoding: rejections with offsets

    func testRejectsTrailingCommas() throws {
        try assertRejects("[1,2,]", offset: 5, "unexpected character ',' at byte 5 (line 1, column 5): trailing comma before ']'")
        try assertRejects("{\"a\":1,}", offset: 7, "trailing comma before '}'")
        try assertRejects("{\"a\": [1,\n  2,\n]}", offset: 14, "at byte 14 (line 2, column 4): trailing comma")
        try assertRejects("[,]", offset: 2, "expected a JSON value")
        try assertRejects("[1,,2]", offset: 4, "expected a JSON value")
    }

    func testRejectsBadNumbers() throws {
        try assertRejects("01", offset: 2, "leading zeros are not allowed")
        try assertRejects("-01", offset: 3, "leading zeros are not allowed")
        try assertRejects("[00]", offset: 3, "leading zeros")
        try assertRejects("+1", offset: 1, "must not start with '+'")
        try assertRejects(".5", offset: 1, "must start with a digit")
        try assertRejects("1.", offset: 3, "expected a digit after the decimal point")
        try assertRejects("1.e5", offset: 3, "expected a digit after the decimal point")
        try assertRejects("1e", offset: 3, "expected a digit in the exponent")
        try assertRejects("1e+", offset: 4, "expected a digit in the exponent")
        try assertRejects("-", offset: 2, "expected a digit after '-'")
        try assertRejects("-a", offset: 2, "expected a digit after '-'")
        try assertRejects("0x10", offset: 2, "after the JSON value")
        try assertRejects("1.5.3", offset: 4, "after the JSON value")
    }

    func testRejectsNaNAndInfinity() throws {
        try assertRejects("NaN", offset: 1, "JSON has no NaN")
        try assertRejects("nan", offset: 1, "JSON has no NaN")
        try assertRejects("Infinity", offset: 1, "no infinities")
        try assertRejects("-Infinity", offset: 1, "no infinities")
        try assertRejects("[1, Infinity]", offset: 5, "no infinities")
    }

    func testRejectsBadStrings() throws {
        try assertRejects("\"\\ud800\"", offset: 2, "lone high surrogate")
        try assertRejects("\"ab\\uD800x\"", offset: 4, "lone high surrogate")
        try assertRejects("\"\\ud800\\u0041\"", offset: 2, "not by a low surrogate")
        try assertRejects("\"\\udc00\"", offset: 2, "lone low surrogate")
        try assertRejects("\"\\ude00\\ud83d\"", offset: 2, "lone low surrogate")
        try assertRejects("\"\\x\"", offset: 2, "invalid escape '\\x'")
        try assertRejects("\"\\'\"", offset: 2, "invalid escape")
        try assertRejects("\"\\u12g4\"", offset: 2, "4 hex digits")
        try assertRejects("\"a\nb\"", offset: 3, "raw control character 0x0A (newline)")
        try assertRejects("\"a\tb\"", offset: 3, "write it as \\t")
        try assertRejects([0x22, 0x61, 0x01, 0x22], offset: 3, "write it as \\u0001")
        try assertRejects([0x22, 0x00, 0x22], offset: 2, "raw control character 0x00")
        try assertRejects("\"abc", offset: 5, "inside the string that starts at byte 1")
        try assertRejects("\"abc\\", offset: 6, "inside the string")
        try assertRejects("'a'", offset: 1, "double quotes")
        try assertRejects("{'a':1}", offset: 2, "double quotes")
    }

    func testRejectsInvalidUTF8() throws {
        try assertRejects([0x22, 0xFF, 0x22], offset: 2, "invalid UTF-8")
        try assertRejects([0x22, 0x61, 0xC0, 0xAF, 0x22], offset: 3, "invalid UTF-8")  // overlong
        try assertRejects([0x22, 0xED, 0xA0, 0x80, 0x22], offset: 2, "invalid UTF-8")  // a surrogate
        try assertRejects([0x22, 0xE2, 0x82, 0x22], offset: 2, "invalid UTF-8")  // truncated
        try assertRejects([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], offset: 2, "invalid UTF-8")  // > U+10FFFF
        try assertRejects([0x22, 0x80, 0x22], offset: 2, "invalid UTF-8")  // a lone continuation
        try assertRejects([0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3], offset: 9, "invalid UTF-8")
        try assertRejects([0xFF], offset: 1, "expected a JSON value")
        try assertRejects([0x5B, 0x31, 0xC3, 0xA9, 0x5D], offset: 3, "expected ',' or ']'")
    }

    func testRejectsCommentsLiteralsAndGarbage() throws {
        try assertRejects("// c\n1", offset: 1, "JSON does not allow comments")
        try assertRejects("[1 /* c */]", offset: 4, "JSON does not allow comments")
        try assertRejects("1 2", offset: 3, "unexpected character '2' at byte 3 (line 1, column 3) after the JSON value")
        try assertRejects("{} {}", offset: 4, "NDJSON")
        try assertRejects("[1]]", offset: 4, "after the JSON value")
        try assertRejects("tru", offset: 4, "expected 'true'")
        try assertRejects("trux", offset: 4, "expected 'true'")
        try assertRejects("nul", offset: 4, "expected 'null'")
        try assertRejects("fals", offset: 5, "expected 'false'")
        try assertRejects("True", offset: 1, "lowercase")
        try assertRejects("None", offset: 1, "lowercase")
        try assertRejects("undefined", offset: 1, "no undefined")
        try assertRejects("[1 2]", offset: 4, "expected ',' or ']' after an array item")
        try assertRejects("{\"a\" 1}", offset: 6, "expected ':' after the object key")
        try assertRejects("{\"a\":1 \"b\":2}", offset: 8, "a comma is missing")
        try assertRejects("{1:2}", offset: 2, "expected a string key")
        try assertRejects("{a:1}", offset: 2, "object keys must be strings in double quotes")
        try assertRejects("[1}", offset: 3, "the array is closed with '}'")
        try assertRejects("{\"a\":1]", offset: 7, "the object is closed with ']'")
    }

    func testRejectsEmptyAndTruncatedInput() throws {
        try assertRejects("", offset: 1, "the input is empty")
        try assertRejects("   ", offset: 4, "unexpected end of input at byte 4")
        try assertRejects("[", offset: 2, "the array opened at byte 1 (line 1, column 1) is not closed")
        try assertRejects("[1,", offset: 4, "expected a JSON value")
        try assertRejects("{\"a\":", offset: 6, "expected a JSON value")
        try assertRejects("{\"a\"", offset: 5, "expected ':'")
        try assertRejects("{", offset: 2, "expected a string key")
        try assertRejects("[1", offset: 3, "expected ',' or ']'")
    }

    func testRejectsNonRFCWhitespaceAndTheBOM() throws {
        try assertRejects([0x0C, 0x31], offset: 1, "expected a JSON value")  // form feed
        try assertRejects([0x0B, 0x31], offset: 1, "expected a JSON value")  // vertical tab
        try assertRejects([0xC2, 0xA0, 0x31], offset: 1, "expected a JSON value")  // no-break space
        try assertRejects([0xEF, 0xBB, 0xBF, 0x7B, 0x7D], offset: 1, "byte order mark")
    }

    func testHTMLAndXMLInputSayWhatTheyLookLike() throws {
        try assertRejects("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", offset: 1,
            "expected a JSON value at byte 1 (line 1, column 1) but found '<' (the text looks like an HTML page, not JSON)")
        try assertRejects("\n  <?xml version=\"1.0\"?><a/>", offset: 4, "looks like XML")
    }

    func testLineAndColumnCountCharacters() throws {
        try assertRejects("{\n  \"é\": [1,\n    2,,]}", offset: 21, "at byte 21 (line 3, column 7)")
        try assertRejects("{\"é\": [1,,]}", offset: 11, "at byte 11 (line 1, column 10)")
    }

    func testArgumentErrorsNameTheArgument() throws {
        let r = try run(
            """
            local ok, e = pcall(json.decode, 42)
            local ok2, e2 = pcall(json.decode)
            local ok3, e3 = pcall(json.encode, {}, "pretty")
            local ok4, e4 = pcall(json.encode, {}, {pretty = 1})
            local ok5, e5 = pcall(json.encode, {}, {prety = true})
            local ok6, e6 = pcall(json.encode)
            local ok7, e7 = pcall(json.array, 1)
            return e.kind, e.message, e2.message, e3.message, e4.message, e5.message, e6.message, e7.message
            """)
        XCTAssertEqual(r[0], "validation")
        XCTAssertEqual(r[1], "json.decode: argument #1 (text) must be a string, got number")
        XCTAssertEqual(r[2], "json.decode: argument #1 (text) must be a string, got no value")
        XCTAssertEqual(r[3], "json.encode: argument #2 (options) must be a table, got string")
        XCTAssertEqual(r[4], "json.encode: options: field 'pretty' must be a boolean, got number")
        XCTAssertEqual(r[5], "json.encode: options: unknown field 'prety' (known: pretty, sort_keys)")
        XCTAssertEqual(r[6], "json.encode: argument #1 (value) must be a value, got no value")
        XCTAssertEqual(r[7], "json.array: argument #1 (table) must be a table, got number")
    }

    // MARK: encoding

    func testEncodesScalars() throws {
        XCTAssertEqual(try encode("nil"), "null")
        XCTAssertEqual(try encode("true"), "true")
        XCTAssertEqual(try encode("false"), "false")
        XCTAssertEqual(try encode("0"), "0")
        XCTAssertEqual(try encode("-17"), "-17")
        XCTAssertEqual(try encode("math.maxinteger"), "9223372036854775807")
        XCTAssertEqual(try encode("math.mininteger"), "-9223372036854775808")
        XCTAssertEqual(try encode("'hi'"), "\"hi\"")
    }

    func testEncodesFloatsSoTheyReadBackAsTheSameFloat() throws {
        let cases: [(String, String)] = [
            ("1.0", "1.0"), ("0.1", "0.1"), ("-0.0", "-0.0"), ("1e300", "1e+300"), ("5e-324", "5e-324"),
            ("1e-7", "1e-07"), ("2^63", "9.223372036854776e+18"), ("2^53", "9007199254740992.0"),
            ("123.456", "123.456"), ("-2.5", "-2.5"), ("1/3", "0.3333333333333333"), ("1e16", "1e+16"),
            ("0.1 + 0.2", "0.30000000000000004"), ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ]
        for (lua, json) in cases {
            XCTAssertEqual(try encode(lua), json, lua)
        }
        let r = try run(
            """
            local xs = {0.1, 1e300, -0.0, 5e-324, 1.0, 2^63, -2^63, 1/3, 2.2250738585072014e-308, 123456789.125}
            local seed = 12345
            for i = 1, 2000 do
              seed = (seed * 1103515245 + 12345) % 2147483648
              local m = seed / 2147483648
              xs[#xs + 1] = m * 10 ^ ((seed % 600) - 300)
              xs[#xs + 1] = -m * (seed % 1000)
            end
            for i, x in ipairs(xs) do
              local s = json.encode(x)
              local back = json.decode(s)
              assert(math.type(back) == "float", s)
              assert(back == x and 1 / back == 1 / x, s)
              assert(not s:find("[ni]"), s) -- no inf / nan
            end
            local list = json.decode(json.encode(xs))
            for i, x in ipairs(xs) do assert(list[i] == x) end
            return #xs
            """)
        XCTAssertEqual(r, [4010])
    }

    func testEncodesStringsWithEscapes() throws {
        XCTAssertEqual(try encode(#"'"\\/\b\f\n\r\t'"#), #""\"\\/\b\f\n\r\t""#)
        XCTAssertEqual(try encode(#"'a\0b\1\31\127'"#), "\"a\\u0000b\\u0001\\u001f\u{7F}\"")
        XCTAssertEqual(try encode("'héllo 東京 😀'"), "\"héllo 東京 😀\"")
        XCTAssertEqual(try encode("string.rep('ab\"', 1000)"), "\"" + String(repeating: "ab\\\"", count: 1000) + "\"")
        let r = try run(
            """
            local all = {}
            for i = 0, 127 do all[#all + 1] = string.char(i) end
            local s = table.concat(all) .. "é東😀" .. string.rep("x", 100)
            return json.decode(json.encode(s)) == s, json.decode(json.encode({[s] = s}))[s] == s
            """)
        XCTAssertEqual(r, [true, true])
    }

    func testRejectsInvalidUTF8WhenEncoding() throws {
        try assertEncodeFails(
            "return {name = 'ab\\255c'}",
            "the string at $.name is not valid UTF-8 (byte 0xFF at position 3 of the string)", path: "$.name")
        try assertEncodeFails("return {'ok', 'x\\192\\175'}", "byte 0xC0 at position 2", path: "$[2]")
        try assertEncodeFails("return {'\\237\\160\\128'}", "not valid UTF-8", path: "$[1]")
        try assertEncodeFails(
            "return {a = {['k\\255'] = 1}}", "the key \"k\\xFF\" of $.a is not valid UTF-8", path: "$.a")
        try assertEncodeFails("return {a = {['k\\255'] = 1}}", "not valid UTF-8", options: "{sort_keys = true}")
    }

    func testArraysAndObjects() throws {
        XCTAssertEqual(try encode("{}"), "{}")
        XCTAssertEqual(try encode("{1, 2, 3}"), "[1,2,3]")
        XCTAssertEqual(try encode("json.array({})"), "[]")
        XCTAssertEqual(try encode("json.object({})"), "{}")
        XCTAssertEqual(try encode("{a = {}}"), #"{"a":{}}"#)
        XCTAssertEqual(try encode("{json.array({}), json.object({})}"), "[[],{}]")
        XCTAssertEqual(try encode("{[3] = 'c', [1] = 'a', [2] = 'b'}"), #"["a","b","c"]"#)
        let r = try run(
            """
            local t = {}
            for i = 10, 1, -1 do t[i] = i end -- keys in the hash part, out of order
            local u = {}
            for i = 1, 1000 do u[#u + 1] = {i} end
            local marked = json.array({1, 2})
            local o = json.object({a = 1})
            return json.encode(t), #json.encode(u), rawequal(json.array(marked), marked), json.encode(o),
              json.encode({x = {1, {y = json.null}}})
            """)
        XCTAssertEqual(r[0], "[1,2,3,4,5,6,7,8,9,10]")
        XCTAssertEqual(r[1], 5894)  // 2 brackets + 999 commas + 1000 * "[]" + 2893 digits
        XCTAssertEqual(r[2], true)
        XCTAssertEqual(r[3], #"{"a":1}"#)
        XCTAssertEqual(r[4], #"{"x":[1,{"y":null}]}"#)
    }

    func testMarksOnTablesWithTheirOwnMetatable() throws {
        let r = try run(
            """
            local Class = {__index = {}}
            local a = setmetatable({}, Class)
            local b = setmetatable({}, Class)
            json.array(a)
            local dk = setmetatable({}, {__jsontype = "array"})
            local dko = setmetatable({1}, {__jsontype = "object"})
            local ok, e = pcall(json.encode, dko)
            return json.encode(a), json.encode(b), getmetatable(a) == Class, json.encode(dk), e.message,
              json.encode(json.object(json.array({})))
            """)
        XCTAssertEqual(r[0], "[]")
        XCTAssertEqual(r[1], "{}", "the mark is per table, not per metatable")
        XCTAssertEqual(r[2], true, "json.array keeps the table's own metatable")
        XCTAssertEqual(r[3], "[]")
        XCTAssertEqual(text(r[4]), "json.encode: key 1 of $ is not a string (the table is marked as a JSON object)")
        XCTAssertEqual(r[5], "{}")
    }

    func testRoundTrips() throws {
        let r = try run(
            #"""
            local docs = {
              '[]', '{}', '[[],{},[{}],{"a":[]}]', '0', '-1', '9223372036854775807', '-9223372036854775808',
              '1.0', '0.1', '1e+300', '-0.0', '5e-324', '"a\\u0000b"', '"\\"\\\\\\n\\t"', '"héllo 😀"',
              '[1,2.5,"x",true,false,null]', '{"a":{"b":{"c":[1,[2,[3]]]}}}', '"\\u001f"',
            }
            local out = {}
            for _, d in ipairs(docs) do
              local again = json.encode(json.decode(d), {sort_keys = true})
              if again ~= d then out[#out + 1] = d .. " -> " .. again end
            end
            local v = json.decode('{"n":[1,2,3],"o":{"x":null,"y":[]},"s":"t"}')
            local e = json.encode(v, {sort_keys = true})
            return #out == 0 and "ok" or table.concat(out, "\n"), e
            """#)
        XCTAssertEqual(r[0], "ok")
        XCTAssertEqual(r[1], #"{"n":[1,2,3],"o":{"x":null,"y":[]},"s":"t"}"#)
    }

    func testPrettyAndSortedOutput() throws {
        let r = try run(
            """
            local v = json.decode('{"b":[1,{"z":true,"a":null}],"a":"x","c":{},"d":[],"B":2,"aa":1,"é":0}')
            return json.encode(v, {pretty = true, sort_keys = true}), json.encode(v, {sort_keys = true}),
              json.encode({}, {pretty = true}), json.encode(json.array({}), {pretty = true}),
              json.encode(1, {pretty = true}), json.encode({1, {2, {}}}, {pretty = true})
            """)
        XCTAssertEqual(text(r[0]), """
            {
              "B": 2,
              "a": "x",
              "aa": 1,
              "b": [
                1,
                {
                  "a": null,
                  "z": true
                }
              ],
              "c": {},
              "d": [],
              "é": 0
            }
            """)
        XCTAssertEqual(text(r[1]), #"{"B":2,"a":"x","aa":1,"b":[1,{"a":null,"z":true}],"c":{},"d":[],"é":0}"#)
        XCTAssertEqual(r[2], "{}")
        XCTAssertEqual(r[3], "[]")
        XCTAssertEqual(r[4], "1")
        XCTAssertEqual(text(r[5]), "[\n  1,\n  [\n    2,\n    {}\n  ]\n]")
    }

    func testUnsortedObjectsHaveEveryKey() throws {
        let r = try run(
            """
            local t = {}
            for i = 1, 500 do t["k" .. i] = i end
            local back = json.decode(json.encode(t))
            local n = 0
            for k, v in pairs(back) do assert(t[k] == v); n = n + 1 end
            return n
            """)
        XCTAssertEqual(r, [500])
    }

    // MARK: encoding errors

    func testEncodeErrorsNameTheKeyAndThePath() throws {
        try assertEncodeFails(
            "return {items = {1, 2, nil, 4}}",
            "key 4 of $.items is not a string (a table with holes is not an array: index 3 is missing)",
            path: "$.items")
        try assertEncodeFails(
            "return {items = {[1] = 1, [2] = 2, [5] = 5, [9] = 9}}",
            "key 5 of $.items is not a string (a table with holes is not an array: index 3 is missing)")
        try assertEncodeFails(
            "return {1, 2, x = 3}", "key 1 of $ is not a string (the table mixes integer keys with string keys")
        try assertEncodeFails(
            "return {x = 3, 1, 2}", "key 1 of $ is not a string", path: "$")
        try assertEncodeFails(
            "return {x = 3, 1, 2}", "key 1 of $ is not a string", path: "$", options: "{sort_keys = true}")
        try assertEncodeFails("return {a = {[1.5] = 1}}", "key 1.5 of $.a is not a string (a float key)", path: "$.a")
        try assertEncodeFails("return {[true] = 1}", "key true of $ is not a string (a boolean key)")
        try assertEncodeFails("return {[{}] = 1}", "is not a string (a table as a key)")
        try assertEncodeFails("return {[0] = 'z', 'a'}", "key 0 of $ is not a string (array indexes start at 1)")
        try assertEncodeFails("return {[-1] = 1}", "key -1 of $ is not a string")
        try assertEncodeFails(
            "local t = json.decode('[1,2]'); t.extra = true; return {list = t}",
            "key \"extra\" of $.list is not an array index (the table is marked as a JSON array)", path: "$.list")
        try assertEncodeFails(
            "local t = json.array({1, 2, nil, 4}); return t",
            "$ is marked as a JSON array but has a hole: index 3 is missing")
        try assertEncodeFails(
            "return json.object({1})", "key 1 of $ is not a string (the table is marked as a JSON object)")
    }

    func testEncodeErrorsForValuesJSONCannotHold() throws {
        try assertEncodeFails(
            "return {a = {b = {1, 2, 0/0}}}", "$.a.b[3] is NaN, which JSON cannot represent", path: "$.a.b[3]")
        try assertEncodeFails("return {x = 1/0}", "$.x is inf", path: "$.x")
        try assertEncodeFails("return {x = -1/0}", "$.x is -inf")
        try assertEncodeFails("return {f = print}", "$.f is a function, which JSON cannot represent")
        try assertEncodeFails("return {co = coroutine.create(print)}", "$.co is a thread")
        try assertEncodeFails("return {io.stdout}", "$[1] is a userdata (FILE*)")
        try assertEncodeFails("return {[\"a b\"] = {print}}", "$[\"a b\"][1] is a function", path: "$[\"a b\"][1]")
        try assertEncodeFails("return {items = {{name = 'a'}, {name = 0/0}}}", "$.items[2].name is NaN",
            path: "$.items[2].name", options: "{sort_keys = true}")
    }

    func testEncodeRejectsCycles() throws {
        try assertEncodeFails("local t = {}; t.self = t; return t", "$.self is the same table as $", path: "$.self")
        try assertEncodeFails(
            "local t = {a = {b = {}}}; t.a.b.c = t.a; return t", "$.a.b.c is the same table as $.a")
        try assertEncodeFails("local t = {}; t[1] = t; return t", "cycles", options: "{pretty = true}")
        // deeper than the cheap ancestor scan
        try assertEncodeFails(
            "local root = {}; local t = root; for i = 1, 100 do t.next = {}; t = t.next end; t.back = root; return root",
            "is the same table as $, which contains it")
        // shared (not cyclic) tables are fine
        XCTAssertEqual(try encode("(function() local s = {1}; return {a = s, b = s} end)()", "{sort_keys = true}"),
            #"{"a":[1],"b":[1]}"#)
    }

    func testEncodeDepthLimit() throws {
        let r = try run(
            """
            local function nest(n)
              local root = {}
              local t = root
              for i = 2, n do t[1] = {}; t = t[1] end
              return root
            end
            local ok = json.encode(nest(10000)) == string.rep("[", 9999) .. "{}" .. string.rep("]", 9999)
            local fine, e = pcall(json.encode, nest(10001))
            return ok, fine, e.kind, e.message, e.path
            """)
        XCTAssertEqual(r[0], true)
        XCTAssertEqual(r[1], false)
        XCTAssertEqual(r[2], "validation")
        let message = text(r[3]) ?? ""
        XCTAssertTrue(message.contains("is nested deeper than 10000 levels"), message)
        // A very deep path keeps its first and last steps only.
        XCTAssertTrue(message.contains("$" + String(repeating: "[1]", count: 16) + "...(9968 more levels)..."), message)
        XCTAssertLessThan(message.count, 300)
        XCTAssertEqual(r[4], .text("$" + String(repeating: "[1]", count: 16) + "...(9968 more levels)..."
            + String(repeating: "[1]", count: 16)))
    }

    // MARK: files

    func testWriteAndReadFiles() throws {
        let r = try run(
            """
            local path = os.tmpname()
            local v = {name = "héllo", list = json.array({}), n = 1.5, rows = {{id = 1}, {id = 2}}}
            local bytes = json.write(path, v, {sort_keys = true})
            local f = io.open(path, "rb"); local text = f:read("a"); f:close()
            local back = json.read(path)
            json.write(path, back, {pretty = true, sort_keys = true})
            f = io.open(path, "rb"); local pretty = f:read("a"); f:close()
            os.remove(path)
            local ok, e = pcall(json.read, path)
            return bytes, text, json.encode(back, {sort_keys = true}), pretty:sub(1, 4), pretty:sub(-2),
              e.kind, e.message:find("cannot open", 1, true) ~= nil
            """)
        let compact = #"{"list":[],"n":1.5,"name":"héllo","rows":[{"id":1},{"id":2}]}"#
        XCTAssertEqual(r[0], .integer(Int64(compact.utf8.count + 1)))
        XCTAssertEqual(text(r[1]), compact + "\n")
        XCTAssertEqual(text(r[2]), compact)
        XCTAssertEqual(r[3], "{\n  ")
        XCTAssertEqual(r[4], "}\n")
        XCTAssertEqual(r[5], "validation")
        XCTAssertEqual(r[6], true)
    }

    func testReadLargeFilesAndLocateErrorsInThem() throws {
        // Large enough that json.read gives input pages back while parsing;
        // the error's line and column are then counted from the file.
        let r = try run(
            """
            local path = os.tmpname()
            local rows = {}
            for i = 1, 120000 do rows[i] = string.format('{"id":%d,"name":"row %d","x":[1.5,null,true],"pad":"%s"}', i, i, string.rep("p", 40)) end
            local body = "[\\n" .. table.concat(rows, ",\\n") .. "\\n]\\n"
            local f = io.open(path, "wb"); f:write(body); f:close()
            local v = json.read(path)
            local ok_rows = #v == 120000 and v[120000].name == "row 120000" and v[77].x[2] == json.null
            f = io.open(path, "wb"); f:write(body:sub(1, -4) .. ",\\n]\\n"); f:close()
            local ok, e = pcall(json.read, path)
            f = io.open(path, "wb"); f:write(body:sub(1, -4)); f:close()
            local ok2, e2 = pcall(json.read, path)
            os.remove(path)
            return ok_rows, #body > 8 * 2^20, ok, e.kind, e.offset, e.file == path, e.message, ok2, e2.message
            """)
        XCTAssertEqual(r[0], true)
        XCTAssertEqual(r[1], true)
        XCTAssertEqual(r[2], false)
        XCTAssertEqual(r[3], "validation")
        let message = text(r[6]) ?? ""
        XCTAssertTrue(r[5] == true, message)
        guard case .integer(let offset) = r[4] else { return XCTFail("\(r)") }
        XCTAssertTrue(message.contains("at byte \(offset) (line 120001, column "), message)
        XCTAssertTrue(message.contains("trailing comma before ']'"), message)
        XCTAssertTrue(message.hasPrefix("json.read: "), message)
        // The bracket that is not closed was in pages already given back.
        XCTAssertEqual(r[7], false)
        XCTAssertTrue(text(r[8])?.contains("(the array opened at byte 1 (line 1, column 1) is not closed)") ?? false,
            "\(r[8])")
    }
}
