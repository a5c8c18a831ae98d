import FedSimAggregation
import FedSimCore
import Foundation
import Testing

/// The sparse path (plain rounds: updates kept as runs) must give the dense path's numbers bit
/// for bit: the exact sum, the weighted mean, and `UpdateBounds`' verdicts and clipping.
@Suite struct SparseAggregationTests {
    static let rows = 300
    static let dim = 16
    let layout = ParameterLayout([
        TensorSpec(name: "item_embedding", rows: rows, columns: dim, group: .shared, weighting: .perRow),
        TensorSpec(name: "item_bias", rows: rows, columns: 1, group: .shared, weighting: .perRow),
        TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared, weighting: .whole),
    ])

    /// A device's update: a few rated items (rows and biases), per-item counts as weights,
    /// values spread over magnitudes so that rounding to the 2⁻³⁰ grid matters; some -0.0s.
    func update(_ seed: UInt64) -> (delta: [Float], weights: [Float]) {
        var rng = Xoshiro256(seed: seed)
        var delta = [Float](repeating: 0, count: layout.count)
        var weights = [Float](repeating: 0, count: layout.weightCount)
        let slots = layout.elementWeightSlots()
        for _ in 0..<(1 + rng.nextBounded(25)) {
            let r = rng.nextBounded(Self.rows)
            let w = Float(1 + rng.nextBounded(4))
            for f in 0..<Self.dim {
                delta[r * Self.dim + f] = Float(rng.nextGaussian() * pow(10, Double(rng.nextBounded(6)) - 4))
            }
            delta[Self.rows * Self.dim + r] = rng.nextBounded(7) == 0 ? -0.0 : Float(rng.nextGaussian())
            weights[Int(slots[r * Self.dim])] = w
        }
        delta[layout.count - 1] = Float(rng.nextGaussian())
        weights[layout.weightCount - 1] = 3
        return (delta, weights)
    }

    @Test func sparseSumEqualsDenseSumBitForBit() throws {
        var dense = FixedPointSum(count: layout.count)
        var sparse = FixedPointSum(count: layout.count)
        for seed in 0..<100 as Range<UInt64> {
            let (d, _) = update(seed)
            try dense.add(d)
            try sparse.add(SparseFloats(dense: d))
        }
        #expect(dense == sparse)
        #expect(dense.values().map(\.bitPattern) == sparse.values().map(\.bitPattern))
    }

    @Test func sparseMeanEqualsDenseMeanBitForBit() throws {
        var dense = WeightedMeanAggregator(layout: layout)
        var sparse = WeightedMeanAggregator(layout: layout)
        for seed in 0..<100 as Range<UInt64> {
            let (d, w) = update(seed)
            try dense.add(device: Int(seed), weightedDelta: d, weights: w, examples: 5, trainLoss: 0.5)
            try sparse.add(
                device: Int(seed),
                sparseDelta: SparseFloats(dense: d),
                sparseWeights: SparseFloats(dense: w),
                examples: 5,
                trainLoss: 0.5
            )
        }
        #expect(dense.mean().map(\.bitPattern) == sparse.mean().map(\.bitPattern))
        #expect(dense.values == sparse.values && dense.weights == sparse.weights)
        #expect(dense.meanTrainLoss == sparse.meanTrainLoss)
    }

    /// Out-of-range and non-finite values are refused on both paths, at the same index.
    @Test func sparseRefusesWhatDenseRefuses() {
        for bad: Float in [.nan, .infinity, 70_000] {
            var (d, _) = update(1)
            d[5 * Self.dim + 3] = bad
            let sum = FixedPointSum(count: layout.count)
            var denseError: FixedPointSum.Rejection?
            var sparseError: FixedPointSum.Rejection?
            do { try sum.validate(d) } catch { denseError = error as? FixedPointSum.Rejection }
            do { try sum.validate(SparseFloats(dense: d)) } catch { sparseError = error as? FixedPointSum.Rejection }
            #expect(denseError != nil && denseError == sparseError)
        }
    }

    @Test func boundsGiveTheSameVerdictAndClipping() throws {
        let bounds = UpdateBounds(layout: layout, maxDelta: 0.05)
        var sawClipping = false
        for seed in 0..<60 as Range<UInt64> {
            var (d, w) = update(seed)
            if seed % 10 == 3 { w[2] = 0.5 }  // a lie: refused on both paths
            if seed % 10 == 7 { d[layout.count - 1] = .nan }
            var dense = d
            var sparse = SparseFloats(dense: d)
            let a = Result { try bounds.enforce(weightedDelta: &dense, weights: w, trainingExamples: 40) }
            let b = Result {
                try bounds.enforce(weightedDelta: &sparse, weights: SparseFloats(dense: w), trainingExamples: 40)
            }
            switch (a, b) {
            case (.success(let x), .success(let y)):
                #expect(x == y)
                #expect(dense.map(\.bitPattern) == sparse.dense().map(\.bitPattern))
                sawClipping = sawClipping || x > 0
            case (.failure(let x as UpdateBounds.Violation), .failure(let y as UpdateBounds.Violation)):
                #expect(x == y)
            default:
                Issue.record("seed \(seed): dense \(a), sparse \(b)")
            }
        }
        #expect(sawClipping)
    }
}
