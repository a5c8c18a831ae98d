import FedSimConfig
import FedSimData
import FedSimMetrics
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// summary.json is `RunSummary`, shared by its two writers (the coordinator process and the
/// centralized runner) and every reader: files written before the schema re-encode to the same
/// bytes, real runs write exactly the schema, and a renamed or unknown key fails.
@Suite struct SummarySchemaTests {
    /// summary.json files written by the hand-assembled writer before the schema (copied from
    /// real runs): a failure before the start, a lost process, a resumed run, central DP, an
    /// interrupted run, a centralized run and sampled-negatives baselines.
    static let written = [
        #"{"scenario":"tiny","status":"failed","error":"/tmp/fedsim-test-xG1kC8/tiny-20261129-203848 is accessible to other users (mode 750); refusing to run: chmod 700 it","mode":"federated","seed":7,"rounds":0,"device_updates":0,"wall_seconds":0.0388608409994049,"device_updates_per_second":0.0,"bytes_sent":0,"bytes_received":0,"final":{"rmse":null,"mae":null,"hr@10":null,"ndcg@10":null}}"#,
        #"{"scenario":"tiny","status":"completed","mode":"federated","seed":7,"rounds":5,"device_updates":184,"wall_seconds":0.3307532420003554,"device_updates_per_second":556.3059605619899,"lost_processes":{"1":"peer closed the connection"},"bytes_sent":15768,"bytes_received":145076,"final":{"rmse":1.016805622405198,"mae":0.8275340510838067,"hr@10":0.2571428571428571,"ndcg@10":0.0643773242754793},"participation":{"devices":80,"never_selected":6,"never_finished":10,"max_selected":5,"mean_finished":2.3,"gini_finished":0.3677989130434783,"simulated_seconds":1500.0}}"#,
        #"{"scenario":"tiny","status":"completed","mode":"federated","seed":7,"rounds":12,"device_updates":360,"wall_seconds":3.43607935,"device_updates_per_second":69.8470482062645,"resumed_after_round":4,"bytes_sent":8118840,"bytes_received":7115476,"final":{"rmse":1.0144555376283804,"mae":0.8233452542470052,"hr@10":0.22857142857142856,"ndcg@10":0.07555377910905589},"participation":{"devices":120,"never_selected":4,"never_finished":4,"max_selected":7,"mean_finished":3.0,"gini_finished":0.2814814814814815,"simulated_seconds":3600.0}}"#,
        #"{"scenario":"movielens-100k","status":"completed","mode":"federated","seed":42,"rounds":10,"device_updates":978,"wall_seconds":1.798331906000385,"device_updates_per_second":543.837317647964,"bytes_sent":2765512,"bytes_received":19806006,"final":{"rmse":1.08533499761539,"mae":0.8936751652121544,"hr@10":0.48872180451127817,"ndcg@10":0.11586037786753955},"participation":{"devices":943,"never_selected":309,"never_finished":309,"max_selected":6,"mean_finished":1.0371155885471899,"gini_finished":0.48848798704044655,"simulated_seconds":3000.0},"privacy":{"mechanism":"central","epsilon":3.5901797251268355,"delta":1e-05,"rdp_order":4.5,"noise":"reproducible (NOT private)"}}"#,
        #"{"scenario":"quickstart","status":"interrupted","mode":"federated","seed":42,"rounds":220,"device_updates":13200,"wall_seconds":2.2821796860007453,"device_updates_per_second":5783.94421831502,"bytes_sent":27001112,"bytes_received":903476760,"final":{"rmse":null,"mae":null,"hr@10":null,"ndcg@10":null},"stopped_early":"interrupted after round 220; resume with `fedsim resume`","participation":{"devices":400,"never_selected":0,"never_finished":0,"max_selected":51,"mean_finished":33.0,"gini_finished":0.0849655303030303,"simulated_seconds":66000.0}}"#,
        #"{"scenario":"tiny","status":"completed","mode":"centralized","seed":7,"rounds":3,"device_updates":0,"wall_seconds":0.072521477999544,"examples_per_second":33796.88428323829,"final":{"rmse":1.0146646014735856,"mae":0.8419249743785499,"hr@10":0.42592592592592593,"ndcg@10":0.13609973291169852}}"#,
        #"{"scenario":"recbole-deepfm","status":"completed","mode":"federated","seed":42,"rounds":10,"device_updates":500,"wall_seconds":48.7496468749996,"device_updates_per_second":10.256484550176634,"bytes_sent":187032,"bytes_received":4541384,"final":{"rmse":null,"mae":null,"hr@10":0.38666666666666666,"ndcg@10":0.17824986157740855,"baselines":{"protocol":"sampled_negatives=20","model":{"hr@10":0.78,"ndcg@10":0.4264655649143575},"random_sampled20":{"hr@10":0.47619047619047616,"ndcg@10":0.21635996848039743},"margin":{"over":"random","hr@10":0.30380952380952386,"ndcg@10":0.21010559643396007}}},"participation":{"devices":150,"never_selected":5,"never_finished":5,"max_selected":8,"mean_finished":3.3333333333333335,"gini_finished":0.24376,"simulated_seconds":3000.0}}"#,
    ]

    /// Key order, number text and `null`s survive decoding and encoding to the byte.
    @Test func filesWrittenBeforeTheSchemaReEncodeToTheSameBytes() throws {
        for text in Self.written {
            let s = try MetricsJSON.decodeExactly(RunSummary.self, line: text)
            #expect(try MetricsJSON.line(s) == text)
        }
        let failed = try MetricsJSON.decode(RunSummary.self, line: Self.written[0])
        #expect(failed.status == .failed && failed.error?.contains("chmod 700") == true && failed.final.rmse.isNaN)
        let lost = try MetricsJSON.decode(RunSummary.self, line: Self.written[1])
        #expect(lost.lostProcesses?.reasons == [1: "peer closed the connection"])
        let sampled = try MetricsJSON.decode(RunSummary.self, line: Self.written[6])
        guard case .sampledNegatives(let b)? = sampled.final.baselines else {
            Issue.record("final.baselines is not sampled negatives")
            return
        }
        #expect(b.negatives == 20 && b.popularity == nil && b.margin.over == "random")
    }

    /// A key renamed on either side, an unknown key, a changed type or a protocol the schema
    /// does not know fails, naming the key path.
    @Test func aRenamedUnknownOrRetypedKeyFails() throws {
        let text = Self.written[1]
        #expect(throws: MetricsJSON.SchemaMismatch(paths: ["final.auc"])) {
            try MetricsJSON.decodeExactly(
                RunSummary.self,
                line: text.replacingOccurrences(
                    of: "\"ndcg@10\":0.0643773242754793",
                    with: "\"ndcg@10\":0.0643773242754793,\"auc\":0.5"
                )
            )
        }
        let cases = [
            ("\"device_updates\":184", "\"deviceUpdates\":184", "no \"device_updates\" at the top level"),
            ("\"rounds\":5", "\"rounds\":5.0", "rounds: expected Int, found a floating-point number"),
            (
                "\"status\":\"completed\"", "\"status\":\"done\"",
                "status: \"done\" is none of completed, failed, interrupted"
            ),
            ("\"lost_processes\":{\"1\"", "\"lost_processes\":{\"one\"", "lost_processes.one: not a process index"),
            ("\"never_finished\":10,", "", "no \"never_finished\" at participation"),
        ]
        for (from, to, message) in cases {
            do {
                _ = try RunSummary(text: text.replacingOccurrences(of: from, with: to), file: "run/summary.json")
                Issue.record("\(to) was read")
            } catch {
                #expect("\(error)".hasPrefix("run/summary.json: ") && "\(error)".contains(message), "\(error)")
            }
        }
        let unknown = Self.written[6].replacingOccurrences(of: "sampled_negatives=20", with: "leave_one_out")
        do {
            _ = try MetricsJSON.decode(RunSummary.self, line: unknown)
            Issue.record("an unknown protocol was read")
        } catch {
            #expect(MetricsJSON.describe(error).hasPrefix("final.baselines.protocol: \"leave_one_out\" is neither"))
        }
    }

    enum RunKind: String, CaseIterable {
        case plain, secagg, centralDP, fedbuff, earlyStopping, sampledNegativesAndBiasBaseline, fullRankingBaselines
    }

    static func scenario(_ kind: RunKind) -> Scenario {
        switch kind {
        case .plain: return MetricsSchemaTests.scenario(.plain)
        case .secagg: return MetricsSchemaTests.scenario(.secagg)
        case .centralDP: return MetricsSchemaTests.scenario(.centralDP)
        case .fedbuff: return MetricsSchemaTests.scenario(.fedbuff)
        case .earlyStopping:
            var s = MetricsSchemaTests.scenario(.validation)
            s.training.rounds = 6
            s.training.earlyStopping.patience = 1
            s.training.earlyStopping.minDelta = 10  // no round improves by 10: stops at the second
            return s
        case .sampledNegativesAndBiasBaseline: return MetricsSchemaTests.scenario(.sampledNegativesAndBiasBaseline)
        case .fullRankingBaselines:
            var s = MetricsSchemaTests.scenario(.plain)
            s.evaluation.biasBaseline.enabled = true
            return s
        }
    }

    /// Runs the coordinator, writes summary.json as `fedsim run` does, and reads it exactly.
    static func run(_ s: Scenario, error: String? = nil) async throws -> RunSummary {
        let h = CoordinatorHarness(s)
        if s.evaluation.biasBaseline.enabled {
            h.coordinator.referenceBaselines = ReferenceBaselines.measure(s, population: h.population)
        }
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { _ = await c.value }
        let dir = RunDirectory(path: TestSupport.temporaryDirectory("summary"))
        try CoordinatorProcess.writeSummary(dir, scenario: s, coordinator: h.coordinator, seconds: 1.5, error: error)
        return try MetricsJSON.decodeExactly(RunSummary.self, line: try dir.read("summary.json"))
    }

    /// Real runs: summary.json decodes into `RunSummary` with nothing left over, and the
    /// section the configuration adds is there.
    @Test(arguments: RunKind.allCases) func realRunsWriteExactlyTheSchema(_ kind: RunKind) async throws {
        let s = try await Self.run(Self.scenario(kind))
        #expect(s.status == .completed && s.mode == "federated" && s.deviceUpdates > 0)
        #expect(s.final.k == 10 && s.final.ndcg.isFinite && s.participation?.devices == 60)
        switch kind {
        case .plain, .secagg: #expect(s.rounds == 3 && s.privacy == nil && s.final.baselines == nil)
        case .centralDP: #expect(s.privacy?.mechanism == "central" && s.privacy?.isPrivate == false)
        case .fedbuff: #expect((s.bytesReceived ?? 0) > 0 && s.validation == nil)
        case .earlyStopping:
            let v = try #require(s.validation)
            #expect(v.earlyStopping && v.metric == "rmse" && v.modelRound == v.bestRound)
            #expect(s.rounds < 6 && s.stoppedEarly?.contains("early stopping") == true)
        case .sampledNegativesAndBiasBaseline:
            guard case .sampledNegatives(let b)? = s.final.baselines else {
                Issue.record("no sampled-negatives baselines")
                return
            }
            #expect(b.negatives == 20 && b.biasOnly != nil && b.marginOverBiasOnly?.over == nil)
        case .fullRankingBaselines:
            guard case .fullRanking(let b)? = s.final.baselines else {
                Issue.record("no full-ranking baselines")
                return
            }
            #expect(b.margin.rmseOverBiasOnly == s.final.rmse - b.biasOnly.rmse && b.globalMean != nil)
        }
    }

    /// The cold-start protocol's settings are typed; its tables stay JSON trees (per k).
    @Test func coldStartRunsKeepTheirTables() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 2, perRound: 30)
        s.data.synthetic.domains = ["a", "b", "c"]
        s.data.synthetic.minRatings = 20
        s.model.kind = .twoTower
        s.model.domainAdapters = true
        s.personalization.strategy = .global
        s.personalization.adaptation.groups = [.personal, .domain]
        s.meta.algorithm = .fomaml
        s.meta.innerGroups = [.personal, .domain]
        s.evaluation.coldStart.protocol = .newDomain
        s.evaluation.coldStart.domain = "c"
        s.evaluation.coldStart.k = [0, 1, 3]
        let summary = try await Self.run(s)
        #expect(summary.coldStartProtocol?.initialisation == "meta-learned (fomaml)")
        #expect(summary.coldStartProtocol?.adaptedGroups == "personal+domain")
        #expect(summary.coldStart?.arrayValue?.map { $0["k"]?.intValue } == [0, 1, 3])
    }

    /// A failed run's summary: the error, and NaN (`null`) for what it never measured; without
    /// a coordinator (a failure before the start) no participation either.
    @Test func aFailedRunSaysWhy() async throws {
        let s = MetricsSchemaTests.scenario(.plain)
        let after = try await Self.run(s, error: "round 2: only 3 devices finished")
        #expect(after.status == .failed && after.error == "round 2: only 3 devices finished")
        let dir = RunDirectory(path: TestSupport.temporaryDirectory("summary"))
        try CoordinatorProcess.writeSummary(dir, scenario: s, coordinator: nil, seconds: 0.5, error: "no data")
        let before = try MetricsJSON.decodeExactly(RunSummary.self, line: try dir.read("summary.json"))
        #expect(before.status == .failed && before.rounds == 0 && before.final.rmse.isNaN)
        #expect(before.participation == nil && before.bytesSent == 0)
        #expect(try dir.read("summary.json").contains("\"final\":{\"rmse\":null,\"mae\":null,\"hr@10\":null"))
    }

    /// The centralized runner writes the same schema (examples per second, no bytes).
    @Test func centralizedRunsWriteTheSchema() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 2, perRound: 24)
        s.training.mode = .centralized
        let dir = RunDirectory(path: TestSupport.temporaryDirectory("central"))
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        try CentralizedRunner.run(scenario: s, population: population, dir: dir)
        let summary = try MetricsJSON.decodeExactly(RunSummary.self, line: try dir.read("summary.json"))
        #expect(summary.mode == "centralized" && summary.rounds == 2 && summary.examplesPerSecond != nil)
        #expect(summary.bytesSent == nil && summary.participation == nil && summary.final.rmse.isFinite)
    }
}
