#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// LSTTM's click model (Xie et al., WSDM 2022) on one device's local view. For a context c
/// (a user at a point in time) with long-term vector u_l and K recent internal behaviours
/// n_1…n_K, and a target item i with embedding e_i:
///
///     q = W_u u_l,  m_j = W_n e_{n_j}                                  (graph attention,
///     α = softmax_j LeakyReLU(a₁·q + a₂·m_j),  u_s = Σ_j α_j m_j        Eq. 1–3)
///     β = softmax(g_s·[u_s ‖ e_i] + b_s,  g_l·[u_l ‖ e_i] + b_l)        (gate, Eq. 4–5)
///     u = β_s u_s + β_l u_l
///     z = w₀ + w_i + w_c + FM(u, e_i, e_c) + MLP(u ‖ e_i ‖ e_c),  loss = softplus(z) − y z
///
/// (the DeepFM scorer of Eq. 6–7), plus w_r · r when the examples carry the recency feature r
/// (the share of a recent window's behaviours in the target's category). A neighbour node's feature is its item embedding plus its
/// category's (e_n + e_c(n)), so a recent interest transfers to unseen items of its category. Without attention α_j = 1/K; with `concat` fusion u_s
/// and u_l are two scorer fields and there is no gate. u_l is an input here: the long-term
/// module (`LongTermKernel`) trains it with its own loss on its own cadence (a stop-gradient
/// between the two, as the paper trains them on separate schedules).
///
/// Generic so the gradient is checked in `Double` against finite differences.
public struct LSTTMBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var hidden: Int
    public var attention: Bool
    public var gated: Bool
    public var hasCategory: Bool
    /// Whether the recency feature r is also the MLP's last input (with `lsttm.recency_days`).
    public var recencyInput: Bool
    /// Local item and category rows, dim + 1 wide: embedding, then the linear weight.
    public var rows: [T]
    public var wUser: [T]  // dim × dim
    public var wNeighbour: [T]  // dim × dim
    public var att: [T]  // 2·dim: a₁ (user part), a₂ (neighbour part)
    public var gate: [T]  // 2·(2·dim + 1): g_s, b_s, g_l, b_l
    public var w1: [T]  // hidden × mlpWidth
    public var b1: [T]  // hidden
    public var out: [T]  // hidden
    public var bias: T = 0  // w₀
    public var recency: T = 0  // w_r, the recency feature's weight (0 and untouched without it)

    public init(
        dim: Int,
        hidden: Int,
        rows: Int,
        attention: Bool = true,
        gated: Bool = true,
        hasCategory: Bool = true,
        recencyInput: Bool = false
    ) {
        self.dim = dim
        self.hidden = hidden
        self.attention = attention
        self.gated = gated
        self.hasCategory = hasCategory
        self.recencyInput = recencyInput
        self.rows = [T](repeating: 0, count: rows * (dim + 1))
        wUser = [T](repeating: 0, count: dim * dim)
        wNeighbour = [T](repeating: 0, count: dim * dim)
        att = [T](repeating: 0, count: 2 * dim)
        gate = [T](repeating: 0, count: 2 * (2 * dim + 1))
        w1 = [T](
            repeating: 0,
            count: hidden * (Self.fields(gated: gated, hasCategory: hasCategory) * dim + (recencyInput ? 1 : 0))
        )
        b1 = [T](repeating: 0, count: hidden)
        out = [T](repeating: 0, count: hidden)
    }

    /// Scorer fields: the user (u, or u_s and u_l), the item, its category.
    public static func fields(gated: Bool, hasCategory: Bool) -> Int { (gated ? 1 : 2) + 1 + (hasCategory ? 1 : 0) }
    public var fields: Int { Self.fields(gated: gated, hasCategory: hasCategory) }
    /// The MLP's input: the fields' vectors, then r when `recencyInput`.
    public var mlpWidth: Int { fields * dim + (recencyInput ? 1 : 0) }

    public func zeros() -> LSTTMBlock {
        LSTTMBlock(
            dim: dim,
            hidden: hidden,
            rows: rows.count / (dim + 1),
            attention: attention,
            gated: gated,
            hasCategory: hasCategory,
            recencyInput: recencyInput
        )
    }
}

/// The modules of the click model, for selective updating: temporal MAML's inner loop and
/// online adaptation touch only `shortTerm` and `fusion`.
public struct LSTTMModules: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let embeddings = LSTTMModules(rawValue: 1)
    public static let shortTerm = LSTTMModules(rawValue: 2)
    public static let fusion = LSTTMModules(rawValue: 4)
    public static let scorer = LSTTMModules(rawValue: 8)
    public static let all: LSTTMModules = [.embeddings, .shortTerm, .fusion, .scorer]
}

/// Examples in local indices. A context (one user at one point in time) holds its recent
/// internal behaviours (local rows, newest first) and its long-term vector; each example
/// names a context, a target item row, its category row (−1: none) and a 0/1 label.
public struct LSTTMExamples: Sendable, Equatable {
    public var dim: Int
    public var neighbours: [[Int32]] = []
    /// The neighbours' category rows (−1: none), parallel to `neighbours`.
    public var neighbourCategories: [[Int32]] = []
    public var longTerm: [Float] = []
    public var item: [Int32] = []
    public var category: [Int32] = []
    public var context: [Int32] = []
    public var label: [Float] = []
    /// Per example, the recency feature r: the share of the context's recent window in the
    /// target's category (0 without `lsttm.recency_days`).
    public var recency: [Float] = []

    public init(dim: Int) { self.dim = dim }
    public var count: Int { label.count }
    public var contexts: Int { neighbours.count }

    public mutating func addContext(neighbours n: [Int32], categories c: [Int32]? = nil, longTerm u: [Float]) -> Int32 {
        precondition(u.count == dim && (c == nil || c!.count == n.count))
        neighbours.append(n)
        neighbourCategories.append(c ?? [Int32](repeating: -1, count: n.count))
        longTerm += u
        return Int32(neighbours.count - 1)
    }

    public mutating func append(
        context c: Int32,
        item i: Int32,
        category cat: Int32,
        label y: Float,
        recency r: Float = 0
    ) {
        context.append(c)
        item.append(i)
        category.append(cat)
        label.append(y)
        recency.append(r)
    }

    /// The examples at `idx`, in that order (contexts are kept whole).
    public func subset(_ idx: some Sequence<Int>) -> LSTTMExamples {
        var o = LSTTMExamples(dim: dim)
        o.neighbours = neighbours
        o.neighbourCategories = neighbourCategories
        o.longTerm = longTerm
        for j in idx {
            o.append(context: context[j], item: item[j], category: category[j], label: label[j], recency: recency[j])
        }
        return o
    }
}

public enum LSTTMKernel {
    static let slope = 0.2

    /// The short-term side of one context: q, the neighbours' messages m_j, the attention
    /// logits before LeakyReLU, the weights α and u_s.
    struct ShortTerm<T: BinaryFloatingPoint> {
        var q: [T], m: [T], pre: [T], alpha: [T], us: [T], ul: [T]
    }

    static func shortTerm<T: BinaryFloatingPoint>(_ b: LSTTMBlock<T>, _ x: LSTTMExamples, _ c: Int) -> ShortTerm<T> {
        let k = b.dim
        let e = k + 1
        let ul = (0..<k).map { T(x.longTerm[c * k + $0]) }
        var q = [T](repeating: 0, count: k)
        for r in 0..<k {
            var s: T = 0
            for f in 0..<k { s += b.wUser[r * k + f] * ul[f] }
            q[r] = s
        }
        let nb = x.neighbours[c]
        var m = [T](repeating: 0, count: nb.count * k)
        var node = [T](repeating: 0, count: k)
        for j in nb.indices {
            nodeFeature(b, x, c, j, into: &node)
            for r in 0..<k {
                var s: T = 0
                for f in 0..<k { s += b.wNeighbour[r * k + f] * node[f] }
                m[j * k + r] = s
            }
        }
        var pre = [T](repeating: 0, count: nb.count)
        var alpha = [T](repeating: 0, count: nb.count)
        if !nb.isEmpty {
            if b.attention {
                var aq: T = 0
                for f in 0..<k { aq += b.att[f] * q[f] }
                var top = -T.infinity
                for j in nb.indices {
                    var s = aq
                    for f in 0..<k { s += b.att[k + f] * m[j * k + f] }
                    pre[j] = s
                    top = max(top, s > 0 ? s : T(slope) * s)
                }
                var total: T = 0
                for j in nb.indices {
                    let s = pre[j] > 0 ? pre[j] : T(slope) * pre[j]
                    alpha[j] = T(exp(Double(s - top)))
                    total += alpha[j]
                }
                for j in nb.indices { alpha[j] /= total }
            } else {
                for j in nb.indices { alpha[j] = 1 / T(nb.count) }
            }
        }
        var us = [T](repeating: 0, count: k)
        for j in nb.indices { for f in 0..<k { us[f] += alpha[j] * m[j * k + f] } }
        return ShortTerm(q: q, m: m, pre: pre, alpha: alpha, us: us, ul: ul)
    }

    /// Neighbour j's node feature: its item embedding plus its category's.
    @inline(__always)
    static func nodeFeature<T: BinaryFloatingPoint>(
        _ b: LSTTMBlock<T>,
        _ x: LSTTMExamples,
        _ c: Int,
        _ j: Int,
        into v: inout [T]
    ) {
        let k = b.dim
        let e = k + 1
        let base = Int(x.neighbours[c][j]) * e
        let cat = Int(x.neighbourCategories[c][j])
        for f in 0..<k { v[f] = b.rows[base + f] }
        if b.hasCategory && cat >= 0 { for f in 0..<k { v[f] += b.rows[cat * e + f] } }
    }

    /// The gate's β_s for a target embedding starting at `rows[eBase]`.
    @inline(__always)
    static func gateWeight<T: BinaryFloatingPoint>(_ b: LSTTMBlock<T>, _ s: ShortTerm<T>, eBase: Int) -> T {
        let k = b.dim
        let g = 2 * k + 1
        var zs = b.gate[2 * k]
        var zl = b.gate[g + 2 * k]
        for f in 0..<k {
            let ef = b.rows[eBase + f]
            zs += b.gate[f] * s.us[f] + b.gate[k + f] * ef
            zl += b.gate[g + f] * s.ul[f] + b.gate[g + k + f] * ef
        }
        return T(1 / (1 + exp(-Double(zs - zl))))
    }

    /// Fills `fv` (`mlpWidth`: fields × dim, then r) for example j and returns (z, β_s), leaving the MLP's
    /// pre-activations in `pre`.
    static func forward<T: BinaryFloatingPoint>(
        _ b: LSTTMBlock<T>,
        _ x: LSTTMExamples,
        _ j: Int,
        _ s: ShortTerm<T>,
        fv: inout [T],
        pre: inout [T]
    ) -> (T, T) {
        let k = b.dim
        let e = k + 1
        let nf = b.fields
        let ib = Int(x.item[j]) * e
        let cr = Int(x.category[j])
        var beta: T = 0
        var slot = 0
        if b.gated {
            beta = gateWeight(b, s, eBase: ib)
            for f in 0..<k { fv[f] = beta * s.us[f] + (1 - beta) * s.ul[f] }
            slot = 1
        } else {
            for f in 0..<k {
                fv[f] = s.us[f]
                fv[k + f] = s.ul[f]
            }
            slot = 2
        }
        for f in 0..<k { fv[slot * k + f] = b.rows[ib + f] }
        var z = b.bias + b.rows[ib + k] + b.recency * T(x.recency[j])
        if b.hasCategory {
            for f in 0..<k { fv[(slot + 1) * k + f] = cr >= 0 ? b.rows[cr * e + f] : 0 }
            if cr >= 0 { z += b.rows[cr * e + k] }
        }
        for f in 0..<k {
            var sum: T = 0
            var sq: T = 0
            for a in 0..<nf {
                let v = fv[a * k + f]
                sum += v
                sq += v * v
            }
            z += (sum * sum - sq) / 2
        }
        let width = b.mlpWidth
        if b.recencyInput { fv[width - 1] = T(x.recency[j]) }
        b.w1.withUnsafeBufferPointer { w in
            fv.withUnsafeBufferPointer { v in
                for h in 0..<b.hidden {
                    var p = b.b1[h]
                    let row = h * width
                    for i in 0..<width { p += w[row + i] * v[i] }
                    pre[h] = p
                    if p > 0 { z += b.out[h] * p }
                }
            }
        }
        return (z, beta)
    }

    @inline(__always) static func softplus<T: BinaryFloatingPoint>(_ z: T) -> T {
        let d = Double(z)
        return T(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d)))
    }

    /// The click logits of examples `range` (for tests and scoring small sets).
    public static func logits<T: BinaryFloatingPoint>(_ b: LSTTMBlock<T>, _ x: LSTTMExamples, range: Range<Int>) -> [T]
    {
        var states = [ShortTerm<T>?](repeating: nil, count: x.contexts)
        var fv = [T](repeating: 0, count: b.mlpWidth)
        var pre = [T](repeating: 0, count: b.hidden)
        return range.map { j in
            let c = Int(x.context[j])
            if states[c] == nil { states[c] = shortTerm(b, x, c) }
            return forward(b, x, j, states[c]!, fv: &fv, pre: &pre).0
        }
    }

    /// (1/B) Σ_j [softplus(z_j) − y_j z_j + (λ/2)(‖item row‖² + ‖category row‖²)]
    /// + (λ/2)(‖W_u‖² + ‖W_n‖² + ‖a‖² + ‖gate‖² + ‖W₁‖² + ‖o‖²).
    public static func loss<T: BinaryFloatingPoint>(
        _ b: LSTTMBlock<T>,
        _ x: LSTTMExamples,
        range: Range<Int>,
        l2: T
    ) -> T {
        let e = b.dim + 1
        let z = logits(b, x, range: range)
        var total: T = 0
        for (n, j) in range.enumerated() {
            var reg: T = 0
            for r in [Int(x.item[j]), b.hasCategory ? Int(x.category[j]) : -1] where r >= 0 {
                for f in 0..<e { reg += b.rows[r * e + f] * b.rows[r * e + f] }
            }
            total += softplus(z[n]) - T(x.label[j]) * z[n] + l2 / 2 * reg
        }
        var dense: T = 0
        for v in b.wUser { dense += v * v }
        for v in b.wNeighbour { dense += v * v }
        for v in b.att { dense += v * v }
        if b.gated { for v in b.gate { dense += v * v } }
        for v in b.w1 { dense += v * v }
        for v in b.out { dense += v * v }
        dense += b.recency * b.recency
        return total / T(range.count) + l2 / 2 * dense
    }
}
