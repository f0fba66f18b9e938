import LuaBridge

/// `require "moonport.credentials"`: the credentials file, for the vendors'
/// clients (SPEC.md §4).
///   lookup(vendor) -> fields, where | nil (no file, or no such vendor in the profile);
///   profile() -> name, explicit; path() -> the file looked at
/// The profile: `--profile NAME`, else $MOONPORT_PROFILE, else "default".
/// With MOONPORT_SANDBOX=1, lookup never reads the file and returns nil.
enum CredentialsModule {
    static func builtin(profile option: String?) -> BuiltinModule {
        let path = CredentialsFile.defaultPath()
        let fromEnvironment = Environment.get("MOONPORT_PROFILE").flatMap { $0.isEmpty ? nil : $0 }
        let profile = option ?? fromEnvironment ?? "default"
        // How the profile was chosen, for messages; nil for the default.
        let chosenBy = option != nil ? "--profile" : fromEnvironment != nil ? "MOONPORT_PROFILE" : nil
        return BuiltinModule(name: "moonport.credentials") { call in
            let lua = call.lua
            lua.newTable(recordCount: 3)
            lua.setFunction(-1, "lookup", qualifiedName: "credentials.lookup") { call in
                let vendor = try call.string(1, "vendor")
                if Environment.get("MOONPORT_SANDBOX") == "1" { return call.results(.nil) }
                guard let file = try CredentialsFile.cached(path: path) else {
                    if let chosenBy {
                        throw LuaError(.auth, "profile '\(profile)' (from \(chosenBy)) needs \(path), which does not exist")
                    }
                    return call.results(.nil)
                }
                guard let vendors = file.profiles[profile] else {
                    if let chosenBy {
                        let known = file.profiles.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
                        throw LuaError(.auth, "profile '\(profile)' (from \(chosenBy)) is not in \(path) "
                            + (known.isEmpty ? "(it has no profiles)" : "(its profiles: \(known))"))
                    }
                    return call.results(.nil)
                }
                // A table that is no vendor (a typo: [default.clarri]) is an error naming it.
                let known = ["clari", "claravine", "quantive", "cordial", "mediarithmics"]
                if let unknown = vendors.keys.sorted().first(where: { !known.contains($0) }) {
                    throw LuaError(.auth, "[\(profile).\(unknown)] in \(path): '\(unknown)' is not a vendor moonport knows "
                        + "(the vendors: \(known.joined(separator: ", ")))")
                }
                guard let fields = vendors[vendor] else { return call.results(.nil) }
                return call.results(.record(fields.mapValues { .text($0) }), .text("profile '\(profile)' in \(path)"))
            }
            lua.setFunction(-1, "profile", qualifiedName: "credentials.profile") { call in
                call.results(.text(profile), .boolean(chosenBy != nil))
            }
            lua.setFunction(-1, "path", qualifiedName: "credentials.path") { call in
                call.results(.text(path))
            }
            return .results(1)
        }
    }
}
