/// The module search path of SPEC.md §1, in order: `-I` folders,
/// `$MOONPORT_PATH` (`;`- or `:`-separated; an entry with `?` is a template, any other
/// a folder), the script's own folder and its `lib/`, `~/.moonport/lib`.
/// Built-in modules come first of all, from `package.preload`, so requiring
/// one never touches the disk; the stock interpreter's default path follows
/// last, so scripts written for `lua5.4` find what they found there.
public struct ModulePath: Equatable, Sendable {
    public var libraryFolders: [String] = []
    public var environmentPath: String?
    public var scriptFolder: String?
    public var home: String?

    public init(libraryFolders: [String] = [], environmentPath: String? = nil, scriptFolder: String? = nil, home: String? = nil) {
        self.libraryFolders = libraryFolders
        self.environmentPath = environmentPath
        self.scriptFolder = scriptFolder
        self.home = home
    }

    /// The entries of `$MOONPORT_PATH`: separated by `;` (as Lua's
    /// package.path) or by `:` (as PATH); empty entries are skipped.
    public static func split(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == ";" || $0 == ":" }).map(String.init).filter { !$0.isEmpty }
    }

    static func templates(forFolder dir: String, ext: String) -> [String] {
        let d = dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        return ext == "lua" ? ["\(d)/?.lua", "\(d)/?/init.lua"] : ["\(d)/?.\(ext)"]
    }

    private func entries(ext: String) -> [String] {
        var out: [String] = []
        for dir in libraryFolders { out += Self.templates(forFolder: dir, ext: ext) }
        if let env = environmentPath {
            for entry in Self.split(env) {
                if entry.contains("?") {
                    if ext == "lua" ? !entry.hasSuffix(".so") : entry.hasSuffix(".so") { out.append(entry) }
                } else {
                    out += Self.templates(forFolder: entry, ext: ext)
                }
            }
        }
        if let scriptFolder {
            out += Self.templates(forFolder: scriptFolder, ext: ext)
            out += Self.templates(forFolder: scriptFolder + "/lib", ext: ext)
        }
        if let home { out += Self.templates(forFolder: home + "/.moonport/lib", ext: ext) }
        return out
    }

    /// The value for `package.path`, given the stock default to append.
    public func luaPath(appending stock: String) -> String {
        join(entries(ext: "lua"), stock)
    }

    /// The value for `package.cpath`.
    public func luaCPath(appending stock: String) -> String {
        join(entries(ext: "so"), stock)
    }

    private func join(_ ours: [String], _ stock: String) -> String {
        // A handful of entries: a linear check. (A Set here made the first
        // use of Set<String> in a run, whose type lookup scans every
        // protocol conformance in the binary: a fifth of an empty run.)
        var all: [String] = []
        for t in ours + stock.split(separator: ";").map(String.init) where !t.isEmpty && !all.contains(t) {
            all.append(t)
        }
        return all.joined(separator: ";")
    }
}
