import FedSimMetrics
import Foundation

extension Compare {
    /// The model's margins over its in-run baselines (summary.json `final.baselines.margin`),
    /// one column each when any run has them. Each run's margin is a paired difference (model
    /// and baseline share the seed, split and candidates), so a configuration's cell is the mean
    /// margin over seeds with its 95% confidence interval: an interval above zero (below, for
    /// RMSE) is a margin the seeds agree on.
    static func marginColumns(_ runs: [RunData], k: Int) -> [(header: String, value: (RunData) -> Double?)] {
        func margin(_ r: RunData) -> FinalBaselines? { r.summary?.final.baselines }
        // A margin written `null` (a click model's RMSE) is no value, as before the schema.
        let columns: [(String, (FinalBaselines) -> Double?)] = [
            ("Δrmse_vs_bias_only", { finite($0.rmseOverBiasOnly) }),
            ("Δhr@\(k)_vs_best_baseline", { finite($0.rankingMargin.hitRate) }),
            ("Δndcg@\(k)_vs_best_baseline", { finite($0.rankingMargin.ndcg) }),
        ]
        let margins: [(header: String, value: (RunData) -> Double?)] = columns.filter { _, value in
            runs.contains { margin($0).flatMap(value) != nil }
        }.map { header, value in (header, { margin($0).flatMap(value) }) }
        return validationColumns(runs) + margins
    }

    /// With `data.split.validation`: the best validation value and the round whose model the
    /// run ended with (what a tuning record compares; the test columns are not for choosing).
    static func validationColumns(_ runs: [RunData]) -> [(header: String, value: (RunData) -> Double?)] {
        func validation(_ r: RunData) -> ValidationOutcome? { r.summary?.validation }
        guard let metric = runs.lazy.compactMap({ validation($0)?.metric }).first else { return [] }
        return [
            ("validation_best_\(metric)", { finite(validation($0)?.bestValue) }),
            ("model_round (mean [95% CI])", { validation($0).map { Double($0.modelRound) } }),
        ]
    }

    /// The value when it is a finite number (summary.json writes NaN and ∞ as `null`).
    static func finite(_ v: Double?) -> Double? { v.flatMap { $0.isFinite ? $0 : nil } }

    /// "mean [lo, hi]" of paired margins over seeds.
    static func marginCell(_ v: [Double], places: Int = 4) -> String {
        guard !v.isEmpty else { return "" }
        let m = v.reduce(0, +) / Double(v.count)
        guard places < 4, v.count > 1 else { return format4(m, places: places) + confidence(v) }
        let (_, half) = meanAndHalfWidth(v)
        return format4(m, places: places)
            + " [\(format4(m - half, places: places)), \(format4(m + half, places: places))]"
    }
}
