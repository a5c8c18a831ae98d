import Yams

// How the `data.interactions` and `data.recbole` sections are read: every key with its key
// path and line (ConfigReader), unknown keys with a did-you-mean.

extension InteractionsConfig {
    init(reading r: ConfigReader) {
        self.init()
        files = r.stringList("files", default: files)
        if files.isEmpty { r.fail("files", "list the log's files, e.g. files: [data/ratings.csv]") }
        for (i, f) in files.enumerated() where f.isEmpty { r.fail("files[\(i)]", "an empty path") }
        delimiter = r.choice("delimiter", default: delimiter)
        columns = ColumnMapping(reading: r.section("columns"), defaults: ColumnMapping())
        ratingScale = r.ratingScale("rating_scale")
        userFeatures = r.has("user_features") ? FeatureFileConfig(reading: r.section("user_features")) : nil
        itemFeatures = r.has("item_features") ? FeatureFileConfig(reading: r.section("item_features")) : nil
        if let f = itemFeatures, f.columns.count > 1 {
            r.fail(
                "item_features",
                "lists \(f.columns.count) columns; an item's feature is its category (one field in the two-tower and DeepFM models): list one"
            )
        }
        r.finish()
    }
}

extension ColumnMapping {
    init(reading r: ConfigReader, defaults: ColumnMapping) {
        self = defaults
        user = r.string("user", default: user)
        item = r.string("item", default: item)
        rating = r.optionalString("rating") ?? rating
        timestamp = r.optionalString("timestamp") ?? timestamp
        domain = r.optionalString("domain") ?? domain
        let named = [("user", user), ("item", item), ("rating", rating), ("timestamp", timestamp), ("domain", domain)]
        var seen: [String: String] = [:]
        for (key, column) in named {
            guard let column else { continue }
            if column.isEmpty { r.fail(key, "an empty column name") }
            if let other = seen[column] {
                r.fail(key, "column \"\(column)\" is already the \(other) column")
            }
            seen[column] = key
        }
        r.finish()
    }
}

extension FeatureFileConfig {
    init(reading r: ConfigReader) {
        self.init()
        file = r.string("file", default: file)
        if file.isEmpty { r.fail("file", "name the features file") }
        id = r.optionalString("id")
        categorical = r.stringList("categorical", default: categorical)
        numeric = r.stringList("numeric", default: numeric)
        buckets = r.int("buckets", default: buckets, range: 2...1_000)
        if columns.isEmpty { r.fail("categorical", "list the feature columns (categorical and/or numeric)") }
        if Set(columns).count != columns.count { r.fail("numeric", "a column is listed twice") }
        r.finish()
    }
}

extension RecBoleConfig {
    init(reading r: ConfigReader) {
        self.init()
        dataset = r.optionalString("dataset")
        if dataset?.contains("/") == true {
            r.fail("dataset", "a file stem, without slashes (the folder is data.path)")
        }
        columns = ColumnMapping(reading: r.section("columns"), defaults: RecBoleConfig.defaultColumns)
        ratingScale = r.ratingScale("rating_scale")
        userFeatures = r.has("user_features") ? r.stringList("user_features", default: []) : nil
        itemCategory = r.optionalString("item_category")
        buckets = r.int("buckets", default: buckets, range: 2...1_000)
        r.finish()
    }
}

extension ConfigReader {
    /// `[min, max]` with min < max, or nil when absent.
    func ratingScale(_ key: String) -> [Double]? {
        guard has(key) else {
            _ = node(key)
            return nil
        }
        let v = doubleList(key, default: [])
        guard v.count == 2, v[0] < v[1] else {
            fail(key, "expected [min, max] with min < max, e.g. [1, 10]")
            return nil
        }
        return v
    }
}

extension Scenario {
    /// Checks between `data.source` and its sections. Returns (key path, message) pairs.
    func dataSourceChecks() -> [(String, String)] {
        var out: [(String, String)] = []
        if data.interactions != nil && data.source != .interactions {
            out.append(
                ("data.interactions", "is read only with data.source: interactions (it is \(data.source.rawValue))")
            )
        }
        if data.recbole != nil && data.source != .recbole {
            out.append(("data.recbole", "is read only with data.source: recbole (it is \(data.source.rawValue))"))
        }
        if let i = data.interactions, data.source == .interactions, i.columns.rating == nil, !evaluation.implicit {
            out.append(
                (
                    "data.interactions.columns",
                    "no rating column: every interaction is a positive, so set evaluation.implicit: true (and a ranking loss such as training.local.loss: bpr)"
                )
            )
        }
        if data.source == .interactions && data.interactions?.columns.domain == nil && data.partition.method == .natural
            && training.sampling.stratifiesByDomain
        {
            out.append(
                (
                    "training.sampling.by",
                    "the log has one domain (no data.interactions.columns.domain); stratify by activity"
                )
            )
        }
        return out
    }
}
