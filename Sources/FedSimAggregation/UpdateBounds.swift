import FedSimCore

/// What one device's update may claim, checked by the coordinator before any aggregation rule
/// sees it (runs without secure aggregation, where the coordinator sees each update).
///
/// A device sends `weightedDelta` (w ⊙ Δ) and `weights` (w); every rule divides one by the
/// other, per slot. Checking each alone is not enough: a weight of 10⁻⁶ with a weighted delta
/// of 1 implies Δ = 10⁶, which one device per round turns into a model at 10¹⁴ under the mean,
/// the median (an item only it rated in the round has one vote), the trimmed mean and the
/// norm-bounded rule (whose norm is taken over w ⊙ Δ, which is small). So the two are bound
/// together, and the bound is on Δ:
///
/// - **Weights are counts.** Honest devices weigh a slot by a count (ratings of an item,
///   training examples, uses of a row) or by 1 (uniform weighting), or put 0 on slots they did
///   not touch. A non-zero weight below `minWeight` = 1 is a lie, and the update is refused.
/// - **Weights are bounded by the device's size.** A count cannot exceed what the device's
///   known training-set size allows: `weightPerExample` × max(1, size) (the factor leaves room
///   for a row counted once per use, e.g. an item drawn as a negative or a neighbour). Above
///   it, the update is refused: one device must not outweigh a round.
/// - **Δ is bounded per element.** |wΔ[e]| ≤ `maxDelta` · max(w[slot(e)], `minWeight`), so
///   every vote Δ = wΔ / w is within ±`maxDelta`, and so is any mean of votes. Elements above
///   it are clipped to it (and counted), as the secure sum's quantizer clips on the device; a
///   clipped honest update still counts.
/// - Anything non-finite or negative is refused.
public struct UpdateBounds: Sendable {
    public let layout: ParameterLayout
    let slots: [Int32]
    /// The largest |Δ| of one element in one round.
    public var maxDelta: Float
    /// The smallest non-zero weight: a count of one.
    public static let minWeight: Float = 1
    /// How many times one training example may count in one slot's weight.
    public var weightPerExample: Float = 64

    public init(layout: ParameterLayout, maxDelta: Float) {
        self.layout = layout
        self.maxDelta = maxDelta
        slots = layout.elementWeightSlots()
    }

    /// Why an update was refused, as a sentence about what it claimed.
    public struct Violation: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The largest weight a device with `trainingExamples` examples may put on a slot (no
    /// bound when the size is unknown).
    public func maxWeight(trainingExamples: Int?) -> Float {
        guard let n = trainingExamples else { return .greatestFiniteMagnitude }
        return weightPerExample * Float(max(1, n))
    }

    /// Checks one update and clips its Δ to the bound. Returns how many elements it clipped;
    /// throws a `Violation` (changing nothing) for weights that no honest device sends.
    public func enforce(
        weightedDelta: inout [Float],
        weights: [Float],
        trainingExamples: Int?
    ) throws -> Int {
        guard weightedDelta.count == layout.count, weights.count == layout.weightCount else {
            throw Violation(
                description:
                    "the update has \(weightedDelta.count) values and \(weights.count) weights, expected \(layout.count) and \(layout.weightCount)"
            )
        }
        let cap = maxWeight(trainingExamples: trainingExamples)
        for (i, w) in weights.enumerated() { try check(weight: w, at: i, cap: cap, trainingExamples: trainingExamples) }
        var clipped = 0
        for e in weightedDelta.indices {
            let x = weightedDelta[e]
            guard x.isFinite else { throw Violation(description: "weighted delta \(e) is not finite") }
            let bound = maxDelta * max(weights[Int(slots[e])], Self.minWeight)
            if abs(x) > bound {
                weightedDelta[e] = x < 0 ? -bound : bound
                clipped += 1
            }
        }
        return clipped
    }

    /// `enforce` on an update kept sparse: the same verdict, the same clipped values and the
    /// same count as on its dense form (an absent entry is 0: a weight of 0 passes, and a
    /// delta of 0 is within any bound), walking only the entries present.
    public func enforce(
        weightedDelta: inout SparseFloats,
        weights: SparseFloats,
        trainingExamples: Int?
    ) throws -> Int {
        guard weightedDelta.count == layout.count, weights.count == layout.weightCount else {
            throw Violation(
                description:
                    "the update has \(weightedDelta.count) values and \(weights.count) weights, expected \(layout.count) and \(layout.weightCount)"
            )
        }
        let cap = maxWeight(trainingExamples: trainingExamples)
        try weights.forEachPresent { i, w in try check(weight: w, at: i, cap: cap, trainingExamples: trainingExamples) }
        let dense = weights.dense()
        var j = 0
        var bad: Int?
        var clips: [(Int, Float)] = []
        weightedDelta.forEachPresent { e, x in
            defer { j += 1 }
            guard bad == nil else { return }
            guard x.isFinite else {
                bad = e
                return
            }
            let bound = maxDelta * max(dense[Int(slots[e])], Self.minWeight)
            if abs(x) > bound { clips.append((j, x < 0 ? -bound : bound)) }
        }
        if let e = bad { throw Violation(description: "weighted delta \(e) is not finite") }
        for (j, v) in clips { weightedDelta.setPresent(j, v) }
        return clips.count
    }

    func check(weight w: Float, at i: Int, cap: Float, trainingExamples: Int?) throws {
        guard w.isFinite, w >= 0 else {
            throw Violation(description: "weight \(i) is \(w); weights are non-negative counts")
        }
        if w > 0 && w < Self.minWeight {
            throw Violation(
                description:
                    "weight \(i) is \(w), below \(Self.minWeight), the smallest count an honest device sends (it would imply Δ = weighted delta × \(1 / w))"
            )
        }
        if w > cap {
            throw Violation(
                description:
                    "weight \(i) is \(w), above \(cap), what a device with \(trainingExamples ?? 0) training examples can count"
            )
        }
    }

    /// The same bound on an aggregate the coordinator cannot check device by device (a secure
    /// sum): every element of the mean is clipped to ±`maxDelta`, which no mean of honest votes
    /// exceeds (each is a weighted mean of Δs within the bound), and a non-finite one is 0.
    /// The total weight itself is not bounded below: FedBuff devices scale their weights by
    /// staleness before masking, so an honest slot's total can be any fraction. Returns how
    /// many elements it changed.
    public func enforce(mean: inout [Float]) -> Int {
        var changed = 0
        for e in mean.indices where !(abs(mean[e]) <= maxDelta) {
            let x = mean[e]
            mean[e] = x.isNaN ? 0 : (x < 0 ? -maxDelta : maxDelta)
            changed += 1
        }
        return changed
    }
}
