import FedSimConfig
import FedSimCore
import FedSimData

/// Trains SVD++ on one device's ratings, from the global shared parameters and the device's
/// personal ones, by mini-batch SGD on `SVDPPKernel`'s loss.
///
/// The implicit set N(u) is the device's training items: it is read here and in evaluation,
/// on the device, and never sent anywhere. What leaves is the weighted delta of the rows of
/// those same items — q_i, b_i and y_i — so an update touches exactly the rows an MF update
/// touches. Per-item weighting gives a y row the weight of the item's q row (its ratings on
/// the device), so `training.item_shrinkage` shrinks rarely rated y rows like q rows.
public struct SVDPPTrainer: Sendable {
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

    public var shape: SVDPPShape { SVDPPShape(items: items, dim: dim) }

    /// The device's local view: its distinct training items (first-seen order), their rating
    /// counts and each rating's local row.
    struct View {
        var globalOf: [Int32] = []
        var counts: [Float] = []
        var localItems: [Int32] = []

        init(_ data: Interactions) {
            var localOf = [Int32: Int32]()
            localItems.reserveCapacity(data.count)
            for it in data.items {
                if let l = localOf[it] {
                    counts[Int(l)] += 1
                    localItems.append(l)
                } else {
                    let l = Int32(globalOf.count)
                    localOf[it] = l
                    globalOf.append(it)
                    counts.append(1)
                    localItems.append(l)
                }
            }
        }
    }

    /// Trains and returns the update; `personal` (p_u, b_u) is updated in place.
    public func train(
        shared: [Float],
        personal: inout [Float],
        data: Interactions,
        rng: inout some RandomNumberGenerator
    ) -> LocalUpdate {
        let s = shape
        precondition(shared.count == s.sharedCount && personal.count == dim + 1)
        let n = data.count
        let view = View(data)
        let start = s.localBlock(shared: shared, personal: personal, items: view.globalOf)
        var block = start
        var rows = ImplicitRows(start: start.implicit, dim: dim)
        var grad = SVDPPBlock<Float>(dim: dim, items: view.globalOf.count)
        var common = [Float](repeating: 0, count: dim)
        var batch = MFBatch(users: [Int32](repeating: 0, count: n), items: view.localItems, ratings: data.ratings)
        let loop = LocalLoop(config)
        let lr = loop.learningRate
        let l2 = Float(config.l2)
        let lastLoss = loop.run(Array(0..<n), rng: &rng) { order in
            batch.items = order.map { view.localItems[$0] }
            batch.ratings = order.map { data.ratings[$0] }
            var epochLoss: Float = 0
            for r in loop.batches(n) {
                var u = rows.normalizedSum()
                for f in 0..<dim { u[f] += block.user[f] }
                epochLoss += SVDPPKernel.accumulateGradient(
                    block,
                    effective: u,
                    batch,
                    range: r,
                    l2: l2,
                    into: &grad,
                    common: &common
                )
                Self.step(&block, &grad, items: batch.items[r], lr: lr)
                rows.step(common: common, lr: lr, l2: l2)
                for f in 0..<dim { common[f] = 0 }
                if loop.isProximal {
                    loop.pull(&block.item, towards: start.item)
                    loop.pull(&block.itemBias, towards: start.itemBias)
                    loop.pull(&block.globalBias, towards: start.globalBias)
                    rows.pull(lr * loop.proximalMu)
                }
            }
            return epochLoss
        }
        for f in 0..<dim { personal[f] = block.user[f] }
        personal[dim] = block.userBias
        return delta(start: start, end: block, rows: rows, view: view, examples: n, loss: lastLoss)
    }

    /// An SGD step on the fields `grad` holds (the batch's rows), zeroing what it applied.
    static func step(_ m: inout SVDPPBlock<Float>, _ g: inout SVDPPBlock<Float>, items: ArraySlice<Int32>, lr: Float) {
        let d = m.dim
        for f in 0..<d {
            m.user[f] -= lr * g.user[f]
            g.user[f] = 0
        }
        m.userBias -= lr * g.userBias
        g.userBias = 0
        for it in items {  // a row the batch rated twice is stepped once: its gradient is zeroed
            let i = Int(it)
            for f in 0..<d {
                m.item[i * d + f] -= lr * g.item[i * d + f]
                g.item[i * d + f] = 0
            }
            m.itemBias[i] -= lr * g.itemBias[i]
            g.itemBias[i] = 0
        }
        m.globalBias -= lr * g.globalBias
        g.globalBias = 0
    }

    /// The weighted delta of the session, scattered into the dense shared layout.
    func delta(
        start: SVDPPBlock<Float>,
        end: SVDPPBlock<Float>,
        rows: ImplicitRows<Float>,
        view: View,
        examples n: Int,
        loss: Double
    ) -> LocalUpdate {
        let s = shape
        let d = dim
        let nf = Float(n)
        var delta = [Float](repeating: 0, count: s.sharedCount)
        var weights: [Float]
        switch weighting {
        case .perItem: weights = [Float](repeating: 0, count: s.weightCount)
        case .examples: weights = [Float](repeating: nf, count: s.weightCount)
        case .uniform: weights = [Float](repeating: n > 0 ? 1 : 0, count: s.weightCount)
        }
        for (l, g) in view.globalOf.enumerated() {
            let gi = Int(g)
            let w: Float
            switch weighting {
            case .perItem:
                w = view.counts[l]
                for slot in s.weightSlots(item: gi) { weights[slot] = w }
            case .examples: w = nf
            case .uniform: w = 1
            }
            let y = rows.row(start.implicit[(l * d)..<((l + 1) * d)])
            for f in 0..<d {
                delta[gi * d + f] = w * (end.item[l * d + f] - start.item[l * d + f])
                delta[s.implicitBase + gi * d + f] = w * (y[f] - start.implicit[l * d + f])
            }
            delta[s.itemBiasBase + gi] = w * (end.itemBias[l] - start.itemBias[l])
        }
        let wMu: Float = weighting == .uniform ? (n > 0 ? 1 : 0) : nf
        weights[s.globalWeightSlot] = wMu
        delta[s.globalBiasIndex] = wMu * (end.globalBias - start.globalBias)
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: n, trainLoss: loss)
    }
}
