import FedSimMetrics
import Foundation

/// The self-contained HTML report of one run (`report.html`): a summary table and SVG charts,
/// no scripts and no network. Also the terminal summary `fedsim report` prints.
public enum HTMLReport {
    public static let style = """
        body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#222;max-width:1240px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}.sub{color:#666;margin:0 0 16px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left;font-size:14px}
        th{background:#f5f5f5}.grid-charts{display:flex;flex-wrap:wrap;gap:12px}
        figure{margin:0;border:1px solid #e3e3e3;border-radius:6px;padding:6px;background:#fff}
        figcaption{font-size:12px;color:#555;max-width:528px;padding:0 6px 4px}
        svg .title{font-size:14px;font-weight:600}svg .tick{font-size:11px;fill:#555}svg .label{font-size:12px;fill:#333}
        svg .legend{font-size:11px;fill:#333}svg .grid{stroke:#eee}svg .axis{stroke:#999}
        svg .reference{stroke:#d62728;stroke-dasharray:4 3}svg .reference-label{font-size:11px;fill:#d62728}
        svg .bar{fill:#1f77b4}svg .empty{fill:#999;font-size:13px}.warn{color:#b00;font-weight:600}
        """

    public static func charts(_ run: RunData) -> [(svg: String, caption: String)] {
        var out: [(String, String)] = []
        let k = run.k
        let errors = SVGLineChart(
            title: "Held-out rating error",
            xLabel: "round",
            yLabel: "error (rating points)",
            series: [
                .init("RMSE", run.series { $0.eval?.rmse }), .init("MAE", run.series { $0.eval?.mae }, dashed: true),
            ],
            markers: true
        )
        out.append(
            (
                errors.svg(),
                "Example-weighted over all evaluated devices, each with its own personal parameters (docs/metrics.md)."
            )
        )
        let ranking = SVGLineChart(
            title: "Full-ranking quality",
            xLabel: "round",
            yLabel: "metric (0–1)",
            series: [
                .init("HR@\(k)", run.series { $0.eval?.hitRate }),
                .init("NDCG@\(k)", run.series { $0.eval?.ndcg }, dashed: true),
            ],
            markers: true
        )
        out.append(
            (ranking.svg(), "Mean over devices with a relevant held-out item; every unrated item is a candidate.")
        )
        let loss = SVGLineChart(
            title: "Training loss",
            xLabel: "round",
            yLabel: "mean ½e² per example",
            series: [.init("train loss", run.series { $0.trainLoss })]
        )
        out.append(
            (
                loss.svg(),
                "Example-weighted mean of the devices' last local epoch (read from the secure sum under secure aggregation)."
            )
        )
        if !run.series { $0.privacy?.epsilon }.isEmpty {
            let delta = run.privacy.map { "\($0.delta)" } ?? "δ"
            let eps = SVGLineChart(
                title: "Privacy spent",
                xLabel: "round",
                yLabel: "ε at δ = \(delta)",
                series: [.init("ε (RDP accountant)", run.series { $0.privacy?.epsilon })],
                references: run.budget > 0 ? [.init(y: run.budget, label: "budget ε = \(run.budget)")] : []
            )
            out.append(
                (
                    eps.svg(),
                    "User-level (ε, δ) of the shared model after each round; the run stops before a round that would exceed the budget."
                )
            )
        }
        var devices: [SVGLineChart.Series] = [
            .init("sampled", run.series { $0.sampled.map(Double.init) }),
            .init("finished", run.series { $0.finished.map(Double.init) }),
        ]
        let lost = run.rounds.map { l -> (x: Double, y: Double) in
            (Double(l.round), Double([l.dropped, l.failed, l.timedOut].compactMap { $0 }.reduce(0, +)))
        }
        devices.append(.init("dropped, failed or timed out", lost, dashed: true))
        let missed = run.series { ($0.fleet?.missedDeadline).map(Double.init) }
        if missed.contains(where: { $0.y > 0 }) {
            devices.append(.init("missed the simulated deadline", missed, dashed: true))
        }
        out.append(
            (
                SVGLineChart(title: "Devices per round", xLabel: "round", yLabel: "devices", series: devices).svg(),
                "Sampled devices, devices whose update counted, and those lost (client process gone, failure, wall-clock deadline)."
            )
        )
        if !run.deviceRMSE.isEmpty {
            out.append(
                (
                    SVGHistogram(
                        title: "Per-device RMSE, final evaluation",
                        xLabel: "device RMSE (rating points)",
                        values: run.deviceRMSE
                    ).svg(),
                    "Distribution over the \(run.deviceRMSE.count) evaluated devices (device-metrics.csv)."
                )
            )
        }
        let stages = ["advertise", "share", "masked", "unmask"]
        if run.rounds.contains(where: { $0.secagg != nil }) {
            let s = stages.map { st in SVGLineChart.Series(st, run.series { $0.secagg?.stage(st)?.seconds }) }
            out.append(
                (
                    SVGLineChart(
                        title: "Time per secure-aggregation stage",
                        xLabel: "round",
                        yLabel: "seconds (wall clock)",
                        series: s
                    ).svg(),
                    "Wall time of each SecAgg+ stage at the coordinator; training happens inside the share stage."
                )
            )
        } else {
            out.append(
                (
                    SVGLineChart(
                        title: "Round time",
                        xLabel: "round",
                        yLabel: "seconds (wall clock)",
                        series: [.init("round", run.series { $0.roundSeconds })]
                    ).svg(),
                    "Wall time per round, evaluation included."
                )
            )
        }
        out += coldStartCharts(run)
        let up = run.increments { $0.bytesReceived }.map { ($0.x, $0.y / 1e6) }
        let down = run.increments { $0.bytesSent }.map { ($0.x, $0.y / 1e6) }
        out.append(
            (
                SVGLineChart(
                    title: "Bytes on the coordinator's socket",
                    xLabel: "round",
                    yLabel: "MB per round",
                    series: [.init("received (up)", up), .init("sent (down)", down, dashed: true)]
                ).svg(),
                "Frame bytes per round, both directions."
            )
        )
        return out
    }

    public static func summaryRows(_ run: RunData) -> [(String, String)] {
        var rows: [(String, String)] = []
        let s = run.summary
        rows.append(("scenario", "\(run.scenarioName) (seed \(run.seed))"))
        let why = [s?.stoppedEarly, s?.error].compactMap { $0.map { " — \($0)" } }.joined()
        rows.append(("status", run.status + why))
        rows.append(
            (
                "rounds",
                "\(s?.rounds ?? run.rounds.count)"
                    + (s?.resumedAfterRound.map { " (resumed after round \($0))" } ?? "")
            )
        )
        rows.append(
            (
                "device updates",
                "\(s?.deviceUpdates ?? 0) (\(format4(s?.deviceUpdatesPerSecond ?? 0, places: 0)) per second)"
            )
        )
        rows.append(("wall time", format4(s?.wallSeconds ?? 0, places: 1) + " s"))
        let k = run.k
        let f = { (metric: KeyPath<FinalMetrics, Double>) in run.finalValue(metric).map { format4($0) } ?? "n/a" }
        rows.append(("final", "RMSE \(f(\.rmse)) · MAE \(f(\.mae)) · HR@\(k) \(f(\.hitRate)) · NDCG@\(k) \(f(\.ndcg))"))
        if let p = run.privacy {
            rows.append(
                (
                    "privacy",
                    "ε = \(format4(p.epsilon, places: 3)) at δ = \(p.delta) (\(p.mechanism), RDP accountant, order \(p.rdpOrder)); noise \(p.noise)"
                )
            )
        } else {
            rows.append(("privacy", "no differential privacy (the model and metrics are not private)"))
        }
        if let part = s?.participation {
            rows.append(
                (
                    "participation",
                    "\(part.devices) devices; never selected \(part.neverSelected), never finished \(part.neverFinished); Gini of finished counts \(format4(part.giniFinished, places: 3))"
                )
            )
        }
        if let e = run.lastEval, let b = e.baselines {
            var parts: [String] = []
            if let g = b.globalMean {
                parts.append("global mean RMSE \(format4(g.rmse))")
            }
            if let p = b.popularity {
                parts.append("popularity HR@\(k) \(format4(p.hitRate)) · NDCG@\(k) \(format4(p.ndcg))")
            }
            if let bo = b.biasOnly {
                parts.append("bias-only RMSE \(format4(bo.rmse)) · NDCG@\(k) \(format4(bo.ndcg))")
            }
            if let sd = e.serendipity { parts.append("serendipity@\(k) \(format4(sd))") }
            if !parts.isEmpty { rows.append(("baselines", parts.joined(separator: " · "))) }
        }
        rows += marginRows(run)
        let cold = coldStart(run)
        if !cold.isEmpty {
            let how = s?.coldStartProtocol
            let metric = Compare.coldStartMetric([run])  // click models: AUC, they predict no ratings
            rows.append(
                (
                    "cold start",
                    "\(how?.name ?? "?"), \(how?.initialisation ?? "?"); \(metric.uppercased()) / NDCG@\(k): "
                        + cold.map { o in
                            let slot = (o["k"] as? Int).map { "k=\($0)" } ?? "p\(o["period"] as? Int ?? 0)"
                            return
                                "\(slot) \(format4(o[metric] as? Double ?? .nan)) / \(format4(o["ndcg@\(k)"] as? Double ?? .nan, places: 3))"
                        }.joined(separator: " · ")
                )
            )
            if let b = coldStartBaselineText(run, metric, k: k) { rows.append(("cold-start baselines", b)) }
        }
        let mb = { (v: Int?) in format4(Double(v ?? 0) / 1e6, places: 1) + " MB" }
        rows.append(("bytes", "sent \(mb(s?.bytesSent)), received \(mb(s?.bytesReceived))"))
        return rows
    }

    /// Cold start against the support size k (or the period), from `summary.json`'s
    /// `cold_start`: one chart for the error (RMSE, in rating points; AUC for click models)
    /// and one for NDCG@K (0–1). They used to share one axis, which flattened whichever had
    /// the smaller range.
    static func coldStartCharts(_ run: RunData) -> [(svg: String, caption: String)] {
        let slots = coldStart(run)
        guard !slots.isEmpty else { return [] }
        let k = run.k
        let temporal = slots.first?["period"] != nil
        let metric = Compare.coldStartMetric([run])
        let how = run.summary?.coldStartProtocol
        let protocolName = how?.name ?? ""
        let x = temporal ? "period" : "support size k"
        let accuracy = SVGLineChart(
            title: "Cold start (\(protocolName)): \(metric.uppercased())",
            xLabel: x,
            yLabel: metric == "rmse" ? "RMSE (rating points)" : "\(metric.uppercased()) (0–1)",
            series: [.init(metric.uppercased(), coldStartPoints(run, metric))] + coldStartBaselineSeries(run, metric),
            markers: true
        )
        let ranking = SVGLineChart(
            title: "Cold start (\(protocolName)): NDCG@\(k)",
            xLabel: x,
            yLabel: "NDCG@\(k) (0–1)",
            series: [.init("NDCG@\(k)", coldStartPoints(run, "ndcg@\(k)"))]
                + coldStartBaselineSeries(run, "ndcg@\(k)"),
            markers: true
        )
        let caption =
            "After training, each device adapts on device (\(how?.adaptationSteps ?? 0) steps on \(how?.adaptedGroups ?? "?"), initialisation: \(how?.initialisation ?? "?")) and is scored on its held-out interactions (docs/personalization.md)."
        return [
            (accuracy.svg(), caption),
            (ranking.svg(), "The same adapted devices, ranked over every item they have not rated."),
        ]
    }

    static func coldStart(_ run: RunData) -> [[String: Any]] { run.coldStartRows() }

    /// (k or period, metric) of each cold-start slot with a finite value.
    static func coldStartPoints(_ run: RunData, _ metric: String) -> [(x: Double, y: Double)] {
        coldStart(run).compactMap { o in
            guard let x = (o["k"] ?? o["period"]) as? Int, let y = o[metric] as? Double, y.isFinite else { return nil }
            return (Double(x), y)
        }
    }

    public static func html(_ run: RunData) -> String {
        var h =
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>FedSim report: \(escape(run.name))</title><style>\(style)</style></head><body>"
        h += "<h1>FedSim run \(escape(run.name))</h1><p class=\"sub\">\(escape(run.path))</p>"
        if let p = run.privacy, !p.isPrivate {
            h += "<p class=\"warn\">NOT PRIVATE: this run used reproducible (seeded) noise.</p>"
        }
        h +=
            "<table>" + summaryRows(run).map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined()
            + "</table>"
        h += "<h2>Charts</h2><div class=\"grid-charts\">"
        for c in charts(run) { h += "<figure>\(c.svg)<figcaption>\(escape(c.caption))</figcaption></figure>" }
        h += "</div>" + beyondAccuracy(run) + cohorts(run)
        if coldStart(run).isEmpty {
            h +=
                "<h2>Not in this run</h2><p>Cold-start curves (metric vs k support interactions) and the new-vs-warm table appear when a run sets <code>evaluation.cold_start</code>.</p>"
        }
        h +=
            "<p class=\"sub\">Written by <code>fedsim report</code>. Files: metrics.jsonl, metrics.csv, summary.json, participation.jsonl, device-metrics.csv (docs/metrics.md).</p></body></html>\n"
        return h
    }

    /// The last evaluation's ranking and beyond-accuracy metrics (docs/metrics.md), under
    /// their metrics.jsonl names, sorted by name.
    static func beyondAccuracyRows(_ e: EvaluationMetrics) -> [(name: String, value: Double)] {
        let k = e.k
        let sampled = e.sampledNegatives.map { "@\(k)_sampled\($0)" } ?? ""
        let rows: [(String, Double?)] = [
            ("recall@\(k)", e.recall), ("mrr@\(k)", e.mrr), ("auc", e.auc),
            ("hr" + sampled, e.sampledHitRate), ("ndcg" + sampled, e.sampledNdcg),
            ("coverage@\(k)", e.coverage), ("gini_exposure@\(k)", e.giniExposure), ("novelty@\(k)", e.novelty),
            ("ild_category@\(k)", e.ildCategory), ("ild_embedding@\(k)", e.ildEmbedding),
        ]
        return rows.compactMap { name, v in v.map { (name, $0) } }.sorted { $0.name < $1.name }
    }

    public static func beyondAccuracy(_ run: RunData) -> String {
        guard let e = run.lastEval else { return "" }
        let rows = beyondAccuracyRows(e)
        guard !rows.isEmpty else { return "" }
        var h = "<h2>Ranking and beyond accuracy (final evaluation)</h2><table><tr><th>metric</th><th>value</th></tr>"
        for (name, value) in rows + (e.serendipity.map { [("serendipity@\(e.k)", $0)] } ?? []) {
            h += "<tr><td>\(escape(name))</td><td>\(format4(value))</td></tr>"
        }
        h +=
            "</table><p class=\"sub\">Full ranking over every unrated item unless marked _sampled (docs/metrics.md defines each).</p>"
        return h + baselines(run)
    }

    /// The model against the global-mean and popularity baselines, from the same evaluation.
    static func baselines(_ run: RunData) -> String {
        guard let e = run.lastEval, let b = e.baselines, b != EvaluationBaselines() else { return "" }
        let k = e.k
        func row(_ name: String, _ rmse: String, _ hr: String, _ ndcg: String) -> String {
            "<tr><td>\(name)</td><td>\(rmse)</td><td>\(hr)</td><td>\(ndcg)</td></tr>"
        }
        var h =
            "<h2>Against baselines (final evaluation)</h2><table><tr><th>predictor</th><th>RMSE</th><th>HR@\(k)</th><th>NDCG@\(k)</th></tr>"
        h += row("this model", format4(e.rmse), format4(e.hitRate), format4(e.ndcg))
        if let g = b.globalMean {
            h += row("global mean (\(format4(g.value, places: 3)))", format4(g.rmse), "", "")
        }
        if let p = b.popularity {
            h += row("most popular unrated items", "", format4(p.hitRate), format4(p.ndcg))
        }
        // `evaluation.bias_baseline`: shrunk μ + b_u + b_i and the random ranking's expectation.
        if let x = b.biasOnly {
            h += row("bias only μ + b_u + b_i (shrunk)", format4(x.rmse), format4(x.hitRate), format4(x.ndcg))
        }
        if let x = b.random {
            h += row("random ranking", "", format4(x.hitRate), format4(x.ndcg))
        }
        return h
            + "</table><p class=\"sub\">Popularity: items ranked by how many devices rated them in training (the previous evaluation's counts). Local-only and centralized baselines: negative transfer above, <code>training.mode: centralized</code>.</p>"
    }

    /// Warm users (the final evaluation) next to new users at each k (the cold-start protocol).
    static func newVersusWarm(_ run: RunData) -> String {
        let cold = coldStart(run)
        guard !cold.isEmpty, cold.first?["k"] != nil, let e = run.lastEval else { return "" }
        let k = run.k
        var h =
            "<h2>New vs warm users</h2><table><tr><th>cohort</th><th>devices</th><th>RMSE</th><th>NDCG@\(k)</th></tr>"
        h +=
            "<tr><td>warm (trained, final evaluation)</td><td>\(e.devices)</td><td>\(format4(e.rmse))</td><td>\(format4(e.ndcg))</td></tr>"
        for o in cold {
            h +=
                "<tr><td>new, k = \(o["k"] ?? "?")</td><td>\(o["devices"] ?? "")</td><td>\(format4(o["rmse"] as? Double ?? .nan))</td><td>\(format4(o["ndcg@\(k)"] as? Double ?? .nan))</td></tr>"
        }
        return h
            + "</table><p class=\"sub\">Different held-out sets: warm users are scored on their random test split, new users on the interactions after their support window.</p>"
    }

    public static func cohorts(_ run: RunData) -> String {
        guard let e = run.lastEval, let c = e.cohorts else { return "" }
        let k = e.k
        var h = "<h2>Cohorts (final evaluation)</h2>"
        if let w = c.worstByRMSE {
            h +=
                "<p>Worst cohort by RMSE: <b>\(escape(w.cohort))</b> (\(format4(w.rmse))) against \(format4(e.rmse)) overall.</p>"
        }
        h +=
            "<table><tr><th>cohort</th><th>devices</th><th>RMSE</th><th>HR@\(k)</th><th>NDCG@\(k)</th><th>device RMSE p10 / p50 / p90</th></tr>"
        for group in c.groups {
            for row in group.cohorts {
                // Click models have no per-device RMSE (all null): the cell stays empty.
                let finite = row.deviceRMSE.filter(\.isFinite)
                let p = finite.count == row.deviceRMSE.count ? finite.map { format4($0, places: 3) } : []
                h +=
                    "<tr><td>\(escape(group.kind)): \(escape(row.name))</td><td>\(row.devices)</td><td>\(format4(row.rmse))</td><td>\(format4(row.hitRate))</td><td>\(format4(row.ndcg))</td><td>\(p.joined(separator: " / "))</td></tr>"
            }
        }
        return h + "</table>" + newVersusWarm(run)
    }

    public static func terminal(_ run: RunData) -> String {
        let rows = summaryRows(run)
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
