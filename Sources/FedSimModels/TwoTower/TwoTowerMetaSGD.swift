import FedSimConfig

/// Meta-SGD's learned inner rates for the two-tower model (`meta.inner_learning_rates:
/// learned`): one rate per column of each adapted group, shared by every row of that group
/// (the user offset's d + 1 coordinates; the d + 1 columns of every genre row and user-feature
/// row; the 2d + 1 of every adapter row). Empty arrays: the group is not adapted.
///
/// Per column rather than per element so the rates are a handful of shared numbers every
/// device has a gradient for (a per-genre-row rate would be learned only by the devices that
/// rated that genre), yet the vector coordinates of the user can get a different rate than
/// its bias: with one scalar rate, the few steps of adaptation move the bias (curvature 1)
/// and leave the vector (curvature ‖v_i‖², small) where it was, so rankings cannot change.
public struct TwoTowerRates<T: BinaryFloatingPoint>: Equatable {
    public var personal: [T] = []
    public var category: [T] = []
    public var features: [T] = []
    public var adapter: [T] = []
    public init() {}

    /// The rates stored in the shared vector (empty when the shape learns none).
    public init(shape: TwoTowerShape, shared: [Float]) {
        func read(_ g: AdaptedGroup, _ width: Int) -> [T] {
            guard let o = shape.rateOffset(g) else { return [] }
            return (0..<width).map { T(shared[o + $0]) }
        }
        let e = shape.dim + 1
        personal = read(.personal, e)
        category = read(.categories, e)
        features = read(.userFeatures, e)
        adapter = read(.domain, 2 * shape.dim + 1)
    }

    public var isEmpty: Bool { personal.isEmpty && category.isEmpty && features.isEmpty && adapter.isEmpty }

    /// The four groups in `TwoTowerShape.rateOrder`, for element-wise maps.
    var parts: [[T]] {
        get { [personal, category, features, adapter] }
        set { (personal, category, features, adapter) = (newValue[0], newValue[1], newValue[2], newValue[3]) }
    }

    /// Writes (self − start) × weight into the update's rate tensors (whole-tensor weighting).
    func addDelta(
        from start: TwoTowerRates,
        shape: TwoTowerShape,
        weight: Float,
        into delta: inout [Float],
        weights: inout [Float]
    ) {
        for (g, (now, was)) in zip(TwoTowerShape.rateOrder, zip(parts, start.parts)) {
            guard let o = shape.rateOffset(g), let t = shape.layout.index(of: "inner_learning_rate.\(g.rawValue)")
            else {
                continue
            }
            weights[shape.layout.weightOffsets[t]] = weight
            for f in now.indices { delta[o + f] = weight * Float(now[f] - was[f]) }
        }
    }
}

public enum TwoTowerMetaSGD {
    /// The inner loop with learned rates: `steps` full-batch steps θ ← θ − s·α ⊙ ∇L_support(θ) on
    /// the groups that have rates (s: the support-size shrinkage k/(k + κ)). Returns Σ_t ∇L_t
    /// on those groups, what the rates' first-order outer gradient needs.
    public static func adapt<T: BinaryFloatingPoint>(
        _ m: inout TwoTowerBlock<T>,
        _ batch: TwoTowerExamples,
        steps: Int,
        rates: TwoTowerRates<T>,
        scale: T,
        l2: T
    ) -> TwoTowerBlock<T> {
        var sum = m.zeros()
        guard batch.count > 0 else { return sum }
        for _ in 0..<steps {
            var g = m.zeros()
            _ = TwoTowerKernel.accumulateGradient(m, batch, range: 0..<batch.count, l2: l2, offsetL2: l2, into: &g)
            apply(&m.offset, g.offset, &sum.offset, rates.personal, scale)
            apply(&m.category, g.category, &sum.category, rates.category, scale)
            apply(&m.features, g.features, &sum.features, rates.features, scale)
            apply(&m.adapter, g.adapter, &sum.adapter, rates.adapter, scale)
        }
        return sum
    }

    /// p[r·w + f] −= s·α[f]·g[r·w + f] for every row r (w = α's width); adds g into `sum`.
    static func apply<T: BinaryFloatingPoint>(_ p: inout [T], _ g: [T], _ sum: inout [T], _ alpha: [T], _ s: T) {
        guard !alpha.isEmpty else { return }
        let w = alpha.count
        for k in p.indices {
            p[k] -= s * alpha[k % w] * g[k]
            sum[k] += g[k]
        }
    }

    /// ∂L_query/∂α, first order: θ_T = θ_0 − s·α ⊙ Σ_t g_t with the g_t held fixed, so
    /// ∂L/∂α_f = −s · Σ_{rows} (Σ_t g_t) ⊙ ∇L_query(θ_T) over column f. Exact for one inner
    /// step (g_0 does not depend on α); with more, it drops the α-dependence of later g_t, as
    /// FO-MAML drops the Hessian for θ.
    public static func rateGradient<T: BinaryFloatingPoint>(
        sums: TwoTowerBlock<T>,
        query: TwoTowerBlock<T>,
        rates: TwoTowerRates<T>,
        scale: T
    ) -> TwoTowerRates<T> {
        func reduce(_ s: [T], _ q: [T], _ w: Int) -> [T] {
            guard w > 0 else { return [] }
            var out = [T](repeating: 0, count: w)
            for k in s.indices { out[k % w] -= scale * s[k] * q[k] }
            return out
        }
        var out = TwoTowerRates<T>()
        out.personal = reduce(sums.offset, query.offset, rates.personal.count)
        out.category = reduce(sums.category, query.category, rates.category.count)
        out.features = reduce(sums.features, query.features, rates.features.count)
        out.adapter = reduce(sums.adapter, query.adapter, rates.adapter.count)
        return out
    }

    /// The projected outer step on the rates: α ← clamp(α − β·∇α, 0, max).
    public static func step(_ rates: inout TwoTowerRates<Float>, _ grad: TwoTowerRates<Float>, beta: Float, max: Float)
    {
        var parts = rates.parts
        for (p, g) in zip(parts.indices, grad.parts) {
            for f in g.indices { parts[p][f] = Swift.min(max, Swift.max(0, parts[p][f] - beta * g[f])) }
        }
        rates.parts = parts
    }
}

extension TwoTowerTrainer {
    /// The inner loop of one episode: plain SGD at the rule's rate on `mask`, or, when the
    /// view carries learned rates, Meta-SGD's loop (whose gradient sums it returns).
    func innerLoop(
        _ adapted: inout TwoTowerBlock<Float>,
        _ v: TwoTowerView,
        _ support: [Int],
        steps: Int,
        rule: AdaptationConfig,
        mask: GroupMask
    ) -> TwoTowerBlock<Float>? {
        let lr = rule.learningRate(support: support.count)
        guard !v.rates.isEmpty else {
            adapt(&adapted, v.examples, support, steps: steps, lr: lr, mask: mask)
            return nil
        }
        return TwoTowerMetaSGD.adapt(
            &adapted,
            v.examples.subset(support),
            steps: steps,
            rates: v.rates,
            scale: Float(lr / rule.learningRate),
            l2: Float(local.l2)
        )
    }

    /// The rates' outer step of one episode, at the same per-episode scaling as the
    /// initialisation's (`meta.outer_step`).
    func metaSGDStep(
        _ rates: inout TwoTowerRates<Float>,
        sums: TwoTowerBlock<Float>,
        query: TwoTowerBlock<Float>,
        scale: Double
    ) {
        let grad = TwoTowerMetaSGD.rateGradient(sums: sums, query: query, rates: rates, scale: Float(scale))
        let beta = meta.outerStep == .perRound ? meta.rateStep / Double(meta.episodes) : meta.rateStep
        TwoTowerMetaSGD.step(&rates, grad, beta: Float(beta), max: Float(meta.maxInnerLearningRate))
    }
}
