import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Testing

/// Early stopping end to end over the in-memory transport: the run stops when the validation
/// metric stalls and ends with the best round's model, shared and personal.
@Suite struct EarlyStoppingTests {
    func scenario(rounds: Int, earlyStopping: Bool, minDelta: Double) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: rounds, perRound: 20)
        s.data.split.validation = true
        s.evaluation.every = 2
        s.training.earlyStopping.enabled = earlyStopping
        s.training.earlyStopping.patience = 2
        s.training.earlyStopping.minDelta = minDelta
        return s
    }

    func run(_ s: Scenario) async throws -> CoordinatorHarness {
        let h = CoordinatorHarness(s)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        _ = await c0.value
        _ = await c1.value
        return h
    }

    @Test func stopsAtPatienceAndRestoresTheBestRoundsModelBytes() async throws {
        // min_delta so large that no later validation counts as better: round 2 is the best,
        // patience 2 ends the run after round 6 of 20.
        let stopped = try await run(scenario(rounds: 20, earlyStopping: true, minDelta: 100))
        #expect(stopped.coordinator.roundsCompleted == 6)
        #expect(stopped.coordinator.restoredRound == 2)
        let lines = stopped.metrics
        let validations = lines.compactMap { $0["validation"] as? [String: Any] }
        #expect(validations.count == 3)
        #expect(validations.allSatisfy { $0["best_round"] as? Int == 2 })
        #expect(lines.last?["eval_model_round"] as? Int == 2)
        // The same scenario trained for exactly 2 rounds, validation on, no early stopping:
        // the same shared model to the bit, and the same test metrics, so the devices' personal
        // parameters were put back as well (the test evaluation reads them).
        let reference = try await run(scenario(rounds: 2, earlyStopping: false, minDelta: 0))
        #expect(stopped.coordinator.model == reference.coordinator.model)
        let a = try #require(stopped.coordinator.lastEvaluation)
        let b = try #require(reference.coordinator.lastEvaluation)
        #expect(a == b)
        // And it is not the model training went on to (the test would pass vacuously otherwise).
        let lastTrained = try #require(lines.first { $0["round"] as? Int == 6 }?["eval"] as? [String: Any])
        #expect(lastTrained["rmse"] as? Double == a.rmse)
        let round4 = try #require(lines.first { $0["round"] as? Int == 4 }?["eval"] as? [String: Any])
        #expect(round4["rmse"] as? Double != a.rmse)
    }

    @Test func anImprovingRunKeepsGoingAndReportsItsBestRound() async throws {
        let h = try await run(scenario(rounds: 8, earlyStopping: true, minDelta: 0))
        let validations = h.metrics.compactMap { $0["validation"] as? [String: Any] }
        #expect(validations.count == 4)
        let values = validations.compactMap { $0["rmse"] as? Double }
        let best = try #require(values.indices.min { values[$0] < values[$1] })
        #expect(validations.last?["best_round"] as? Int == 2 * (best + 1))
        #expect(h.coordinator.roundsCompleted == 8 || h.coordinator.restoredRound != nil)
        // Validation reports hold validation counts: about a tenth of training, never the test part.
        let test = try #require(h.metrics.last?["eval"] as? [String: Any])
        let v = try #require(validations.last)
        #expect((v["ratings"] as? Int ?? 0) > 0 && (v["ratings"] as? Int ?? 0) < (test["ratings"] as? Int ?? 0))
    }
}
