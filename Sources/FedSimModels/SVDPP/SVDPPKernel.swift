/// One device's SVD++ parameters (Koren 2008), generic so the gradient kernel can be checked in
/// `Double` against finite differences and run in `Float`:
///
///     r̂(u, i) = μ + b_u + b_i + q_i · (p_u + |N(u)|^{-1/2} Σ_{j ∈ N(u)} y_j)
///
/// It is a local view of one user: `item`, `itemBias` and `implicit` hold the rows of the items
/// the device rated in training, which are also exactly its implicit set N(u) (row j of
/// `implicit` is y of the item in row j of `item`), so |N(u)| = `items`.
public struct SVDPPBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var user: [T]  // p_u, dim
    public var userBias: T
    public var item: [T]  // q, items × dim
    public var itemBias: [T]  // items
    public var globalBias: T
    public var implicit: [T]  // y, items × dim

    public init(dim: Int, items: Int) {
        self.dim = dim
        user = [T](repeating: 0, count: dim)
        userBias = 0
        item = [T](repeating: 0, count: items * dim)
        itemBias = [T](repeating: 0, count: items)
        globalBias = 0
        implicit = [T](repeating: 0, count: items * dim)
    }

    public var items: Int { itemBias.count }

    /// |N(u)|^{-1/2}, the normaliser of the implicit sum (0 for an empty set).
    public var implicitNorm: T { items > 0 ? 1 / T(items).squareRoot() : 0 }

    /// The user's effective vector p_u + |N(u)|^{-1/2} Σ_j y_j, read from the dense y rows.
    public func effectiveUser() -> [T] {
        var u = user
        let c = implicitNorm
        for j in 0..<items {
            for f in 0..<dim { u[f] += c * implicit[j * dim + f] }
        }
        return u
    }

    @inlinable public func predict(item i: Int, effective u: [T]) -> T {
        var s = globalBias + userBias + itemBias[i]
        for f in 0..<dim { s += u[f] * item[i * dim + f] }
        return s
    }
}

public enum SVDPPKernel {
    /// The loss of a batch of the device's ratings (`users` of the batch are ignored: one user):
    /// (1/B) Σ_r [½e_r² + (λ/2)(‖p_u‖² + b_u² + ‖q_i‖² + b_i²)] + (λ/2) Σ_{j ∈ N(u)} ‖y_j‖².
    /// Every rating's prediction reads every y_j, so every rating regularises every y_j
    /// (Koren's per-rating step does the same); averaged over the batch that is (λ/2)Σ‖y_j‖².
    /// μ is not regularised. This is the function whose gradient `gradient` returns.
    public static func loss<T: BinaryFloatingPoint>(_ m: SVDPPBlock<T>, _ b: MFBatch, range: Range<Int>, l2: T) -> T {
        let u = m.effectiveUser()
        let d = m.dim
        var total: T = 0
        for r in range {
            let i = Int(b.items[r])
            let e = m.predict(item: i, effective: u) - T(b.ratings[r])
            var reg = m.userBias * m.userBias + m.itemBias[i] * m.itemBias[i]
            for f in 0..<d { reg += m.user[f] * m.user[f] + m.item[i * d + f] * m.item[i * d + f] }
            total += e * e / 2 + l2 / 2 * reg
        }
        var implicitReg: T = 0
        for x in m.implicit { implicitReg += x * x }
        return total / T(range.count) + l2 / 2 * implicitReg
    }

    /// Adds the batch's gradient of every field but y into `g` and the batch's common implicit
    /// direction G = (1/B) Σ_r e_r q_{i_r} into `common`; returns Σ ½e_r² (for reporting).
    ///
    /// Every y_j's gradient is the same |N(u)|^{-1/2}·G plus its own λy_j, so the caller never
    /// needs a per-row y gradient: `gradient` writes it out densely (for the check), the trainer
    /// steps all y rows at once through `ImplicitRows`. `effective` is p_u + |N(u)|^{-1/2}Σy_j.
    @inlinable
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: SVDPPBlock<T>,
        effective u: [T],
        _ b: MFBatch,
        range: Range<Int>,
        l2: T,
        into g: inout SVDPPBlock<T>,
        common: inout [T]
    ) -> T {
        let scale = 1 / T(range.count)
        let rs = l2 * scale
        let d = m.dim
        var lossSum: T = 0
        for r in range {
            let i = Int(b.items[r])
            let e = m.predict(item: i, effective: u) - T(b.ratings[r])
            lossSum += e * e / 2
            let es = e * scale
            for f in 0..<d {
                let q = m.item[i * d + f]
                common[f] += es * q
                g.user[f] += es * q + rs * m.user[f]
                g.item[i * d + f] += es * u[f] + rs * q
            }
            g.userBias += es + rs * m.userBias
            g.itemBias[i] += es + rs * m.itemBias[i]
            g.globalBias += es
        }
        return lossSum
    }

    /// The dense gradient of `loss`, y rows included: ∂/∂y_j = |N(u)|^{-1/2}·G + λy_j.
    public static func gradient<T: BinaryFloatingPoint>(
        _ m: SVDPPBlock<T>,
        _ b: MFBatch,
        range: Range<Int>,
        l2: T
    ) -> SVDPPBlock<T> {
        var g = SVDPPBlock<T>(dim: m.dim, items: m.items)
        var common = [T](repeating: 0, count: m.dim)
        _ = accumulateGradient(m, effective: m.effectiveUser(), b, range: range, l2: l2, into: &g, common: &common)
        let c = m.implicitNorm
        for j in 0..<m.items {
            for f in 0..<m.dim { g.implicit[j * m.dim + f] = c * common[f] + l2 * m.implicit[j * m.dim + f] }
        }
        return g
    }
}

/// The y rows of N(u) during one local session, stepped all at once in O(dim) per batch.
///
/// An SGD step on the batch loss moves every y_j by the same affine map,
/// y_j ← (1 − ηλ)·y_j − η·|N(u)|^{-1/2}·G, and so does the proximal pull y_j ← y_j − k(y_j − y_j⁰).
/// So y_j = `scale`·y_j⁰ + `shift` at every step, y_j⁰ being the row the session started from,
/// and the implicit sum is |N(u)|^{-1/2}(`scale`·Σ y_j⁰ + |N(u)|·`shift`). This is exact
/// mini-batch SGD on every y_j — not Koren's approximation of one y step per user pass — at the
/// cost of MF's step; the rows are written once, when the session's delta is formed (`row`).
public struct ImplicitRows<T: BinaryFloatingPoint>: Equatable {
    public let dim: Int
    public let count: Int
    /// Σ_j y_j⁰.
    public let startSum: [T]
    public private(set) var scale: T = 1
    public private(set) var shift: [T]

    /// The lazy rows of `start` (count × dim, the session's y rows).
    public init(start: [T], dim: Int) {
        self.dim = dim
        count = dim > 0 ? start.count / dim : 0
        var sum = [T](repeating: 0, count: dim)
        for j in 0..<count {
            for f in 0..<dim { sum[f] += start[j * dim + f] }
        }
        startSum = sum
        shift = [T](repeating: 0, count: dim)
    }

    public var norm: T { count > 0 ? 1 / T(count).squareRoot() : 0 }

    /// |N(u)|^{-1/2} Σ_j y_j.
    public func normalizedSum() -> [T] {
        let c = norm
        return (0..<dim).map { c * (scale * startSum[$0] + T(count) * shift[$0]) }
    }

    /// One SGD step with learning rate `lr` given the batch's common direction G.
    public mutating func step(common: [T], lr: T, l2: T) {
        let keep = 1 - lr * l2
        let c = norm
        scale *= keep
        for f in 0..<dim { shift[f] = keep * shift[f] - lr * c * common[f] }
    }

    /// FedProx's pull towards the session's start: y ← y − k(y − y⁰), k = η·μ.
    public mutating func pull(_ k: T) {
        scale = (1 - k) * scale + k
        for f in 0..<dim { shift[f] *= 1 - k }
    }

    /// Row j now, from its starting value `start` (dim floats).
    public func row(_ start: ArraySlice<T>) -> [T] {
        zip(start, shift).map { scale * $0 + $1 }
    }
}
