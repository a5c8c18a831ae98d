#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One positive per group, each with `perPositive` negatives: group t is
/// (users[t], positives[t], negatives[t·m ..< (t+1)·m]), indices into an `MFBlock`.
public struct SoftmaxBatch {
    public var users: [Int32]
    public var positives: [Int32]
    public var negatives: [Int32]
    public var perPositive: Int
    public init(users: [Int32], positives: [Int32], negatives: [Int32], perPositive: Int) {
        precondition(perPositive >= 1 && users.count == positives.count)
        precondition(negatives.count == positives.count * perPositive)
        self.users = users
        self.positives = positives
        self.negatives = negatives
        self.perPositive = perPositive
    }
    public var count: Int { positives.count }
}

/// Sampled softmax (Jean et al. 2015; Covington et al. 2016) on biased MF: the positive i
/// competes with its m negatives j₁…j_m in one softmax over the scores s = b + p_u·q, and the
/// loss is the cross-entropy −log softmax(s)_i. BPR compares the positive with one negative at
/// a time, so a negative that already scores far below it still pulls on the model; softmax
/// weights each negative by its share π_j of the normaliser, so training concentrates on the
/// negatives that currently outrank the positive, which is what the top of a full ranking needs.
///
/// `negativeShift` is added to every negative's score before the softmax: the logQ correction
/// −log(m·Q(j)) of a proposal Q. Under uniform sampling over the device's U unrated items it is
/// the same log(U/m) for every negative, so it never reorders negatives; it makes the sampled
/// normaliser an unbiased estimate of the full one. 0 is the plain (m+1)-way classification.
/// μ and b_u shift every score alike and cancel, so they get no gradient.
public enum SampledSoftmaxKernel {
    /// (1/B) Σ_t [−log softmax(z_t)₀ + (λ/2)(‖p_u‖² + ‖q_i‖² + b_i² + Σ_k (‖q_jk‖² + b_jk²))],
    /// z_t = (s(u, i), s(u, j₁) + shift, …), the function `accumulateGradient` differentiates.
    public static func loss<T: BinaryFloatingPoint>(
        _ m: MFBlock<T>,
        _ b: SoftmaxBatch,
        range: Range<Int>,
        l2: T,
        negativeShift: T = 0
    ) -> T {
        var total: T = 0
        var z = [T](repeating: 0, count: b.perPositive + 1)
        for t in range {
            let u = Int(b.users[t])
            let rows = groupRows(b, t)
            var reg = squaredNorm(m.user, row: u, dim: m.dim)
            for (k, i) in rows.enumerated() {
                z[k] = m.predict(user: u, item: i) + (k == 0 ? 0 : negativeShift)
                reg += squaredNorm(m.item, row: i, dim: m.dim) + m.itemBias[i] * m.itemBias[i]
            }
            total += logSumExp(z) - z[0] + l2 / 2 * reg
        }
        return total / T(range.count)
    }

    /// Adds the gradient of `loss` over `range` into `g` and returns Σ_t −log softmax(z_t)₀
    /// (unregularised, for reporting). ∂/∂z_k = π_k − [k = 0].
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: MFBlock<T>,
        _ b: SoftmaxBatch,
        range: Range<Int>,
        l2: T,
        negativeShift: T = 0,
        into g: inout MFBlock<T>
    ) -> T {
        let scale = 1 / T(range.count)
        let rs = l2 * scale
        let d = m.dim
        var lossSum: T = 0
        var z = [T](repeating: 0, count: b.perPositive + 1)
        for t in range {
            let u = Int(b.users[t])
            let rows = groupRows(b, t)
            for (k, i) in rows.enumerated() { z[k] = m.predict(user: u, item: i) + (k == 0 ? 0 : negativeShift) }
            let lse = logSumExp(z)
            lossSum += lse - z[0]
            for f in 0..<d { g.user[u * d + f] += rs * m.user[u * d + f] }
            for (k, i) in rows.enumerated() {
                let pi = T(exp(Double(z[k] - lse)))
                let c = (pi - (k == 0 ? 1 : 0)) * scale
                for f in 0..<d {
                    let q = m.item[i * d + f]
                    g.user[u * d + f] += c * q
                    g.item[i * d + f] += c * m.user[u * d + f] + rs * q
                }
                g.itemBias[i] += c + rs * m.itemBias[i]
            }
        }
        return lossSum
    }

    /// Group t's rows: its positive, then its negatives.
    static func groupRows(_ b: SoftmaxBatch, _ t: Int) -> [Int] {
        var rows = [Int(b.positives[t])]
        for k in 0..<b.perPositive { rows.append(Int(b.negatives[t * b.perPositive + k])) }
        return rows
    }

    static func squaredNorm<T: BinaryFloatingPoint>(_ v: [T], row: Int, dim: Int) -> T {
        var s: T = 0
        for f in 0..<dim { s += v[row * dim + f] * v[row * dim + f] }
        return s
    }

    /// log Σ eᶻ, shifted by the maximum so no term overflows.
    static func logSumExp<T: BinaryFloatingPoint>(_ z: [T]) -> T {
        let top = z.max() ?? 0
        var s = 0.0
        for x in z { s += exp(Double(x - top)) }
        return top + T(log(s))
    }
}
