import FedSimConfig
import FedSimCore
import FedSimData

/// LSTTM (`model.kind: lsttm`) as a `RecommenderModel`: a click model whose personal state is
/// the long-term user vector p_u (dim floats). Scores are over the device's internal domain
/// only; the long-term module's aggregated update can arrive `long_term_delay` rounds late.
public struct LSTTMModel: RecommenderModel {
    public let trainer: LSTTMTrainer
    let adaptation: AdaptationConfig
    let longTermDelay: Int
    let initStd: Double
    let seed: UInt64

    public init(_ context: ModelContext) {
        let s = context.scenario
        let info = context.info
        let shape = LSTTMShape(
            items: info.items,
            dim: s.model.dim,
            hidden: s.model.hidden,
            categories: context.categoryCount,
            gated: s.model.lsttm.fusion == .gate,
            recency: s.model.lsttm.recencyDays > 0
        )
        var t = LSTTMTrainer(
            shape: shape,
            config: s.model.lsttm,
            local: s.training.local,
            weighting: s.training.weighting,
            meta: s.meta,
            negatives: s.model.negatives,
            itemCategories: context.itemCategories,
            itemDomains: context.itemDomains,
            domainNames: context.domainNames
        )
        t.clock = context.coldSplit?.trainingClock(periods: s.meta.periods)
        trainer = t
        adaptation = s.personalization.adaptation
        longTermDelay = s.model.lsttm.longTermDelay
        initStd = s.model.initStd
        seed = s.seed
    }

    public static func summary(_ s: Scenario) -> String? {
        let l = s.model.lsttm
        return
            "\(s.meta.enabled ? "temporal MAML" : "no temporal MAML"), \(l.attention ? "attention" : "mean pooling") over \(l.neighbours) neighbours, "
            + "\(l.fusion.rawValue) fusion, \(l.external ? "with" : "without") external behaviours, long-term every \(l.longTermEvery) rounds"
            + (l.longTermDelay > 0 ? " (\(l.longTermDelay) late)" : "")
            + (l.recencyDays > 0 ? ", recency feature over \(l.recencyDays) days" : "")
    }

    public static func privacyNotes(_ scenario: Scenario) -> ModelPrivacyNotes {
        ModelPrivacyNotes(
            released:
                "every shared tensor: item and category embeddings, short-term, fusion, scorer and long-term modules",
            personal:
                "the long-term user vector p_u, and the short-term and fusion modules adapted online during evaluation",
            notCovered: [
                "lsttm: on rounds without a long-term step the long-term tensors carry weight 0 from every device (public: the cadence is in the scenario); with per_item weighting, touched long-term and item rows have non-zero weights, as for every per-item model"
            ]
        )
    }

    var shape: LSTTMShape { trainer.shape }
    public var layout: ParameterLayout { shape.layout }
    public var personalWidth: Int { shape.dim }
    public var task: ModelTask { .click }
    public var itemRowWidth: Int { shape.dim + 1 }

    /// The long-term module's slice, when its updates are delayed.
    public var delayedUpdate: DelayedUpdate? {
        guard longTermDelay > 0 else { return nil }
        let t = LSTTMShape.longTermTensors
        let layout = shape.layout
        let lo = layout.offsets[t.lowerBound]
        let last = t.upperBound
        return DelayedUpdate(range: lo..<(layout.offsets[last] + layout.tensors[last].count), delay: longTermDelay)
    }

    public func initialShared() -> [Float] { shape.initialShared(initStd: initStd, seed: seed) }

    public func initialPersonal(device: Int) -> [Float] { shape.initialPersonal(seed: seed, device: device) }

    public func train(
        _ device: DeviceData,
        shared: [Float],
        personal: inout [Float],
        round: Int,
        rng: inout Xoshiro256
    ) -> LocalUpdate {
        trainer.train(shared: shared, personal: &personal, data: device.train, round: round, rng: &rng)
    }

    /// Items a ranking over domain `dom` leaves out: everything in another domain.
    func outsideDomain(_ dom: Int32) -> [Int32] {
        let domains = trainer.itemDomains
        return (0..<shape.items).filter { $0 < domains.count && domains[$0] != dom }.map { Int32($0) }
    }

    /// The test interactions in the internal domain, ranked in the context after all of training.
    public func evaluate(_ c: EvaluationContext) -> DeviceEvaluation {
        let d = c.data
        let domains = trainer.itemDomains
        let dom = trainer.internalDomain(of: d.train)
        let tl = trainer.timeline(d.train, internal: dom)
        let test = d.test.subset(
            (0..<d.test.count).filter { Int(d.test.items[$0]) < domains.count && domains[Int(d.test.items[$0])] == dom }
        )
        let score = trainer.scorer(model: c.shared, personal: c.personal, timeline: tl, cut: .max)
        return c.evaluator.evaluate(
            device: c.device,
            shared: c.shared,
            items: shape.items,
            dim: itemRowWidth,
            train: .exclusion(d.train.items + outsideDomain(dom)),
            test: test,
            score: score
        )
    }
}
