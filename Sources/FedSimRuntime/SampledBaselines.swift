import FedSimCore
import FedSimMetrics
import FedSimModels

/// The model beside its baselines under the sampled-negatives protocol (`evaluation.
/// sampled_negatives` > 0), on the same devices, split and candidates: popularity (each device
/// ranks its own candidates by the coordinator's training counts, `Evaluator`) and a uniformly
/// random ranking (its exact expectation, `SampledRanking.randomExpectation`).
///
/// A model that does not clear the best of these has learnt nothing a count table would not
/// give, so `margin` (model − best baseline, by NDCG) is what a reader should look at first.
public struct SampledBaselines: Sendable, Equatable {
    public struct Figures: Sendable, Equatable {
        public var hit: Double
        public var ndcg: Double
    }
    public var negatives: Int
    public var model: Figures
    /// nil until the coordinator has a popularity ranking (the run's first evaluation).
    public var popularity: Figures?
    public var popularityDevices = 0
    public var random: Figures

    init?(_ results: [DeviceEvaluation], summary: EvaluationSummary, k: Int, negatives: Int) {
        guard negatives > 0, summary.rankedDevices > 0 else { return nil }
        self.negatives = negatives
        model = Figures(hit: summary.sampledHit, ndcg: summary.sampledNdcg)
        let withPopularity = results.filter { $0.ranked && $0.sampledPopularityHit >= 0 }
        if !withPopularity.isEmpty {
            let n = Double(withPopularity.count)
            popularity = Figures(
                hit: withPopularity.reduce(0.0) { $0 + $1.sampledPopularityHit } / n,
                ndcg: withPopularity.reduce(0.0) { $0 + $1.sampledPopularityNdcg } / n
            )
            popularityDevices = withPopularity.count
        }
        let r = SampledRanking.randomExpectation(k: k, negatives: negatives)
        random = Figures(hit: r.hit, ndcg: r.ndcg)
    }

    /// The strongest baseline by NDCG (popularity when it ties random).
    public var best: (name: String, figures: Figures) {
        if let popularity, popularity.ndcg >= random.ndcg { return ("popularity", popularity) }
        return ("random", random)
    }

    /// `popularity_sampledM` and `random_sampledM`, for an evaluation's `baselines` object.
    func add(to b: inout EvaluationBaselines, k: Int) {
        b.sampledNegatives = negatives
        b.popularitySampled = popularity.map {
            RankingBaseline(k: k, hitRate: $0.hit, ndcg: $0.ndcg, devices: popularityDevices)
        }
        b.randomSampled = RankingBaseline(k: k, hitRate: random.hit, ndcg: random.ndcg)
    }

    /// `final.baselines` of summary.json: the model, each baseline and the margin over the best.
    func summary(k: Int) -> SampledNegativesBaselines {
        var sampled = EvaluationBaselines()
        add(to: &sampled, k: k)
        let (name, b) = best
        return SampledNegativesBaselines(
            negatives: negatives,
            model: RankingBaseline(k: k, hitRate: model.hit, ndcg: model.ndcg),
            popularity: sampled.popularitySampled,
            random: RankingBaseline(k: k, hitRate: random.hit, ndcg: random.ndcg),
            margin: RankingMargin(k: k, over: name, hitRate: model.hit - b.hit, ndcg: model.ndcg - b.ndcg)
        )
    }
}
