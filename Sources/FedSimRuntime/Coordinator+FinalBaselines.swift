import FedSimCore
import FedSimMetrics
import FedSimModels

/// The last evaluation's full-ranking references, kept for `final.baselines`.
struct FullBaselines: Sendable {
    var globalMeanRMSE: Double?
    var popularity: (hit: Double, ndcg: Double)?
}

/// `final.baselines` of summary.json: the model beside every baseline measured under its
/// protocol, and its margin over the strongest. Under sampled negatives that is
/// `SampledBaselines.summary` (plus bias-only on the same candidates when it is on); under
/// full ranking with `evaluation.bias_baseline` it is global mean, bias-only, popularity and
/// random. A run with neither has no `final.baselines`, as before.
extension Coordinator {
    public func finalBaselines() -> FinalBaselines? {
        let k = scenario.evaluation.k
        if let sampled = lastSampledBaselines {
            var o = sampled.summary(k: k)
            if let ref = referenceBaselines {
                let bias = ref.biasOnly
                o.biasOnly = RankingBaseline(k: k, hitRate: bias.sampledHit, ndcg: bias.sampledNdcg)
                o.marginOverBiasOnly = RankingMargin(
                    k: k,
                    over: nil,
                    hitRate: sampled.model.hit - bias.sampledHit,
                    ndcg: sampled.model.ndcg - bias.sampledNdcg
                )
            }
            return .sampledNegatives(o)
        }
        guard let ref = referenceBaselines, let e = lastEvaluation else { return nil }
        let globalMean = lastFullBaselines?.globalMeanRMSE
        let popularity = lastFullBaselines?.popularity.map { RankingBaseline(k: k, hitRate: $0.hit, ndcg: $0.ndcg) }
        let random = RankingBaseline(k: k, hitRate: ref.random.hit, ndcg: ref.random.ndcg)
        var ranking: [(String, RankingBaseline)] = [
            ("bias_only", RankingBaseline(k: k, hitRate: ref.biasOnly.hit, ndcg: ref.biasOnly.ndcg))
        ]
        if let popularity { ranking.append(("popularity", popularity)) }
        ranking.append(("random", random))
        let best = ranking.max { $0.1.ndcg < $1.1.ndcg }!
        return .fullRanking(
            FullRankingBaselines(
                model: ModelFigures(k: k, rmse: e.rmse, hitRate: e.hitRate, ndcg: e.ndcg),
                globalMean: globalMean.map { RMSEFigure(rmse: $0) },
                biasOnly: ModelFigures(
                    k: k,
                    rmse: ref.biasOnly.rmse,
                    hitRate: ref.biasOnly.hit,
                    ndcg: ref.biasOnly.ndcg
                ),
                popularity: popularity,
                random: random,
                margin: FullRankingBaselines.Margin(
                    k: k,
                    rmseOverBiasOnly: e.rmse - ref.biasOnly.rmse,
                    rmseOverGlobalMean: globalMean.map { e.rmse - $0 },
                    rankingOver: best.0,
                    hitRate: e.hitRate - best.1.hitRate,
                    ndcg: e.ndcg - best.1.ndcg
                )
            )
        )
    }
}
