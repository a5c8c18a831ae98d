import FedSimConfig
import FedSimCore
import FedSimData

/// The two-tower model with content (`model.kind: two_tower`) as a `RecommenderModel`: the
/// personal state is the user-tower offset δ (dim + 1 floats), which strategies keep, drop or
/// reconstruct (docs/personalization.md).
public struct TwoTowerModel: RecommenderModel {
    public let trainer: TwoTowerTrainer
    let personalization: PersonalizationConfig
    let metaEnabled: Bool
    let localOnly: LocalTrainingConfig
    let initStd: Double
    let globalBias: Float
    let seed: UInt64

    public init(_ context: ModelContext) {
        let s = context.scenario
        let info = context.info
        let shape = TwoTowerShape(
            items: info.items,
            dim: s.model.dim,
            userFeatures: context.userFeatureCount,
            categories: context.categoryCount,
            domains: info.domains ?? [],
            adapters: s.model.domainAdapters,
            adapterPrior: s.model.disentangle,
            learnedRates: s.meta.enabled && s.meta.learnedRates ? s.meta.innerGroups : [],
            rateInit: Float(s.meta.innerLearningRate)
        )
        var t = TwoTowerTrainer(
            shape: shape,
            local: s.training.local,
            weighting: s.training.weighting,
            personalization: s.personalization,
            meta: s.meta,
            itemCategories: context.itemCategories,
            itemDomains: context.itemDomains
        )
        if s.meta.task == .temporal { t.periodOf = context.coldSplit?.trainingPeriod(periods: s.meta.periods) }
        if s.model.disentangle { t.alignmentWeight = s.model.alignmentWeight }
        if s.model.disentangle && s.model.alignment == .contrastive {
            t.alignmentNegatives = s.model.alignmentNegatives
            t.alignmentTemperature = s.model.alignmentTemperature
        }
        trainer = t
        personalization = s.personalization
        metaEnabled = s.meta.enabled
        localOnly = {
            var c = s.training.local
            c.epochs = s.evaluation.localOnlyEpochs
            return c
        }()
        initStd = s.model.initStd
        globalBias = context.ratingMidpoint
        seed = s.seed
    }

    public static func summary(_ s: Scenario) -> String? {
        s.meta.enabled
            ? "meta-learning \(s.meta.algorithm.rawValue) (\(s.meta.task.rawValue) tasks)"
            : "personalization \(s.personalization.strategy.rawValue)"
    }

    public static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(
            released: "every shared and domain tensor of model.json",
            personal: "the user row / user-tower offset",
            notCovered: scenario.model.domainAdapters ? [ModelPrivacyNotes.domainWeights] : []
        )
    }

    var shape: TwoTowerShape { trainer.shape }
    public var layout: ParameterLayout { shape.layout }
    public var personalWidth: Int { shape.personalCount }
    public var task: ModelTask { .rating }
    public var itemRowWidth: Int { shape.dim }

    public func initialShared() -> [Float] { shape.initialShared(initStd: initStd, globalBias: globalBias, seed: seed) }

    /// δ = 0: a new device's user tower is the prior plus its features.
    public func initialPersonal(device: Int) -> [Float] { trainer.zeroOffset }

    public func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        trainer.train(shared: shared, personal: &personal, data: device.train, features: device.features, rng: &rng)
    }

    /// Adaptation with no steps: the scorer of an offset as it is.
    var noAdaptation: AdaptationConfig {
        var none = personalization.adaptation
        none.steps = 0
        return none
    }

    /// The user tower a strategy deploys for a warm device: the stored personal offset
    /// (FedPer, FedRep, Ditto), none (a single global model), or an adaptation on the
    /// device's training data from offset 0 (FedRecon's reconstruction, meta-learned starts).
    func deployedScorer(_ c: EvaluationContext) -> TwoTowerScorer {
        let d = c.data
        if metaEnabled || personalization.strategy == .fedrecon {
            return trainer.adaptedScorer(
                shared: c.shared,
                support: d.train,
                features: d.features,
                adaptation: personalization.adaptation
            )
        }
        let offset = personalization.strategy == .global ? trainer.zeroOffset : c.personal
        return trainer.adaptedScorer(
            shared: c.shared,
            offset: offset,
            support: Interactions(),
            features: d.features,
            adaptation: noAdaptation
        )
    }

    public func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let d = c.data
        let n = shape.items
        let dim = shape.dim
        let scorer = deployedScorer(c)
        var e = c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            items: n,
            dim: dim,
            train: d.train,
            test: d.test,
            score: scorer.score
        )
        guard c.negativeTransfer && d.test.count > 0 else { return e }
        var rating = c.evaluator
        rating.ranking = false
        // The global model: the shared parameters with no personal offset and no adaptation.
        let global = trainer.adaptedScorer(
            shared: c.shared,
            support: Interactions(),
            features: d.features,
            adaptation: noAdaptation
        )
        e.squaredErrorGlobal =
            rating.evaluate(
                device: c.device,
                shared: c.shared,
                items: n,
                dim: dim,
                train: d.train,
                test: d.test,
                score: global.score
            ).squaredError
        // The local-only model: the initial parameters trained on this device alone (FedPer-style).
        var cfg = personalization
        cfg.strategy = .fedper
        let solo = TwoTowerTrainer(
            shape: shape,
            local: localOnly,
            weighting: .examples,
            personalization: cfg,
            meta: MetaConfig(),
            itemCategories: trainer.itemCategories,
            itemDomains: trainer.itemDomains
        )
        var offset = trainer.zeroOffset
        var rng = Seeds.rng(seed, "local-only", UInt64(c.device))
        var mine = c.initialShared
        let u = solo.train(shared: mine, personal: &offset, data: d.train, features: d.features, rng: &rng)
        let slots = shape.layout.elementWeightSlots()
        for i in mine.indices where u.weights[Int(slots[i])] > 0 {
            mine[i] += u.weightedDelta[i] / u.weights[Int(slots[i])]
        }
        let alone = solo.adaptedScorer(
            shared: mine,
            offset: offset,
            support: Interactions(),
            features: d.features,
            adaptation: noAdaptation
        )
        e.squaredErrorLocal =
            rating.evaluate(
                device: c.device,
                shared: mine,
                items: n,
                dim: dim,
                train: d.train,
                test: d.test,
                score: alone.score
            ).squaredError
        return e
    }

    /// New users and held-out domains adapt each task's support from the device's starting
    /// point; the temporal protocol adapts online, one period at a time, carried forward.
    public func coldStart(_ c: ColdStartContext) -> [ColdStartEntry] {
        let split = c.split
        let dim = shape.dim
        let tasks = coldStartTasks(c)
        guard !tasks.isEmpty else { return [] }
        let adaptation = personalization.adaptation
        // Where adaptation starts: a new user from offset 0; a warm user (new domain,
        // temporal) from what its strategy keeps on the device.
        var start = trainer.zeroOffset
        if !split.isNewUser(c.device) && [.fedper, .fedrep, .ditto].contains(personalization.strategy) && !metaEnabled {
            start = c.personal
        }
        var out: [ColdStartEntry] = []
        if split.config.protocol == .temporal {
            var offset = start
            var adapters: [Int: [Float]] = [:]
            for task in tasks {
                var v = trainer.view(shared: c.shared, offset: offset, data: task.support, features: c.features)
                // Carry adapted domain rows too.
                let w = 2 * dim + 1
                for (l, a) in v.domainsTouched.enumerated() {
                    if let row = adapters[Int(a)] { v.block.adapter.replaceSubrange((l * w)..<(l * w + w), with: row) }
                }
                trainer.adapt(
                    &v.block,
                    v.examples,
                    Array(0..<task.support.count),
                    steps: adaptation.steps,
                    lr: adaptation.learningRate(support: task.support.count),
                    mask: TwoTowerTrainer.mask(adaptation.groups)
                )
                adapters.merge(v.adaptedAdapters) { $1 }
                offset = v.block.offset
                let scorer = TwoTowerScorer(
                    shape: shape,
                    shared: c.shared,
                    user: v.block.userTower(),
                    adapted: adapters,
                    adaptedCategories: v.adaptedCategories,
                    itemCategories: trainer.itemCategories,
                    itemDomains: trainer.itemDomains
                )
                out.append(entry(c, task, scorer))
            }
        } else {
            for task in tasks {
                let scorer = trainer.adaptedScorer(
                    shared: c.shared,
                    offset: start,
                    support: task.support,
                    features: c.features,
                    adaptation: task.support.count > 0 ? adaptation : noAdaptation
                )
                out.append(entry(c, task, scorer))
            }
        }
        return out
    }

    /// Every protocol's tasks as the split defines them (`ColdStartSplit.tasks`).
    public func coldStartTasks(_ c: ColdStartContext) -> [ColdStartSplit.Task] {
        c.split.tasks(c.interactions, device: c.device, itemDomains: trainer.itemDomains)
    }

    func entry(_ c: ColdStartContext, _ task: ColdStartSplit.Task, _ scorer: TwoTowerScorer) -> ColdStartEntry {
        let e = c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            items: shape.items,
            dim: shape.dim,
            train: Interactions.exclusion(task.known),
            test: task.query,
            score: scorer.score
        )
        return ColdStartEntry(task: task, e)
    }
}
