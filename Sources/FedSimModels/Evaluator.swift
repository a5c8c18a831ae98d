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

    public init(k: Int, relevanceThreshold: Float, ranking: Bool, scale: ClosedRange<Float>) {
        self.k = k
        self.relevanceThreshold = relevanceThreshold
        self.ranking = ranking
        self.scale = scale
    }

    /// Evaluates with user parameters `personal` (dim + 1) against shared MF parameters.
    public func evaluate(
        device: Int, shared: [Float], personal: [Float], items: Int, dim d: Int, train: Interactions, test: Interactions
    ) -> DeviceEvaluation {
        let biasBase = items * d
        let mu = shared[biasBase + items], bu = personal[d]
        @inline(__always) func score(_ i: Int) -> Float {
            var s = mu + bu + shared[biasBase + i]
            for f in 0..<d { s += personal[f] * shared[i * d + f] }
            return s
        }
        var se = 0.0, ae = 0.0
        for j in 0..<test.count {
            let p = min(scale.upperBound, max(scale.lowerBound, score(Int(test.items[j]))))
            let e = Double(p - test.ratings[j])
            se += e * e
            ae += abs(e)
        }
        var out = DeviceEvaluation(device: device, count: test.count, squaredError: se, absoluteError: ae, ranked: false, hit: 0, ndcg: 0)
        guard ranking else { return out }
        var relevant = Set<Int32>()
        for j in 0..<test.count where test.ratings[j] >= relevanceThreshold { relevant.insert(test.items[j]) }
        guard !relevant.isEmpty else { return out }
        var excluded = [Bool](repeating: false, count: items)
        for it in train.items { excluded[Int(it)] = true }
        let top = Self.topK(k, count: items, excluded: excluded, score: score)
        var dcg = 0.0
        var hit = false
        for (rank, it) in top.enumerated() where relevant.contains(Int32(it)) {
            hit = true
            dcg += 1 / _log2(Double(rank) + 2)
        }
        var idcg = 0.0
        for r in 0..<min(relevant.count, k) { idcg += 1 / _log2(Double(r) + 2) }
        out.ranked = true
        out.hit = hit ? 1 : 0
        out.ndcg = dcg / idcg
        return out
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
            if val.count > k { idx.removeLast(); val.removeLast() }
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
        deviceRMSE = [0.1, 0.5, 0.9].map { q in per.isEmpty ? .nan : per[min(per.count - 1, Int(q * Double(per.count - 1) + 0.5))] }
    }
}
