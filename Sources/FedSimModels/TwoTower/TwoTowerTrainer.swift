import FedSimConfig
import FedSimCore
import FedSimData

/// Local training of the two-tower model under a personalization strategy or a
/// meta-learning algorithm (docs/personalization.md), and on-device adaptation.
///
/// Every path returns the weighted delta of the shared and domain groups only; the personal
/// offset is written back to `personal` (or dropped, for strategies that never store it).
public struct TwoTowerTrainer: Sendable {
    public let shape: TwoTowerShape
    public let local: LocalTrainingConfig
    public let weighting: TrainingConfig.Weighting
    public let personalization: PersonalizationConfig
    public let meta: MetaConfig
    public let itemCategories: [Int32]
    public let itemDomains: [Int32]
    /// Maps a timestamp to its period (temporal tasks); nil when tasks are random.
    public var periodOf: (@Sendable (Int64) -> Int)?
    /// Weight of the cross-domain alignment loss (`model.alignment_weight` with
    /// `model.disentangle`); 0: off. Applied once per local epoch to the shared item tower.
    public var alignmentWeight = 0.0
    /// Contrastive alignment (`model.alignment: contrastive`): negatives per round, drawn on
    /// the device from the second domain's items it never interacted with, and the
    /// temperature τ. 0 negatives: the cosine alignment.
    public var alignmentNegatives = 0
    public var alignmentTemperature = 0.2
    var temperature: Float { alignmentNegatives > 0 ? Float(alignmentTemperature) : 0 }

    public init(
        shape: TwoTowerShape,
        local: LocalTrainingConfig,
        weighting: TrainingConfig.Weighting,
        personalization: PersonalizationConfig,
        meta: MetaConfig,
        itemCategories: [Int32],
        itemDomains: [Int32]
    ) {
        self.shape = shape
        self.local = local
        self.weighting = weighting
        self.personalization = personalization
        self.meta = meta
        self.itemCategories = itemCategories
        self.itemDomains = itemDomains
    }

    public func view(shared: [Float], offset: [Float], data: Interactions, features: [Int32]) -> TwoTowerView {
        TwoTowerView(
            shape: shape,
            shared: shared,
            offset: offset,
            data: data,
            features: features,
            itemCategories: itemCategories,
            itemDomains: itemDomains
        )
    }

    public var zeroOffset: [Float] { [Float](repeating: 0, count: shape.personalCount) }

    public static func mask(_ groups: [AdaptedGroup]) -> GroupMask {
        var m: GroupMask = []
        for g in groups {
            switch g {
            case .personal: m.insert(.personal)
            case .categories: m.insert(.categories)
            case .userFeatures: m.insert(.userFeatures)
            case .domain, .shortTerm, .fusion: m.insert(.domain)
            }
        }
        return m
    }

    // MARK: Building blocks

    /// Mini-batch SGD epochs over `indices` (shuffled each epoch) on the groups in `mask`.
    /// Returns the mean ½e² of the last epoch.
    @discardableResult
    public func epochs(
        _ v: inout TwoTowerView,
        _ indices: [Int],
        epochs: Int,
        mask: GroupMask,
        offsetL2: Double? = nil,
        rng: inout some RandomNumberGenerator
    ) -> Double {
        guard !indices.isEmpty, epochs > 0 else { return 0 }
        v.markUsed(indices)
        var grad = v.block.zeros()
        let loop = LocalLoop(local, epochs: epochs)
        let l2 = Float(local.l2)
        let ol2 = Float(offsetL2 ?? local.l2)
        let lr = Float(local.learningRate)
        let start = v.block
        let objective = TwoTowerObjective(local, unrated: v.unrated)
        let n = v.examples.count
        return loop.run(indices, rng: &rng) { order in
            let batch = v.examples.subset(order)
            let drawn = objective.negatives(of: order, epoch: v.rankingEpoch, examples: n, pool: v.rankingPool)
            v.rankingEpoch += 1
            var sum: Float = 0
            for r in loop.batches(batch.count) {
                let (loss, ranked) = objective.step(
                    &v.block,
                    &grad,
                    batch,
                    negatives: drawn,
                    range: r,
                    l2: l2,
                    offsetL2: ol2,
                    lr: lr,
                    mask: mask
                )
                sum += loss
                if mask.contains(.shared) && ranked.count > 0 { v.markUsed(ranked) }
                if loop.isProximal { Self.pull(&v.block, towards: start, mask: mask, loop) }
            }
            if alignmentWeight > 0 && mask.contains(.shared) {
                TwoTowerAlignment.accumulateGradient(
                    v.block,
                    batch,
                    weight: Float(alignmentWeight),
                    temperature: temperature,
                    into: &grad
                )
                TwoTowerKernel.step(&v.block, &grad, batch, range: 0..<batch.count, lr: lr, mask: [.shared])
                v.markNegativesUsed()
            }
            return sum
        }
    }

    /// FedProx's proximal step on the federated groups in `mask` (shared tensors; domain adapters).
    static func pull(
        _ b: inout TwoTowerBlock<Float>,
        towards w: TwoTowerBlock<Float>,
        mask: GroupMask,
        _ loop: LocalLoop
    ) {
        if mask.contains(.shared) {
            loop.pull(&b.item, towards: w.item)
            loop.pull(&b.itemBias, towards: w.itemBias)
            loop.pull(&b.globalBias, towards: w.globalBias)
            loop.pull(&b.prior, towards: w.prior)
            loop.pull(&b.features, towards: w.features)
            loop.pull(&b.category, towards: w.category)
            loop.pull(&b.adapterPrior, towards: w.adapterPrior)
        }
        if mask.contains(.domain) { loop.pull(&b.adapter, towards: w.adapter) }
    }

    /// Full-batch SGD: `steps` steps with learning rate `lr` on `mask` over `indices`
    /// (the inner loop of meta-learning and on-device adaptation).
    public func adapt(
        _ block: inout TwoTowerBlock<Float>,
        _ x: TwoTowerExamples,
        _ indices: [Int],
        steps: Int,
        lr: Double,
        mask: GroupMask
    ) {
        guard !indices.isEmpty, steps > 0 else { return }
        let batch = x.subset(indices)
        var grad = block.zeros()
        for _ in 0..<steps {
            _ = TwoTowerKernel.accumulateGradient(
                block,
                batch,
                range: 0..<batch.count,
                l2: Float(local.l2),
                offsetL2: Float(local.l2),
                into: &grad
            )
            TwoTowerKernel.step(&block, &grad, batch, range: 0..<batch.count, lr: Float(lr), mask: mask)
        }
    }

    /// The gradient of the mean loss over `indices` at `block` (all groups).
    func gradient(
        _ block: TwoTowerBlock<Float>,
        _ x: TwoTowerExamples,
        _ indices: [Int]
    ) -> (TwoTowerBlock<Float>, Double) {
        var g = block.zeros()
        let batch = x.subset(indices)
        let sum = TwoTowerKernel.accumulateGradient(
            block,
            batch,
            range: 0..<batch.count,
            l2: Float(local.l2),
            offsetL2: Float(local.l2),
            into: &g
        )
        return (g, Double(sum) / Double(max(1, batch.count)))
    }

    // MARK: Training

    /// One round of local training for a device. Strategies are described on
    /// `PersonalizationConfig.Strategy`, algorithms on `MetaConfig.Algorithm`.
    public func train(
        shared: [Float],
        personal: inout [Float],
        data: Interactions,
        features: [Int32],
        rng: inout some RandomNumberGenerator
    ) -> LocalUpdate {
        let all = Array(0..<data.count)
        let body: GroupMask = [.shared, .domain]
        let localEpochs = local.epochs
        let personalEpochs = personalization.personalEpochs
        if meta.enabled {
            var v = trainingView(
                shared: shared,
                offset: zeroOffset,
                data: data,
                features: features,
                rankingEpochs: 0,
                rng: &rng
            )
            let (loss, episodes) = metaTrain(&v, rng: &rng)
            var u = v.update(weighting: weighting, trainLoss: loss)
            if episodes == 0 {
                // No task on this device (e.g. no two periods with data): it contributes
                // nothing, and must not weigh down the others' updates.
                for i in u.weights.indices { u.weights[i] = 0 }
                u.examples = 0
            }
            return u
        }
        switch personalization.strategy {
        case .global:
            var v = trainingView(
                shared: shared,
                offset: zeroOffset,
                data: data,
                features: features,
                rankingEpochs: localEpochs,
                rng: &rng
            )
            let loss = epochs(&v, all, epochs: local.epochs, mask: body, rng: &rng)
            return v.update(weighting: weighting, trainLoss: loss)
        case .fedper:
            var v = trainingView(
                shared: shared,
                offset: personal,
                data: data,
                features: features,
                rankingEpochs: localEpochs,
                rng: &rng
            )
            let loss = epochs(&v, all, epochs: local.epochs, mask: .all, rng: &rng)
            personal = v.block.offset
            return v.update(weighting: weighting, trainLoss: loss)
        case .fedrep:
            var v = trainingView(
                shared: shared,
                offset: personal,
                data: data,
                features: features,
                rankingEpochs: personalEpochs + localEpochs,
                rng: &rng
            )
            epochs(&v, all, epochs: personalization.personalEpochs, mask: .personal, rng: &rng)
            let loss = epochs(&v, all, epochs: local.epochs, mask: body, rng: &rng)
            personal = v.block.offset
            return v.update(weighting: weighting, trainLoss: loss)
        case .ditto:
            var g = trainingView(
                shared: shared,
                offset: zeroOffset,
                data: data,
                features: features,
                rankingEpochs: localEpochs,
                rng: &rng
            )
            let loss = epochs(&g, all, epochs: local.epochs, mask: body, rng: &rng)
            var p = trainingView(
                shared: shared,
                offset: personal,
                data: data,
                features: features,
                rankingEpochs: personalEpochs,
                alignment: false,
                rng: &rng
            )
            epochs(
                &p,
                all,
                epochs: personalization.personalEpochs,
                mask: .personal,
                offsetL2: personalization.dittoLambda,
                rng: &rng
            )
            personal = p.block.offset
            return g.update(weighting: weighting, trainLoss: loss)
        case .fedrecon:
            var order = all
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextBounded(i + 1)) }
            let cut = max(1, Int((Double(order.count) * personalization.reconstructionFraction).rounded()))
            let support = Array(order.prefix(cut))
            let query = order.count > cut ? Array(order.dropFirst(cut)) : support
            var v = trainingView(
                shared: shared,
                offset: zeroOffset,
                data: data,
                features: features,
                rankingEpochs: personalEpochs + localEpochs,
                rng: &rng
            )
            epochs(&v, support, epochs: personalization.personalEpochs, mask: .personal, rng: &rng)
            let loss = epochs(&v, query, epochs: local.epochs, mask: body, rng: &rng)
            return v.update(weighting: weighting, trainLoss: loss)
        }
    }

    /// Meta-training episodes on one device (the task). The view's offset stays at 0: the
    /// user tower's initialisation is the shared prior (+ features), and that is what the
    /// episodes learn.
    func metaTrain(_ v: inout TwoTowerView, rng: inout some RandomNumberGenerator) -> (loss: Double, episodes: Int) {
        let n = v.examples.count
        guard n >= 2 else { return (0, 0) }
        let inner = Self.mask(meta.innerGroups)
        let beta = Float(meta.outerStepPerEpisode)
        var lossSum = 0.0
        var episodes = 0
        var reptileStep = [Float](repeating: 0, count: shape.personalCount)
        // Temporal tasks: each (period, next period) pair at most once per round, in random
        // order; a device's pairs are few, and repeating one would overfit its query.
        var temporal = temporalPairs(v, rng: &rng)
        for _ in 0..<meta.episodes {
            let split: ([Int], [Int])?
            if temporal != nil {
                guard let pair = temporal!.popLast() else { break }
                split = (pair.0, capped(pair.1, rng: &rng))
            } else {
                split = episodeSplit(v, rng: &rng)
            }
            guard let (support, query) = split else { continue }
            v.markUsed(support)
            v.markUsed(query)
            var adapted = v.block
            let steps = meta.algorithm == .perfedavg ? 1 : meta.innerSteps
            var rule = personalization.adaptation
            rule.learningRate = meta.innerLearningRate
            let sums = innerLoop(&adapted, v, support, steps: steps, rule: rule, mask: inner)
            let (g, loss) = gradient(adapted, v.examples, query)
            if let sums {
                metaSGDStep(
                    &v.rates,
                    sums: sums,
                    query: g,
                    scale: rule.learningRate(support: support.count) / rule.learningRate
                )
            }
            lossSum += loss
            episodes += 1
            // Outer step on the shared and domain groups (first-order: gradients at the adapted point).
            let reptile = meta.algorithm == .reptile
            v.block.globalBias -= beta * g.globalBias
            for i in v.block.item.indices { v.block.item[i] -= beta * g.item[i] }
            for i in v.block.itemBias.indices { v.block.itemBias[i] -= beta * g.itemBias[i] }
            for i in v.block.category.indices { v.block.category[i] -= beta * g.category[i] }
            for i in v.block.features.indices { v.block.features[i] -= beta * g.features[i] }
            if reptile && inner.contains(.personal) {
                // Reptile direction for the user tower's initialisation: toward the adapted user
                // (averaged over the episodes: batched Reptile, ε = 1 on the device).
                for f in reptileStep.indices { reptileStep[f] += adapted.offset[f] / Float(meta.episodes) }
            } else {
                for f in v.block.prior.indices { v.block.prior[f] -= beta * g.prior[f] }
            }
            if reptile && inner.contains(.domain) {
                for i in v.block.adapter.indices {
                    v.block.adapter[i] += (adapted.adapter[i] - v.block.adapter[i]) / Float(meta.episodes)
                }
            } else {
                for i in v.block.adapter.indices { v.block.adapter[i] -= beta * g.adapter[i] }
            }
            // The shared adapter prior (disentanglement) is shared: it always takes the query gradient.
            for i in v.block.adapterPrior.indices { v.block.adapterPrior[i] -= beta * g.adapterPrior[i] }
        }
        for f in reptileStep.indices { v.block.prior[f] += reptileStep[f] }
        if alignmentWeight > 0 && episodes > 0 {
            // Cross-domain alignment, once per round as in `epochs`, on all of the device's data.
            var g = v.block.zeros()
            TwoTowerAlignment.accumulateGradient(
                v.block,
                v.examples,
                weight: Float(alignmentWeight),
                temperature: temperature,
                into: &g
            )
            v.markUsed(0..<n)
            v.markNegativesUsed()
            TwoTowerKernel.step(&v.block, &g, v.examples, range: 0..<n, lr: beta, mask: [.shared])
        }
        return (episodes > 0 ? lossSum / Double(episodes) : 0, episodes)
    }
}
