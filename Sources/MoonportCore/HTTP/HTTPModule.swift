import CLua
import LuaBridge

/// `require "moonport.http"`: the primitive under stdlib/http.lua.
///   send{method=, url=, headers={name = value | {values}}, body=, timeout=,
///        retry = false | {attempts=, base=, max=, max_wait=}, safe_to_repeat=}
///     -> {status=, reason=, headers={lower-case name = value}, body=, url=, attempts=}
///   redact_url(url) -> the URL with secret query values masked
enum HTTPModule {
    static var builtin: BuiltinModule {
        BuiltinModule(name: "moonport.http") { call in
            let lua = call.lua
            lua.newTable(recordCount: 2)
            lua.setFunction(-1, "send", qualifiedName: "http.request") { call in
                let spec = try requestSpec(try call.table(1, "request"))
                return try call.suspend({ try await Transport.shared.send(spec) }, deliver: { lua, result in
                    push(result, on: lua)
                    return 1
                })
            }
            lua.setFunction(-1, "redact_url", qualifiedName: "http.redact_url") { call in
                call.results(.text(Redaction.url(try call.string(1, "url"))))
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
        spec.safeToRepeat = try t.bool("safe_to_repeat") ?? false
        if let path = try t.string("stream_to") {
            guard !path.isEmpty else { throw LuaError.validation("http.request: stream_to must be a file path") }
            spec.streamTo = path
        }
        return spec
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
