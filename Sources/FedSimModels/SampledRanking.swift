/// The sampled-negatives protocol (NCF, He et al. 2017) for one list of positives: each
/// positive is ranked among its own sampled negatives. Its rank is the number of negatives
/// scored at least as high (ties count against the positive, so a constant scorer earns
/// nothing); HR@K counts rank < K and NDCG@K adds 1 / log₂(rank + 2) for those.
///
/// The model and every baseline go through this one type on the same candidates, so their
/// figures differ only by the scores.
public struct SampledRanking: Sendable {
    public let k: Int
    public private(set) var hits = 0.0
    public private(set) var ndcg = 0.0

    public init(k: Int) { self.k = k }

    public mutating func add<S: Sequence<Float>>(positive: Float, negatives: S) {
        var rank = 0
        for s in negatives where s >= positive { rank += 1 }
        if rank < k {
            hits += 1
            ndcg += 1 / _log2(Double(rank) + 2)
        }
    }

    /// Popularity as a score: the most popular item scores highest; items outside the
    /// coordinator's list (rated by no evaluated device, or beyond its length) all tie lowest.
    public static func popularityScores(_ popular: [Int32], items: Int) -> [Float] {
        var s = [Float](repeating: -Float(popular.count), count: items)
        for (rank, i) in popular.enumerated() where Int(i) < items && Int(i) >= 0 { s[Int(i)] = -Float(rank) }
        return s
    }

    /// What a uniformly random ranking scores in expectation with `negatives` negatives: the
    /// positive's rank is uniform on 0…negatives, so HR@K = min(K, n + 1) / (n + 1) and
    /// NDCG@K = Σ_{r < min(K, n + 1)} 1 / log₂(r + 2) / (n + 1).
    public static func randomExpectation(k: Int, negatives n: Int) -> (hit: Double, ndcg: Double) {
        let top = min(k, n + 1)
        let dcg = (0..<top).reduce(0.0) { $0 + 1 / _log2(Double($1) + 2) }
        return (Double(top) / Double(n + 1), dcg / Double(n + 1))
    }
}
