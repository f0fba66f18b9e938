import Foundation
import XCTest

/// `moonport types` and the REPL's help(): both come from the doc comments
/// of stdlib/ (stdlib/README.md), so they cannot drift from the runtime.
final class TypesTests: XCTestCase {
    static let root = LuaScriptTests.root

    /// The modules every build has, then the helpers when this checkout has them.
    static var modules: [String] {
        let core = ["json", "http", "csv", "ndjson", "log", "task", "state", "moonport",
                    "clari", "claravine", "quantive", "cordial", "mediarithmics"]
        let helpers = ["batch", "workflow", "dates", "reconcile"].filter {
            FileManager.default.fileExists(atPath: root.appendingPathComponent("stdlib/\($0).lua").path)
        }
        return core + helpers
    }

    /// The simulator's credentials (VendorSim's Simulator): never in a doc.
    static let secrets = ["sandbox-clari-api-key", "sandbox-clari-partner-key", "sandbox-claravine-api-key",
                          "sandbox-claravine-api-secret", "sandbox-quantive-api-token", "sandbox-cordial-api-key",
                          "sandbox-mediarithmics-api-token"]

    private var folder: URL!

    override func setUpWithError() throws {
        folder = try MoonportProcess.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs `moonport types --out DIR` (DIR not existing yet) and returns DIR.
    private func generate(environment: [String: String] = [:]) throws -> URL {
        let out = folder.appendingPathComponent("nested/moonport-types")
        let r = try MoonportProcess.run(["types", "--out", out.path], environment: environment, directory: folder)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr, "")
        let listed = r.stdout.split(separator: "\n").map(String.init)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertEqual(Set(listed.map { URL(fileURLWithPath: $0).lastPathComponent }), Set(files),
                       "one line on stdout per file written")
        return out
    }

    // (a) a file per module, each valid Lua, and the .luarc.json example.
    func testTypesWritesAMetaFilePerModuleAndALuarc() throws {
        let out = try generate()
        var luaFiles: [String] = []
        for module in Self.modules {
            let file = out.appendingPathComponent("\(module).lua")
            let text = try String(contentsOf: file, encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("---@meta \(module)\n"), "\(module).lua: \(text.prefix(80))")
            XCTAssertTrue(text.hasSuffix("return \(module)\n"), "\(module).lua ends with return \(module)")
            luaFiles.append(file.path)
        }
        let job = out.appendingPathComponent("moonport.Job.lua")
        XCTAssertTrue(try String(contentsOf: job, encoding: .utf8).contains("function Job:wait("))
        luaFiles.append(job.path)
        XCTAssertTrue(try String(contentsOf: out.appendingPathComponent("clari.lua"), encoding: .utf8)
            .contains("function clari.Client:export(kind, params) end"))

        let check = try MoonportProcess.run(["check"] + luaFiles)
        XCTAssertEqual(check.status, 0, "the meta files compile: \(check.stderr)")

        let data = try Data(contentsOf: out.appendingPathComponent(".luarc.json"))
        let luarc = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual((luarc["runtime"] as? [String: Any])?["version"] as? String, "Lua 5.4")
        XCTAssertEqual((luarc["workspace"] as? [String: Any])?["library"] as? [String], [out.path])
    }

    func testTypesDefaultsToMoonportTypesAndSaysSoInHelp() throws {
        let help = try MoonportProcess.run(["types", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("./moonport-types"), help.stdout)
        let r = try MoonportProcess.run(["types"], directory: folder)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("./moonport-types/clari.lua"), r.stdout)
        let luarc = folder.appendingPathComponent("moonport-types/.luarc.json")
        let settings = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: luarc)) as? [String: Any])
        let library = (settings["workspace"] as? [String: Any])?["library"] as? [String]
        XCTAssertEqual(library?.count, 1)
        XCTAssertTrue(library?.first?.hasPrefix("/") == true && library?.first?.hasSuffix("/moonport-types") == true,
                      "the example names the folder by its absolute path: \(library ?? [])")
    }

    func testTypesIntoAFileFailsWithExit1() throws {
        let file = folder.appendingPathComponent("plain-file")
        try MoonportProcess.write("x", to: file)
        let r = try MoonportProcess.run(["types", "--out", file.path])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("plain-file"), r.stderr)
    }

    // (b) the drift test: every function the runtime exposes has a definition
    // with a doc in the generated files. The walk below is independent of
    // moonport.doc's.
    static let driftScript = #"""
        local dir = arg[1]
        local modules = {}
        for name in arg[2]:gmatch("[^,]+") do modules[#modules + 1] = name end

        local function definitions(path)
          local f = io.open(path, "rb")
          if not f then return nil end
          local lines = {}
          for line in f:lines() do lines[#lines + 1] = line end
          f:close()
          local defs = {}
          for i, line in ipairs(lines) do
            local name = line:match("^function%s+([%w_%.:]+)%(")
            if name then
              local documented, j = false, i - 1
              while j >= 1 and lines[j]:match("^%-%-%-") and not lines[j]:match("^%-%-%-%-") do
                if lines[j]:match("^%-%-%-%s*[^@%s]") then documented = true end
                j = j - 1
              end
              defs[name] = documented
            end
          end
          return defs
        end

        local missing, checked = {}, 0
        local function check(defs, file, qname)
          checked = checked + 1
          if defs[qname] == nil then
            missing[#missing + 1] = qname .. " (no definition in " .. file .. ")"
          elseif not defs[qname] then
            missing[#missing + 1] = qname .. " (no doc)"
          end
        end
        local function public(k) return type(k) == "string" and k:sub(1, 1) ~= "_" end
        local function is_class(v) return type(v) == "table" and rawget(v, "__index") == v end

        local seen = {}
        for _, name in ipairs(modules) do seen[require(name)] = true end
        local function walk(defs, file, prefix, t)
          for k, v in pairs(t) do
            if public(k) then
              if type(v) == "function" then
                check(defs, file, prefix .. "." .. k)
              elseif is_class(v) then
                for mk, mv in pairs(v) do
                  if public(mk) and type(mv) == "function" then check(defs, file, prefix .. "." .. k .. ":" .. mk) end
                end
              elseif type(v) == "table" and not seen[v] then
                seen[v] = true
                walk(defs, file, prefix .. "." .. k, v)
              end
            end
          end
        end

        for _, name in ipairs(modules) do
          local file = name .. ".lua"
          local defs = definitions(dir .. "/" .. file)
          if not defs then
            missing[#missing + 1] = name .. " (no file " .. file .. ")"
          else
            walk(defs, file, name, require(name))
          end
        end
        local Job = require("moonport.vendor").Job
        local defs = definitions(dir .. "/moonport.Job.lua") or {}
        for k, v in pairs(Job) do
          if public(k) and type(v) == "function" then check(defs, "moonport.Job.lua", "Job:" .. k) end
        end

        table.sort(missing)
        for _, m in ipairs(missing) do print("MISSING " .. m) end
        print(string.format("checked %d functions, %d missing", checked, #missing))
        """#

    func testEveryExposedFunctionHasADocumentedDefinition() throws {
        let out = try generate()
        let script = folder.appendingPathComponent("drift.lua")
        try MoonportProcess.write(Self.driftScript, to: script)
        let r = try MoonportProcess.run(["run", script.path, out.path, Self.modules.joined(separator: ",")])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("checked "), r.stdout + r.stderr)
        XCTAssertFalse(r.stdout.contains("checked 0 functions"), r.stdout)
        let missing = r.stdout.split(separator: "\n").filter { $0.hasPrefix("MISSING ") }
        XCTAssertTrue(missing.isEmpty,
                      "\(missing.count) exposed functions have no documented definition in the types:\n"
                      + missing.joined(separator: "\n"))
        // moonport.doc agrees with the independent walk.
        let doc = try MoonportProcess.run(["run", "-e", "for _, n in ipairs(require('moonport.doc').missing()) do print(n) end"])
        XCTAssertEqual(doc.status, 0, doc.stderr)
        XCTAssertEqual(doc.stdout, "", "doc.missing():\n\(doc.stdout)")
    }

    // (c) help() in the REPL prints the doc of Client:export.

    /// The description lines of the doc block above `function Client:export(` in stdlib/clari.lua.
    private func clientExportDoc() throws -> [String] {
        let text = try String(contentsOf: Self.root.appendingPathComponent("stdlib/clari.lua"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let at = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("function Client:export(") }, "Client:export in clari.lua")
        var block: [String] = []
        var i = at - 1
        while i >= 0, lines[i].hasPrefix("---"), !lines[i].hasPrefix("----") {
            block.insert(lines[i], at: 0)
            i -= 1
        }
        return block.filter { !$0.hasPrefix("---@") }
            .map { $0.dropFirst(3).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    func testHelpInTheReplPrintsTheDocOfClientExport() throws {
        let expected = try clientExportDoc()
        XCTAssertFalse(expected.isEmpty, "Client:export in stdlib/clari.lua has no doc block")
        let input = """
            clari = require "clari"
            help(clari.export)
            help(clari)
            help()
            help "clari.Client:export"
            """
        let r = try MoonportProcess.run(["repl"], stdin: input + "\n", environment: ["HOME": folder.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("clari.export(kind, params)"), r.stdout)
        for line in expected {
            XCTAssertTrue(r.stdout.contains(line), "help(clari.export) shows \"\(line)\":\n\(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("module clari"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  clari.submit("), "help(clari) lists the functions:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("help(clari)"), "help() says where to start:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("clari.Client:export(kind, params)"), r.stdout)
    }

    func testHelpIsAGlobalOnlyInTheRepl() throws {
        let r = try MoonportProcess.run(["run", "-e", "assert(help == nil, 'help is a REPL global only')"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try MoonportProcess.run(["run", "-e", "print(require('moonport.doc').help(require('moonport.vendor').Job))"])
        XCTAssertEqual(doc.status, 0, doc.stderr)
        XCTAssertTrue(doc.stdout.contains("Job:wait(opts)"), doc.stdout)
    }

    // (e) the doc blocks are indexed at build time (DocIndex, run by the
    // EmbedStdlib plugin): the stubs of stdlib/_meta/ are data, not modules;
    // a run that does not ask for help loads no index; the index the build
    // made is the one the same reader makes of the files on disk.

    func testMetaStubsAreNotModulesAndARunLoadsNoDocIndex() throws {
        let chunk = """
            for name in pairs(package.preload) do
              assert(not name:find("_meta", 1, true), "a preloaded stub: " .. name)
            end
            assert(package.preload["moonport.native_docs"] == nil, "moonport.native_docs is gone")
            assert(not pcall(require, "_meta.json"), "_meta.json is not a module")
            assert(not pcall(require, "_meta/json"), "_meta/json is not a module")
            assert(package.loaded["moonport.doc"] == nil and package.loaded["moonport.stdlib"] == nil,
              "a run that asks for no help loads no doc index")
            print("ok")
            """
        let r = try MoonportProcess.run(["run", "-e", chunk], directory: folder)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout, "ok\n", r.stderr)
        // The stub folder exists and each file announces itself as ---@meta.
        let meta = Self.root.appendingPathComponent("stdlib/_meta")
        let stubs = try FileManager.default.contentsOfDirectory(atPath: meta.path).filter { $0.hasSuffix(".lua") }
        for module in ["json", "moonport", "task", "csv", "ndjson", "http", "state"] {
            XCTAssertTrue(stubs.contains("\(module).lua"), "stdlib/_meta/\(module).lua: \(stubs)")
        }
        for stub in stubs {
            let text = try String(contentsOf: meta.appendingPathComponent(stub), encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("---@meta "), "\(stub) starts with ---@meta")
        }
        let check = try MoonportProcess.run(["check"] + stubs.map { meta.appendingPathComponent($0).path })
        XCTAssertEqual(check.status, 0, "the stubs are valid Lua: \(check.stderr)")
    }

    func testTheBuiltIndexIsTheOneTheFilesOnDiskGive() throws {
        let built = try generate()
        let out = folder.appendingPathComponent("from-disk")
        let r = try MoonportProcess.run(["types", "--out", out.path],
                                        environment: ["MOONPORT_STDLIB_DIR": Self.root.appendingPathComponent("stdlib").path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: built.path).filter { $0.hasSuffix(".lua") }.sorted()
        XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".lua") }.sorted())
        for file in files {
            let a = try String(contentsOf: built.appendingPathComponent(file), encoding: .utf8)
            let b = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(a, b, "\(file): the compiled-in index and the files on disk differ (rebuild?)")
        }
        // A native function's doc comes from its stub; a Lua one says where it is defined.
        let help = try MoonportProcess.run(["run", "-e", """
            local doc = require "moonport.doc"
            print(doc.help(require("json").encode))
            print(doc.help(require("clari").Client.export))
            print(doc.help(require("json")))
            """])
        XCTAssertEqual(help.status, 0, help.stderr)
        // A field of a native module has its doc in the stub too.
        XCTAssertTrue(help.stdout.contains("  json.null  userdata  JSON's null: the one value"), help.stdout)
        XCTAssertTrue(help.stdout.contains("json.encode(value, opts) -> string"), help.stdout)
        XCTAssertTrue(help.stdout.contains("Encodes a Lua value as JSON text."), help.stdout)
        XCTAssertFalse(help.stdout.contains("_meta"), "a stub is not a place to go: \(help.stdout)")
        let text = try String(contentsOf: Self.root.appendingPathComponent("stdlib/clari.lua"), encoding: .utf8)
        let line = try XCTUnwrap(text.components(separatedBy: "\n").firstIndex { $0.hasPrefix("function Client:export(") }) + 1
        XCTAssertTrue(help.stdout.contains("Defined at stdlib/clari.lua:\(line)"), help.stdout)
    }

    /// help() of a script's own function: its file is indexed when asked, by
    /// the reader the build uses.
    func testHelpOfAScriptsFunctionReadsItsDocBlock() throws {
        let script = folder.appendingPathComponent("mine.lua")
        try MoonportProcess.write("""
            local M = {}

            --- Adds the tax to a price.
            --- Rounds to cents.
            ---@param price number  before tax
            ---@param rate? number  0.2 by default
            ---@return number total  with tax
            function M.with_tax(price, rate) return price * (1 + (rate or 0.2)) end

            local function bare(x) return x end

            print(require("moonport.doc").help(M.with_tax))
            print(require("moonport.doc").help(bare))
            """, to: script)
        let r = try MoonportProcess.run(["run", "mine.lua"], directory: folder)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("function(price, rate)  ["), r.stdout)
        XCTAssertTrue(r.stdout.contains("mine.lua:8]\n\nAdds"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Adds the tax to a price.\nRounds to cents."), r.stdout)
        XCTAssertTrue(r.stdout.contains("  price  number  before tax"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  rate?  number  0.2 by default"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Returns:\n  number  total  with tax"), r.stdout)
        XCTAssertTrue(r.stdout.contains("mine.lua:10]\n\n(no documentation)"), r.stdout)
    }

    // (d) no secret reaches a doc: the generator never prints a value, even
    // with every vendor's credentials loaded.
    func testNoSecretInTheTypesOrTheHelp() throws {
        let out = folder.appendingPathComponent("types-sandbox")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let chunk = """
            local doc = require "moonport.doc"
            local fields = {clari = {"api_key", "partner_key"}, claravine = {"api_key", "api_secret"},
              quantive = {"api_token"}, cordial = {"api_key"}, mediarithmics = {"api_token"}}
            for vendor, names in pairs(fields) do
              local c = require(vendor).default_client()
              for _, f in ipairs(names) do assert(c:credential(f)) end
            end
            doc.write([[\(out.path)]])
            print(doc.help())
            for _, name in ipairs({\(Self.modules.map { "\"\($0)\"" }.joined(separator: ", "))}) do
              local m = require(name)
              print(doc.help(m))
              for _, v in pairs(m) do if type(v) == "function" then print(doc.help(v)) end end
              if type(m.Client) == "table" then print(doc.help(m.Client)) end
            end
            """
        let r = try MoonportProcess.run(["run", "--sandbox", "-e", chunk], environment: ["HOME": folder.path],
                                        directory: folder)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let written = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertTrue(written.contains("clari.lua"), "\(written)")
        var texts = ["stdout": r.stdout, "stderr": r.stderr]
        for file in written {
            texts[file] = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
        }
        for (name, text) in texts {
            for secret in Self.secrets {
                XCTAssertFalse(text.contains(secret), "\(name) holds \(secret)")
            }
        }
        let environment = Dictionary(uniqueKeysWithValues: [
            "CLARI_API_KEY", "CLARI_PARTNER_KEY", "CLARAVINE_API_KEY", "CLARAVINE_API_SECRET",
            "QUANTIVE_API_TOKEN", "CORDIAL_API_KEY", "MEDIARITHMICS_API_TOKEN",
        ].enumerated().map { ($0.element, Self.secrets[$0.offset]) })
        let generated = try generate(environment: environment)
        for file in try FileManager.default.contentsOfDirectory(atPath: generated.path) {
            let text = try String(contentsOf: generated.appendingPathComponent(file), encoding: .utf8)
            for secret in Self.secrets { XCTAssertFalse(text.contains(secret), "\(file) holds \(secret)") }
        }
    }
}
