import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimWire

/// Evaluation of LSTTM on the device: warm ranking, and the temporal protocol's online
/// adaptation (docs/personalization.md). Scores are over the device's internal domain only.
extension DeviceHost {
    /// Items a ranking over domain `dom` leaves out: everything in another domain.
    func outsideDomain(_ t: LSTTMTrainer, _ dom: Int32) -> [Int32] {
        (0..<population.itemCount).filter { $0 < t.itemDomains.count && t.itemDomains[$0] != dom }.map { Int32($0) }
    }

    /// `items` as an exclusion list for the evaluator (it reads only the items).
    func known(_ items: [Int32]) -> Interactions {
        Interactions(items: items, ratings: [Float](repeating: 0, count: items.count), timestamps: [Int64](repeating: 0, count: items.count))
    }

    /// The test interactions in the internal domain, ranked in the context after all of training.
    func evaluateLSTTM(_ t: LSTTMTrainer, device: Int, data d: DeviceData, shared: [Float]) -> DeviceEvaluation {
        let dom = t.internalDomain(of: d.train)
        let tl = t.timeline(d.train, internal: dom)
        let test = d.test.subset((0..<d.test.count).filter { Int(d.test.items[$0]) < t.itemDomains.count && t.itemDomains[Int(d.test.items[$0])] == dom })
        let score = t.scorer(model: shared, personal: Array(personalRow(device)), timeline: tl, cut: .max)
        return evaluator.evaluate(device: device, shared: shared, items: population.itemCount, dim: dim + 1,
                                  train: known(d.train.items + outsideDomain(t, dom)), test: test, score: score)
    }

    /// The temporal protocol, online: for each period p after the cut-off, one adaptation of
    /// `personalization.adaptation.groups` (short-term, fusion) on period p − 1's internal
    /// interactions, carried forward, then AUC / HR / NDCG on period p's, in the context at
    /// its start. The long-term module stays as trained.
    func coldStartLSTTM(_ t: LSTTMTrainer, _ devices: [Int], split: ColdStartSplit, shared: [Float]) -> [ColdStartEntry] {
        guard let clock = split.evaluationClock else { return [] }
        let adaptation = scenario.personalization.adaptation
        let mask = LSTTMTrainer.modules(adaptation.groups)
        let ev = coldStartEvaluator
        var out: [ColdStartEntry] = []
        for device in devices {
            let all = population.interactions(of: device)
            let dom = t.internalDomain(of: split.warmPart(all, device: device, itemDomains: population.itemDomains))
            let tl = t.timeline(all, internal: dom)
            let personal = Array(personalRow(device))
            let outside = outsideDomain(t, dom)
            var model = shared
            var rng = Seeds.rng(scenario.seed, "lsttm.online", UInt64(device))
            for p in 0..<split.config.periods {
                let begin = clock.begin(p), end = clock.begin(p + 1)
                let before = tl.firstIndex(atOrAfter: begin)
                let support = (tl.firstIndex(atOrAfter: clock.begin(p - 1))..<before).filter { tl.isInternal[$0] }.map { tl.items[$0] }
                let seen = Set(tl.items[0..<before])
                t.adaptOnline(&model, personal: personal, timeline: tl, cut: clock.begin(p - 1), positives: support, seen: seen,
                              steps: adaptation.steps, lr: adaptation.learningRate, mask: mask, rng: &rng)
                let q = (before..<tl.firstIndex(atOrAfter: end)).filter { tl.isInternal[$0] }
                guard !q.isEmpty else { continue }
                let query = Interactions(items: q.map { tl.items[$0] }, ratings: [Float](repeating: 1, count: q.count), timestamps: q.map { tl.times[$0] })
                let score = t.scorer(model: model, personal: personal, timeline: tl, cut: begin)
                let e = ev.evaluate(device: device, shared: model, items: population.itemCount, dim: dim + 1,
                                    train: known(Array(seen) + outside), test: query, score: score)
                out.append(ColdStartEntry(device: UInt32(device), slot: UInt16(p), count: UInt32(q.count), squaredError: e.squaredError,
                                          absoluteError: e.absoluteError, ranked: e.ranked, hit: e.hit, ndcg: e.ndcg, auc: e.auc))
            }
        }
        return out
    }
}
