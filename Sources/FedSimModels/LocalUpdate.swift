import FedSimCore

/// What a device sends after local training: the weighted delta of the shared parameters and
/// the weights, both summable (so they can travel through a secure sum), plus statistics.
///
/// The coordinator's update is `Σ weightedDelta / Σ weights` element-wise (each element
/// divided by the weight of its slot in `ParameterLayout.elementWeightSlots()`).
public struct LocalUpdate: Sendable, Equatable {
    public var weightedDelta: [Float]
    public var weights: [Float]
    public var examples: Int
    /// Mean ½e² over the last local epoch (before regularisation).
    public var trainLoss: Double
    /// Whether the update was within the DP clip (set by the device host when it clips).
    public var withinClip = true

    public init(weightedDelta: [Float], weights: [Float], examples: Int, trainLoss: Double) {
        self.weightedDelta = weightedDelta
        self.weights = weights
        self.examples = examples
        self.trainLoss = trainLoss
    }
}
