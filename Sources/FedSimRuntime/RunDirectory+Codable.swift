import FedSimMetrics
import Foundation

extension RunDirectory {
    /// Writes a Codable value as one JSON file of the run (snake_case keys; ∞ and NaN as
    /// "inf" / "-inf" / "nan", which JSON cannot hold but a baseline can be).
    func writeJSON<T: Encodable>(_ value: T, to name: String) throws {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        try write(String(decoding: try enc.encode(value), as: UTF8.self) + "\n", to: name)
    }

    /// Reads what `writeJSON` wrote; nil when the file is missing or does not decode.
    func readJSON<T: Decodable>(_ type: T.Type, from name: String) -> T? {
        guard let text = try? read(name) else { return nil }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        dec.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return try? dec.decode(type, from: Data(text.utf8))
    }
}

extension RunDirectory {
    /// summary.json (`RunSummary`), nil when the run has not written one; a file outside the
    /// schema is an error naming it and the key path.
    public func summary() throws -> RunSummary? {
        guard let text = try? String(contentsOfFile: summaryFile, encoding: .utf8) else { return nil }
        return try RunSummary(text: text, file: summaryFile)
    }
}
