#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// LSTTM's long-term module on one device. The user's long-term vector aggregates its
/// one-hop neighbourhood (every internal and external behaviour, or internal only):
///
///     u_l = W_l · mean_b g_b + p_u
///
/// with g the long-term item embeddings (shared), W_l a shared projection and p_u the
/// device's **personal** row. It is trained with the neighbour-similarity loss of the
/// paper's Eq. 8 (GraphSAGE's unsupervised objective): the user is pulled toward the items
/// it interacted with and pushed from sampled others,
///
///     L = (1/P) Σ_pairs [softplus(u_l·g_r) − y_r u_l·g_r] + (λ/2)(Σ_rows ‖g‖² + ‖W_l‖² + ‖p_u‖²).
///
/// Generic so the gradient is checked in `Double`.
public struct LongTermBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var rows: [T]  // R × dim, local long-term item rows
    public var projection: [T]  // dim × dim
    public var user: [T]  // dim (personal)

    public init(dim: Int, rows: Int) {
        self.dim = dim
        self.rows = [T](repeating: 0, count: rows * dim)
        projection = [T](repeating: 0, count: dim * dim)
        user = [T](repeating: 0, count: dim)
    }

    public func zeros() -> LongTermBlock { LongTermBlock(dim: dim, rows: rows.count / dim) }
}

/// The behaviours that form the neighbourhood mean, and the (row, label) pairs of the loss.
public struct LongTermExamples: Sendable, Equatable {
    public var behaviours: [Int32] = []
    public var row: [Int32] = []
    public var label: [Float] = []
    public init() {}
}

public enum LongTermKernel {
    /// u_l for the behaviours at `rows` of the block (an empty set gives p_u).
    public static func represent<T: BinaryFloatingPoint>(_ b: LongTermBlock<T>, behaviours: [Int32]) -> [T] {
        let k = b.dim
        var mean = [T](repeating: 0, count: k)
        for r in behaviours { for f in 0..<k { mean[f] += b.rows[Int(r) * k + f] } }
        if !behaviours.isEmpty { for f in 0..<k { mean[f] /= T(behaviours.count) } }
        var u = b.user
        for a in 0..<k { for f in 0..<k { u[a] += b.projection[a * k + f] * mean[f] } }
        return u
    }

    static func dot<T: BinaryFloatingPoint>(_ u: [T], _ rows: [T], _ r: Int) -> T {
        var s: T = 0
        for f in u.indices { s += u[f] * rows[r * u.count + f] }
        return s
    }

    public static func loss<T: BinaryFloatingPoint>(_ b: LongTermBlock<T>, _ x: LongTermExamples, l2: T) -> T {
        let u = represent(b, behaviours: x.behaviours)
        var total: T = 0
        for (r, y) in zip(x.row, x.label) {
            let s = dot(u, b.rows, Int(r))
            let d = Double(s)
            total += T(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d))) - T(y) * s
        }
        var reg: T = 0
        for v in b.rows { reg += v * v }
        for v in b.projection { reg += v * v }
        for v in b.user { reg += v * v }
        return total / T(max(1, x.row.count)) + l2 / 2 * reg
    }

    /// Adds the gradient of `loss` into `g`.
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ b: LongTermBlock<T>,
        _ x: LongTermExamples,
        l2: T,
        into g: inout LongTermBlock<T>
    ) {
        let k = b.dim
        let u = represent(b, behaviours: x.behaviours)
        var mean = [T](repeating: 0, count: k)
        for r in x.behaviours { for f in 0..<k { mean[f] += b.rows[Int(r) * k + f] } }
        if !x.behaviours.isEmpty { for f in 0..<k { mean[f] /= T(x.behaviours.count) } }
        let scale = 1 / T(max(1, x.row.count))
        var gu = [T](repeating: 0, count: k)
        for (r, y) in zip(x.row, x.label) {
            let ri = Int(r)
            let s = dot(u, b.rows, ri)
            let gs = (T(1 / (1 + exp(-Double(s)))) - T(y)) * scale
            for f in 0..<k {
                gu[f] += gs * b.rows[ri * k + f]
                g.rows[ri * k + f] += gs * u[f]
            }
        }
        for f in 0..<k { g.user[f] += gu[f] + l2 * b.user[f] }
        var gmean = [T](repeating: 0, count: k)
        for a in 0..<k {
            for f in 0..<k {
                g.projection[a * k + f] += gu[a] * mean[f]
                gmean[f] += b.projection[a * k + f] * gu[a]
            }
        }
        if !x.behaviours.isEmpty {
            let n = T(x.behaviours.count)
            for r in x.behaviours { for f in 0..<k { g.rows[Int(r) * k + f] += gmean[f] / n } }
        }
        for i in b.rows.indices { g.rows[i] += l2 * b.rows[i] }
        for i in b.projection.indices { g.projection[i] += l2 * b.projection[i] }
    }
}
