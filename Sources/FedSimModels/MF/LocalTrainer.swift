import FedSimConfig
import FedSimCore
import FedSimData

/// Trains the MF model on one device's ratings, starting from the global shared parameters
/// and the device's personal ones.
///
/// Works on a *local view*: only the rows of items this device rated are copied out, so a
/// device's cost is O(its ratings × dim × epochs), not O(catalogue). The delta is then
/// scattered into the dense shared layout.
public struct LocalTrainer: Sendable {
    public var config: LocalTrainingConfig
    public var weighting: TrainingConfig.Weighting
    public var items: Int
    public var dim: Int

    public init(config: LocalTrainingConfig, weighting: TrainingConfig.Weighting, items: Int, dim: Int) {
        self.config = config
        self.weighting = weighting
        self.items = items
        self.dim = dim
    }

    public var sharedCount: Int { items * dim + items + 1 }
    public var weightCount: Int { items + items + 1 }

    /// Trains and returns the update; `personal` is updated in place.
    public func train(
        shared: [Float],
        personal: inout [Float],
        data: Interactions,
        rng: inout some RandomNumberGenerator
    ) -> LocalUpdate {
        precondition(shared.count == sharedCount && personal.count == dim + 1)
        let n = data.count
        let d = dim
        // Local view: distinct items, in first-seen order.
        var localOf = [Int32: Int32]()
        var globalOf: [Int32] = []
        var counts: [Float] = []
        /// The local row of item `it` (a new one on first sight), counting the occurrence.
        func localRow(_ it: Int32) -> Int32 {
            if let l = localOf[it] {
                counts[Int(l)] += 1
                return l
            }
            let l = Int32(globalOf.count)
            localOf[it] = l
            globalOf.append(it)
            counts.append(1)
            return l
        }
        var localItems = [Int32](repeating: 0, count: n)
        for j in 0..<n { localItems[j] = localRow(data.items[j]) }
        // The ranking term's negatives for every epoch, drawn on the device before training from items it never
        // interacted with; their rows join the local view. (Squared error draws nothing, so its
        // generator stream — and every mse run — is unchanged.)
        let loop = LocalLoop(config)
        let negatives =
            config.loss.ranks
            ? MFNegatives.draw(
                count: loop.epochs * n * config.negatives,
                items: items,
                excluding: data.items,
                rng: &rng
            ) : []
        var localNegatives = [Int32](repeating: 0, count: negatives.count)
        let firstNegativeRow = globalOf.count
        for (t, it) in negatives.enumerated() { localNegatives[t] = localRow(it) }
        // A negative row's weight: its uses per epoch, like a rated row's, and at least one use.
        for l in firstNegativeRow..<globalOf.count { counts[l] = max(1, counts[l] / Float(max(1, loop.epochs))) }
        let m = globalOf.count
        var block = MFBlock<Float>(dim: d, users: 1, items: m)
        let biasBase = items * d
        for (l, g) in globalOf.enumerated() {
            let gi = Int(g)
            for f in 0..<d { block.item[l * d + f] = shared[gi * d + f] }
            block.itemBias[l] = shared[biasBase + gi]
        }
        block.globalBias = shared[biasBase + items]
        for f in 0..<d { block.user[f] = personal[f] }
        block.userBias[0] = personal[d]
        let start = block

        var grad = MFBlock<Float>(dim: d, users: 1, items: m)
        var step = SparseStep(config: config, shapeOf: block)
        var batch = MFBatch(users: [Int32](repeating: 0, count: n), items: localItems, ratings: data.ratings)
        let l2 = Float(config.l2)
        let objective = MFObjective(config, unrated: items - firstNegativeRow)
        var epoch = 0
        let lastLoss = loop.run(Array(0..<n), rng: &rng) { order in
            batch.items = order.map { localItems[$0] }
            batch.ratings = order.map { data.ratings[$0] }
            let drawn = objective.negatives(of: order, epoch: epoch, from: localNegatives)
            epoch += 1
            var epochLoss: Float = 0
            for r in loop.batches(n) {
                let stepped = objective.accumulate(block, batch, negatives: drawn, range: r, l2: l2, into: &grad)
                epochLoss += stepped.loss
                step.apply(
                    &block,
                    &grad,
                    users: stepped.users,
                    items: stepped.items,
                    range: stepped.range,
                    updateGlobalBias: true
                )
                if loop.isProximal {
                    loop.pull(&block.item, towards: start.item)
                    loop.pull(&block.itemBias, towards: start.itemBias)
                    loop.pull(&block.globalBias, towards: start.globalBias)
                }
            }
            return epochLoss
        }
        for f in 0..<d { personal[f] = block.user[f] }
        personal[d] = block.userBias[0]

        // Scatter the weighted delta into the dense shared layout.
        var delta = [Float](repeating: 0, count: sharedCount)
        var weights: [Float]
        let nf = Float(n)
        switch weighting {
        case .perItem: weights = [Float](repeating: 0, count: weightCount)
        case .examples: weights = [Float](repeating: nf, count: weightCount)
        case .uniform: weights = [Float](repeating: n > 0 ? 1 : 0, count: weightCount)
        }
        for (l, g) in globalOf.enumerated() {
            let gi = Int(g)
            let w: Float
            switch weighting {
            case .perItem:
                w = counts[l]
                weights[gi] = w
                weights[items + gi] = w
            case .examples: w = nf
            case .uniform: w = 1
            }
            for f in 0..<d { delta[gi * d + f] = w * (block.item[l * d + f] - start.item[l * d + f]) }
            delta[biasBase + gi] = w * (block.itemBias[l] - start.itemBias[l])
        }
        let wMu: Float = weighting == .uniform ? (n > 0 ? 1 : 0) : nf
        weights[2 * items] = wMu
        delta[biasBase + items] = wMu * (block.globalBias - start.globalBias)
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: n, trainLoss: lastLoss)
    }
}
