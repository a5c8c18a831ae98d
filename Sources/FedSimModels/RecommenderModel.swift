import FedSimConfig
import FedSimCore
import FedSimData

/// What a model predicts. Rating models regress explicit ratings (RMSE, MAE, and ranking with
/// `evaluation.relevance_threshold`); click models score implicit feedback, where every
/// interaction is a positive (AUC and ranking; no rating error, every held-out item relevant).
public enum ModelTask: Sendable, Equatable {
    case rating
    case click
}

/// A recommender as FedSim runs it: one conforming type per `model.kind`, built only by
/// `ModelRegistry`. The runtime never asks which model it runs; it asks the model.
///
/// The coordinator uses the parameter layout, the initial shared parameters and
/// `delayedUpdate`; device hosts also train, evaluate and adapt through it. A model is a value:
/// what it needs from the run (scenario, population shape, item catalogue, cold-start split)
/// is captured when `ModelRegistry` builds it, so each call carries only the device's own state.
///
/// Parameter groups follow `ParameterLayout`: *shared* and *domain* tensors are in `layout` and
/// travel (aggregated with their weights); *personal* parameters, `personalWidth` floats per
/// device, never leave the device.
public protocol RecommenderModel: Sendable {
    /// Builds the model for a run (`ModelRegistry.make` calls it).
    init(_ context: ModelContext)
    /// One line for `fedsim validate` (personalization, ablations…); nil: nothing to add.
    static func summary(_ scenario: Scenario) -> String?
    /// What `fedsim privacy report` says of this kind of model.
    static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes

    /// The shared and domain tensors, in the order of the flat parameter vector.
    var layout: ParameterLayout { get }
    /// Floats of personal state per device (the device-state store's row width).
    var personalWidth: Int { get }
    var task: ModelTask { get }
    /// Width of the item rows at the start of the shared vector, which embedding-based
    /// diversity reads (`Evaluator.evaluate(…dim:…)`).
    var itemRowWidth: Int { get }
    /// Tensors whose aggregated update reaches the model `delay` rounds late; nil: none.
    var delayedUpdate: DelayedUpdate? { get }

    /// Seeded initial shared parameters (the same on every process).
    func initialShared() -> [Float]
    /// Seeded initial personal parameters of `device`, `personalWidth` floats.
    func initialPersonal(device: Int) -> [Float]

    /// One round of local training on a device: returns the weighted delta of the layout and
    /// its weights (`LocalUpdate`), and updates `personal` in place.
    func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate

    /// Warm evaluation of one device: its test interactions scored against `shared` and its
    /// personal state, by `context.evaluator`.
    func evaluate(_ context: EvaluationContext) -> DeviceEvaluation

    /// The cold-start protocol for one device (`evaluation.cold_start`): adapt on each task's
    /// support from the device's starting point and score its query. Empty when the model
    /// has no cold-start protocol.
    func coldStart(_ context: ColdStartContext) -> [ColdStartEntry]

    /// The tasks `coldStart` scores this device on, as the model defines them (its slots, the
    /// support it adapts on, the query, and what the ranking excludes): in-run baselines
    /// (`PreviousPeriodBaselines`) are scored on exactly these, so a margin compares the same
    /// queries and candidates. Reads only the context's interactions, features and split.
    /// Empty when the model has no cold-start protocol.
    func coldStartTasks(_ context: ColdStartContext) -> [ColdStartSplit.Task]
}

extension RecommenderModel {
    public static func summary(_ scenario: Scenario) -> String? { nil }
    public var delayedUpdate: DelayedUpdate? { nil }
    public func coldStart(_ context: ColdStartContext) -> [ColdStartEntry] { [] }
    public func coldStartTasks(_ context: ColdStartContext) -> [ColdStartSplit.Task] { [] }
}

/// A slice of the flat model whose aggregated update is applied `delay` rounds after the round
/// that produced it (LSTTM's long-term module federates on its own, slower cadence).
public struct DelayedUpdate: Sendable, Equatable {
    public var range: Range<Int>
    public var delay: Int
    public init(range: Range<Int>, delay: Int) {
        self.range = range
        self.delay = delay
    }
}

/// What a model sees of a device when it evaluates it.
public struct EvaluationContext {
    public var device: Int
    public var data: DeviceData
    public var shared: [Float]
    /// The device's stored personal state.
    public var personal: [Float]
    public var evaluator: Evaluator
    /// Also compute the errors of the global and the local-only model (`DeviceEvaluation`'s
    /// negative-transfer fields); then `initialShared` is the run's initial model.
    public var negativeTransfer: Bool
    public var initialShared: [Float]

    public init(
        device: Int,
        data: DeviceData,
        shared: [Float],
        personal: [Float],
        evaluator: Evaluator,
        negativeTransfer: Bool = false,
        initialShared: [Float] = []
    ) {
        self.device = device
        self.data = data
        self.shared = shared
        self.personal = personal
        self.evaluator = evaluator
        self.negativeTransfer = negativeTransfer
        self.initialShared = initialShared
    }
}

/// What a model sees of a device in the cold-start protocol: all of its interactions (the
/// split decides support, query and what is known), its features and stored personal state.
public struct ColdStartContext {
    public var device: Int
    public var interactions: Interactions
    public var features: [Int32]
    public var personal: [Float]
    public var shared: [Float]
    public var split: ColdStartSplit
    /// Ranks the full catalogue, without the popularity baseline.
    public var evaluator: Evaluator

    public init(
        device: Int,
        interactions: Interactions,
        features: [Int32],
        personal: [Float],
        shared: [Float],
        split: ColdStartSplit,
        evaluator: Evaluator
    ) {
        self.device = device
        self.interactions = interactions
        self.features = features
        self.personal = personal
        self.shared = shared
        self.split = split
        self.evaluator = evaluator
    }
}

/// What a model is built from. The coordinator knows only the population's shape (`info`);
/// a device host also knows the item catalogue and the cold-start split, which training and
/// evaluation need. Layout, initial values and `delayedUpdate` depend on `scenario` and
/// `info` alone, so both sides agree on every offset.
public struct ModelContext: Sendable {
    public var scenario: Scenario
    public var info: PopulationInfo
    public var itemCategories: [Int32]
    public var itemDomains: [Int32]
    public var domainNames: [String]
    public var coldSplit: ColdStartSplit?

    /// The coordinator's context: no catalogue, no split.
    public init(scenario: Scenario, info: PopulationInfo) {
        self.scenario = scenario
        self.info = info
        itemCategories = []
        itemDomains = []
        domainNames = info.domains ?? []
        coldSplit = nil
    }

    /// A device host's context.
    public init(scenario: Scenario, population: any Population, coldSplit: ColdStartSplit?) {
        self.scenario = scenario
        info = PopulationInfo(population)
        itemCategories = population.itemCategories
        itemDomains = population.itemDomains
        domainNames = population.domainNames
        self.coldSplit = coldSplit
    }

    /// Categorical user features a model uses (`model.user_features`); 0 when off.
    public var userFeatureCount: Int { scenario.model.userFeatures ? (info.userFeatures ?? 0) : 0 }

    /// Item categories a model uses (`model.item_content`); 0 when off.
    public var categoryCount: Int { scenario.model.itemContent ? (info.categories ?? 0) : 0 }

    /// The centre of the rating scale: where global biases start.
    public var ratingMidpoint: Float { (info.ratingMin + info.ratingMax) / 2 }
}

/// What a model's kind says about privacy in `fedsim privacy report`: which tensors a noised
/// release covers, which personal state never leaves the device, and notes on what the
/// guarantee does not cover.
public struct ModelPrivacyNotes: Sendable {
    public var released: String
    public var personal: String
    public var notCovered: [String]
    public init(released: String, personal: String, notCovered: [String] = []) {
        self.released = released
        self.personal = personal
        self.notCovered = notCovered
    }

    /// Models with domain groups: what their weights reveal without secure aggregation.
    public static let domainWeights =
        "domain groups are in the clipped, noised update; without secure aggregation their zero weights reveal which domains a device has no data in"
}

extension ColdStartEntry {
    /// One task's sums, from its evaluation.
    public init(task: ColdStartSplit.Task, _ e: DeviceEvaluation) {
        self.init(
            device: UInt32(e.device),
            slot: UInt16(task.slot),
            count: UInt32(e.count),
            squaredError: e.squaredError,
            absoluteError: e.absoluteError,
            ranked: e.ranked,
            hit: e.hit,
            ndcg: e.ndcg,
            auc: e.auc
        )
    }
}
