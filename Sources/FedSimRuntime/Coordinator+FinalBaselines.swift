import FedSimCore
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
    public func finalBaselines() -> JSONObject? {
        let k = scenario.evaluation.k
        if let sampled = lastSampledBaselines {
            var o = sampled.summary(k: k)
            if let ref = referenceBaselines {
                var b = JSONObject()
                b.add("hr@\(k)", ref.biasOnly.sampledHit)
                b.add("ndcg@\(k)", ref.biasOnly.sampledNdcg)
                o.add("bias_only_sampled\(sampled.negatives)", b)
                var m = JSONObject()
                m.add("hr@\(k)", sampled.model.hit - ref.biasOnly.sampledHit)
                m.add("ndcg@\(k)", sampled.model.ndcg - ref.biasOnly.sampledNdcg)
                o.add("margin_over_bias_only", m)
            }
            return o
        }
        guard let ref = referenceBaselines, let e = lastEvaluation else { return nil }
        var o = JSONObject()
        o.add("protocol", "full_ranking")
        var model = JSONObject()
        model.add("rmse", e.rmse)
        model.add("hr@\(k)", e.hitRate)
        model.add("ndcg@\(k)", e.ndcg)
        o.add("model", model)
        var ranking: [(String, Double, Double)] = [("bias_only", ref.biasOnly.hit, ref.biasOnly.ndcg)]
        if let g = lastFullBaselines?.globalMeanRMSE {
            var gm = JSONObject()
            gm.add("rmse", g)
            o.add("global_mean", gm)
        }
        var bias = JSONObject()
        bias.add("rmse", ref.biasOnly.rmse)
        bias.add("hr@\(k)", ref.biasOnly.hit)
        bias.add("ndcg@\(k)", ref.biasOnly.ndcg)
        o.add("bias_only", bias)
        if let p = lastFullBaselines?.popularity {
            var pop = JSONObject()
            pop.add("hr@\(k)", p.hit)
            pop.add("ndcg@\(k)", p.ndcg)
            o.add("popularity", pop)
            ranking.append(("popularity", p.hit, p.ndcg))
        }
        var random = JSONObject()
        random.add("hr@\(k)", ref.random.hit)
        random.add("ndcg@\(k)", ref.random.ndcg)
        o.add("random", random)
        ranking.append(("random", ref.random.hit, ref.random.ndcg))
        let best = ranking.max { $0.2 < $1.2 }!
        var margin = JSONObject()
        margin.add("rmse_over_bias_only", e.rmse - ref.biasOnly.rmse)
        if let g = lastFullBaselines?.globalMeanRMSE { margin.add("rmse_over_global_mean", e.rmse - g) }
        margin.add("ranking_over", best.0)
        margin.add("hr@\(k)", e.hitRate - best.1)
        margin.add("ndcg@\(k)", e.ndcg - best.2)
        o.add("margin", margin)
        return o
    }
}
