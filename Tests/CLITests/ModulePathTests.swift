import Foundation
import XCTest

/// SPEC.md §1: -I folders, $MOONPORT_PATH, the script's folder and its lib/,
/// ~/.moonport/lib; built-in modules never come from the disk.
final class ModulePathTests: XCTestCase {
    func testSearchOrder() throws {
        let root = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let places: [(label: String, folder: URL)] = [
            ("-I", root.appendingPathComponent("include")),
            ("MOONPORT_PATH", root.appendingPathComponent("env")),
            ("script folder", root.appendingPathComponent("project")),
            ("script lib/", root.appendingPathComponent("project/lib")),
            ("~/.moonport/lib", root.appendingPathComponent("home/.moonport/lib")),
        ]
        for place in places {
            try MoonportProcess.write("return '\(place.label)'", to: place.folder.appendingPathComponent("where.lua"))
        }
        // A nested module through ?/init.lua, and a stray file named like a built-in.
        try MoonportProcess.write("return 'pkg init'", to: places[4].folder.appendingPathComponent("pkg/init.lua"))
        try MoonportProcess.write("error('the built-in log must win')", to: places[2].folder.appendingPathComponent("log.lua"))
        let script = root.appendingPathComponent("project/main.lua")
        try MoonportProcess.write("print(require 'where', require 'pkg', type(require('log').info))", to: script)

        let env = ["MOONPORT_PATH": places[1].folder.path + ";" + root.appendingPathComponent("templates/?.lua").path,
                   "HOME": root.appendingPathComponent("home").path]
        for (i, place) in places.enumerated() {
            let r = try MoonportProcess.run(["run", "-I", places[0].folder.path, script.path], environment: env, directory: root)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, "\(place.label)\tpkg init\tfunction\n", "step \(i)")
            try FileManager.default.removeItem(at: place.folder.appendingPathComponent("where.lua"))
        }
        // A `?` template in MOONPORT_PATH is used as it is.
        try MoonportProcess.write("return 'template'", to: root.appendingPathComponent("templates/where.lua"))
        let r = try MoonportProcess.run(["run", script.path], environment: env, directory: root)
        XCTAssertEqual(r.stdout, "template\tpkg init\tfunction\n", r.stderr)
    }

    /// A C module built the usual way (not linked with liblua: the Lua C API
    /// comes from the process that loads it) loads from `DIR/acme/fiscal.so`.
    /// The executable exports no symbols of its own (Package.swift); the Lua
    /// C API comes from liblua5.4, which the executable loads.
    func testACModuleLoadsFromTheSearchPath() throws {
        let compilers = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"] + ((ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map { "\($0)/clang" })
        guard let cc = compilers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
            FileManager.default.fileExists(atPath: "/usr/include/lua5.4/lua.h")
        else { throw XCTSkip("no C compiler or no Lua 5.4 headers") }
        let root = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = root.appendingPathComponent("fiscal.c")
        try MoonportProcess.write("""
            #include <lua5.4/lua.h>
            #include <lua5.4/lauxlib.h>
            static int twice(lua_State *L) { lua_pushinteger(L, 2 * luaL_checkinteger(L, 1)); return 1; }
            int luaopen_acme_fiscal(lua_State *L) {
              lua_newtable(L); lua_pushcfunction(L, twice); lua_setfield(L, -2, "twice"); return 1;
            }
            """, to: source)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lib/acme"), withIntermediateDirectories: true)
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: cc)
        compile.arguments = ["-shared", "-fPIC", "-o", root.appendingPathComponent("lib/acme/fiscal.so").path, source.path]
        try compile.run()
        compile.waitUntilExit()
        XCTAssertEqual(compile.terminationStatus, 0, "\(cc) could not build the module")
        let r = try MoonportProcess.run(["run", "-I", root.appendingPathComponent("lib").path, "-e",
                                         "print(require('acme.fiscal').twice(21))"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "42\n")
    }

    func testBuiltinsComeFromPreloadAndTheStockPathFollows() throws {
        let r = try MoonportProcess.run(["run", "-e", """
            for _, name in ipairs{"log", "json", "moonport"} do
              assert(type(package.preload[name]) == "function", name .. " is not in package.preload")
            end
            local p = package.path
            print(p:find("/usr/local/share/lua/5.4/?.lua", 1, true) ~= nil, p:find("./?.lua", 1, true) ~= nil)
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\ttrue\n")
    }
    /// `-v` says where each `require` was found: the file of a team's shared
    /// library, or "built-in"; internal modules are not listed.
    func testVerboseSaysWhereEachRequireWasFound() throws {
        let root = try MoonportProcess.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let team = root.appendingPathComponent("team-lib")
        try MoonportProcess.write("return {name = 'shared'}", to: team.appendingPathComponent("acme/util.lua"))
        try MoonportProcess.write("return require('acme.util').name", to: team.appendingPathComponent("acme/init.lua"))
        let script = root.appendingPathComponent("main.lua")
        try MoonportProcess.write("print(require 'acme', type(require 'clari'))", to: script)
        let r = try MoonportProcess.run(["run", "-v", script.path], environment: ["MOONPORT_PATH": team.path], directory: root)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "shared\ttable\n")
        XCTAssertTrue(r.stderr.contains("require \"acme\": \(team.path)/acme/init.lua"), r.stderr)
        XCTAssertTrue(r.stderr.contains("require \"acme.util\": \(team.path)/acme/util.lua"), r.stderr)
        XCTAssertTrue(r.stderr.contains("require \"clari\": built-in"), r.stderr)
        XCTAssertFalse(r.stderr.contains("moonport.vendor"), r.stderr)
        // A team module named like a built-in is never used: -v says so.
        try MoonportProcess.write("return {}", to: team.appendingPathComponent("clari.lua"))
        let shadowed = try MoonportProcess.run(["run", "-v", script.path], environment: ["MOONPORT_PATH": team.path], directory: root)
        XCTAssertTrue(shadowed.stderr.contains("\(team.path)/clari.lua is not used"), shadowed.stderr)
        // Without -v nothing is said.
        let quiet = try MoonportProcess.run(["run", script.path], environment: ["MOONPORT_PATH": team.path], directory: root)
        XCTAssertEqual(quiet.stderr, "")
    }
}
