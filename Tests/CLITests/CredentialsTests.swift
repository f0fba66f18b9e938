import Foundation
import XCTest

/// `moonport.credentials` (SPEC.md §4) through the real binary: profiles of
/// $HOME/.config/moonport/credentials.toml, chosen by --profile or
/// MOONPORT_PROFILE; refused when others may read it; values masked.
final class CredentialsTests: XCTestCase {
    var home: URL!
    var file: URL { home.appendingPathComponent(".config/moonport/credentials.toml") }

    static let sample = """
        [default.clari]
        api_key = "default-clari-key-1111"
        partner_key = "default-partner-2222"
        account_id = 12345

        [acme.clari]
        api_key = "acme-clari-key-3333"

        [staging.clari]
        api_key = "staging-clari-key-4444"

        [acme.claravine]
        api_key = "acme-claravine-5555"
        """

    /// Prints the clari fields sorted by name, then where they were found.
    static let printClari = """
        local credentials = require "moonport.credentials"
        local fields, where = credentials.lookup("clari")
        if not fields then print("nil", where) return end
        local names = {}
        for k in pairs(fields) do names[#names + 1] = k end
        table.sort(names)
        for _, k in ipairs(names) do print(k, fields[k]) end
        print(where)
        """

    override func setUpWithError() throws {
        home = try MoonportProcess.temporaryFolder()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: home)
    }

    func writeFile(_ text: String, mode: Int = 0o600) throws {
        try MoonportProcess.write(text, to: file)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
    }

    func run(_ code: String, options: [String] = [], environment: [String: String] = [:]) throws
        -> MoonportProcess.Result {
        // Nothing from the environment the tests run in: no real profile, no sandbox.
        var env = ["HOME": home.path, "XDG_CONFIG_HOME": "", "MOONPORT_PROFILE": "", "MOONPORT_SANDBOX": ""]
        for (k, v) in environment { env[k] = v }
        return try MoonportProcess.run(["run"] + options + ["-e", code], environment: env, directory: home)
    }

    func testReadsTheDefaultProfileFromAPrivateFile() throws {
        try writeFile(Self.sample)
        let r = try run(Self.printClari + """
            print(credentials.profile())
            print(credentials.path())
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            account_id\t12345
            api_key\tdefault-clari-key-1111
            partner_key\tdefault-partner-2222
            profile 'default' in \(file.path)
            default\tfalse
            \(file.path)

            """)
    }

    func testTheProfileOptionWinsOverTheEnvironment() throws {
        try writeFile(Self.sample)
        let code = Self.printClari + "print(credentials.profile())"
        let byOption = try run(code, options: ["--profile", "acme"], environment: ["MOONPORT_PROFILE": "staging"])
        XCTAssertEqual(byOption.stdout, "api_key\tacme-clari-key-3333\nprofile 'acme' in \(file.path)\nacme\ttrue\n",
                       byOption.stderr)
        let byEnvironment = try run(code, environment: ["MOONPORT_PROFILE": "staging"])
        XCTAssertEqual(byEnvironment.stdout,
                       "api_key\tstaging-clari-key-4444\nprofile 'staging' in \(file.path)\nstaging\ttrue\n",
                       byEnvironment.stderr)
    }

    func testXDGConfigHomeIsUsedWhenSet() throws {
        let config = home.appendingPathComponent("xdg")
        let r = try run("print(require('moonport.credentials').path())", environment: ["XDG_CONFIG_HOME": config.path])
        XCTAssertEqual(r.stdout, config.path + "/moonport/credentials.toml\n", r.stderr)
    }

    func testAMissingVendorOrFileIsNil() throws {
        let noFile = try run(Self.printClari)
        XCTAssertEqual(noFile.status, 0, noFile.stderr)
        XCTAssertEqual(noFile.stdout, "nil\tnil\n", "no file, default profile: nothing found, no error")
        try writeFile(Self.sample)
        let r = try run("print(require('moonport.credentials').lookup('cordial'))", options: ["--profile", "acme"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\n")
    }

    func testAnExplicitProfileThatIsMissingIsAnAuthError() throws {
        let code = """
            local ok, e = pcall(require("moonport.credentials").lookup, "clari")
            print(ok, e.kind, e.message)
            """
        let noFile = try run(code, options: ["--profile", "prod"])
        XCTAssertEqual(noFile.stdout,
                       "false\tauth\tprofile 'prod' (from --profile) needs \(file.path), which does not exist\n",
                       noFile.stderr)
        try writeFile(Self.sample)
        let r = try run(code, environment: ["MOONPORT_PROFILE": "prod"])
        XCTAssertEqual(r.stdout, "false\tauth\tprofile 'prod' (from MOONPORT_PROFILE) is not in \(file.path) "
            + "(its profiles: 'acme', 'default', 'staging')\n", r.stderr)
        XCTAssertFalse(r.stdout.contains("key-"), "names only, no values")
    }

    func testAFileOthersCanReadIsRefused() throws {
        try writeFile(Self.sample, mode: 0o644)
        let r = try run(Self.printClari)
        XCTAssertEqual(r.status, 3, "an unreadable credential: exit 3 (auth)")
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.hasPrefix("moonport: (command line):2: \(file.path) can be read by others (mode 0644); "
            + "run: chmod 600 \(file.path)\n"), r.stderr)
        let kind = try run("print(select(2, pcall(require('moonport.credentials').lookup, 'clari')).kind)")
        XCTAssertEqual(kind.stdout, "auth\n", kind.stderr)
    }

    func testASyntaxErrorNamesTheLineButNeverQuotesTheFile() throws {
        try writeFile("""
            [default.clari]
            partner_key = "fine-partner-value"
            api_key = "unterminated-secret-9999

            """)
        let r = try run(Self.printClari)
        XCTAssertEqual(r.status, 3, "an unreadable credentials file is an auth failure")
        // Column 36: the end of the line, where the string should have been closed.
        XCTAssertTrue(r.stderr.hasPrefix("moonport: (command line):2: \(file.path): invalid TOML at line 3, column 36 "
            + "(the text is not shown: the file holds secrets)\n"), r.stderr)
        XCTAssertFalse(r.stderr.contains("unterminated"), r.stderr)
        XCTAssertFalse(r.stderr.contains("fine-partner"), r.stderr)
        let kind = try run("print(select(2, pcall(require('moonport.credentials').lookup, 'clari')).kind)")
        XCTAssertEqual(kind.stdout, "auth\n", kind.stderr)
    }

    func testAnArrayFieldIsAnAuthErrorNamingTheField() throws {
        try writeFile("[acme.claravine]\napi_key = \"acme-claravine-5555\"\nscopes = [\"a\", \"b\"]\n")
        let r = try run("""
            local ok, e = pcall(require("moonport.credentials").lookup, "claravine")
            print(ok, e.kind, e.message)
            """, options: ["--profile", "acme"])
        XCTAssertEqual(r.stdout, "false\tauth\t\(file.path): 'acme.claravine.scopes' must be a string, not array\n",
                       r.stderr)
    }

    func testValuesAreMaskedInLogsAndErrors() throws {
        try writeFile(Self.sample)
        let r = try run("""
            local fields = require("moonport.credentials").lookup("clari")
            require("log").info(fields.api_key)
            require("log").info("partner %s", fields.partner_key)
            error("bad key " .. fields.api_key)
            """)
        XCTAssertEqual(r.status, 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasSuffix(" INFO  ***"), r.stderr)
        XCTAssertTrue(lines[1].hasSuffix(" INFO  partner ***"), r.stderr)
        XCTAssertEqual(lines[2], "moonport: (command line):4: bad key ***")
        XCTAssertFalse(r.stderr.contains("default-clari-key-1111"), r.stderr)
        XCTAssertFalse(r.stderr.contains("default-partner-2222"), r.stderr)
    }

    func testTheSandboxNeverReadsTheFile() throws {
        try writeFile(Self.sample, mode: 0o644)
        let r = try run(Self.printClari, options: ["--profile", "missing"], environment: ["MOONPORT_SANDBOX": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tnil\n")
    }
}
