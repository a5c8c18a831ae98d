import FedSimConfig
import FedSimCore

/// LSTTM's layout (`model.kind: lsttm`). Every tensor is **shared**; the long-term user row
/// p_u is the device's **personal** row and never leaves it.
///
/// - `item_embedding`, `category_embedding`: dim + 1 wide (embedding, linear weight), per-row weights;
/// - `short_term.*`: W_u, W_n and the attention vector (the short-term module);
/// - `fusion.gate`: g_s, b_s, g_l, b_l (unused, weight 0, with `fusion: concat`);
/// - `scorer.*`: the DeepFM MLP and w₀;
/// - `long_term.*`: the long-term item embeddings (per-row) and W_l, trained only on the
///   long-term module's rounds (weight 0 on the others);
/// - `scorer.recency_weight`: w_r of the recency feature, only with `lsttm.recency_days` > 0
///   (last, so the layout without it is unchanged).
public struct LSTTMShape: Sendable, Equatable {
    public let items: Int, dim: Int, hidden: Int, categories: Int
    public let gated: Bool
    /// Whether the scorer has the recency feature's weight (`lsttm.recency_days` > 0).
    public let recency: Bool
    public let layout: ParameterLayout
    public let item: Int, category: Int, wUser: Int, wNeighbour: Int, attention: Int, gate: Int
    public let w1: Int, b1: Int, out: Int, bias: Int, longTermItem: Int, projection: Int
    /// Offset of w_r (only meaningful when `recency`).
    public let recencyWeight: Int
    /// Index of the first long-term tensor in `layout.tensors` (they are last).
    public static let longTermTensors = 10...11

    public init(items: Int, dim: Int, hidden: Int, categories: Int, gated: Bool, recency: Bool = false) {
        self.items = items
        self.dim = dim
        self.hidden = hidden
        self.categories = categories
        self.gated = gated
        self.recency = recency
        let e = dim + 1
        let fields = LSTTMBlock<Float>.fields(gated: gated, hasCategory: categories > 0)
        let mlpWidth = fields * dim + (recency ? 1 : 0)
        var tensors = [
            TensorSpec(name: "item_embedding", rows: items, columns: e, group: .shared, weighting: .perRow),
            TensorSpec(name: "category_embedding", rows: categories, columns: e, group: .shared, weighting: .perRow),
            TensorSpec(name: "short_term.w_user", rows: dim, columns: dim, group: .shared),
            TensorSpec(name: "short_term.w_neighbour", rows: dim, columns: dim, group: .shared),
            TensorSpec(name: "short_term.attention", rows: 1, columns: 2 * dim, group: .shared),
            TensorSpec(name: "fusion.gate", rows: 1, columns: 2 * (2 * dim + 1), group: .shared),
            TensorSpec(name: "scorer.mlp_hidden", rows: hidden, columns: mlpWidth, group: .shared),
            TensorSpec(name: "scorer.mlp_hidden_bias", rows: 1, columns: hidden, group: .shared),
            TensorSpec(name: "scorer.mlp_out", rows: 1, columns: hidden, group: .shared),
            TensorSpec(name: "scorer.global_bias", rows: 1, columns: 1, group: .shared),
            TensorSpec(name: "long_term.item_embedding", rows: items, columns: dim, group: .shared, weighting: .perRow),
            TensorSpec(name: "long_term.projection", rows: dim, columns: dim, group: .shared),
        ]
        if recency { tensors.append(TensorSpec(name: "scorer.recency_weight", rows: 1, columns: 1, group: .shared)) }
        layout = ParameterLayout(tensors)
        let o = layout.offsets
        item = o[0]
        category = o[1]
        wUser = o[2]
        wNeighbour = o[3]
        attention = o[4]
        gate = o[5]
        w1 = o[6]
        b1 = o[7]
        out = o[8]
        bias = o[9]
        longTermItem = o[10]
        projection = o[11]
        recencyWeight = recency ? o[12] : layout.count
    }

    public var fields: Int { LSTTMBlock<Float>.fields(gated: gated, hasCategory: categories > 0) }
    /// The MLP's input width: the fields' vectors, then the recency feature r when on.
    public var mlpWidth: Int { fields * dim + (recency ? 1 : 0) }

    /// Embeddings ~ N(0, σ²) (long-term ones N(0, 0.1²), so the neighbour-similarity loss
    /// has a gradient from the start); W_u = W_n = W_l = I (messages start as the items'
    /// own embeddings); attention ~ N(0, 0.1²); gate 0 (β = ½); MLP He-initialised.
    public func initialShared(initStd: Double, seed: UInt64) -> [Float] {
        var rng = Seeds.rng(seed, "init.lsttm")
        var v = [Float](repeating: 0, count: layout.count)
        let e = dim + 1
        for r in 0..<(items + categories) {
            for f in 0..<dim { v[item + r * e + f] = Float(initStd * rng.nextGaussian()) }
        }
        for d in 0..<dim {
            v[wUser + d * dim + d] = 1
            v[wNeighbour + d * dim + d] = 1
            v[projection + d * dim + d] = 1
        }
        for i in 0..<(2 * dim) { v[attention + i] = Float(0.1 * rng.nextGaussian()) }
        let fanIn = Double(mlpWidth)
        for i in 0..<(hidden * mlpWidth) { v[w1 + i] = Float((2 / fanIn).squareRoot() * rng.nextGaussian()) }
        for h in 0..<hidden { v[out + h] = Float((1 / Double(hidden)).squareRoot() * rng.nextGaussian()) }
        for i in 0..<(items * dim) { v[longTermItem + i] = Float(0.1 * rng.nextGaussian()) }
        return v
    }

    /// p_u: N(0, 0.1²), from (seed, device).
    public func initialPersonal(seed: UInt64, device: Int) -> [Float] {
        var rng = Seeds.rng(seed, "init.lsttm.personal", UInt64(device))
        return (0..<dim).map { _ in Float(0.1 * rng.nextGaussian()) }
    }
}
