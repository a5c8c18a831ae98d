import FedSimConfig
import FedSimCore
import FedSimData

/// DeepFM (`model.kind: deepfm`) as a `RecommenderModel`: a click model on implicit feedback
/// whose user row (dim + 1 floats) is personal, trained jointly with the shared rows.
public struct DeepFMModel: RecommenderModel {
    public let trainer: DeepFMTrainer
    let initStd: Double
    let seed: UInt64

    public init(_ context: ModelContext) {
        let s = context.scenario
        let info = context.info
        let shape = DeepFMShape(
            items: info.items,
            dim: s.model.dim,
            hidden: s.model.hidden,
            userFeatures: context.userFeatureCount,
            categories: context.categoryCount,
            domains: info.domains ?? []
        )
        trainer = DeepFMTrainer(
            shape: shape,
            local: s.training.local,
            weighting: s.training.weighting,
            negatives: s.model.negatives,
            itemCategories: context.itemCategories,
            itemDomains: context.itemDomains
        )
        initStd = s.model.initStd
        seed = s.seed
    }

    public static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(
            released: "every shared and domain tensor of model.json",
            personal: "the user row / user-tower offset",
            notCovered: [ModelPrivacyNotes.domainWeights]
        )
    }

    public var layout: ParameterLayout { trainer.shape.layout }
    public var personalWidth: Int { trainer.shape.dim + 1 }
    public var task: ModelTask { .click }
    public var itemRowWidth: Int { trainer.shape.dim + 1 }

    public func initialShared() -> [Float] { trainer.shape.initialShared(initStd: initStd, seed: seed) }

    public func initialPersonal(device: Int) -> [Float] {
        trainer.shape.initialPersonal(initStd: initStd, seed: seed, device: device)
    }

    public func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        trainer.train(shared: shared, personal: &personal, data: device.train, features: device.features, rng: &rng)
    }

    /// Ranking metrics and AUC only (negative transfer compares rating errors: not computed).
    public func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let score = trainer.scorer(shared: c.shared, personal: c.personal, features: c.data.features)
        return c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            items: trainer.shape.items,
            dim: itemRowWidth,
            train: c.data.train,
            test: c.data.test,
            score: score
        )
    }
}
