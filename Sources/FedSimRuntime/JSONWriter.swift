/// A tiny ordered JSON object builder: keys stay in the order written (readable metrics lines),
/// and numbers print identically for identical values, so two runs with one seed produce
/// byte-identical lines apart from timing fields.
public struct JSONObject {
    var parts: [String] = []
    public init() {}

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    public mutating func add(_ key: String, _ v: Int) { parts.append("\(Self.quote(key)):\(v)") }
    public mutating func add(_ key: String, _ v: Double) {
        parts.append("\(Self.quote(key)):" + (v.isFinite ? "\(v)" : "null"))
    }
    public mutating func add(_ key: String, _ v: String) { parts.append("\(Self.quote(key)):\(Self.quote(v))") }
    public mutating func add(_ key: String, _ v: Bool) { parts.append("\(Self.quote(key)):\(v)") }
    public mutating func add(_ key: String, _ v: JSONObject) { parts.append("\(Self.quote(key)):\(v.text)") }
    public mutating func add(_ key: String, raw: String) { parts.append("\(Self.quote(key)):\(raw)") }
    public mutating func add(_ key: String, _ v: [Double]) {
        parts.append("\(Self.quote(key)):[" + v.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]")
    }

    public mutating func add(_ key: String, _ v: [Int]) {
        parts.append("\(Self.quote(key)):[" + v.map(String.init).joined(separator: ",") + "]")
    }

    /// Appends another object's keys (in its order).
    public mutating func merge(_ other: JSONObject) { parts += other.parts }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }
}

extension JSONObject {
    public mutating func add(_ key: String, _ v: [JSONObject]) {
        add(key, raw: "[" + v.map(\.text).joined(separator: ",") + "]")
    }
}
