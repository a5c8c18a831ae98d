import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimReports
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// The temporal protocol's in-run baselines end to end: `fedsim run` of LSTTM writes the
/// previous-period categories heuristic and previous-period popularity beside the model's AUC
/// in every period and third of summary.json, with the model's margin, and `fedsim compare`
/// pairs them.
@Suite(.serialized) struct TemporalBaselinesTests {
    static func object(_ v: Any?) -> [String: Any] { v as? [String: Any] ?? [:] }

    @Test func summaryCarriesTheBaselinesBesideEveryPeriodAndThird() throws {
        let s = LSTTMRuntimeTests.scenario(rounds: 2)
        let out = TestSupport.temporaryDirectory()
        let r = try MultiProcessTests.fedsim(["run", MultiProcessTests.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let dir = r.runDirectory
        #expect(FileManager.default.fileExists(atPath: dir + "/" + TemporalBaselines.fileName))
        let summary = try #require(TestSupport.json(dir + "/summary.json"))
        let cold = try #require(summary["cold_start"] as? [[String: Any]])
        let thirds = try #require(summary["cold_start_thirds"] as? [[String: Any]])
        let how = try #require(summary["cold_start_protocol"] as? [String: Any])
        #expect((how["global_model_fine_tuned"] as? String)?.hasPrefix("this run") == true)
        #expect(cold.map { $0["period"] as? Int } == [1, 2, 3] && thirds.count == 3)
        for entry in cold + thirds {
            let model = try #require(entry["auc"] as? Double)
            let b = Self.object(entry["baselines"])
            #expect(Set(b.keys) == ["previous_period_categories", "previous_period_popularity"], "\(entry)")
            for (_, v) in b {
                let o = Self.object(v)
                let auc = try #require(o["auc"] as? Double)
                #expect(auc > 0 && auc < 1, "\(o)")
                // The margin is the model's AUC minus the baseline's, on the same devices.
                #expect(abs((o["auc_margin"] as? Double ?? .nan) - (model - auc)) < 1e-12, "\(o)")
                if entry["period"] != nil {
                    #expect(o["ranked_devices"] as? Int == entry["ranked_devices"] as? Int, "\(entry)")
                }
            }
        }
        // metrics.jsonl is the coordinator's: unchanged, without the launcher's baselines.
        let last = try #require(TestSupport.metricsLines(dir + "/metrics.jsonl").last)
        #expect((last["cold_start"] as? [[String: Any]])?.allSatisfy { $0["baselines"] == nil } == true)

        // `fedsim compare` pairs the model with each baseline per period and per third.
        let run = try RunData(path: dir)
        let md = Compare.grouped([run, run], overrides: [["seed=1"], ["seed=2"]]).markdown
        for title in [
            "Δ auc vs previous-period categories", "Δ temporal auc vs previous-period categories",
            "Δ temporal auc vs previous-period popularity", "previous-period categories auc",
        ] {
            #expect(md.contains("| \(title) |"), "\(title) missing from:\n\(md)")
        }
        // The report's cold-start row and charts carry them too.
        let page = HTMLReport.html(run)
        #expect(page.contains("previous-period categories AUC / NDCG@"))
    }
}
