import FedSimConfig
import FedSimCore
import FedSimData

/// SVD++ (`model.kind: svdpp`; Koren 2008) as a `RecommenderModel`:
/// r̂ = μ + b_u + b_i + q_i · (p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j).
///
/// q, b_i, μ and the implicit rows y are shared (y aggregated per row like q, so SecAgg+,
/// compression and DP treat it as one more tensor of the layout); p_u and b_u are personal.
/// The implicit set N(u) is computed on the device from the items it rated and never leaves it.
///
/// N(u) is the device's known history, never its held-out part: in training, the training
/// items; when an evaluation scores a part, the history that evaluation excludes from ranking
/// (`DeviceData.scored(on:)`): the training items when the validation part is scored, the
/// training and validation items when the test part is. Test items are never in N(u).
public struct SVDPPModel: RecommenderModel {
    public let trainer: SVDPPTrainer
    let initStd: Double
    let seed: UInt64
    let globalBias: Float
    let localOnlyEpochs: Int
    /// `training.rounds`, the horizon of a cosine learning-rate schedule.
    let rounds: Int

    public init(_ context: ModelContext) {
        let s = context.scenario
        trainer = SVDPPTrainer(
            config: s.training.local,
            weighting: s.training.weighting,
            items: context.info.items,
            dim: s.model.dim
        )
        initStd = s.model.initStd
        seed = s.seed
        globalBias = context.ratingMidpoint
        localOnlyEpochs = s.evaluation.localOnlyEpochs
        rounds = s.training.rounds
    }

    public static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(
            released: "item embeddings, implicit-feedback item embeddings (y), item biases, global bias",
            personal: "user embedding and bias; the set of rated items N(u) is read on the device only",
            notCovered: [
                "an update touches the q, b and y rows of exactly the items the device rated (as mf's touches q and b): without secure aggregation their weights reveal which items those are"
            ]
        )
    }

    public var shape: SVDPPShape { trainer.shape }
    public var layout: ParameterLayout { shape.layout }
    public var personalWidth: Int { trainer.dim + 1 }
    public var task: ModelTask { .rating }
    public var itemRowWidth: Int { trainer.dim }

    public func initialShared() -> [Float] {
        shape.initialShared(initStd: initStd, globalBias: globalBias, seed: seed)
    }

    public func initialPersonal(device: Int) -> [Float] {
        MatrixFactorization.initialPersonal(dim: trainer.dim, initStd: initStd, seed: seed, device: device)
    }

    public func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        var scheduled = trainer
        scheduled.config.learningRate = trainer.config.learningRate(round: round, rounds: rounds)
        return scheduled.train(shared: shared, personal: &personal, data: device.train, rng: &rng)
    }

    public func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let d = c.data
        var e = score(c.evaluator, c.device, shared: c.shared, personal: c.personal, d)
        guard c.negativeTransfer && d.test.count > 0 else { return e }
        // The global model: shared parameters (y included), personal ones as a new device starts them.
        let fresh = initialPersonal(device: c.device)
        var rating = c.evaluator
        rating.ranking = false
        e.squaredErrorGlobal = score(rating, c.device, shared: c.shared, personal: fresh, d).squaredError
        // The local-only model: the initial shared parameters trained on this device alone.
        var localShared = c.initialShared
        var localPersonal = fresh
        var local = trainer
        local.config.epochs = localOnlyEpochs
        local.weighting = .examples
        var rng = Seeds.rng(seed, "local-only", UInt64(c.device))
        let u = local.train(shared: localShared, personal: &localPersonal, data: d.train, rng: &rng)
        let n = Float(max(1, u.examples))
        for i in localShared.indices { localShared[i] += u.weightedDelta[i] / n }  // examples weighting: Δ = w·δ, w = n
        e.squaredErrorLocal = score(rating, c.device, shared: localShared, personal: localPersonal, d).squaredError
        return e
    }

    /// Scores `data.test` as MF with the user row p_u + |N(u)|^{-1/2}Σy_j, N(u) = `data.train`'s items.
    func score(
        _ evaluator: Evaluator,
        _ device: Int,
        shared: [Float],
        personal: [Float],
        _ data: DeviceData
    )
        -> DeviceEvaluation
    {
        evaluator.evaluate(
            device: device,
            shared: shared,
            personal: shape.effectivePersonal(shared: shared, personal: personal, history: data.train),
            items: trainer.items,
            dim: trainer.dim,
            train: data.train,
            test: data.test
        )
    }
}
