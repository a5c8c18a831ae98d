import FedSimCore
import FedSimData

/// Where SVD++'s shared tensors sit in the flat parameter vector, and their initial values.
///
/// The first three tensors are MF's, in MF's order (item embeddings q, item biases, μ), so
/// anything that reads the item rows at the start of the shared vector (embedding diversity,
/// the MF scorer of `Evaluator`) reads SVD++ as it reads MF. The implicit-feedback rows y
/// follow as a fourth tensor, weighted per row like q.
public struct SVDPPShape: Sendable, Equatable {
    public var items: Int
    public var dim: Int

    public init(items: Int, dim: Int) {
        self.items = items
        self.dim = dim
    }

    public var layout: ParameterLayout {
        ParameterLayout([
            TensorSpec(name: "item_embedding", rows: items, columns: dim, group: .shared, weighting: .perRow),
            TensorSpec(name: "item_bias", rows: items, columns: 1, group: .shared, weighting: .perRow),
            TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared, weighting: .whole),
            TensorSpec(name: "implicit_embedding", rows: items, columns: dim, group: .shared, weighting: .perRow),
        ])
    }

    public var itemBiasBase: Int { items * dim }
    public var globalBiasIndex: Int { items * dim + items }
    public var implicitBase: Int { items * dim + items + 1 }
    public var sharedCount: Int { 2 * items * dim + items + 1 }
    public var weightCount: Int { 3 * items + 1 }
    public var globalWeightSlot: Int { 2 * items }

    /// The weight slots of item `i`'s rows: q_i, b_i, y_i.
    public func weightSlots(item i: Int) -> [Int] { [i, items + i, 2 * items + 1 + i] }

    /// Seeded initial shared parameters: q, y ~ N(0, σ²) (each from its own stream, so q
    /// starts exactly as MF's does), b = 0, μ = centre of the rating scale.
    public func initialShared(initStd: Double, globalBias: Float, seed: UInt64) -> [Float] {
        var v = MatrixFactorization.initialShared(
            items: items,
            dim: dim,
            initStd: initStd,
            globalBias: globalBias,
            seed: seed
        )
        var rng = Seeds.rng(seed, "init.implicit")
        for _ in 0..<(items * dim) { v.append(Float(initStd * rng.nextGaussian())) }
        return v
    }

    /// The local view of a device over its distinct items `local` (global ids): their q, b and
    /// y rows, μ, and the personal p_u and b_u.
    public func localBlock(shared: [Float], personal: [Float], items local: [Int32]) -> SVDPPBlock<Float> {
        var b = SVDPPBlock<Float>(dim: dim, items: local.count)
        for (l, g) in local.enumerated() {
            let gi = Int(g)
            for f in 0..<dim {
                b.item[l * dim + f] = shared[gi * dim + f]
                b.implicit[l * dim + f] = shared[implicitBase + gi * dim + f]
            }
            b.itemBias[l] = shared[itemBiasBase + gi]
        }
        b.globalBias = shared[globalBiasIndex]
        for f in 0..<dim { b.user[f] = personal[f] }
        b.userBias = personal[dim]
        return b
    }

    /// The personal vector an MF scorer reads for this device: (p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j, b_u),
    /// N(u) the distinct items of `history`. Scoring SVD++ is scoring MF with this user row.
    public func effectivePersonal(shared: [Float], personal: [Float], history: Interactions) -> [Float] {
        var out = personal
        let implicitSet = Set(history.items).sorted()  // sorted: a fixed summation order, every process alike
        guard !implicitSet.isEmpty else { return out }
        let c = 1 / Float(implicitSet.count).squareRoot()
        for j in implicitSet {
            let base = implicitBase + Int(j) * dim
            for f in 0..<dim { out[f] += c * shared[base + f] }
        }
        return out
    }
}
