import FedSimCore

/// Byzantine-robust aggregation for runs **without** secure aggregation, where the
/// coordinator sees each update (and so can also be robust against it).
///
/// Each device's update is first turned back into its per-element delta δ_d[e] =
/// weightedDelta_d[e] / weight_d[slot(e)] (devices that put no weight on a slot, e.g. never
/// rated the item, do not vote on it). Then, per element:
///
/// - `median`: the coordinate-wise median of the votes;
/// - `trimmed_mean`: the mean after dropping the ⌊β·n⌋ largest and smallest votes (Yin et
///   al. 2018);
/// - `norm_bounded`: each device's whole update is first scaled to L2 norm ≤ `bound`
///   (Sun et al. 2019), then the ordinary weighted mean is taken.
///
/// It keeps every update of the round in memory (devices × parameters floats), which is what
/// coordinate-wise statistics need; secure aggregation makes all of this impossible by
/// design, which is why validation refuses the combination.
public struct RobustAggregator: Sendable {
    public enum Rule: Sendable, Equatable {
        case median
        case trimmedMean(fraction: Double)
        case normBounded(bound: Double)
    }

    public let layout: ParameterLayout
    public let rule: Rule
    let slots: [Int32]
    var deltas: [[Float]] = []
    var weights: [[Float]] = []
    public private(set) var examples = 0
    var losses: [(Int, Double, Int)] = []
    /// Updates whose norm the `norm_bounded` rule had to shrink.
    public private(set) var bounded = 0

    public init(layout: ParameterLayout, rule: Rule) {
        self.layout = layout
        self.rule = rule
        slots = layout.elementWeightSlots()
    }

    public var contributors: Int { deltas.count }

    public mutating func add(
        device: Int,
        weightedDelta: [Float],
        weights w: [Float],
        examples n: Int,
        trainLoss: Double
    ) throws {
        guard weightedDelta.count == layout.count, w.count == layout.weightCount else {
            throw FixedPointSum.Rejection.lengthMismatch(expected: layout.count, got: weightedDelta.count)
        }
        for (i, x) in weightedDelta.enumerated() where !x.isFinite { throw FixedPointSum.Rejection.nonFinite(index: i) }
        for (i, x) in w.enumerated() where !x.isFinite || x < 0 {
            throw FixedPointSum.Rejection.outOfRange(index: i, value: x)
        }
        deltas.append(weightedDelta)
        weights.append(w)
        examples += n
        losses.append((device, trainLoss, n))
    }

    public var meanTrainLoss: Double {
        let sorted = losses.sorted { $0.0 < $1.0 }
        let total = sorted.reduce(0) { $0 + $1.2 }
        guard total > 0 else { return .nan }
        return sorted.reduce(0.0) { $0 + $1.1 * Double($1.2) } / Double(total)
    }

    public mutating func aggregate() -> [Float] {
        let n = deltas.count
        var out = [Float](repeating: 0, count: layout.count)
        guard n > 0 else { return out }
        if case .normBounded(let bound) = rule {
            var mean = WeightedMeanAggregator(layout: layout)
            for d in 0..<n {
                var v = deltas[d]
                var sq = 0.0
                for x in v { sq += Double(x) * Double(x) }
                let norm = sq.squareRoot()
                if norm > bound {
                    bounded += 1
                    let s = Float(bound / norm)
                    for i in v.indices { v[i] *= s }
                }
                try? mean.add(device: d, weightedDelta: v, weights: weights[d], examples: 0, trainLoss: 0)
            }
            return mean.mean()
        }
        var votes: [Float] = []
        votes.reserveCapacity(n)
        for e in 0..<layout.count {
            let slot = Int(slots[e])
            votes.removeAll(keepingCapacity: true)
            for d in 0..<n where weights[d][slot] > 0 { votes.append(deltas[d][e] / weights[d][slot]) }
            guard !votes.isEmpty else { continue }
            votes.sort()
            switch rule {
            case .median:
                let m = votes.count
                out[e] = m % 2 == 1 ? votes[m / 2] : (votes[m / 2 - 1] + votes[m / 2]) / 2
            case .trimmedMean(let fraction):
                let cut = Int(Double(votes.count) * fraction)
                let kept = votes[cut..<(votes.count - cut)]
                out[e] = kept.isEmpty ? 0 : Float(kept.reduce(0.0) { $0 + Double($1) } / Double(kept.count))
            case .normBounded:
                break
            }
        }
        return out
    }
}
