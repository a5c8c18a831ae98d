/// A metrics key spelled at run time. Most keys are fixed (`CodingKeys` with the snake_case
/// names users' scripts read); a few carry the scenario's cut-off or sample size in the name
/// (`hr@10`, `ndcg@10_sampled100`, `best_rmse`), and those types encode with `MetricKey`.
public struct MetricKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(_ name: String) {
        stringValue = name
        intValue = nil
    }

    public init?(stringValue: String) { self.init(stringValue) }

    public init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }

    init(index: Int) {
        stringValue = "[\(index)]"
        intValue = index
    }

    /// `name@k`, the ranking metrics' cut-off in the name (`hr@10`).
    public static func at(_ name: String, _ k: Int) -> MetricKey { MetricKey("\(name)@\(k)") }

    /// `name@k_sampled<n>`: the sampled-negatives protocol's variant of a ranking metric.
    public static func sampled(_ name: String, _ k: Int, _ negatives: Int) -> MetricKey {
        MetricKey("\(name)@\(k)_sampled\(negatives)")
    }

    /// The cut-off `k` of the first key written `name@k` (exactly, digits only), e.g. 10 for
    /// `hr@10` among an object's keys. Readers take k from the file itself, so a report can
    /// compare runs with different cut-offs.
    public static func cutoff(_ name: String, in keys: [MetricKey]) -> Int? {
        let prefix = name + "@"
        for key in keys where key.stringValue.hasPrefix(prefix) {
            if let k = Int(key.stringValue.dropFirst(prefix.count)) { return k }
        }
        return nil
    }

    /// The sample size `n` of the first key written `name@k_sampled<n>`.
    public static func sampleSize(_ name: String, k: Int, in keys: [MetricKey]) -> Int? {
        let prefix = "\(name)@\(k)_sampled"
        for key in keys where key.stringValue.hasPrefix(prefix) {
            if let n = Int(key.stringValue.dropFirst(prefix.count)) { return n }
        }
        return nil
    }
}
