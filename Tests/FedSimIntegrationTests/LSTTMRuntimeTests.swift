import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import Testing

/// LSTTM end to end over the in-memory transport: the temporal protocol's per-period AUC,
/// and the long-term module's delayed federation.
@Suite struct LSTTMRuntimeTests {
    static func scenario(rounds: Int = 3, delay: Int = 0) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: rounds, perRound: 20)
        s.data.synthetic.minRatings = 24
        s.data.synthetic.drift.periods = 6
        s.data.synthetic.drift.externalDelayPeriods = 1
        s.data.synthetic.drift.topics = .personal
        s.model.kind = .lsttm
        s.model.dim = 4
        s.model.hidden = 4
        s.model.lsttm.neighbours = 3
        s.model.lsttm.longTermEvery = 1
        s.model.lsttm.longTermDelay = delay
        s.model.lsttm.longTermSteps = 3
        s.training.local.epochs = 1
        s.personalization.strategy = .global
        s.personalization.adaptation.groups = [.shortTerm, .fusion]
        s.personalization.adaptation.steps = 1
        s.meta.periods = 3
        s.evaluation.coldStart.protocol = .temporal
        s.evaluation.coldStart.trainFraction = 0.5
        s.evaluation.coldStart.periods = 3
        s.evaluation.localOnlyEpochs = 0
        return s
    }

    func run(_ s: Scenario) async throws -> CoordinatorTests.Harness {
        let h = CoordinatorTests.Harness(s)
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        return h
    }

    /// Every period is scored by AUC over interactions (a click model: no RMSE), with
    /// temporal MAML on, and the thirds pool them.
    @Test func temporalProtocolScoresEveryPeriod() async throws {
        var s = Self.scenario()
        s.meta.algorithm = .fomaml
        s.meta.task = .temporal
        s.meta.innerGroups = [.shortTerm, .fusion]
        s.meta.episodes = 2
        let h = try await run(s)
        let rows = h.coordinator.coldStartResults.map {
            try! JSONSerialization.jsonObject(with: Data($0.text.utf8)) as! [String: Any]
        }
        #expect(rows.map { $0["period"] as? Int } == [1, 2, 3])
        for r in rows {
            #expect((r["interactions"] as? Int ?? 0) > 0, "\(r)")
            #expect((r["auc"] as? Double).map { $0 > 0 && $0 < 1 } == true, "\(r)")
            #expect(r["rmse"] is NSNull || r["rmse"] == nil, "\(r)")
        }
    }

    /// The long-term module's update of round r reaches the model at round r + delay: with a
    /// delay longer than the run it never arrives, while the click model trains; with a delay
    /// of 2 in 3 rounds, round 1's update has arrived.
    @Test(arguments: [(0, true), (2, true), (3, false)])
    func longTermUpdatesArriveLate(delay: Int, arrived: Bool) async throws {
        let s = Self.scenario(rounds: 3, delay: delay)
        let h = try await run(s)
        let info = PopulationInfo(h.population)
        let layout = ModelRegistry.make(s, info).layout
        let initial = ModelRegistry.make(s, info).initialShared()
        let lt =
            layout.range(of: "long_term.item_embedding")!
            .lowerBound..<layout.range(of: "long_term.projection")!.upperBound
        let click = layout.range(of: "scorer.mlp_hidden")!
        #expect(Array(h.coordinator.model[click]) != Array(initial[click]))
        #expect((Array(h.coordinator.model[lt]) != Array(initial[lt])) == arrived, "delay \(delay)")
    }
}
