import FedSimAggregation
import FedSimCore
import Testing

/// `training.item_shrinkage`: per-row slots divide by Σ w + κ, whole tensors never.
@Suite struct ItemShrinkageTests {
    let layout = ParameterLayout([
        TensorSpec(name: "rows", rows: 3, columns: 2, group: .shared, weighting: .perRow),
        TensorSpec(name: "scalar", rows: 1, columns: 1, group: .shared, weighting: .whole),
    ])

    func aggregate(_ shrinkage: Double) throws -> [Float] {
        var a = WeightedMeanAggregator(layout: layout, shrinkage: shrinkage)
        // Row 0: one rater with weight 1 (Δ = 0.5); row 1: two raters, weights 3 and 5; row 2: nobody.
        try a.add(
            device: 0,
            weightedDelta: [0.5, 0.5, 3, 3, 0, 0, 1],
            weights: [1, 3, 0, 2],
            examples: 2,
            trainLoss: 0
        )
        try a.add(device: 1, weightedDelta: [0, 0, 5, -5, 0, 0, 3], weights: [0, 5, 0, 2], examples: 2, trainLoss: 0)
        return a.mean()
    }

    @Test func rareRowsMoveLessThanWellRatedOnesAndWholeTensorsNotAtAll() throws {
        let plain = try aggregate(0)
        #expect(plain == [0.5, 0.5, 1, -0.25, 0, 0, 1])
        let shrunk = try aggregate(4)
        #expect(shrunk[0] == Float(0.5 / 5.0))  // one rater: 1/(1 + 4) of its step
        #expect(shrunk[2] == Float(8.0 / 12.0) && shrunk[3] == Float(-2.0 / 12.0))  // 8 of weight: 8/12
        #expect(shrunk[4] == 0 && shrunk[5] == 0)
        #expect(shrunk[6] == 1)  // the whole-tensor slot is the plain mean
    }

    @Test func theSecureSumPathShrinksTheSame() throws {
        let q = try SecureSumQuantizer(
            layout: layout,
            bits: 32,
            maxContributors: 4,
            valueClip: 4,
            maxRowWeight: 8,
            maxExamples: 100,
            maxWholeWeight: nil,
            noiseHeadroom: 1
        )
        let sums = [0.5, 0.5, 8, -2, 0, 0, 4]
        let weights = [1.0, 8, 0, 4]
        let expected = try aggregate(4)
        #expect(q.mean(weightedDelta: sums, weights: weights, shrinkage: 4) == expected)
    }
}
