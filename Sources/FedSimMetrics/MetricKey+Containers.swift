/// Short accessors for the types whose keys are spelled at run time (`hr@10`): `put` writes a
/// value (an optional one only when present), `get` and `maybe` read one back.
extension KeyedEncodingContainer where K == MetricKey {
    mutating func put<T: Encodable>(_ value: T?, _ name: String) throws {
        try encodeIfPresent(value, forKey: MetricKey(name))
    }
}

extension KeyedDecodingContainer where K == MetricKey {
    func get<T: Decodable>(_ name: String) throws -> T { try decode(T.self, forKey: MetricKey(name)) }
    func maybe<T: Decodable>(_ name: String) throws -> T? { try decodeIfPresent(T.self, forKey: MetricKey(name)) }

    /// The cut-off of the ranking keys here (`hr@10` gives 10), or `fallback` when none.
    func cutoff(_ name: String = "hr", fallback: Int = 10) -> Int {
        MetricKey.cutoff(name, in: allKeys) ?? fallback
    }
}
