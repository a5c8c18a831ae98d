import FedSimConfig
import FedSimCore
import FedSimData
import FedSimTestSupport
import Testing

@testable import FedSimModels

/// Two-tower's ranking terms (BPR, sampled softmax): their gradients against finite differences
/// on every parameter group, a broken gradient that the check catches, which rows a device's
/// ranking step moves, and that training on them ranks the device's items first.
@Suite struct TwoTowerRankingTests {
    /// A random block (5 items, 2 feature rows, 2 categories, 2 adapters, the adapter prior)
    /// and three groups: item 1 is a positive in one group and a negative in another, group 2
    /// draws item 4 twice, and candidates without category or adapter occur.
    func fixture(seed: UInt64, adapterPrior: Bool = true) -> (TwoTowerBlock<Double>, TwoTowerRankingBatch) {
        var rng = Xoshiro256(seed: seed)
        var m = TwoTowerBlock<Double>(
            dim: 4,
            items: 5,
            features: 2,
            categories: 2,
            adapters: 2,
            adapterPrior: adapterPrior
        )
        m.randomise(&rng)
        let positives = TwoTowerCandidates(item: [0, 1, 2], category: [0, -1, 1], adapter: [0, 1, -1])
        let negatives = TwoTowerCandidates(
            item: [3, 1, 4, 2, 0, 3, 4, 4, 1],
            category: [1, -1, 0, 1, 0, 1, 0, 0, -1],
            adapter: [-1, 1, 0, -1, 0, -1, 0, 0, 1]
        )
        return (m, TwoTowerRankingBatch(positives: positives, negatives: negatives, perPositive: 3))
    }

    static let groups: [(WritableKeyPath<TwoTowerBlock<Double>, [Double]>, String)] = [
        (\.item, "item"), (\.itemBias, "item bias"), (\.prior, "prior"), (\.features, "features"),
        (\.category, "category"), (\.adapter, "adapter"), (\.adapterPrior, "adapter prior"), (\.offset, "offset"),
    ]

    func check(
        _ m: TwoTowerBlock<Double>,
        _ b: TwoTowerRankingBatch,
        _ term: TwoTowerRankingKernel.Term,
        shift: Double,
        gradient: TwoTowerBlock<Double>
    ) -> GradientChecker<TwoTowerBlock<Double>> {
        var check = GradientChecker(at: m, gradient: gradient) {
            TwoTowerRankingKernel.loss($0, b, term, l2: 0.07, offsetL2: 0.3, negativeShift: shift)
        }
        for (path, name) in Self.groups { check.field(path, name) }
        return check
    }

    @Test(arguments: [
        (TwoTowerRankingKernel.Term.bpr, 0.0), (.softmax, 0.0), (.softmax, 1.3),
    ])
    func gradientMatchesFiniteDifferencesOnEveryGroup(term: TwoTowerRankingKernel.Term, shift: Double) {
        for seed in [1, 2] as [UInt64] {
            let (m, b) = fixture(seed: seed)
            var g = m.zeros()
            let reported = TwoTowerRankingKernel.accumulateGradient(
                m,
                b,
                term,
                l2: 0.07,
                offsetL2: 0.3,
                negativeShift: shift,
                into: &g
            )
            let c = check(m, b, term, shift: shift, gradient: g)
            #expect(c.checked == 20 + 5 + 5 + 10 + 10 + 18 + 9 + 5)
            #expect(c.worst < 1e-6, "\(term) shift \(shift): worst relative error \(c.worst) at \(c.worstAt)")
            // μ adds the same to every score and cancels: no analytic gradient, and the numeric
            // one is round-off (a relative error against 0 would only measure that).
            #expect(g.globalBias == 0 && abs(c.numeric { $0.globalBias += $1 }) < 1e-8)
            // The reported loss is the unregularised term, summed over the groups.
            let plain =
                TwoTowerRankingKernel.loss(m, b, term, l2: 0, offsetL2: 0, negativeShift: shift) * Double(b.count)
            #expect(abs(reported - plain) < 1e-12)
        }
    }

    /// Without the adapter prior (the plain domain adapters) the groups still check.
    @Test func gradientWithoutAdapterPriorMatches() {
        let (m, b) = fixture(seed: 4, adapterPrior: false)
        for term in [TwoTowerRankingKernel.Term.bpr, .softmax] {
            var g = m.zeros()
            TwoTowerRankingKernel.accumulateGradient(m, b, term, l2: 0.07, offsetL2: 0.3, into: &g)
            let c = check(m, b, term, shift: 0, gradient: g)
            #expect(c.worst < 1e-6, "\(term): \(c.worst) at \(c.worstAt)")
        }
    }

    /// The check can fail: a gradient that forgets that the feature rows share the user tower's
    /// gradient, or one missing the item rows' L2, is caught on exactly that group.
    @Test func brokenGradientFailsTheCheck() {
        let (m, b) = fixture(seed: 3)
        for term in [TwoTowerRankingKernel.Term.bpr, .softmax] {
            var g = m.zeros()
            TwoTowerRankingKernel.accumulateGradient(m, b, term, l2: 0.07, offsetL2: 0.3, into: &g)
            var noFeatures = g
            for i in noFeatures.features.indices { noFeatures.features[i] = 0.07 * m.features[i] }
            let broken = check(m, b, term, shift: 0, gradient: noFeatures)
            #expect(broken.worst > 1e-2 && broken.worstAt.hasPrefix("features"), "\(broken.worstAt)")
            var noL2 = m.zeros()
            TwoTowerRankingKernel.accumulateGradient(m, b, term, l2: 0, offsetL2: 0.3, into: &noL2)
            let unregularised = check(m, b, term, shift: 0, gradient: noL2)
            #expect(unregularised.worst > 1e-2, "\(term): \(unregularised.worst)")
        }
    }

    /// With one negative, softmax over {i, j} is σ(s_i − s_j): the two terms agree.
    @Test func oneNegativeSoftmaxIsBPR() {
        let (m, b) = fixture(seed: 5)
        let one = TwoTowerRankingBatch(
            positives: b.positives,
            negatives: TwoTowerCandidates(item: [3, 4, 0], category: [1, 0, -1], adapter: [-1, 0, 1]),
            perPositive: 1
        )
        let bpr = TwoTowerRankingKernel.loss(m, one, .bpr, l2: 0.1, offsetL2: 0.1)
        let softmax = TwoTowerRankingKernel.loss(m, one, .softmax, l2: 0.1, offsetL2: 0.1)
        #expect(abs(bpr - softmax) < 1e-12)
    }

    // MARK: The device

    static let shape = TwoTowerShape(items: 40, dim: 4, userFeatures: 2, categories: 3, domains: [], adapters: false)
    static let categories: [Int32] = (0..<40).map { Int32($0 % 3) }

    func trainer(_ loss: LocalTrainingConfig.Loss, threshold: Double = 0, epochs: Int = 2) -> TwoTowerTrainer {
        var local = LocalTrainingConfig()
        local.loss = loss
        local.negatives = 3
        local.positiveThreshold = threshold
        local.epochs = epochs
        local.learningRate = 0.1
        var p = PersonalizationConfig()
        p.strategy = .fedper
        return TwoTowerTrainer(
            shape: Self.shape,
            local: local,
            weighting: .perItem,
            personalization: p,
            meta: MetaConfig(),
            itemCategories: Self.categories,
            itemDomains: []
        )
    }

    /// Rated items 0…5 (ratings 1…5, 1), features [1, 0].
    let data = Interactions(
        items: [0, 1, 2, 3, 4, 5],
        ratings: [1, 2, 3, 4, 5, 1],
        timestamps: [1, 2, 3, 4, 5, 6]
    )

    /// Item rows (global) whose delta is not 0.
    func movedItems(_ u: LocalUpdate) -> Set<Int> {
        let items = Self.shape.layout.range(of: "item_embedding")!
        return Set(
            (0..<40).filter { i in
                u.weightedDelta[(items.lowerBound + i * 4)..<(items.lowerBound + i * 4 + 4)].contains { $0 != 0 }
            }
        )
    }

    /// Only the rows the device drew as negatives (and its positives) move, every epoch's draw
    /// from its own unrated items; with `positive_threshold: 4` the rows of items it rated below
    /// 4 stay exactly where they were (pure BPR; like MF's rated rows they keep their weight),
    /// no row it neither rated nor drew carries weight, and squared error moves no unrated row.
    @Test(arguments: [LocalTrainingConfig.Loss.bpr, .sampledSoftmax])
    func onlyTheSampledRowsMove(loss: LocalTrainingConfig.Loss) {
        let t = trainer(loss, threshold: 4)
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 2)
        var rng = Xoshiro256(seed: 7)
        let v = t.trainingView(
            shared: shared,
            offset: t.zeroOffset,
            data: data,
            features: [1, 0],
            rankingEpochs: 2,
            rng: &rng
        )
        #expect(v.rankingPool.count == 2 * data.count * 3)
        let drawn = Set((0..<v.rankingPool.count).map { Int(v.itemGlobal[Int(v.rankingPool.item[$0])]) })
        #expect(drawn.isDisjoint(with: 0..<6), "negatives come from the device's unrated items")
        var personal = t.zeroOffset
        rng = Xoshiro256(seed: 7)
        let u = t.train(shared: shared, personal: &personal, data: data, features: [1, 0], rng: &rng)
        let moved = movedItems(u)
        #expect(moved.isSubset(of: drawn.union([3, 4])), "moved \(moved.sorted())")
        #expect(moved.contains(3) && moved.contains(4) && !moved.isDisjoint(with: drawn))
        let slots = Self.shape.layout.elementWeightSlots()
        let items = Self.shape.layout.range(of: "item_embedding")!
        for i in 6..<40 where !drawn.contains(i) {
            #expect(u.weights[Int(slots[items.lowerBound + i * 4])] == 0, "row \(i) carries no weight")
        }
        #expect(u.weights[Int(slots[items.lowerBound + 3 * 4])] > 0)
        #expect(personal != t.zeroOffset, "the personal offset trained")
        var mrng = Xoshiro256(seed: 7)
        var mp = t.zeroOffset
        let mse = trainer(.mse).train(shared: shared, personal: &mp, data: data, features: [1, 0], rng: &mrng)
        #expect(movedItems(mse) == Set(0..<6))
    }

    /// Rounds of local training on one device's ranking term put its items above the items it
    /// never touched (AUC over the catalogue).
    @Test(arguments: [LocalTrainingConfig.Loss.bpr, .sampledSoftmax, .mseBpr])
    func trainingRanksTheDevicesItemsFirst(loss: LocalTrainingConfig.Loss) {
        let t = trainer(loss, epochs: 5)
        var shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 3)
        var personal = t.zeroOffset
        var rng = Xoshiro256(seed: 11)
        let slots = Self.shape.layout.elementWeightSlots()
        func auc() -> Double {
            let s = t.adaptedScorer(
                shared: shared,
                offset: personal,
                support: Interactions(),
                features: [1, 0],
                adaptation: AdaptationConfig()
            )
            let scores = (0..<40).map { s.score($0) }
            var wins = 0.0
            for i in 0..<6 {
                for j in 6..<40 { wins += scores[i] > scores[j] ? 1 : (scores[i] == scores[j] ? 0.5 : 0) }
            }
            return wins / Double(6 * 34)
        }
        let before = auc()
        for _ in 0..<30 {
            let u = t.train(shared: shared, personal: &personal, data: data, features: [1, 0], rng: &rng)
            for i in shared.indices where u.weights[Int(slots[i])] > 0 {
                shared[i] += u.weightedDelta[i] / u.weights[Int(slots[i])]
            }
        }
        let after = auc()
        #expect(after > 0.95 && after > before + 0.2, "\(loss): AUC \(before) → \(after)")
    }
}
