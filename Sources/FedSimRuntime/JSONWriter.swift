import FedSimMetrics

/// A tiny ordered JSON object builder for the files not yet in the metrics schema (the privacy
/// ledger, participation.jsonl, cold-start tables; metrics.jsonl lines are `RoundMetrics`,
/// summary.json is `RunSummary`). Keys stay in the order written, and numbers print
/// identically for identical values (as `MetricsJSON` prints them), so two runs with one seed
/// produce byte-identical files apart from timing fields.
public struct JSONObject {
    var parts: [String] = []
    public init() {}

    /// A JSON string literal, escaped as every metrics file is (`JSONValue.quote`).
    public static func quote(_ s: String) -> String { JSONValue.quote(s) }

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

extension JSONObject {
    /// A value of the metrics schema (`FedSimMetrics`) as an object, its keys in order, so a
    /// file still assembled by hand (the privacy ledger) embeds the schema's types exactly as
    /// metrics.jsonl writes them.
    public init(encoding value: some Encodable) {
        guard case .object(let members) = Self.tree(value) else {
            preconditionFailure("JSONObject(encoding:) needs a type that encodes as an object")
        }
        parts = members.map { Self.quote($0.key) + ":" + $0.value.text }
    }

    /// Adds a value of the metrics schema under `key`.
    public mutating func add(_ key: String, encoding value: some Encodable) {
        add(key, raw: Self.tree(value).text)
    }

    /// The schema's types encode without failing (no custom encoding throws), so a failure here
    /// is a programming error.
    static func tree(_ value: some Encodable) -> JSONValue {
        do { return try MetricsJSON.tree(value) } catch {
            preconditionFailure("metrics schema value failed to encode: \(MetricsJSON.describe(error))")
        }
    }
}
