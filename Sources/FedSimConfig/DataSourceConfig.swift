/// `data.source: interactions`: your own interaction log in one or more delimited files
/// (CSV/TSV with a header row, RFC 4180 quoting), with the columns named in the scenario.
/// docs/data.md has a worked example.
public struct InteractionsConfig: Codable, Sendable, Equatable {
    /// The log's files, read in this order (paths as given, relative to the working folder).
    public var files: [String] = []
    public var delimiter: Delimiter = .auto
    public var columns = ColumnMapping()
    /// The rating scale [min, max]. Absent: inferred from the data (its smallest and largest
    /// rating). Stated: a rating outside it is an error naming its file:line.
    public var ratingScale: [Double]?
    public var userFeatures: FeatureFileConfig?
    public var itemFeatures: FeatureFileConfig?

    public enum Delimiter: String, Codable, Sendable, CaseIterable {
        /// Tab for `.tsv` and `.tab` files, comma otherwise.
        case auto, comma, tab, semicolon, pipe
    }
    public init() {}
}

/// Which header column holds what. Only `user` and `item` are required: without `rating`
/// every interaction is a positive (implicit feedback); without `timestamp` a row's position
/// in the log is its time; without `domain` there is one domain.
public struct ColumnMapping: Codable, Sendable, Equatable {
    public var user = "user_id"
    public var item = "item_id"
    public var rating: String?
    public var timestamp: String?
    public var domain: String?
    public init() {}
}

/// A side file of user or item features, keyed by the id column. Categorical columns map
/// each distinct value to an index; numeric columns are cut into `buckets` quantile buckets
/// (as MovieLens' ages are bucketed). A user's features are its fields in the two-tower and
/// DeepFM models; an item's one feature column is its category (as a movie's genre is).
public struct FeatureFileConfig: Codable, Sendable, Equatable {
    public var file = ""
    /// The id column; nil: the same name as the log's user (or item) column.
    public var id: String?
    public var categorical: [String] = []
    public var numeric: [String] = []
    public var buckets = 8
    public init() {}
    /// The feature columns in the order the models see them: categorical, then numeric.
    public var columns: [String] { categorical + numeric }
}

/// `data.source: recbole`: RecBole's atomic files `<data.path>/<dataset>.inter`, and
/// optionally `.user` and `.item`, with typed headers (`user_id:token rating:float`).
public struct RecBoleConfig: Codable, Sendable, Equatable {
    /// The file stem; nil: the last component of `data.path` (RecBole's own layout).
    public var dataset: String?
    /// RecBole's field names by default; `rating` and `timestamp` are used when the `.inter`
    /// header has them.
    public var columns = RecBoleConfig.defaultColumns
    public var ratingScale: [Double]?
    /// `.user` columns that are user features; nil: every column but the id.
    public var userFeatures: [String]?
    /// The `.item` column that is an item's category (a `token_seq` counts its first token).
    public var itemCategory: String?
    public var buckets = 8

    public static var defaultColumns: ColumnMapping {
        var c = ColumnMapping()
        c.rating = "rating"
        c.timestamp = "timestamp"
        return c
    }
    public init() {}
}
