import CLua
import CMoonport

/// A Lua value copied out of a state, so it can cross threads (`Sendable`)
/// and be compared in tests. Strings are bytes: Lua strings need not be UTF-8.
public enum LuaValue: Sendable, Hashable {
    case `nil`
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string([UInt8])
    case table([LuaValue: LuaValue])

    public static func text(_ s: String) -> LuaValue { .string(Array(s.utf8)) }

    /// A sequence 1...n.
    public static func array(_ items: [LuaValue]) -> LuaValue {
        var t: [LuaValue: LuaValue] = [:]
        for (i, v) in items.enumerated() where v != .nil { t[.integer(Int64(i + 1))] = v }
        return .table(t)
    }

    public static func record(_ fields: [String: LuaValue]) -> LuaValue {
        var t: [LuaValue: LuaValue] = [:]
        for (k, v) in fields where v != .nil { t[.text(k)] = v }
        return .table(t)
    }

    /// The string as Swift text (invalid UTF-8 repaired), or nil if not a string.
    public var stringValue: String? {
        if case .string(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    public subscript(key: String) -> LuaValue {
        if case .table(let t) = self { return t[.text(key)] ?? .nil }
        return .nil
    }

    public subscript(index: Int) -> LuaValue {
        if case .table(let t) = self { return t[.integer(Int64(index))] ?? .nil }
        return .nil
    }
}

extension LuaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(nilLiteral: ()) { self = .nil }
}
