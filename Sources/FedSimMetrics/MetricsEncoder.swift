/// Encodes the metrics schema into a `JSONValue` tree, then text (`MetricsJSON.text`).
///
/// Why not Foundation's `JSONEncoder`: it writes `3.0` as `3` (a pandas column of floats
/// would turn into integers, and golden digests change), it throws on NaN, and its key order
/// is unspecified. This encoder keeps the declaration order of each type's keys, writes a
/// `Double` as Swift prints it (`3.0`, `1e-05`), a non-finite one as `null`, and leaves an
/// optional that is `nil` out of the object: absent and `null` stay two different things.
final class MetricsEncoderNode {
    enum Content {
        case unset
        case value(JSONValue)
        case object([(String, MetricsEncoderNode)])
        case array([MetricsEncoderNode])
    }
    var content = Content.unset

    var resolved: JSONValue {
        switch content {
        case .unset: return .object([])
        case .value(let v): return v
        case .object(let members): return .object(members.map { JSONValue.Member($0.0, $0.1.resolved) })
        case .array(let items): return .array(items.map(\.resolved))
        }
    }

    /// Adds (or replaces) `key` in an object node and returns the child.
    func child(forKey key: String) -> MetricsEncoderNode {
        let node = MetricsEncoderNode()
        var members: [(String, MetricsEncoderNode)] = []
        if case .object(let m) = content { members = m }
        if let at = members.firstIndex(where: { $0.0 == key }) {
            members[at].1 = node
        } else {
            members.append((key, node))
        }
        content = .object(members)
        return node
    }

    func appendChild() -> MetricsEncoderNode {
        let node = MetricsEncoderNode()
        var items: [MetricsEncoderNode] = []
        if case .array(let a) = content { items = a }
        items.append(node)
        content = .array(items)
        return node
    }

    /// Encodes one value into this node: primitives directly, anything else through its
    /// `encode(to:)`.
    func encode(_ value: some Encodable, path: [any CodingKey]) throws {
        if let v = Self.primitive(value) {
            content = .value(v)
            return
        }
        try value.encode(to: MetricsEncoder(node: self, codingPath: path))
    }

    static func primitive(_ value: Any) -> JSONValue? {
        switch value {
        // JSON has no NaN or infinity: the tree holds them as the `null` the file will show.
        case let v as Double: return v.isFinite ? .double(v) : .null
        case let v as Float: return v.isFinite ? .double(Double(v)) : .null
        case let v as Int: return .int(v)
        case let v as Int32: return .int(Int(v))
        case let v as Int64: return .int(Int(v))
        case let v as UInt32: return .int(Int(v))
        case let v as UInt64: return Int(exactly: v).map { .int($0) } ?? .double(Double(v))
        case let v as UInt: return Int(exactly: v).map { .int($0) } ?? .double(Double(v))
        case let v as Bool: return .bool(v)
        case let v as String: return .string(v)
        case let v as JSONValue: return v
        default: return nil
        }
    }
}

struct MetricsEncoder: Encoder {
    let node: MetricsEncoderNode
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: MetricsEncoderNode, codingPath: [any CodingKey]) {
        self.node = node
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = node.content {} else { node.content = .object([]) }
        return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = node.content {} else { node.content = .array([]) }
        return Unkeyed(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: MetricsEncoderNode
        var codingPath: [any CodingKey]

        mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try node.child(forKey: key.stringValue).encode(value, path: codingPath + [key])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type,
            forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            MetricsEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
                .container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            MetricsEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder {
            MetricsEncoder(node: node.child(forKey: "super"), codingPath: codingPath)
        }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            MetricsEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: MetricsEncoderNode
        var codingPath: [any CodingKey]
        var count: Int {
            if case .array(let a) = node.content { return a.count }
            return 0
        }

        mutating func encodeNil() throws { node.appendChild().content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try node.appendChild().encode(value, path: codingPath + [MetricKey(index: count)])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type
        ) -> KeyedEncodingContainer<NestedKey> {
            MetricsEncoder(node: node.appendChild(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            MetricsEncoder(node: node.appendChild(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { MetricsEncoder(node: node.appendChild(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let node: MetricsEncoderNode
        var codingPath: [any CodingKey]

        mutating func encodeNil() throws { node.content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try node.encode(value, path: codingPath) }
    }
}
