import FedSimConfig
import FedSimCore
import FedSimData

/// The DeepFM CTR model's layout (`model.kind: deepfm`). Fields of an example, in order: the
/// user (a **personal** row that never leaves the device), each user feature, the item, its
/// category, its domain. Rows are k + 1 wide (embedding, linear weight).
///
/// Groups: item, category and user-feature rows (per-row weights), the MLP and w₀ are
/// **shared**; `domain_embedding.<name>` is a **domain** group, averaged over the devices
/// with data in that domain; the user row is **personal**.
public struct DeepFMShape: Sendable, Equatable {
    public let items: Int, dim: Int, hidden: Int, userFeatures: Int, categories: Int, domains: [String]
    public let fields: Int
    public let layout: ParameterLayout
    public let item: Int, category: Int, features: Int, w1: Int, b1: Int, out: Int, bias: Int, domain: Int
    public static let featureBuckets = 32

    public init(items: Int, dim: Int, hidden: Int, userFeatures: Int, categories: Int, domains: [String]) {
        self.items = items
        self.dim = dim
        self.hidden = hidden
        self.userFeatures = userFeatures
        self.categories = categories
        self.domains = domains.count > 1 ? domains : []
        fields = 1 + userFeatures + 1 + (categories > 0 ? 1 : 0) + (self.domains.isEmpty ? 0 : 1)
        let e = dim + 1
        var t = [
            TensorSpec(name: "item_embedding", rows: items, columns: e, group: .shared, weighting: .perRow),
            TensorSpec(name: "category_embedding", rows: categories, columns: e, group: .shared, weighting: .perRow),
            TensorSpec(
                name: "user_feature_embedding",
                rows: userFeatures * Self.featureBuckets,
                columns: e,
                group: .shared,
                weighting: .perRow
            ),
            TensorSpec(name: "mlp_hidden", rows: hidden, columns: fields * dim, group: .shared),
            TensorSpec(name: "mlp_hidden_bias", rows: 1, columns: hidden, group: .shared),
            TensorSpec(name: "mlp_out", rows: 1, columns: hidden, group: .shared),
            TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared),
        ]
        for d in self.domains {
            t.append(TensorSpec(name: "domain_embedding.\(d)", rows: 1, columns: e, group: .domain(d)))
        }
        layout = ParameterLayout(t)
        let o = layout.offsets
        item = o[0]
        category = o[1]
        features = o[2]
        w1 = o[3]
        b1 = o[4]
        out = o[5]
        bias = o[6]
        domain = o.count > 7 ? o[7] : layout.count
    }

    public var personalCount: Int { dim + 1 }

    public func featureRow(_ f: Int, _ v: Int32) -> Int? {
        v < 0 || f >= userFeatures ? nil : f * Self.featureBuckets + Int(v) % Self.featureBuckets
    }

    /// Embeddings ~ N(0, σ²), linear weights 0, MLP weights ~ N(0, 1/fan-in) (He-style for ReLU
    /// halves: 2/fan-in), output weights ~ N(0, 1/hidden), w₀ = 0.
    public func initialShared(initStd: Double, seed: UInt64) -> [Float] {
        var rng = Seeds.rng(seed, "init.deepfm")
        var v = [Float](repeating: 0, count: layout.count)
        let e = dim + 1
        func fill(_ base: Int, rows: Int) {
            for r in 0..<rows { for f in 0..<dim { v[base + r * e + f] = Float(initStd * rng.nextGaussian()) } }
        }
        fill(item, rows: items)
        fill(category, rows: categories)
        fill(features, rows: userFeatures * Self.featureBuckets)
        fill(domain, rows: domains.count)
        let fanIn = Double(fields * dim)
        for i in 0..<(hidden * fields * dim) { v[w1 + i] = Float((2 / fanIn).squareRoot() * rng.nextGaussian()) }
        for h in 0..<hidden { v[out + h] = Float((1 / Double(hidden)).squareRoot() * rng.nextGaussian()) }
        return v
    }

    public func initialPersonal(initStd: Double, seed: UInt64, device: Int) -> [Float] {
        var rng = Seeds.rng(seed, "init.personal", UInt64(device))
        var p = [Float](repeating: 0, count: dim + 1)
        for f in 0..<dim { p[f] = Float(initStd * rng.nextGaussian()) }
        return p
    }
}

/// Local training and scoring of DeepFM on one device's implicit feedback: every
/// interaction is a positive; `negatives` unseen items per positive, drawn on the device each
/// round, are the negatives. The user row is personal and trained jointly (FedPer-style).
enum RowKind { case item, category, feature, domain }

public struct DeepFMTrainer: Sendable {
    public let shape: DeepFMShape
    public let local: LocalTrainingConfig
    public let weighting: TrainingConfig.Weighting
    public let negatives: Int
    public let itemCategories: [Int32], itemDomains: [Int32]

    public init(
        shape: DeepFMShape,
        local: LocalTrainingConfig,
        weighting: TrainingConfig.Weighting,
        negatives: Int,
        itemCategories: [Int32],
        itemDomains: [Int32]
    ) {
        self.shape = shape
        self.local = local
        self.weighting = weighting
        self.negatives = negatives
        self.itemCategories = itemCategories
        self.itemDomains = itemDomains
    }

    /// Global rows of an item's fields: (item, category or nil, domain or nil).
    func itemFields(_ i: Int) -> (Int, Int?, Int?) {
        let s = shape
        let c =
            s.categories > 0 && i < itemCategories.count && itemCategories[i] >= 0
                && Int(itemCategories[i]) < s.categories
            ? Int(itemCategories[i]) : nil
        let d =
            !s.domains.isEmpty && i < itemDomains.count && Int(itemDomains[i]) < s.domains.count
            ? Int(itemDomains[i]) : nil
        return (i, c, d)
    }

    public func train(
        shared: [Float],
        personal: inout [Float],
        data: Interactions,
        features: [Int32],
        rng: inout some RandomNumberGenerator
    ) -> LocalUpdate {
        let s = shape
        let k = s.dim
        let e = k + 1
        let nf = s.fields
        precondition(shared.count == s.layout.count && personal.count == e)
        // Rows of the local view: 0 the user, then whatever the examples touch.
        var key: [(RowKind, Int)] = []
        var localOf: [Int: Int32] = [:]  // (kind tag << 32 | index) -> local row
        func row(_ kind: RowKind, _ i: Int) -> Int32 {
            let tag: Int = kind == .item ? 0 : kind == .category ? 1 : kind == .feature ? 2 : 3
            let h = tag << 40 | i
            if let l = localOf[h] { return l }
            let l = Int32(key.count + 1)
            localOf[h] = l
            key.append((kind, i))
            return l
        }
        // (field slot, local row) of the user's features; a missing feature leaves its slot empty.
        let userRows: [(Int, Int32)] = features.enumerated().compactMap { f, v in
            s.featureRow(f, v).map { (1 + f, row(.feature, $0)) }
        }
        var x = DeepFMExamples(fields: nf)
        func add(_ item: Int, _ y: Float) {
            var r: [Int32] = [0] + [Int32](repeating: -1, count: s.userFeatures)
            for (slot, local) in userRows { r[slot] = local }
            let (it, c, d) = itemFields(item)
            r.append(row(.item, it))
            if s.categories > 0 { r.append(c.map { row(.category, $0) } ?? -1) }
            if !s.domains.isEmpty { r.append(d.map { row(.domain, $0) } ?? -1) }
            x.append(r, label: y)
        }
        let seen = Set(data.items)
        for i in data.items { add(Int(i), 1) }
        if seen.count < s.items {
            for _ in 0..<(negatives * data.count) {
                var j = rng.nextBounded(s.items)
                while seen.contains(Int32(j)) { j = rng.nextBounded(s.items) }
                add(j, 0)
            }
        }
        // Copy the rows and the MLP out of the shared vector.
        var m = DeepFMBlock<Float>(dim: k, fields: nf, hidden: s.hidden, rows: key.count + 1)
        for f in 0..<e { m.rows[f] = personal[f] }
        func base(_ kind: RowKind, _ i: Int) -> Int {
            switch kind {
            case .item: return s.item + i * e
            case .category: return s.category + i * e
            case .feature: return s.features + i * e
            case .domain: return s.domain + i * e
            }
        }
        for (l, (kind, i)) in key.enumerated() {
            for f in 0..<e { m.rows[(l + 1) * e + f] = shared[base(kind, i) + f] }
        }
        m.w1 = Array(shared[s.w1..<(s.w1 + s.hidden * nf * k)])
        m.b1 = Array(shared[s.b1..<(s.b1 + s.hidden)])
        m.out = Array(shared[s.out..<(s.out + s.hidden)])
        m.bias = shared[s.bias]
        let start = m

        var grad = m.zeros()
        let loop = LocalLoop(local)
        let lr = Float(local.learningRate)
        let l2 = Float(local.l2)
        let last = loop.run(Array(0..<x.count), rng: &rng) { order in
            let batch = x.subset(order)
            var sum: Float = 0
            for r in loop.batches(batch.count) {
                sum += DeepFMKernel.accumulateGradient(m, batch, range: r, l2: l2, into: &grad)
                for j in r {
                    for a in 0..<nf {
                        let row = Int(batch.rowIndex[j * nf + a])
                        guard row >= 0 else { continue }
                        for f in 0..<e {
                            m.rows[row * e + f] -= lr * grad.rows[row * e + f]
                            grad.rows[row * e + f] = 0
                        }
                    }
                }
                for i in m.w1.indices {
                    m.w1[i] -= lr * grad.w1[i]
                    grad.w1[i] = 0
                }
                for h in 0..<s.hidden {
                    m.b1[h] -= lr * grad.b1[h]
                    grad.b1[h] = 0
                    m.out[h] -= lr * grad.out[h]
                    grad.out[h] = 0
                }
                m.bias -= lr * grad.bias
                grad.bias = 0
                if loop.isProximal {
                    loop.pull(&m.rows, towards: start.rows, from: e)  // row 0 is the personal user row
                    loop.pull(&m.w1, towards: start.w1)
                    loop.pull(&m.b1, towards: start.b1)
                    loop.pull(&m.out, towards: start.out)
                    loop.pull(&m.bias, towards: start.bias)
                }
            }
            return sum
        }
        for f in 0..<e { personal[f] = m.rows[f] }

        // The weighted delta of the shared and domain groups.
        let n = Float(data.count)
        let layout = s.layout
        let wo = layout.weightOffsets
        let whole: Float = weighting == .uniform ? (data.count > 0 ? 1 : 0) : n
        var delta = [Float](repeating: 0, count: layout.count)
        var weights = [Float](repeating: weighting == .perItem ? 0 : whole, count: layout.weightCount)
        var uses = [Float](repeating: 0, count: key.count + 1)
        for r in x.rowIndex where r >= 0 { uses[Int(r)] += 1 }
        var touchedDomains = Set<Int>()
        for (l, (kind, i)) in key.enumerated() {
            let w: Float = weighting == .perItem ? uses[l + 1] : whole
            let slot: Int
            switch kind {
            case .item: slot = wo[0] + i
            case .category: slot = wo[1] + i
            case .feature: slot = wo[2] + i
            case .domain:
                slot = wo[7 + i]
                touchedDomains.insert(i)
            }
            // Per-item weighting: feature and category rows count a device once (their use counts
            // are unbounded; secure aggregation caps per-row weights).
            weights[slot] = weighting == .perItem && (kind == .feature || kind == .category) ? 1 : w
            let b = base(kind, i)
            for f in 0..<e { delta[b + f] = weights[slot] * (m.rows[(l + 1) * e + f] - start.rows[(l + 1) * e + f]) }
        }
        for di in s.domains.indices where !touchedDomains.contains(di) { weights[wo[7 + di]] = 0 }
        for t in 3...6 { weights[wo[t]] = whole }
        for i in m.w1.indices { delta[s.w1 + i] = whole * (m.w1[i] - start.w1[i]) }
        for h in 0..<s.hidden {
            delta[s.b1 + h] = whole * (m.b1[h] - start.b1[h])
            delta[s.out + h] = whole * (m.out[h] - start.out[h])
        }
        delta[s.bias] = whole * (m.bias - start.bias)
        return LocalUpdate(weightedDelta: delta, weights: weights, examples: data.count, trainLoss: last)
    }

    /// The click logit of every item for one user: user-side sums computed once, then
    /// O(hidden · 3k) per item.
    public func scorer(shared: [Float], personal: [Float], features: [Int32]) -> (Int) -> Float {
        let s = shape
        let k = s.dim
        let e = k + 1
        let nf = s.fields
        let width = nf * k
        // User fields: slot 0 the personal row, 1... the features.
        var userVec = [[Float]]([Array(personal[0..<k])])
        var linear = personal[k] + shared[s.bias]
        var slots = [0]
        for (f, v) in features.enumerated() {
            guard let r = s.featureRow(f, v) else { continue }
            userVec.append(Array(shared[(s.features + r * e)..<(s.features + r * e + k)]))
            linear += shared[s.features + r * e + k]
            slots.append(1 + f)
        }
        var uSum = [Float](repeating: 0, count: k)
        var uSq: Float = 0
        for v in userVec {
            for f in 0..<k {
                uSum[f] += v[f]
                uSq += v[f] * v[f]
            }
        }
        var pre0 = Array(shared[s.b1..<(s.b1 + s.hidden)])
        for h in 0..<s.hidden {
            for (v, slot) in zip(userVec, slots) {
                for f in 0..<k { pre0[h] += shared[s.w1 + h * width + slot * k + f] * v[f] }
            }
        }
        let itemSlot = 1 + s.userFeatures
        // Per item: at most three rows (item, category, domain); `sum` is reused across calls,
        // so ranking a catalogue allocates nothing per item.
        var sum = [Float](repeating: 0, count: k)
        return { i in
            let (it, c, d) = self.itemFields(i)
            let bases = (s.item + it * e, c.map { s.category + $0 * e } ?? -1, d.map { s.domain + $0 * e } ?? -1)
            let slots = (itemSlot, itemSlot + 1, itemSlot + 1 + (s.categories > 0 ? 1 : 0))
            var z = linear
            for f in 0..<k { sum[f] = uSum[f] }
            var sq = uSq
            @inline(__always) func field(_ n: Int) -> (base: Int, slot: Int) {
                n == 0 ? (bases.0, slots.0) : n == 1 ? (bases.1, slots.1) : (bases.2, slots.2)
            }
            for n in 0..<3 {
                let b = field(n).base
                guard b >= 0 else { continue }
                z += shared[b + k]
                for f in 0..<k {
                    let v = shared[b + f]
                    sum[f] += v
                    sq += v * v
                }
            }
            var fm: Float = -sq
            for f in 0..<k { fm += sum[f] * sum[f] }
            z += fm / 2
            for h in 0..<s.hidden {
                var p = pre0[h]
                for n in 0..<3 {
                    let (b, slot) = field(n)
                    guard b >= 0 else { continue }
                    for f in 0..<k { p += shared[s.w1 + h * width + slot * k + f] * shared[b + f] }
                }
                if p > 0 { z += shared[s.out + h] * p }
            }
            return z
        }
    }
}
