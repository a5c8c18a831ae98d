import FedSimConfig
import FedSimCore
import FedSimData
import FedSimTestSupport
import Testing

@testable import FedSimModels

/// Meta-SGD on the two-tower model: the learned rates' outer gradient against finite
/// differences, the rates as a shared tensor of the update, and adaptation of the genre rows
/// moving rankings (what a user-offset bias alone cannot do).
@Suite struct TwoTowerMetaSGDTests {
    /// A random Double block (4 items, 2 feature rows, 2 genres, 2 adapters), a support set
    /// and a query set over its rows, and positive rates for all four groups.
    func fixture(seed: UInt64) -> (TwoTowerBlock<Double>, TwoTowerExamples, TwoTowerExamples, TwoTowerRates<Double>) {
        var rng = Xoshiro256(seed: seed)
        var m = TwoTowerBlock<Double>(dim: 4, items: 4, features: 2, categories: 2, adapters: 2)
        m.randomise(&rng, offset: false)
        var x = TwoTowerExamples()
        x.item = [0, 1, 3, 1, 2, 0, 3]
        x.category = [0, 1, -1, 1, 0, 0, 1]
        x.adapter = [0, 1, 1, -1, 0, 0, 1]
        x.rating = [4, 3, 5, 2, 1, 4, 3]
        var r = TwoTowerRates<Double>()
        r.personal = (0..<5).map { _ in 0.05 + 0.3 * rng.nextUnitDouble() }
        r.category = (0..<5).map { _ in 0.05 + 0.3 * rng.nextUnitDouble() }
        r.features = (0..<5).map { _ in 0.05 + 0.3 * rng.nextUnitDouble() }
        r.adapter = (0..<9).map { _ in 0.05 + 0.3 * rng.nextUnitDouble() }
        return (m, x.subset(0..<4), x.subset(4..<7), r)
    }

    static let l2 = 0.07
    static let scale = 0.6

    /// The query loss after the learned inner loop, as a function of the rates.
    func queryLoss(
        _ m: TwoTowerBlock<Double>,
        _ s: TwoTowerExamples,
        _ q: TwoTowerExamples,
        steps: Int
    ) -> (
        TwoTowerRates<Double>
    ) -> Double {
        { rates in
            var b = m
            _ = TwoTowerMetaSGD.adapt(&b, s, steps: steps, rates: rates, scale: Self.scale, l2: Self.l2)
            return TwoTowerKernel.loss(b, q, range: 0..<q.count, l2: Self.l2, offsetL2: Self.l2)
        }
    }

    /// The analytic rate gradient (`corrupt` may break it) checked against central differences.
    func check(
        seed: UInt64,
        corrupt: (inout TwoTowerRates<Double>) -> Void = { _ in }
    ) -> GradientChecker<
        TwoTowerRates<Double>
    > {
        let (m, s, q, rates) = fixture(seed: seed)
        var adapted = m
        let sums = TwoTowerMetaSGD.adapt(&adapted, s, steps: 1, rates: rates, scale: Self.scale, l2: Self.l2)
        var gq = adapted.zeros()
        _ = TwoTowerKernel.accumulateGradient(adapted, q, range: 0..<q.count, l2: Self.l2, offsetL2: Self.l2, into: &gq)
        var grad = TwoTowerMetaSGD.rateGradient(sums: sums, query: gq, rates: rates, scale: Self.scale)
        corrupt(&grad)
        var c = GradientChecker(at: rates, gradient: grad, loss: queryLoss(m, s, q, steps: 1))
        c.field(\.personal, "personal")
        c.field(\.category, "category")
        c.field(\.features, "features")
        c.field(\.adapter, "adapter")
        return c
    }

    /// One inner step: the first-order rate gradient is the exact ∂L_query/∂α.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func rateGradientMatchesFiniteDifferences(seed: UInt64) {
        let c = check(seed: seed)
        #expect(c.checked == 5 + 5 + 5 + 9)
        #expect(c.worst < 1e-5, "worst relative error \(c.worst) at \(c.worstAt)")
    }

    /// The same check catches a broken rate gradient: a flipped sign, a missing shrinkage
    /// factor, or one column's contribution dropped.
    @Test func brokenRateGradientFails() {
        let flipped = check(seed: 1) { g in g.category = g.category.map { -$0 } }
        #expect(flipped.worst > 0.5, "\(flipped.worst)")
        let unscaled = check(seed: 2) { g in g.personal = g.personal.map { $0 / Self.scale } }
        #expect(unscaled.worst > 0.1, "\(unscaled.worst)")
        let dropped = check(seed: 3) { g in g.adapter[4] = 0 }
        #expect(dropped.worst > 0.5, "\(dropped.worst) at \(dropped.worstAt)")
    }

    /// With several inner steps the first-order gradient drops the rates' effect on later
    /// gradients: it still points the way the exact one does (the outer step descends).
    @Test func multiStepGradientDescends() {
        let (m, s, q, rates) = fixture(seed: 4)
        var adapted = m
        let sums = TwoTowerMetaSGD.adapt(&adapted, s, steps: 5, rates: rates, scale: Self.scale, l2: Self.l2)
        var gq = adapted.zeros()
        _ = TwoTowerKernel.accumulateGradient(adapted, q, range: 0..<q.count, l2: Self.l2, offsetL2: Self.l2, into: &gq)
        let grad = TwoTowerMetaSGD.rateGradient(sums: sums, query: gq, rates: rates, scale: Self.scale)
        let loss = queryLoss(m, s, q, steps: 5)
        var moved = rates
        let eps = 1e-3
        moved.personal = zip(rates.personal, grad.personal).map { $0 - eps * $1 }
        moved.category = zip(rates.category, grad.category).map { $0 - eps * $1 }
        moved.features = zip(rates.features, grad.features).map { $0 - eps * $1 }
        moved.adapter = zip(rates.adapter, grad.adapter).map { $0 - eps * $1 }
        #expect(loss(moved) < loss(rates))
    }

    static let shape = TwoTowerShape(
        items: 12,
        dim: 4,
        userFeatures: 2,
        categories: 3,
        domains: [],
        adapters: false,
        learnedRates: [.personal, .categories],
        rateInit: 0.1
    )
    static let categories: [Int32] = (0..<12).map { Int32($0 % 3) }

    func trainer(
        _ shape: TwoTowerShape = Self.shape,
        groups: [AdaptedGroup] = [.personal, .categories]
    )
        -> TwoTowerTrainer
    {
        var p = PersonalizationConfig()
        p.strategy = .global
        p.adaptation.groups = groups
        var m = MetaConfig()
        m.algorithm = .fomaml
        m.innerGroups = groups
        m.innerLearningRates = .learned
        m.rateLearningRate = 5
        m.maxInnerLearningRate = 0.4
        m.episodes = 8
        return TwoTowerTrainer(
            shape: shape,
            local: LocalTrainingConfig(),
            weighting: .examples,
            personalization: p,
            meta: m,
            itemCategories: Self.categories,
            itemDomains: []
        )
    }

    func data(_ items: [Int32], _ ratings: [Float]) -> Interactions {
        Interactions(items: items, ratings: ratings, timestamps: items.map { Int64($0) })
    }

    /// The rates are shared tensors (one per learned group) only when asked for; a device's
    /// meta-training moves them, within [0, max], and sends the move weighted like any whole
    /// shared tensor.
    @Test func ratesTravelInTheUpdate() {
        let plain = TwoTowerShape(items: 12, dim: 4, userFeatures: 2, categories: 3, domains: [], adapters: false)
        #expect(!plain.layout.tensors.contains { $0.name.hasPrefix("inner_learning_rate") })
        let layout = Self.shape.layout
        #expect(layout.count == plain.layout.count + 10)
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        for g in ["personal", "categories"] {
            let i = layout.index(of: "inner_learning_rate.\(g)")!
            #expect(layout.tensors[i].group == .shared && layout.tensors[i].weighting == .whole)
            #expect(shared[layout.range(of: "inner_learning_rate.\(g)")!].allSatisfy { $0 == 0.1 })
        }
        var personal = trainer().zeroOffset
        var rng = Xoshiro256(seed: 3)
        let items: [Int32] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        let u = trainer().train(
            shared: shared,
            personal: &personal,
            data: data(items, items.map { $0 % 3 == 0 ? 5 : 1 }),
            features: [1, 2],
            rng: &rng
        )
        for g in ["personal", "categories"] {
            let t = layout.index(of: "inner_learning_rate.\(g)")!
            #expect(u.weights[layout.weightOffsets[t]] == 12)
            let after = layout.range(of: "inner_learning_rate.\(g)")!.map { shared[$0] + u.weightedDelta[$0] / 12 }
            #expect(after.contains { $0 != 0.1 }, "\(g) rates moved: \(after)")
            #expect(after.allSatisfy { $0 >= 0 && $0 <= 0.4 + 1e-6 })
        }
    }

    /// `meta.task: ordered` episodes are the new-user protocol's task: the support is the
    /// device's first k ratings in time order and the query only later ones.
    @Test func orderedTasksSupportTheEarliestRatings() {
        var t = trainer()
        var m = t.meta
        m.task = .ordered
        m.supportSizes = [3]
        m.queryBatch = 0
        t = TwoTowerTrainer(
            shape: t.shape,
            local: t.local,
            weighting: t.weighting,
            personalization: t.personalization,
            meta: m,
            itemCategories: t.itemCategories,
            itemDomains: []
        )
        let items: [Int32] = [4, 9, 1, 7, 2, 11]
        let stamps: [Int64] = [50, 10, 40, 20, 60, 30]  // time order: 9, 7, 11, 1, 4, 2
        let v = t.view(
            shared: Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1),
            offset: t.zeroOffset,
            data: Interactions(items: items, ratings: items.map { _ in 3 }, timestamps: stamps),
            features: [0, 0]
        )
        var rng = Xoshiro256(seed: 9)
        for _ in 0..<3 {
            let (support, query) = t.episodeSplit(v, rng: &rng)!
            #expect(support.map { items[$0] } == [9, 7, 11])
            #expect(Set(query.map { items[$0] }) == [1, 4, 2])
        }
    }

    /// Adapting the genre rows moves rankings: a user who rates genre 0 high and genre 1 low
    /// lifts the unseen items of genre 0 above those of genre 1, and the same user with the
    /// rates of the personal offset's vector at 0 (a bias-only adaptation) ranks every item as
    /// the received model does.
    @Test func genreAdaptationMovesRankings() {
        let t = trainer()
        var shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 2)
        let support = data([0, 3, 6, 1, 4, 7], [5, 5, 5, 1, 1, 1])
        var a = AdaptationConfig()
        a.steps = 5
        a.groups = [.personal, .categories]
        let before = t.adaptedScorer(shared: shared, support: Interactions(), features: [1, 2], adaptation: a)
        let after = t.adaptedScorer(shared: shared, support: support, features: [1, 2], adaptation: a)
        // Unseen: 9 (genre 0), 10 (genre 1).
        let lift0 = after.score(9) - before.score(9)
        let lift1 = after.score(10) - before.score(10)
        #expect(lift0 - lift1 > 0.1, "genre 0 rose \(lift0), genre 1 \(lift1)")
        // Bias-only: rates 0 everywhere but the user bias: every score moves by the same amount.
        let o = Self.shape.rateOffset(.personal)!
        for f in 0..<4 { shared[o + f] = 0 }
        for f in 0..<5 { shared[Self.shape.rateOffset(.categories)! + f] = 0 }
        let b0 = t.adaptedScorer(shared: shared, support: Interactions(), features: [1, 2], adaptation: a)
        let b1 = t.adaptedScorer(shared: shared, support: support, features: [1, 2], adaptation: a)
        let shifts = (0..<12).map { b1.score($0) - b0.score($0) }
        #expect(shifts.allSatisfy { abs($0 - shifts[0]) < 1e-6 } && shifts[0] != 0, "\(shifts)")
    }
}
