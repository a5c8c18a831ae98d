import FedSimAggregation
import FedSimCore
import Testing

@Suite struct RobustAggregatorTests {
    /// One tensor of 3 rows × 1 column with per-row weights.
    let layout = ParameterLayout([TensorSpec(name: "rows", rows: 3, columns: 1, group: .shared, weighting: .perRow)])

    func add(_ a: inout RobustAggregator, _ deltas: [[Float]], weights: [[Float]]) throws {
        for (i, (d, w)) in zip(deltas, weights).enumerated() {
            try a.add(device: i, weightedDelta: d, weights: w, examples: 1, trainLoss: 0)
        }
    }

    @Test func medianAndTrimmedMeanIgnoreAnOutlier() throws {
        // Five devices; device 4 is hostile (×1000). Row 2 is only touched by devices 0 and 1.
        let deltas: [[Float]] = [[1, 2, 4], [2, 2, 6], [3, 2, 0], [4, 2, 0], [1000, -2000, 0]]
        let weights: [[Float]] = [[1, 1, 2], [1, 1, 2], [1, 1, 0], [1, 1, 0], [1, 1, 0]]
        var median = RobustAggregator(layout: layout, rule: .median)
        try add(&median, deltas, weights: weights)
        #expect(median.aggregate() == [3, 2, 2.5])  // row 2: votes 4/2 = 2 and 6/2 = 3
        var trimmed = RobustAggregator(layout: layout, rule: .trimmedMean(fraction: 0.2))
        try add(&trimmed, deltas, weights: weights)
        #expect(trimmed.aggregate() == [3, 2, 2.5])  // drops 1 low and 1 high of 5 votes
        // The plain mean is dragged far away by the same outlier.
        var mean = WeightedMeanAggregator(layout: layout)
        for (i, (d, w)) in zip(deltas, weights).enumerated() {
            try mean.add(device: i, weightedDelta: d, weights: w, examples: 1, trainLoss: 0)
        }
        #expect(mean.mean()[0] > 100)
    }

    @Test func normBoundedCapsEachDevicesInfluence() throws {
        var a = RobustAggregator(layout: layout, rule: .normBounded(bound: 1))
        try add(&a, [[0.3, 0.4, 0], [300, 400, 0]], weights: [[1, 1, 1], [1, 1, 1]])
        let m = a.aggregate()
        // The first is within the bound; the second is scaled to (0.6, 0.8): mean (0.45, 0.6, 0).
        #expect(abs(m[0] - 0.45) < 1e-6 && abs(m[1] - 0.6) < 1e-6 && m[2] == 0)
        #expect(a.bounded == 1)
    }

    @Test func malformedUpdatesAreRefused() {
        var a = RobustAggregator(layout: layout, rule: .median)
        #expect(throws: FixedPointSum.Rejection.self) {
            try a.add(device: 0, weightedDelta: [1, 2], weights: [1, 1, 1], examples: 1, trainLoss: 0)
        }
        #expect(throws: FixedPointSum.Rejection.self) {
            try a.add(device: 0, weightedDelta: [.nan, 0, 0], weights: [1, 1, 1], examples: 1, trainLoss: 0)
        }
        #expect(throws: FixedPointSum.Rejection.self) {
            try a.add(device: 0, weightedDelta: [1, 0, 0], weights: [-1, 1, 1], examples: 1, trainLoss: 0)
        }
        #expect(a.contributors == 0)
    }
}
