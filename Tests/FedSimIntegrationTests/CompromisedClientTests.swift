import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// A compromised client with a valid token (`lie` fault): lying weights, forged evaluation
/// reports, infinite losses and absurd counts. The coordinator refuses each, and the run ends
/// where a fault-free one does; a model that would explode is never stepped to.
@Suite struct CompromisedClientTests {
    static func scenario(_ rule: TrainingConfig.Aggregation) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 8, perRound: 30)
        s.training.aggregation = rule == .normBounded ? .normBounded(bound: 0.5) : AggregationRule(rule)
        return s
    }

    static func run(_ s: Scenario) async throws -> (metrics: [[String: Any]], model: [Float]) {
        let h = CoordinatorHarness(s)
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        return (h.metrics, h.coordinator.model)
    }

    static func finalRMSE(_ m: [[String: Any]]) -> Double {
        (m.last?["eval"] as? [String: Any])?["rmse"] as? Double ?? .nan
    }

    /// One lying device of 30 a round (process 1's first), every round, under each rule: on
    /// the old coordinator its weights of 10⁻⁶ drove the model to ~1e14 (or to NaN) and its
    /// forged report of 10⁹ error-free ratings set the run's RMSE near 0. Now its update and
    /// its report are refused each round, and the final RMSE is within 0.02 of a fault-free run.
    @Test(arguments: [TrainingConfig.Aggregation.mean, .median, .trimmedMean, .normBounded])
    func aLyingDeviceIsRefusedUnderEveryRule(rule: TrainingConfig.Aggregation) async throws {
        let clean = try await Self.run(Self.scenario(rule))
        var s = Self.scenario(rule)
        var lie = FaultConfig()
        lie.kind = .lie
        lie.process = 1
        lie.round = 1
        lie.scale = 1e6  // weights of 10⁻⁶ of the honest ones
        s.runtime.faults = [lie]
        let hostile = try await Self.run(s)
        #expect(hostile.model.allSatisfy { $0.isFinite && abs($0) < 100 }, "max |θ| \(hostile.model.map(abs).max()!)")
        let (a, b) = (Self.finalRMSE(clean.metrics), Self.finalRMSE(hostile.metrics))
        #expect(abs(a - b) <= 0.02, "fault-free RMSE \(a), with a lying device \(b)")
        #expect(hostile.metrics.count == 8)
        #expect(hostile.metrics.allSatisfy { ($0["rejected"] as? Int ?? 0) >= 1 }, "every round refuses the liar")
        #expect(hostile.metrics.allSatisfy { ($0["train_loss"] as? Double)?.isFinite == true })
        let eval = hostile.metrics.last?["eval"] as? [String: Any]
        #expect(eval?["refused_reports"] as? Int == 1)
        #expect((eval?["ratings"] as? Int ?? .max) < 100_000)
    }

    /// A server step that would take the model past `ModelHealth.maxMagnitude` is refused (the
    /// model stays as it was), recorded in the round's metrics, and three in a row stop the run
    /// with that reason. A model whose local training always says "μ up by 1", under a server
    /// learning rate of 1000, passes 10⁴ in round 10; on the old coordinator the run completed
    /// with μ ≈ 16,000.
    @Test func anExplodingModelIsNeverStepped() async throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 16, perRound: 20)
        s.training.server.learningRate = 1000
        let h = CoordinatorHarness(s) { DriftingModel($0) }
        let clients = [h.client(0), h.client(1)]
        var failure: String?
        do { try await h.coordinator.run() } catch { failure = "\(error)" }
        await h.coordinator.abort(reason: "test over")
        for c in clients { _ = await c.value }
        #expect(failure?.contains("refused 3 rounds in a row") == true, "\(failure ?? "the run completed")")
        #expect(h.coordinator.model.allSatisfy { $0.isFinite && abs($0) <= ModelHealth.maxMagnitude })
        let refused = h.metrics.filter { $0["step_refused"] != nil }
        #expect(refused.count == 2, "the third refusal stops the run before its line: \(refused.count)")
        #expect(h.metrics.count == 11)
    }
}

/// A broken model (not a hostile device): the bias-only model, except that its local training
/// always reports the global bias up by 1, with honest weights.
struct DriftingModel: RecommenderModel {
    let base: BiasOnlyModel
    init(_ context: ModelContext) { base = BiasOnlyModel(context) }
    static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes { BiasOnlyModel.privacyNotes(scenario) }
    var layout: ParameterLayout { base.layout }
    var personalWidth: Int { base.personalWidth }
    var task: ModelTask { base.task }
    var itemRowWidth: Int { base.itemRowWidth }
    func initialShared() -> [Float] { base.initialShared() }
    func initialPersonal(device: Int) -> [Float] { base.initialPersonal(device: device) }
    func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        var u = base.train(device, shared: shared, personal: &personal, round: round, rng: &rng)
        u.weightedDelta[base.items] = u.weights[base.items]
        return u
    }
    func evaluate(_ c: EvaluationContext) -> DeviceEvaluation { base.evaluate(c) }
}
