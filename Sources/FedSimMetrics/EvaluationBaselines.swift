/// `eval.baselines`: the in-run baselines every evaluation is compared against (a result is
/// a margin over these; docs/metrics.md). Each is present when the run can compute it.
public struct EvaluationBaselines: Codable, Equatable, Sendable {
    /// The training split's mean rating as a constant predictor (rating tasks).
    public var globalMean: GlobalMean?
    /// The most-rated items, ranked by the full protocol.
    public var popularity: RankingBaseline?
    /// The sampled-negatives protocol's size, naming the two `_sampled<n>` baselines.
    public var sampledNegatives: Int?
    public var popularitySampled: RankingBaseline?
    public var randomSampled: RankingBaseline?
    /// Item and user biases fitted centrally (`evaluation.bias_baseline`).
    public var biasOnly: BiasOnlyBaseline?
    /// A random ranking by the full protocol (with the bias-only baseline).
    public var random: RankingBaseline?

    public init() {}

    public struct GlobalMean: Codable, Equatable, Sendable {
        public var value: Double
        public var rmse: Double
        public init(value: Double, rmse: Double) {
            self.value = value
            self.rmse = rmse
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        globalMean = try c.maybe("global_mean")
        popularity = try c.maybe("popularity")
        let sampled = c.allKeys.first { $0.stringValue.hasPrefix("random_sampled") }
        sampledNegatives = sampled.flatMap { Int($0.stringValue.dropFirst("random_sampled".count)) }
        if let n = sampledNegatives {
            popularitySampled = try c.maybe("popularity_sampled\(n)")
            randomSampled = try c.maybe("random_sampled\(n)")
        }
        biasOnly = try c.maybe("bias_only")
        random = try c.maybe("random")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(globalMean, "global_mean")
        try c.put(popularity, "popularity")
        if let n = sampledNegatives {
            try c.put(popularitySampled, "popularity_sampled\(n)")
            try c.put(randomSampled, "random_sampled\(n)")
        }
        try c.put(biasOnly, "bias_only")
        try c.put(random, "random")
    }
}

/// A ranking baseline at cut-off `k`: `hr@k`, `ndcg@k` and, where counted, the devices ranked.
public struct RankingBaseline: Codable, Equatable, Sendable {
    public var k: Int
    public var hitRate: Double
    public var ndcg: Double
    public var devices: Int?

    public init(k: Int, hitRate: Double, ndcg: Double, devices: Int? = nil) {
        self.k = k
        self.hitRate = hitRate
        self.ndcg = ndcg
        self.devices = devices
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
        devices = try c.maybe("devices")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
        try c.put(devices, "devices")
    }
}

/// The bias-only reference model (item and user biases fitted centrally on the training
/// split): its RMSE and rankings, and how it was fitted.
public struct BiasOnlyBaseline: Codable, Equatable, Sendable {
    public var k: Int
    public var rmse: Double
    public var hitRate: Double
    public var ndcg: Double
    public var sampledNegatives: Int?
    public var sampledHitRate: Double?
    public var sampledNdcg: Double?
    public var devices: Int
    public var fitted: String

    public init(k: Int, rmse: Double, hitRate: Double, ndcg: Double, devices: Int, fitted: String) {
        self.k = k
        self.rmse = rmse
        self.hitRate = hitRate
        self.ndcg = ndcg
        self.devices = devices
        self.fitted = fitted
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        rmse = try c.get("rmse")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
        sampledNegatives = MetricKey.sampleSize("hr", k: k, in: c.allKeys)
        if let n = sampledNegatives {
            sampledHitRate = try c.maybe("hr@\(k)_sampled\(n)")
            sampledNdcg = try c.maybe("ndcg@\(k)_sampled\(n)")
        }
        devices = try c.get("devices")
        fitted = try c.get("fitted")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(rmse, "rmse")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
        if let n = sampledNegatives {
            try c.put(sampledHitRate, "hr@\(k)_sampled\(n)")
            try c.put(sampledNdcg, "ndcg@\(k)_sampled\(n)")
        }
        try c.put(devices, "devices")
        try c.put(fitted, "fitted")
    }
}
