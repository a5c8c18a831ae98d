import FedSimConfig

/// A population read from an interaction log (`data.source: interactions` or `recbole`):
/// every user is one device. Raw ids become dense indices deterministically (`DenseIDs`);
/// each device's interactions are sorted by (timestamp, item), as MovieLens' are, so the same
/// log gives the same population whichever layout it came in.
///
/// Without a rating column every interaction is a positive with rating 1 (implicit feedback,
/// scale 1...1); otherwise the scale is the declared one or the data's smallest and largest
/// rating, and models clamp predictions to it.
public struct InteractionLogPopulation: Population {
    public let name: String
    public let deviceCount: Int
    public let itemCount: Int
    public let ratingScale: ClosedRange<Float>
    public let domainNames: [String]
    public let itemDomains: [Int32]
    public let itemCategories: [Int32]
    public let categoryNames: [String]
    public let userFeatureNames: [String]
    public let rawUserIDs: [String]
    public let rawItemIDs: [String]
    public let ratingCount: Int
    /// Whether the log has ratings (false: implicit feedback).
    public let explicit: Bool

    // CSR storage: interactions of device d are at offsets[d]..<offsets[d+1].
    let offsets: [Int]
    let items: [Int32]
    let ratings: [Float]
    let timestamps: [Int64]
    let features: [[Int32]]

    init(
        name: String,
        log: RawLog,
        scale: [Double]?,
        duplicates: DataConfig.Duplicates,
        userFeatures: FeatureColumns?,
        itemFeatures: FeatureColumns?
    ) throws {
        guard log.count > 0 else {
            throw DataError(
                file: log.files.first ?? name,
                message: "no interactions (the log has a header and no rows)"
            )
        }
        let userIDs = DenseIDs(log.users)
        let itemIDs = DenseIDs(log.items + Array(itemFeatures?.values.keys ?? [:].keys))
        let user = log.users.map { userIDs.index[$0]! }
        let item = log.items.map { itemIDs.index[$0]! }
        let kept = try log.resolvingDuplicates(duplicates, user: user, item: item)
        let order = kept.indices.sorted { a, b in
            let (x, y) = (kept[a], kept[b])
            return (user[x.row], x.timestamp, item[x.row], x.row) < (user[y.row], y.timestamp, item[y.row], y.row)
        }
        var offsets = [Int](repeating: 0, count: userIDs.count + 1)
        for k in kept { offsets[user[k.row] + 1] += 1 }
        for d in 0..<userIDs.count { offsets[d + 1] += offsets[d] }
        self.offsets = offsets
        items = order.map { Int32(item[kept[$0].row]) }
        ratings = order.map { kept[$0].rating }
        timestamps = order.map { kept[$0].timestamp }
        self.name = name
        deviceCount = userIDs.count
        itemCount = itemIDs.count
        ratingCount = kept.count
        rawUserIDs = userIDs.raw
        rawItemIDs = itemIDs.raw
        explicit = log.explicit
        if let scale {
            ratingScale = Float(scale[0])...Float(scale[1])
        } else {
            let r = kept.map(\.rating)
            ratingScale = r.min()!...r.max()!
        }
        (domainNames, itemDomains) = try Self.domains(log, item: item, itemCount: itemIDs.count)
        (categoryNames, itemCategories) = Self.categories(itemFeatures, items: itemIDs.raw)
        userFeatureNames = userFeatures?.names ?? []
        let missing = [Int32](repeating: -1, count: userFeatureNames.count)
        features = userIDs.raw.map { userFeatures?.values[$0] ?? missing }
    }

    public func interactions(of device: Int) -> Interactions {
        let r = offsets[device]..<offsets[device + 1]
        return Interactions(items: Array(items[r]), ratings: Array(ratings[r]), timestamps: Array(timestamps[r]))
    }

    public func userFeatures(of device: Int) -> [Int32] { features[device] }

    /// Domain of every item from the log's domain column (an item belongs to one domain);
    /// one domain, "all", without it.
    static func domains(_ log: RawLog, item: [Int], itemCount: Int) throws -> ([String], [Int32]) {
        guard log.hasDomains else { return (["all"], [Int32](repeating: 0, count: itemCount)) }
        let names = DenseIDs(log.domains)
        var of = [Int32](repeating: -1, count: itemCount)
        var firstRow = [Int](repeating: -1, count: itemCount)
        for i in 0..<log.count {
            let d = Int32(names.index[log.domains[i]]!)
            let it = item[i]
            if of[it] < 0 {
                of[it] = d
                firstRow[it] = i
            } else if of[it] != d {
                let (file, line) = log.location(i)
                let first = log.location(firstRow[it])
                throw DataError(
                    file: file,
                    line: line,
                    message:
                        "item \"\(log.items[i])\" is in domain \"\(log.domains[i])\" here but in \"\(log.domains[firstRow[it]])\" at \(first.file):\(first.line); an item belongs to one domain"
                )
            }
        }
        return (names.raw, of.map { max(0, $0) })
    }

    /// Every item's category: its value of the item feature column (items without one, or
    /// with an empty cell, get a last category "(none)"); one category, "all", without a file.
    static func categories(_ features: FeatureColumns?, items: [String]) -> ([String], [Int32]) {
        guard let features, let names = features.valueNames.first else {
            return (["all"], [Int32](repeating: 0, count: items.count))
        }
        let none = Int32(names.count)
        let cats = items.map { id in features.values[id].map { $0[0] >= 0 ? $0[0] : none } ?? none }
        return (cats.contains(none) ? names + ["(none)"] : names, cats)
    }
}
