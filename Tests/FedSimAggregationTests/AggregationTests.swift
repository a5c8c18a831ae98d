import FedSimAggregation
import FedSimConfig
import FedSimCore
import Testing

@Suite struct AggregationTests {
    let layout = ParameterLayout([
        TensorSpec(name: "rows", rows: 3, columns: 2, group: .shared, weighting: .perRow),
        TensorSpec(name: "scalar", rows: 1, columns: 1, group: .shared, weighting: .whole),
    ])

    @Test func perRowWeightedMeanIgnoresDevicesThatDidNotTouchARow() throws {
        var agg = WeightedMeanAggregator(layout: layout)
        // Device A rated row 0 twice (delta 1 per element), device B rated row 0 once (delta 4)
        // and row 2 once (delta -2). Row 1: nobody.
        try agg.add(
            device: 0,
            weightedDelta: [2, 2, 0, 0, 0, 0, 10],
            weights: [2, 0, 0, 5],
            examples: 5,
            trainLoss: 1
        )
        try agg.add(
            device: 1,
            weightedDelta: [4, 4, 0, 0, -2, -2, 3],
            weights: [1, 0, 1, 1],
            examples: 1,
            trainLoss: 3
        )
        let m = agg.mean()
        #expect(m[0] == 2 && m[1] == 2)  // (2 + 4) / (2 + 1)
        #expect(m[2] == 0 && m[3] == 0)  // untouched: no dilution, no change
        #expect(m[4] == -2 && m[5] == -2)  // only device B
        #expect(abs(m[6] - 13.0 / 6.0) < 1e-6)  // example-weighted scalar
        #expect(agg.examples == 6)
        #expect(abs(agg.meanTrainLoss - (1 * 5 + 3 * 1) / 6.0) < 1e-12)
    }

    @Test func classicFedAvgDilutesUntouchedRows() throws {
        // With example weights everywhere, a row only device A touched is averaged with B's zero.
        var agg = WeightedMeanAggregator(layout: layout)
        try agg.add(device: 0, weightedDelta: [3, 3, 0, 0, 0, 0, 0], weights: [3, 3, 3, 3], examples: 3, trainLoss: 0)
        try agg.add(device: 1, weightedDelta: [0, 0, 0, 0, 0, 0, 0], weights: [1, 1, 1, 1], examples: 1, trainLoss: 0)
        #expect(agg.mean()[0] == 0.75)
    }

    @Test func malformedContributionsAreRefusedWhole() throws {
        var agg = WeightedMeanAggregator(layout: layout)
        #expect(throws: FixedPointSum.Rejection.self) {
            try agg.add(device: 0, weightedDelta: [1, 2, 3], weights: [1, 1, 1, 1], examples: 1, trainLoss: 0)
        }
        #expect(throws: FixedPointSum.Rejection.self) {
            try agg.add(
                device: 0,
                weightedDelta: [.nan, 0, 0, 0, 0, 0, 0],
                weights: [1, 1, 1, 1],
                examples: 1,
                trainLoss: 0
            )
        }
        #expect(throws: FixedPointSum.Rejection.self) {
            try agg.add(
                device: 0,
                weightedDelta: [1e9, 0, 0, 0, 0, 0, 0],
                weights: [1, 1, 1, 1],
                examples: 1,
                trainLoss: 0
            )
        }
        #expect(throws: FixedPointSum.Rejection.self) {
            try agg.add(
                device: 0,
                weightedDelta: [0, 0, 0, 0, 0, 0, 0],
                weights: [-1, 1, 1, 1],
                examples: 1,
                trainLoss: 0
            )
        }
        #expect(agg.contributors == 0)
        #expect(agg.mean().allSatisfy { $0 == 0 })
    }

    @Test func fixedPointSumIsIndependentOfOrder() throws {
        var rng = Xoshiro256(seed: 3)
        let vectors = (0..<50).map { _ in (0..<64).map { _ in Float(rng.nextGaussian() * 1e-2) } }
        var forward = FixedPointSum(count: 64)
        var backward = FixedPointSum(count: 64)
        for v in vectors { try forward.add(v) }
        for v in vectors.reversed() { try backward.add(v) }
        #expect(forward == backward)
        // And it is accurate: within 50 × 2^-31 of the exact (Double) sum.
        for i in 0..<64 {
            let exact = vectors.reduce(0.0) { $0 + Double($1[i]) }
            #expect(abs(forward.values()[i] - exact) <= 50.0 / Double(1 << 31))
        }
    }

    @Test func clippingBoundsEveryUpdateAndLeavesSmallOnesAlone() {
        var rng = Xoshiro256(seed: 8)
        for i in 0..<500 {
            let scale = [0.01, 1, 100][i % 3]
            var v = (0..<200).map { _ in Float(rng.nextGaussian() * scale) }
            let before = v
            let norm = L2Clip.clip(&v, to: 2.0)
            let after = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(after <= 2.0 * (1 + 1e-6), "norm \(after) above C")
            if norm <= 2 { #expect(v == before) } else { #expect(abs(after - 2) < 1e-4) }
        }
    }

    @Test func serverOptimizersFollowTheirUpdateRules() {
        var c = ServerOptimizerConfig()
        c.learningRate = 0.5
        var x: [Float] = [1, 1]
        var avg = ServerOptimizer(config: c, count: 2)
        avg.apply([2, -2], to: &x)
        #expect(x == [2, 0])

        c.optimizer = .fedavgm
        c.momentum = 0.5
        var m = ServerOptimizer(config: c, count: 1)
        var y: [Float] = [0]
        m.apply([1], to: &y)  // m = 1, y = 0.5
        m.apply([1], to: &y)  // m = 1.5, y = 1.25
        #expect(y == [1.25])

        c.optimizer = .fedadam
        c.beta1 = 0.9
        c.beta2 = 0.99
        c.tau = 1e-3
        c.learningRate = 0.1
        var a = ServerOptimizer(config: c, count: 1)
        var z: [Float] = [0]
        a.apply([1], to: &z)
        // m = 0.1, v = 0.99·τ² + 0.01 ≈ 0.01000099, step = 0.1 · 0.1 / (√v + τ)
        let v = 0.99 * 1e-6 + 0.01
        #expect(abs(Double(z[0]) - 0.1 * 0.1 / (v.squareRoot() + 1e-3)) < 1e-6)

        c.optimizer = .fedyogi
        var yo = ServerOptimizer(config: c, count: 1)
        var w: [Float] = [0]
        yo.apply([1], to: &w)
        // v = τ² − 0.01 · 1 · sign(τ² − 1) = τ² + 0.01: same first step as Adam's up to τ² terms.
        let vy = 1e-6 + 0.01
        #expect(abs(Double(w[0]) - 0.1 * 0.1 / (vy.squareRoot() + 1e-3)) < 1e-6)
    }
}
