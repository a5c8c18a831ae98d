/// `final.baselines` of summary.json: the model beside every baseline measured under its
/// evaluation protocol, and its margin over the strongest (a result is a margin over in-run
/// baselines; docs/metrics.md). `protocol` says which of the two shapes a file has.
public enum FinalBaselines: Codable, Equatable, Sendable {
    /// Full ranking with `evaluation.bias_baseline`: global mean, bias-only, popularity, random.
    case fullRanking(FullRankingBaselines)
    /// `evaluation.sampled_negatives` > 0: popularity and random on the same candidates, plus
    /// bias-only on them when the bias baseline is on.
    case sampledNegatives(SampledNegativesBaselines)

    /// The margin over the strongest ranking baseline, by the cut-off's hit rate and NDCG.
    public var rankingMargin: (hitRate: Double, ndcg: Double) {
        switch self {
        case .fullRanking(let f): return (f.margin.hitRate, f.margin.ndcg)
        case .sampledNegatives(let s): return (s.margin.hitRate, s.margin.ndcg)
        }
    }

    /// The model's RMSE minus the bias-only baseline's (full ranking only; sampled negatives
    /// rank, they do not rate).
    public var rmseOverBiasOnly: Double? {
        if case .fullRanking(let f) = self { return f.margin.rmseOverBiasOnly }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        let name: String = try c.get("protocol")
        if name == FullRankingBaselines.protocolName {
            self = .fullRanking(try FullRankingBaselines(from: decoder))
        } else if name.hasPrefix(SampledNegativesBaselines.protocolPrefix) {
            self = .sampledNegatives(try SampledNegativesBaselines(from: decoder))
        } else {
            let path = c.codingPath + [MetricKey("protocol")]
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: path,
                    debugDescription:
                        "\(render(path)): \"\(name)\" is neither full_ranking nor sampled_negatives=<n>"
                )
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .fullRanking(let f): try f.encode(to: encoder)
        case .sampledNegatives(let s): try s.encode(to: encoder)
        }
    }
}

/// `final.baselines` under full ranking. `margin.ranking_over` names the strongest ranking
/// baseline by NDCG, the one `margin.hr@k` and `margin.ndcg@k` are taken over.
public struct FullRankingBaselines: Codable, Equatable, Sendable {
    static let protocolName = "full_ranking"
    public var model: ModelFigures
    public var globalMean: RMSEFigure?
    public var biasOnly: ModelFigures
    public var popularity: RankingBaseline?
    public var random: RankingBaseline
    public var margin: Margin

    public init(
        model: ModelFigures,
        globalMean: RMSEFigure?,
        biasOnly: ModelFigures,
        popularity: RankingBaseline?,
        random: RankingBaseline,
        margin: Margin
    ) {
        self.model = model
        self.globalMean = globalMean
        self.biasOnly = biasOnly
        self.popularity = popularity
        self.random = random
        self.margin = margin
    }

    /// Model minus baseline: RMSE (negative is better) and ranking (positive is better).
    public struct Margin: Codable, Equatable, Sendable {
        public var k: Int
        public var rmseOverBiasOnly: Double
        public var rmseOverGlobalMean: Double?
        public var rankingOver: String
        public var hitRate: Double
        public var ndcg: Double

        public init(
            k: Int,
            rmseOverBiasOnly: Double,
            rmseOverGlobalMean: Double?,
            rankingOver: String,
            hitRate: Double,
            ndcg: Double
        ) {
            self.k = k
            self.rmseOverBiasOnly = rmseOverBiasOnly
            self.rmseOverGlobalMean = rmseOverGlobalMean
            self.rankingOver = rankingOver
            self.hitRate = hitRate
            self.ndcg = ndcg
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: MetricKey.self)
            k = c.cutoff()
            rmseOverBiasOnly = try c.get("rmse_over_bias_only")
            rmseOverGlobalMean = try c.maybe("rmse_over_global_mean")
            rankingOver = try c.get("ranking_over")
            hitRate = try c.get("hr@\(k)")
            ndcg = try c.get("ndcg@\(k)")
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: MetricKey.self)
            try c.put(rmseOverBiasOnly, "rmse_over_bias_only")
            try c.put(rmseOverGlobalMean, "rmse_over_global_mean")
            try c.put(rankingOver, "ranking_over")
            try c.put(hitRate, "hr@\(k)")
            try c.put(ndcg, "ndcg@\(k)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case name = "protocol"
        case model
        case globalMean = "global_mean"
        case biasOnly = "bias_only"
        case popularity, random, margin
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelFigures.self, forKey: .model)
        globalMean = try c.decodeIfPresent(RMSEFigure.self, forKey: .globalMean)
        biasOnly = try c.decode(ModelFigures.self, forKey: .biasOnly)
        popularity = try c.decodeIfPresent(RankingBaseline.self, forKey: .popularity)
        random = try c.decode(RankingBaseline.self, forKey: .random)
        margin = try c.decode(Margin.self, forKey: .margin)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.protocolName, forKey: .name)
        try c.encode(model, forKey: .model)
        try c.encodeIfPresent(globalMean, forKey: .globalMean)
        try c.encode(biasOnly, forKey: .biasOnly)
        try c.encodeIfPresent(popularity, forKey: .popularity)
        try c.encode(random, forKey: .random)
        try c.encode(margin, forKey: .margin)
    }
}

/// `final.baselines` under sampled negatives (`protocol` `sampled_negatives=<n>`): each
/// baseline ranks the same n sampled candidates as the model. The keys carry n
/// (`popularity_sampled100`, `bias_only_sampled100`).
public struct SampledNegativesBaselines: Codable, Equatable, Sendable {
    static let protocolPrefix = "sampled_negatives="
    public var negatives: Int
    public var model: RankingBaseline
    /// nil until the coordinator has a popularity ranking (the run's first evaluation).
    public var popularity: RankingBaseline?
    public var random: RankingBaseline
    /// Over the strongest of popularity and random (`over` names it).
    public var margin: RankingMargin
    /// Bias-only on the same candidates (with `evaluation.bias_baseline`), and the margin over it.
    public var biasOnly: RankingBaseline?
    public var marginOverBiasOnly: RankingMargin?

    public init(
        negatives: Int,
        model: RankingBaseline,
        popularity: RankingBaseline?,
        random: RankingBaseline,
        margin: RankingMargin
    ) {
        self.negatives = negatives
        self.model = model
        self.popularity = popularity
        self.random = random
        self.margin = margin
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        let name: String = try c.get("protocol")
        guard let n = Int(name.dropFirst(Self.protocolPrefix.count)) else {
            let path = c.codingPath + [MetricKey("protocol")]
            throw DecodingError.dataCorrupted(
                .init(codingPath: path, debugDescription: "\(render(path)): \"\(name)\" has no sample size")
            )
        }
        negatives = n
        model = try c.get("model")
        popularity = try c.maybe("popularity_sampled\(n)")
        random = try c.get("random_sampled\(n)")
        margin = try c.get("margin")
        biasOnly = try c.maybe("bias_only_sampled\(n)")
        marginOverBiasOnly = try c.maybe("margin_over_bias_only")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(Self.protocolPrefix + String(negatives), "protocol")
        try c.put(model, "model")
        try c.put(popularity, "popularity_sampled\(negatives)")
        try c.put(random, "random_sampled\(negatives)")
        try c.put(margin, "margin")
        try c.put(biasOnly, "bias_only_sampled\(negatives)")
        try c.put(marginOverBiasOnly, "margin_over_bias_only")
    }
}

/// A model's (or a rating baseline's) RMSE and ranking at cut-off `k`; RMSE NaN (`null`) for
/// click models.
public struct ModelFigures: Codable, Equatable, Sendable {
    public var k: Int
    public var rmse: Double
    public var hitRate: Double
    public var ndcg: Double

    public init(k: Int, rmse: Double, hitRate: Double, ndcg: Double) {
        self.k = k
        self.rmse = rmse
        self.hitRate = hitRate
        self.ndcg = ndcg
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        rmse = try c.get("rmse")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(rmse, "rmse")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
    }
}

/// A rating baseline known only by its RMSE (the global mean).
public struct RMSEFigure: Codable, Equatable, Sendable {
    public var rmse: Double
    public init(rmse: Double) { self.rmse = rmse }
}

/// Model minus a ranking baseline at cut-off `k` (positive: the model ranks better), and
/// which baseline when the margin is over the strongest of several (`over`).
public struct RankingMargin: Codable, Equatable, Sendable {
    public var k: Int
    public var over: String?
    public var hitRate: Double
    public var ndcg: Double

    public init(k: Int, over: String?, hitRate: Double, ndcg: Double) {
        self.k = k
        self.over = over
        self.hitRate = hitRate
        self.ndcg = ndcg
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        over = try c.maybe("over")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(over, "over")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
    }
}
