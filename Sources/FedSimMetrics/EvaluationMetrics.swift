/// An evaluation (`eval` in a metrics line; the base fields also make `validation` and
/// summary.json's `final`): accuracy, ranking at the cut-off `k`, beyond-accuracy metrics,
/// in-run baselines, negative transfer and cohorts (docs/metrics.md defines each).
///
/// The ranking keys carry the cut-off (`hr@10`, `ndcg@10`) and the sampled-negatives protocol
/// its sample size (`hr@10_sampled100`); `k` and `sampledNegatives` say which, and a reader
/// takes them from the keys themselves. RMSE and MAE are NaN (`null`) for click models.
public struct EvaluationMetrics: Codable, Equatable, Sendable {
    public var k: Int
    public var rmse: Double
    public var mae: Double
    public var hitRate: Double
    public var ndcg: Double
    public var devices: Int
    public var ratings: Int
    public var rankedDevices: Int
    /// The 10th, 50th and 90th percentile of per-device RMSE.
    public var deviceRMSE: [Double]
    // Beyond accuracy (evaluation rounds; absent from validation and summaries).
    public var recall: Double?
    public var mrr: Double?
    public var auc: Double?
    /// The sample size of the sampled-negatives protocol, when the run uses one.
    public var sampledNegatives: Int?
    public var sampledHitRate: Double?
    public var sampledNdcg: Double?
    // Exposure metrics: present when devices reported recommendations.
    public var coverage: Double?
    public var giniExposure: Double?
    public var novelty: Double?
    public var ildCategory: Double?
    public var ildEmbedding: Double?
    public var serendipity: Double?
    /// Why the exposure metrics above are missing although the run computes them (the
    /// evaluation's secure exposure sum failed, or too few devices were evaluated for one):
    /// an absence a reader can tell from "not computed".
    public var exposureOmitted: String?
    public var baselines: EvaluationBaselines?
    /// Evaluation reports refused (beyond what an honest device can claim).
    public var refusedReports: Int?
    public var negativeTransfer: NegativeTransfer?
    public var cohorts: CohortTable?

    public init(
        k: Int,
        rmse: Double,
        mae: Double,
        hitRate: Double,
        ndcg: Double,
        devices: Int,
        ratings: Int,
        rankedDevices: Int,
        deviceRMSE: [Double]
    ) {
        self.k = k
        self.rmse = rmse
        self.mae = mae
        self.hitRate = hitRate
        self.ndcg = ndcg
        self.devices = devices
        self.ratings = ratings
        self.rankedDevices = rankedDevices
        self.deviceRMSE = deviceRMSE
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        rmse = try c.get("rmse")
        mae = try c.get("mae")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
        devices = try c.get("devices")
        ratings = try c.get("ratings")
        rankedDevices = try c.get("ranked_devices")
        deviceRMSE = try c.get("device_rmse_p10_p50_p90")
        recall = try c.maybe("recall@\(k)")
        mrr = try c.maybe("mrr@\(k)")
        auc = try c.maybe("auc")
        sampledNegatives = MetricKey.sampleSize("hr", k: k, in: c.allKeys)
        if let n = sampledNegatives {
            sampledHitRate = try c.maybe("hr@\(k)_sampled\(n)")
            sampledNdcg = try c.maybe("ndcg@\(k)_sampled\(n)")
        }
        coverage = try c.maybe("coverage@\(k)")
        giniExposure = try c.maybe("gini_exposure@\(k)")
        novelty = try c.maybe("novelty@\(k)")
        ildCategory = try c.maybe("ild_category@\(k)")
        ildEmbedding = try c.maybe("ild_embedding@\(k)")
        serendipity = try c.maybe("serendipity@\(k)")
        exposureOmitted = try c.maybe("exposure_omitted")
        baselines = try c.maybe("baselines")
        refusedReports = try c.maybe("refused_reports")
        negativeTransfer = try c.maybe("negative_transfer")
        cohorts = try c.maybe("cohorts")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(rmse, "rmse")
        try c.put(mae, "mae")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
        try c.put(devices, "devices")
        try c.put(ratings, "ratings")
        try c.put(rankedDevices, "ranked_devices")
        try c.put(deviceRMSE, "device_rmse_p10_p50_p90")
        try c.put(recall, "recall@\(k)")
        try c.put(mrr, "mrr@\(k)")
        try c.put(auc, "auc")
        if let n = sampledNegatives {
            try c.put(sampledHitRate, "hr@\(k)_sampled\(n)")
            try c.put(sampledNdcg, "ndcg@\(k)_sampled\(n)")
        }
        try c.put(coverage, "coverage@\(k)")
        try c.put(giniExposure, "gini_exposure@\(k)")
        try c.put(novelty, "novelty@\(k)")
        try c.put(ildCategory, "ild_category@\(k)")
        try c.put(ildEmbedding, "ild_embedding@\(k)")
        try c.put(serendipity, "serendipity@\(k)")
        try c.put(exposureOmitted, "exposure_omitted")
        try c.put(baselines, "baselines")
        try c.put(refusedReports, "refused_reports")
        try c.put(negativeTransfer, "negative_transfer")
        try c.put(cohorts, "cohorts")
    }
}

/// `validation`: the evaluation of the validation split, and the early-stopping tracker's
/// best round and best value of its metric (written `best_<metric>`, e.g. `best_rmse`).
public struct ValidationMetrics: Codable, Equatable, Sendable {
    public var evaluation: EvaluationMetrics
    public var bestRound: Int
    /// The tracked metric's name (`rmse`, `ndcg`, `hr`, `ndcg_sampled`, `hr_sampled`).
    public var metric: String
    public var bestValue: Double

    public init(evaluation: EvaluationMetrics, bestRound: Int, metric: String, bestValue: Double) {
        self.evaluation = evaluation
        self.bestRound = bestRound
        self.metric = metric
        self.bestValue = bestValue
    }

    public init(from decoder: any Decoder) throws {
        evaluation = try EvaluationMetrics(from: decoder)
        let c = try decoder.container(keyedBy: MetricKey.self)
        bestRound = try c.get("best_round")
        guard let key = c.allKeys.first(where: { $0.stringValue.hasPrefix("best_") && $0.stringValue != "best_round" })
        else {
            throw DecodingError.keyNotFound(
                MetricKey("best_<metric>"),
                .init(codingPath: c.codingPath, debugDescription: "\(render(c.codingPath)): no best_<metric> key")
            )
        }
        metric = String(key.stringValue.dropFirst("best_".count))
        bestValue = try c.decode(Double.self, forKey: key)
    }

    public func encode(to encoder: any Encoder) throws {
        try evaluation.encode(to: encoder)
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(bestRound, "best_round")
        try c.put(bestValue, "best_\(metric)")
    }
}
