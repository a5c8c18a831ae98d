import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

@Suite struct TwoTowerTests {
    /// A random block with 4 items, 2 feature rows, 2 categories and 2 adapters; examples
    /// repeat rows and include items without category or adapter.
    func fixture(seed: UInt64) -> (TwoTowerBlock<Double>, TwoTowerExamples) {
        var rng = Xoshiro256(seed: seed)
        var m = TwoTowerBlock<Double>(dim: 4, items: 4, features: 2, categories: 2, adapters: 2)
        m.randomise(&rng)
        var x = TwoTowerExamples()
        x.item = [0, 1, 3, 1, 2, 0, 3]
        x.category = [0, 1, -1, 1, 0, 0, 1]
        x.adapter = [0, 1, 1, -1, 0, 0, 1]
        x.rating = [4, 3, 5, 2, 1, 4, 3]
        return (m, x)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func gradientMatchesFiniteDifferences(seed: UInt64) {
        let (m, x) = fixture(seed: seed)
        let l2 = 0.07
        let ol2 = 0.3
        let range = 0..<x.count
        var g = m.zeros()
        _ = TwoTowerKernel.accumulateGradient(m, x, range: range, l2: l2, offsetL2: ol2, into: &g)
        var check = GradientChecker(at: m, gradient: g) {
            TwoTowerKernel.loss($0, x, range: range, l2: l2, offsetL2: ol2)
        }
        for f in [\TwoTowerBlock<Double>.item, \.itemBias, \.prior, \.features, \.category, \.adapter, \.offset] {
            check.field(f)
        }
        check.field(\.globalBias, "global bias")
        #expect(check.checked == 16 + 4 + 5 + 10 + 10 + 18 + 5 + 1)
        #expect(check.worst < 1e-6, "worst relative error \(check.worst)")
    }

    /// The same check with the shared adapter prior of disentanglement.
    @Test func gradientWithAdapterPriorMatchesFiniteDifferences() {
        var (m, x) = fixture(seed: 5)
        m.adapterPrior = (0..<9).map { Double($0 % 4) * 0.1 - 0.15 }
        let l2 = 0.05
        var g = m.zeros()
        _ = TwoTowerKernel.accumulateGradient(m, x, range: 0..<x.count, l2: l2, offsetL2: l2, into: &g)
        var check = GradientChecker(at: m, gradient: g) {
            TwoTowerKernel.loss($0, x, range: 0..<x.count, l2: l2, offsetL2: l2)
        }
        check.field(\.adapterPrior, "adapter prior")
        check.field(\.adapter, "adapter")
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
    }

    /// The alignment loss's gradient (item and category rows) against finite differences; it
    /// vanishes for a device with one domain.
    @Test func alignmentGradientMatchesFiniteDifferences() {
        let (m, x) = fixture(seed: 6)
        var g = m.zeros()
        let w = 0.7
        let loss = TwoTowerAlignment.accumulateGradient(m, x, weight: w, into: &g)
        #expect(loss > 0 && abs(loss - TwoTowerAlignment.loss(m, x, weight: w)) < 1e-12)
        var check = GradientChecker(at: m, gradient: g) { TwoTowerAlignment.loss($0, x, weight: w) }
        check.field(\.item, "item")
        check.field(\.category, "category") { $0 % 5 != 4 }  // bias columns take no part
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
        var one = x
        one.adapter = one.adapter.map { $0 >= 0 ? 0 : -1 }
        var g1 = m.zeros()
        #expect(TwoTowerAlignment.accumulateGradient(m, one, weight: w, into: &g1) == 0 && g1 == m.zeros())
    }

    /// The contrastive (InfoNCE) alignment's gradient, negatives included, against finite
    /// differences; a negative pointing where z_A points raises the loss.
    @Test func contrastiveAlignmentGradientMatchesFiniteDifferences() {
        var (m, x) = fixture(seed: 6)
        x.negativeItem = [1, 3]
        x.negativeCategory = [0, -1]
        let w = 0.7
        let tau = 0.3
        var g = m.zeros()
        let loss = TwoTowerAlignment.accumulateGradient(m, x, weight: w, temperature: tau, into: &g)
        #expect(loss > 0 && abs(loss - TwoTowerAlignment.loss(m, x, weight: w, temperature: tau)) < 1e-12)
        #expect(abs(loss - TwoTowerAlignment.loss(m, x, weight: w)) > 1e-3, "contrastive differs from cosine")
        var check = GradientChecker(at: m, gradient: g) { TwoTowerAlignment.loss($0, x, weight: w, temperature: tau) }
        check.field(\.item, "item")
        check.field(\.category, "category") { $0 % 5 != 4 }
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
        // Move negative 1 onto z_A's direction: it now competes with the positive.
        guard let (a, _) = TwoTowerAlignment.pair(x) else {
            Issue.record("no pair")
            return
        }
        let (za, _) = TwoTowerAlignment.means(m, x, a)
        var close = m
        for f in 0..<m.dim { close.item[1 * m.dim + f] = 3 * za[f] - close.category[0 * (m.dim + 1) + f] }
        #expect(TwoTowerAlignment.loss(close, x, weight: w, temperature: tau) > loss)
    }

    /// With the adapter prior, a domain no device trained scores through the prior alone.
    @Test func unseenDomainStartsFromTheAdapterPrior() {
        let shape = TwoTowerShape(
            items: 12,
            dim: 4,
            userFeatures: 2,
            categories: 3,
            domains: ["a", "b", "c"],
            adapters: true,
            adapterPrior: true
        )
        #expect(
            shape.layout.tensors.last?.name == "domain_adapter_prior" && shape.layout.tensors.last?.group == .shared
        )
        var shared = shape.initialShared(initStd: 0.1, globalBias: 3, seed: 3)
        for f in 0..<9 { shared[shape.adapterPrior + f] = 0.05 * Float(f + 1) }
        let t = TwoTowerTrainer(
            shape: shape,
            local: LocalTrainingConfig(),
            weighting: .examples,
            personalization: PersonalizationConfig(),
            meta: MetaConfig(),
            itemCategories: Self.categories,
            itemDomains: Self.domains
        )
        var none = AdaptationConfig()
        none.steps = 0
        let support = data([8, 9])  // domain c, adapter row untouched (0)
        let scorer = t.adaptedScorer(shared: shared, support: support, features: [1, 1], adaptation: none)
        let v = t.view(shared: shared, offset: t.zeroOffset, data: support, features: [1, 1])
        #expect(v.block.adapterPrior == Array(shared[shape.adapterPrior..<(shape.adapterPrior + 9)]))
        let u = v.block.userTower()
        for j in 0..<2 {
            #expect(abs(scorer.score(Int(support.items[j])) - TwoTowerKernel.predict(v.block, u, v.examples, j)) < 1e-5)
        }
    }

    /// Every training path moves the shared adapter prior, and alignment runs under
    /// meta-learning too (it changes item rows a plain FO-MAML round would leave alone).
    @Test(arguments: [MetaConfig.Algorithm.none, .fomaml, .reptile])
    func adapterPriorAndAlignmentTrainUnderEveryAlgorithm(algorithm: MetaConfig.Algorithm) {
        let shape = TwoTowerShape(
            items: 12,
            dim: 4,
            userFeatures: 2,
            categories: 3,
            domains: ["a", "b", "c"],
            adapters: true,
            adapterPrior: true
        )
        var m = MetaConfig()
        m.algorithm = algorithm
        m.innerGroups = [.personal, .domain]
        var p = PersonalizationConfig()
        p.strategy = .global
        var t = TwoTowerTrainer(
            shape: shape,
            local: LocalTrainingConfig(),
            weighting: .examples,
            personalization: p,
            meta: m,
            itemCategories: Self.categories,
            itemDomains: Self.domains
        )
        let shared = shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        let d = data([0, 1, 2, 3, 8, 9, 10])
        var personal = [Float](repeating: 0, count: 5)
        var rng = Xoshiro256(seed: 1)
        let plain = t.train(shared: shared, personal: &personal, data: d, features: [1, 1], rng: &rng)
        let prior = shape.layout.range(of: "domain_adapter_prior")!
        #expect(plain.weightedDelta[prior].contains { $0 != 0 }, "\(algorithm): the prior moved")
        t.alignmentWeight = 5
        rng = Xoshiro256(seed: 1)
        let aligned = t.train(shared: shared, personal: &personal, data: d, features: [1, 1], rng: &rng)
        let items = shape.layout.range(of: "item_embedding")!
        #expect(
            aligned.weightedDelta[items] != plain.weightedDelta[items],
            "\(algorithm): alignment changed the item tower"
        )
        // Contrastive: the device draws negatives among the second domain's unseen items
        // (item 11 is the only one) and moves their rows; the cosine alignment never does.
        t.alignmentNegatives = 4
        rng = Xoshiro256(seed: 1)
        let contrastive = t.train(shared: shared, personal: &personal, data: d, features: [1, 1], rng: &rng)
        let row11 = (items.lowerBound + 11 * 4)..<(items.lowerBound + 12 * 4)
        #expect(aligned.weightedDelta[row11].allSatisfy { $0 == 0 })
        #expect(contrastive.weightedDelta[row11].contains { $0 != 0 }, "\(algorithm): the negative moved")
    }

    /// A step with a mask changes exactly the groups it names, bit for bit.
    @Test(arguments: [GroupMask.personal, [.personal, .domain], .domain, [.shared]])
    func stepTouchesOnlyMaskedGroups(mask: GroupMask) {
        let (md, x) = fixture(seed: 9)
        var m = TwoTowerBlock<Float>(dim: 4, items: 4, features: 2, categories: 2, adapters: 2)
        m.item = md.item.map(Float.init)
        m.itemBias = md.itemBias.map(Float.init)
        m.prior = md.prior.map(Float.init)
        m.features = md.features.map(Float.init)
        m.category = md.category.map(Float.init)
        m.adapter = md.adapter.map(Float.init)
        m.offset = md.offset.map(Float.init)
        m.globalBias = 3.1
        let before = m
        var g = m.zeros()
        _ = TwoTowerKernel.accumulateGradient(m, x, range: 0..<x.count, l2: 0.01, offsetL2: 0.01, into: &g)
        TwoTowerKernel.step(&m, &g, x, range: 0..<x.count, lr: 0.1, mask: mask)
        let shared =
            m.item == before.item && m.itemBias == before.itemBias && m.prior == before.prior
            && m.features == before.features && m.category == before.category && m.globalBias == before.globalBias
        #expect(shared == !mask.contains(.shared))
        #expect((m.adapter == before.adapter) == !mask.contains(.domain))
        #expect((m.offset == before.offset) == !mask.contains(.personal))
        #expect(g == m.zeros(), "the step clears the gradient it applied")
    }

    static let shape = TwoTowerShape(
        items: 12,
        dim: 4,
        userFeatures: 2,
        categories: 3,
        domains: ["a", "b", "c"],
        adapters: true
    )
    static let categories: [Int32] = (0..<12).map { Int32($0 % 3) }
    static let domains: [Int32] = (0..<12).map { Int32($0 / 4) }  // items 0–3 a, 4–7 b, 8–11 c

    func trainer(
        _ strategy: PersonalizationConfig.Strategy,
        meta: MetaConfig.Algorithm = .none,
        inner: [AdaptedGroup] = [.personal]
    ) -> TwoTowerTrainer {
        var p = PersonalizationConfig()
        p.strategy = strategy
        var m = MetaConfig()
        m.algorithm = meta
        m.innerGroups = inner
        var local = LocalTrainingConfig()
        local.epochs = 2
        return TwoTowerTrainer(
            shape: Self.shape,
            local: local,
            weighting: .perItem,
            personalization: p,
            meta: m,
            itemCategories: Self.categories,
            itemDomains: Self.domains
        )
    }

    func data(_ items: [Int32]) -> Interactions {
        Interactions(items: items, ratings: items.map { Float(1 + $0 % 5) }, timestamps: items.map { Int64($0) })
    }

    /// The update carries the shared and domain groups only: its length is the shared
    /// layout's, which has no personal tensor; the personal offset stays on the device.
    @Test(arguments: PersonalizationConfig.Strategy.allCases)
    func personalGroupNeverLeavesTheDevice(strategy: PersonalizationConfig.Strategy) {
        let t = trainer(strategy)
        #expect(!Self.shape.layout.tensors.contains { $0.group == .personal })
        #expect(Self.shape.personalLayout.tensors.allSatisfy { $0.group == .personal })
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        var personal: [Float] = [0.5, -0.25, 0.125, 1, 2]  // distinctive values
        var rng = Xoshiro256(seed: 3)
        let u = t.train(shared: shared, personal: &personal, data: data([0, 1, 5, 6, 2]), features: [1, 2], rng: &rng)
        #expect(u.weightedDelta.count == Self.shape.layout.count)
        #expect(u.weights.count == Self.shape.layout.weightCount)
        switch strategy {
        case .fedper, .fedrep, .ditto:
            #expect(personal != [0.5, -0.25, 0.125, 1, 2], "the offset was trained on the device")
        case .global, .fedrecon:
            #expect(personal == [0.5, -0.25, 0.125, 1, 2], "these strategies never store an offset")
        }
    }

    /// Domain adapters of domains a device has no data in weigh 0 and do not move: a domain
    /// group is averaged over that domain's devices only.
    @Test(arguments: PersonalizationConfig.Strategy.allCases)
    func domainGroupsOnlyFromTheirDomain(strategy: PersonalizationConfig.Strategy) {
        let t = trainer(strategy)
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        var personal = [Float](repeating: 0, count: 5)
        var rng = Xoshiro256(seed: 4)
        let u = t.train(
            shared: shared,
            personal: &personal,
            data: data([0, 1, 2, 3, 8, 9]),
            features: [0, 1],
            rng: &rng
        )  // domains a, c
        let layout = Self.shape.layout
        for (name, touched) in [("a", true), ("b", false), ("c", true)] {
            let i = layout.index(of: "domain_adapter.\(name)")!
            #expect(layout.tensors[i].group == .domain(name))
            let weight = u.weights[layout.weightOffsets[i]]
            let delta = u.weightedDelta[layout.range(of: "domain_adapter.\(name)")!]
            if touched {
                #expect(weight == 4 || weight == 2)
                #expect(delta.contains { $0 != 0 })
            } else {
                #expect(weight == 0)
                #expect(delta.allSatisfy { $0 == 0 })
            }
        }
    }

    /// Meta-learning's inner loop adapts only its groups: with inner groups = personal, the
    /// domain adapters' update comes from the outer (query) step alone, and FO-MAML's prior
    /// update equals the query gradient at the adapted point.
    @Test func innerLoopAdaptsOnlyChosenGroups() {
        let t = trainer(.global, meta: .fomaml)
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 2)
        var v = t.view(shared: shared, offset: t.zeroOffset, data: data([0, 1, 2, 4, 5, 6, 8]), features: [1, 1])
        let before = v.block
        var adapted = v.block
        t.adapt(&adapted, v.examples, [0, 1, 2], steps: 5, lr: 0.1, mask: TwoTowerTrainer.mask([.personal]))
        #expect(
            adapted.item == before.item && adapted.prior == before.prior && adapted.adapter == before.adapter
                && adapted.category == before.category && adapted.features == before.features
        )
        #expect(adapted.offset != before.offset)
        t.adapt(&v.block, v.examples, [0, 1, 2], steps: 5, lr: 0.1, mask: TwoTowerTrainer.mask([.domain]))
        #expect(v.block.offset == before.offset && v.block.item == before.item)
        #expect(v.block.adapter != before.adapter)
    }

    /// With domain tasks, an episode draws support and query from one domain: after one
    /// episode exactly one of the device's two domain adapters moved.
    @Test func domainTasksStayInOneDomain() {
        var m = MetaConfig()
        m.algorithm = .fomaml
        m.task = .domain
        m.episodes = 1
        m.innerGroups = [.personal, .domain]
        let t = TwoTowerTrainer(
            shape: Self.shape,
            local: LocalTrainingConfig(),
            weighting: .examples,
            personalization: PersonalizationConfig(),
            meta: m,
            itemCategories: Self.categories,
            itemDomains: Self.domains
        )
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        for seed in 1...5 as ClosedRange<UInt64> {
            var personal = [Float](repeating: 0, count: 5)
            var rng = Xoshiro256(seed: seed)
            let u = t.train(
                shared: shared,
                personal: &personal,
                data: data([0, 1, 2, 8, 9, 10]),
                features: [0, 1],
                rng: &rng
            )
            let moved = ["a", "c"].filter { name in
                u.weightedDelta[Self.shape.layout.range(of: "domain_adapter.\(name)")!].contains { $0 != 0 }
            }
            #expect(moved.count == 1, "seed \(seed): adapters moved \(moved)")
        }
    }

    /// Adapting on a user's own ratings lowers the loss on them (what cold start relies on).
    @Test func adaptationFitsTheSupport() {
        let t = trainer(.global)
        let shared = Self.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 5)
        let support = data([0, 3, 5, 7, 10])
        var v = t.view(shared: shared, offset: t.zeroOffset, data: support, features: [2, 3])
        let lossBefore = TwoTowerKernel.loss(v.block, v.examples, range: 0..<5, l2: 0, offsetL2: 0)
        t.adapt(&v.block, v.examples, Array(0..<5), steps: 20, lr: 0.1, mask: .personal)
        let lossAfter = TwoTowerKernel.loss(v.block, v.examples, range: 0..<5, l2: 0, offsetL2: 0)
        #expect(lossAfter < lossBefore * 0.8)
        // The scorer of the adapted model agrees with the kernel's prediction.
        let scorer = t.adaptedScorer(
            shared: shared,
            support: support,
            features: [2, 3],
            adaptation: {
                var a = AdaptationConfig()
                a.steps = 20
                a.learningRate = 0.1
                return a
            }()
        )
        let u = v.block.userTower()
        for j in 0..<5 {
            #expect(abs(scorer.score(Int(support.items[j])) - TwoTowerKernel.predict(v.block, u, v.examples, j)) < 1e-4)
        }
    }
}
