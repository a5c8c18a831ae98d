#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Items to score, in local-view rows: item, category (−1: none), adapter (−1: none).
public struct TwoTowerCandidates: Sendable, Equatable {
    public var item: [Int32] = []
    public var category: [Int32] = []
    public var adapter: [Int32] = []
    public init() {}
    public init(item: [Int32], category: [Int32], adapter: [Int32]) {
        precondition(item.count == category.count && item.count == adapter.count)
        self.item = item
        self.category = category
        self.adapter = adapter
    }
    public var count: Int { item.count }

    public mutating func append(_ i: Int32, _ c: Int32, _ a: Int32) {
        item.append(i)
        category.append(c)
        adapter.append(a)
    }

    /// Candidate k as (item, category, adapter) rows.
    @inlinable public func rows(_ k: Int) -> (Int, Int, Int) { (Int(item[k]), Int(category[k]), Int(adapter[k])) }
}

/// One positive per group with `perPositive` negatives: group t is positives[t] against
/// negatives[t·m ..< (t+1)·m].
public struct TwoTowerRankingBatch: Sendable, Equatable {
    public var positives: TwoTowerCandidates
    public var negatives: TwoTowerCandidates
    public var perPositive: Int
    public init(positives: TwoTowerCandidates, negatives: TwoTowerCandidates, perPositive: Int) {
        precondition(perPositive >= 1 && negatives.count == positives.count * perPositive)
        self.positives = positives
        self.negatives = negatives
        self.perPositive = perPositive
    }
    public var count: Int { positives.count }
}

/// The ranking terms of the two-tower model (`training.local.loss` bpr / sampled_softmax), on
/// the same score as its rating prediction: s(u, i) = b_i + C_c,bias + A_bias + u · v_i, with
/// the user tower u = prior + Σ feature rows + personal offset and the item tower
/// v_i = (q_i + C_c)(1 + γ) + β (the adapter's γ, β when the item's domain has one). μ and the
/// user tower's bias add the same to every score and cancel, so they get no gradient; every
/// other group does, so the user features and the genre rows learn what a user *chooses*, not
/// only how they rate it.
///
/// Per group t (positive i, negatives j₁…j_m), with z = (s_i, s_j₁ + shift, …):
/// - BPR: (1/m) Σ_k −log σ(z₀ − z_k), the mean over the negatives so its scale does not grow
///   with them (MF's `MFObjective` does the same);
/// - sampled softmax: −log softmax(z)₀; `negativeShift` is the logQ correction log(U/m) of
///   uniform sampling over the device's U unrated items (0: none).
/// Both add the L2 of every row the group touches, as the rating loss does per example:
/// (λ/2)(‖prior‖² + Σ‖F‖²) + (λ_δ/2)‖δ‖² + (λ/2)Σ_candidates(‖q‖² + b² + ‖C_c‖² + ‖A‖² + ‖A_prior‖²).
public enum TwoTowerRankingKernel {
    public enum Term: Sendable, Equatable { case bpr, softmax }

    /// s(u, candidate) without μ and the user-tower bias.
    static func score<T: BinaryFloatingPoint>(_ m: TwoTowerBlock<T>, _ u: [T], _ i: Int, _ c: Int, _ a: Int) -> T {
        let d = m.dim
        let e = d + 1
        var s = m.itemBias[i]
        if c >= 0 { s += m.category[c * e + d] }
        if a >= 0 { s += m.adapterValue(a, 2 * d) }
        for f in 0..<d {
            var base = m.item[i * d + f]
            if c >= 0 { base += m.category[c * e + f] }
            s += u[f] * (a >= 0 ? base * (1 + m.adapterValue(a, f)) + m.adapterValue(a, d + f) : base)
        }
        return s
    }

    /// ‖q_i‖² + b_i² + ‖C_c‖² + ‖A_a‖² + ‖A_prior‖² of one candidate.
    static func candidateNorm<T: BinaryFloatingPoint>(_ m: TwoTowerBlock<T>, _ i: Int, _ c: Int, _ a: Int) -> T {
        let d = m.dim
        let e = d + 1
        let w = 2 * d + 1
        var r = m.itemBias[i] * m.itemBias[i]
        for f in 0..<d { r += m.item[i * d + f] * m.item[i * d + f] }
        if c >= 0 { for f in 0..<e { r += m.category[c * e + f] * m.category[c * e + f] } }
        if a >= 0 {
            for f in 0..<w { r += m.adapter[a * w + f] * m.adapter[a * w + f] }
            for v in m.adapterPrior { r += v * v }
        }
        return r
    }

    /// Group t's scores z (the positive first; negatives shifted).
    static func scores<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ u: [T],
        _ b: TwoTowerRankingBatch,
        _ t: Int,
        shift: T
    ) -> [T] {
        let (i, c, a) = b.positives.rows(t)
        var z = [score(m, u, i, c, a)]
        for k in 0..<b.perPositive {
            let (j, cj, aj) = b.negatives.rows(t * b.perPositive + k)
            z.append(score(m, u, j, cj, aj) + shift)
        }
        return z
    }

    /// The term's loss on scores z and ∂loss/∂z_k.
    static func term<T: BinaryFloatingPoint>(_ z: [T], _ kind: Term) -> (T, [T]) {
        var dz = [T](repeating: 0, count: z.count)
        switch kind {
        case .bpr:
            let inv = 1 / T(z.count - 1)
            var loss: T = 0
            for k in 1..<z.count {
                let x = z[0] - z[k]
                loss += BPRKernel.softplus(-x) * inv
                let c = BPRKernel.sigmoid(-x) * inv
                dz[0] -= c
                dz[k] += c
            }
            return (loss, dz)
        case .softmax:
            let lse = SampledSoftmaxKernel.logSumExp(z)
            for k in z.indices { dz[k] = T(exp(Double(z[k] - lse))) - (k == 0 ? 1 : 0) }
            return (lse - z[0], dz)
        }
    }

    /// (1/B) Σ_t [term_t + L2_t], the function `accumulateGradient` differentiates.
    public static func loss<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ b: TwoTowerRankingBatch,
        _ kind: Term,
        l2: T,
        offsetL2: T,
        negativeShift: T = 0
    ) -> T {
        guard b.count > 0 else { return 0 }
        let u = m.userTower()
        var userNorm: T = 0
        for v in m.prior + m.features { userNorm += v * v }
        var offsetNorm: T = 0
        for v in m.offset { offsetNorm += v * v }
        var total: T = 0
        for t in 0..<b.count {
            total += term(scores(m, u, b, t, shift: negativeShift), kind).0
            var reg = userNorm
            let (i, c, a) = b.positives.rows(t)
            reg += candidateNorm(m, i, c, a)
            for k in 0..<b.perPositive {
                let (j, cj, aj) = b.negatives.rows(t * b.perPositive + k)
                reg += candidateNorm(m, j, cj, aj)
            }
            total += l2 / 2 * reg + offsetL2 / 2 * offsetNorm
        }
        return total / T(b.count)
    }

    /// Adds the gradient of `loss` into `g` and returns Σ_t term_t (unregularised, for
    /// reporting). The user tower's parts (prior, feature rows, offset) share its gradient.
    @discardableResult
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ b: TwoTowerRankingBatch,
        _ kind: Term,
        l2: T,
        offsetL2: T,
        negativeShift: T = 0,
        into g: inout TwoTowerBlock<T>
    ) -> T {
        guard b.count > 0 else { return 0 }
        let d = m.dim
        let e = d + 1
        let scale = 1 / T(b.count)
        let rs = l2 * scale
        let u = m.userTower()
        var gu = [T](repeating: 0, count: e)
        var lossSum: T = 0
        for t in 0..<b.count {
            let (l, dz) = term(scores(m, u, b, t, shift: negativeShift), kind)
            lossSum += l
            let (i, c, a) = b.positives.rows(t)
            TwoTowerKernel.addCandidate(m, u, i, c, a, coef: dz[0] * scale, rs: rs, gu: &gu, into: &g)
            for k in 0..<b.perPositive {
                let (j, cj, aj) = b.negatives.rows(t * b.perPositive + k)
                TwoTowerKernel.addCandidate(m, u, j, cj, aj, coef: dz[k + 1] * scale, rs: rs, gu: &gu, into: &g)
            }
        }
        // Every group adds (λ/B)·θ of the user parts, B of them: λ·θ. gu[d] stays 0 (the
        // user bias cancels), but its L2 still applies.
        for f in 0..<e {
            g.prior[f] += gu[f] + l2 * m.prior[f]
            g.offset[f] += gu[f] + offsetL2 * m.offset[f]
        }
        let nf = m.features.count / e
        for r in 0..<nf { for f in 0..<e { g.features[r * e + f] += gu[f] + l2 * m.features[r * e + f] } }
        return lossSum
    }
}
