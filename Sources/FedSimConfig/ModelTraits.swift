/// What each model kind supports, as the scenario's cross-field rules see it. This is the one
/// `switch` over `model.kind` in FedSimConfig: a new model states its capabilities in one case
/// here, and every rule in `Scenario.modelChecks` then applies to it (the runtime's
/// `ModelRegistry` builds the model itself). The rules name the kinds that do support what a
/// scenario asks for, from this table, so messages stay right as models are added.
public struct ModelTraits: Sendable {
    public var kind: ModelConfig.Kind
    /// The local objective may be a ranking loss (`bpr`, `sampled_softmax`, `mse+bpr`,
    /// `mse+sampled_softmax`); other models have their own objective and take `mse` as "the
    /// model's own".
    public var rankingLosses = false
    /// Local learning-rate schedules (exponential, cosine) besides constant.
    public var learningRateSchedules = false
    /// Local optimizers the trainer implements (inner loops and adaptation are plain SGD).
    public var optimizers: Set<LocalTrainingConfig.Optimizer> = [.sgd]
    /// `training.mode: centralized` exists for it.
    public var centralized = false
    /// `privacy.clipping: per_group` (its bounds name MF's tensors).
    public var perGroupClipping = false
    /// Why asynchronous (FedBuff) rounds do not apply, if they do not.
    public var synchronousOnly: String?
    /// How its personal state may be trained (`personalization.strategy`).
    public var strategies: Set<PersonalizationConfig.Strategy> = [.fedper]
    /// What its personal state is, for the message when a strategy does not apply.
    public var personalState: String
    /// Meta-learning algorithms (besides none) and the tasks they train on.
    public var metaAlgorithms: Set<MetaConfig.Algorithm> = []
    public var metaTasks: Set<MetaConfig.Task> = []
    /// Strategies meta-learning runs with (a per-task personal offset is not stored).
    public var metaStrategies: Set<PersonalizationConfig.Strategy> = []
    /// Cold-start protocols (besides none) it can be evaluated by.
    public var coldStartProtocols: Set<ColdStartConfig.ProtocolKind> = []
    /// The protocol it cannot run without (LSTTM's periods come from the temporal protocol).
    public var requiredProtocol: ColdStartConfig.ProtocolKind?
    /// Groups adaptation and inner loops may change.
    public var adaptableGroups: [AdaptedGroup] = [.personal]
    /// `model.disentangle` (domain-invariant and domain-specific parts).
    public var disentangle = false
    /// `meta.inner_learning_rates: learned` (Meta-SGD's per-coordinate inner rates).
    public var learnedInnerRates = false

    public static func of(_ kind: ModelConfig.Kind) -> ModelTraits {
        switch kind {
        case .mf:
            var t = ModelTraits(kind: kind, personalState: "mf's user row is always a FedPer-style personal layer")
            t.rankingLosses = true
            t.learningRateSchedules = true
            t.optimizers = [.sgd, .adam]
            t.centralized = true
            t.perGroupClipping = true
            return t
        case .twoTower:
            var t = ModelTraits(kind: kind, personalState: "two_tower's personal offset")
            // Its local epochs (every strategy but fedrecon) train the ranking terms; its
            // inner loops and adaptation fit squared error (`rankingTermChecks`).
            t.rankingLosses = true
            t.strategies = Set(PersonalizationConfig.Strategy.allCases)
            t.metaAlgorithms = Set(MetaConfig.Algorithm.allCases).subtracting([.none])
            t.metaTasks = Set(MetaConfig.Task.allCases)
            t.metaStrategies = [.global]
            t.coldStartProtocols = Set(ColdStartConfig.ProtocolKind.allCases).subtracting([.none])
            t.adaptableGroups = [.personal, .domain, .categories, .userFeatures]
            t.disentangle = true
            t.learnedInnerRates = true
            return t
        case .deepfm:
            return ModelTraits(kind: kind, personalState: "deepfm's user row is always a FedPer-style personal layer")
        case .lsttm:
            var t = ModelTraits(kind: kind, personalState: "lsttm's personal row is its long-term user vector")
            t.synchronousOnly = "its long-term cadence counts rounds"
            t.strategies = [.global, .fedper]
            t.metaAlgorithms = [.fomaml]
            t.metaTasks = [.temporal]
            t.metaStrategies = [.global, .fedper]
            t.coldStartProtocols = [.temporal]
            t.requiredProtocol = .temporal
            t.adaptableGroups = [.shortTerm, .fusion]
            return t
        case .svdpp:
            // Squared error by SGD only: its y rows take one shared affine step per batch
            // (`ImplicitRows`), which Adam's per-coordinate scaling would break; no centralized
            // runner, ranking loss or per-group clipping bounds exist for it.
            var t = ModelTraits(kind: kind, personalState: "svdpp's user row is always a FedPer-style personal layer")
            t.learningRateSchedules = true
            return t
        }
    }

    /// The kinds whose traits satisfy `p`, for messages ("two_tower", "mf or two_tower").
    public static func kinds(where p: (ModelTraits) -> Bool) -> String {
        let names = ModelConfig.Kind.allCases.filter { p(of($0)) }.map(\.rawValue)
        return names.isEmpty ? "none" : names.joined(separator: " or ")
    }

    static func list<T: RawRepresentable>(_ values: some Collection<T>) -> String where T.RawValue == String {
        values.map(\.rawValue).sorted().joined(separator: ", ")
    }
}
