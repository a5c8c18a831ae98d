/// A delimited file with a header row, read whole: the column names (and, for RecBole's
/// atomic files, their types) and every record with its line. Every record must have as many
/// fields as the header, so a ragged row is found before any value is read.
struct DataTable {
    /// A RecBole atomic-file column type (`name:type` in the header).
    enum ColumnType: String, CaseIterable {
        case token
        case tokenSeq = "token_seq"
        case float
        case floatSeq = "float_seq"
    }

    let path: String
    let names: [String]
    /// Declared types (typed headers only).
    let types: [ColumnType?]
    let rows: [(line: Int, fields: [String])]
    /// The header's line (1 unless blank lines come first).
    let headerLine: Int

    /// `typed`: the header is RecBole's `name:type` (a missing or unknown type is an error).
    init(path: String, separator: UInt8, quoting: Bool, typed: Bool) throws {
        try self.init(file: DelimitedFile(path: path), separator: separator, quoting: quoting, typed: typed)
    }

    init(file: DelimitedFile, separator: UInt8, quoting: Bool, typed: Bool) throws {
        let path = file.path
        self.path = path
        var names: [String] = []
        var types: [ColumnType?] = []
        var rows: [(line: Int, fields: [String])] = []
        var sawHeader = false
        var headerLine = 1
        let records = CSVRecords(file: file, separator: separator, quoting: quoting)
        let columnName = { (k: Int) in k < names.count ? "\"\(names[k])\"" : "\(k + 1)" }
        try records.forEach(columnName: columnName) { line, fields in
            guard sawHeader else {
                sawHeader = true
                headerLine = line
                (names, types) = try Self.header(fields, typed: typed, file: file, line: line)
                return
            }
            guard fields.count == names.count else {
                let missing = fields.count < names.count ? "; column \"\(names[fields.count])\" is missing" : ""
                throw file.error(
                    line,
                    "expected \(names.count) fields (\(names.joined(separator: ", "))), found \(fields.count)\(missing)"
                )
            }
            rows.append((line, fields))
        }
        guard sawHeader else {
            throw DataError(file: path, message: "empty file; expected a header row naming the columns")
        }
        self.names = names
        self.types = types
        self.rows = rows
        self.headerLine = headerLine
    }

    static func header(
        _ fields: [String],
        typed: Bool,
        file: DelimitedFile,
        line: Int
    ) throws -> ([String], [ColumnType?]) {
        var names: [String] = []
        var types: [ColumnType?] = []
        for (k, raw) in fields.enumerated() {
            var name = raw.trimmingSpaces
            var type: ColumnType? = nil
            if typed {
                let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
                let allowed = ColumnType.allCases.map(\.rawValue).joined(separator: ", ")
                guard parts.count == 2, let t = ColumnType(rawValue: parts[1]) else {
                    throw file.error(
                        line,
                        "header column \(k + 1) is \"\(raw)\"; expected name:type with type one of \(allowed)"
                    )
                }
                name = parts[0]
                type = t
            }
            guard !name.isEmpty else { throw file.error(line, "header column \(k + 1) has no name") }
            if let first = names.firstIndex(of: name) {
                throw file.error(line, "header names column \"\(name)\" twice (columns \(first + 1) and \(k + 1))")
            }
            names.append(name)
            types.append(type)
        }
        return (names, types)
    }

    /// The index of column `name`, which holds `role` (for the message), or an error at the
    /// header naming the columns there are and the scenario key that chose this one.
    func column(_ name: String, for role: String, key: String) throws -> Int {
        guard let k = names.firstIndex(of: name) else {
            throw DataError(
                file: path,
                line: headerLine,
                message:
                    "no column \"\(name)\" for the \(role) (\(key)); the header has \(names.map { "\"\($0)\"" }.joined(separator: ", "))"
            )
        }
        return k
    }

    /// Checks a typed header's column has one of `expected` types.
    func requireType(_ k: Int, _ expected: [ColumnType], role: String) throws {
        guard let t = types[k], !expected.contains(t) else { return }
        throw DataError(
            file: path,
            line: headerLine,
            message:
                "column \"\(names[k])\" (the \(role)) is typed \(t.rawValue); expected \(expected.map(\.rawValue).joined(separator: " or "))"
        )
    }

    func error(_ line: Int, column k: Int, _ message: String) -> DataError {
        DataError(file: path, line: line, message: "column \"\(names[k])\": \(message)")
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
