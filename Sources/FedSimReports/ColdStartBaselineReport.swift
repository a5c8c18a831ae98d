import Foundation

/// The cold-start protocol's in-run baselines (`summary.json` → `cold_start[i].baselines`:
/// `bias_only_adaptation` and `popularity`, same devices and support/query tasks as the
/// model; for the temporal protocol `previous_period_categories` and
/// `previous_period_popularity`, per period and per third) in `fedsim report` and `fedsim
/// compare`, so a k-shot or per-period curve is never read without what adapting only a user
/// bias, or not learning at all, achieves on the same queries.
extension HTMLReport {
    static let coldStartBaselineNames = [
        ("bias_only_adaptation", "bias-only adaptation"), ("popularity", "popularity"),
        ("previous_period_categories", "previous-period categories"),
        ("previous_period_popularity", "previous-period popularity"),
    ]

    /// Per slot, one baseline's figures with the slot's `k` (the period, for the temporal
    /// protocol; empty when the run has none).
    static func coldStartBaseline(_ run: RunData, _ key: String) -> [[String: Any]] {
        baselines(coldStart(run), key).map { b in
            var b = b
            if b.isEmpty { return b }
            b["k"] = b["slot"]
            return b
        }
    }

    /// One baseline's object from each of `entries` (a slot or a third), with the entry's
    /// `k` or `period` as `slot`.
    static func baselines(_ entries: [[String: Any]], _ key: String) -> [[String: Any]] {
        entries.map { o in
            guard var b = (o["baselines"] as? [String: Any])?[key] as? [String: Any] else { return [:] }
            b["slot"] = o["k"] ?? o["period"]
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
            let label = coldStart(run).first?["period"] != nil ? "period " : "k="
            return "\(name) \(m.uppercased()) / NDCG@\(k): "
                + slots.map { o in
                    "\(label)\(o["k"] as? Int ?? 0) \(format4(o[m] as? Double ?? .nan)) / \(format4(o["ndcg@\(k)"] as? Double ?? .nan, places: 3))"
                }.joined(separator: " · ")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

extension Compare {
    /// Each baseline's per-slot figures (one row per configuration, via `slotTable`), then
    /// the model's margin over the main baselines, paired within each run (same devices, same
    /// tasks), with the 95% confidence interval over seeds: RMSE − bias-only adaptation for
    /// rating models; for the temporal protocol AUC − each previous-period baseline, per
    /// period and per third. Returns the paired tables.
    static func coldStartBaselineTables(
        _ groups: [(key: String, runs: [RunData], seeds: [String])],
        columns: [String],
        primary: String,
        k: Int,
        stat: ([Double], Int) -> String,
        slotTable: (String, [String], (RunData) -> [[String: Any]], String) -> Void
    ) -> (table: String, markdown: String)? {
        let runs = groups.flatMap(\.runs)
        var present: [(key: String, name: String)] = []
        for (key, name) in HTMLReport.coldStartBaselineNames {
            guard runs.contains(where: { HTMLReport.coldStartBaseline($0, key).contains { !$0.isEmpty } }) else {
                continue
            }
            present.append((key, name))
            for metric in [primary, "ndcg@\(k)"] where !(key.hasSuffix("popularity") && metric == "rmse") {
                slotTable("\(name) \(metric)", columns, { HTMLReport.coldStartBaseline($0, key) }, metric)
            }
        }
        func thirds(_ r: RunData) -> [[String: Any]] { r.coldStartRows(thirds: true) }
        var paired: [(String, [String], (RunData) -> [[String: Any]], String)] = []
        if primary == "rmse", present.contains(where: { $0.key == "bias_only_adaptation" }) {
            paired.append(("bias_only_adaptation", columns, HTMLReport.coldStart, "Δ rmse vs bias-only adaptation"))
        }
        for (key, name) in present where key.hasPrefix("previous_period") && primary == "auc" {
            paired.append((key, columns, HTMLReport.coldStart, "Δ auc vs \(name)"))
            paired.append((key, ["early", "middle", "late"], thirds, "Δ temporal auc vs \(name)"))
        }
        var table = ""
        var markdown = ""
        for (key, cols, list, title) in paired {
            guard
                let (t, m) = marginTable(
                    groups,
                    key: key,
                    columns: cols,
                    list: list,
                    metric: primary,
                    title: title,
                    stat: stat
                )
            else { continue }
            table += (table.isEmpty ? "" : "\n") + t
            markdown += (markdown.isEmpty ? "" : "\n") + m
        }
        guard !table.isEmpty else { return nil }
        let note =
            primary == "rmse"
            ? "(model − bias-only adaptation in the same run; negative = the model is better)"
            : "(model − baseline in the same run, on the same devices and periods; positive = the model is better)"
        return (table, markdown + "\n\(note)\n")
    }

    /// One paired table: per configuration and column, the model's `metric` minus the
    /// baseline's in the same run, mean ± sd and 95% t-interval over seeds.
    static func marginTable(
        _ groups: [(key: String, runs: [RunData], seeds: [String])],
        key: String,
        columns: [String],
        list: (RunData) -> [[String: Any]],
        metric: String,
        title: String,
        stat: ([Double], Int) -> String
    ) -> (String, String)? {
        let rows = groups.map { g -> [String] in
            [g.key.isEmpty ? "(base)" : g.key]
                + columns.indices.map { i in
                    let d = g.runs.compactMap { r -> Double? in
                        let model = list(r)
                        let base = HTMLReport.baselines(model, key)
                        guard i < model.count, i < base.count, let a = model[i][metric] as? Double,
                            let b = base[i][metric] as? Double, a.isFinite, b.isFinite
                        else { return nil }
                        return a - b
                    }
                    return d.isEmpty ? "" : stat(d, 4) + confidence(d)
                }
        }
        guard rows.contains(where: { $0.dropFirst().contains { !$0.isEmpty } }) else { return nil }
        return render([title] + columns, rows)
    }
}
