import Foundation

/// The cold-start protocol's in-run baselines (`summary.json` → `cold_start[i].baselines`:
/// `bias_only_adaptation` and `popularity`, same devices and support/query tasks as the
/// model) in `fedsim report` and `fedsim compare`, so a k-shot curve is never read without
/// what adapting only a user bias, or not adapting at all, achieves on the same queries.
extension HTMLReport {
    static let coldStartBaselineNames = [
        ("bias_only_adaptation", "bias-only adaptation"), ("popularity", "popularity"),
    ]

    /// Per slot, one baseline's figures with the slot's `k` (empty when the run has none).
    static func coldStartBaseline(_ run: RunData, _ key: String) -> [[String: Any]] {
        coldStart(run).map { o in
            guard var b = (o["baselines"] as? [String: Any])?[key] as? [String: Any] else { return [:] }
            b["k"] = o["k"]
            return b
        }
    }

    static func coldStartBaselinePoints(_ run: RunData, _ key: String, _ metric: String) -> [(x: Double, y: Double)] {
        coldStartBaseline(run, key).compactMap { o in
            guard let x = o["k"] as? Int, let y = o[metric] as? Double, y.isFinite else { return nil }
            return (Double(x), y)
        }
    }

    /// The chart series beside the model's: one per baseline the run reported for `metric`.
    static func coldStartBaselineSeries(_ run: RunData, _ metric: String) -> [SVGLineChart.Series] {
        coldStartBaselineNames.compactMap { key, name in
            let p = coldStartBaselinePoints(run, key, metric)
            return p.isEmpty ? nil : .init(name, p)
        }
    }

    /// The summary row's text: each baseline's `metric` and NDCG@K per slot.
    static func coldStartBaselineText(_ run: RunData, _ metric: String, k: Int) -> String? {
        let parts = coldStartBaselineNames.compactMap { key, name -> String? in
            let slots = coldStartBaseline(run, key).filter { !$0.isEmpty }
            guard !slots.isEmpty else { return nil }
            let m = slots.first?[metric] is Double ? metric : "auc"
            return "\(name) \(m.uppercased()) / NDCG@\(k): "
                + slots.map { o in
                    "k=\(o["k"] as? Int ?? 0) \(format4(o[m] as? Double ?? .nan)) / \(format4(o["ndcg@\(k)"] as? Double ?? .nan, places: 3))"
                }.joined(separator: " · ")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

extension Compare {
    /// Each baseline's per-slot figures (one row per configuration, via `slotTable`), then
    /// model − bias-only adaptation paired within each run (same devices, same tasks), with
    /// the 95% confidence interval over seeds. Returns the paired table.
    static func coldStartBaselineTables(
        _ groups: [(key: String, runs: [RunData], seeds: [String])],
        columns: [String],
        primary: String,
        k: Int,
        stat: ([Double], Int) -> String,
        slotTable: (String, [String], (RunData) -> [[String: Any]], String) -> Void
    ) -> (table: String, markdown: String)? {
        let runs = groups.flatMap(\.runs)
        for (key, name) in HTMLReport.coldStartBaselineNames {
            guard runs.contains(where: { HTMLReport.coldStartBaseline($0, key).contains { !$0.isEmpty } }) else {
                continue
            }
            for metric in [primary, "ndcg@\(k)"] where !(key == "popularity" && metric == "rmse") {
                slotTable("\(name) \(metric)", columns, { HTMLReport.coldStartBaseline($0, key) }, metric)
            }
        }
        guard primary == "rmse" else { return nil }
        let rows = groups.map { g -> [String] in
            [g.key.isEmpty ? "(base)" : g.key]
                + columns.indices.map { i in
                    let d = g.runs.compactMap { r -> Double? in
                        let model = HTMLReport.coldStart(r)
                        let base = HTMLReport.coldStartBaseline(r, "bias_only_adaptation")
                        guard i < model.count, i < base.count, let a = model[i]["rmse"] as? Double,
                            let b = base[i]["rmse"] as? Double, a.isFinite, b.isFinite
                        else { return nil }
                        return a - b
                    }
                    return d.isEmpty ? "" : stat(d, 4) + confidence(d)
                }
        }
        guard rows.contains(where: { $0.dropFirst().contains { !$0.isEmpty } }) else { return nil }
        let (t, m) = render(["Δ rmse vs bias-only adaptation"] + columns, rows)
        return (t, m + "\n(model − bias-only adaptation in the same run; negative = the model is better)\n")
    }
}
