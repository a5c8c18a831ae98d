/// The one way metrics files are written and read: the coordinator encodes the schema's types
/// (`RoundMetrics`, …) with `line(_:)`, and every reader (progress, TensorBoard, reports,
/// comparisons) decodes the same types with `decode(_:line:)`. A key renamed on one side is a
/// compile error or a failing schema test, never a silently empty chart.
public enum MetricsJSON {
    /// The value as a JSON tree (keys in declaration order).
    public static func tree(_ value: some Encodable) throws -> JSONValue {
        let node = MetricsEncoderNode()
        try node.encode(value, path: [])
        return node.resolved
    }

    /// The value as one compact JSON text (a metrics.jsonl line, without the newline).
    public static func line(_ value: some Encodable) throws -> String { try tree(value).text }

    /// Reads a value of the schema from a tree.
    public static func decode<T: Decodable>(_ type: T.Type, from tree: JSONValue) throws -> T {
        try MetricsDecoder.decode(type, from: tree, path: [])
    }

    /// Reads a value of the schema from JSON text.
    public static func decode<T: Decodable>(_ type: T.Type, line: some StringProtocol) throws -> T {
        try decode(type, from: try JSONValue(parsing: line))
    }

    /// A decoding or parsing error as one sentence with the key path (`eval.rmse: expected
    /// Double, found a string`), for messages that name the file and line.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let e as JSONValue.ParseError: return e.description
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
            DecodingError.keyNotFound(_, let c), DecodingError.dataCorrupted(let c):
            return c.debugDescription
        default: return "\(error)"
        }
    }
}

extension MetricsJSON {
    /// Why a line is not exactly the schema: the key paths it has that the schema dropped
    /// (unknown or renamed keys), and those whose value reads back different (a changed type).
    public struct SchemaMismatch: Error, CustomStringConvertible, Equatable {
        public var paths: [String]
        public init(paths: [String]) { self.paths = paths }
        public var description: String {
            "not in the metrics schema (or read back different): " + paths.joined(separator: ", ")
        }
    }

    /// Decodes, then checks that encoding the result gives the same tree: every key of the
    /// line is a field of the schema and every value survives. The schema tests read real
    /// runs this way, so a key written by hand outside the schema fails them.
    public static func decodeExactly<T: Codable>(_ type: T.Type, line: some StringProtocol) throws -> T {
        let tree = try JSONValue(parsing: line)
        let value = try decode(type, from: tree)
        let back = try self.tree(value)
        let paths = differences(tree, back, path: "")
        guard paths.isEmpty else { throw SchemaMismatch(paths: paths) }
        return value
    }

    /// Key paths where `a` (the file) and `b` (the schema's encoding) differ.
    static func differences(_ a: JSONValue, _ b: JSONValue, path: String) -> [String] {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            var out: [String] = []
            for m in x {
                let p = path.isEmpty ? m.key : path + "." + m.key
                if let other = y.first(where: { $0.key == m.key }) {
                    out += differences(m.value, other.value, path: p)
                } else {
                    out.append(p)
                }
            }
            for m in y where !x.contains(where: { $0.key == m.key }) {
                out.append((path.isEmpty ? m.key : path + "." + m.key) + " (added)")
            }
            return out
        case (.array(let x), .array(let y)) where x.count == y.count:
            return zip(x, y).enumerated().flatMap {
                differences($0.element.0, $0.element.1, path: path + "[\($0.offset)]")
            }
        default:
            return a == b ? [] : [path.isEmpty ? "the top level" : path]
        }
    }
}
