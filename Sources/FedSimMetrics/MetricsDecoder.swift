/// Decodes the metrics schema from a `JSONValue` tree (`MetricsJSON.decode`).
///
/// The writer's rules, read back: `null` where a `Double` is expected is NaN (the writer
/// writes non-finite values as `null`), also for an optional `Double` that is present; an
/// absent key is `nil` for an optional. An integer is never read from `3.0`, nor a string
/// from a number: a type change on the writer's side fails here, with the key path.
struct MetricsDecoder: Decoder {
    let value: JSONValue
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch("an object", value, codingPath) }
        return KeyedDecodingContainer(Keyed<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch("an array", value, codingPath) }
        return Unkeyed(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        Single(value: value, codingPath: codingPath)
    }

    static func decode<T: Decodable>(_ type: T.Type, from v: JSONValue, path: [any CodingKey]) throws -> T {
        switch (type, v) {
        case (is Double.Type, .double(let d)): return d as! T
        case (is Double.Type, .int(let i)): return Double(i) as! T
        case (is Double.Type, .null): return Double.nan as! T
        case (is Int.Type, .int(let i)): return i as! T
        case (is Bool.Type, .bool(let b)): return b as! T
        case (is String.Type, .string(let s)): return s as! T
        case (is JSONValue.Type, _): return v as! T
        case (is Double.Type, _), (is Int.Type, _), (is Bool.Type, _), (is String.Type, _):
            throw mismatch("\(type)", v, path)
        default: return try T(from: MetricsDecoder(value: v, codingPath: path))
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [JSONValue.Member]
        var codingPath: [any CodingKey]
        var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

        func value(_ key: Key) -> JSONValue? { members.first { $0.key == key.stringValue }?.value }
        func contains(_ key: Key) -> Bool { value(key) != nil }
        func decodeNil(forKey key: Key) throws -> Bool { value(key).map { $0 == .null } ?? true }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let v = value(key) else {
                throw DecodingError.keyNotFound(
                    key,
                    .init(
                        codingPath: codingPath,
                        debugDescription: "no \"\(key.stringValue)\" at \(render(codingPath))"
                    )
                )
            }
            return try MetricsDecoder.decode(type, from: v, path: codingPath + [key])
        }

        /// Absent is nil; a present `null` is NaN (the writer's non-finite value).
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
            try optional(type, forKey: key)
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            try optional(type, forKey: key)
        }

        /// Absent is nil; a present `null` is NaN for a `Double`, nil otherwise.
        func optional<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let v = value(key) else { return nil }
            if v == .null && !(type is Double.Type) { return nil }
            return try MetricsDecoder.decode(type, from: v, path: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type,
            forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            try MetricsDecoder(value: try decode(JSONValue.self, forKey: key), codingPath: codingPath + [key])
                .container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try MetricsDecoder(value: try decode(JSONValue.self, forKey: key), codingPath: codingPath + [key])
                .unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder {
            MetricsDecoder(value: members.first { $0.key == "super" }?.value ?? .null, codingPath: codingPath)
        }
        func superDecoder(forKey key: Key) throws -> any Decoder {
            MetricsDecoder(value: value(key) ?? .null, codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let items: [JSONValue]
        var codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        mutating func next() throws -> JSONValue {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    JSONValue.self,
                    .init(codingPath: codingPath, debugDescription: "array at \(render(codingPath)) ended early")
                )
            }
            defer { currentIndex += 1 }
            return items[currentIndex]
        }
        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let path = codingPath + [MetricKey(index: currentIndex)]
            return try MetricsDecoder.decode(type, from: try next(), path: path)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type
        ) throws -> KeyedDecodingContainer<NestedKey> {
            try MetricsDecoder(value: try next(), codingPath: codingPath).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try MetricsDecoder(value: try next(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder { MetricsDecoder(value: try next(), codingPath: codingPath) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        var codingPath: [any CodingKey]
        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try MetricsDecoder.decode(type, from: value, path: codingPath)
        }
    }
}

/// A key path as users read it: `eval.cohorts.activity[2].rmse`.
func render(_ path: [any CodingKey]) -> String {
    var out = ""
    for key in path {
        if key.intValue != nil, key.stringValue.hasPrefix("[") {
            out += key.stringValue
        } else {
            out += (out.isEmpty ? "" : ".") + key.stringValue
        }
    }
    return out.isEmpty ? "the top level" : out
}

func mismatch(_ expected: String, _ found: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    let kind: String
    switch found {
    case .null: kind = "null"
    case .bool: kind = "a boolean"
    case .int: kind = "an integer"
    case .double: kind = "a floating-point number"
    case .string: kind = "a string"
    case .array: kind = "an array"
    case .object: kind = "an object"
    }
    return DecodingError.typeMismatch(
        Any.self,
        .init(codingPath: path, debugDescription: "\(render(path)): expected \(expected), found \(kind)")
    )
}
