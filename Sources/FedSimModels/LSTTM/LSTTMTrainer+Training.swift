import FedSimConfig
import FedSimCore
import FedSimData

extension LSTTMTrainer {
    // MARK: Training

    /// One round on a device: the long-term module on its rounds, then the click model on
    /// the internal interactions (temporal MAML, or plain epochs without it).
    public func train(
        shared: [Float],
        personal: inout [Float],
        data: Interactions,
        round: Int,
        rng: inout some RandomNumberGenerator
    ) -> LocalUpdate {
        let s = shape
        let k = s.dim
        let e = k + 1
        let layout = s.layout
        let wo = layout.weightOffsets
        let tl = timeline(data, internal: internalDomain(of: data))
        var delta = [Float](repeating: 0, count: layout.count)
        var weights = [Float](repeating: 0, count: layout.weightCount)
        var model = shared
        var p = Array(personal.prefix(k))
        if (round - 1) % config.longTermEvery == 0 && config.longTermSteps > 0 {
            trainLongTerm(&model, &p, tl, delta: &delta, weights: &weights, rng: &rng)
            for f in 0..<k { personal[f] = p[f] }
        }

        // Contexts: one per training period with internal interactions.
        var byPeriod: [Int: [Int32]] = [:]
        for j in 0..<tl.count where tl.isInternal[j] {
            byPeriod[clock?.period(of: tl.times[j]) ?? 0, default: []].append(tl.items[j])
        }
        let periods = byPeriod.keys.sorted()
        let specs = periods.map {
            ContextSpec(cut: clock?.begin($0) ?? (tl.times.first ?? 0), positives: byPeriod[$0]!)
        }
        var v = view(model: model, personal: p, timeline: tl, contexts: specs, seen: Set(data.items), rng: &rng)
        let n = v.positives
        var loss = 0.0
        var trained = n > 0
        if meta.enabled {
            let (l, episodes) = metaTrain(&v, rng: &rng)
            loss = l
            trained = episodes > 0
        } else if n > 0 {
            loss = epochs(&v, rng: &rng)
        }
        guard trained else {
            return LocalUpdate(weightedDelta: delta, weights: weights, examples: 0, trainLoss: 0)
        }
        let whole: Float = weighting == .uniform ? 1 : Float(n)
        var uses = [Float](repeating: 0, count: v.base.count)
        for j in 0..<v.examples.count {
            uses[Int(v.examples.item[j])] += 1
            if v.examples.category[j] >= 0 { uses[Int(v.examples.category[j])] += 1 }
        }
        for nb in v.examples.neighbours { for r in nb { uses[Int(r)] += 1 } }
        if weighting != .perItem {
            for r in 0..<s.items { weights[wo[0] + r] = whole }
            for r in 0..<s.categories { weights[wo[1] + r] = whole }
        }
        for (l, o) in v.base.enumerated() {
            let slot = v.isCategory[l] ? wo[1] + (o - s.category) / e : wo[0] + (o - s.item) / e
            // Per-item weighting: an item row by its uses; category rows count the device once.
            let w: Float = weighting == .perItem ? (v.isCategory[l] ? 1 : uses[l]) : whole
            weights[slot] = w
            for f in 0..<e { delta[o + f] = w * (v.block.rows[l * e + f] - v.start.rows[l * e + f]) }
        }
        for t in 2...9 { weights[wo[t]] = whole }
        if !s.gated { weights[wo[5]] = 0 }
        func put(_ offset: Int, _ new: [Float], _ old: [Float]) {
            for i in new.indices { delta[offset + i] = whole * (new[i] - old[i]) }
        }
        let b = v.block
        let a = v.start
        put(s.wUser, b.wUser, a.wUser)
        put(s.wNeighbour, b.wNeighbour, a.wNeighbour)
        put(s.attention, b.att, a.att)
        if s.gated { put(s.gate, b.gate, a.gate) }
        put(s.w1, b.w1, a.w1)
        put(s.b1, b.b1, a.b1)
        put(s.out, b.out, a.out)
        delta[s.bias] = whole * (b.bias - a.bias)
        if s.recency {
            weights[wo[12]] = whole
            delta[s.recencyWeight] = whole * (b.recency - a.recency)
        }
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: n, trainLoss: loss)
    }

    /// Mini-batch SGD epochs over every example, all modules. Returns the last epoch's mean loss.
    func epochs(_ v: inout View, rng: inout some RandomNumberGenerator) -> Double {
        var grad = v.block.zeros()
        let loop = LocalLoop(local)
        let lr = Float(local.learningRate)
        let l2 = Float(local.l2)
        let start = v.block
        return loop.run(Array(0..<v.examples.count), rng: &rng) { order in
            let batch = v.examples.subset(order)
            var sum: Float = 0
            for r in loop.batches(batch.count) {
                sum += LSTTMKernel.accumulateGradient(v.block, batch, range: r, l2: l2, into: &grad)
                LSTTMKernel.step(&v.block, &grad, lr: lr, mask: .all)
                if loop.isProximal { Self.pull(&v.block, towards: start, loop) }
            }
            return sum
        }
    }

    /// FedProx's proximal step on every shared module of the click model.
    static func pull(_ b: inout LSTTMBlock<Float>, towards w: LSTTMBlock<Float>, _ loop: LocalLoop) {
        loop.pull(&b.rows, towards: w.rows)
        loop.pull(&b.wUser, towards: w.wUser)
        loop.pull(&b.wNeighbour, towards: w.wNeighbour)
        loop.pull(&b.att, towards: w.att)
        loop.pull(&b.gate, towards: w.gate)
        loop.pull(&b.w1, towards: w.w1)
        loop.pull(&b.b1, towards: w.b1)
        loop.pull(&b.out, towards: w.out)
        loop.pull(&b.bias, towards: w.bias)
        loop.pull(&b.recency, towards: w.recency)
    }

    /// Temporal MAML (the paper's Algorithm 1, first-order): each episode takes a pair of
    /// successive periods, adapts `meta.inner_groups` (short-term, fusion) on the first with
    /// `inner_steps` full-batch steps, and steps every module with the gradient of the next
    /// period's loss at the adapted point. Pairs are drawn without replacement, reshuffled
    /// when used up. Returns (mean query loss, episodes).
    func metaTrain(_ v: inout View, rng: inout some RandomNumberGenerator) -> (Double, Int) {
        var pairs: [([Int], [Int])] = []
        for c in v.byContext.indices.dropLast() where !v.byContext[c].isEmpty && !v.byContext[c + 1].isEmpty {
            pairs.append((v.byContext[c], v.byContext[c + 1]))
        }
        guard !pairs.isEmpty else { return (0, 0) }
        let l2 = Float(local.l2)
        let beta = Float(meta.outerStepPerEpisode)
        var queue: [([Int], [Int])] = []
        var lossSum = 0.0
        for _ in 0..<meta.episodes {
            if queue.isEmpty {
                queue = pairs
                for i in stride(from: queue.count - 1, to: 0, by: -1) { queue.swapAt(i, rng.nextBounded(i + 1)) }
            }
            let (support, query) = queue.removeLast()
            var adapted = v.block
            adapt(
                &adapted,
                v.examples.subset(support),
                steps: meta.innerSteps,
                lr: meta.innerLearningRate,
                mask: innerModules
            )
            var q = query
            if meta.queryBatch > 0 && q.count > meta.queryBatch {
                for i in 0..<meta.queryBatch { q.swapAt(i, i + rng.nextBounded(q.count - i)) }
                q = Array(q.prefix(meta.queryBatch))
            }
            let batch = v.examples.subset(q)
            var g = adapted.zeros()
            lossSum +=
                Double(LSTTMKernel.accumulateGradient(adapted, batch, range: 0..<batch.count, l2: l2, into: &g))
                / Double(batch.count)
            LSTTMKernel.step(&v.block, &g, lr: beta, mask: .all)
        }
        return (lossSum / Double(meta.episodes), meta.episodes)
    }

    /// Full-batch SGD steps on the modules in `mask` (the inner loop, and online adaptation).
    public func adapt(_ b: inout LSTTMBlock<Float>, _ x: LSTTMExamples, steps: Int, lr: Double, mask: LSTTMModules) {
        guard x.count > 0, steps > 0, !mask.isEmpty else { return }
        var g = b.zeros()
        for _ in 0..<steps {
            _ = LSTTMKernel.accumulateGradient(b, x, range: 0..<x.count, l2: Float(local.l2), into: &g)
            LSTTMKernel.step(&b, &g, lr: Float(lr), mask: mask)
        }
    }

    /// The neighbour-similarity loss (Eq. 8) on the device's behaviours: full-batch steps on
    /// the long-term rows it touches, W_l and p_u. Writes the trained values into `model` and
    /// `p`, and the weighted delta of the long-term tensors into `delta` / `weights`.
    func trainLongTerm(
        _ model: inout [Float],
        _ p: inout [Float],
        _ tl: Timeline,
        delta: inout [Float],
        weights: inout [Float],
        rng: inout some RandomNumberGenerator
    ) {
        let s = shape
        let k = s.dim
        let wo = s.layout.weightOffsets
        let behaviours = (0..<tl.count).filter { config.external || tl.isInternal[$0] }.map { tl.items[$0] }
        guard !behaviours.isEmpty else { return }
        var localOf: [Int32: Int32] = [:]
        var global: [Int32] = []
        func row(_ i: Int32) -> Int32 {
            if let l = localOf[i] { return l }
            localOf[i] = Int32(global.count)
            global.append(i)
            return Int32(global.count - 1)
        }
        var x = LongTermExamples()
        x.behaviours = behaviours.map(row)
        let seen = Set(tl.items)
        for b in behaviours {
            x.row.append(row(b))
            x.label.append(1)
            guard seen.count < s.items else { continue }
            for _ in 0..<config.longTermNegatives {
                var j = Int32(rng.nextBounded(s.items))
                while seen.contains(j) { j = Int32(rng.nextBounded(s.items)) }
                x.row.append(row(j))
                x.label.append(0)
            }
        }
        var blk = LongTermBlock<Float>(dim: k, rows: global.count)
        for (l, i) in global.enumerated() {
            for f in 0..<k { blk.rows[l * k + f] = model[s.longTermItem + Int(i) * k + f] }
        }
        blk.projection = Array(model[s.projection..<(s.projection + k * k)])
        blk.user = p
        let start = blk
        var g = blk.zeros()
        let lr = Float(config.longTermLearningRate)
        let l2 = Float(local.l2)
        for _ in 0..<config.longTermSteps {
            LongTermKernel.accumulateGradient(blk, x, l2: l2, into: &g)
            for i in blk.rows.indices {
                blk.rows[i] -= lr * g.rows[i]
                g.rows[i] = 0
            }
            for i in blk.projection.indices {
                blk.projection[i] -= lr * g.projection[i]
                g.projection[i] = 0
            }
            for f in 0..<k {
                blk.user[f] -= lr * g.user[f]
                g.user[f] = 0
            }
        }
        p = blk.user
        let whole: Float = weighting == .uniform ? 1 : Float(behaviours.count)
        var uses = [Float](repeating: 0, count: global.count)
        for r in x.row { uses[Int(r)] += 1 }
        for r in x.behaviours { uses[Int(r)] += 1 }
        if weighting != .perItem { for r in 0..<s.items { weights[wo[10] + r] = whole } }
        for (l, i) in global.enumerated() {
            let w = weighting == .perItem ? uses[l] : whole
            weights[wo[10] + Int(i)] = w
            for f in 0..<k {
                let o = s.longTermItem + Int(i) * k + f
                delta[o] = w * (blk.rows[l * k + f] - start.rows[l * k + f])
                model[o] = blk.rows[l * k + f]
            }
        }
        weights[wo[11]] = whole
        for i in 0..<(k * k) {
            delta[s.projection + i] = whole * (blk.projection[i] - start.projection[i])
            model[s.projection + i] = blk.projection[i]
        }
    }
}
