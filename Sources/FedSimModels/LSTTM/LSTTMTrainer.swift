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

    /// The recency feature's shares at time `cut`: per category, the fraction of the device's
    /// internal behaviours in [cut − `recency_days`, cut) that fall in it. Empty when the
    /// feature is off or the window holds nothing. A `cut` past the last behaviour (scoring
    /// after all of training) ends the window at the last behaviour instead, so "recent"
    /// means the device's latest days, not days after its data ends.
    public func recencyShares(_ tl: Timeline, before cut: Int64) -> [Int32: Float] {
        guard config.recencyDays > 0, let last = tl.times.last else { return [:] }
        let end = cut > last ? last + 1 : cut
        let begin = end - Int64(config.recencyDays * 86_400)
        var counts: [Int32: Float] = [:]
        var total: Float = 0
        for j in tl.firstIndex(atOrAfter: begin)..<tl.firstIndex(atOrAfter: end) where tl.isInternal[j] {
            total += 1
            let i = Int(tl.items[j])
            if i < itemCategories.count && itemCategories[i] >= 0 { counts[itemCategories[i], default: 0] += 1 }
        }
        guard total > 0 else { return [:] }
        return counts.mapValues { $0 / total }
    }

    /// r for one item under `shares` (0 for an item without a category).
    @inline(__always)
    func recency(of item: Int, _ shares: [Int32: Float]) -> Float {
        guard !shares.isEmpty, item < itemCategories.count else { return 0 }
        return shares[itemCategories[item]] ?? 0
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
            let shares = recencyShares(tl, before: spec.cut)
            let c = x.addContext(
                neighbours: nb.map(itemRow),
                categories: nb.map(categoryRow),
                longTerm: longTermVector(model, personal, behaviours: behaviours)
            )
            var mine: [Int] = []
            for item in spec.positives {
                mine.append(x.count)
                x.append(
                    context: c,
                    item: itemRow(item),
                    category: categoryRow(item),
                    label: 1,
                    recency: recency(of: Int(item), shares)
                )
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
                    x.append(
                        context: c,
                        item: itemRow(j),
                        category: categoryRow(j),
                        label: 0,
                        recency: recency(of: Int(j), shares)
                    )
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
            hasCategory: s.categories > 0,
            recencyInput: s.recency
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
        let width = s.mlpWidth
        b.wUser = Array(model[s.wUser..<(s.wUser + k * k)])
        b.wNeighbour = Array(model[s.wNeighbour..<(s.wNeighbour + k * k)])
        b.att = Array(model[s.attention..<(s.attention + 2 * k)])
        b.gate = Array(model[s.gate..<(s.gate + 2 * (2 * k + 1))])
        b.w1 = Array(model[s.w1..<(s.w1 + s.hidden * width)])
        b.b1 = Array(model[s.b1..<(s.b1 + s.hidden)])
        b.out = Array(model[s.out..<(s.out + s.hidden)])
        b.bias = model[s.bias]
        b.recency = s.recency ? model[s.recencyWeight] : 0
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
            hasCategory: s.categories > 0,
            recencyInput: s.recency
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
        let shares = recencyShares(tl, before: cut)
        _ = x.addContext(
            neighbours: nb,
            categories: nb.map { categoryRow(Int($0)) ?? -1 },
            longTerm: longTermVector(model, personal, behaviours: behaviours)
        )
        x.append(context: 0, item: 0, category: -1, label: 0)
        let state = LSTTMKernel.shortTerm(b, x, 0)
        var fv = [Float](repeating: 0, count: s.mlpWidth)
        var pre = [Float](repeating: 0, count: s.hidden)
        let block = b
        return { i in
            x.item[0] = Int32(i)
            x.category[0] = categoryRow(i) ?? -1
            x.recency[0] = self.recency(of: i, shares)
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
