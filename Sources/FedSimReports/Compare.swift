import FedSimMetrics
import Foundation

/// `fedsim compare`: final metrics, ε, wall time and throughput of several runs side by side
/// (terminal, Markdown or CSV), and an HTML page overlaying their curves.
public enum Compare {
    public enum Format: String, CaseIterable, Sendable { case table, markdown, csv }

    public static func rows(_ runs: [RunData], targetRMSE: Double? = nil) -> (header: [String], rows: [[String]]) {
        let k = runs.first?.k ?? 10
        let settings = differingSettings(runs)
        let flat = runs.map { flatten($0.scenario) }
        var header =
            ["run"] + settings + [
                "scenario", "seed", "status", "rounds", "rmse", "mae", "hr@\(k)", "ndcg@\(k)", "epsilon", "wall_s",
                "updates_per_s",
                "kB_up_per_update",
            ]
        if runs.contains(where: { !$0.series { $0.simSeconds }.isEmpty }) { header.append("sim_s") }
        if let targetRMSE { header.append("sim_s_to_rmse_\(format4(targetRMSE, places: 3))") }
        let rows = runs.enumerated().map { (i, r) -> [String] in
            let s = r.summary
            let f = { (metric: KeyPath<FinalMetrics, Double>) in r.finalValue(metric).map { format4($0) } ?? "" }
            let updates = Double(s?.deviceUpdates ?? 0)
            var row =
                [r.name] + settings.map { flat[i][$0] ?? "" } + [
                    r.scenarioName, "\(r.seed)", r.status, "\(s?.rounds ?? r.rounds.count)",
                    f(\.rmse), f(\.mae), f(\.hitRate), f(\.ndcg),
                    r.epsilon.map { format4($0, places: 3) } ?? "",
                    format4(s?.wallSeconds ?? 0, places: 1),
                    format4(s?.deviceUpdatesPerSecond ?? 0, places: 0),
                    updates > 0 ? format4(Double(s?.bytesReceived ?? 0) / updates / 1000, places: 1) : "",
                ]
            if header.contains("sim_s") {
                row.append(r.series { $0.simSeconds }.last.map { format4($0.y, places: 0) } ?? "")
            }
            if let targetRMSE {
                row.append(timeToTarget(r, targetRMSE).map { format4($0, places: 0) } ?? "not reached")
            }
            return row
        }
        return (header, rows)
    }

    /// Simulated seconds at the first evaluation with RMSE ≤ target.
    public static func timeToTarget(_ r: RunData, _ target: Double) -> Double? {
        for line in r.rounds {
            guard let rmse = line.eval?.rmse, rmse <= target else { continue }
            return line.simSeconds
        }
        return nil
    }

    public static func render(_ runs: [RunData], format: Format, targetRMSE: Double? = nil) -> String {
        let (header, rows) = rows(runs, targetRMSE: targetRMSE)
        switch format {
        case .csv:
            return ([header] + rows).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
        case .markdown:
            return "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---" }.joined(separator: "|")
                + "|\n"
                + rows.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n"
        case .table:
            let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
            let line = { (r: [String]) in
                r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ")
            }
            return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
        }
    }

    public static func html(_ runs: [RunData]) -> String {
        let k = runs.first?.k ?? 10
        func overlay(_ title: String, _ y: String, _ value: (RoundMetrics) -> Double?, markers: Bool = false) -> String
        {
            SVGLineChart(
                title: title,
                xLabel: "round",
                yLabel: y,
                series: runs.map { .init($0.name, $0.series(value)) },
                markers: markers
            ).svg()
        }
        var h =
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>FedSim comparison</title><style>\(HTMLReport.style)</style></head><body>"
        h +=
            "<h1>FedSim comparison of \(runs.count) runs</h1><table><tr>"
            + rows(runs).header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        for r in rows(runs).rows { h += "<tr>" + r.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }
        h += "</table><div class=\"grid-charts\">"
        h += "<figure>\(overlay("RMSE", "RMSE (rating points)", { $0.eval?.rmse }, markers: true))</figure>"
        h += "<figure>\(overlay("NDCG@\(k)", "NDCG@\(k)", { $0.eval?.ndcg }, markers: true))</figure>"
        h += "<figure>\(overlay("Training loss", "mean ½e² per example", { $0.trainLoss }))</figure>"
        if runs.contains(where: { !$0.series { $0.privacy?.epsilon }.isEmpty }) {
            h += "<figure>\(overlay("Privacy spent", "ε", { $0.privacy?.epsilon }))</figure>"
        }
        // Cold start: RMSE against k (or period), one line per run.
        let cold = runs.map { r in (r.name, HTMLReport.coldStartPoints(r, "rmse")) }
        if cold.contains(where: { !$0.1.isEmpty }) {
            let temporal = runs.contains { HTMLReport.coldStart($0).first?["period"] != nil }
            h +=
                "<figure>"
                + SVGLineChart(
                    title: "Cold start RMSE",
                    xLabel: temporal ? "period" : "support size k",
                    yLabel: "RMSE",
                    series: cold.map { .init($0.0, $0.1) },
                    markers: true
                ).svg() + "</figure>"
        }
        return h + "</div></body></html>\n"
    }
}

extension Compare {
    /// Runs grouped by their overrides other than `seed`: mean ± standard deviation over
    /// seeds of RMSE, NDCG@K and ε, as a terminal table and as Markdown.
    public static func grouped(
        _ runs: [RunData],
        overrides: [[String]],
        targetRMSE: Double? = nil
    ) -> (table: String, markdown: String) {
        let groups = bySeed(runs, overrides)
        let k = runs.first?.k ?? 10
        func stat(_ v: [Double], _ places: Int) -> String {
            guard !v.isEmpty else { return "" }
            let m = v.reduce(0, +) / Double(v.count)
            guard v.count > 1 else { return format4(m, places: places) }
            let sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
            return format4(m, places: places) + " ± " + format4(sd, places: places)
        }
        var header = ["configuration", "seeds", "rmse", "ndcg@\(k)", "epsilon", "kB_up_per_update"]
        if let targetRMSE { header.append("sim_s_to_rmse_\(format4(targetRMSE, places: 3))") }
        // Beyond accuracy, when the runs evaluated it (final evaluation).
        let beyond = runs.contains { $0.lastEval?.coverage != nil }
        let transfer = runs.contains { $0.lastEval?.negativeTransfer != nil }
        let serendipity = runs.contains { $0.lastEval?.serendipity != nil }
        if beyond {
            header +=
                ["coverage@\(k)", "gini_exposure@\(k)", "novelty@\(k)"] + (serendipity ? ["serendipity@\(k)"] : [])
        }
        if transfer { header += ["worse_than_local_only", "worse_than_global"] }
        let baselines = runs.contains { $0.lastEval?.baselines != nil }
        if baselines { header += ["global_mean_rmse", "popularity_ndcg@\(k)"] }
        let margins = marginColumns(runs, k: k)
        header += margins.map(\.header)
        let rows = groups.map { g -> [String] in
            var row = [
                g.key.isEmpty ? "(base)" : g.key, "\(g.runs.count)",
                stat(g.runs.compactMap { $0.finalValue(\.rmse) }, 4),
                stat(g.runs.compactMap { $0.finalValue(\.ndcg) }, 4),
                stat(g.runs.compactMap(\.epsilon), 3),
                stat(
                    g.runs.compactMap { r in
                        let u = Double(r.summary?.deviceUpdates ?? 0)
                        return u > 0 ? Double(r.summary?.bytesReceived ?? 0) / u / 1000 : nil
                    },
                    1
                ),
            ]
            if let targetRMSE {
                let times = g.runs.map { timeToTarget($0, targetRMSE) }
                row.append(
                    times.contains(where: { $0 == nil })
                        ? "not reached by \(times.filter { $0 == nil }.count)" : stat(times.compactMap { $0 }, 0)
                )
            }
            if beyond {
                let columns: [(EvaluationMetrics) -> Double?] =
                    [{ $0.coverage }, { $0.giniExposure }, { $0.novelty }] + (serendipity ? [{ $0.serendipity }] : [])
                for value in columns {
                    row.append(stat(g.runs.compactMap { $0.lastEval.flatMap(value) }, 3))
                }
            }
            if transfer {
                let gaps: [(NegativeTransfer) -> Double] = [
                    { $0.federationWorseThanLocalOnly.share }, { $0.personalizationWorseThanGlobal.share },
                ]
                for share in gaps {
                    row.append(stat(g.runs.compactMap { $0.lastEval?.negativeTransfer.map(share) }, 3))
                }
            }
            if baselines {
                row.append(stat(g.runs.compactMap { $0.lastEval?.baselines?.globalMean?.rmse }, 4))
                row.append(stat(g.runs.compactMap { $0.lastEval?.baselines?.popularity?.ndcg }, 4))
            }
            for m in margins {
                row.append(marginCell(g.runs.compactMap(m.value), places: m.header.hasPrefix("model_round") ? 0 : 4))
            }
            return row
        }
        var (table, md) = render(header, rows)
        md += "\n(mean ± standard deviation over seeds)\n"
        // Cold start: one column per support size k (or period), RMSE and NDCG@K.
        let slots = HTMLReport.coldStart
        if let first = runs.first(where: { !slots($0).isEmpty }) {
            let names = slots(first).map {
                ($0["k"] as? Int).map { "k=\($0)" } ?? "period \($0["period"] as? Int ?? 0)"
            }
            // One table per metric: a row per configuration, a column per slot of `list`.
            func slotTable(_ title: String, _ columns: [String], _ list: (RunData) -> [[String: Any]], _ metric: String)
            {
                let rs = groups.map { g -> [String] in
                    [g.key.isEmpty ? "(base)" : g.key]
                        + columns.indices.map { i in
                            stat(
                                g.runs.compactMap { r -> Double? in
                                    let s = list(r)
                                    guard i < s.count, let v = s[i][metric] as? Double, v.isFinite else { return nil }
                                    return v
                                },
                                4
                            )
                        }
                }
                let (t, m) = render([title] + columns, rs)
                table += "\n" + t
                md += "\n" + m
            }
            // Rating models are compared by RMSE, click models (no RMSE) by AUC.
            let primary = coldStartMetric(runs)
            for metric in [primary, "ndcg@\(k)"] { slotTable("cold start \(metric)", names, slots, metric) }
            if let (t, m) = coldStartBaselineTables(
                groups,
                columns: names,
                primary: primary,
                k: k,
                stat: stat,
                slotTable: slotTable
            ) {
                table += "\n" + t
                md += "\n" + m
            }
            // Temporal protocol: early / middle / late thirds (LSTTM's Table 2 layout).
            func thirds(_ r: RunData) -> [[String: Any]] { r.coldStartRows(thirds: true) }
            let temporal = runs.contains(where: { !thirds($0).isEmpty })
            if temporal {
                for metric in primary == "rmse" ? ["auc", "rmse"] : ["auc"] {
                    slotTable("temporal \(metric)", ["early", "middle", "late"], thirds, metric)
                }
            }
            // Each configuration against the first, paired by seed (same split, same new users):
            // the seed-to-seed spread of the difference, not of each RMSE.
            if groups.count > 1, groups[0].seeds.allSatisfy({ !$0.isEmpty }) {
                let base = groups[0]
                func deltaTable(_ columns: [String], _ list: (RunData) -> [[String: Any]], _ title: String) {
                    func value(_ r: RunData, _ i: Int) -> Double? {
                        let s = list(r)
                        guard i < s.count, let v = s[i][primary] as? Double, v.isFinite else { return nil }
                        return v
                    }
                    let rs = groups.dropFirst().map { g -> [String] in
                        [g.key]
                            + columns.indices.map { i in
                                let d = zip(g.runs, g.seeds).compactMap { r, seed -> Double? in
                                    guard let j = base.seeds.firstIndex(of: seed), let a = value(r, i),
                                        let b = value(base.runs[j], i)
                                    else { return nil }
                                    return a - b
                                }
                                return stat(d, 4) + confidence(d)
                            }
                    }
                    let (t, m) = render(["\(title) vs \(base.key.isEmpty ? "(base)" : base.key)"] + columns, rs)
                    table += "\n" + t
                    md += "\n" + m
                }
                deltaTable(names, slots, "Δ \(primary)")
                if temporal && primary == "auc" { deltaTable(["early", "middle", "late"], thirds, "Δ temporal auc") }
                let sense = primary == "rmse" ? "negative = lower RMSE" : "positive = higher AUC"
                md +=
                    "\n(cold start: mean ± standard deviation over seeds; Δ paired by seed, \(sense) than the first row, [95% confidence interval of the mean Δ, Student t])\n"
            }
        }
        return (table, md)
    }

    /// The cold-start metric runs are compared by: RMSE when any run has one, else AUC (click
    /// models predict no ratings).
    public static func coldStartMetric(_ runs: [RunData]) -> String {
        let rated = runs.contains { r in HTMLReport.coldStart(r).contains { ($0["rmse"] as? Double)?.isFinite == true }
        }
        return rated ? "rmse" : "auc"
    }

    /// Runs grouped by their overrides other than `seed=`, in first-seen order, with each
    /// run's seed override (to pair runs across groups).
    static func bySeed(_ runs: [RunData], _ overrides: [[String]]) -> [(key: String, runs: [RunData], seeds: [String])]
    {
        var groups: [(key: String, runs: [RunData], seeds: [String])] = []
        for (r, o) in zip(runs, overrides) {
            let key = o.filter { !$0.hasPrefix("seed=") }.joined(separator: " ")
            let seed = o.first { $0.hasPrefix("seed=") } ?? ""
            if let i = groups.firstIndex(where: { $0.key == key }) {
                groups[i].runs.append(r)
                groups[i].seeds.append(seed)
            } else {
                groups.append((key, [r], [seed]))
            }
        }
        return groups
    }

    /// Cold-start RMSE against k (or period) per configuration: the mean over seeds with its
    /// 95% confidence interval as a band. nil when the runs have no cold-start results.
    public static func coldStartCurves(_ runs: [RunData], overrides: [[String]], title: String) -> String? {
        let groups = bySeed(runs, overrides)
        let slots = HTMLReport.coldStart
        guard let first = runs.first(where: { !slots($0).isEmpty }) else { return nil }
        let xs = slots(first).map { Double(($0["k"] ?? $0["period"]) as? Int ?? 0) }
        let temporal = slots(first).first?["period"] != nil
        let metric = coldStartMetric(runs)
        let series = groups.map { g -> SVGLineChart.Series in
            var points: [(x: Double, y: Double)] = []
            var band: [(x: Double, low: Double, high: Double)] = []
            for (i, x) in xs.enumerated() {
                let v = g.runs.compactMap { r -> Double? in
                    let s = slots(r)
                    guard i < s.count, let y = s[i][metric] as? Double, y.isFinite else { return nil }
                    return y
                }
                guard !v.isEmpty else { continue }
                let (m, half) = meanAndHalfWidth(v)
                points.append((x, m))
                band.append((x, m - half, m + half))
            }
            return .init(g.key.isEmpty ? "(base)" : g.key, points, band: band)
        }
        return SVGLineChart(
            title: title,
            xLabel: temporal ? "period" : "support size k",
            yLabel: "\(metric.uppercased()) (95% CI)",
            series: series,
            markers: true
        ).svg()
    }

    /// Cold-start RMSE of each configuration minus the first one's, paired by seed, against k:
    /// the mean difference with its 95% confidence band, and a zero line. nil without cold-start
    /// results, a second configuration or seeds to pair by.
    public static func coldStartDeltaCurves(_ runs: [RunData], overrides: [[String]], title: String) -> String? {
        let groups = bySeed(runs, overrides)
        let slots = HTMLReport.coldStart
        let metric = coldStartMetric(runs)
        func value(_ r: RunData, _ i: Int) -> Double? {
            let s = slots(r)
            guard i < s.count, let y = s[i][metric] as? Double, y.isFinite else { return nil }
            return y
        }
        guard groups.count > 1, groups[0].seeds.allSatisfy({ !$0.isEmpty }),
            let first = runs.first(where: { !slots($0).isEmpty })
        else { return nil }
        let xs = slots(first).map { Double(($0["k"] ?? $0["period"]) as? Int ?? 0) }
        let temporal = slots(first).first?["period"] != nil
        let base = groups[0]
        let series = groups.dropFirst().map { g -> SVGLineChart.Series in
            var points: [(x: Double, y: Double)] = []
            var band: [(x: Double, low: Double, high: Double)] = []
            for (i, x) in xs.enumerated() {
                let d = zip(g.runs, g.seeds).compactMap { r, seed -> Double? in
                    guard let j = base.seeds.firstIndex(of: seed), let a = value(r, i), let b = value(base.runs[j], i)
                    else { return nil }
                    return a - b
                }
                guard !d.isEmpty else { continue }
                let (m, half) = meanAndHalfWidth(d)
                points.append((x, m))
                band.append((x, m - half, m + half))
            }
            return .init(g.key, points, band: band)
        }
        return SVGLineChart(
            title: title,
            xLabel: temporal ? "period" : "support size k",
            yLabel: "Δ \(metric.uppercased()) (95% CI)",
            series: series,
            references: [.init(y: 0, label: "= \(base.key)")],
            markers: true
        ).svg()
    }

    /// Mean and the half-width of its two-sided 95% confidence interval (Student t); 0 for one value.
    static func meanAndHalfWidth(_ v: [Double]) -> (Double, Double) {
        let n = Double(v.count)
        let m = v.reduce(0, +) / n
        guard v.count >= 2 else { return (m, 0) }
        let t95: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
            2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        let sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot()
        return (m, t95[min(v.count - 2, t95.count - 1)] * sd / n.squareRoot())
    }

    /// " [lo, hi]": the two-sided 95% confidence interval of the mean (Student t), for 2–31 values.
    static func confidence(_ v: [Double]) -> String {
        guard v.count >= 2 else { return "" }
        let (m, half) = meanAndHalfWidth(v)
        return " [\(format4(m - half, places: 4)), \(format4(m + half, places: 4))]"
    }

    static func render(_ header: [String], _ rows: [[String]]) -> (table: String, markdown: String) {
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        let line = { (r: [String]) in
            r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
        }
        let table = ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
        let md =
            "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
            + rows.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n"
        return (table, md)
    }

    /// Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (appending the
    /// section when the markers are missing).
    public static func replaceSection(named name: String, in file: String, with text: String) throws {
        let begin = "<!-- \(name):begin -->"
        let end = "<!-- \(name):end -->"
        var doc = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        if let b = doc.range(of: begin), let e = doc.range(of: end), b.upperBound <= e.lowerBound {
            doc.replaceSubrange(b.upperBound..<e.lowerBound, with: "\n" + text + "\n")
        } else {
            doc += "\n" + begin + "\n" + text + "\n" + end + "\n"
        }
        try doc.write(toFile: file, atomically: true, encoding: .utf8)
    }

    public static func today() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: Date())
    }
}
