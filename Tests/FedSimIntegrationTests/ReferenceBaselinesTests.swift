import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// The bias-only reference against its closed form, the random full ranking against counting,
/// and both in a run's evaluations and final.baselines.
@Suite struct ReferenceBaselinesTests {
    @Test func biasOnlyMatchesTheClosedFormOnATinyDataset() {
        // u0 rated i0 = 5, i1 = 3; u1 rated i0 = 4, i2 = 1. μ = 3.25.
        let u0 = Interactions(items: [0, 1], ratings: [5, 3], timestamps: [0, 0])
        let u1 = Interactions(items: [0, 2], ratings: [4, 1], timestamps: [0, 0])
        let b = BiasBaseline.fit(train: [u0, u1], items: 4, itemShrinkage: 1)
        #expect(b.mu == 3.25)
        #expect(abs(b.itemBias[0] - 2.5 / 3) < 1e-12)  // (1.75 + 0.75) / (1 + 2)
        #expect(b.itemBias[1] == -0.125 && b.itemBias[2] == -1.125)  // one rating each: halved
        #expect(b.itemBias[3] == 0)  // never rated: no bias
        let bu0 = b.userBias(u0, userShrinkage: 2)
        #expect(abs(bu0 - ((5 - 3.25 - 2.5 / 3) + (3 - 3.25 + 0.125)) / 4) < 1e-12)
        // λ = 0 is the unshrunk mean offset.
        #expect(BiasBaseline.fit(train: [u0, u1], items: 4, itemShrinkage: 0).itemBias[2] == -2.25)
    }

    @Test func randomFullRankingIsTheExactExpectation() {
        // 5 candidates, 2 relevant, K = 2: HR = 1 − C(3,2)/C(5,2) = 0.7; by enumeration of all
        // orders, E[DCG@2] = (2/5)(1 + 1/log2 3), IDCG = 1 + 1/log2 3, so NDCG = 0.4.
        let evaluator = Evaluator(k: 2, relevanceThreshold: 4, ranking: true, scale: 1...5)
        let train = Interactions(items: [5], ratings: [3], timestamps: [0])
        let test = Interactions(items: [0, 1, 2], ratings: [5, 4, 2], timestamps: [0, 0, 0])
        let d = DeviceData(device: 0, train: train, test: test, features: [])
        let r = ReferenceBaselines.randomFullRanking(d, items: 6, evaluator: evaluator)
        #expect(abs(r.hit - 0.7) < 1e-12)
        #expect(abs(r.ndcg - 0.4) < 1e-12)
    }

    @Test func aRunCarriesBiasOnlyInItsEvaluationsAndFinalBaselines() async throws {
        var s = TestSupport.tinyScenario(devices: 40, rounds: 2, perRound: 10)
        s.evaluation.biasBaseline.enabled = true
        s.evaluation.every = 1
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let ref = ReferenceBaselines.measure(s, population: population)
        #expect(ref.devices > 0 && ref.biasOnly.rmse.isFinite && ref.random.hit > 0 && ref.random.hit < 1)
        // Bias-only beats the global mean on a population with user and item effects.
        let splitter = Splitter(s.data.split, seed: Seeds.derive(s.seed, "split"))
        var train: [Float] = []
        var test: [Float] = []
        for d in 0..<population.deviceCount {
            let x = population.deviceData(d, split: splitter)
            train += x.train.ratings
            test += x.test.ratings
        }
        let mu = train.reduce(0.0) { $0 + Double($1) } / Double(train.count)
        let meanRMSE = (test.reduce(0.0) { $0 + pow(Double($1) - mu, 2) } / Double(test.count)).squareRoot()
        #expect(ref.biasOnly.rmse < meanRMSE)
        let dir = RunDirectory(path: TestSupport.temporaryDirectory("bias-baseline"))
        try ref.write(to: dir)
        let back = try #require(ReferenceBaselines.read(from: dir))
        #expect(back.biasOnly == ref.biasOnly && back.random.hit == ref.random.hit && back.devices == ref.devices)
        #expect(back.random.rmse.isNaN)  // NaN survives the file (random has no rating error)
        let h = CoordinatorHarness(s)
        h.coordinator.referenceBaselines = ref
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        _ = await c0.value
        _ = await c1.value
        let last = try #require((h.metrics.last?["eval"] as? [String: Any])?["baselines"] as? [String: Any])
        #expect((last["bias_only"] as? [String: Any])?["rmse"] as? Double == ref.biasOnly.rmse)
        guard case .fullRanking(let final)? = h.coordinator.finalBaselines() else {
            Issue.record("final.baselines is not the full-ranking protocol")
            return
        }
        let model = try #require(h.coordinator.lastEvaluation)
        #expect(abs(final.margin.rmseOverBiasOnly - (model.rmse - ref.biasOnly.rmse)) < 1e-12)
        #expect(["bias_only", "popularity", "random"].contains(final.margin.rankingOver))
    }
}
