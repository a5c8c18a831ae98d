import FedSimConfig
import Foundation

/// Reading the two log sources into `InteractionLogPopulation`: `data.source: interactions`
/// (CSV/TSV files with the columns named in the scenario) and `data.source: recbole`
/// (RecBole's atomic files with typed headers). Both go through `RawLog`, so validation,
/// id mapping, the duplicates policy and features behave the same.
extension InteractionLogPopulation {
    /// `data.source: interactions`.
    public static func load(_ c: InteractionsConfig, duplicates: DataConfig.Duplicates) throws -> Self {
        let key = "data.interactions"
        var log = RawLog()
        for (i, path) in c.files.enumerated() {
            let table = try readTable(path, key: "\(key).files[\(i)]", separator: separator(c.delimiter, path))
            try log.append(table, columns: c.columns, scale: c.ratingScale, key: key)
        }
        func features(_ f: FeatureFileConfig?, id: String, key: String) throws -> FeatureColumns? {
            guard let f else { return nil }
            let table = try readTable(f.file, key: key + ".file", separator: separator(c.delimiter, f.file))
            let columns = f.categorical.map { ($0, FeatureColumns.Kind.categorical) } + f.numeric.map { ($0, .numeric) }
            return try FeatureColumns(
                table: table,
                idColumn: f.id ?? id,
                columns: columns,
                buckets: f.buckets,
                key: key
            )
        }
        return try InteractionLogPopulation(
            name: datasetName(c.files),
            log: log,
            scale: c.ratingScale,
            duplicates: duplicates,
            userFeatures: features(c.userFeatures, id: c.columns.user, key: key + ".user_features"),
            itemFeatures: features(c.itemFeatures, id: c.columns.item, key: key + ".item_features")
        )
    }

    /// `data.source: recbole`: `<folder>/<dataset>.inter`, `.user` and `.item`.
    public static func load(recbole c: RecBoleConfig, folder: String, duplicates: DataConfig.Duplicates) throws -> Self
    {
        let stem = c.dataset ?? URL(fileURLWithPath: folder).lastPathComponent
        let base = folder + "/" + stem
        let fm = FileManager.default
        guard fm.fileExists(atPath: base + ".inter") else {
            throw DataError(
                file: folder,
                message:
                    "no \(stem).inter here; RecBole atomic files are <data.path>/<dataset>.inter (set data.path, or data.recbole.dataset)"
            )
        }
        let inter = try DataTable(path: base + ".inter", separator: 9, quoting: false, typed: true)
        var columns = c.columns
        // RecBole's default rating and timestamp fields are used only when the header has them.
        let defaults = RecBoleConfig.defaultColumns
        if columns.rating == defaults.rating && !inter.names.contains(defaults.rating!) { columns.rating = nil }
        if columns.timestamp == defaults.timestamp && !inter.names.contains(defaults.timestamp!) {
            columns.timestamp = nil
        }
        var log = RawLog()
        try log.append(inter, columns: columns, scale: c.ratingScale, key: "data.recbole")
        var users: FeatureColumns?
        if fm.fileExists(atPath: base + ".user") {
            let t = try DataTable(path: base + ".user", separator: 9, quoting: false, typed: true)
            let chosen = c.userFeatures ?? t.names.filter { $0 != columns.user }
            users = try typedFeatures(
                t,
                id: columns.user,
                chosen,
                buckets: c.buckets,
                key: "data.recbole.user_features"
            )
        } else if c.userFeatures != nil {
            throw DataError(
                file: base + ".user",
                message: "no such file (data.recbole.user_features names its columns)"
            )
        }
        var items: FeatureColumns?
        if let category = c.itemCategory {
            guard fm.fileExists(atPath: base + ".item") else {
                throw DataError(
                    file: base + ".item",
                    message: "no such file (data.recbole.item_category names its column)"
                )
            }
            let t = try DataTable(path: base + ".item", separator: 9, quoting: false, typed: true)
            items = try typedFeatures(
                t,
                id: columns.item,
                [category],
                buckets: c.buckets,
                key: "data.recbole.item_category"
            )
        }
        return try InteractionLogPopulation(
            name: stem,
            log: log,
            scale: c.ratingScale,
            duplicates: duplicates,
            userFeatures: users,
            itemFeatures: items
        )
    }

    /// Parses a log from memory (the fuzzer's entry point): a CSV with RFC 4180 quoting and
    /// the columns user, item, rating, ts, or (`typed`) a RecBole `.inter` file. Returns the
    /// number of interactions kept; errors carry file:line.
    public static func parseLog(_ bytes: [UInt8], file: String, typed: Bool) throws -> Int {
        let f = DelimitedFile(path: file, bytes: bytes)
        let table = try DataTable(file: f, separator: typed ? 9 : UInt8(ascii: ","), quoting: !typed, typed: typed)
        var columns = typed ? RecBoleConfig.defaultColumns : ColumnMapping()
        if !typed {
            (columns.user, columns.item, columns.rating, columns.timestamp) = ("user", "item", "rating", "ts")
        }
        var log = RawLog()
        try log.append(table, columns: columns, scale: nil, key: "data.interactions")
        let p = try InteractionLogPopulation(
            name: file,
            log: log,
            scale: nil,
            duplicates: .mean,
            userFeatures: nil,
            itemFeatures: nil
        )
        return p.ratingCount
    }

    /// Features of a typed table: `token` columns are categorical, `token_seq` by their first
    /// token, `float` numeric; a `float_seq` is several values, not a feature.
    static func typedFeatures(
        _ t: DataTable,
        id: String,
        _ chosen: [String],
        buckets: Int,
        key: String
    ) throws -> FeatureColumns {
        let idColumn = try t.column(id, for: "id", key: "data.recbole.columns")
        try t.requireType(idColumn, [.token], role: "id")
        var columns: [(name: String, kind: FeatureColumns.Kind)] = []
        var firstToken: Set<String> = []
        for name in chosen {
            let k = try t.column(name, for: "feature", key: key)
            try t.requireType(k, [.token, .tokenSeq, .float], role: "feature")
            columns.append((name, t.types[k] == .float ? .numeric : .categorical))
            if t.types[k] == .tokenSeq { firstToken.insert(name) }
        }
        return try FeatureColumns(
            table: t,
            idColumn: id,
            columns: columns,
            buckets: buckets,
            firstTokenOnly: firstToken,
            key: key
        )
    }

    static func readTable(_ path: String, key: String, separator: UInt8) throws -> DataTable {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DataError(file: path, message: "no such file (\(key))")
        }
        return try DataTable(path: path, separator: separator, quoting: true, typed: false)
    }

    static func separator(_ d: InteractionsConfig.Delimiter, _ path: String) -> UInt8 {
        switch d {
        case .auto: return path.hasSuffix(".tsv") || path.hasSuffix(".tab") ? 9 : UInt8(ascii: ",")
        case .comma: return UInt8(ascii: ",")
        case .tab: return 9
        case .semicolon: return UInt8(ascii: ";")
        case .pipe: return UInt8(ascii: "|")
        }
    }

    /// The dataset's name in reports: one file's name without its extension, or the folder
    /// of several.
    static func datasetName(_ files: [String]) -> String {
        let first = URL(fileURLWithPath: files.first ?? "log")
        if files.count == 1 { return first.deletingPathExtension().lastPathComponent }
        return first.deletingLastPathComponent().lastPathComponent
    }
}
