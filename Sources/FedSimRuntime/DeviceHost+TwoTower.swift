import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimWire

/// Evaluation of the two-tower model and the cold-start protocols, on the device.
extension DeviceHost {
    /// The user tower a strategy deploys for a warm device: the stored personal offset
    /// (FedPer, FedRep, Ditto), none (a single global model), or an adaptation on the
    /// device's training data from offset 0 (FedRecon's reconstruction, meta-learned starts).
    func deployedScorer(_ t: TwoTowerTrainer, device: Int, data d: DeviceData, shared: [Float]) -> TwoTowerScorer {
        let adaptation = scenario.personalization.adaptation
        if scenario.meta.enabled || scenario.personalization.strategy == .fedrecon {
            return t.adaptedScorer(shared: shared, support: d.train, features: d.features, adaptation: adaptation)
        }
        let offset = scenario.personalization.strategy == .global ? t.zeroOffset : Array(personalRow(device))
        var none = adaptation
        none.steps = 0
        return t.adaptedScorer(shared: shared, offset: offset, support: Interactions(), features: d.features, adaptation: none)
    }

    func evaluateTwoTower(device: Int, data d: DeviceData, shared: [Float], negativeTransfer: Bool) -> DeviceEvaluation {
        let t = twoTower!
        let n = population.itemCount
        let scorer = deployedScorer(t, device: device, data: d, shared: shared)
        var e = evaluator.evaluate(device: device, shared: shared, items: n, dim: dim, train: d.train, test: d.test, score: scorer.score)
        guard negativeTransfer && d.test.count > 0 else { return e }
        var rating = evaluator
        rating.ranking = false
        // The global model: the shared parameters with no personal offset and no adaptation.
        var none = scenario.personalization.adaptation
        none.steps = 0
        let global = t.adaptedScorer(shared: shared, support: Interactions(), features: d.features, adaptation: none)
        e.squaredErrorGlobal = rating.evaluate(device: device, shared: shared, items: n, dim: dim, train: d.train, test: d.test,
                                               score: global.score).squaredError
        // The local-only model: the initial parameters trained on this device alone (FedPer-style).
        var cfg = scenario.personalization
        cfg.strategy = .fedper
        var local = scenario.training.local
        local.epochs = scenario.evaluation.localOnlyEpochs
        let solo = TwoTowerTrainer(shape: t.shape, local: local, weighting: .examples, personalization: cfg, meta: MetaConfig(),
                                   itemCategories: t.itemCategories, itemDomains: t.itemDomains)
        var offset = t.zeroOffset
        var rng = Seeds.rng(scenario.seed, "local-only", UInt64(device))
        var mine = initialShared
        let u = solo.train(shared: mine, personal: &offset, data: d.train, features: d.features, rng: &rng)
        let slots = t.shape.layout.elementWeightSlots()
        for i in mine.indices where u.weights[Int(slots[i])] > 0 { mine[i] += u.weightedDelta[i] / u.weights[Int(slots[i])] }
        let alone = solo.adaptedScorer(shared: mine, offset: offset, support: Interactions(), features: d.features, adaptation: none)
        e.squaredErrorLocal = rating.evaluate(device: device, shared: mine, items: n, dim: dim, train: d.train, test: d.test,
                                              score: alone.score).squaredError
        return e
    }

    /// Runs the scenario's cold-start protocol for these devices (docs/personalization.md):
    /// for each task, adapt on its support from the device's starting point and score its query.
    public func coldStart(_ devices: [Int], shared: [Float]) -> [ColdStartEntry] {
        if let lsttm, let split = coldSplit { return coldStartLSTTM(lsttm, devices, split: split, shared: shared) }
        guard let t = twoTower, let split = coldSplit else { return [] }
        let adaptation = scenario.personalization.adaptation
        var none = adaptation
        none.steps = 0
        var out: [ColdStartEntry] = []
        for device in devices {
            let all = population.interactions(of: device)
            let tasks = split.tasks(all, device: device, itemDomains: population.itemDomains)
            guard !tasks.isEmpty else { continue }
            let features = population.userFeatures(of: device)
            // Where adaptation starts: a new user from offset 0; a warm user (new domain,
            // temporal) from what its strategy keeps on the device.
            var start = t.zeroOffset
            if !split.isNewUser(device) && [.fedper, .fedrep, .ditto].contains(scenario.personalization.strategy) && !scenario.meta.enabled {
                start = Array(personalRow(device))
            }
            if split.config.protocol == .temporal {
                // Online: one adaptation per period on the previous period, carried forward.
                var offset = start
                var adapters: [Int: [Float]] = [:]
                for task in tasks {
                    var v = t.view(shared: shared, offset: offset, data: task.support, features: features)
                    // Carry adapted domain rows too.
                    let w = 2 * dim + 1
                    for (l, a) in v.domainsTouched.enumerated() {
                        if let row = adapters[Int(a)] { v.block.adapter.replaceSubrange((l * w)..<(l * w + w), with: row) }
                    }
                    t.adapt(&v.block, v.examples, Array(0..<task.support.count), steps: adaptation.steps, lr: adaptation.learningRate(support: task.support.count),
                            mask: TwoTowerTrainer.mask(adaptation.groups))
                    adapters.merge(v.adaptedAdapters) { $1 }
                    offset = v.block.offset
                    let scorer = TwoTowerScorer(shape: t.shape, shared: shared, user: v.block.userTower(), adapted: adapters,
                                                itemCategories: t.itemCategories, itemDomains: t.itemDomains)
                    out.append(entry(device, task, scorer, shared))
                }
            } else {
                for task in tasks {
                    let scorer = t.adaptedScorer(shared: shared, offset: start, support: task.support, features: features,
                                                 adaptation: task.support.count > 0 ? adaptation : none)
                    out.append(entry(device, task, scorer, shared))
                }
            }
        }
        return out
    }

    /// Cold-start queries rank the full catalogue, without the popularity baseline.
    var coldStartEvaluator: Evaluator {
        var ev = evaluator
        ev.sampledNegatives = 0
        ev.popular = []
        return ev
    }

    func entry(_ device: Int, _ task: ColdStartSplit.Task, _ scorer: TwoTowerScorer, _ shared: [Float]) -> ColdStartEntry {
        let e = coldStartEvaluator.evaluate(device: device, shared: shared, items: population.itemCount, dim: dim, train: known(task.known), test: task.query,
                                            score: scorer.score)
        return ColdStartEntry(device: UInt32(device), slot: UInt16(task.slot), count: UInt32(e.count), squaredError: e.squaredError,
                              absoluteError: e.absoluteError, ranked: e.ranked, hit: e.hit, ndcg: e.ndcg, auc: e.auc)
    }
}
