import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

@Suite struct MFGradientTests {
    /// A random model and batch in Double precision; users and items repeat inside the batch
    /// so the test covers accumulation into shared rows.
    func fixture(seed: UInt64) -> (MFBlock<Double>, MFBatch) {
        var rng = Xoshiro256(seed: seed)
        var m = MFBlock<Double>(dim: 5, users: 3, items: 4)
        for i in m.user.indices { m.user[i] = rng.nextGaussian() * 0.5 }
        for i in m.item.indices { m.item[i] = rng.nextGaussian() * 0.5 }
        for i in m.userBias.indices { m.userBias[i] = rng.nextGaussian() * 0.3 }
        for i in m.itemBias.indices { m.itemBias[i] = rng.nextGaussian() * 0.3 }
        m.globalBias = 3.2
        let users: [Int32] = [0, 1, 2, 0, 1, 0, 2]
        let items: [Int32] = [0, 1, 3, 1, 1, 2, 0]
        let ratings: [Float] = [4, 3, 5, 2, 1, 4, 3]
        return (m, MFBatch(users: users, items: items, ratings: ratings))
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func gradientMatchesFiniteDifferences(seed: UInt64) {
        let (m, b) = fixture(seed: seed)
        let l2 = 0.07
        let range = 0..<b.count
        var g = MFBlock<Double>(dim: m.dim, users: m.users, items: m.items)
        _ = MFKernel.accumulateGradient(m, b, range: range, l2: l2, into: &g)
        var check = GradientChecker(at: m, gradient: g) { MFKernel.loss($0, b, range: range, l2: l2) }
        check.field(\.user, "user")
        check.field(\.item, "item")
        check.field(\.userBias, "user bias")
        check.field(\.itemBias, "item bias")
        check.field(\.globalBias, "global bias")
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
    }

    @Test func gradientOnSubrangeTouchesOnlyItsRows() {
        let (m, b) = fixture(seed: 4)
        var g = MFBlock<Double>(dim: m.dim, users: m.users, items: m.items)
        _ = MFKernel.accumulateGradient(m, b, range: 0..<1, l2: 0.1, into: &g)  // user 0, item 0 only
        #expect(g.item[(1 * m.dim)..<(4 * m.dim)].allSatisfy { $0 == 0 })
        #expect(g.user[(1 * m.dim)...].allSatisfy { $0 == 0 })
        #expect(g.item[0..<m.dim].contains { $0 != 0 })
    }

    func trainer(
        _ optimizer: LocalTrainingConfig.Optimizer,
        weighting: TrainingConfig.Weighting = .perItem
    ) -> LocalTrainer {
        var c = LocalTrainingConfig()
        c.optimizer = optimizer
        c.epochs = 20
        c.learningRate = optimizer == .adam ? 0.02 : 0.05
        c.batchSize = 2
        return LocalTrainer(config: c, weighting: weighting, items: 6, dim: 3)
    }

    func deviceData() -> Interactions {
        Interactions(items: [0, 2, 2, 5], ratings: [5, 1, 2, 4], timestamps: [1, 2, 3, 4])
    }

    @Test(arguments: [LocalTrainingConfig.Optimizer.sgd, .adam])
    func localTrainingReducesLossAndTouchesOnlyRatedItems(optimizer: LocalTrainingConfig.Optimizer) {
        let t = trainer(optimizer)
        var shared = MatrixFactorization.initialShared(items: 6, dim: 3, initStd: 0.1, globalBias: 3, seed: 1)
        var personal = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 1, device: 0)
        var rng = Xoshiro256(seed: 9)
        let data = deviceData()
        let u = t.train(shared: shared, personal: &personal, data: data, rng: &rng)
        #expect(u.examples == 4)
        // Untouched items (1, 3, 4) carry neither delta nor weight: no dilution.
        for item in [1, 3, 4] {
            #expect(u.weightedDelta[(item * 3)..<(item * 3 + 3)].allSatisfy { $0 == 0 })
            #expect(u.weights[item] == 0 && u.weights[6 + item] == 0)
        }
        // Rated items are weighted by their count on this device (item 2 twice).
        #expect(u.weights[0] == 1 && u.weights[2] == 2 && u.weights[5] == 1)
        #expect(u.weights[12] == 4)  // global bias: example count
        // Applying the (unweighted) delta reproduces the locally trained model, whose loss is lower.
        let slots = MatrixFactorization.sharedLayout(items: 6, dim: 3).elementWeightSlots()
        let before = squaredError(
            shared,
            personalInit: MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 1, device: 0),
            data
        )
        for e in shared.indices where u.weights[Int(slots[e])] > 0 {
            shared[e] += u.weightedDelta[e] / u.weights[Int(slots[e])]
        }
        let after = squaredError(shared, personalInit: personal, data)
        #expect(after < before * 0.5, "loss \(before) -> \(after)")
    }

    func squaredError(_ shared: [Float], personalInit p: [Float], _ data: Interactions) -> Float {
        var s: Float = 0
        for j in 0..<data.count {
            let i = Int(data.items[j])
            var pred = shared[6 * 3 + 6] + p[3] + shared[6 * 3 + i]
            for f in 0..<3 { pred += p[f] * shared[i * 3 + f] }
            s += (pred - data.ratings[j]) * (pred - data.ratings[j])
        }
        return s
    }

    @Test func examplesWeightingWeighsEveryElement() {
        let t = trainer(.sgd, weighting: .examples)
        let shared = MatrixFactorization.initialShared(items: 6, dim: 3, initStd: 0.1, globalBias: 3, seed: 1)
        var personal = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 1, device: 0)
        var rng = Xoshiro256(seed: 9)
        let u = t.train(shared: shared, personal: &personal, data: deviceData(), rng: &rng)
        #expect(u.weights.allSatisfy { $0 == 4 })
    }

    @Test func trainingIsDeterministicPerSeed() {
        let t = trainer(.sgd)
        let shared = MatrixFactorization.initialShared(items: 6, dim: 3, initStd: 0.1, globalBias: 3, seed: 1)
        func once(_ seed: UInt64) -> LocalUpdate {
            var p = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 1, device: 0)
            var rng = Xoshiro256(seed: seed)
            return t.train(shared: shared, personal: &p, data: deviceData(), rng: &rng)
        }
        #expect(once(5) == once(5))
        #expect(once(5) != once(6))
    }
}

@Suite struct EvaluatorTests {
    @Test func rankingMetricsOnAHandCheckedExample() {
        // 4 items, dim 1, user vector 1: scores = item embedding (biases 0, μ 0).
        // Scores: item0 0.9, item1 0.8, item2 0.1, item3 0.5. Item 0 is in training (excluded).
        let shared: [Float] = [0.9, 0.8, 0.1, 0.5, 0, 0, 0, 0, 0]
        let personal: [Float] = [1, 0]
        let train = Interactions(items: [0], ratings: [5], timestamps: [0])
        let test = Interactions(items: [3, 2], ratings: [5, 2], timestamps: [1, 2])
        let ev = Evaluator(k: 2, relevanceThreshold: 4, ranking: true, scale: 1...5)
        let r = ev.evaluate(device: 0, shared: shared, personal: personal, items: 4, dim: 1, train: train, test: test)
        // Ranking of candidates {1, 2, 3}: 1 (0.8), 3 (0.5), 2 (0.1). Relevant: {3} at rank 2.
        #expect(r.ranked && r.hit == 1)
        #expect(abs(r.ndcg - 1 / _log2(3)) < 1e-12)
        // Predictions clamp to [1, 5]: 0.5 -> 1 (err -4), 0.1 -> 1 (err -1).
        #expect(r.count == 2 && abs(r.squaredError - 17) < 1e-9 && abs(r.absoluteError - 5) < 1e-9)
    }

    @Test func summaryIsExampleWeightedAndOrderIndependent() {
        let a = DeviceEvaluation(device: 1, count: 1, squaredError: 4, absoluteError: 2, ranked: true, hit: 1, ndcg: 1)
        let b = DeviceEvaluation(device: 2, count: 3, squaredError: 0, absoluteError: 0, ranked: true, hit: 0, ndcg: 0)
        let s1 = EvaluationSummary([a, b])
        let s2 = EvaluationSummary([b, a])
        #expect(s1 == s2)
        #expect(s1.rmse == 1)  // sqrt(4 / 4)
        #expect(s1.mae == 0.5)
        #expect(s1.hitRate == 0.5)
    }
}

/// Ranking and beyond-accuracy metrics on hand-checked examples.
@Suite struct RankingMetricTests {
    /// 5 items, dim 1: scores are the item embeddings 5, 4, 3, 2, 1 (user factor 1, biases 0).
    func evaluate(k: Int, sampled: Int = 0) -> DeviceEvaluation {
        let shared: [Float] = [5, 4, 3, 2, 1] + [0, 0, 0, 0, 0] + [0]  // embeddings, item biases, μ
        let test = Interactions(items: [1, 3, 4], ratings: [5, 5, 1], timestamps: [0, 0, 0])
        let ev = Evaluator(
            k: k,
            relevanceThreshold: 4,
            ranking: true,
            scale: 0...10,
            categories: [0, 0, 1, 1, 2],
            sampledNegatives: sampled,
            seed: 1
        )
        return ev.evaluate(
            device: 0,
            shared: shared,
            personal: [1, 0],
            items: 5,
            dim: 1,
            train: Interactions(),
            test: test
        )
    }

    @Test func fullRankingMetricsHaveTheirTextbookValues() {
        let e = evaluate(k: 2)  // top-2 = items 0, 1; relevant = {1, 3}
        #expect(e.top == [0, 1])
        #expect(e.hit == 1)
        #expect(abs(e.ndcg - (1 / _log2(3)) / (1 + 1 / _log2(3))) < 1e-12)
        #expect(e.recall == 0.5)  // 1 of 2 relevant items retrieved
        #expect(e.mrr == 0.5)  // first relevant at rank 2
        // Negatives {0, 2, 4}: item 1 (score 4) beats 2 and 4, item 3 (score 2) beats 4 → 3 of 6 pairs.
        #expect(e.auc == 0.5)
        #expect(e.ildCategory == 0)  // items 0 and 1 share category 0
        #expect(abs(e.ildEmbedding) < 1e-7)  // 1-D embeddings 5 and 4 point the same way
        let wide = evaluate(k: 4)  // top-4 = 0, 1, 2, 3: categories 0, 0, 1, 1 → 4 of 6 pairs differ
        #expect(abs(wide.ildCategory - 4.0 / 6.0) < 1e-12)
        #expect(wide.recall == 1 && wide.mrr == 0.5)
    }

    @Test func sampledNegativesRankAgainstUnratedItemsOnly() {
        // Unrated items: 0 and 2 (1, 3, 4 are in the test set). Item 1 (score 4) ranks below item 0 only;
        // item 3 (score 2) below both: ranks 1 and 2 among 2 negatives.
        let e = evaluate(k: 2, sampled: 99)
        #expect(e.sampledHit == 0.5)  // rank 1 < 2 hits, rank 2 does not
        #expect(abs(e.sampledNdcg - 0.5 / _log2(3)) < 1e-12)
    }

    /// Popularity order 3, 4, 0, 2, 1. The model's top-2 is {0, 1}, the popularity
    /// baseline's {3, 4}; relevant = {1, 3}.
    @Test func popularityBaselineAndSerendipity() {
        let shared: [Float] = [5, 4, 3, 2, 1] + [0, 0, 0, 0, 0] + [0]
        let test = Interactions(items: [1, 3, 4], ratings: [5, 5, 1], timestamps: [0, 0, 0])
        var ev = Evaluator(k: 2, relevanceThreshold: 4, ranking: true, scale: 0...10)
        ev.popular = [3, 4, 0, 2, 1]
        let e = ev.evaluate(
            device: 0,
            shared: shared,
            personal: [1, 0],
            items: 5,
            dim: 1,
            train: Interactions(),
            test: test
        )
        // Popularity list {3, 4}: item 3 relevant at rank 1 → HR 1, NDCG 1 / (1 + 1/log2 3).
        #expect(e.popularityHit == 1)
        #expect(abs(e.popularityNdcg - 1 / (1 + 1 / _log2(3))) < 1e-12)
        // Model list {0, 1}: item 1 is relevant and not in {3, 4} → serendipity 1/2.
        #expect(e.serendipity == 0.5)
        // Items rated in training leave the popularity list: with 3 rated, it becomes {4, 0}.
        let trained = Interactions(items: [3], ratings: [4], timestamps: [0])
        let f = ev.evaluate(
            device: 0,
            shared: shared,
            personal: [1, 0],
            items: 5,
            dim: 1,
            train: trained,
            test: Interactions(items: [1, 4], ratings: [5, 5], timestamps: [0, 0])
        )
        #expect(f.popularityHit == 1 && abs(f.popularityNdcg - 1 / (1 + 1 / _log2(3))) < 1e-12)  // 4 relevant at rank 1
        #expect(f.serendipity == 0.5)  // model top-2 {0, 1}: 1 relevant, not in {4, 0}
        // No popularity ranking: not computed.
        #expect(evaluate(k: 2).serendipity == -1 && evaluate(k: 2).popularityHit == -1)
    }

    @Test func exposureMetricsOnKnownCounts() {
        #expect(ExposureMetrics.coverage([3, 0, 1, 0]) == 0.5)
        #expect(ExposureMetrics.gini([1, 1, 1, 1]) == 0)
        #expect(abs(ExposureMetrics.gini([0, 0, 0, 4]) - 0.75) < 1e-12)
        // Two devices; item 0 rated by both (p = 3/3 → 0 bits), item 1 by none (p = 1/3 → log2 3 bits).
        #expect(abs(ExposureMetrics.novelty(recommended: [1, 1], rated: [2, 0], devices: 2) - _log2(3) / 2) < 1e-12)
    }
}
