import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// SVD++ (`model.kind: svdpp`) through the registry, the real coordinator and client loops.
@Suite struct SVDPPRuntimeTests {
    static func scenario(rounds: Int = 3) -> Scenario {
        var s = SecureAggregationRuntimeTests.scenario(.none, rounds: rounds)
        s.model.kind = .svdpp
        s.training.weighting = .perItem
        s.training.itemShrinkage = 2
        s.training.local.learningRate = 0.05
        return s
    }

    /// The implicit rows of the items in `rows` differ between `a` and `b`.
    static func implicitMoved(_ a: [Float], _ b: [Float], layout: ParameterLayout) -> Bool {
        let t = layout.tensors.firstIndex { $0.name == "implicit_embedding" }!
        let range = layout.offsets[t]..<(layout.offsets[t] + layout.tensors[t].count)
        return a[range] != b[range]
    }

    /// Trains through the runtime: RMSE falls below the in-run global mean, and the y rows move.
    @Test func trainsThroughTheRuntimeAndBeatsTheGlobalMean() async throws {
        var s = Self.scenario(rounds: 8)
        s.data.synthetic.devices = 120
        s.training.devicesPerRound = 60
        s.evaluation.every = 1
        let h = CoordinatorHarness(s)
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        #expect(h.coordinator.model.count == 2 * h.info.items * s.model.dim + h.info.items + 1)
        let rmse = h.metrics.map { ($0["eval"] as! [String: Any])["rmse"] as! Double }
        let baselines = try #require((h.metrics.last!["eval"] as! [String: Any])["baselines"] as? [String: Any])
        let mean = try #require((baselines["global_mean"] as? [String: Any])?["rmse"] as? Double)
        #expect(rmse.last! < rmse.first! - 0.01, "rmse \(rmse)")
        #expect(rmse.last! < mean, "svdpp \(rmse.last!) vs the in-run global mean \(mean)")
        let initial = h.coordinator.recommender.initialShared()
        #expect(Self.implicitMoved(initial, h.coordinator.model, layout: h.coordinator.layout))
    }

    /// Through SecAgg+, y included: the same model as the plain run to quantization error, and
    /// no plain update ever reaches the coordinator.
    @Test func throughSecAggMatchesPlain() async throws {
        let plain = try await SecureAggregationRuntimeTests.run(Self.scenario())
        var s = Self.scenario()
        s.secureAggregation.protocol = .secaggPlus
        let secure = try await SecureAggregationRuntimeTests.run(s)
        let worst = zip(plain.coordinator.model, secure.coordinator.model).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest parameter difference \(worst)")
        let initial = plain.coordinator.recommender.initialShared()
        #expect(Self.implicitMoved(initial, plain.coordinator.model, layout: plain.coordinator.layout))
        #expect(!secure.recorder.toCoordinator.contains { if case .update = $0 { return true } else { return false } })
    }

    /// Sparse rows and central DP are layout-driven: the sparse run matches the dense one
    /// exactly (an update has no weight outside the device's rows, y rows included), and
    /// noise reaches the y rows of items nobody in the round rated.
    @Test func sparseRowsAndCentralDPCoverTheImplicitRows() async throws {
        let dense = try await SecureAggregationRuntimeTests.run(Self.scenario(rounds: 2))
        var sparse = Self.scenario(rounds: 2)
        sparse.compression.stages = [.sparseRows]
        let sparseRun = try await SecureAggregationRuntimeTests.run(sparse)
        #expect(sparseRun.coordinator.model == dense.coordinator.model)

        var dp = Self.scenario(rounds: 2)
        dp.training.weighting = .uniform
        dp.training.itemShrinkage = 0
        dp.privacy.mechanism = .central
        dp.privacy.noiseMultiplier = 1
        dp.privacy.noise = .reproducible
        let noisy = try await SecureAggregationRuntimeTests.run(dp)
        var clean = dp
        clean.privacy.mechanism = .none
        let cleanRun = try await SecureAggregationRuntimeTests.run(clean)
        let layout = noisy.coordinator.layout
        #expect(Self.implicitMoved(noisy.coordinator.model, cleanRun.coordinator.model, layout: layout))
    }

    /// N(u) is the history an evaluation excludes, never the scored part: moving the y rows of
    /// the scored items changes nothing, moving a history item's y row changes the error.
    @Test func evaluationReadsTheImplicitRowsOfTheHistoryOnly() throws {
        var s = Self.scenario()
        s.data.split.validation = true
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let model = ModelRegistry.make(ModelContext(scenario: s, population: population, coldSplit: nil))
        let shape = SVDPPShape(items: population.itemCount, dim: s.model.dim)
        let splitter = Splitter(s.data.split, seed: Seeds.derive(s.seed, "split"))
        let data = try #require(
            (0..<population.deviceCount).lazy.map { population.deviceData($0, split: splitter) }.first {
                $0.test.count > 0 && $0.validation.count > 0
            }
        )
        let evaluator = Evaluator(k: 10, relevanceThreshold: 4, ranking: false, scale: population.ratingScale)
        let personal = model.initialPersonal(device: data.device)
        func error(_ shared: [Float], _ phase: EvaluationPhase) -> Double {
            model.evaluate(
                EvaluationContext(
                    device: data.device,
                    data: data.scored(on: phase),
                    shared: shared,
                    personal: personal,
                    evaluator: evaluator
                )
            ).squaredError
        }
        let base = model.initialShared()
        func moved(_ items: [Int32]) -> [Float] {
            var v = base
            for i in items {
                for f in 0..<s.model.dim { v[shape.implicitBase + Int(i) * s.model.dim + f] += 3 }
            }
            return v
        }
        #expect(error(moved(data.test.items), .test) == error(base, .test))
        #expect(error(moved(data.validation.items), .validation) == error(base, .validation))
        #expect(error(moved([data.train.items[0]]), .test) != error(base, .test))
        // The validation part is known history when the test part is scored.
        #expect(error(moved(data.validation.items), .test) != error(base, .test))
    }

    @Test func optionsThatDoNotApplyAreRefusedAtTheirKey() {
        func errors(_ yaml: String) -> [ScenarioError] {
            TestSupport.scenarioErrors("name: t\nmodel: {kind: svdpp}\n" + yaml)
        }
        #expect(errors("").isEmpty)
        let adam = errors("training: {local: {optimizer: adam}}\n")
        #expect(adam.contains { $0.keyPath == "training.local.optimizer" && $0.message.contains("sgd") }, "\(adam)")
        let bpr = errors("training: {local: {loss: bpr}}\n")
        #expect(bpr.contains { $0.keyPath == "training.local.loss" && $0.message.contains("needs model.kind: mf") })
        let central = errors("training: {mode: centralized}\n")
        #expect(central.contains { $0.keyPath == "training.mode" && $0.message.contains("svdpp runs federated only") })
        let cold = errors("evaluation: {cold_start: {protocol: new_users}}\n")
        #expect(cold.contains { $0.keyPath == "evaluation.cold_start.protocol" }, "\(cold)")
        let schedule = errors("training: {local: {learning_rate_schedule: exponential, learning_rate_decay: 0.99}}\n")
        #expect(schedule.isEmpty, "\(schedule)")
    }
}
