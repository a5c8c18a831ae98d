/// DeepFM (Guo et al. 2017) for click-through prediction on implicit feedback:
///
///     z = w₀ + Σ_a w_a + ½ Σ_f [(Σ_a v_af)² − Σ_a v_af²] + Σ_h o_h · relu(b_h + Σ_j W_hj x_j)
///     p = σ(z),   loss = log(1 + e^z) − y·z   (binary cross-entropy)
///
/// over the fields a of one example (user features, the user, the item, its category, its
/// domain); each field value is a row (v_a, w_a) of k + 1 numbers and x is the
/// concatenation of the fields' v (zeros for an absent field). The FM part models pairwise
/// interactions, the MLP higher-order ones, sharing the same embeddings.
///
/// One block holds every row a device's examples touch (local view), the MLP and w₀; an
/// example is `fields` row indices (−1: absent) and a label. Generic so the gradient is
/// checked in `Double` against finite differences.
public struct DeepFMBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var fields: Int
    public var hidden: Int
    public var rows: [T]  // R × (dim + 1): v then the linear weight w
    public var w1: [T]  // hidden × (fields · dim)
    public var b1: [T]  // hidden
    public var out: [T]  // hidden
    public var bias: T = 0  // w₀

    public init(dim: Int, fields: Int, hidden: Int, rows: Int) {
        self.dim = dim
        self.fields = fields
        self.hidden = hidden
        self.rows = [T](repeating: 0, count: rows * (dim + 1))
        w1 = [T](repeating: 0, count: hidden * fields * dim)
        b1 = [T](repeating: 0, count: hidden)
        out = [T](repeating: 0, count: hidden)
    }

    public func zeros() -> DeepFMBlock {
        DeepFMBlock(dim: dim, fields: fields, hidden: hidden, rows: rows.count / (dim + 1))
    }
}

/// Examples: `fields` row indices per example (flattened), and 0/1 labels.
public struct DeepFMExamples: Sendable, Equatable {
    public var fields: Int
    public var rowIndex: [Int32] = []
    public var label: [Float] = []
    public init(fields: Int) { self.fields = fields }
    public var count: Int { label.count }

    public mutating func append(_ r: [Int32], label y: Float) {
        precondition(r.count == fields)
        rowIndex += r
        label.append(y)
    }

    public func subset(_ idx: some Sequence<Int>) -> DeepFMExamples {
        var o = DeepFMExamples(fields: fields)
        for j in idx {
            o.rowIndex += rowIndex[(j * fields)..<((j + 1) * fields)]
            o.label.append(label[j])
        }
        return o
    }
}

public enum DeepFMKernel {
    /// The logit z of example j.
    public static func logit<T: BinaryFloatingPoint>(_ m: DeepFMBlock<T>, _ x: DeepFMExamples, _ j: Int) -> T {
        var pre = [T](repeating: 0, count: m.hidden)
        return forward(m, x, j, pre: &pre)
    }

    /// z, leaving the MLP's pre-activations in `pre`.
    @inlinable
    static func forward<T: BinaryFloatingPoint>(_ m: DeepFMBlock<T>, _ x: DeepFMExamples, _ j: Int, pre: inout [T]) -> T
    {
        let k = m.dim
        let e = k + 1
        let nf = m.fields
        let width = nf * k
        var z = m.bias
        var fm: T = 0
        for f in 0..<k {
            var s: T = 0
            var s2: T = 0
            for a in 0..<nf {
                let r = Int(x.rowIndex[j * nf + a])
                guard r >= 0 else { continue }
                let v = m.rows[r * e + f]
                s += v
                s2 += v * v
            }
            fm += (s * s - s2) / 2
        }
        z += fm
        for a in 0..<nf {
            let r = Int(x.rowIndex[j * nf + a])
            if r >= 0 { z += m.rows[r * e + k] }
        }
        for h in 0..<m.hidden {
            var p = m.b1[h]
            for a in 0..<nf {
                let r = Int(x.rowIndex[j * nf + a])
                guard r >= 0 else { continue }
                for f in 0..<k { p += m.w1[h * width + a * k + f] * m.rows[r * e + f] }
            }
            pre[h] = p
            if p > 0 { z += m.out[h] * p }
        }
        return z
    }

    @inlinable static func softplus<T: BinaryFloatingPoint>(_ z: T) -> T {
        let d = Double(z)
        return T(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d)))
    }

    @inlinable static func sigmoid<T: BinaryFloatingPoint>(_ z: T) -> T { T(1 / (1 + exp(-Double(z)))) }

    /// Batch loss: (1/B) Σ_j [softplus(z_j) − y_j z_j + (λ/2)(Σ_{rows of j} ‖row‖²)] + (λ/2)(‖W‖² + ‖o‖²).
    public static func loss<T: BinaryFloatingPoint>(
        _ m: DeepFMBlock<T>,
        _ x: DeepFMExamples,
        range: Range<Int>,
        l2: T
    ) -> T {
        let e = m.dim + 1
        var total: T = 0
        for j in range {
            let z = logit(m, x, j)
            var reg: T = 0
            for a in 0..<m.fields {
                let r = Int(x.rowIndex[j * m.fields + a])
                guard r >= 0 else { continue }
                for f in 0..<e { reg += m.rows[r * e + f] * m.rows[r * e + f] }
            }
            total += softplus(z) - T(x.label[j]) * z + l2 / 2 * reg
        }
        var mlp: T = 0
        for v in m.w1 { mlp += v * v }
        for v in m.out { mlp += v * v }
        return total / T(range.count) + l2 / 2 * mlp
    }

    /// Adds the gradient of `loss` over `range` into `g`; returns Σ of the cross-entropy terms.
    @inlinable
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: DeepFMBlock<T>,
        _ x: DeepFMExamples,
        range: Range<Int>,
        l2: T,
        into g: inout DeepFMBlock<T>
    ) -> T {
        let k = m.dim
        let e = k + 1
        let nf = m.fields
        let width = nf * k
        let s = 1 / T(range.count)
        var pre = [T](repeating: 0, count: m.hidden)
        var sums = [T](repeating: 0, count: k)
        var lossSum: T = 0
        for j in range {
            let z = forward(m, x, j, pre: &pre)
            let y = T(x.label[j])
            lossSum += softplus(z) - y * z
            let gz = (sigmoid(z) - y) * s
            g.bias += gz
            for f in 0..<k {
                var t: T = 0
                for a in 0..<nf {
                    let r = Int(x.rowIndex[j * nf + a])
                    if r >= 0 { t += m.rows[r * e + f] }
                }
                sums[f] = t
            }
            for a in 0..<nf {
                let r = Int(x.rowIndex[j * nf + a])
                guard r >= 0 else { continue }
                g.rows[r * e + k] += gz + l2 * s * m.rows[r * e + k]
                for f in 0..<k {
                    let v = m.rows[r * e + f]
                    g.rows[r * e + f] += gz * (sums[f] - v) + l2 * s * v
                }
            }
            for h in 0..<m.hidden where pre[h] > 0 {
                let gh = gz * m.out[h]
                g.out[h] += gz * pre[h]
                g.b1[h] += gh
                for a in 0..<nf {
                    let r = Int(x.rowIndex[j * nf + a])
                    guard r >= 0 else { continue }
                    for f in 0..<k {
                        g.w1[h * width + a * k + f] += gh * m.rows[r * e + f]
                        g.rows[r * e + f] += gh * m.w1[h * width + a * k + f]
                    }
                }
            }
        }
        // The MLP's penalty is once per batch: (λ/2)‖W‖² has gradient λW.
        for i in m.w1.indices { g.w1[i] += l2 * m.w1[i] }
        for h in 0..<m.hidden { g.out[h] += l2 * m.out[h] }
        return lossSum
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
