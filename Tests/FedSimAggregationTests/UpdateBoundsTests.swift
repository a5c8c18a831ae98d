import FedSimAggregation
import FedSimCore
import Testing

/// `UpdateBounds`: a device's weights are checked against its weighted delta, so the Δ every
/// rule derives (wΔ / w) is bounded, not only wΔ.
@Suite struct UpdateBoundsTests {
    /// Two item rows (per-row weights) and a global bias (one whole-tensor weight).
    let layout = ParameterLayout([
        TensorSpec(name: "rows", rows: 2, columns: 1, group: .shared, weighting: .perRow),
        TensorSpec(name: "bias", rows: 1, columns: 1, group: .shared),
    ])
    var bounds: UpdateBounds { UpdateBounds(layout: layout, maxDelta: 4) }

    @Test func anHonestUpdatePassesUnchanged() throws {
        var delta: [Float] = [3, 0, -7.5]  // Δ = 1, 0, -2.5
        let clipped = try bounds.enforce(weightedDelta: &delta, weights: [3, 0, 3], trainingExamples: 3)
        #expect(clipped == 0)
        #expect(delta == [3, 0, -7.5])
    }

    /// The attack of issue 21: a weight of 10⁻⁴ with an ordinary weighted delta (Δ = 10⁴).
    @Test func aTinyWeightIsRefused() {
        var delta: [Float] = [1, 0, 0]
        #expect(throws: UpdateBounds.Violation.self) {
            try bounds.enforce(weightedDelta: &delta, weights: [1e-4, 0, 1], trainingExamples: 10)
        }
    }

    @Test func aWeightAboveWhatTheDeviceHoldsIsRefused() {
        var delta: [Float] = [0, 0, 0]
        let cap = bounds.maxWeight(trainingExamples: 5)
        #expect(cap == 5 * bounds.weightPerExample)
        #expect(throws: UpdateBounds.Violation.self) {
            try bounds.enforce(weightedDelta: &delta, weights: [cap + 1, 0, 5], trainingExamples: 5)
        }
        #expect(throws: UpdateBounds.Violation.self) {
            try bounds.enforce(weightedDelta: &delta, weights: [-1, 0, 5], trainingExamples: 5)
        }
        #expect(throws: UpdateBounds.Violation.self) {
            try bounds.enforce(weightedDelta: &delta, weights: [.nan, 0, 5], trainingExamples: 5)
        }
    }

    /// |Δ| above the bound is clipped to it, including on a slot the device put no weight on
    /// (where the mean would divide its value by the other devices' weights).
    @Test func aLargeDeltaIsClippedToTheBound() throws {
        var delta: [Float] = [100, -50, 2]
        let clipped = try bounds.enforce(weightedDelta: &delta, weights: [2, 0, 1], trainingExamples: 4)
        #expect(clipped == 2)
        #expect(delta == [8, -4, 2])  // Δ ≤ 4 on a weight of 2; ≤ 4 × 1 where the weight is 0
    }

    /// A secure sum's mean: no element moves by more than the bound.
    @Test func aSecureMeanIsBounded() {
        var mean: [Float] = [1e6, 3, -9]
        #expect(bounds.enforce(mean: &mean) == 2)
        #expect(mean == [4, 3, -4])
        var broken: [Float] = [.nan, -.infinity, 0]
        #expect(bounds.enforce(mean: &broken) == 2)
        #expect(broken == [0, -4, 0])
    }
}
