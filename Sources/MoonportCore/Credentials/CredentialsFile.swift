import LuaBridge
import Synchronization
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// credentials.toml (SPEC.md §4): top-level tables are profiles, their
/// sub-tables are vendors, and a vendor's fields are strings:
///
///     [default.clari]
///     api_key = "..."
///
/// Every value but base_url, region and account_id is registered with `SecretRegistry` as it is read, so it is
/// masked wherever it turns up later.
struct CredentialsFile: Sendable {
    /// profile -> vendor -> field -> value
    let profiles: [String: [String: [String: String]]]

    /// `$XDG_CONFIG_HOME/moonport/credentials.toml`, else `$HOME/.config/moonport/credentials.toml`.
    static func defaultPath() -> String {
        if let config = Environment.get("XDG_CONFIG_HOME"), !config.isEmpty {
            return "\(config)/moonport/credentials.toml"
        }
        var home = Environment.get("HOME") ?? ""
        if home.isEmpty, let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir {
            home = String(cString: dir)
        }
        return "\(home)/.config/moonport/credentials.toml"
    }

    private static let cache = Mutex<[String: Result<CredentialsFile?, LuaError>]>([:])

    /// The file at `path`, read, checked and parsed once per process (the
    /// outcome, an error included, is kept); nil when there is no file.
    static func cached(path: String) throws(LuaError) -> CredentialsFile? {
        let outcome = cache.withLock { cache in
            if let known = cache[path] { return known }
            let outcome = Result { () throws(LuaError) in try load(path: path) }
            cache[path] = outcome
            return outcome
        }
        return try outcome.get()
    }

    /// Refuses a file that group or others may read; a syntax error names
    /// the line and column but never quotes the file (its values are secrets).
    static func load(path: String) throws(LuaError) -> CredentialsFile? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw LuaError(.auth, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw LuaError(.auth, "\(path) is not a regular file") }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            let digits = String(mode, radix: 8)
            let octal = "0" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
            throw LuaError(.auth, "\(path) can be read by others (mode \(octal)); run: chmod 600 \(path)")
        }
        guard let file = fopen(path, "rb") else {
            throw LuaError(.auth, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while case let n = fread(&buffer, 1, buffer.count, file), n > 0 { bytes += buffer[..<n] }
        fclose(file)
        let text = String(decoding: bytes, as: UTF8.self)
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch {
            let position = (error as? TOMLParseError).map { " at line \($0.source.begin.line), column \($0.source.begin.column)" }
            // An unreadable credentials file is a credentials problem (exit 3).
            throw LuaError(.auth,
                "\(path): invalid TOML\(position ?? "") (the text is not shown: the file holds secrets)")
        }
        var profiles: [String: [String: [String: String]]] = [:]
        for (profile, profileValue) in document {
            guard let profileTable = profileValue.table else {
                throw LuaError(.auth, "\(path): '\(profile)' is not a profile table ([PROFILE.VENDOR] tables hold the fields)")
            }
            var vendors: [String: [String: String]] = [:]
            for (vendor, vendorValue) in profileTable {
                guard let vendorTable = vendorValue.table else {
                    throw LuaError(.auth, "\(path): '\(profile).\(vendor)' is not a vendor table ([\(profile).VENDOR] tables hold the fields)")
                }
                var fields: [String: String] = [:]
                for (field, value) in vendorTable {
                    guard let text = Self.text(of: value) else {
                        throw LuaError(.auth, "\(path): '\(profile).\(vendor).\(field)' must be a string, not \(value.type)")
                    }
                    // Keys, secrets and tokens are masked wherever they appear; a
                    // base_url, region or account id is not (logs must show where
                    // requests went), nor true/false.
                    let plain = ["base_url", "region", "account_id", "key_header", "secret_header"].contains(field.lowercased())
                    if value.type != .bool && (!plain || Redaction.isSecretName(field)) { SecretRegistry.shared.register(text) }
                    fields[field] = text
                }
                vendors[vendor] = fields
            }
            profiles[profile] = vendors
        }
        return CredentialsFile(profiles: profiles)
    }

    /// A string, integer, float or boolean as text; nil for arrays, tables, dates and times.
    private static func text(of value: TOMLValueConvertible) -> String? {
        switch value.type {
        case .string: value.string
        case .int: value.int.map { String($0) }
        case .double: value.double.map { String($0) }
        case .bool: value.bool.map { String($0) }
        default: nil
        }
    }
}
