import Foundation
import LuaBridge
import MoonportCore
import XCTest

/// A host and a temporary folder per test, with small file helpers.
class RecordFileTestCase: XCTestCase {
    var host: MoonportHost!
    var dir: URL!

    override func setUpWithError() throws {
        host = MoonportHost()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("moonport-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        host = nil
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func put(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func put(_ name: String, _ text: String) throws -> String { try put(name, Array(text.utf8)) }

    func contents(_ p: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: p)), as: UTF8.self)
    }
}
