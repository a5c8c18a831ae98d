import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

/// The NCF protocol: each test item ranked against sampled items the device never touched, and
/// the popularity baseline on the very same candidates.
@Suite struct SampledProtocolTests {
    let items = 60

    func evaluator(negatives: Int = 99, seed: UInt64 = 3) -> Evaluator {
        Evaluator(
            k: 10,
            relevanceThreshold: -.infinity,
            ranking: true,
            scale: 1...5,
            sampledNegatives: negatives,
            seed: seed
        )
    }

    func device(_ d: Int) -> (train: Interactions, test: Interactions) {
        let train = Interactions.exclusion((0..<20).map { Int32(($0 * 7 + d) % items) })
        let testItem = Int32((d * 13 + 5) % items)
        let test = train.items.contains(testItem) ? Interactions() : Interactions.exclusion([testItem])
        return (train, test)
    }

    @Test func negativesNeverIncludeAnItemTheDeviceInteractedWith() {
        // Interacted items score highest, the test item next, everything else lowest: one
        // interacted item among the negatives would push the test item out of first place.
        for d in 0..<40 {
            let (train, test) = device(d)
            guard !test.isEmpty else { continue }
            let rated = Set(train.items)
            let e = evaluator(seed: UInt64(d)).evaluate(
                device: d,
                shared: [],
                items: items,
                dim: 0,
                train: train,
                test: test
            ) {
                rated.contains(Int32($0)) ? 100 : ($0 == Int(test.items[0]) ? 50 : 0)
            }
            #expect(e.sampledHit == 1 && e.sampledNdcg == 1)
        }
    }

    @Test func implicitFeedbackMakesEveryHeldOutItemRelevant() {
        // Rated 1 and 2 out of 5: nothing is relevant at the explicit threshold of 4, and both
        // are under implicit feedback (what DeviceHost sets for `evaluation.implicit`).
        let test = Interactions(items: [1, 2], ratings: [1, 2], timestamps: [0, 0])
        var explicit = evaluator()
        explicit.relevanceThreshold = 4
        let score: (Int) -> Float = { Float($0 == 1 ? 9 : 0) }
        let e = explicit.evaluate(
            device: 0,
            shared: [],
            items: items,
            dim: 0,
            train: Interactions(),
            test: test,
            score: score
        )
        #expect(!e.ranked)
        let i = evaluator().evaluate(
            device: 0,
            shared: [],
            items: items,
            dim: 0,
            train: Interactions(),
            test: test,
            score: score
        )
        #expect(i.ranked)
        #expect(i.sampledHit == 0.5)  // item 1 is first; item 2 ties every negative at 0 and loses
    }

    @Test func popularityIsRankedOnTheModelsOwnCandidates() {
        // A model that scores by the popularity list must get exactly the baseline's figures on
        // every device; with other candidates the two would differ somewhere.
        let popular = (0..<Int32(items)).map { ($0 * 17) % Int32(items) }
        let popScore = SampledRanking.popularityScores(popular, items: items)
        var differentFromModel = false
        for d in 0..<40 {
            let (train, test) = device(d)
            guard !test.isEmpty else { continue }
            var ev = evaluator(negatives: 9, seed: UInt64(d))
            ev.popular = popular
            let same = ev.evaluate(device: d, shared: [], items: items, dim: 0, train: train, test: test) {
                popScore[$0]
            }
            #expect(same.sampledPopularityHit == same.sampledHit)
            #expect(same.sampledPopularityNdcg == same.sampledNdcg)
            let other = ev.evaluate(device: d, shared: [], items: items, dim: 0, train: train, test: test) { Float($0) }
            differentFromModel = differentFromModel || other.sampledNdcg != other.sampledPopularityNdcg
            #expect(other.sampledPopularityNdcg == same.sampledPopularityNdcg)
        }
        #expect(differentFromModel)
    }

    @Test func withoutAPopularityRankingTheBaselineIsAbsent() {
        let (train, test) = device(1)
        let e = evaluator().evaluate(device: 1, shared: [], items: items, dim: 0, train: train, test: test) {
            Float($0)
        }
        #expect(e.sampledPopularityHit == -1 && e.sampledPopularityNdcg == -1)
    }

    @Test func randomExpectationMatchesTheProtocolsKnownValue() {
        let r = SampledRanking.randomExpectation(k: 10, negatives: 99)
        #expect(abs(r.hit - 0.1) < 1e-12)
        // Empirically: seeded random scores over many devices land near the expectation.
        var ranking = SampledRanking(k: 10)
        var rng = Seeds.rng(5, "random-scores")
        let trials = 20_000
        for _ in 0..<trials {
            ranking.add(
                positive: Float(rng.nextBounded(1 << 20)),
                negatives: (0..<99).map { _ in Float(rng.nextBounded(1 << 20)) }
            )
        }
        #expect(abs(ranking.hits / Double(trials) - r.hit) < 0.01)
        #expect(abs(ranking.ndcg / Double(trials) - r.ndcg) < 0.006)
    }
}

/// BPR on MF: the gradient against finite differences, and what the device trains against.
@Suite struct BPRTests {
    func fixture() -> (MFBlock<Double>, BPRBatch) {
        let m = MFBlock<Double>.randomized(tag: "bpr-fixture", seed: 11, items: 6)
        // Item 1 is a positive in one triple and a negative in another: both terms must add.
        let b = BPRBatch(users: [0, 1, 0, 1], positives: [1, 2, 4, 5], negatives: [3, 1, 0, 1])
        return (m, b)
    }

    @Test func gradientMatchesFiniteDifferences() {
        let (m, b) = fixture()
        var g = MFBlock<Double>(dim: m.dim, users: m.users, items: m.items)
        let reported = BPRKernel.accumulateGradient(m, b, range: 0..<b.count, l2: 0.05, into: &g)
        var check = GradientChecker(at: m, gradient: g) { BPRKernel.loss($0, b, range: 0..<b.count, l2: 0.05) }
        check.field(\.user, "user")
        check.field(\.item, "item")
        check.field(\.itemBias, "item bias")
        check.field(\.userBias, "user bias")
        check.field(\.globalBias, "global bias")
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
        #expect(check.checked == m.user.count + m.item.count + m.itemBias.count + 3)
        // μ and b_u cancel in r̂(u, i) − r̂(u, j).
        #expect(g.globalBias == 0 && g.userBias == [0, 0])
        // The reported loss is the unregularised −log σ(x) sum.
        let plain = BPRKernel.loss(m, b, range: 0..<b.count, l2: 0) * Double(b.count)
        #expect(abs(reported - plain) < 1e-12)
    }

    @Test func negativesAreDrawnOnlyFromItemsTheDeviceNeverTouched() {
        var rng = Seeds.rng(2, "negatives")
        let interacted: [Int32] = [0, 2, 3, 7, 9]
        let drawn = MFNegatives.draw(count: 5_000, items: 10, excluding: interacted, rng: &rng)
        #expect(drawn.count == 5_000)
        #expect(Set(drawn) == [1, 4, 5, 6, 8])  // every unrated item, and only those
        #expect(MFNegatives.draw(count: 3, items: 3, excluding: [0, 1, 2], rng: &rng).isEmpty)
    }

    /// Trained with BPR alone, a device's interacted items rise above the items it never touched.
    @Test func bprTrainingRanksInteractedItemsAboveOthers() {
        var config = LocalTrainingConfig()
        config.loss = .bpr
        config.epochs = 30
        config.learningRate = 0.1
        config.negatives = 2
        let items = 30
        let dim = 4
        let trainer = LocalTrainer(config: config, weighting: .perItem, items: items, dim: dim)
        var shared = MatrixFactorization.initialShared(items: items, dim: dim, initStd: 0.1, globalBias: 3, seed: 1)
        var personal = MatrixFactorization.initialPersonal(dim: dim, initStd: 0.1, seed: 1, device: 0)
        let data = Interactions(items: [3, 8, 15, 21], ratings: [1, 2, 5, 4], timestamps: [0, 0, 0, 0])
        var rng = Seeds.rng(3, "bpr-train")
        let u = trainer.train(shared: shared, personal: &personal, data: data, rng: &rng)
        // Apply Δ = weighted delta / weight (per item row and item bias; μ has weight n).
        for gi in 0..<items where u.weights[gi] > 0 {
            for f in 0..<dim { shared[gi * dim + f] += u.weightedDelta[gi * dim + f] / u.weights[gi] }
            shared[items * dim + gi] += u.weightedDelta[items * dim + gi] / u.weights[items + gi]
        }
        func score(_ i: Int) -> Float { mfScore(i, shared: shared, personal: personal, items: items, dim: dim) }
        let worstPositive = data.items.map { score(Int($0)) }.min()!
        let others = (0..<items).filter { !data.items.contains(Int32($0)) }.map(score)
        #expect(others.filter { $0 >= worstPositive }.count == 0)
        // Negative rows are sent with a weight of at least one use, and the global bias is untouched.
        #expect(u.weights.prefix(items).filter { $0 > 0 }.count > data.count)
        #expect(u.weightedDelta[items * dim + items] == 0)
    }
}
