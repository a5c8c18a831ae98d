import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// The round strategy's hooks, without sockets: the FedAvg family's health guard, the privacy
/// stage as a wrapper (budget, release order, fail-closed ledger), and the worked example of
/// docs/extending.md run through the real coordinator.
@Suite struct StrategyTests {
    static func fedAvg(rounds: Int = 10, every: Int = 0) -> FedAvgStrategy {
        var config = ServerOptimizerConfig()
        config.optimizer = .fedavg
        config.learningRate = 1
        return FedAvgStrategy(step: FedOptStrategy(config: config, count: 2), rounds: rounds, evaluateEvery: every)
    }

    static func privacy(budget: Double = 0) -> PrivacyConfig {
        var p = PrivacyConfig()
        p.mechanism = .central
        p.noiseMultiplier = 1
        p.clip = 1
        p.noise = .reproducible
        p.budget.epsilon = budget
        return p
    }

    @Test func fedAvgStepsTheModelAndEvaluatesOnItsSchedule() throws {
        var s = Self.fedAvg(rounds: 7, every: 3)
        var model: [Float] = [1, 1]
        let report = try s.aggregateFit(.update([0.5, -0.25]), round: 1, model: &model)
        #expect(model == [1.5, 0.75] && report == FitReport())
        #expect((1...7).filter { s.evaluates(round: $0) } == [3, 6, 7])
        #expect(s.configureFit(round: 1) == .train && s.deviceClip == 0 && s.privacy == nil)
    }

    /// An unhealthy step leaves the model and the optimizer's state as they were; the third
    /// refusal in a row stops the run, and a healthy step in between resets the count.
    @Test func theHealthGuardRefusesAndThenStops() throws {
        var config = ServerOptimizerConfig()
        config.optimizer = .fedavgm
        config.learningRate = 1
        config.momentum = 0.9
        var s = FedAvgStrategy(step: FedOptStrategy(config: config, count: 2), rounds: 10, evaluateEvery: 0)
        var model: [Float] = [0, 0]
        _ = try s.aggregateFit(.update([1, 1]), round: 1, model: &model)
        let (kept, state) = (model, s.state)
        for r in 2...3 {
            let report = try s.aggregateFit(.update([.nan, 0]), round: r, model: &model)
            #expect(report.refusal?.contains("parameter 0 would be nan") == true)
            #expect(model == kept && s.state == state)
        }
        _ = try s.aggregateFit(.update([1, 1]), round: 4, model: &model)
        #expect(model != kept)
        for r in 5...6 { #expect(try s.aggregateFit(.update([2e4, 0]), round: r, model: &model).refusal != nil) }
        #expect(throws: StrategyFailure.self) { try s.aggregateFit(.update([2e4, 0]), round: 7, model: &model) }
    }

    @Test func aSumNeverReachesTheServerStepWithoutAPrivacyStage() {
        var s = Self.fedAvg()
        var model: [Float] = [0, 0]
        let sum = ReleasableSum(values: [1, 1], sampled: 2, contributors: 2, withinClip: 2)
        #expect(throws: StrategyFailure.self) { try s.aggregateFit(.sum(sum), round: 1, model: &model) }
        #expect(model == [0, 0])
    }

    /// The privacy stage noises the sum, books the round in the durable ledger, and only then
    /// lets the inner strategy step: the inner step finds the round's entry already on disk.
    @Test func thePrivacyStageBooksTheRoundBeforeTheInnerStep() throws {
        let path = NSTemporaryDirectory() + "strategy-ledger-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let state = DPState(config: Self.privacy(), rate: 0.1, population: 100, seed: 3)
        let inner = LedgerWitness(inner: Self.fedAvg(), ledgerPath: path)
        var s = DifferentialPrivacy(inner, state: state, ledger: try PrivacyLedger(path: path), audit: nil)
        #expect(s.configureFit(round: 1) == .train && s.deviceClip == 1)
        var model: [Float] = [0, 0]
        let sum = ReleasableSum(values: [2, -1], sampled: 10, contributors: 9, withinClip: 9)
        let report = try s.aggregateFit(.sum(sum), round: 1, model: &model)
        #expect(LedgerWitness.seen(path) == [1])
        #expect(report.privacy?.noiseMultiplier == 1 && report.privacy?.clip == 1)
        #expect(try #require(report.privacy?.epsilon) > 0)
        // Noised, and divided by the expected count q·N = 10, not by the 9 contributors.
        #expect(model != [0.2, -0.1] && model.allSatisfy { $0.isFinite })
        #expect(throws: StrategyFailure.self) { try s.aggregateFit(.update([1, 1]), round: 2, model: &model) }
    }

    /// A ledger that cannot be written fails the round closed: nothing reaches the model.
    @Test func aLedgerThatCannotBeWrittenReleasesNothing() throws {
        let state = DPState(config: Self.privacy(), rate: 0.1, population: 100, seed: 3)
        var s = DifferentialPrivacy(
            Self.fedAvg(),
            state: state,
            ledger: try PrivacyLedger(path: "/dev/full"),
            audit: nil
        )
        var model: [Float] = [0, 0]
        let sum = ReleasableSum(values: [2, -1], sampled: 10, contributors: 9, withinClip: 9)
        #expect(throws: StrategyFailure.self) { try s.aggregateFit(.sum(sum), round: 1, model: &model) }
        #expect(model == [0, 0])
    }

    /// The budget is checked before a round and, for distributed DP, before a sum is unmasked.
    @Test func thePrivacyStageStopsAtTheBudget() {
        let state = DPState(config: Self.privacy(budget: 1), rate: 0.1, population: 100, seed: 3)
        var s = DifferentialPrivacy(Self.fedAvg(), state: state, ledger: nil, audit: nil)
        guard case .stop(let why) = s.configureFit(round: 1) else {
            Issue.record("σ = 1 at q = 0.1 cannot fit one round in ε = 1 at δ = 1e-5")
            return
        }
        #expect(why.hasPrefix("privacy budget: round 1 would bring ε to"))
        #expect(s.refusesRelease(round: 1, noiseMultiplier: 1, survivors: 9)?.contains("not unmasked") == true)
        let roomy = DifferentialPrivacy(
            Self.fedAvg(),
            state: DPState(config: Self.privacy(budget: 1e6), rate: 0.1, population: 100, seed: 3),
            ledger: nil,
            audit: nil
        )
        #expect(roomy.refusesRelease(round: 1, noiseMultiplier: 1, survivors: 9) == nil)
    }

    /// The recipe: a privacy stage exactly when the scenario has DP.
    @Test func theRecipeWrapsThePrivacyStageOnlyWhenAsked() throws {
        var s = TestSupport.tinyScenario()
        let population = PopulationInfo(name: "x", devices: 60, items: 80, ratingMin: 1, ratingMax: 5)
        let model = ModelRegistry.make(s, population)
        #expect(Strategies.make(s, model: model, privacy: nil) is FedAvgStrategy)
        s.privacy = Self.privacy()
        let state = DPState(config: s.privacy, rate: 0.3, population: 60, seed: 1)
        #expect(Strategies.make(s, model: model, privacy: (state, nil, nil)) is DifferentialPrivacy)
    }

    /// docs/extending.md's worked example: a strategy that only changes when rounds evaluate,
    /// set on the coordinator, changes nothing else about the run.
    @Test func aStrategySetOnTheCoordinatorDecidesWhichRoundsEvaluate() async throws {
        let s = TestSupport.tinyScenario(devices: 60, rounds: 9, perRound: 20)
        let h = CoordinatorHarness(s)
        h.coordinator.strategy = EvaluateOnDoublingRounds(h.coordinator.strategy, rounds: s.training.rounds)
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        let evaluated = h.metrics.filter { $0["eval"] != nil }.compactMap { $0["round"] as? Int }
        #expect(evaluated == [1, 2, 4, 8, 9])
        #expect(h.metrics.count == 9 && h.metrics.allSatisfy { $0["finished"] as? Int == 20 })
    }
}

/// An inner strategy that records how many ledger lines were on disk when it stepped.
struct LedgerWitness: Strategy {
    var inner: FedAvgStrategy
    let ledgerPath: String
    /// Ledger lines on disk at each step, by ledger path (the strategy is a value inside the
    /// privacy stage, so it reports through a shared box).
    nonisolated(unsafe) static var seenAtStep: [String: [Int]] = [:]
    static func seen(_ path: String) -> [Int] { seenAtStep[path] ?? [] }

    mutating func configureFit(round r: Int) -> FitPlan { inner.configureFit(round: r) }
    func evaluates(round r: Int) -> Bool { inner.evaluates(round: r) }
    mutating func aggregateFit(_ aggregate: RoundAggregate, round r: Int, model: inout [Float]) throws -> FitReport {
        let text = (try? String(contentsOfFile: ledgerPath, encoding: .utf8)) ?? ""
        Self.seenAtStep[ledgerPath, default: []].append(text.split(separator: "\n").count)
        return try inner.aggregateFit(aggregate, round: r, model: &model)
    }
    var state: StrategyState {
        get { inner.state }
        set { inner.state = newValue }
    }
}

// MARK: docs/extending.md, "A round strategy"

/// Evaluates on rounds 1, 2, 4, 8, … and the last: a learning curve on a log axis for a long
/// run at the cost of log₂(rounds) evaluations. Everything else is the inner strategy's.
struct EvaluateOnDoublingRounds: Strategy {
    var inner: any Strategy
    let rounds: Int
    init(_ inner: any Strategy, rounds: Int) {
        self.inner = inner
        self.rounds = rounds
    }

    func evaluates(round r: Int) -> Bool { r == rounds || (r > 0 && r & (r - 1) == 0) }

    mutating func configureFit(round r: Int) -> FitPlan { inner.configureFit(round: r) }
    mutating func aggregateFit(_ aggregate: RoundAggregate, round r: Int, model: inout [Float]) throws -> FitReport {
        try inner.aggregateFit(aggregate, round: r, model: &model)
    }
    var state: StrategyState {
        get { inner.state }
        set { inner.state = newValue }
    }
    var privacy: DPState? {
        get { inner.privacy }
        set { inner.privacy = newValue }
    }
    var audit: CanaryAudit? { inner.audit }
}
