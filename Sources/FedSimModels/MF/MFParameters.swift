import FedSimCore

/// Biased matrix factorisation, r̂(u, i) = μ + b_u + b_i + p_u · q_i.
///
/// Parameter groups: item embeddings q, item biases b and the global bias μ are **shared**
/// (federated); the user embedding p_u and bias b_u are **personal** and never leave the
/// device. Item rows are weighted per row when aggregated (see `WeightScheme.perRow`), so an
/// item's update is averaged only over devices that rated it.
public enum MatrixFactorization {
    public static func sharedLayout(items: Int, dim: Int) -> ParameterLayout {
        ParameterLayout([
            TensorSpec(name: "item_embedding", rows: items, columns: dim, group: .shared, weighting: .perRow),
            TensorSpec(name: "item_bias", rows: items, columns: 1, group: .shared, weighting: .perRow),
            TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared, weighting: .whole),
        ])
    }

    public static func personalLayout(dim: Int) -> ParameterLayout {
        ParameterLayout([
            TensorSpec(name: "user_embedding", rows: 1, columns: dim, group: .personal),
            TensorSpec(name: "user_bias", rows: 1, columns: 1, group: .personal),
        ])
    }

    /// Full model layout: what a reader of the model declaration sees.
    public static func layout(items: Int, dim: Int) -> ParameterLayout {
        ParameterLayout(sharedLayout(items: items, dim: dim).tensors + personalLayout(dim: dim).tensors)
    }

    /// Seeded initial shared parameters: q ~ N(0, σ²), b = 0, μ = centre of the rating scale.
    public static func initialShared(items: Int, dim: Int, initStd: Double, globalBias: Float, seed: UInt64) -> [Float]
    {
        var rng = Seeds.rng(seed, "init.shared")
        var v = [Float](repeating: 0, count: items * dim + items + 1)
        for i in 0..<(items * dim) { v[i] = Float(initStd * rng.nextGaussian()) }
        v[items * dim + items] = globalBias
        return v
    }

    /// Seeded initial personal parameters of one device: p ~ N(0, σ²), b_u = 0.
    public static func initialPersonal(dim: Int, initStd: Double, seed: UInt64, device: Int) -> [Float] {
        var rng = Seeds.rng(seed, "init.personal", UInt64(device))
        var v = [Float](repeating: 0, count: dim + 1)
        for i in 0..<dim { v[i] = Float(initStd * rng.nextGaussian()) }
        return v
    }
}

/// Dense MF parameters for a set of users and items, generic so the gradient kernel can be
/// checked in `Double` against finite differences and run in `Float`.
public struct MFBlock<T: BinaryFloatingPoint>: Equatable {
    public var dim: Int
    public var user: [T]  // users × dim
    public var userBias: [T]  // users
    public var item: [T]  // items × dim
    public var itemBias: [T]  // items
    public var globalBias: T

    public init(dim: Int, users: Int, items: Int) {
        self.dim = dim
        user = [T](repeating: 0, count: users * dim)
        userBias = [T](repeating: 0, count: users)
        item = [T](repeating: 0, count: items * dim)
        itemBias = [T](repeating: 0, count: items)
        globalBias = 0
    }

    public var users: Int { userBias.count }
    public var items: Int { itemBias.count }

    @inlinable public func predict(user u: Int, item i: Int) -> T {
        var s = globalBias + userBias[u] + itemBias[i]
        let pu = u * dim
        let qi = i * dim
        for f in 0..<dim { s += user[pu + f] * item[qi + f] }
        return s
    }
}

/// A mini-batch of (user, item, rating) triples, indices into an `MFBlock`.
public struct MFBatch {
    public var users: [Int32]
    public var items: [Int32]
    public var ratings: [Float]
    public init(users: [Int32], items: [Int32], ratings: [Float]) {
        self.users = users
        self.items = items
        self.ratings = ratings
    }
    public var count: Int { ratings.count }
}

public enum MFKernel {
    /// Loss of a batch: (1/B) Σ_j [½ e_j² + (λ/2)(‖p_u‖² + b_u² + ‖q_i‖² + b_i²)], e_j = r̂_j − r_j.
    /// μ is not regularised. This is the function whose gradient `accumulateGradient` returns.
    public static func loss<T: BinaryFloatingPoint>(_ m: MFBlock<T>, _ b: MFBatch, range: Range<Int>, l2: T) -> T {
        var total: T = 0
        for j in range {
            let u = Int(b.users[j])
            let i = Int(b.items[j])
            let e = m.predict(user: u, item: i) - T(b.ratings[j])
            var reg = m.userBias[u] * m.userBias[u] + m.itemBias[i] * m.itemBias[i]
            for f in 0..<m.dim {
                reg += m.user[u * m.dim + f] * m.user[u * m.dim + f] + m.item[i * m.dim + f] * m.item[i * m.dim + f]
            }
            total += e * e / 2 + l2 / 2 * reg
        }
        return total / T(range.count)
    }

    /// Adds the gradient of `loss` over `range` into `g` (same shape as `m`) and returns the
    /// batch's mean squared-error term ½e² (for reporting). Only rows the batch touches change.
    @inlinable
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ m: MFBlock<T>,
        _ b: MFBatch,
        range: Range<Int>,
        l2: T,
        into g: inout MFBlock<T>
    ) -> T {
        let scale = 1 / T(range.count)
        let d = m.dim
        var lossSum: T = 0
        for j in range {
            let u = Int(b.users[j])
            let i = Int(b.items[j])
            let e = m.predict(user: u, item: i) - T(b.ratings[j])
            lossSum += e * e / 2
            let es = e * scale
            let rs = l2 * scale
            let pu = u * d
            let qi = i * d
            for f in 0..<d {
                let p = m.user[pu + f]
                let q = m.item[qi + f]
                g.user[pu + f] += es * q + rs * p
                g.item[qi + f] += es * p + rs * q
            }
            g.userBias[u] += es + rs * m.userBias[u]
            g.itemBias[i] += es + rs * m.itemBias[i]
            g.globalBias += es
        }
        return lossSum
    }
}
