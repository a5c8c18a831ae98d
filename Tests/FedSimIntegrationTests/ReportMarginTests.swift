import FedSimMetrics
import FedSimReports
import FedSimTestSupport
import Foundation
import Testing

/// `fedsim report` says by how much the model beats its strongest in-run baseline, under either
/// protocol, and which round's model it reports (issue 18: the quickstart's report shows it).
@Suite struct ReportMarginTests {
    func run(baselines: String, validation: String?) -> RunData {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("{\"name\": \"x\", \"seed\": 1, \"evaluation\": {\"k\": 10}}", to: dir + "/scenario.json")
        let v = validation.map { ", \"validation\": \($0)" } ?? ""
        TestSupport.write(
            "{\"scenario\": \"x\", \"status\": \"completed\", \"mode\": \"federated\", \"seed\": 1, \"rounds\": 30, \"device_updates\": 1, \"wall_seconds\": 1.0, \"final\": {\"rmse\": 1.36, \"mae\": 1.1, \"hr@10\": 0.545, \"ndcg@10\": 0.1908, \"baselines\": \(baselines)}\(v)}",
            to: dir + "/summary.json"
        )
        return try! RunData(path: dir)
    }

    @Test func fullRankingMarginAndModelRound() {
        let r = run(
            baselines: """
                {"protocol": "full_ranking", "model": {"rmse": 1.36, "hr@10": 0.545, "ndcg@10": 0.1908},
                 "global_mean": {"rmse": 1.09}, "bias_only": {"rmse": 0.98, "hr@10": 0.26, "ndcg@10": 0.05},
                 "popularity": {"hr@10": 0.5117, "ndcg@10": 0.1566}, "random": {"hr@10": 0.06, "ndcg@10": 0.01},
                 "margin": {"rmse_over_bias_only": 0.38, "rmse_over_global_mean": 0.27, "ranking_over": "popularity",
                            "hr@10": 0.0333, "ndcg@10": 0.0342}}
                """,
            validation: """
                {"metric": "ndcg", "best_round": 20, "best_value": 0.1364, "last_value": 0.13,
                 "early_stopping": true, "restored_round": 20, "model_round": 20}
                """
        )
        let rows = Dictionary(HTMLReport.summaryRows(r), uniquingKeysWith: { a, _ in a })
        #expect(rows["margin"] == "over popularity: HR@10 +0.0333 · NDCG@10 +0.0342 · RMSE over bias-only +0.3800")
        #expect(rows["sampled"] == nil)
        #expect(rows["model"] == "round 20 of 30, best by validation ndcg 0.1364 (round 20); early stopping")
        #expect(HTMLReport.html(r).contains("over popularity: HR@10 +0.0333"))
    }

    @Test func sampledMarginNamesTheProtocolAndADeficitHasItsSign() {
        let r = run(
            baselines: """
                {"protocol": "sampled_negatives=99", "model": {"hr@10": 0.38, "ndcg@10": 0.2},
                 "popularity_sampled99": {"hr@10": 0.40, "ndcg@10": 0.227},
                 "random_sampled99": {"hr@10": 0.1, "ndcg@10": 0.045},
                 "margin": {"over": "popularity", "hr@10": -0.02, "ndcg@10": -0.027},
                 "bias_only_sampled99": {"hr@10": 0.25, "ndcg@10": 0.131},
                 "margin_over_bias_only": {"hr@10": 0.13, "ndcg@10": 0.069}}
                """,
            validation: nil
        )
        let rows = Dictionary(HTMLReport.summaryRows(r), uniquingKeysWith: { a, _ in a })
        #expect(
            rows["margin"]
                == "over popularity (99 sampled negatives): HR@10 −0.0200 · NDCG@10 −0.0270 · over bias-only: HR@10 +0.1300 · NDCG@10 +0.0690"
        )
        #expect(
            rows["sampled"]
                == "99 sampled negatives: HR@10 / NDCG@10 0.3800 / 0.2000; popularity 0.4000 / 0.2270; bias-only 0.2500 / 0.1310; random 0.1000 / 0.0450"
        )
        #expect(rows["model"] == nil)
    }
}
