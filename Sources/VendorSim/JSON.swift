import Foundation

/// JSON in and out of the simulator. Decoding uses Foundation's
/// JSONSerialization (request bodies are small, and the dictionaries read
/// naturally in the vendor files); encoding is done here, straight into bytes,
/// because JSONSerialization's encoder (bridging every value to Foundation
/// objects) was most of the cost of a small answer.
enum JSON {
    /// Encodes `value` (dictionaries, arrays, strings, numbers, booleans,
    /// NSNull, as JSONSerialization gives or takes them). Keys are sorted so
    /// that identical objects give identical bytes (the duplicate detection
    /// hashes encoded bodies). Values JSON cannot hold (NaN, infinities, other
    /// types) are written as null.
    static func encode(_ value: Any) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    private static func write(_ value: Any, into out: inout [UInt8]) {
        switch value {
        case let s as String:
            writeString(s, into: &out)
        case let d as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in d.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(d[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case let a as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let b as Bool where type(of: value) == Bool.self:
            out += b ? Array("true".utf8) : Array("false".utf8)
        case let i as Int where type(of: value) == Int.self:
            out += Array(String(i).utf8)
        case let d as Double where type(of: value) == Double.self:
            writeDouble(d, into: &out)
        case let i as Int64 where type(of: value) == Int64.self:
            out += Array(String(i).utf8)
        case let n as NSNumber:
            let kind = String(cString: n.objCType)
            if kind == "c" && (n.int8Value == 0 || n.int8Value == 1) {
                out += n.boolValue ? Array("true".utf8) : Array("false".utf8)
            } else if kind == "d" || kind == "f" {
                writeDouble(n.doubleValue, into: &out)
            } else if kind == "Q" || kind == "L" {
                out += Array(String(n.uint64Value).utf8)
            } else {
                out += Array(String(n.int64Value).utf8)
            }
        default:
            out += Array("null".utf8)
        }
    }

    private static func writeDouble(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            out += Array("null".utf8)
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            out += Array(String(Int64(d)).utf8)
        } else {
            out += Array("\(d)".utf8)
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [92, 34]
            case UInt8(ascii: "\\"): out += [92, 92]
            case 10: out += [92, UInt8(ascii: "n")]
            case 13: out += [92, UInt8(ascii: "r")]
            case 9: out += [92, UInt8(ascii: "t")]
            case 0..<32: out += [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func encodeString(_ value: Any) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    /// Decodes a body; nil when it is not JSON.
    static func decode(_ bytes: [UInt8]) -> Any? {
        guard !bytes.isEmpty else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }
}

/// Typed reads out of decoded JSON, tolerant of Foundation's NSNumber bridging.
extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }

    func int(_ key: String) -> Int? {
        guard let n = self[key] as? NSNumber, !isBool(n) else { return nil }
        let d = n.doubleValue
        guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return n.intValue
    }

    func double(_ key: String) -> Double? {
        if let n = self[key] as? NSNumber, !isBool(n) { return n.doubleValue }
        return nil
    }

    func bool(_ key: String) -> Bool? {
        if let n = self[key] as? NSNumber, isBool(n) { return n.boolValue }
        return nil
    }

    func object(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    func array(_ key: String) -> [Any]? { self[key] as? [Any] }
    func strings(_ key: String) -> [String]? {
        guard let a = self[key] as? [Any] else { return nil }
        let s = a.compactMap { $0 as? String }
        return s.count == a.count ? s : nil
    }
}

/// Whether an NSNumber came from a JSON boolean (CFBoolean on Darwin,
/// objCType "c" from swift-corelibs-foundation).
func isBool(_ n: NSNumber) -> Bool {
    #if canImport(Darwin)
    return CFGetTypeID(n) == CFBooleanGetTypeID()
    #else
    return String(cString: n.objCType) == "c"
    #endif
}
