import FedSimCore
import FedSimData

/// Rating and ranking metrics for the MF model.
///
/// - RMSE/MAE over held-out ratings, predictions clamped to the rating scale.
/// - HR@K and NDCG@K by **full ranking**: every item the device has not rated in training is
///   a candidate; held-out items rated ≥ threshold are relevant. HR@K = 1 if any relevant item
///   is in the top K; NDCG@K = DCG/IDCG with binary gains and log2(rank+1) discounts.
public struct Evaluator: Sendable {
    public var k: Int
    public var relevanceThreshold: Float
    public var ranking: Bool
    public var scale: ClosedRange<Float>
    /// Item categories, for category-based intra-list diversity (empty: skip it).
    public var categories: [Int32] = []
    /// Negatives per relevant item in the sampled protocol (0: off).
    public var sampledNegatives = 0
    public var seed: UInt64 = 0
    /// False for click models: no RMSE/MAE (scores are logits), and with a threshold of
    /// −∞ every held-out interaction is relevant.
    public var ratingMetrics = true
    /// Items by popularity, most first (from the coordinator); empty: no popularity baseline.
    public var popular: [Int32] = []

    public init(
        k: Int,
        relevanceThreshold: Float,
        ranking: Bool,
        scale: ClosedRange<Float>,
        categories: [Int32] = [],
        sampledNegatives: Int = 0,
        seed: UInt64 = 0
    ) {
        self.k = k
        self.relevanceThreshold = relevanceThreshold
        self.ranking = ranking
        self.scale = scale
        self.categories = categories
        self.sampledNegatives = sampledNegatives
        self.seed = seed
    }

    /// Evaluates with user parameters `personal` (dim + 1) against shared MF parameters.
    public func evaluate(
        device: Int,
        shared: [Float],
        personal: [Float],
        items: Int,
        dim d: Int,
        train: Interactions,
        test: Interactions
    ) -> DeviceEvaluation {
        let biasBase = items * d
        let mu = shared[biasBase + items]
        let bu = personal[d]
        return evaluate(device: device, shared: shared, items: items, dim: d, train: train, test: test) { i in
            var s = mu + bu + shared[biasBase + i]
            for f in 0..<d { s += personal[f] * shared[i * d + f] }
            return s
        }
    }

    /// Evaluates any model through its `score` of an item. `shared` starts with the item
    /// embedding matrix (items × dim), used for embedding-based diversity; items in `train`
    /// are excluded from ranking.
    public func evaluate(
        device: Int,
        shared: [Float],
        items: Int,
        dim d: Int,
        train: Interactions,
        test: Interactions,
        score: (Int) -> Float
    ) -> DeviceEvaluation {
        var se = 0.0
        var ae = 0.0
        for j in 0..<(ratingMetrics ? test.count : 0) {
            let p = min(scale.upperBound, max(scale.lowerBound, score(Int(test.items[j]))))
            let e = Double(p - test.ratings[j])
            se += e * e
            ae += abs(e)
        }
        var out = DeviceEvaluation(
            device: device,
            count: ratingMetrics ? test.count : 0,
            squaredError: se,
            absoluteError: ae,
            ranked: false,
            hit: 0,
            ndcg: 0
        )
        guard ranking else { return out }
        var relevant = Set<Int32>()
        for j in 0..<test.count where test.ratings[j] >= relevanceThreshold { relevant.insert(test.items[j]) }
        guard !relevant.isEmpty else { return out }
        var excluded = [Bool](repeating: false, count: items)
        for it in train.items { excluded[Int(it)] = true }
        let top = Self.topK(k, count: items, excluded: excluded, score: score)
        var dcg = 0.0
        var hits = 0
        var firstHit: Int?
        for (rank, it) in top.enumerated() where relevant.contains(Int32(it)) {
            hits += 1
            if firstHit == nil { firstHit = rank }
            dcg += 1 / _log2(Double(rank) + 2)
        }
        var idcg = 0.0
        for r in 0..<min(relevant.count, k) { idcg += 1 / _log2(Double(r) + 2) }
        out.ranked = true
        out.hit = hits > 0 ? 1 : 0
        out.ndcg = dcg / idcg
        out.recall = Double(hits) / Double(relevant.count)
        out.mrr = firstHit.map { 1 / Double($0 + 1) } ?? 0
        out.top = top.map { Int32($0) }
        if !popular.isEmpty {
            // The popularity baseline: the K most-rated items this device has not rated.
            var popTop: [Int] = []
            for i in popular where Int(i) < items && !excluded[Int(i)] {
                popTop.append(Int(i))
                if popTop.count == k { break }
            }
            var pd = 0.0
            var ph = 0
            for (rank, it) in popTop.enumerated() where relevant.contains(Int32(it)) {
                ph += 1
                pd += 1 / _log2(Double(rank) + 2)
            }
            out.popularityHit = ph > 0 ? 1 : 0
            out.popularityNdcg = pd / idcg
            let expected = Set(popTop)
            out.serendipity =
                Double(top.filter { relevant.contains(Int32($0)) && !expected.contains($0) }.count) / Double(k)
        }
        // AUC over all candidates: relevant against non-relevant, ties counted half.
        var negatives: [Float] = []
        negatives.reserveCapacity(items)
        for i in 0..<items where !excluded[i] && !relevant.contains(Int32(i)) { negatives.append(score(i)) }
        negatives.sort()
        if !negatives.isEmpty {
            var total = 0.0
            for r in relevant {
                let s = score(Int(r))
                let below = Self.countBelow(negatives, s)
                let notAbove = Self.countBelow(negatives, s.nextUp)
                total += Double(below) + 0.5 * Double(notAbove - below)
            }
            out.auc = total / Double(relevant.count * negatives.count)
        }
        // Intra-list diversity of the top-K list.
        if top.count > 1 {
            var cat = 0.0
            var emb = 0.0
            var pairs = 0.0
            for a in 0..<top.count {
                for b in (a + 1)..<top.count {
                    let i = top[a]
                    let j = top[b]
                    if !categories.isEmpty { cat += categories[i] == categories[j] ? 0 : 1 }
                    var dot: Float = 0
                    var ni: Float = 0
                    var nj: Float = 0
                    for f in 0..<d {
                        dot += shared[i * d + f] * shared[j * d + f]
                        ni += shared[i * d + f] * shared[i * d + f]
                        nj += shared[j * d + f] * shared[j * d + f]
                    }
                    emb += ni > 0 && nj > 0 ? 1 - Double(dot / (ni.squareRoot() * nj.squareRoot())) : 1
                    pairs += 1
                }
            }
            out.ildCategory = categories.isEmpty ? 0 : cat / pairs
            out.ildEmbedding = emb / pairs
        }
        // The sampled-negatives protocol (NCF): each relevant item among m unrated items.
        if sampledNegatives > 0 {
            var rated = excluded
            for it in test.items { rated[Int(it)] = true }
            let unrated = (0..<items).filter { !rated[$0] }
            var rng = Seeds.rng(seed, "eval.negatives", UInt64(device))
            // The popularity baseline ranks the very same candidates, by training counts.
            let popularity = popular.isEmpty ? nil : SampledRanking.popularityScores(popular, items: items)
            var model = SampledRanking(k: k)
            var baseline = SampledRanking(k: k)
            for r in relevant.sorted() {
                let m = min(sampledNegatives, unrated.count)
                let candidates = rng.sampleWithoutReplacement(m, from: unrated.count).map { unrated[$0] }
                model.add(positive: score(Int(r)), negatives: candidates.map(score))
                if let popularity {
                    baseline.add(positive: popularity[Int(r)], negatives: candidates.map { popularity[$0] })
                }
            }
            out.sampledHit = model.hits / Double(relevant.count)
            out.sampledNdcg = model.ndcg / Double(relevant.count)
            if popularity != nil {
                out.sampledPopularityHit = baseline.hits / Double(relevant.count)
                out.sampledPopularityNdcg = baseline.ndcg / Double(relevant.count)
            }
        }
        return out
    }

    /// Number of elements of a sorted array strictly below x.
    static func countBelow(_ sorted: [Float], _ x: Float) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Indices of the K highest scores (ties broken by lower index), best first.
    static func topK(_ k: Int, count: Int, excluded: [Bool], score: (Int) -> Float) -> [Int] {
        var idx: [Int] = []
        var val: [Float] = []
        idx.reserveCapacity(k + 1)
        val.reserveCapacity(k + 1)
        for i in 0..<count where !excluded[i] {
            let s = score(i)
            if val.count == k && s <= val[k - 1] { continue }
            var pos = val.count
            while pos > 0 && val[pos - 1] < s { pos -= 1 }
            idx.insert(i, at: pos)
            val.insert(s, at: pos)
            if val.count > k {
                idx.removeLast()
                val.removeLast()
            }
        }
        return idx
    }
}

/// Example-weighted aggregate of device evaluations, plus the per-device RMSE distribution.
public struct EvaluationSummary: Sendable, Equatable, Codable {
    public var devices: Int
    public var ratings: Int
    public var rmse: Double
    public var mae: Double
    public var rankedDevices: Int
    public var hitRate: Double
    public var ndcg: Double
    /// Per-device RMSE at the 10th, 50th and 90th percentiles (devices with held-out ratings).
    public var deviceRMSE: [Double]
    /// Means over ranked devices (docs/metrics.md).
    public var recall = Double.nan, mrr = Double.nan, auc = Double.nan
    public var ildCategory = Double.nan, ildEmbedding = Double.nan
    public var sampledHit = Double.nan, sampledNdcg = Double.nan

    public init(_ unordered: [DeviceEvaluation]) {
        // Device order, so sums do not depend on arrival order.
        let evals = unordered.sorted { $0.device < $1.device }
        let withData = evals.filter { $0.count > 0 }
        devices = evals.count
        ratings = withData.reduce(0) { $0 + $1.count }
        let se = withData.reduce(0.0) { $0 + $1.squaredError }
        let ae = withData.reduce(0.0) { $0 + $1.absoluteError }
        rmse = ratings > 0 ? (se / Double(ratings)).squareRoot() : .nan
        mae = ratings > 0 ? ae / Double(ratings) : .nan
        let ranked = evals.filter(\.ranked)
        rankedDevices = ranked.count
        hitRate = ranked.isEmpty ? .nan : ranked.reduce(0.0) { $0 + $1.hit } / Double(ranked.count)
        ndcg = ranked.isEmpty ? .nan : ranked.reduce(0.0) { $0 + $1.ndcg } / Double(ranked.count)
        let per = withData.map(\.rmse).sorted()
        deviceRMSE = [0.1, 0.5, 0.9].map { q in
            per.isEmpty ? .nan : per[min(per.count - 1, Int(q * Double(per.count - 1) + 0.5))]
        }
        if !ranked.isEmpty {
            let n = Double(ranked.count)
            recall = ranked.reduce(0.0) { $0 + $1.recall } / n
            mrr = ranked.reduce(0.0) { $0 + $1.mrr } / n
            auc = ranked.reduce(0.0) { $0 + $1.auc } / n
            ildCategory = ranked.reduce(0.0) { $0 + $1.ildCategory } / n
            ildEmbedding = ranked.reduce(0.0) { $0 + $1.ildEmbedding } / n
            sampledHit = ranked.reduce(0.0) { $0 + $1.sampledHit } / n
            sampledNdcg = ranked.reduce(0.0) { $0 + $1.sampledNdcg } / n
        }
    }
}
