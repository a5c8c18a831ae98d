import FedSimCore

/// The weighted mean of device updates, per weight slot:
/// `mean[e] = Σ_d weightedDelta_d[e] / Σ_d weight_d[slot(e)]`, 0 where no device put weight.
///
/// With per-row weights this is per-item FedAvg (an item averaged over the devices that rated
/// it, weighted by their counts); with whole-tensor weights it is classic example-weighted
/// FedAvg. Values and weights are both plain sums, so a secure-sum stage can produce them.
public struct WeightedMeanAggregator: Sendable {
    public let layout: ParameterLayout
    let slots: [Int32]
    public private(set) var values: FixedPointSum
    public private(set) var weights: FixedPointSum
    public private(set) var examples = 0
    public private(set) var lossSum = 0.0
    var lossByDevice: [(Int, Double, Int)] = []
    /// κ of `training.item_shrinkage`: per-row slots divide by Σ w + κ (0: the plain mean).
    public let shrinkage: Double

    public init(layout: ParameterLayout, shrinkage: Double = 0) {
        self.layout = layout
        self.shrinkage = shrinkage
        slots = layout.elementWeightSlots()
        values = FixedPointSum(count: layout.count)
        weights = FixedPointSum(count: layout.weightCount)
    }

    public var contributors: Int { values.contributions }

    /// Adds one device's update; throws (adding nothing) if it is malformed.
    public mutating func add(
        device: Int,
        weightedDelta: [Float],
        weights w: [Float],
        examples n: Int,
        trainLoss: Double
    ) throws {
        try values.validate(weightedDelta)
        try weights.validate(w)
        for x in w where x < 0 { throw FixedPointSum.Rejection.outOfRange(index: 0, value: x) }
        try values.add(weightedDelta)
        try weights.add(w)
        examples += n
        lossByDevice.append((device, trainLoss, n))
    }

    /// Adds one device's update in sparse form: the same checks and the same sums as the
    /// dense `add` of its dense form, walking only the entries present.
    public mutating func add(
        device: Int,
        sparseDelta: SparseFloats,
        sparseWeights w: SparseFloats,
        examples n: Int,
        trainLoss: Double
    ) throws {
        try values.validate(sparseDelta)
        try weights.validate(w)
        for x in w.values where x < 0 { throw FixedPointSum.Rejection.outOfRange(index: 0, value: x) }
        try values.add(sparseDelta)
        try weights.add(w)
        examples += n
        lossByDevice.append((device, trainLoss, n))
    }

    /// Example-weighted mean training loss, summed in device order (deterministic).
    public var meanTrainLoss: Double {
        let sorted = lossByDevice.sorted { $0.0 < $1.0 }
        let total = sorted.reduce(0) { $0 + $1.2 }
        guard total > 0 else { return .nan }
        return sorted.reduce(0.0) { $0 + $1.1 * Double($1.2) } / Double(total)
    }

    /// The mean update in the layout's flat order.
    public func mean() -> [Float] {
        Self.mean(values.values(), weights: weights.values(), layout: layout, slots: slots, shrinkage: shrinkage)
    }

    /// Σ w⊙Δ / Σ w per slot, 0 where no device put weight. With κ > 0 each per-row slot (an
    /// item row under per-item weighting) divides by Σ w + κ instead: a row one rater touched
    /// moves 1/(1 + κ) of that rater's step, a row with hundreds of ratings almost all of it
    /// (the posterior mean of the step under a zero-mean prior worth κ ratings). Whole-tensor
    /// slots are never shrunk.
    public static func mean(
        _ v: [Double],
        weights w: [Double],
        layout: ParameterLayout,
        slots: [Int32],
        shrinkage: Double
    ) -> [Float] {
        var extra = [Double](repeating: 0, count: w.count)
        if shrinkage > 0 {
            var slot = 0
            for t in layout.tensors {
                for _ in 0..<t.weightCount {
                    if t.weighting == .perRow { extra[slot] = shrinkage }
                    slot += 1
                }
            }
        }
        var out = [Float](repeating: 0, count: v.count)
        for e in 0..<v.count {
            let s = Int(slots[e])
            if w[s] > 0 { out[e] = Float(v[e] / (w[s] + extra[s])) }
        }
        return out
    }
}
