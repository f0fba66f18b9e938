import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// Bodies streamed from disk: `multipart` (file parts and text fields) and
/// `body_file`, checked by the test server's own MIME parser.
extension HTTPTests {
    /// CRC-32 (zlib's), as the test server reports it for each part.
    func crc32(_ data: Data) -> Int {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xFFFF_FFFF
        for b in data { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return Int(crc ^ 0xFFFF_FFFF)
    }

    func makeFile(_ dir: URL, _ name: String, size: Int) throws -> (path: String, crc: Int) {
        let bytes = Data((0..<size).map { UInt8(($0 * 13 + 5) % 256) })
        let url = dir.appendingPathComponent(name)
        try bytes.write(to: url)
        return (url.path, crc32(bytes))
    }

    func testMultipartSendsFieldsAndStreamsFileParts() throws {
        let dir = try folder()
        let data = try makeFile(dir, "data.json", size: 3_000_000)
        let v = try run("""
            local res = http.post(BASE .. "/multipart", {multipart = {
              {name = "FileData", file = "\(data.path)", content_type = "application/json"},
              {name = "note", value = "hello \\"world\\""},
              {name = "renamed", file = "\(data.path)", filename = "other name.json"},
            }})
            local m = res:json()
            local p = m.parts
            return m.multipart, #p, m.content_length == m.received,
              p[1].name, p[1].filename, p[1].content_type, p[1].size, p[1].crc32,
              p[2].name, p[2].text, p[2].filename == json.null,
              p[3].filename, p[3].content_type, p[3].crc32,
              m.content_type:match("^multipart/form%-data; boundary=") ~= nil
            """)
        XCTAssertEqual(v, [true, 3, true,
                           "FileData", "data.json", "application/json", 3_000_000, .integer(Int64(data.crc)),
                           "note", "hello \"world\"", true,
                           "other name.json", "application/octet-stream", .integer(Int64(data.crc)),
                           true])
    }

    func testMultipartKeyedByNameIsSortedAndTheBoundaryReplacesContentType() throws {
        let dir = try folder()
        let data = try makeFile(dir, "rows.csv", size: 10)
        let v = try run("""
            local m = http.post(BASE .. "/multipart", {
              headers = {["Content-Type"] = "text/plain"},
              multipart = {b = "2", a = 1, file = {file = "\(data.path)", content_type = "text/csv"}},
            }):json()
            local names = {}
            for i, p in ipairs(m.parts) do names[i] = p.name end
            return table.concat(names, ","), m.parts[1].text, m.parts[3].filename, m.parts[3].content_type, m.multipart
            """)
        XCTAssertEqual(v, ["a,b,file", "1", "rows.csv", "text/csv", true])
    }

    func testBodyFileIsStreamedAsTheWholeBody() throws {
        let dir = try folder()
        let data = try makeFile(dir, "events.ndjson", size: 2_500_001)
        let v = try run("""
            local d = http.post(BASE .. "/digest", {body_file = "\(data.path)",
              headers = {["Content-Type"] = "application/x-ndjson"}}):json()
            return d.method, d.content_type, d.content_length, d.size, d.crc32
            """)
        XCTAssertEqual(v, ["POST", "application/x-ndjson", 2_500_001, 2_500_001, .integer(Int64(data.crc))])
    }

    func testAStreamedBodyIsSentAgainOnARetry() throws {
        let dir = try folder()
        let data = try makeFile(dir, "part.bin", size: 400_000)
        let v = try run("""
            local res = http.put(BASE .. "/status/503-then-200?key=up1", {body_file = "\(data.path)", retry = FAST})
            return res.status, res.attempts, hits("/status/503-then-200", "up1")
            """)
        XCTAssertEqual(v, [200, 2, 2])
    }

    func testUploadArgumentsAreCheckedBeforeAnythingIsSent() throws {
        let dir = try folder()
        let data = try makeFile(dir, "ok.bin", size: 5)
        let missing = dir.appendingPathComponent("missing.json").path
        let v = try run("""
            local url = BASE .. "/multipart?key=bad"
            local errors = {
              catch(http.post, url, {multipart = {{name = "f", file = "\(missing)"}}}),
              catch(http.post, url, {multipart = {{file = "\(data.path)"}}}),
              catch(http.post, url, {multipart = {{name = "x", value = "1", file = "\(data.path)"}}}),
              catch(http.post, url, {multipart = {{name = "x", bogus = 1}}}),
              catch(http.post, url, {multipart = {}}),
              catch(http.post, url, {multipart = {"text"}}),
              catch(http.post, url, {multipart = {a = true}}),
              catch(http.post, url, {multipart = {{name = "a", value = "1"}}, body = "x"}),
              catch(http.post, url, {body_file = "\(dir.path)"}),
              catch(http.post, url, {body_file = 42}),
              catch(http.post, url, {multipart = {{name = "a\\r\\nX-Injected: 1", value = "1"}}}),
            }
            local kinds, messages = {}, {}
            for i, e in ipairs(errors) do kinds[i] = e.kind; messages[i] = e.message end
            return table.concat(kinds, ","), hits("/multipart", "bad"), table.concat(messages, "\\n")
            """)
        XCTAssertEqual(v[0], .text(Array(repeating: "validation", count: 11).joined(separator: ",")))
        XCTAssertEqual(v[1], 0, "nothing reached the server")
        let messages = v[2].stringValue ?? ""
        for needle in ["missing.json", "multipart[1].name is required", "both value and file", "unknown field 'bogus'",
                       "no parts", "multipart[1] must be a table", "multipart.a must be a string or a table",
                       "not several", "is not a regular file", "body_file", "line break"] {
            XCTAssertTrue(messages.contains(needle), "no message says '\(needle)':\n\(messages)")
        }
    }
}
