import FedSimConfig

/// An interaction log's rows as read, before ids become dense indices: what both the
/// `interactions` (CSV/TSV) and `recbole` (atomic files) sources produce, so one builder
/// (`InteractionLogPopulation`) serves both.
struct RawLog {
    var files: [String] = []
    var users: [String] = []
    var items: [String] = []
    var ratings: [Float] = []
    var timestamps: [Int64] = []
    var domains: [String] = []
    var lines: [Int] = []
    var fileOf: [Int32] = []
    /// Whether the log has ratings (explicit feedback) and domains.
    var explicit = false
    var hasDomains = false

    var count: Int { users.count }

    /// Where row `i` came from, for messages.
    func location(_ i: Int) -> (file: String, line: Int) { (files[Int(fileOf[i])], lines[i]) }

    /// Appends every row of `table`. `key`: the scenario section that named the columns (for
    /// messages); `scale`: the declared rating scale, if any. Every file of a log must name
    /// the same columns.
    mutating func append(_ table: DataTable, columns c: ColumnMapping, scale: [Double]?, key: String) throws {
        let user = try table.column(c.user, for: "user id", key: key + ".columns.user")
        let item = try table.column(c.item, for: "item id", key: key + ".columns.item")
        let rating = try c.rating.map { try table.column($0, for: "rating", key: key + ".columns.rating") }
        let time = try c.timestamp.map { try table.column($0, for: "timestamp", key: key + ".columns.timestamp") }
        let domain = try c.domain.map { try table.column($0, for: "domain", key: key + ".columns.domain") }
        try table.requireType(user, [.token], role: "user id")
        try table.requireType(item, [.token], role: "item id")
        if let rating { try table.requireType(rating, [.float], role: "rating") }
        if let time { try table.requireType(time, [.float], role: "timestamp") }
        if let domain { try table.requireType(domain, [.token], role: "domain") }
        if files.isEmpty {
            explicit = rating != nil
            hasDomains = domain != nil
        } else if explicit != (rating != nil) || hasDomains != (domain != nil) {
            throw DataError(
                file: table.path,
                line: table.headerLine,
                message:
                    "every file of the log needs the same columns; \(files[0]) \(explicit ? "has" : "has no") rating column and \(hasDomains ? "a" : "no") domain column"
            )
        }
        let fileIndex = Int32(files.count)
        files.append(table.path)
        for (line, f) in table.rows {
            let row = count
            for (k, role) in [(user, "user id"), (item, "item id")] where f[k].trimmingSpaces.isEmpty {
                throw table.error(line, column: k, "empty \(role)")
            }
            users.append(f[user].trimmingSpaces)
            items.append(f[item].trimmingSpaces)
            if let rating {
                ratings.append(
                    try Self.rating(f[rating], table: table, line: line, column: rating, scale: scale, key: key)
                )
            } else {
                ratings.append(1)
            }
            if let time {
                guard let t = Field.number(ArraySlice(f[time].trimmingSpaces.utf8)), abs(t) < 1e15 else {
                    throw table.error(
                        line,
                        column: time,
                        "timestamp \"\(f[time])\" is not a number (seconds since an epoch)"
                    )
                }
                timestamps.append(Int64(t.rounded(.down)))
            } else {
                timestamps.append(Int64(row))  // the row's position in the log is its time
            }
            if let domain {
                guard !f[domain].trimmingSpaces.isEmpty else { throw table.error(line, column: domain, "empty domain") }
                domains.append(f[domain].trimmingSpaces)
            }
            lines.append(line)
            fileOf.append(fileIndex)
        }
    }

    static func rating(
        _ text: String,
        table: DataTable,
        line: Int,
        column: Int,
        scale: [Double]?,
        key: String
    ) throws -> Float {
        guard let r = Field.number(ArraySlice(text.trimmingSpaces.utf8)) else {
            throw table.error(line, column: column, "rating \"\(text)\" is not a number")
        }
        if let scale, r < scale[0] || r > scale[1] {
            throw table.error(
                line,
                column: column,
                "rating \(text) is outside the declared scale \(Self.format(scale[0]))...\(Self.format(scale[1])) (\(key).rating_scale)"
            )
        }
        return Float(r)
    }

    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }
}
