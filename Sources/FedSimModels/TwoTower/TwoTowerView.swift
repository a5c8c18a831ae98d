import FedSimConfig
import FedSimCore
import FedSimData

/// One device's local view of the two-tower model: the rows its data touches, copied out of
/// the flat shared vector, its examples in local indices, and the way back (the weighted
/// delta scattered into the shared layout). A device's cost is O(its data × dim), never
/// O(catalogue).
public struct TwoTowerView {
    public let shape: TwoTowerShape
    public var block: TwoTowerBlock<Float>
    public let start: TwoTowerBlock<Float>
    public let examples: TwoTowerExamples
    public let timestamps: [Int64]
    /// Meta-SGD's learned inner rates as received, and as the outer steps move them.
    public var rates: TwoTowerRates<Float>
    let startRates: TwoTowerRates<Float>
    let itemGlobal: [Int32], categoryGlobal: [Int32], adapterGlobal: [Int32], featureRows: [Int]
    let itemCount: [Float], adapterCount: [Float]
    /// Local rows some step or gradient has used (only those carry weight in per-item weighting).
    var itemUsed: [Bool], categoryUsed: [Bool], adapterUsed: [Bool]
    /// The ranking term's negatives (local rows), epoch-major: epoch e's negative s of example
    /// j is entry (e·n + j)·m + s. Empty without a ranking loss.
    public let rankingPool: TwoTowerCandidates
    /// Epochs of `rankingPool` the local epochs have used so far.
    var rankingEpoch = 0
    /// Items of the catalogue this device never interacted with (the logQ correction's U).
    public let unrated: Int

    /// - Parameters:
    ///   - negatives: items the device never interacted with, given local rows for the
    ///     contrastive alignment (they are no examples).
    ///   - rankingNegatives: the ranking term's negatives for `rankingEpochs` epochs (global
    ///     items the device never interacted with), given local rows as `rankingPool`.
    public init(
        shape: TwoTowerShape,
        shared: [Float],
        offset: [Float],
        data: Interactions,
        features: [Int32],
        itemCategories: [Int32],
        itemDomains: [Int32],
        negatives: [Int32] = [],
        rankingNegatives: [Int32] = [],
        rankingEpochs: Int = 1
    ) {
        precondition(shared.count == shape.layout.count && offset.count == shape.personalCount)
        self.shape = shape
        let d = shape.dim
        let e = d + 1
        let w = 2 * d + 1
        var itemLocal = [Int32: Int32]()
        var catLocal = [Int32: Int32]()
        var domLocal = [Int32: Int32]()
        var ig: [Int32] = []
        var cg: [Int32] = []
        var ag: [Int32] = []
        var ic: [Float] = []
        var cc: [Float] = []
        var ac: [Float] = []
        var x = TwoTowerExamples()
        @inline(__always) func local(
            _ key: Int32,
            _ map: inout [Int32: Int32],
            _ globals: inout [Int32],
            _ counts: inout [Float]
        ) -> Int32 {
            if let l = map[key] {
                counts[Int(l)] += 1
                return l
            }
            let l = Int32(globals.count)
            map[key] = l
            globals.append(key)
            counts.append(1)
            return l
        }
        for j in 0..<data.count {
            let it = data.items[j]
            x.item.append(local(it, &itemLocal, &ig, &ic))
            let c = shape.categories > 0 && Int(it) < itemCategories.count ? itemCategories[Int(it)] : -1
            x.category.append(c >= 0 && Int(c) < shape.categories ? local(c, &catLocal, &cg, &cc) : -1)
            let dm = shape.domains.isEmpty || Int(it) >= itemDomains.count ? -1 : itemDomains[Int(it)]
            x.adapter.append(dm >= 0 && Int(dm) < shape.domains.count ? local(dm, &domLocal, &ag, &ac) : -1)
            x.rating.append(data.ratings[j])
        }
        unrated = shape.items - ig.count
        for it in negatives {
            x.negativeItem.append(local(it, &itemLocal, &ig, &ic))
            let c = shape.categories > 0 && Int(it) < itemCategories.count ? itemCategories[Int(it)] : -1
            x.negativeCategory.append(c >= 0 && Int(c) < shape.categories ? local(c, &catLocal, &cg, &cc) : -1)
        }
        // Ranking negatives: a negative item row weighs its uses per epoch (like a rated row's
        // count), at least 1; a negative never adds to a rated domain's count.
        let firstRanked = ig.count
        let domainCounts = ac
        var pool = TwoTowerCandidates()
        for it in rankingNegatives {
            let l = local(it, &itemLocal, &ig, &ic)
            let c = shape.categories > 0 && Int(it) < itemCategories.count ? itemCategories[Int(it)] : -1
            let dm = shape.domains.isEmpty || Int(it) >= itemDomains.count ? -1 : itemDomains[Int(it)]
            pool.append(
                l,
                c >= 0 && Int(c) < shape.categories ? local(c, &catLocal, &cg, &cc) : -1,
                dm >= 0 && Int(dm) < shape.domains.count ? local(dm, &domLocal, &ag, &ac) : -1
            )
        }
        for l in firstRanked..<ig.count { ic[l] = max(1, ic[l] / Float(max(1, rankingEpochs))) }
        for l in ac.indices { ac[l] = l < domainCounts.count ? domainCounts[l] : 1 }
        rankingPool = pool
        let rows = features.enumerated().compactMap { shape.featureRow($0.offset, $0.element) }
        var b = TwoTowerBlock<Float>(
            dim: d,
            items: ig.count,
            features: rows.count,
            categories: cg.count,
            adapters: ag.count,
            adapterPrior: shape.hasAdapterPrior
        )
        if shape.hasAdapterPrior { for f in 0..<w { b.adapterPrior[f] = shared[shape.adapterPrior + f] } }
        for (l, g) in ig.enumerated() {
            for f in 0..<d { b.item[l * d + f] = shared[shape.item + Int(g) * d + f] }
            b.itemBias[l] = shared[shape.itemBias + Int(g)]
        }
        b.globalBias = shared[shape.globalBias]
        for f in 0..<e {
            b.prior[f] = shared[shape.prior + f]
            b.offset[f] = offset[f]
        }
        for (l, r) in rows.enumerated() {
            for f in 0..<e { b.features[l * e + f] = shared[shape.features + r * e + f] }
        }
        for (l, c) in cg.enumerated() {
            for f in 0..<e { b.category[l * e + f] = shared[shape.category + Int(c) * e + f] }
        }
        for (l, a) in ag.enumerated() {
            for f in 0..<w { b.adapter[l * w + f] = shared[shape.adapters + Int(a) * w + f] }
        }
        block = b
        start = b
        rates = TwoTowerRates(shape: shape, shared: shared)
        startRates = rates
        examples = x
        timestamps = data.timestamps
        itemGlobal = ig
        categoryGlobal = cg
        adapterGlobal = ag
        featureRows = rows
        itemCount = ic
        adapterCount = ac
        itemUsed = [Bool](repeating: false, count: ig.count)
        categoryUsed = [Bool](repeating: false, count: cg.count)
        adapterUsed = [Bool](repeating: false, count: ag.count)
    }

    /// The catalogue index of example j's item.
    public func globalItem(_ j: Int) -> Int32 { itemGlobal[Int(examples.item[j])] }

    /// Global domain indices of the adapters this device has (local order).
    public var domainsTouched: [Int32] { adapterGlobal }

    /// Marks the contrastive negatives' rows as used (they moved in an alignment step).
    mutating func markNegativesUsed() {
        for i in examples.negativeItem { itemUsed[Int(i)] = true }
        for c in examples.negativeCategory where c >= 0 { categoryUsed[Int(c)] = true }
    }

    /// Marks ranking candidates' rows as used (a ranking step moved them).
    mutating func markUsed(_ c: TwoTowerCandidates) {
        for k in 0..<c.count {
            let (i, cat, a) = c.rows(k)
            itemUsed[i] = true
            if cat >= 0 { categoryUsed[cat] = true }
            if a >= 0 { adapterUsed[a] = true }
        }
    }

    mutating func markUsed(_ idx: some Sequence<Int>) {
        for j in idx {
            itemUsed[Int(examples.item[j])] = true
            if examples.category[j] >= 0 { categoryUsed[Int(examples.category[j])] = true }
            if examples.adapter[j] >= 0 { adapterUsed[Int(examples.adapter[j])] = true }
        }
    }

    /// The update: Δ = block − start on the shared and domain groups, weighted per slot.
    ///
    /// Weights: `per_item` gives item rows and adapters the device's count of examples on them
    /// (0 for rows it never used), category and user-feature rows 1 when used (each such row is
    /// averaged over the devices that have it: a device's count there is unbounded, and secure
    /// aggregation caps per-row weights), and whole tensors its example count; `examples` gives every slot n and `uniform` every slot 1 (FedAvg), except
    /// the adapters of domains the device has no data in, which always weigh 0: a domain group
    /// is averaged over its own domain's devices only.
    public func update(weighting: TrainingConfig.Weighting, trainLoss: Double) -> LocalUpdate {
        let s = shape
        let d = s.dim
        let e = d + 1
        let w = 2 * d + 1
        let layout = s.layout
        let n = examples.count
        let nf = Float(n)
        var delta = [Float](repeating: 0, count: layout.count)
        let fill: Float = weighting == .perItem ? 0 : (weighting == .examples ? nf : (n > 0 ? 1 : 0))
        var weights = [Float](repeating: fill, count: layout.weightCount)
        let wo = layout.weightOffsets
        @inline(__always) func rowWeight(_ count: Float, _ used: Bool) -> Float {
            switch weighting {
            case .perItem: return used ? count : 0
            case .examples: return nf
            case .uniform: return n > 0 ? 1 : 0
            }
        }
        for (l, g) in itemGlobal.enumerated() {
            let wt = rowWeight(itemCount[l], itemUsed[l])
            let gi = Int(g)
            weights[wo[0] + gi] = wt
            weights[wo[1] + gi] = wt
            for f in 0..<d { delta[s.item + gi * d + f] = wt * (block.item[l * d + f] - start.item[l * d + f]) }
            delta[s.itemBias + gi] = wt * (block.itemBias[l] - start.itemBias[l])
        }
        let whole: Float = weighting == .uniform ? (n > 0 ? 1 : 0) : nf
        weights[wo[2]] = whole
        delta[s.globalBias] = whole * (block.globalBias - start.globalBias)
        weights[wo[3]] = whole
        for f in 0..<e { delta[s.prior + f] = whole * (block.prior[f] - start.prior[f]) }
        for (l, r) in featureRows.enumerated() {
            let wt: Float = weighting == .perItem ? (n > 0 ? 1 : 0) : whole
            weights[wo[4] + r] = wt
            for f in 0..<e {
                delta[s.features + r * e + f] = wt * (block.features[l * e + f] - start.features[l * e + f])
            }
        }
        for (l, c) in categoryGlobal.enumerated() {
            let wt = rowWeight(1, categoryUsed[l])
            let ci = Int(c)
            weights[wo[5] + ci] = wt
            for f in 0..<e {
                delta[s.category + ci * e + f] = wt * (block.category[l * e + f] - start.category[l * e + f])
            }
        }
        if !s.domains.isEmpty {
            var touched = Set<Int>()
            for (l, a) in adapterGlobal.enumerated() {
                let ai = Int(a)
                let wt = rowWeight(adapterCount[l], adapterUsed[l])
                touched.insert(ai)
                weights[wo[6 + ai]] = wt
                for f in 0..<w {
                    delta[s.adapters + ai * w + f] = wt * (block.adapter[l * w + f] - start.adapter[l * w + f])
                }
            }
            for ai in 0..<s.domains.count where !touched.contains(ai) { weights[wo[6 + ai]] = 0 }
        }
        if s.hasAdapterPrior {
            let slot = wo[6 + s.domains.count]
            let used = adapterUsed.contains(true)
            weights[slot] = weighting == .perItem ? (used ? nf : 0) : whole
            for f in 0..<w {
                delta[s.adapterPrior + f] = weights[slot] * (block.adapterPrior[f] - start.adapterPrior[f])
            }
        }
        rates.addDelta(from: startRates, shape: s, weight: whole, into: &delta, weights: &weights)
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: n, trainLoss: trainLoss)
    }

    /// Genre rows (global category index → d + 1 values) as this device holds them: adapted
    /// when `categories` is an adapted group, the shared rows otherwise.
    public var adaptedCategories: [Int: [Float]] {
        let e = shape.dim + 1
        var out: [Int: [Float]] = [:]
        for (l, c) in categoryGlobal.enumerated() { out[Int(c)] = Array(block.category[(l * e)..<(l * e + e)]) }
        return out
    }

    /// Adapter rows (global domain index → γ, β, bias) as adapted on this device (the row
    /// itself, without the shared prior).
    public var adaptedAdapters: [Int: [Float]] {
        let w = 2 * shape.dim + 1
        var out: [Int: [Float]] = [:]
        for (l, a) in adapterGlobal.enumerated() { out[Int(a)] = Array(block.adapter[(l * w)..<(l * w + w)]) }
        return out
    }
}
