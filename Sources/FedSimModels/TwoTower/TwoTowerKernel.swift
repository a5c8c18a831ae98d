#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// The parameters one device's data touches, copied out of the flat shared vector (a local
/// view: rows of the items, categories, feature values and domains it has), plus its
/// personal offset. Generic so the gradient is checked in `Double` against finite
/// differences and run in `Float`.
public struct TwoTowerBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var item: [T]  // m × d
    public var itemBias: [T]  // m
    public var globalBias: T = 0
    public var prior: [T]  // d + 1
    public var features: [T]  // nf × (d + 1): the device's feature rows, all active for every example
    public var category: [T]  // nc × (d + 1)
    public var adapter: [T]  // na × (2d + 1): γ, β, bias
    /// The shared adapter prior added to every adapter row (empty: none).
    public var adapterPrior: [T] = []
    public var offset: [T]  // d + 1 (personal)

    public init(dim: Int, items: Int, features: Int, categories: Int, adapters: Int, adapterPrior: Bool = false) {
        self.dim = dim
        let e = dim + 1
        item = [T](repeating: 0, count: items * dim)
        itemBias = [T](repeating: 0, count: items)
        prior = [T](repeating: 0, count: e)
        self.features = [T](repeating: 0, count: features * e)
        category = [T](repeating: 0, count: categories * e)
        adapter = [T](repeating: 0, count: adapters * (2 * dim + 1))
        offset = [T](repeating: 0, count: e)
        if adapterPrior { self.adapterPrior = [T](repeating: 0, count: 2 * dim + 1) }
    }

    /// The same shape, all zeros (a gradient buffer).
    public func zeros() -> TwoTowerBlock {
        TwoTowerBlock(
            dim: dim,
            items: itemBias.count,
            features: features.count / (dim + 1),
            categories: category.count / (dim + 1),
            adapters: adapter.count / (2 * dim + 1),
            adapterPrior: !adapterPrior.isEmpty
        )
    }

    /// Element f of adapter row a as used: the row plus the shared prior, if any.
    @inlinable public func adapterValue(_ a: Int, _ f: Int) -> T {
        adapter[a * (2 * dim + 1) + f] + (adapterPrior.isEmpty ? 0 : adapterPrior[f])
    }

    /// User tower: prior + Σ feature rows + offset (d + 1 values: vector then bias).
    public func userTower() -> [T] {
        var u = prior
        let e = dim + 1
        for r in 0..<(features.count / e) { for f in 0..<e { u[f] += features[r * e + f] } }
        for f in 0..<e { u[f] += offset[f] }
        return u
    }
}

/// Examples in local-view indices: item row, category row (−1: none), adapter row (−1: none).
public struct TwoTowerExamples: Sendable, Equatable {
    public var item: [Int32] = []
    public var category: [Int32] = []
    public var adapter: [Int32] = []
    public var rating: [Float] = []
    /// Contrastive alignment's negatives: local item and category rows (−1: none) of items
    /// the device never interacted with. Not examples; kept whole by `subset`.
    public var negativeItem: [Int32] = []
    public var negativeCategory: [Int32] = []
    public init() {}
    public var count: Int { rating.count }

    public func subset(_ idx: some Sequence<Int>) -> TwoTowerExamples {
        var o = TwoTowerExamples()
        for j in idx {
            o.item.append(item[j])
            o.category.append(category[j])
            o.adapter.append(adapter[j])
            o.rating.append(rating[j])
        }
        o.negativeItem = negativeItem
        o.negativeCategory = negativeCategory
        return o
    }
}

public enum TwoTowerKernel {
    /// r̂ for example j given the user tower u (from `userTower()`).
    @inlinable
    public static func predict<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ u: [T],
        _ x: TwoTowerExamples,
        _ j: Int
    ) -> T {
        let d = m.dim
        let e = d + 1
        let i = Int(x.item[j])
        let c = Int(x.category[j])
        let a = Int(x.adapter[j])
        var s = m.globalBias + u[d] + m.itemBias[i]
        if c >= 0 { s += m.category[c * e + d] }
        if a >= 0 { s += m.adapterValue(a, 2 * d) }
        for f in 0..<d {
            var base = m.item[i * d + f]
            if c >= 0 { base += m.category[c * e + f] }
            let v = a >= 0 ? base * (1 + m.adapterValue(a, f)) + m.adapterValue(a, d + f) : base
            s += u[f] * v
        }
        return s
    }

    /// Batch loss: (1/B) Σ_j [½ e_j² + (λ/2)(‖q_i‖² + b_i² + ‖C_c‖² + ‖A_D‖² + ‖prior‖² + Σ‖F_f‖²) + (λ_δ/2)‖δ‖²].
    /// μ is not regularised; the prior is, so the user and item towers keep comparable scales
    /// (an unregularised prior grows while item rows shrink, and adaptation steps then overshoot). `accumulateGradient` returns this function's gradient.
    public static func loss<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ x: TwoTowerExamples,
        range: Range<Int>,
        l2: T,
        offsetL2: T
    ) -> T {
        let d = m.dim
        let e = d + 1
        let w = 2 * d + 1
        let u = m.userTower()
        var fr: T = 0
        for v in m.features { fr += v * v }
        for v in m.prior { fr += v * v }
        var dr: T = 0
        for v in m.offset { dr += v * v }
        var total: T = 0
        for j in range {
            let err = predict(m, u, x, j) - T(x.rating[j])
            let i = Int(x.item[j])
            let c = Int(x.category[j])
            let a = Int(x.adapter[j])
            var reg = m.itemBias[i] * m.itemBias[i] + fr
            for f in 0..<d { reg += m.item[i * d + f] * m.item[i * d + f] }
            if c >= 0 { for f in 0..<e { reg += m.category[c * e + f] * m.category[c * e + f] } }
            if a >= 0 {
                for f in 0..<w { reg += m.adapter[a * w + f] * m.adapter[a * w + f] }
                for v in m.adapterPrior { reg += v * v }
            }
            total += err * err / 2 + l2 / 2 * reg + offsetL2 / 2 * dr
        }
        return total / T(range.count)
    }

    /// Adds the gradient of `loss` over `range` into `g` and returns Σ ½e² of the batch.
    @inlinable
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ x: TwoTowerExamples,
        range: Range<Int>,
        l2: T,
        offsetL2: T,
        into g: inout TwoTowerBlock<T>
    ) -> T {
        let d = m.dim
        let e = d + 1
        let s = 1 / T(range.count)
        let u = m.userTower()
        var gu = [T](repeating: 0, count: e)  // ∂/∂(user tower), summed over the batch
        var lossSum: T = 0
        for j in range {
            let i = Int(x.item[j])
            let c = Int(x.category[j])
            let a = Int(x.adapter[j])
            let err = predict(m, u, x, j) - T(x.rating[j])
            lossSum += err * err / 2
            let es = err * s
            let rs = l2 * s
            gu[d] += es
            addCandidate(m, u, i, c, a, coef: es, rs: rs, gu: &gu, into: &g)
            g.globalBias += es
        }
        // The user tower's parts share its gradient; their penalties count once per example.
        let n = T(range.count) * s  // = 1: every example adds (λ/B)·θ, B of them
        for f in 0..<e {
            g.prior[f] += gu[f] + l2 * n * m.prior[f]
            g.offset[f] += gu[f] + offsetL2 * n * m.offset[f]
        }
        let nf = m.features.count / e
        for r in 0..<nf { for f in 0..<e { g.features[r * e + f] += gu[f] + l2 * n * m.features[r * e + f] } }
        return lossSum
    }

    /// One SGD step on the groups in `mask`, then clears the gradient. Item and category rows
    /// are stepped where the batch touched them; the small per-user tensors densely.
    public static func step(
        _ m: inout TwoTowerBlock<Float>,
        _ g: inout TwoTowerBlock<Float>,
        _ x: TwoTowerExamples,
        range: Range<Int>,
        lr: Float,
        mask: GroupMask
    ) {
        let d = m.dim
        let e = d + 1
        let w = 2 * d + 1
        @inline(__always) func apply(_ p: inout [Float], _ gr: inout [Float], _ r: Range<Int>, _ on: Bool) {
            for k in r {
                if on { p[k] -= lr * gr[k] }
                gr[k] = 0
            }
        }
        let shared = mask.contains(.shared)
        for j in range {
            let i = Int(x.item[j])
            let c = Int(x.category[j])
            let a = Int(x.adapter[j])
            apply(&m.item, &g.item, (i * d)..<(i * d + d), shared)
            apply(&m.itemBias, &g.itemBias, i..<(i + 1), shared)
            if c >= 0 { apply(&m.category, &g.category, (c * e)..<(c * e + e), shared || mask.contains(.categories)) }
            if a >= 0 { apply(&m.adapter, &g.adapter, (a * w)..<(a * w + w), mask.contains(.domain)) }
        }
        for (i, c) in zip(x.negativeItem, x.negativeCategory) {
            apply(&m.item, &g.item, (Int(i) * d)..<(Int(i) * d + d), shared)
            if c >= 0 { apply(&m.category, &g.category, (Int(c) * e)..<(Int(c) * e + e), shared) }
        }
        if shared { m.globalBias -= lr * g.globalBias }
        g.globalBias = 0
        apply(&m.prior, &g.prior, 0..<e, shared)
        apply(&m.adapterPrior, &g.adapterPrior, 0..<m.adapterPrior.count, shared)
        apply(&m.features, &g.features, 0..<m.features.count, shared || mask.contains(.userFeatures))
        apply(&m.offset, &g.offset, 0..<e, mask.contains(.personal))
    }
}

/// Cross-domain alignment of the shared item tower (disentanglement): a device with data in
/// two domains pulls the mean shared representation of its items in one, z_A = mean(q_i + C_c),
/// toward that in the other, L = w · (1 − cos(z_A, z_B)), for its two domains with the most
/// examples (at least two each). Positive pairs only, computed on the device: the rating loss
/// keeps the representations from collapsing; the domain-specific part (the adapters) is
/// left free to differ.
///
/// With `temperature` > 0 and negatives in the examples the objective is contrastive
/// (InfoNCE): with s(z) = cos(z_A, z)/τ, L = w · [log(e^{s(z_B)} + Σ_n e^{s(z_n)}) − s(z_B)],
/// the negatives z_n = q_n + C_c(n) being items of domain B the device never interacted with:
/// the two domains' means are pulled together *and* z_A is pushed from what the user did not
/// choose, so the alignment cannot be met by collapsing every item onto one direction.
public enum TwoTowerAlignment {
    /// The two adapter rows with the most examples (ties by row), each with ≥ 2 examples: the
    /// domains the alignment pairs.
    public static func pair(_ x: TwoTowerExamples) -> (Int, Int)? {
        var count: [Int: Int] = [:]
        for a in x.adapter where a >= 0 { count[Int(a), default: 0] += 1 }
        let ranked = count.filter { $0.value >= 2 }.sorted { ($0.value, -$0.key) > ($1.value, -$1.key) }
        return ranked.count >= 2 ? (ranked[0].key, ranked[1].key) : nil
    }

    /// The mean shared representation of a device's items in adapter row a, and their count.
    public static func means<T: BinaryFloatingPoint>(_ m: TwoTowerBlock<T>, _ x: TwoTowerExamples, _ a: Int) -> ([T], T)
    {
        let d = m.dim
        let e = d + 1
        var z = [T](repeating: 0, count: d)
        var n: T = 0
        for j in 0..<x.count where Int(x.adapter[j]) == a {
            let i = Int(x.item[j])
            let c = Int(x.category[j])
            for f in 0..<d { z[f] += m.item[i * d + f] + (c >= 0 ? m.category[c * e + f] : 0) }
            n += 1
        }
        return (z.map { $0 / n }, n)
    }

    /// Item i's shared representation q_i + C_c (local rows).
    static func representation<T: BinaryFloatingPoint>(_ m: TwoTowerBlock<T>, _ i: Int, _ c: Int) -> [T] {
        let d = m.dim
        let e = d + 1
        return (0..<d).map { m.item[i * d + $0] + (c >= 0 ? m.category[c * e + $0] : 0) }
    }

    /// cos(a, b) and its gradients with respect to a and b (zeros when either is 0).
    static func cosine<T: BinaryFloatingPoint>(_ a: [T], _ b: [T]) -> (T, [T], [T]) {
        var dot: T = 0
        var na2: T = 0
        var nb2: T = 0
        for f in a.indices {
            dot += a[f] * b[f]
            na2 += a[f] * a[f]
            nb2 += b[f] * b[f]
        }
        guard na2 > 0, nb2 > 0 else { return (0, a.map { _ in 0 }, b.map { _ in 0 }) }
        let na = na2.squareRoot()
        let nb = nb2.squareRoot()
        let c = dot / (na * nb)
        return (
            c, a.indices.map { b[$0] / (na * nb) - c * a[$0] / na2 },
            a.indices.map { a[$0] / (na * nb) - c * b[$0] / nb2 }
        )
    }

    /// The contrastive loss and its gradient with respect to z_A, z_B and each negative.
    static func infoNCE<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ x: TwoTowerExamples,
        _ za: [T],
        _ zb: [T],
        weight: T,
        temperature: T
    )
        -> (T, [T], [T], [[T]])
    {
        let (cp, gpa, gpb) = cosine(za, zb)
        var scores = [cp / temperature]
        var grads = [(gpa, gpb)]
        for (i, c) in zip(x.negativeItem, x.negativeCategory) {
            let (cn, gna, gnn) = cosine(za, representation(m, Int(i), Int(c)))
            scores.append(cn / temperature)
            grads.append((gna, gnn))
        }
        let top = scores.max()!
        let exps = scores.map { T(exp(Double($0 - top))) }
        let total = exps.reduce(0, +)
        let loss = weight * (top + T(log(Double(total))) - scores[0])
        var ga = za.map { _ in T(0) }
        var gb = zb.map { _ in T(0) }
        var gn: [[T]] = []
        for (k, (da, dz)) in grads.enumerated() {
            let coef = weight * ((exps[k] / total) - (k == 0 ? 1 : 0)) / temperature
            for f in ga.indices { ga[f] += coef * da[f] }
            if k == 0 { for f in gb.indices { gb[f] += coef * dz[f] } } else { gn.append(dz.map { coef * $0 }) }
        }
        return (loss, ga, gb, gn)
    }

    public static func loss<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ x: TwoTowerExamples,
        weight: T,
        temperature: T = 0
    ) -> T {
        guard let (a, b) = pair(x) else { return 0 }
        let (za, _) = means(m, x, a)
        let (zb, _) = means(m, x, b)
        if temperature > 0 && !x.negativeItem.isEmpty {
            return infoNCE(m, x, za, zb, weight: weight, temperature: temperature).0
        }
        var dot: T = 0
        var na: T = 0
        var nb: T = 0
        for f in za.indices {
            dot += za[f] * zb[f]
            na += za[f] * za[f]
            nb += zb[f] * zb[f]
        }
        guard na > 0, nb > 0 else { return 0 }
        return weight * (1 - dot / (na.squareRoot() * nb.squareRoot()))
    }

    /// Adds the gradient of `loss` into `g`; returns the loss.
    @discardableResult
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ x: TwoTowerExamples,
        weight: T,
        temperature: T = 0,
        into g: inout TwoTowerBlock<T>
    ) -> T {
        guard let (a, b) = pair(x) else { return 0 }
        let d = m.dim
        let e = d + 1
        let (za, ca) = means(m, x, a)
        let (zb, cb) = means(m, x, b)
        let loss: T
        let ga: [T]
        let gb: [T]
        if temperature > 0 && !x.negativeItem.isEmpty {
            let (l, da, db, gn) = infoNCE(m, x, za, zb, weight: weight, temperature: temperature)
            (loss, ga, gb) = (l, da, db)
            for (k, (i, c)) in zip(x.negativeItem, x.negativeCategory).enumerated() {
                for f in 0..<d {
                    g.item[Int(i) * d + f] += gn[k][f]
                    if c >= 0 { g.category[Int(c) * e + f] += gn[k][f] }
                }
            }
        } else {
            guard za.contains(where: { $0 != 0 }), zb.contains(where: { $0 != 0 }) else { return 0 }
            // ∂(1 − cos)/∂z_A = −(z_B/(|z_A||z_B|) − cos · z_A/|z_A|²), and symmetrically.
            let (c, da, db) = cosine(za, zb)
            (loss, ga, gb) = (weight * (1 - c), da.map { -weight * $0 }, db.map { -weight * $0 })
        }
        // Each mean's gradient, spread evenly over the items it averages.
        for j in 0..<x.count {
            let row = Int(x.adapter[j])
            guard row == a || row == b else { continue }
            let gz = row == a ? ga : gb
            let n = row == a ? ca : cb
            let i = Int(x.item[j])
            let c = Int(x.category[j])
            for f in 0..<d {
                g.item[i * d + f] += gz[f] / n
                if c >= 0 { g.category[c * e + f] += gz[f] / n }
            }
        }
        return loss
    }
}
