import FedSimCore

/// One device's update as it passes a round's aggregation stages: its weighted delta and
/// weights (`LocalUpdate`), kept sparse, and the statistics it reported.
public struct Contribution: Sendable {
    public var device: Int
    public var weightedDelta: SparseFloats
    public var weights: SparseFloats
    public var examples: Int
    public var trainLoss: Double

    public init(device: Int, weightedDelta: SparseFloats, weights: SparseFloats, examples: Int, trainLoss: Double) {
        self.device = device
        self.weightedDelta = weightedDelta
        self.weights = weights
        self.examples = examples
        self.trainLoss = trainLoss
    }
}

/// One stage between a device's update and the aggregation rule (TFF's aggregation
/// factories): it checks, bounds, clips or weights each contribution, and reports what it
/// did under its own name. Stages compose in the order the recipe gives them; a refusal at
/// any stage keeps the contribution out of the rule.
public protocol AggregationStage: Sendable {
    /// The stage's name: its measurements are reported under it.
    var name: String { get }
    /// Passes one contribution on, transformed. Throws to refuse it (nothing of it reaches
    /// the rule); returns a sentence worth logging about this device, or nil.
    mutating func process(_ c: inout Contribution) throws -> String?
    /// What the stage measured this round, named as it appears in the round's metrics.
    var measurements: [(name: String, value: Int)] { get }
}

/// A round's aggregation: stages, then the rule (`UpdateAggregator`), with every stage's
/// measurements nested under its name. Built per round by a recipe
/// (`AggregationPipelines` in the runtime); the rule's output goes to the round strategy,
/// which releases it (a privacy stage noises `exactSum`) and steps the model.
public struct AggregationPipeline: Sendable {
    public private(set) var stages: [any AggregationStage]
    public private(set) var rule: any UpdateAggregator

    public init(stages: [any AggregationStage], rule: any UpdateAggregator) {
        self.stages = stages
        self.rule = rule
    }

    /// Runs `c` through every stage, then adds it to the rule. Returns what the stages had to
    /// say about it; throws the first refusal (a stage's or the rule's).
    public mutating func add(_ c: Contribution) throws -> [String] {
        var c = c
        var notes: [String] = []
        for i in stages.indices {
            if let note = try stages[i].process(&c) { notes.append(note) }
        }
        try rule.add(
            device: c.device,
            sparseDelta: c.weightedDelta,
            sparseWeights: c.weights,
            examples: c.examples,
            trainLoss: c.trainLoss
        )
        return notes
    }

    /// Every stage's measurements under its name, in pipeline order, the rule's last.
    public var measurements: [(stage: String, values: [(name: String, value: Int)])] {
        stages.map { ($0.name, $0.measurements) } + [("rule", rule.measurements)]
    }

    public var contributors: Int { rule.contributors }
    public var examples: Int { rule.examples }
    public var meanTrainLoss: Double { rule.meanTrainLoss }
    /// The rule's exact sum, for a privacy stage to release (nil if the rule is not a sum).
    public var exactSum: [Double]? { rule.exactSum }
    /// The rule's update.
    public mutating func aggregate() -> [Float] { rule.aggregate() }
}

/// FedBuff's staleness weight (Nguyen et al. 2022) on both the weighted delta and its
/// weights, so per-item means become staleness-weighted means.
public struct StalenessWeighting: AggregationStage {
    public let name = "staleness"
    /// Each buffered device's weight s(τ).
    let weights: [Int: Float]

    public init(weights: [Int: Float]) { self.weights = weights }

    public mutating func process(_ c: inout Contribution) throws -> String? {
        let w = weights[c.device] ?? 1
        c.weightedDelta.scale(by: w)
        c.weights.scale(by: w)
        return nil
    }

    public var measurements: [(name: String, value: Int)] { [] }
}
