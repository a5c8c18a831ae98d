/// Which parameter groups an adaptation step may change. Inner loops of meta-learning and
/// on-device adaptation name them explicitly ("selective updating"): everything else stays
/// bit-for-bit as received.
public enum AdaptedGroup: String, Codable, Sendable, CaseIterable {
    /// The device's personal parameters (the user-tower offset).
    case personal
    /// The domain adapters of the domains the device's data touches.
    case domain
    /// lsttm: the short-term module (graph attention over recent behaviours).
    case shortTerm = "short_term"
    /// lsttm: the fusion gate.
    case fusion
    /// two_tower: the genre (category) embedding rows of the items in the support set, as
    /// the device's own copy: a user's few ratings move every item of a genre (vector and bias).
    case categories
    /// two_tower: the embedding rows of the user's own feature values (age, gender, occupation).
    case userFeatures = "user_features"
}

/// How the personal parameter group is trained (`personalization:`). Needs
/// `model.kind: two_tower`, whose user tower is `prior + feature embeddings + personal offset`.
public struct PersonalizationConfig: Codable, Sendable, Equatable {
    public enum Strategy: String, Codable, Sendable, CaseIterable {
        /// One global model: the personal offset stays 0 during training (plain FedAvg).
        case global
        /// FedPer (Arivazhagan et al. 2019): personal offset and shared body trained jointly
        /// on the device every round; the offset persists on the device.
        case fedper
        /// FedRep (Collins et al. 2021): `personal_epochs` on the offset with the body frozen,
        /// then `training.local.epochs` on the body with the offset frozen.
        case fedrep
        /// Ditto (Li et al. 2021): the global model is trained as in `global`; separately the
        /// device fits its personal offset with the proximal term (λ/2)‖offset‖², i.e. a
        /// personal user tower kept within λ of the global one.
        case ditto
        /// Federated Reconstruction (Singhal et al. 2021): the offset is never stored; each
        /// round it is re-fit from 0 on a support split with the body frozen, and the body is
        /// trained on the query split. New devices run the same reconstruction.
        case fedrecon
    }
    public var strategy: Strategy = .fedper
    /// Epochs on the personal offset (FedRep, Ditto) or of reconstruction (FedRecon).
    public var personalEpochs = 2
    /// λ of Ditto's proximal term.
    public var dittoLambda = 0.1
    /// Share of a device's training data used for reconstruction (FedRecon); the rest is the query split.
    public var reconstructionFraction = 0.5
    /// How a device adapts at evaluation time (cold start, meta-learned models, FedRecon).
    public var adaptation = AdaptationConfig()
    public init() {}
}

/// On-device adaptation: `steps` full-batch SGD steps with `learning_rate` on `groups`,
/// starting from the received model (personal offset 0). The same procedure scores every
/// initialisation, so FedAvg and meta-learned starts are compared like for like.
public struct AdaptationConfig: Codable, Sendable, Equatable {
    public var steps = 5
    public var learningRate = 0.1
    public var groups: [AdaptedGroup] = [.personal]
    /// κ, prior pseudo-examples: with k support examples the step size is scaled by
    /// k / (k + κ), so one rating moves a user less than twenty do (shrinkage toward the
    /// initialisation, as a Gaussian prior on the offset would). 0: no shrinkage.
    public var priorCount = 0.0
    public init() {}

    /// The learning rate for a support set of k examples.
    public func learningRate(support k: Int) -> Double {
        priorCount > 0 ? learningRate * Double(k) / (Double(k) + priorCount) : learningRate
    }
}

/// Meta-learning of the shared initialisation (`meta:`), run federatedly: each sampled device
/// is a task. Per episode, the device draws a support set of a size from `support_sizes`,
/// adapts `inner_groups` for `inner_steps` steps, and scores the query set (the rest of its
/// data, or the next period with `task: temporal`).
public struct MetaConfig: Codable, Sendable, Equatable {
    public enum Algorithm: String, Codable, Sendable, CaseIterable {
        case none
        /// Reptile (Nichol et al. 2018): the adapted groups' initialisation moves toward their
        /// adapted values (Reptile direction, step `outer_learning_rate`); the other shared
        /// parameters take the query-set gradient at the adapted point.
        case reptile
        /// First-order MAML (Finn et al. 2017): every shared parameter takes the query-set
        /// gradient at the adapted point.
        case fomaml
        /// Per-FedAvg (Fallah et al. 2020), first-order: `episodes` local meta-steps, each one
        /// inner step on a support batch and one outer step on a query batch.
        case perfedavg
    }
    public enum Task: String, Codable, Sendable, CaseIterable {
        /// Support: a random subset of the device's training data; query: the rest.
        case random
        /// Support: one time period of the device's data; query: the next (LSTTM, Xie et al. 2022).
        case temporal
        /// Support and query from one domain of the device's data (a random domain with at
        /// least two interactions each episode): each (device, domain) pair is a task.
        case domain
        /// Support: the device's first k interactions in time order; query: the ones after
        /// them — the new-user protocol's own task (a user's first ratings predict its later
        /// ones less well than a random subset predicts the rest).
        case ordered
    }
    /// How the outer learning rate relates to the number of episodes. Sequential first-order
    /// episodes each take an outer step, so with `per_episode` a device moves its shared
    /// parameters E·β a round: quadrupling the episodes quadruples the step (LSTTM's 40
    /// episodes overshot, docs/results.md). `per_round` takes β/E per episode, so the round's
    /// outer movement does not grow with E and more episodes only average more tasks.
    public enum OuterStep: String, Codable, Sendable, CaseIterable {
        case perEpisode = "per_episode"
        case perRound = "per_round"
    }
    public var algorithm: Algorithm = .none
    public var task: Task = .random
    public var outerStep: OuterStep = .perEpisode
    public var innerSteps = 5
    public var innerLearningRate = 0.1
    public var outerLearningRate = 0.05
    /// Meta-steps (episodes) per device per round.
    public var episodes = 4
    /// Support-set sizes episodes draw from: match the k of the cold-start evaluation.
    public var supportSizes = [1, 3, 5, 10, 20]
    public var innerGroups: [AdaptedGroup] = [.personal]
    /// Query examples per episode (0: all the rest).
    public var queryBatch = 32
    /// Periods the data's time span is cut into (`task: temporal`).
    public var periods = 10
    /// Meta-SGD (`MetaConfig+Rates.swift`): fixed or learned inner rates, the rates' outer
    /// step (0: `outer_learning_rate`) and their upper bound.
    public var innerLearningRates: InnerRates.Mode = .fixed
    public var rateLearningRate = 0.0
    public var maxInnerLearningRate = 10.0
    public init() {}

    public var enabled: Bool { algorithm != .none }

    /// The outer step each episode takes.
    public var outerStepPerEpisode: Double {
        outerStep == .perRound ? outerLearningRate / Double(episodes) : outerLearningRate
    }
}

/// Cold-start evaluation (`evaluation.cold_start:`), run at the end of training.
public struct ColdStartConfig: Codable, Sendable, Equatable {
    public enum ProtocolKind: String, Codable, Sendable, CaseIterable {
        case none
        /// `fraction` of the devices never train; each adapts on its first k interactions
        /// (time order) and is scored on the ones after its first max(k).
        case newUsers = "new_users"
        /// Interactions with the items of `domain` are withheld from training; every device
        /// with enough of them adapts on k and is scored on the rest.
        case newDomain = "new_domain"
        /// Train on the first `train_fraction` of time; cut the rest into `periods`; each
        /// period, adapt one step on the previous period and score the current one.
        case temporal
    }
    public var `protocol`: ProtocolKind = .none
    public var fraction = 0.2
    public var domain = ""
    public var k = [0, 1, 3, 5, 10, 20]
    /// Held-out interactions scored per device (0: all after the support window).
    public var maxQuery = 0
    public var trainFraction = 0.8
    public var periods = 5
    /// Seed of the new-user draw; 0 uses the scenario seed. Fixing it while the scenario seed
    /// varies keeps the same new users across seeds, so the spread is training's alone.
    public var splitSeed: UInt64 = 0
    public init() {}

    public var enabled: Bool { `protocol` != .none }
    /// Support window: the first max(k) interactions; queries start after it.
    public var window: Int { k.max() ?? 0 }
}

extension PersonalizationConfig {
    init(reading r: ConfigReader) {
        self.init()
        strategy = r.choice("strategy", default: strategy)
        personalEpochs = r.int("personal_epochs", default: personalEpochs, range: 0...10_000)
        dittoLambda = r.double("ditto_lambda", default: dittoLambda, min: 0, max: 1_000)
        reconstructionFraction = r.double(
            "reconstruction_fraction",
            default: reconstructionFraction,
            min: 0,
            max: 1,
            exclusiveMin: true
        )
        adaptation = AdaptationConfig(reading: r.section("adaptation"))
        r.finish()
    }
}

extension AdaptationConfig {
    init(reading r: ConfigReader) {
        self.init()
        steps = r.int("steps", default: steps, range: 0...10_000)
        learningRate = r.double("learning_rate", default: learningRate, min: 0, max: 100, exclusiveMin: true)
        groups = r.groupList("groups", default: groups)
        priorCount = r.double("prior_count", default: priorCount, min: 0, max: 1_000_000)
        r.finish()
    }
}

extension ColdStartConfig {
    init(reading r: ConfigReader) {
        self.init()
        `protocol` = r.choice("protocol", default: `protocol`)
        fraction = r.double("fraction", default: fraction, min: 0, max: 1, exclusiveMin: true)
        domain = r.string("domain", default: domain)
        k = r.intList("k", default: k, range: 0...10_000)
        if k.isEmpty { r.fail("k", "needs at least one support size") }
        maxQuery = r.int("max_query", default: maxQuery, range: 0...1_000_000)
        trainFraction = r.double("train_fraction", default: trainFraction, min: 0, max: 1, exclusiveMin: true)
        periods = r.int("periods", default: periods, range: 1...10_000)
        splitSeed = r.uint64("split_seed", default: splitSeed)
        r.finish()
    }
}

extension ConfigReader {
    public func intList(_ key: String, default value: [Int], range: ClosedRange<Int>) -> [Int] {
        guard has(key) else { return value }
        var out: [Int] = []
        for (i, v) in doubleList(key, default: []).enumerated() {
            guard v == v.rounded(), let n = Int(exactly: v), range.contains(n) else {
                fail("\(key)[\(i)]", "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(v)")
                continue
            }
            out.append(n)
        }
        return out
    }

    func groupList(_ key: String, default value: [AdaptedGroup]) -> [AdaptedGroup] {
        guard has(key) else { return value }
        var out: [AdaptedGroup] = []
        for (i, s) in stringList(key, default: []).enumerated() {
            guard let g = AdaptedGroup(rawValue: s) else {
                fail(
                    "\(key)[\(i)]",
                    "unknown group \"\(s)\"; expected one of personal, domain, categories, user_features (two_tower), short_term, fusion (lsttm); shared groups are never adapted on the device (categories and user_features adapt the device's own copy of its rows)"
                )
                continue
            }
            if !out.contains(g) { out.append(g) }
        }
        return out
    }
}

extension Scenario {
    /// Cross-section checks of the model against training, privacy, personalization,
    /// meta-learning and cold start, read from the model's traits (`ModelTraits`), so no rule
    /// names a model kind.
    func personalizationChecks() -> [(String, String)] {
        let t = ModelTraits.of(model.kind)
        let kind = model.kind.rawValue
        var out = trainingChecks(t) + strategyChecks(t)
        if model.disentangle && !t.disentangle {
            out.append(("model.disentangle", "needs model.kind: \(ModelTraits.kinds { $0.disentangle })"))
        }
        if let required = t.requiredProtocol, evaluation.coldStart.protocol != required {
            out.append(
                (
                    "evaluation.cold_start.protocol",
                    "model.kind \(kind) needs protocol: \(required.rawValue) (training periods and online evaluation come from it)"
                )
            )
        } else if evaluation.coldStart.enabled && !t.coldStartProtocols.contains(evaluation.coldStart.protocol) {
            out.append(
                (
                    "evaluation.cold_start.protocol",
                    "needs model.kind: \(ModelTraits.kinds { $0.coldStartProtocols.contains(evaluation.coldStart.protocol) })"
                )
            )
        }
        for (key, list, applies) in [
            ("personalization.adaptation.groups", personalization.adaptation.groups, true),
            ("meta.inner_groups", meta.innerGroups, meta.enabled),
        ]
        where applies && list.contains(where: { !t.adaptableGroups.contains($0) }) {
            out.append(
                (
                    key,
                    "\(kind) adapts \(t.adaptableGroups.map(\.rawValue).joined(separator: " and ")) (write a list of those)"
                )
            )
        }
        return out + metaRateChecks(t) + contentChecks()
    }

    /// What the model's trainer implements: objective, optimizer, centralized mode, per-group
    /// clipping, asynchronous rounds.
    func trainingChecks(_ t: ModelTraits) -> [(String, String)] {
        var out: [(String, String)] = []
        let kind = model.kind.rawValue
        if training.local.loss != .mse {
            if !t.rankingLosses {
                out.append(
                    (
                        "training.local.loss",
                        "\(training.local.loss.rawValue) needs model.kind: \(ModelTraits.kinds { $0.rankingLosses }) (\(kind) has its own objective)"
                    )
                )
            } else if training.mode == .centralized {
                out.append(("training.local.loss", "\(training.local.loss.rawValue) runs federated only; use mse"))
            }
        }
        out += rankingTermChecks()
        if !t.optimizers.contains(training.local.optimizer) {
            out.append(
                (
                    "training.local.optimizer",
                    "model.kind \(kind) trains with \(ModelTraits.list(t.optimizers)) (inner loops and adaptation are plain SGD steps)"
                )
            )
        }
        if training.mode == .centralized && !t.centralized {
            out.append(("training.mode", "model.kind \(kind) runs federated only"))
        }
        if privacy.enabled && privacy.clipping == .perGroup && !t.perGroupClipping {
            out.append(("privacy.clipping", "per_group bounds name mf's tensors; use clipping: flat with \(kind)"))
        }
        if training.async.enabled, let why = t.synchronousOnly {
            out.append(("training.async.enabled", "model.kind \(kind) runs synchronous rounds (\(why))"))
        }
        return out
    }

    /// How the personal state is trained and what meta-learning may do with it.
    func strategyChecks(_ t: ModelTraits) -> [(String, String)] {
        var out: [(String, String)] = []
        let strategy = personalization.strategy
        if !t.strategies.contains(strategy) {
            out.append(
                (
                    "personalization.strategy",
                    "\(strategy.rawValue) needs model.kind: \(ModelTraits.kinds { $0.strategies.contains(strategy) }) (\(t.personalState); it takes \(ModelTraits.list(t.strategies)))"
                )
            )
        }
        guard meta.enabled else { return out }
        if t.strategies.contains(strategy) && !t.metaStrategies.contains(strategy) {
            out.append(
                (
                    "personalization.strategy",
                    "meta-learning trains the shared initialisation and adapts from it; set strategy: \(ModelTraits.list(t.metaStrategies)) (personal offsets are per task, not stored)"
                )
            )
        }
        let algorithm = meta.algorithm
        if !t.metaAlgorithms.contains(algorithm) {
            out.append(
                (
                    "meta.algorithm",
                    t.metaAlgorithms.isEmpty
                        ? "needs model.kind: \(ModelTraits.kinds { $0.metaAlgorithms.contains(algorithm) }) (its user prior is what meta-learning initialises)"
                        : "\(model.kind.rawValue) implements \(ModelTraits.list(t.metaAlgorithms)) only, or none"
                )
            )
        }
        if !t.metaAlgorithms.isEmpty && !t.metaTasks.contains(meta.task) {
            out.append(
                ("meta.task", "\(model.kind.rawValue)'s meta-learning takes task: \(ModelTraits.list(t.metaTasks))")
            )
        }
        return out
    }

    /// Rules between options of the content model and the protocols (they hold for whichever
    /// model offers the options).
    func contentChecks() -> [(String, String)] {
        var out: [(String, String)] = []
        if model.alignment == .contrastive && !model.disentangle && ModelTraits.of(model.kind).disentangle {
            out.append(("model.alignment", "the alignment loss is part of model.disentangle; set disentangle: true"))
        }
        if model.disentangle && !model.domainAdapters {
            out.append(
                (
                    "model.disentangle",
                    "disentangling domain-specific parts needs domain adapters (model.domain_adapters: true)"
                )
            )
        }
        let groups = personalization.adaptation.groups + (meta.enabled ? meta.innerGroups : [])
        if groups.contains(.domain) && !model.domainAdapters
            && ModelTraits.of(model.kind).adaptableGroups.contains(.domain)
        {
            out.append(
                (
                    "model.domain_adapters",
                    "adapting the domain group needs domain adapters (model.domain_adapters: true)"
                )
            )
        }
        if meta.enabled && meta.task == .temporal && evaluation.coldStart.protocol != .temporal {
            out.append(
                (
                    "meta.task",
                    "temporal tasks need evaluation.cold_start.protocol: temporal (it fixes where training time ends)"
                )
            )
        }
        if evaluation.coldStart.protocol == .newDomain && evaluation.coldStart.domain.isEmpty {
            out.append(("evaluation.cold_start.domain", "name the domain to hold out"))
        }
        if training.async.enabled && (meta.enabled || evaluation.coldStart.enabled) {
            out.append(("training.async.enabled", "meta-learning and cold-start protocols run with synchronous rounds"))
        }
        return out
    }
}
