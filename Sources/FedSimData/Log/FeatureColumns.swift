/// The features of a side file (users or items) as small integers, the form the two-tower
/// and DeepFM models take MovieLens' age bucket, gender and occupation in: each row's values,
/// one per feature column, −1 where the cell is empty.
///
/// A categorical column maps each distinct value to its index in byte order (deterministic);
/// a numeric column is cut at its quantiles into at most `buckets` buckets (MovieLens' ages
/// are bucketed the same way, by fixed edges).
struct FeatureColumns {
    /// Column names, in the order of each row's values.
    let names: [String]
    /// Values of each id in the file.
    let values: [String: [Int32]]
    /// For each column, the name of each value (a category, or a bucket's range).
    let valueNames: [[String]]

    enum Kind { case categorical, numeric }

    /// `columns`: (name, kind) in model order; `firstTokenOnly`: RecBole `token_seq` columns
    /// whose first token is the value.
    init(
        table: DataTable,
        idColumn: String,
        columns: [(name: String, kind: Kind)],
        buckets: Int,
        firstTokenOnly: Set<String> = [],
        key: String
    ) throws {
        let id = try table.column(idColumn, for: "id", key: key + ".id")
        let ks = try columns.map { try table.column($0.name, for: "feature", key: key) }
        var firstLine: [String: Int] = [:]
        for (line, f) in table.rows {
            let v = f[id].trimmingSpaces
            guard !v.isEmpty else { throw table.error(line, column: id, "empty id") }
            if let earlier = firstLine[v] {
                throw table.error(line, column: id, "id \"\(v)\" is listed again (first at line \(earlier))")
            }
            firstLine[v] = line
        }
        var encoded: [[Int32]] = []
        var valueNames: [[String]] = []
        for (c, k) in zip(columns, ks) {
            let cells = table.rows.map { row -> String in
                let t = row.fields[k].trimmingSpaces
                return firstTokenOnly.contains(c.name) ? String(t.split(separator: " ").first ?? "") : t
            }
            let (codes, names) =
                c.kind == .categorical
                ? Self.categorical(cells)
                : try Self.numeric(cells, buckets: buckets, table: table, column: k)
            encoded.append(codes)
            valueNames.append(names)
        }
        var values: [String: [Int32]] = [:]
        for (r, row) in table.rows.enumerated() { values[row.fields[id].trimmingSpaces] = encoded.map { $0[r] } }
        names = columns.map(\.name)
        self.values = values
        self.valueNames = valueNames
    }

    static func categorical(_ cells: [String]) -> ([Int32], [String]) {
        let names = Set(cells.filter { !$0.isEmpty }).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var index: [String: Int32] = [:]
        for (i, n) in names.enumerated() { index[n] = Int32(i) }
        return (cells.map { index[$0] ?? -1 }, names)
    }

    /// Quantile buckets: the edges are the values at ranks n·b/buckets (b = 1…buckets−1) of
    /// the sorted non-empty cells, duplicates merged; a value's bucket counts the edges ≤ it.
    static func numeric(
        _ cells: [String],
        buckets: Int,
        table: DataTable,
        column k: Int
    ) throws -> ([Int32], [String]) {
        var parsed: [Double?] = []
        for (r, cell) in cells.enumerated() {
            if cell.isEmpty {
                parsed.append(nil)
                continue
            }
            guard let v = Field.number(ArraySlice(cell.utf8)) else {
                throw table.error(table.rows[r].line, column: k, "\"\(cell)\" is not a number (a numeric feature)")
            }
            parsed.append(v)
        }
        let sorted = parsed.compactMap { $0 }.sorted()
        var edges: [Double] = []
        if !sorted.isEmpty {
            for b in 1..<buckets {
                let e = sorted[min(sorted.count - 1, sorted.count * b / buckets)]
                if e > sorted[0] && edges.last != e { edges.append(e) }
            }
        }
        let codes = parsed.map { v in v.map { v in Int32(edges.filter { $0 <= v }.count) } ?? -1 }
        let bounds = [nil] + edges.map { Optional($0) }
        let names = bounds.indices.map { i -> String in
            let lo = bounds[i].map { "≥ \(RawLog.format($0))" }
            let hi = i + 1 < bounds.count ? "< \(RawLog.format(bounds[i + 1]!))" : nil
            return [lo, hi].compactMap { $0 }.joined(separator: ", ").ifEmpty("all")
        }
        return (codes, names)
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
