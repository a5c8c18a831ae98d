import Foundation

extension Compare {
    /// The model's margins over its in-run baselines (summary.json `final.baselines.margin`),
    /// one column each when any run has them. Each run's margin is a paired difference (model
    /// and baseline share the seed, split and candidates), so a configuration's cell is the mean
    /// margin over seeds with its 95% confidence interval: an interval above zero (below, for
    /// RMSE) is a margin the seeds agree on.
    static func marginColumns(_ runs: [RunData], k: Int) -> [(header: String, value: (RunData) -> Double?)] {
        func margin(_ r: RunData) -> [String: Any]? {
            ((r.summary["final"] as? [String: Any])?["baselines"] as? [String: Any])?["margin"] as? [String: Any]
        }
        let columns: [(String, String)] = [
            ("rmse_over_bias_only", "Δrmse_vs_bias_only"),
            ("hr@\(k)", "Δhr@\(k)_vs_best_baseline"),
            ("ndcg@\(k)", "Δndcg@\(k)_vs_best_baseline"),
        ]
        let margins: [(header: String, value: (RunData) -> Double?)] = columns.filter { key, _ in
            runs.contains { margin($0)?[key] is Double }
        }.map { key, header in (header, { margin($0)?[key] as? Double }) }
        return validationColumns(runs) + margins
    }

    /// With `data.split.validation`: the best validation value and the round whose model the
    /// run ended with (what a tuning record compares; the test columns are not for choosing).
    static func validationColumns(_ runs: [RunData]) -> [(header: String, value: (RunData) -> Double?)] {
        func validation(_ r: RunData) -> [String: Any]? { r.summary["validation"] as? [String: Any] }
        guard let metric = runs.lazy.compactMap({ validation($0)?["metric"] as? String }).first else { return [] }
        return [
            ("validation_best_\(metric)", { validation($0)?["best_value"] as? Double }),
            ("model_round (mean [95% CI])", { (validation($0)?["model_round"] as? Int).map(Double.init) }),
        ]
    }

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
