import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

@Suite struct LSTTMTests {
    /// 8 item rows and 2 category rows, 3 contexts (one without neighbours), mixed labels.
    func fixture(
        seed: UInt64,
        attention: Bool,
        gated: Bool,
        recencyInput: Bool = false
    ) -> (LSTTMBlock<Double>, LSTTMExamples) {
        var rng = Xoshiro256(seed: seed)
        let k = 3
        var b = LSTTMBlock<Double>(
            dim: k,
            hidden: 4,
            rows: 10,
            attention: attention,
            gated: gated,
            hasCategory: true,
            recencyInput: recencyInput
        )
        func fill(_ a: inout [Double], _ s: Double) { for i in a.indices { a[i] = rng.nextGaussian() * s } }
        fill(&b.rows, 0.6)
        fill(&b.wUser, 0.6)
        fill(&b.wNeighbour, 0.6)
        fill(&b.att, 0.8)
        fill(&b.gate, 0.6)
        fill(&b.w1, 0.5)
        fill(&b.b1, 0.3)
        fill(&b.out, 0.5)
        b.bias = 0.1
        b.recency = 0.4
        var x = LSTTMExamples(dim: k)
        let u = { (0..<k).map { _ in Float(rng.nextGaussian() * 0.7) } }
        let c0 = x.addContext(neighbours: [0, 1, 2], categories: [8, -1, 9], longTerm: u())
        let c1 = x.addContext(neighbours: [3, 1], categories: [9, 9], longTerm: u())
        let c2 = x.addContext(neighbours: [], longTerm: u())
        x.append(context: c0, item: 4, category: 8, label: 1, recency: 0.5)
        x.append(context: c0, item: 5, category: 9, label: 0, recency: 0.25)
        x.append(context: c1, item: 6, category: -1, label: 1)
        x.append(context: c1, item: 2, category: 8, label: 0, recency: 1)
        x.append(context: c2, item: 7, category: 9, label: 1)
        x.append(context: c0, item: 3, category: 9, label: 0, recency: 0.25)
        return (b, x)
    }

    /// The analytic gradient of every parameter against central differences, under each
    /// ablation's structure (attention or mean pooling, gate or concatenation), and with the
    /// recency feature as the MLP's last input.
    @Test(arguments: [
        (true, true, false), (false, true, false), (true, false, false), (false, false, false), (true, true, true),
        (false, false, true),
    ])
    func gradientMatchesFiniteDifferences(attention: Bool, gated: Bool, recencyInput: Bool) {
        for seed in [1, 2] as [UInt64] {
            let (b, x) = fixture(seed: seed, attention: attention, gated: gated, recencyInput: recencyInput)
            #expect(b.w1.count == 4 * (b.fields * 3 + (recencyInput ? 1 : 0)))
            let l2 = 0.03
            var g = b.zeros()
            _ = LSTTMKernel.accumulateGradient(b, x, range: 0..<x.count, l2: l2, into: &g)
            var check = GradientChecker(at: b, gradient: g) { LSTTMKernel.loss($0, x, range: 0..<x.count, l2: l2) }
            for f in [\LSTTMBlock<Double>.rows, \.wUser, \.wNeighbour, \.att, \.w1, \.b1, \.out] { check.field(f) }
            if gated { check.field(\.gate, "gate") }
            check.field(\.bias, "bias")
            check.field(\.recency, "recency")
            #expect(
                check.worst < 1e-5,
                "attention \(attention), gated \(gated), seed \(seed): worst relative error \(check.worst) at \(check.worstAt)"
            )
            // Without attention W_u has no gradient beyond its L2 term.
            if !attention { for i in b.wUser.indices { #expect(abs(g.wUser[i] - l2 * b.wUser[i]) < 1e-12) } }
        }
    }

    /// Mean pooling ignores the attention parameters; attention does not.
    @Test func attentionSwitchChangesTheShortTermRepresentation() {
        let (on, x) = fixture(seed: 5, attention: true, gated: true)
        var off = on
        off.attention = false
        var moved = on
        for i in moved.att.indices { moved.att[i] += 0.5 }
        var movedOff = off
        for i in movedOff.att.indices { movedOff.att[i] += 0.5 }
        let r = 0..<x.count
        #expect(LSTTMKernel.logits(on, x, range: r) != LSTTMKernel.logits(moved, x, range: r))
        #expect(LSTTMKernel.logits(off, x, range: r) == LSTTMKernel.logits(movedOff, x, range: r))
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func longTermGradientMatchesFiniteDifferences(seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        var b = LongTermBlock<Double>(dim: 4, rows: 6)
        for i in b.rows.indices { b.rows[i] = rng.nextGaussian() * 0.5 }
        for i in b.projection.indices { b.projection[i] = rng.nextGaussian() * 0.5 }
        for i in b.user.indices { b.user[i] = rng.nextGaussian() * 0.5 }
        var x = LongTermExamples()
        x.behaviours = [0, 1, 2, 2]
        x.row = [0, 1, 2, 3, 4, 5, 0]
        x.label = [1, 1, 1, 0, 0, 0, 1]
        let l2 = 0.02
        var g = b.zeros()
        LongTermKernel.accumulateGradient(b, x, l2: l2, into: &g)
        var check = GradientChecker(at: b, gradient: g) { LongTermKernel.loss($0, x, l2: l2) }
        for f in [\LongTermBlock<Double>.rows, \.projection, \.user] { check.field(f) }
        #expect(check.worst < 1e-5, "worst relative error \(check.worst) at \(check.worstAt)")
    }

    /// Selective updating: a step on short-term and fusion leaves the embeddings and the
    /// scorer bit-for-bit as they were.
    @Test func stepTouchesOnlyTheMaskedModules() {
        let (d, x) = fixture(seed: 3, attention: true, gated: true)
        var b = LSTTMBlock<Float>(dim: d.dim, hidden: d.hidden, rows: d.rows.count / (d.dim + 1))
        b.rows = d.rows.map(Float.init)
        b.wUser = d.wUser.map(Float.init)
        b.wNeighbour = d.wNeighbour.map(Float.init)
        b.att = d.att.map(Float.init)
        b.gate = d.gate.map(Float.init)
        b.w1 = d.w1.map(Float.init)
        b.b1 = d.b1.map(Float.init)
        b.out = d.out.map(Float.init)
        var g = b.zeros()
        _ = LSTTMKernel.accumulateGradient(b, x, range: 0..<x.count, l2: 0.01, into: &g)
        var after = b
        LSTTMKernel.step(&after, &g, lr: 0.1, mask: [.shortTerm, .fusion])
        #expect(
            after.rows == b.rows && after.w1 == b.w1 && after.b1 == b.b1 && after.out == b.out && after.bias == b.bias
        )
        #expect(
            after.wUser != b.wUser && after.wNeighbour != b.wNeighbour && after.att != b.att && after.gate != b.gate
        )
        #expect(g == b.zeros())
    }

    // MARK: The trainer on a small catalogue

    /// 2 domains × 12 items, 3 categories; periods of 100 s from t = 0.
    func trainer(
        meta: Bool = false,
        fusion: LSTTMConfig.Fusion = .gate,
        external: Bool = true,
        weighting: TrainingConfig.Weighting = .perItem,
        outer: (beta: Double, step: MetaConfig.OuterStep) = (0.05, .perEpisode),
        recencySeconds: Double = 0
    ) -> LSTTMTrainer {
        let shape = LSTTMShape(
            items: 24,
            dim: 4,
            hidden: 6,
            categories: 3,
            gated: fusion == .gate,
            recency: recencySeconds > 0
        )
        var c = LSTTMConfig()
        c.recencyDays = recencySeconds / 86_400
        c.neighbours = 3
        c.fusion = fusion
        c.external = external
        c.longTermEvery = 2
        var m = MetaConfig()
        if meta {
            m.algorithm = .fomaml
            m.task = .temporal
            m.innerGroups = [.shortTerm, .fusion]
            m.episodes = 4
            m.outerLearningRate = outer.beta
            m.outerStep = outer.step
        }
        var local = LocalTrainingConfig()
        local.epochs = 2
        var t = LSTTMTrainer(
            shape: shape,
            config: c,
            local: local,
            weighting: weighting,
            meta: m,
            negatives: 2,
            itemCategories: (0..<24).map { Int32($0 % 3) },
            itemDomains: (0..<24).map { Int32($0 / 12) },
            domainNames: ["a", "b"]
        )
        t.clock = PeriodClock(start: 0, length: 100)
        return t
    }

    /// Internal (domain a) items 0…5 over three periods, external items 13, 14 (domain b).
    var data: Interactions {
        Interactions(
            items: [0, 1, 13, 2, 3, 14, 4, 5],
            ratings: [Float](repeating: 1, count: 8),
            timestamps: [10, 20, 30, 110, 120, 130, 210, 220]
        )
    }

    @Test func contextsSeeOnlyThePastAndExternalOnlyWhenAsked() {
        let t = trainer()
        let tl = t.timeline(data, internal: t.internalDomain(of: data))
        #expect(t.internalDomain(of: data) == 0)
        let (nb, beh) = t.context(tl, before: 200)
        #expect(nb == [3, 2, 1])  // the 3 most recent internal, newest first
        #expect(beh == [0, 1, 13, 2, 3, 14])
        let (_, internalOnly) = trainer(external: false).context(tl, before: 200)
        #expect(internalOnly == [0, 1, 2, 3])
        #expect(t.context(tl, before: 0).neighbours.isEmpty)
    }

    /// The recency window: internal behaviours only, [cut − window, cut), shares by category;
    /// scoring after all of training ends the window at the last behaviour.
    @Test func recencySharesCountTheWindowBeforeTheCut() {
        let t = trainer(recencySeconds: 100)
        let tl = t.timeline(data, internal: 0)
        // [100, 200): items 2 (category 2) and 3 (category 0); external 14 is not counted.
        #expect(t.recencyShares(tl, before: 200) == [2: 0.5, 0: 0.5])
        // Past the data: [121, 221) holds items 4 (category 1) and 5 (category 2).
        #expect(t.recencyShares(tl, before: .max) == [1: 0.5, 2: 0.5])
        #expect(t.recencyShares(tl, before: 5).isEmpty)
        #expect(trainer().recencyShares(tl, before: 200).isEmpty)  // off by default
        // w_r, and one MLP input column per hidden unit (6).
        #expect(t.shape.layout.count == trainer().shape.layout.count + 1 + 6)
    }

    /// With the recency weight alone (every other parameter zero), the model ranks a device's
    /// items exactly by its recent category shares: the previous-period heuristic is inside
    /// the model's reach, one weight away.
    @Test func recencyWeightAloneRanksByRecentCategories() {
        let t = trainer(recencySeconds: 100)
        var model = [Float](repeating: 0, count: t.shape.layout.count)
        model[t.shape.recencyWeight] = 2
        let tl = t.timeline(data, internal: 0)
        let score = t.scorer(model: model, personal: [0, 0, 0, 0], timeline: tl, cut: 200)
        // Categories 0 and 2 hold half the window each, category 1 none.
        for i in 6..<12 { #expect(score(i) == (i % 3 == 1 ? 0 : 1), "item \(i): \(score(i))") }
    }

    /// The catalogue scorer gives the kernel's logit for the same context and item.
    @Test(arguments: [(LSTTMConfig.Fusion.gate, 0.0), (.concat, 0.0), (.gate, 100.0)])
    func scorerAgreesWithTheKernel(fusion: LSTTMConfig.Fusion, recencySeconds: Double) {
        let t = trainer(fusion: fusion, recencySeconds: recencySeconds)
        var model = t.shape.initialShared(initStd: 0.3, seed: 9)
        for i in model.indices where model[i] == 0 { model[i] = 0.02 * Float(i % 5) - 0.04 }
        if t.shape.recency { model[t.shape.recencyWeight] = 0.7 }
        let personal = t.shape.initialPersonal(seed: 9, device: 2)
        let tl = t.timeline(data, internal: 0)
        let score = t.scorer(model: model, personal: personal, timeline: tl, cut: 200)
        var rng = Xoshiro256(seed: 1)
        let v = t.view(
            model: model,
            personal: personal,
            timeline: tl,
            contexts: [.init(cut: 200, positives: [4, 5])],
            seen: Set(data.items),
            rng: &rng
        )
        let z = LSTTMKernel.logits(v.block, v.examples, range: 0..<v.examples.count)
        #expect(abs(z[0] - score(4)) < 1e-4)
        // A negative drawn from item 4's domain.
        let neg = v.examples.label.firstIndex(of: 0)!
        let globalNeg = (0..<24).first { i in abs(score(i) - z[neg]) < 1e-5 }
        #expect(globalNeg != nil && globalNeg! < 12 && !data.items.contains(Int32(globalNeg!)))
    }

    /// Long-term tensors carry weight only on the long-term module's rounds; the click
    /// model's on every round; concat sends no gate.
    @Test func updateWeightsFollowTheCadence() {
        for fusion in [LSTTMConfig.Fusion.gate, .concat] {
            let t = trainer(fusion: fusion)
            let shared = t.shape.initialShared(initStd: 0.1, seed: 2)
            let wo = t.shape.layout.weightOffsets
            var p = t.shape.initialPersonal(seed: 2, device: 0)
            var rng = Xoshiro256(seed: 3)
            let on = t.train(shared: shared, personal: &p, data: data, round: 1, rng: &rng)  // (1 − 1) % 2 == 0
            let pAfter = p
            let off = t.train(shared: shared, personal: &p, data: data, round: 2, rng: &rng)
            #expect(on.weights[wo[11]] == 8 && off.weights[wo[11]] == 0)
            #expect(on.weights[wo[10] + 13] > 0 && off.weights[(wo[10])..<(wo[11])].allSatisfy { $0 == 0 })
            #expect(p == pAfter)  // p_u moves only with the long-term module
            #expect(off.weights[wo[2]] == 6 && off.weights[wo[0] + 0] > 0 && off.weights[wo[0] + 20] == 0)
            #expect(off.weights[wo[5]] == (fusion == .gate ? 6 : 0))
            let r = t.shape.layout.range(of: "long_term.item_embedding")!
            #expect(off.weightedDelta[r].allSatisfy { $0 == 0 } && on.weightedDelta[r].contains { $0 != 0 })
        }
    }

    /// Without external behaviours the long-term module never touches external items.
    @Test func withoutExternalTheLongTermModuleSeesInternalOnly() {
        let t = trainer(external: false)
        var p = t.shape.initialPersonal(seed: 2, device: 0)
        var rng = Xoshiro256(seed: 3)
        let u = t.train(
            shared: t.shape.initialShared(initStd: 0.1, seed: 2),
            personal: &p,
            data: data,
            round: 1,
            rng: &rng
        )
        let wo = t.shape.layout.weightOffsets
        #expect(u.weights[wo[11]] == 6)
        let behaviours = t.context(t.timeline(data, internal: 0), before: .max).behaviours
        #expect(!behaviours.contains(13) && !behaviours.contains(14))
    }

    /// Temporal MAML: a device with a single period has no task and sends weight 0 for the
    /// click model; with three periods it trains.
    @Test func temporalMAMLNeedsTwoPeriods() {
        let t = trainer(meta: true)
        let wo = t.shape.layout.weightOffsets
        var p = t.shape.initialPersonal(seed: 2, device: 0)
        var rng = Xoshiro256(seed: 4)
        let shared = t.shape.initialShared(initStd: 0.1, seed: 2)
        let one = Interactions(items: [0, 1, 2], ratings: [1, 1, 1], timestamps: [10, 20, 30])
        let none = t.train(shared: shared, personal: &p, data: one, round: 2, rng: &rng)
        #expect(none.examples == 0 && none.weights.allSatisfy { $0 == 0 })
        let some = t.train(shared: shared, personal: &p, data: data, round: 2, rng: &rng)
        #expect(some.examples == 6 && some.weights[wo[3]] == 6 && some.weightedDelta.contains { $0 != 0 })
    }

    /// `meta.outer_step: per_round` takes β/E per episode: with E = 4 it trains exactly like
    /// β/4 per episode (bit for bit), and not like β per episode.
    @Test func perRoundOuterStepDividesByTheEpisodes() {
        func update(_ beta: Double, _ step: MetaConfig.OuterStep) -> [Float] {
            let t = trainer(meta: true, outer: (beta, step))
            var p = t.shape.initialPersonal(seed: 2, device: 0)
            var rng = Xoshiro256(seed: 4)
            let shared = t.shape.initialShared(initStd: 0.1, seed: 2)
            return t.train(shared: shared, personal: &p, data: data, round: 3, rng: &rng).weightedDelta
        }
        let perRound = update(0.4, .perRound)
        #expect(perRound == update(0.1, .perEpisode))
        #expect(perRound != update(0.4, .perEpisode))
    }

    /// Training raises the device's positives above the unseen items of their domain.
    @Test func trainingRaisesHeldOutPositives() {
        var t = trainer()
        t = LSTTMTrainer(
            shape: t.shape,
            config: t.config,
            local: {
                var l = LocalTrainingConfig()
                l.epochs = 30
                l.learningRate = 0.1
                return l
            }(),
            weighting: .perItem,
            meta: t.meta,
            negatives: 3,
            itemCategories: t.itemCategories,
            itemDomains: t.itemDomains,
            domainNames: ["a", "b"]
        )
        t.clock = PeriodClock(start: 0, length: 100)
        var shared = t.shape.initialShared(initStd: 0.1, seed: 5)
        var p = t.shape.initialPersonal(seed: 5, device: 0)
        var rng = Xoshiro256(seed: 6)
        let u = t.train(shared: shared, personal: &p, data: data, round: 1, rng: &rng)
        let slots = t.shape.layout.elementWeightSlots()
        for i in shared.indices where u.weights[Int(slots[i])] > 0 {
            shared[i] += u.weightedDelta[i] / u.weights[Int(slots[i])]
        }
        let score = t.scorer(model: shared, personal: p, timeline: t.timeline(data, internal: 0), cut: 200)
        let pos = [4, 5].map(score)
        let neg = [6, 7, 8, 9, 10, 11].map(score)
        #expect(pos.min()! > neg.reduce(0, +) / Float(neg.count))
    }
}
