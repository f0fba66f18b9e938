import CLua
import LuaBridge

/// `require "moonport.http"`: the primitive under stdlib/http.lua, which
/// checks the options of http.request and hands over flat values.
///   send{method=, url=, headers = {name, value, ...}, body=, timeout=,
///        retry_off= | retry_attempts=, retry_base=, retry_max=, retry_max_wait=,
///        safe_to_repeat=, stream_to=, body_file=,
///        parts = {name, value, file, filename, content_type, ...} (five per part, false where absent),
///        auth_headers = {name, value, ...}, auth_basic_user=, auth_basic_password=,
///        aws_access_key=, aws_secret_key=, aws_region=, aws_service=, aws_session_token=}
///     -> {status=, reason=, headers={lower-case name = value}, body=, url=, attempts=},
///        gave_up (the retry policy's reason when a status it retries outlasted the retries)
///   verdict(status) -> retryable, may_have_taken_effect (the retry policy's verdict on an answer)
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
                return try call.suspend(starting: { done in
                    Transport.shared.start(spec) { done($0.mapError(luaError)) }
                }, deliver: { lua, result in
                    push(result, on: lua)
                    if let why = result.gaveUp { lua.push(why) } else { lua.pushNil() }
                    return 2
                })
            }
            lua.setFunction(-1, "verdict", qualifiedName: "http.verdict") { call in
                // The retry policy's verdict on an answer: retryable, may_have_taken_effect.
                let outcome = AttemptOutcome.response(status: Int(try call.integer(1, "status")), headers: [])
                call.lua.push(RetryPolicy.isRetryable(outcome))
                call.lua.push(RetryPolicy.mayHaveTakenEffect(outcome))
                return .results(2)
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

    /// The one place a failure of the transport becomes the Lua error
    /// object: its facts as fields (status, retryable,
    /// may_have_taken_effect, attempts); a message may quote what the
    /// server said, so its secrets are masked.
    static func luaError(_ error: any Error) -> any Error {
        switch error {
        case let f as HTTPFailure:
            let message = Redaction.scrub(f.message)
            let kind: LuaError.Kind
            switch f.kind {
            case .network: kind = .network
            case .timeout: kind = .timeout
            case .rateLimited: kind = .rateLimited
            case .http: kind = .http
            case .tooLarge: return LuaError.usage(message)
            }
            var extra: [String: LuaValue] = ["may_have_taken_effect": .boolean(f.mayHaveTakenEffect)]
            if let attempts = f.attempts { extra["attempts"] = .integer(Int64(attempts)) }
            return LuaError(kind, message, status: f.status, retryable: f.retryable, extra: extra)
        case var e as LuaError:
            e.message = Redaction.scrub(e.message)
            return e
        default:
            return error
        }
    }

    /// The request stdlib/http.lua checked and flattened (its options are
    /// listed there, in `known`): strings, numbers and flat lists only.
    static func requestSpec(_ t: LuaOptions) throws -> HTTPRequestSpec {
        let url = try t.requiredString("url")
        guard let parts = URLParts(url), parts.scheme == "http" || parts.scheme == "https" else {
            throw LuaError.validation("http.request: url '\(Redaction.url(url))' is not an http:// or https:// URL")
        }
        var spec = HTTPRequestSpec(method: try t.requiredString("method"), url: url)
        spec.headers = pairs(try list(t, "headers"))
        try t.with("body") { i in
            guard !t.lua.isNoneOrNil(i) else { return }
            guard let bytes = t.lua.withBytes(at: i, { Array($0.bindMemory(to: UInt8.self)) }) else {
                throw t.fieldError("body", expected: "a string")
            }
            spec.body = bytes
        }
        if let timeout = try t.number("timeout") { spec.timeout = timeout }
        if try t.bool("retry_off") == true {
            spec.retry = .none
        } else {
            if let a = try t.integer("retry_attempts") { spec.retry.attempts = Int(a) }
            if let b = try t.number("retry_base") { spec.retry.base = max(0, b) }
            if let m = try t.number("retry_max") { spec.retry.max = max(0, m) }
            if let w = try t.number("retry_max_wait") { spec.retry.maxTotalWait = max(0, w) }
        }
        // Credentials: registered as secrets, masked everywhere.
        var auth = Auth(headers: [])
        if let user = try t.string("auth_basic_user") {
            auth = .basic(user: Secret(user), password: Secret(try t.string("auth_basic_password") ?? ""))
        }
        for (name, value) in pairs(try list(t, "auth_headers")) { auth = auth + .header(name, Secret(value)) }
        if !auth.headers.isEmpty { spec.authorize(auth) }
        if let access = try t.string("aws_access_key") {
            let signer = AWSSigV4(
                accessKey: Secret(access), secretKey: Secret(try t.requiredString("aws_secret_key")),
                region: try t.requiredString("aws_region"), service: try t.string("aws_service") ?? "s3",
                sessionToken: try t.string("aws_session_token").map { Secret($0) })
            guard spec.upload == nil, let signed = signer.sign(method: spec.method, url: spec.url, body: spec.body) else {
                throw LuaError.validation("http.request: aws_sigv4 signs requests with a plain body (or none) and a valid URL")
            }
            spec.headers.append(contentsOf: signed.plain)
            spec.authorize(signed.auth)
        }
        if let path = try t.string("body_file") { spec.attach(try Upload.file(path)) }
        let flat = try list(t, "parts")
        if !flat.isEmpty {
            // Five per part: name, value, file, filename, content_type (nil where absent).
            var parts: [Upload.Part] = []
            var k = 0
            while k + 4 < flat.count {
                let text = { (v: [UInt8]?) in v.map { String(decoding: $0, as: UTF8.self) } }
                let name = text(flat[k]) ?? ""
                if let path = text(flat[k + 2]) {
                    parts.append(.file(name: name, path: path, filename: text(flat[k + 3]) ?? path,
                                       contentType: text(flat[k + 4]) ?? "application/octet-stream"))
                } else {
                    parts.append(.field(name: name, value: flat[k + 1] ?? [], contentType: text(flat[k + 4])))
                }
                k += 5
            }
            spec.attach(try Upload.multipart(parts))
        }
        spec.safeToRepeat = try t.bool("safe_to_repeat") ?? false
        spec.streamTo = try t.string("stream_to")
        return spec
    }

    /// t[field] as a list of byte strings (nil for an entry that is not a string).
    static func list(_ t: LuaOptions, _ field: String) throws -> [[UInt8]?] {
        let lua = t.lua
        return try t.with(field) { i in
            if lua.isNoneOrNil(i) { return [] }
            guard lua.type(at: i) == LUA_TTABLE else { throw t.fieldError(field, expected: "a list") }
            lua.ensureStack(2)
            return (0..<lua.rawLength(i)).map { k in
                lua_rawgeti(lua.L, i, lua_Integer(k + 1))
                defer { lua.pop() }
                return lua.type(at: -1) == LUA_TSTRING ? lua.withBytes(at: -1) { Array($0.bindMemory(to: UInt8.self)) } : nil
            }
        }
    }

    /// A flat list {name, value, name, value, ...} as pairs.
    static func pairs(_ flat: [[UInt8]?]) -> [(name: String, value: String)] {
        stride(from: 0, to: flat.count - 1, by: 2).map { k in
            (name: String(decoding: flat[k] ?? [], as: UTF8.self), value: String(decoding: flat[k + 1] ?? [], as: UTF8.self))
        }
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

/// An error of the Lua bridge met while sending (a file to send or to
/// write) ends the exchange as it is.
extension LuaError: LocalFailure {}
