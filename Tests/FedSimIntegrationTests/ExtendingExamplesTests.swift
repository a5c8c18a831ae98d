import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

// The worked examples of docs/extending.md, compiled and run by the test suite: a new model is
// one type conforming to `RecommenderModel`; a new sampler is one type conforming to
// `ClientSampler`. Both run here through the real coordinator and client loops.

/// A bias-only recommender, r̂(u, i) = μ + b_u + b_i: item biases and μ are shared (item rows
/// per-row weighted, so an item is averaged over the devices that rated it), b_u is personal.
struct BiasOnlyModel: RecommenderModel {
    let items: Int
    let midpoint: Float
    let local: LocalTrainingConfig

    init(_ context: ModelContext) {
        items = context.info.items
        midpoint = context.ratingMidpoint
        local = context.scenario.training.local
    }

    static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(released: "item biases, global bias", personal: "user bias")
    }

    var layout: ParameterLayout {
        ParameterLayout([
            TensorSpec(name: "item_bias", rows: items, columns: 1, group: .shared, weighting: .perRow),
            TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared, weighting: .whole),
        ])
    }
    var personalWidth: Int { 1 }
    var task: ModelTask { .rating }
    var itemRowWidth: Int { 1 }

    func initialShared() -> [Float] { [Float](repeating: 0, count: items) + [midpoint] }
    func initialPersonal(device: Int) -> [Float] { [0] }

    /// SGD on ½(r̂ − r)² + (λ/2)(b_u² + b_i²), one rating at a time.
    func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        let data = device.train
        let n = data.count
        var bi: [Int32: Float] = [:]
        for i in data.items { bi[i] = shared[Int(i)] }
        var mu = shared[items]
        var bu = personal[0]
        let lr = Float(local.learningRate)
        let l2 = Float(local.l2)
        var order = Array(0..<n)
        var loss = 0.0
        for _ in 0..<local.epochs {
            for k in stride(from: n - 1, to: 0, by: -1) { order.swapAt(k, rng.nextBounded(k + 1)) }
            loss = 0
            for j in order {
                let i = data.items[j]
                let e = mu + bu + bi[i]! - data.ratings[j]
                loss += Double(e * e / 2)
                bi[i]! -= lr * (e + l2 * bi[i]!)
                bu -= lr * (e + l2 * bu)
                mu -= lr * e
            }
        }
        personal[0] = bu
        var delta = [Float](repeating: 0, count: items + 1)
        var weights = [Float](repeating: 0, count: items + 1)
        for i in data.items { weights[Int(i)] += 1 }
        for (i, b) in bi { delta[Int(i)] = weights[Int(i)] * (b - shared[Int(i)]) }
        weights[items] = Float(n)
        delta[items] = Float(n) * (mu - shared[items])
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: n, trainLoss: n > 0 ? loss / Double(n) : 0)
    }

    func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let mu = c.shared[items]
        let bu = c.personal[0]
        return c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            items: items,
            dim: itemRowWidth,
            train: c.data.train,
            test: c.data.test
        ) { mu + bu + c.shared[$0] }
    }
}

/// Power-of-choice (Cho et al. 2022): draw `candidates` devices uniformly among the eligible,
/// keep the `target` with the highest training loss last seen (never seen: first, so every
/// device is explored). The loss comes from `observe`, after each round.
struct PowerOfChoiceSampler: ClientSampler {
    let population: Int
    let candidates: Int
    var lastLoss: [Int: Double] = [:]

    func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int] {
        let pool = UniformSampler(population: population).sample(
            SamplingRequest(
                target: max(candidates, request.target),
                allEligible: request.allEligible,
                eligible: request.eligible
            ),
            rng: &rng
        )
        let ranked = pool.sorted { (lastLoss[$0] ?? .infinity, $1) > (lastLoss[$1] ?? .infinity, $0) }
        return Array(ranked.prefix(request.target)).sorted()
    }

    mutating func observe(_ round: RoundFeedback) {
        for (d, loss) in round.trainLoss { lastLoss[d] = loss }
    }
}

@Suite struct ExtendingExamplesTests {
    @Test func aModelDefinedOutsideTheRegistryTrainsThroughTheRealRuntime() async throws {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 8, perRound: 60)
        s.evaluation.every = 1
        s.training.local.learningRate = 0.05
        let h = CoordinatorHarness(s) { BiasOnlyModel($0) }
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        #expect(h.coordinator.model.count == h.info.items + 1)
        let rmse = h.metrics.map { ($0["eval"] as! [String: Any])["rmse"] as! Double }
        let baselines = try #require((h.metrics.last!["eval"] as! [String: Any])["baselines"] as? [String: Any])
        let mean = try #require((baselines["global_mean"] as? [String: Any])?["rmse"] as? Double)
        #expect(rmse.last! < rmse.first! - 0.01, "rmse \(rmse)")
        #expect(rmse.last! < mean, "bias-only \(rmse.last!) vs the in-run global mean \(mean)")
    }

    @Test func powerOfChoicePrefersTheDevicesWithTheHighestLoss() {
        var p = PowerOfChoiceSampler(population: 100, candidates: 30)
        p.observe(
            RoundFeedback(
                round: 1,
                selected: Array(0..<100),
                finished: Array(0..<100),
                trainLoss: Dictionary(uniqueKeysWithValues: (0..<100).map { ($0, Double($0)) })
            )
        )
        var rng = Seeds.rng(1, "sample", 2)
        let chosen = p.sample(SamplingRequest(target: 10, allEligible: true) { _ in true }, rng: &rng)
        var again = Seeds.rng(1, "sample", 2)
        let pool = UniformSampler(population: 100).sample(
            SamplingRequest(target: 30, allEligible: true) { _ in true },
            rng: &again
        )
        #expect(chosen == Array(pool.suffix(10)))  // loss = device index: the 10 largest candidates
    }

    @Test func aSamplerSetOnTheCoordinatorSeesEachRoundsLosses() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 20)
        s.training.local.epochs = 1
        let h = CoordinatorHarness(s)
        h.coordinator.sampler = PowerOfChoiceSampler(population: 80, candidates: 40)
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        let poc = try #require(h.coordinator.sampler as? PowerOfChoiceSampler)
        #expect(poc.lastLoss.count >= 20, "losses of \(poc.lastLoss.count) devices observed")
        #expect(h.metrics.allSatisfy { $0["finished"] as? Int == 20 })
    }
}

@Suite struct ServerStrategyTests {
    /// DelayedGroups lands round r's slice with round r + D's update, and its held-back
    /// updates survive a state round trip (what a checkpoint and a resume do).
    @Test func delayedGroupsHoldTheSliceBackAndCheckpoint() {
        var config = ServerOptimizerConfig()
        config.optimizer = .fedavg
        config.learningRate = 1
        var s = DelayedGroups(FedOptStrategy(config: config, count: 4), delayed: DelayedUpdate(range: 2..<4, delay: 2))
        var model: [Float] = [0, 0, 0, 0]
        s.aggregateFit([1, 1, 10, 10], round: 1, model: &model)
        #expect(model == [1, 1, 0, 0])
        var resumed = DelayedGroups(
            FedOptStrategy(config: config, count: 4),
            delayed: DelayedUpdate(range: 2..<4, delay: 2)
        )
        resumed.state = s.state
        s.aggregateFit([1, 1, 20, 20], round: 2, model: &model)
        #expect(model == [2, 2, 0, 0])
        var other = model
        s.aggregateFit([0, 0, 30, 30], round: 3, model: &model)
        #expect(model == [2, 2, 10, 10])  // round 1's slice
        resumed.aggregateFit([1, 1, 20, 20], round: 2, model: &other)
        resumed.aggregateFit([0, 0, 30, 30], round: 3, model: &other)
        #expect(other == [3, 3, 10, 10])
    }

    /// A learning-rate schedule scales the step each optimizer makes, not Δ: with FedAdam
    /// (which normalises Δ) round r's step is γ^(r−1) times the unscheduled one.
    @Test(arguments: [ServerOptimizerConfig.Kind.fedavg, .fedadam])
    func decayedLearningRateScalesTheStep(optimizer: ServerOptimizerConfig.Kind) {
        var config = ServerOptimizerConfig()
        config.optimizer = optimizer
        config.learningRate = optimizer == .fedavg ? 1 : 0.1
        var plain: any ServerStrategy = FedOptStrategy(config: config, count: 2)
        var decayed = DecayedLearningRate(FedOptStrategy(config: config, count: 2), decay: 0.5)
        var a: [Float] = [0, 0]
        var b: [Float] = [0, 0]
        for r in 1...3 {
            let (a0, b0) = (a, b)
            plain.aggregateFit([2, -1], round: r, model: &a)
            decayed.aggregateFit([2, -1], round: r, model: &b)
            for i in 0..<2 {
                let expected = Float(pow(0.5, Double(r - 1))) * (a[i] - a0[i])
                #expect(abs((b[i] - b0[i]) - expected) < 1e-6, "round \(r): \(b[i] - b0[i]) vs \(expected)")
            }
        }
        var s = TestSupport.tinyScenario()
        #expect(
            !(ServerStrategies.make(
                s,
                model: ModelRegistry.make(
                    s,
                    PopulationInfo(name: "x", devices: 1, items: 3, ratingMin: 1, ratingMax: 5)
                )
            ) is DecayedLearningRate)
        )
        s.training.server.learningRateDecay = 0.9
        #expect(
            ServerStrategies.make(
                s,
                model: ModelRegistry.make(
                    s,
                    PopulationInfo(name: "x", devices: 1, items: 3, ratingMin: 1, ratingMax: 5)
                )
            ) is DecayedLearningRate
        )
    }
}
