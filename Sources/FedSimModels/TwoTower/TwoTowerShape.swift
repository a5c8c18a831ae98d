import FedSimConfig
import FedSimCore

/// The two-tower model with content (`model.kind: two_tower`):
///
///     u   = prior + Σ_f F[x_f] + δ                       (user tower, d + 1 wide: vector, bias)
///     v_i = (q_i + C[c_i]) ⊙ (1 + γ_D) + β_D              (item tower, D = domain of i)
///     r̂   = μ + u_b + b_i + C[c_i]_b + a_D + u · v_i
///
/// Parameter groups:
/// - **shared**: item embeddings q and biases b (per-row weights), μ, the user prior, the
///   user-feature embeddings F (one row per feature value) and category embeddings C;
/// - **domain**: one FiLM adapter (γ_D, β_D, a_D) per domain, aggregated only over devices
///   whose data touches that domain (its weight is 0 elsewhere);
/// - **personal**: the offset δ of the user tower, which never leaves the device.
///
/// Cold start lives in this split: a user with no data still has prior + features; a few
/// interactions adapt δ (and the domain adapter) on the device.
public struct TwoTowerShape: Sendable, Equatable {
    public var items: Int
    public var dim: Int
    /// Number of categorical user features; each gets `featureBuckets` rows.
    public var userFeatures: Int
    public var categories: Int
    public var domains: [String]
    public static let featureBuckets = 32

    public let layout: ParameterLayout
    public let item: Int, itemBias: Int, globalBias: Int, prior: Int, features: Int, category: Int, adapters: Int

    /// Disentanglement (`model.disentangle`): a shared `domain_adapter_prior` every domain's
    /// adapter is an offset from, so a domain nobody trained starts from what all domains share.
    public let hasAdapterPrior: Bool
    public let adapterPrior: Int

    /// Meta-SGD (`meta.inner_learning_rates: learned`): the groups with learned inner rates, one
    /// shared `inner_learning_rate.<group>` tensor each (one rate per column), and their start.
    public let rateGroups: [AdaptedGroup]
    public let rateInit: Float

    public init(
        items: Int,
        dim: Int,
        userFeatures: Int,
        categories: Int,
        domains: [String],
        adapters useAdapters: Bool,
        adapterPrior usePrior: Bool = false,
        learnedRates: [AdaptedGroup] = [],
        rateInit: Float = 0
    ) {
        self.items = items
        self.dim = dim
        self.userFeatures = userFeatures
        self.categories = categories
        self.domains = useAdapters ? domains : []
        let e = dim + 1
        var t = [
            TensorSpec(name: "item_embedding", rows: items, columns: dim, group: .shared, weighting: .perRow),
            TensorSpec(name: "item_bias", rows: items, columns: 1, group: .shared, weighting: .perRow),
            TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared, weighting: .whole),
            TensorSpec(name: "user_prior", rows: 1, columns: e, group: .shared, weighting: .whole),
            TensorSpec(
                name: "user_feature_embedding",
                rows: userFeatures * Self.featureBuckets,
                columns: e,
                group: .shared,
                weighting: .perRow
            ),
            TensorSpec(name: "category_embedding", rows: categories, columns: e, group: .shared, weighting: .perRow),
        ]
        for d in self.domains {
            t.append(
                TensorSpec(
                    name: "domain_adapter.\(d)",
                    rows: 1,
                    columns: 2 * dim + 1,
                    group: .domain(d),
                    weighting: .whole
                )
            )
        }
        hasAdapterPrior = usePrior && useAdapters
        if hasAdapterPrior {
            t.append(
                TensorSpec(
                    name: "domain_adapter_prior",
                    rows: 1,
                    columns: 2 * dim + 1,
                    group: .shared,
                    weighting: .whole
                )
            )
        }
        let hasDomains = !self.domains.isEmpty
        rateGroups = Self.rateOrder.filter { learnedRates.contains($0) && ($0 != .domain || hasDomains) }
        self.rateInit = rateInit
        for g in rateGroups {
            t.append(
                TensorSpec(
                    name: "inner_learning_rate.\(g.rawValue)",
                    rows: 1,
                    columns: g == .domain ? 2 * dim + 1 : dim + 1,
                    group: .shared,
                    weighting: .whole
                )
            )
        }
        layout = ParameterLayout(t)
        adapterPrior = hasAdapterPrior ? layout.offsets[layout.offsets.count - 1] : layout.count
        item = layout.offsets[0]
        itemBias = layout.offsets[1]
        globalBias = layout.offsets[2]
        prior = layout.offsets[3]
        features = layout.offsets[4]
        category = layout.offsets[5]
        adapters = layout.offsets.count > 6 ? layout.offsets[6] : layout.count
    }

    /// The order of the rate tensors in the layout (and of `TwoTowerRates`).
    public static let rateOrder: [AdaptedGroup] = [.personal, .categories, .userFeatures, .domain]

    /// Where group g's learned rates start in the flat vector (nil: not learned).
    public func rateOffset(_ g: AdaptedGroup) -> Int? {
        layout.range(of: "inner_learning_rate.\(g.rawValue)")?.lowerBound
    }

    public var userWidth: Int { dim + 1 }
    public var adapterWidth: Int { 2 * dim + 1 }
    /// Personal parameters per device: the user-tower offset δ.
    public var personalCount: Int { dim + 1 }
    /// The personal group's layout (for readers and tests: it is never part of `layout`).
    public var personalLayout: ParameterLayout {
        ParameterLayout([TensorSpec(name: "user_offset", rows: 1, columns: dim + 1, group: .personal)])
    }

    /// The row of feature f with value v (values fold into `featureBuckets` rows; negative = missing).
    public func featureRow(_ f: Int, _ v: Int32) -> Int? {
        v < 0 || f >= userFeatures ? nil : f * Self.featureBuckets + Int(v) % Self.featureBuckets
    }

    /// Seeded initial values: item and feature embeddings ~ N(0, σ²), category embeddings and
    /// the prior ~ N(0, σ²) with zero bias columns, μ at the centre of the scale, adapters 0.
    public func initialShared(initStd: Double, globalBias mu: Float, seed: UInt64) -> [Float] {
        var rng = Seeds.rng(seed, "init.shared")
        var v = [Float](repeating: 0, count: layout.count)
        for i in 0..<(items * dim) { v[item + i] = Float(initStd * rng.nextGaussian()) }
        v[globalBias] = mu
        let e = dim + 1
        var rows = Seeds.rng(seed, "init.towers")
        for f in 0..<dim { v[prior + f] = Float(initStd * rows.nextGaussian()) }
        for r in 0..<(userFeatures * Self.featureBuckets) {
            for f in 0..<dim { v[features + r * e + f] = Float(initStd * rows.nextGaussian()) }
        }
        for r in 0..<categories { for f in 0..<dim { v[category + r * e + f] = Float(initStd * rows.nextGaussian()) } }
        for g in rateGroups {
            let o = rateOffset(g)!
            for f in 0..<(g == .domain ? 2 * dim + 1 : e) { v[o + f] = rateInit }
        }
        return v
    }
}
