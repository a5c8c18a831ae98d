import FedSimConfig
import FedSimCore
import FedSimData

/// A device's behaviours in time order, each marked internal (the target domain) or external.
public struct Timeline: Sendable, Equatable {
    public var items: [Int32] = []
    public var times: [Int64] = []
    public var isInternal: [Bool] = []
    public init() {}
    public var count: Int { items.count }

    /// The index of the first behaviour at or after `t`.
    public func firstIndex(atOrAfter t: Int64) -> Int {
        var lo = 0
        var hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// Local training, online adaptation and scoring of LSTTM on one device (docs/personalization.md).
///
/// The device is a one-hop graph: its user node and the items it interacted with. Time is
/// cut into periods (the training span into `meta.periods`, the evaluation span into the
/// cold-start protocol's). A *context* is the user at the start of a period: its K most
/// recent internal behaviours before then (short-term) and every behaviour before then
/// (long-term; external ones only once they have arrived — their timestamps carry the delay).
/// Each internal interaction of the period is a positive in that context, with `negatives`
/// unseen items of the same domain, drawn on the device, as negatives.
public struct LSTTMTrainer: Sendable {
    public let shape: LSTTMShape
    public let config: LSTTMConfig
    public let local: LocalTrainingConfig
    public let weighting: TrainingConfig.Weighting
    public let meta: MetaConfig
    public let negatives: Int
    public let itemCategories: [Int32]
    public let itemDomains: [Int32]
    let itemsByDomain: [[Int32]]
    let namedDomain: Int32?
    /// The training span's periods (temporal MAML's tasks, and the training contexts).
    public var clock: PeriodClock?
    /// What temporal MAML's inner loop adapts (`meta.inner_groups`).
    public let innerModules: LSTTMModules

    public init(
        shape: LSTTMShape,
        config: LSTTMConfig,
        local: LocalTrainingConfig,
        weighting: TrainingConfig.Weighting,
        meta: MetaConfig,
        negatives: Int,
        itemCategories: [Int32],
        itemDomains: [Int32],
        domainNames: [String]
    ) {
        self.shape = shape
        self.config = config
        self.local = local
        self.weighting = weighting
        self.meta = meta
        self.negatives = negatives
        self.itemCategories = itemCategories
        self.itemDomains = itemDomains
        var byDomain = [[Int32]](repeating: [], count: max(1, domainNames.count))
        for i in 0..<shape.items {
            let d = i < itemDomains.count ? Int(itemDomains[i]) : 0
            byDomain[d < byDomain.count ? d : 0].append(Int32(i))
        }
        itemsByDomain = byDomain
        namedDomain =
            config.internalDomain.isEmpty ? nil : domainNames.firstIndex(of: config.internalDomain).map { Int32($0) }
        innerModules = Self.modules(meta.innerGroups)
    }

    public static func modules(_ groups: [AdaptedGroup]) -> LSTTMModules {
        var m: LSTTMModules = []
        for g in groups {
            if g == .shortTerm { m.insert(.shortTerm) }
            if g == .fusion { m.insert(.fusion) }
        }
        return m
    }

    // MARK: The device's graph

    func domain(_ item: Int32) -> Int32 { Int(item) < itemDomains.count ? itemDomains[Int(item)] : 0 }

    /// The internal domain: the named one, else the domain of most of `data` (ties: the lower index).
    public func internalDomain(of data: Interactions) -> Int32 {
        if let namedDomain { return namedDomain }
        var counts = [Int](repeating: 0, count: itemsByDomain.count)
        for i in data.items {
            let d = Int(domain(i))
            if d < counts.count { counts[d] += 1 }
        }
        var best = 0
        for d in counts.indices where counts[d] > counts[best] { best = d }
        return Int32(best)
    }

    public func timeline(_ data: Interactions, internal dom: Int32) -> Timeline {
        let order = (0..<data.count).sorted { (data.timestamps[$0], $0) < (data.timestamps[$1], $1) }
        var t = Timeline()
        for j in order {
            t.items.append(data.items[j])
            t.times.append(data.timestamps[j])
            t.isInternal.append(domain(data.items[j]) == dom)
        }
        return t
    }

    /// The context at time `cut`: the K most recent internal behaviours before it (newest
    /// first) and the behaviours the long-term module aggregates.
    public func context(_ tl: Timeline, before cut: Int64) -> (neighbours: [Int32], behaviours: [Int32]) {
        let end = tl.firstIndex(atOrAfter: cut)
        var nb: [Int32] = []
        var j = end - 1
        while j >= 0 && nb.count < config.neighbours {
            if tl.isInternal[j] { nb.append(tl.items[j]) }
            j -= 1
        }
        let behaviours = (0..<end).filter { config.external || tl.isInternal[$0] }.map { tl.items[$0] }
        return (nb, behaviours)
    }

    /// u_l = W_l · mean(g_b) + p_u from the flat parameters.
    public func longTermVector(_ model: [Float], _ personal: [Float], behaviours: [Int32]) -> [Float] {
        let s = shape
        let k = s.dim
        var mean = [Float](repeating: 0, count: k)
        for b in behaviours { for f in 0..<k { mean[f] += model[s.longTermItem + Int(b) * k + f] } }
        if !behaviours.isEmpty { for f in 0..<k { mean[f] /= Float(behaviours.count) } }
        var u = Array(personal.prefix(k))
        for a in 0..<k { for f in 0..<k { u[a] += model[s.projection + a * k + f] * mean[f] } }
        return u
    }

    // MARK: Local views

    /// The rows a device's examples touch, copied out of the flat parameters, and the way back.
    public struct View {
        public var block: LSTTMBlock<Float>
        public let start: LSTTMBlock<Float>
        public var examples: LSTTMExamples
        /// Per local row: its offset in the flat parameters, and whether it is a category row.
        let base: [Int]
        let isCategory: [Bool]
        /// Example indices per context, in context order.
        public let byContext: [[Int]]
        public let positives: Int
    }

    /// A context to build: when it starts, and the internal interactions it holds as positives.
    public struct ContextSpec {
        public var cut: Int64
        public var positives: [Int32]
        public init(cut: Int64, positives: [Int32]) {
            self.cut = cut
            self.positives = positives
        }
    }

    public func view(
        model: [Float],
        personal: [Float],
        timeline tl: Timeline,
        contexts: [ContextSpec],
        seen: Set<Int32>,
        rng: inout some RandomNumberGenerator
    ) -> View {
        let s = shape
        let k = s.dim
        let e = k + 1
        var localOf: [Int: Int32] = [:]
        var base: [Int] = []
        var isCategory: [Bool] = []
        func row(_ offset: Int, category: Bool) -> Int32 {
            if let l = localOf[offset] { return l }
            let l = Int32(base.count)
            localOf[offset] = l
            base.append(offset)
            isCategory.append(category)
            return l
        }
        func itemRow(_ i: Int32) -> Int32 { row(s.item + Int(i) * e, category: false) }
        func categoryRow(_ i: Int32) -> Int32 {
            guard s.categories > 0, Int(i) < itemCategories.count else { return -1 }
            let c = itemCategories[Int(i)]
            return c >= 0 && Int(c) < s.categories ? row(s.category + Int(c) * e, category: true) : -1
        }
        var x = LSTTMExamples(dim: k)
        var byContext: [[Int]] = []
        var positives = 0
        for spec in contexts {
            let (nb, behaviours) = context(tl, before: spec.cut)
            let c = x.addContext(
                neighbours: nb.map(itemRow),
                categories: nb.map(categoryRow),
                longTerm: longTermVector(model, personal, behaviours: behaviours)
            )
            var mine: [Int] = []
            for item in spec.positives {
                mine.append(x.count)
                x.append(context: c, item: itemRow(item), category: categoryRow(item), label: 1)
                positives += 1
                let pool = itemsByDomain[min(Int(domain(item)), itemsByDomain.count - 1)]
                for _ in 0..<negatives {
                    var j = pool[rng.nextBounded(pool.count)]
                    var tries = 0
                    while seen.contains(j) && tries < 100 {
                        j = pool[rng.nextBounded(pool.count)]
                        tries += 1
                    }
                    guard !seen.contains(j) else { break }
                    mine.append(x.count)
                    x.append(context: c, item: itemRow(j), category: categoryRow(j), label: 0)
                }
            }
            byContext.append(mine)
        }
        var b = LSTTMBlock<Float>(
            dim: k,
            hidden: s.hidden,
            rows: base.count,
            attention: config.attention,
            gated: s.gated,
            hasCategory: s.categories > 0
        )
        for (l, o) in base.enumerated() { for f in 0..<e { b.rows[l * e + f] = model[o + f] } }
        load(&b, from: model)
        return View(
            block: b,
            start: b,
            examples: x,
            base: base,
            isCategory: isCategory,
            byContext: byContext,
            positives: positives
        )
    }

    /// Copies the dense modules (short-term, fusion, scorer) out of the flat parameters.
    func load(_ b: inout LSTTMBlock<Float>, from model: [Float]) {
        let s = shape
        let k = s.dim
        let width = s.fields * k
        b.wUser = Array(model[s.wUser..<(s.wUser + k * k)])
        b.wNeighbour = Array(model[s.wNeighbour..<(s.wNeighbour + k * k)])
        b.att = Array(model[s.attention..<(s.attention + 2 * k)])
        b.gate = Array(model[s.gate..<(s.gate + 2 * (2 * k + 1))])
        b.w1 = Array(model[s.w1..<(s.w1 + s.hidden * width)])
        b.b1 = Array(model[s.b1..<(s.b1 + s.hidden)])
        b.out = Array(model[s.out..<(s.out + s.hidden)])
        b.bias = model[s.bias]
    }

    /// Writes the modules in `mask` of a block back into flat parameters.
    func store(_ b: LSTTMBlock<Float>, into model: inout [Float], mask: LSTTMModules) {
        let s = shape
        if mask.contains(.shortTerm) {
            model.replaceSubrange(s.wUser..<(s.wUser + b.wUser.count), with: b.wUser)
            model.replaceSubrange(s.wNeighbour..<(s.wNeighbour + b.wNeighbour.count), with: b.wNeighbour)
            model.replaceSubrange(s.attention..<(s.attention + b.att.count), with: b.att)
        }
        if mask.contains(.fusion) { model.replaceSubrange(s.gate..<(s.gate + b.gate.count), with: b.gate) }
    }

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
        let beta = Float(meta.outerLearningRate)
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

    // MARK: Scoring

    /// The click logit of any item for the user at time `cut` (its context from `tl`), with
    /// the flat parameters `model` (possibly adapted on the device). Allocation-free per item.
    public func scorer(model: [Float], personal: [Float], timeline tl: Timeline, cut: Int64) -> (Int) -> Float {
        let s = shape
        let k = s.dim
        let e = k + 1
        var b = LSTTMBlock<Float>(
            dim: k,
            hidden: s.hidden,
            rows: 0,
            attention: config.attention,
            gated: s.gated,
            hasCategory: s.categories > 0
        )
        b.rows = Array(model[s.item..<(s.item + (s.items + s.categories) * e)])  // items, then categories
        load(&b, from: model)
        var x = LSTTMExamples(dim: k)
        // In the full block, item i is row i and category c is row items + c.
        let categoryRow = { (i: Int) -> Int32? in
            let c = i < self.itemCategories.count ? self.itemCategories[i] : -1
            return s.categories > 0 && c >= 0 && Int(c) < s.categories ? Int32(s.items) + c : nil
        }
        let (nb, behaviours) = context(tl, before: cut)
        _ = x.addContext(
            neighbours: nb,
            categories: nb.map { categoryRow(Int($0)) ?? -1 },
            longTerm: longTermVector(model, personal, behaviours: behaviours)
        )
        x.append(context: 0, item: 0, category: -1, label: 0)
        let state = LSTTMKernel.shortTerm(b, x, 0)
        var fv = [Float](repeating: 0, count: s.fields * k)
        var pre = [Float](repeating: 0, count: s.hidden)
        let block = b
        return { i in
            x.item[0] = Int32(i)
            x.category[0] = categoryRow(i) ?? -1
            return LSTTMKernel.forward(block, x, 0, state, fv: &fv, pre: &pre).0
        }
    }

    /// Online adaptation (Algorithm 1's test phase): one context at `cut` holding `positives`,
    /// `steps` full-batch steps on `mask`, written back into `model`.
    public func adaptOnline(
        _ model: inout [Float],
        personal: [Float],
        timeline tl: Timeline,
        cut: Int64,
        positives: [Int32],
        seen: Set<Int32>,
        steps: Int,
        lr: Double,
        mask: LSTTMModules,
        rng: inout some RandomNumberGenerator
    ) {
        guard !positives.isEmpty, steps > 0 else { return }
        var v = view(
            model: model,
            personal: personal,
            timeline: tl,
            contexts: [ContextSpec(cut: cut, positives: positives)],
            seen: seen,
            rng: &rng
        )
        adapt(&v.block, v.examples, steps: steps, lr: lr, mask: mask)
        store(v.block, into: &model, mask: mask)
    }
}
