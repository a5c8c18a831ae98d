import FedSimConfig
import FedSimCore
import FedSimData

/// Biased matrix factorisation (`model.kind: mf`) as a `RecommenderModel`: the item rows,
/// item biases and μ are shared; the user row p_u and bias b_u (dim + 1 floats) are personal.
public struct MatrixFactorizationModel: RecommenderModel {
    public let items: Int
    public let dim: Int
    let initStd: Double
    let seed: UInt64
    let globalBias: Float
    let trainer: LocalTrainer
    let localOnlyEpochs: Int
    /// `training.rounds`, the horizon of a cosine learning-rate schedule.
    let rounds: Int

    public init(_ context: ModelContext) {
        let s = context.scenario
        items = context.info.items
        dim = s.model.dim
        initStd = s.model.initStd
        seed = s.seed
        globalBias = context.ratingMidpoint
        trainer = LocalTrainer(config: s.training.local, weighting: s.training.weighting, items: items, dim: dim)
        localOnlyEpochs = s.evaluation.localOnlyEpochs
        rounds = s.training.rounds
    }

    public static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(released: "item embeddings, item biases, global bias", personal: "user embedding and bias")
    }

    public var layout: ParameterLayout { MatrixFactorization.sharedLayout(items: items, dim: dim) }
    public var personalWidth: Int { dim + 1 }
    public var task: ModelTask { .rating }
    public var itemRowWidth: Int { dim }

    public func initialShared() -> [Float] {
        MatrixFactorization.initialShared(items: items, dim: dim, initStd: initStd, globalBias: globalBias, seed: seed)
    }

    public func initialPersonal(device: Int) -> [Float] {
        MatrixFactorization.initialPersonal(dim: dim, initStd: initStd, seed: seed, device: device)
    }

    public func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        guard trainer.config.learningRateSchedule != .constant else {
            return trainer.train(shared: shared, personal: &personal, data: device.train, rng: &rng)
        }
        var scheduled = trainer
        scheduled.config.learningRate = trainer.config.learningRate(round: round, rounds: rounds)
        return scheduled.train(shared: shared, personal: &personal, data: device.train, rng: &rng)
    }

    public func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let d = c.data
        var e = c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            personal: c.personal,
            items: items,
            dim: dim,
            train: d.train,
            test: d.test
        )
        guard c.negativeTransfer && d.test.count > 0 else { return e }
        // The global model: shared parameters, personal ones as a new device starts them.
        let fresh = initialPersonal(device: c.device)
        var rating = c.evaluator
        rating.ranking = false
        e.squaredErrorGlobal =
            rating.evaluate(
                device: c.device,
                shared: c.shared,
                personal: fresh,
                items: items,
                dim: dim,
                train: d.train,
                test: d.test
            ).squaredError
        // The local-only model: the initial shared parameters trained on this device alone.
        var localShared = c.initialShared
        var localPersonal = fresh
        var cfg = trainer.config
        cfg.epochs = localOnlyEpochs
        let local = LocalTrainer(config: cfg, weighting: .examples, items: items, dim: dim)
        var rng = Seeds.rng(seed, "local-only", UInt64(c.device))
        let u = local.train(shared: localShared, personal: &localPersonal, data: d.train, rng: &rng)
        let n = Float(max(1, u.examples))
        for i in localShared.indices { localShared[i] += u.weightedDelta[i] / n }  // examples weighting: Δ = w·δ, w = n
        e.squaredErrorLocal =
            rating.evaluate(
                device: c.device,
                shared: localShared,
                personal: localPersonal,
                items: items,
                dim: dim,
                train: d.train,
                test: d.test
            ).squaredError
        return e
    }
}
