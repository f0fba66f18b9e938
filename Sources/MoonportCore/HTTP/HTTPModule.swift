import CLua
import LuaBridge

/// `require "moonport.http"`: the primitive under stdlib/http.lua.
///   send{method=, url=, headers={name = value | {values}}, body=, timeout=,
///        retry = false | {attempts=, base=, max=, max_wait=}, safe_to_repeat=}
///     -> {status=, reason=, headers={lower-case name = value}, body=, url=, attempts=}
///        auth = {bearer=, headers=} | {basic={user, password}} | {header=, value=}
///             | {authorization=} | {key_header=, key=, secret_header=, secret=}}
///     -> {status=, reason=, headers={lower-case name = value}, body=, url=, attempts=}
///   redact_url(url) -> the URL with secret query values masked
///   redact(text) -> the text with every secret value seen so far masked (***)
enum HTTPModule {
    static var builtin: BuiltinModule {
        BuiltinModule(name: "moonport.http") { call in
            let lua = call.lua
            lua.newTable(recordCount: 2)
            lua.setFunction(-1, "send", qualifiedName: "http.request") { call in
                let spec: HTTPRequestSpec
                do {
                    spec = try requestSpec(try call.table(1, "request"))
                } catch var e as LuaError {
                    e.message = Redaction.scrub(e.message)
                    throw e
                }
                return try call.suspend(starting: { Transport.shared.start(spec, completion: $0) }, deliver: { lua, result in
                    push(result, on: lua)
                    return 1
                })
            }
            lua.setFunction(-1, "redact_url", qualifiedName: "http.redact_url") { call in
                call.results(.text(Redaction.scrub(Redaction.url(try call.string(1, "url")))))
            }
            lua.setFunction(-1, "redact", qualifiedName: "http.redact") { call in
                let lua = call.lua
                // Bytes in, bytes out: a body that is not UTF-8 is not repaired.
                try call.checkType(1, "text", LUA_TSTRING, "a string")
                let bytes = lua.withBytes(at: 1) { Array($0.bindMemory(to: UInt8.self)) } ?? []
                if let masked = SecretRegistry.shared.scrub(bytes: bytes, mask: Redaction.mask) {
                    lua.push(bytes: masked)
                } else {
                    lua.pushValue(at: 1)
                }
                return .results(1)
            }
            return .results(1)
        }
    }

    static func requestSpec(_ t: LuaOptions) throws -> HTTPRequestSpec {
        let method = try t.string("method")?.uppercased() ?? "GET"
        guard method.allSatisfy({ $0.isLetter }), !method.isEmpty else {
            throw LuaError.validation("http.request: method '\(method)' is not an HTTP method")
        }
        let url = try t.requiredString("url")
        guard let parts = URLParts(url), parts.scheme == "http" || parts.scheme == "https" else {
            throw LuaError.validation("http.request: url '\(Redaction.url(url))' is not an http:// or https:// URL")
        }
        var spec = HTTPRequestSpec(method: method, url: url)
        let lua = t.lua
        try t.with("headers") { i in
            guard !lua.isNoneOrNil(i) else { return }
            guard lua.type(at: i) == LUA_TTABLE else { throw t.fieldError("headers", expected: "a table") }
            lua.ensureStack(3)
            lua.pushNil()
            while lua_next(lua.L, i) != 0 {
                defer { lua.pop() }
                guard lua.type(at: -2) == LUA_TSTRING, let name = lua.toString(-2) else {
                    throw LuaError.validation("http.request: header names must be strings, got \(lua.typeName(at: -2))")
                }
                guard name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                    throw LuaError.validation("http.request: '\(name)' is not a valid header name")
                }
                func add(_ index: Int32) throws {
                    guard let v = lua.toString(index), lua.type(at: index) == LUA_TSTRING || lua.type(at: index) == LUA_TNUMBER
                    else {
                        throw LuaError.validation("http.request: header '\(name)' must be a string, got \(lua.typeName(at: index))")
                    }
                    guard !v.contains("\r") && !v.contains("\n") else {
                        throw LuaError.validation("http.request: header '\(name)' contains a line break")
                    }
                    spec.headers.append((name: name, value: v))
                }
                if lua.type(at: -1) == LUA_TTABLE {
                    let n = lua.rawLength(-1)
                    for k in 0..<n {
                        lua_rawgeti(lua.L, -1, lua_Integer(k + 1))
                        defer { lua.pop() }
                        try add(-1)
                    }
                } else {
                    try add(-1)
                }
            }
        }
        try t.with("body") { i in
            guard !lua.isNoneOrNil(i) else { return }
            guard let bytes = lua.withBytes(at: i, { Array($0.bindMemory(to: UInt8.self)) }) else {
                throw t.fieldError("body", expected: "a string")
            }
            spec.body = bytes
        }
        if let timeout = try t.number("timeout") {
            guard timeout > 0, timeout.isFinite else {
                throw LuaError.validation("http.request: timeout must be a number of seconds > 0, got \(timeout)")
            }
            spec.timeout = timeout
        }
        try t.with("retry") { i in
            if lua.isNoneOrNil(i) { return }
            if lua.type(at: i) == LUA_TBOOLEAN {
                spec.retry = lua.toBool(i) ? .default : .none
                return
            }
            guard lua.type(at: i) == LUA_TTABLE else { throw t.fieldError("retry", expected: "false or a table") }
            let r = LuaOptions(lua: lua, index: i, owner: "http.request: retry")
            var policy = RetryPolicy.default
            if let a = try r.integer("attempts") {
                guard a >= 1 else { throw LuaError.validation("http.request: retry.attempts must be >= 1, got \(a)") }
                policy.attempts = Int(a)
            }
            if let b = try r.number("base") { policy.base = max(0, b) }
            if let m = try r.number("max") { policy.max = max(0, m) }
            if let w = try r.number("max_wait") { policy.maxTotalWait = max(0, w) }
            spec.retry = policy
        }
        try t.with("auth") { i in
            guard !lua.isNoneOrNil(i) else { return }
            spec.authorize(try auth(lua, at: i))
        }
        try t.with("aws_sigv4") { i in
            guard !lua.isNoneOrNil(i) else { return }
            guard lua.type(at: i) == LUA_TTABLE else { throw t.fieldError("aws_sigv4", expected: "a table") }
            let a = LuaOptions(lua: lua, index: i, owner: "http.request: aws_sigv4")
            func required(_ name: String) throws -> String {
                guard let v = try a.string(name), !v.isEmpty else {
                    throw LuaError.validation("http.request: aws_sigv4.\(name) is required (a non-empty string)")
                }
                return v
            }
            let signer = AWSSigV4(accessKey: Secret(try required("access_key")), secretKey: Secret(try required("secret_key")),
                                  region: try required("region"), service: try a.string("service") ?? "s3",
                                  sessionToken: try a.string("session_token").map { Secret($0) })
            guard spec.upload == nil, let signed = signer.sign(method: spec.method, url: spec.url, body: spec.body) else {
                throw LuaError.validation("http.request: aws_sigv4 signs requests with a plain body (or none) and a valid URL")
            }
            spec.headers.append(contentsOf: signed.plain)
            spec.authorize(signed.auth)
        }
        if let path = try t.string("body_file") {
            guard spec.body == nil else { throw LuaError.validation("http.request: give body or body_file, not both") }
            spec.attach(try Upload.file(path))
        }
        try t.with("multipart") { i in
            guard !lua.isNoneOrNil(i) else { return }
            guard spec.body == nil, spec.upload == nil else {
                throw LuaError.validation("http.request: give one of json, form, body, body_file or multipart, not several")
            }
            spec.attach(try multipart(lua, at: i))
        }
        spec.safeToRepeat = try t.bool("safe_to_repeat") ?? false
        if let path = try t.string("stream_to") {
            guard !path.isEmpty else { throw LuaError.validation("http.request: stream_to must be a file path") }
            spec.streamTo = path
        }
        return spec
    }

    /// `multipart = {{name=, value= | file=, filename=, content_type=}, ...}`
    /// (parts in order), or `{name = "text" | {file=, filename=, content_type=}}`
    /// (parts sorted by name). File parts stream from disk.
    static func multipart(_ lua: LuaState, at i: Int32) throws -> Upload {
        guard lua.type(at: i) == LUA_TTABLE else {
            throw LuaError.validation("http.request: field 'multipart' must be a table, got \(lua.typeName(at: i))")
        }
        lua.ensureStack(4)
        let count = lua.rawLength(i)
        var parts: [Upload.Part] = []
        func text(_ at: Int32, _ what: String) throws -> String? {
            if lua.isNoneOrNil(at) { return nil }
            guard lua.type(at: at) == LUA_TSTRING, let v = lua.toString(at) else {
                throw LuaError.validation("http.request: \(what) must be a string, got \(lua.typeName(at: at))")
            }
            guard !v.contains("\r") && !v.contains("\n") else {
                throw LuaError.validation("http.request: \(what) contains a line break")
            }
            return v
        }
        /// A string's bytes, or a number as text (as Lua's tostring writes it).
        func textBytes(_ at: Int32) -> [UInt8]? {
            switch lua.type(at: at) {
            case LUA_TSTRING: return lua.withBytes(at: at) { Array($0.bindMemory(to: UInt8.self)) }
            case LUA_TNUMBER: return lua.toString(at).map { Array($0.utf8) }
            default: return nil
            }
        }
        /// The part described by the table at `p`; `name` is known when the parts are keyed by name.
        func part(_ p: Int32, name given: String?, label: String) throws -> Upload.Part {
            func field(_ key: String) throws -> String? {
                lua.rawGet(p, key)
                defer { lua.pop() }
                return try text(lua.top, "\(label).\(key)")
            }
            lua.pushNil()
            while lua_next(lua.L, p) != 0 {
                lua.pop()
                let key = lua.type(at: -1) == LUA_TSTRING ? lua.toString(-1) ?? "" : ""
                guard ["name", "value", "file", "filename", "content_type"].contains(key) else {
                    lua.pop()
                    throw LuaError.validation("http.request: \(label) has an unknown field '\(key)' (use name, value or file, filename, content_type)")
                }
            }
            guard let name = try given ?? field("name"), !name.isEmpty else {
                throw LuaError.validation("http.request: \(label).name is required (a string)")
            }
            let contentType = try field("content_type")
            if let path = try field("file") {
                lua.rawGet(p, "value")
                defer { lua.pop() }
                guard lua.isNoneOrNil(-1) else {
                    throw LuaError.validation("http.request: \(label) gives both value and file")
                }
                let base = path.split(separator: "/").last.map(String.init) ?? path
                return .file(name: name, path: path, filename: try field("filename") ?? base,
                             contentType: contentType ?? "application/octet-stream")
            }
            lua.rawGet(p, "value")
            defer { lua.pop() }
            guard let bytes = textBytes(-1) else {
                throw LuaError.validation("http.request: \(label) needs value (a string) or file (a path)")
            }
            return .field(name: name, value: bytes, contentType: contentType)
        }
        if count > 0 {
            for k in 1...count {
                lua_rawgeti(lua.L, i, lua_Integer(k))
                defer { lua.pop() }
                guard lua.type(at: -1) == LUA_TTABLE else {
                    throw LuaError.validation("http.request: multipart[\(k)] must be a table {name=, value= or file=}, got \(lua.typeName(at: -1))")
                }
                parts.append(try part(lua.top, name: nil, label: "multipart[\(k)]"))
            }
        } else {
            var named: [(String, Upload.Part)] = []
            lua.pushNil()
            while lua_next(lua.L, i) != 0 {
                defer { lua.pop() }
                guard lua.type(at: -2) == LUA_TSTRING, let name = lua.toString(-2) else {
                    throw LuaError.validation("http.request: multipart keys must be part names (strings), got \(lua.typeName(at: -2))")
                }
                let label = "multipart.\(name)"
                if lua.type(at: -1) == LUA_TTABLE {
                    named.append((name, try part(lua.top, name: name, label: label)))
                } else if lua.type(at: -1) == LUA_TSTRING || lua.type(at: -1) == LUA_TNUMBER {
                    named.append((name, .field(name: name, value: textBytes(-1) ?? [], contentType: nil)))
                } else {
                    throw LuaError.validation("http.request: \(label) must be a string or a table {file=, filename=, content_type=}, got \(lua.typeName(at: -1))")
                }
            }
            parts = named.sorted { $0.0 < $1.0 }.map(\.1)
        }
        guard !parts.isEmpty else { throw LuaError.validation("http.request: multipart has no parts") }
        return try Upload.multipart(parts)
    }

    /// The `auth` table of http.request. Errors name the field, never the value.
    static func auth(_ lua: LuaState, at i: Int32) throws -> Auth {
        let owner = "http.request: auth"
        guard lua.type(at: i) == LUA_TTABLE else {
            throw LuaError.validation("\(owner) must be a table, got \(lua.typeName(at: i))")
        }
        let known: Set<String> = ["bearer", "basic", "header", "value", "authorization", "key_header", "key",
            "secret_header", "secret", "headers"]
        var present: Set<String> = []
        lua.ensureStack(4)
        lua.pushNil()
        while lua_next(lua.L, i) != 0 {
            lua.pop()
            guard lua.type(at: -1) == LUA_TSTRING, let k = lua.toString(-1) else {
                throw LuaError.validation("\(owner): keys must be strings, got \(lua.typeName(at: -1))")
            }
            guard known.contains(k) else {
                throw LuaError.validation("\(owner): unknown field '\(k)' (use bearer, basic, header + value, authorization, or key_header + key + secret_header + secret)")
            }
            present.insert(k)
        }
        // A credential value: a non-empty string (numbers are taken as text).
        func credential(_ at: Int32, _ field: String, allowEmpty: Bool = false) throws -> Secret {
            let t = lua.type(at: at)
            guard t == LUA_TSTRING || t == LUA_TNUMBER, let v = lua.toString(at) else {
                throw LuaError.validation("\(owner): field '\(field)' must be a string, got \(lua.typeName(at: at))")
            }
            guard allowEmpty || !v.isEmpty else { throw LuaError.validation("\(owner): field '\(field)' is empty") }
            guard !v.contains("\r") && !v.contains("\n") else {
                throw LuaError.validation("\(owner): field '\(field)' contains a line break")
            }
            return Secret(v)
        }
        func headerName(_ at: Int32, _ field: String) throws -> String {
            guard lua.type(at: at) == LUA_TSTRING, let n = lua.toString(at), !n.isEmpty,
                n.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") })
            else {
                throw LuaError.validation("\(owner): field '\(field)' must be a header name (a string without spaces or ':')")
            }
            return n
        }
        func field<R>(_ name: String, _ body: (Int32) throws -> R) rethrows -> R {
            lua.rawGet(i, name)
            defer { lua.pop() }
            return try body(lua.top)
        }
        let forms = ["bearer", "basic", "header", "authorization", "key_header"].filter { present.contains($0) }
        if forms.count > 1 {
            throw LuaError.validation("\(owner): give one of bearer, basic, header, authorization or key_header, not \(forms.joined(separator: " and "))")
        }
        var result = Auth(headers: [])
        switch forms.first {
        case "bearer":
            result = .bearer(try field("bearer") { try credential($0, "bearer") })
        case "basic":
            result = try field("basic") { b in
                guard lua.type(at: b) == LUA_TTABLE else {
                    throw LuaError.validation("\(owner): field 'basic' must be a table {user, password}, got \(lua.typeName(at: b))")
                }
                func part(_ n: lua_Integer, _ name: String, allowEmpty: Bool) throws -> Secret {
                    lua.rawGet(b, name)
                    if lua.isNoneOrNil(-1) {
                        lua.pop()
                        lua_rawgeti(lua.L, b, n)
                    }
                    defer { lua.pop() }
                    if allowEmpty && lua.isNoneOrNil(-1) { return Secret("") }
                    if lua.isNoneOrNil(-1) {
                        throw LuaError.validation("\(owner): field 'basic.\(name)' is required (basic = {user, password})")
                    }
                    return try credential(lua.top, "basic.\(name)", allowEmpty: allowEmpty)
                }
                let user = try part(1, "user", allowEmpty: false)
                if user.reveal().contains(":") {
                    throw LuaError.validation("\(owner): field 'basic.user' must not contain ':'")
                }
                return .basic(user: user, password: try part(2, "password", allowEmpty: true))
            }
        case "header":
            let name = try field("header") { try headerName($0, "header") }
            guard present.contains("value") else {
                throw LuaError.validation("\(owner): field 'value' is required with 'header'")
            }
            result = .header(name, try field("value") { try credential($0, "value") })
        case "authorization":
            result = .authorization(try field("authorization") { try credential($0, "authorization") })
        case "key_header":
            for f in ["key", "secret_header", "secret"] where !present.contains(f) {
                throw LuaError.validation("\(owner): field '\(f)' is required with 'key_header'")
            }
            result = .keyAndSecret(
                keyHeader: try field("key_header") { try headerName($0, "key_header") },
                key: try field("key") { try credential($0, "key") },
                secretHeader: try field("secret_header") { try headerName($0, "secret_header") },
                secret: try field("secret") { try credential($0, "secret") })
        default:
            for f in ["value", "key", "secret_header", "secret"] where present.contains(f) {
                throw LuaError.validation("\(owner): field '\(f)' needs \(f == "value" ? "'header'" : "'key_header'")")
            }
            if !present.contains("headers") {
                throw LuaError.validation("\(owner): give one of bearer, basic, header, authorization or key_header")
            }
        }
        if present.contains("headers") {
            try field("headers") { h in
                guard lua.type(at: h) == LUA_TTABLE else {
                    throw LuaError.validation("\(owner): field 'headers' must be a table, got \(lua.typeName(at: h))")
                }
                var extra: [Auth.Header] = []
                lua.pushNil()
                while lua_next(lua.L, h) != 0 {
                    defer { lua.pop() }
                    let name = try headerName(-2, "headers")
                    extra.append(Auth.Header(name: name, value: try credential(lua.top, "headers." + name)))
                }
                extra.sort { $0.name < $1.name }
                result = result + Auth(headers: extra)
            }
        }
        return result
    }

    static func push(_ r: HTTPResult, on lua: LuaState) {
        lua.ensureStack(6)
        lua.newTable(recordCount: 6)
        lua.push(r.status)
        lua.rawSet(-2, "status")
        lua.push(r.reason)
        lua.rawSet(-2, "reason")
        lua.push(bytes: r.body)
        lua.rawSet(-2, "body")
        lua.push(r.url)
        lua.rawSet(-2, "url")
        lua.push(r.attempts)
        lua.rawSet(-2, "attempts")
        if let bytes = r.streamedBytes {
            lua.push(bytes)
            lua.rawSet(-2, "bytes")
            lua.push(r.resumes)
            lua.rawSet(-2, "resumes")
        }
        // Lower-case names; a repeated header's values joined with ", " (RFC 9110).
        var merged: [String: String] = [:]
        var order: [String] = []
        for h in r.headers {
            let name = h.name.lowercased()
            if let v = merged[name] { merged[name] = v + ", " + h.value } else { merged[name] = h.value; order.append(name) }
        }
        lua.newTable(recordCount: Int32(order.count))
        for name in order {
            lua.push(merged[name]!)
            lua.rawSet(-2, name)
        }
        lua.rawSet(-2, "headers")
    }
}
