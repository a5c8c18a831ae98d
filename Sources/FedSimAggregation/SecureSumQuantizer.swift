import FedSimCore

/// Maps a device's update into Z_{2^bits} for a secure sum, and the sum back.
///
/// The summed vector is `[weightedDelta (layout.count) | weights (layout.weightCount) |
/// examples | loss × examples | within-clip indicator]`, so the coordinator sees even the
/// training statistics only as totals. Each element e has a public bound B_e on one device's |value| and a scale
/// s_e = ⌊(2^(bits−1) − 1) / (n·B_e)⌋, so the sum of n contributions can never wrap.
/// Values are clipped to their bounds, and the clips are counted and reported. They are
/// then rounded *stochastically* (unbiased: E[q] = x·s) with the device's seeded RNG.
///
/// Bounds: a weight w of a per-row slot ≤ `maxRowWeight`, of a whole-tensor slot ≤
/// `maxExamples`; an element of the weighted delta ≤ w·`valueClip` (|Δ| ≤ valueClip before
/// weighting); examples ≤ `maxExamples`; mean loss ≤ `maxLoss`.
public struct SecureSumQuantizer: Sendable {
    public let layout: ParameterLayout
    public let bits: Int
    public let maxContributors: Int
    public let valueClip: Double
    public let maxRowWeight: Double
    public let maxExamples: Double
    public let maxLoss: Double
    let slots: [Int32]
    let weightCaps: [Double]
    /// Scale per element of the summed vector.
    public let scales: [Double]

    public struct Configuration: Error, CustomStringConvertible {
        public var description: String
    }

    public var length: Int { layout.count + layout.weightCount + 3 }
    var mask: UInt64 { bits >= 64 ? .max : (UInt64(1) << UInt64(bits)) - 1 }

    /// `noiseHeadroom` ≥ 1 shrinks every scale by that factor, leaving room in Z_{2^bits} for
    /// noise added to the sum (distributed DP).
    /// `maxWholeWeight` bounds the weight of whole-tensor slots (default: `maxExamples`, as with
    /// example weighting; 1 under uniform weighting, so every value element gets the same scale).
    public init(
        layout: ParameterLayout,
        bits: Int,
        maxContributors n: Int,
        valueClip: Double = 1,
        maxRowWeight: Double = 16,
        maxExamples: Double = 10_000,
        maxWholeWeight: Double? = nil,
        maxLoss: Double = 32,
        noiseHeadroom: Double = 1
    ) throws {
        guard (8...32).contains(bits) else {
            throw Configuration(description: "secure-sum bits must be 8...32, got \(bits)")
        }
        self.layout = layout
        self.bits = bits
        maxContributors = max(1, n)
        self.valueClip = valueClip
        self.maxRowWeight = maxRowWeight
        self.maxExamples = maxExamples
        self.maxLoss = maxLoss
        slots = layout.elementWeightSlots()
        var caps: [Double] = []
        for t in layout.tensors {
            caps += [Double](
                repeating: t.weighting == .perRow ? maxRowWeight : (maxWholeWeight ?? maxExamples),
                count: t.weightCount
            )
        }
        weightCaps = caps
        let headroom = Double((UInt64(1) << UInt64(bits - 1)) - 1) / (Double(maxContributors) * max(1, noiseHeadroom))
        var s: [Double] = []
        s.reserveCapacity(layout.count + layout.weightCount + 3)
        for e in 0..<layout.count { s.append((headroom / (caps[Int(slots[e])] * valueClip)).rounded(.down)) }
        for w in caps { s.append((headroom / w).rounded(.down)) }
        s.append((headroom / maxExamples).rounded(.down))
        s.append((headroom / (maxExamples * maxLoss)).rounded(.down))
        s.append(headroom.rounded(.down))  // within-clip indicator, 0 or 1
        guard let smallest = s.min(), smallest >= 1 else {
            throw Configuration(
                description:
                    "\(bits) bits leave no room to sum \(n) contributions of these bounds; raise bits or lower the bounds"
            )
        }
        scales = s
    }

    /// Quantizes one device's update. Returns the vector and how many elements were clipped.
    public func quantize(
        weightedDelta: [Float],
        weights: [Float],
        examples: Int,
        meanLoss: Double,
        withinClip: Bool = false,
        rng: inout some RandomNumberGenerator
    ) -> (vector: [UInt32], clipped: Int) {
        precondition(weightedDelta.count == layout.count && weights.count == layout.weightCount)
        var out = [UInt32](repeating: 0, count: length)
        var clipped = 0
        let m = mask
        @inline(__always) func q(_ x: Double, _ scale: Double, into i: Int) {
            let y = x * scale
            let f = y.rounded(.down)
            let up = rng.nextUnitDouble() < y - f ? 1.0 : 0.0
            out[i] = UInt32(truncatingIfNeeded: UInt64(bitPattern: Int64(f + up)) & m)
        }
        var w = [Double](repeating: 0, count: weights.count)
        var rescale = [Double](repeating: 1, count: weights.count)
        for i in weights.indices {
            let cap = weightCaps[i]
            let x = Double(max(0, weights[i]))
            if x > cap {
                clipped += 1
                rescale[i] = cap / x
            }
            w[i] = min(x, cap)
        }
        for e in 0..<layout.count {
            let x = Double(weightedDelta[e])
            if x == 0 { continue }
            let slot = Int(slots[e])
            let bound = w[slot] * valueClip
            var v = x * rescale[slot]
            if abs(v) > bound {
                clipped += 1
                v = v < 0 ? -bound : bound
            }
            q(v, scales[e], into: e)
        }
        let wBase = layout.count
        for i in w.indices where w[i] != 0 { q(w[i], scales[wBase + i], into: wBase + i) }
        let ex = min(Double(examples), maxExamples)
        if Double(examples) > maxExamples { clipped += 1 }
        q(ex, scales[length - 3], into: length - 3)
        let loss = meanLoss.isFinite ? min(max(0, meanLoss), maxLoss) : maxLoss
        q(loss * ex, scales[length - 2], into: length - 2)
        q(withinClip ? 1 : 0, scales[length - 1], into: length - 1)
        return (out, clipped)
    }

    /// Reads a secure sum back: the totals of weighted deltas, weights, examples and loss.
    public func dequantize(
        _ sum: [UInt32]
    ) -> (weightedDelta: [Double], weights: [Double], examples: Double, lossSum: Double, withinClip: Double) {
        precondition(sum.count == length)
        let m = mask
        let half = UInt64(1) << UInt64(bits - 1)
        var v = [Double](repeating: 0, count: length)
        for i in 0..<length {
            let u = UInt64(sum[i]) & m
            let signed = u >= half ? -Double(m - u + 1) : Double(u)
            v[i] = signed / scales[i]
        }
        return (
            Array(v[0..<layout.count]), Array(v[layout.count..<(layout.count + layout.weightCount)]), v[length - 3],
            v[length - 2],
            v[length - 1].rounded()
        )
    }

    /// The L2 sensitivity, in integer units, of the quantized weighted-delta segment of one
    /// device whose update has L2 norm ≤ `clip`: max scale · clip for the values, plus √d for
    /// the rounding (each coordinate moves by less than 1).
    public func integerSensitivity(clip: Double) -> Double {
        scales[0..<layout.count].max()! * clip + Double(layout.count).squareRoot()
    }

    /// Σ weighted delta / Σ weights per slot, as `WeightedMeanAggregator.mean` does for plain sums.
    /// `shrinkage`: `training.item_shrinkage`, as in `WeightedMeanAggregator.mean`.
    public func mean(weightedDelta: [Double], weights: [Double], shrinkage: Double = 0) -> [Float] {
        WeightedMeanAggregator.mean(
            Array(weightedDelta[0..<layout.count]),
            weights: weights,
            layout: layout,
            slots: slots,
            shrinkage: shrinkage
        )
    }
}
