/// (user, positive item, negative item) triples, indices into an `MFBlock`.
public struct BPRBatch {
    public var users: [Int32]
    public var positives: [Int32]
    public var negatives: [Int32]
    public init(users: [Int32], positives: [Int32], negatives: [Int32]) {
        precondition(users.count == positives.count && users.count == negatives.count)
        self.users = users
        self.positives = positives
        self.negatives = negatives
    }
    public var count: Int { users.count }
}

/// Bayesian personalised ranking (Rendle et al. 2009) on biased MF: for a device's item i and an
/// item j it never interacted with, x = r̂(u, i) − r̂(u, j) = b_i − b_j + p_u · (q_i − q_j), and the
/// loss is −log σ(x). Squared error on observed ratings never sees an unrated item, so it cannot
/// learn to put the items a user will touch above those they will not; BPR optimises exactly
/// that order (AUC's smooth surrogate). μ and b_u cancel in x and get no gradient.
public enum BPRKernel {
    /// (1/B) Σ [−log σ(x) + (λ/2)(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²)], the function whose
    /// gradient `accumulateGradient` returns.
    public static func loss<T: BinaryFloatingPoint>(_ m: MFBlock<T>, _ b: BPRBatch, range: Range<Int>, l2: T) -> T {
        var total: T = 0
        let d = m.dim
        for t in range {
            let u = Int(b.users[t])
            let i = Int(b.positives[t])
            let j = Int(b.negatives[t])
            let x = m.predict(user: u, item: i) - m.predict(user: u, item: j)
            var reg = m.itemBias[i] * m.itemBias[i] + m.itemBias[j] * m.itemBias[j]
            for f in 0..<d {
                let p = m.user[u * d + f]
                let qi = m.item[i * d + f]
                let qj = m.item[j * d + f]
                reg += p * p + qi * qi + qj * qj
            }
            total += softplus(-x) + l2 / 2 * reg
        }
        return total / T(range.count)
    }

    /// Adds the gradient of `loss` over `range` into `g` and returns Σ −log σ(x) (for reporting).
    /// ∂(−log σ(x))/∂x = −σ(−x).
    @inlinable
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: MFBlock<T>,
        _ b: BPRBatch,
        range: Range<Int>,
        l2: T,
        into g: inout MFBlock<T>
    ) -> T {
        let scale = 1 / T(range.count)
        let rs = l2 * scale
        let d = m.dim
        var lossSum: T = 0
        for t in range {
            let u = Int(b.users[t])
            let i = Int(b.positives[t])
            let j = Int(b.negatives[t])
            let x = m.predict(user: u, item: i) - m.predict(user: u, item: j)
            lossSum += softplus(-x)
            let c = -sigmoid(-x) * scale  // ∂loss/∂x for this triple, batch-averaged
            for f in 0..<d {
                let p = m.user[u * d + f]
                let qi = m.item[i * d + f]
                let qj = m.item[j * d + f]
                g.user[u * d + f] += c * (qi - qj) + rs * p
                g.item[i * d + f] += c * p + rs * qi
                g.item[j * d + f] += -c * p + rs * qj
            }
            g.itemBias[i] += c + rs * m.itemBias[i]
            g.itemBias[j] += -c + rs * m.itemBias[j]
        }
        return lossSum
    }

    /// σ(x), computed without overflow for large |x|.
    @inlinable static func sigmoid<T: BinaryFloatingPoint>(_ x: T) -> T {
        let e = T(exp(Double(-abs(x))))
        return x >= 0 ? 1 / (1 + e) : e / (1 + e)
    }

    /// log(1 + eˣ), stable for large |x|.
    @inlinable static func softplus<T: BinaryFloatingPoint>(_ x: T) -> T {
        T(max(Double(x), 0) + log1p(exp(-abs(Double(x)))))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
