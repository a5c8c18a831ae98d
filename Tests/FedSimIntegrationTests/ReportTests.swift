import FedSimConfig
import FedSimMetrics
import FedSimReports
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// Reports, comparisons and sweeps on real run directories.
@Suite(.serialized) struct ReportTests {
    @Test func niceScalesAndChartsAreWellFormed() {
        let (lo, hi, ticks) = SVGLineChart.niceScale(0.93, 1.12)
        #expect(lo <= 0.93 && hi >= 1.12 && ticks.count >= 4 && ticks.count <= 8)
        #expect(ticks.first == lo && ticks.last == hi)
        let chart = SVGLineChart(
            title: "t <&>",
            xLabel: "round",
            yLabel: "rmse",
            series: [.init("a", [(1, 1.0), (2, 0.9)]), .init("b", [(1, .nan), (2, 0.8)])],
            references: [.init(y: 1.5, label: "budget")]
        )
        let svg = chart.svg()
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.contains("t &lt;&amp;&gt;"))  // escaped title
        #expect(svg.components(separatedBy: "<polyline").count == 3)
        #expect(svg.contains("budget") && !svg.contains("nan"))
        #expect(SVGLineChart(title: "e", xLabel: "x", yLabel: "y", series: []).svg().contains("no data"))
        #expect(SVGHistogram(title: "h", xLabel: "x", values: [1, 1, 2, 3]).svg().contains("<rect"))
    }

    /// A 3-run sweep, then `fedsim compare` prints one row per run with each run's own
    /// final metrics, in all three formats; `fedsim report` writes the HTML and CSV.
    @Test func sweepThenCompareAndReport() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 20)
        s.evaluation.every = 2
        let dir = TestSupport.temporaryDirectory()
        var yaml = s.resolvedJSON()
        yaml.removeLast(2)  // drop the closing brace and newline of the JSON object
        yaml += ",\n\"sweep\": {\"name\": \"lr\", \"grid\": {\"training.local.learning_rate\": [0.02, 0.05, 0.1]}}\n}\n"
        TestSupport.write(yaml, to: dir + "/sweep.yaml")
        let out = TestSupport.temporaryDirectory()
        // --set applies to every run (here: 3 rounds instead of 4).
        let r = try MultiProcessTests.fedsim([
            "sweep", dir + "/sweep.yaml", "--out", out, "--quiet", "--write-table", dir + "/results.md",
            "--set", "training.rounds=3",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let runs = (1...3).map { String(format: "%@/sweep-lr/lr-%03d", out, $0) }
        for run in runs {
            #expect(FileManager.default.fileExists(atPath: run + "/summary.json"))
            #expect(TestSupport.metricsLines(run + "/metrics.jsonl").count == 3)
        }
        let table = try String(contentsOfFile: dir + "/results.md", encoding: .utf8)
        #expect(table.contains("<!-- sweep:lr:begin -->") && table.contains("training.local.learning_rate=0.05"))
        // The every-run table has the swept setting as a column, and only it.
        #expect(table.contains("| run | training.local.learning_rate | scenario |"), "\(table)")

        // Rerunning with the same --set skips everything; without it, nothing counts as done.
        let again = try MultiProcessTests.fedsim([
            "sweep", dir + "/sweep.yaml", "--out", out, "--quiet", "--set", "training.rounds=3",
        ])
        #expect(again.status == 0 && again.stderr.components(separatedBy: "done earlier, skipped").count == 4)
        let bad = try MultiProcessTests.fedsim([
            "sweep", dir + "/sweep.yaml", "--out", out, "--set", "training.rounds=x",
        ])
        #expect(bad.status == 2 && bad.stderr.contains("training.rounds"), "\(bad.stderr)")

        for format in ["table", "markdown", "csv"] {
            let c = try MultiProcessTests.fedsim(
                ["compare"] + runs + ["--format", format, "--html", dir + "/compare.html"]
            )
            #expect(c.status == 0)
            let lines = c.stdout.split(separator: "\n")
            #expect(lines.count == (format == "markdown" ? 5 : 4))
            for run in runs {
                let data = try RunData(path: run)
                let rmse = String(format: "%.4f", data.finalValue(\.rmse)!)
                let row = lines.first { $0.contains((run as NSString).lastPathComponent) }
                #expect(row?.contains(rmse) == true, "\(format): \(run) should show rmse \(rmse)")
            }
        }
        let html = try String(contentsOfFile: dir + "/compare.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 >= 3)

        let rep = try MultiProcessTests.fedsim(["report", runs[0]])
        #expect(rep.status == 0 && rep.stdout.contains("final") && rep.stdout.contains("RMSE"))
        let page = try String(contentsOfFile: runs[0] + "/report.html", encoding: .utf8)
        #expect(page.components(separatedBy: "class=\"chart\"").count - 1 >= 6)
        // Self-contained: no scripts, no stylesheets or images fetched from anywhere.
        #expect(
            !page.contains("<script") && !page.contains("<link") && !page.contains("src=") && !page.contains("href=")
        )
        let csv = try String(contentsOfFile: runs[0] + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4 && csv[0].hasPrefix("round,") && csv[0].contains("eval.rmse"))  // 3 rounds (--set)
    }

    /// `--jobs 2` runs two at once and ends with the same models as one at a time (each run
    /// is fixed by its scenario and seed, whatever else the machine does).
    @Test func aParallelSweepEndsLikeASerialOne() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 20)
        s.evaluation.every = 0
        let dir = TestSupport.temporaryDirectory()
        var yaml = s.resolvedJSON()
        yaml.removeLast(2)
        yaml += ",\n\"sweep\": {\"name\": \"lr\", \"grid\": {\"training.local.learning_rate\": [0.02, 0.1]}}\n}\n"
        TestSupport.write(yaml, to: dir + "/sweep.yaml")
        let serial = TestSupport.temporaryDirectory()
        let parallel = TestSupport.temporaryDirectory()
        let a = try MultiProcessTests.fedsim(["sweep", dir + "/sweep.yaml", "--out", serial, "--quiet"])
        let b = try MultiProcessTests.fedsim([
            "sweep", dir + "/sweep.yaml", "--out", parallel, "--quiet", "--jobs", "2",
        ])
        #expect(a.status == 0 && b.status == 0, "\(b.stderr)")
        for i in 1...2 {
            let name = String(format: "/sweep-lr/lr-%03d/model.bin", i)
            let x = FileManager.default.contents(atPath: serial + name)
            #expect(x != nil && x == FileManager.default.contents(atPath: parallel + name), "run \(i)")
        }
        let state = try String(contentsOfFile: parallel + "/sweep-lr/sweep.json", encoding: .utf8)
        #expect(state.components(separatedBy: "\"completed\"").count == 3, "\(state)")
    }

    @Test func badSweepKeysNameTheKeyPath() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("name: x\nsweep:\n  grid:\n    training.devices_per_rnd: [1, 2]\n", to: dir + "/s.yaml")
        let r = try MultiProcessTests.fedsim(["sweep", dir + "/s.yaml", "--out", dir])
        #expect(r.status == 2)
        #expect(r.stderr.contains("training.devices_per_rnd") && r.stderr.contains("devices_per_round"))
        let notRun = try MultiProcessTests.fedsim(["report", dir])
        #expect(notRun.status == 2 && notRun.stderr.contains("not a FedSim run directory"))
    }
}

/// Sweep tables of click models (no RMSE): per-period AUC, and AUC differences paired by seed.
@Suite struct ClickModelCompareTests {
    func run(_ dir: String, seed: Int, auc: [Double]) -> RunData {
        TestSupport.write(
            "{\"name\": \"x\", \"seed\": \(seed), \"evaluation\": {\"k\": 10}}",
            to: dir + "/scenario.json"
        )
        let rows = auc.enumerated().map {
            "{\"period\": \($0.offset + 1), \"rmse\": null, \"auc\": \($0.element), \"ndcg@10\": 0.1}"
        }
        let thirds = ["early", "middle", "late"].enumerated().map {
            "{\"third\": \"\($0.element)\", \"auc\": \(auc[$0.offset])}"
        }
        TestSupport.write(
            "{\"scenario\": \"x\", \"status\": \"completed\", \"mode\": \"federated\", \"seed\": \(seed), \"rounds\": 1, \"device_updates\": 1, \"wall_seconds\": 1.0, \"final\": {\"rmse\": null, \"mae\": null, \"hr@10\": 0.1, \"ndcg@10\": 0.1}, \"cold_start\": [\(rows.joined(separator: ","))], \"cold_start_thirds\": [\(thirds.joined(separator: ","))]}",
            to: dir + "/summary.json"
        )
        return try! RunData(path: dir)
    }

    @Test func aucReplacesRMSE() {
        let base = TestSupport.temporaryDirectory()
        var runs: [RunData] = []
        var overrides: [[String]] = []
        for (i, (key, shift)) in [("", 0.0), ("meta.algorithm=none", 0.02)].enumerated() {
            for seed in 1...3 {
                let dir = base + "/r\(i)\(seed)"
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                runs.append(run(dir, seed: seed, auc: [0.6 + shift + 0.001 * Double(seed), 0.7 + shift, 0.65 + shift]))
                overrides.append((key.isEmpty ? [] : [key]) + ["seed=\(seed)"])
            }
        }
        #expect(Compare.coldStartMetric(runs) == "auc")
        let md = Compare.grouped(runs, overrides: overrides).markdown
        #expect(md.contains("| cold start auc |") && !md.contains("cold start rmse") && !md.contains("temporal rmse"))
        #expect(md.contains("| Δ auc vs (base) |") && md.contains("| Δ temporal auc vs (base) |"))
        #expect(md.contains("| meta.algorithm=none | 0.0200 ± 0.0000"), "\(md)")
        #expect(md.contains("positive = higher AUC"))
        #expect(Compare.coldStartDeltaCurves(runs, overrides: overrides, title: "t")?.contains("Δ AUC") == true)
        // A single run's report: AUC in the summary row and the chart, never a 0 for the missing RMSE.
        // Accuracy and ranking get a chart each, with their own axis.
        let cold = HTMLReport.charts(runs[0]).map(\.svg).filter { $0.contains("Cold start") }
        #expect(cold.count == 2)
        #expect(cold.first { $0.contains("Cold start (): AUC") }?.contains("AUC (0–1)") == true)
        #expect(cold.first { $0.contains("NDCG@10 (0–1)") }.map { !$0.contains(">AUC<") } == true)
        let page = HTMLReport.html(runs[0])
        #expect(page.contains("AUC / NDCG@10: p1 0.6010") && !page.contains("RMSE / NDCG"))
    }
}
