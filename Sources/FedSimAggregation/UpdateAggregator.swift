import FedSimConfig
import FedSimCore

/// Combines one round's device updates into the model's update. One conforming type per
/// aggregation rule, built by `UpdateAggregators.make` (the recipe, and the only switch over
/// `training.aggregation`): the weighted mean, and the Byzantine-robust rules.
///
/// Every rule sees what a device sends, a weighted delta and its weights (`LocalUpdate`), and
/// refuses a malformed one by throwing, adding nothing.
public protocol UpdateAggregator: Sendable {
    /// Devices whose updates were added.
    var contributors: Int { get }
    /// Training examples behind the added updates.
    var examples: Int { get }
    /// Example-weighted mean training loss, summed in device order (deterministic).
    var meanTrainLoss: Double { get }
    /// Adds one device's update; throws (adding nothing) if it is malformed.
    mutating func add(device: Int, weightedDelta: [Float], weights: [Float], examples: Int, trainLoss: Double) throws
    /// Adds one update kept sparse (`SparseFloats`); rules that need every element see its
    /// dense form (the default), the weighted mean walks only the entries present.
    mutating func add(
        device: Int,
        sparseDelta: SparseFloats,
        sparseWeights: SparseFloats,
        examples: Int,
        trainLoss: Double
    ) throws
    /// The round's update in the layout's flat order.
    mutating func aggregate() -> [Float]
    /// The exact sum of the added weighted deltas, for a stage that noises the sum before the
    /// mean (central DP); nil for rules that are not a sum.
    var exactSum: [Double]? { get }
    /// What the rule measured this round, named as it appears in the round's metrics.
    var measurements: [(name: String, value: Int)] { get }
}

extension UpdateAggregator {
    public var exactSum: [Double]? { nil }
    public mutating func add(
        device: Int,
        sparseDelta: SparseFloats,
        sparseWeights: SparseFloats,
        examples: Int,
        trainLoss: Double
    ) throws {
        try add(
            device: device,
            weightedDelta: sparseDelta.dense(),
            weights: sparseWeights.dense(),
            examples: examples,
            trainLoss: trainLoss
        )
    }
    public var measurements: [(name: String, value: Int)] { [] }
}

extension WeightedMeanAggregator: UpdateAggregator {
    public mutating func aggregate() -> [Float] { mean() }
    public var exactSum: [Double]? { values.values() }
}

extension RobustAggregator: UpdateAggregator {
    public var measurements: [(name: String, value: Int)] {
        if case .normBounded = rule { return [("norm_bounded", bounded)] }
        return []
    }
}

/// The aggregation recipe: which rule a scenario's round uses.
public enum UpdateAggregators {
    public static func make(
        _ rule: AggregationRule,
        training: TrainingConfig,
        layout: ParameterLayout
    ) -> any UpdateAggregator {
        switch rule {
        case .mean: WeightedMeanAggregator(layout: layout, shrinkage: training.itemShrinkage)
        case .median: RobustAggregator(layout: layout, rule: .median)
        case .trimmedMean(let fraction): RobustAggregator(layout: layout, rule: .trimmedMean(fraction: fraction))
        case .normBounded(let bound): RobustAggregator(layout: layout, rule: .normBounded(bound: bound))
        }
    }
}
