import FedSimMetrics
import Foundation

extension HTMLReport {
    /// The row a reader looks for first: the model's margin over the strongest in-run baseline
    /// under its own protocol (summary.json `final.baselines.margin`), and the round whose model
    /// that is when validation kept the best one. The baselines row lists the figures; this one
    /// says whether the model beats them, so a report never leaves the subtraction to the reader.
    static func marginRows(_ run: RunData) -> [(String, String)] {
        var rows: [(String, String)] = []
        let k = run.k
        if let b = run.summary?.final.baselines {
            var parts: [String] = []
            switch b {
            case .fullRanking(let f):
                parts.append(rankingText(over: f.margin.rankingOver, f.margin.hitRate, f.margin.ndcg, k: k))
                if f.margin.rmseOverBiasOnly.isFinite {
                    parts.append("RMSE over bias-only \(signed(f.margin.rmseOverBiasOnly))")
                }
            case .sampledNegatives(let s):
                // The protocol's headline figures: the final and baselines rows are full ranking.
                rows.append(("sampled", sampledText(s, k: k)))
                let over = (s.margin.over ?? "the best baseline") + " (\(s.negatives) sampled negatives)"
                parts.append(rankingText(over: over, s.margin.hitRate, s.margin.ndcg, k: k))
                if let m = s.marginOverBiasOnly {
                    parts.append(rankingText(over: "bias-only", m.hitRate, m.ndcg, k: k))
                }
            }
            rows.append(("margin", parts.joined(separator: " · ")))
        }
        if let v = run.summary?.validation {
            let metric = v.metric.replacingOccurrences(of: "_", with: " ")
            rows.append(
                (
                    "model",
                    "round \(v.modelRound) of \(run.summary?.rounds ?? 0), best by validation \(metric) "
                        + "\(format4(v.bestValue)) (round \(v.bestRound))"
                        + (v.earlyStopping ? "; early stopping" : "")
                )
            )
        }
        return rows
    }

    static func sampledText(_ s: SampledNegativesBaselines, k: Int) -> String {
        let pair = { (b: RankingBaseline) in "\(format4(b.hitRate)) / \(format4(b.ndcg))" }
        let named: [(String, RankingBaseline?)] = [
            ("popularity", s.popularity), ("bias-only", s.biasOnly), ("random", s.random),
        ]
        return "\(s.negatives) sampled negatives: HR@\(k) / NDCG@\(k) \(pair(s.model))"
            + named.compactMap { name, b in b.map { "; \(name) \(pair($0))" } }.joined()
    }

    static func rankingText(over name: String, _ hit: Double, _ ndcg: Double, k: Int) -> String {
        "over \(name.replacingOccurrences(of: "_", with: "-")): HR@\(k) \(signed(hit)) · NDCG@\(k) \(signed(ndcg))"
    }

    /// A difference with its sign, so "+0.0342" reads as a margin and "−0.0140" as a deficit.
    static func signed(_ v: Double) -> String {
        guard v.isFinite else { return "n/a" }
        return (v < 0 ? "−" : "+") + format4(abs(v))
    }
}
