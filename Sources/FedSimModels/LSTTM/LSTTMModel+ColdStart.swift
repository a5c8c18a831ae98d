import FedSimCore
import FedSimData

/// One evaluation period of LSTTM's temporal protocol, as the model sees it: the internal
/// behaviours of the period before (what it adapts on), everything the device did before the
/// period (excluded from the ranking), and the period's internal behaviours (the query).
struct LSTTMPeriod {
    var slot: Int
    /// The start of the previous period: adaptation's context cut.
    var previousBegin: Int64
    var begin: Int64
    var support: Interactions
    var seen: Set<Int32>
    /// Empty when the device has no internal behaviour in the period (adapted, not scored).
    var query: Interactions
}

extension LSTTMModel {
    /// The device's timeline over its internal domain (the main domain of its warm part) and
    /// every evaluation period, empty queries included: the online adaptation walks them all.
    func periods(_ c: ColdStartContext) -> (timeline: Timeline, domain: Int32, periods: [LSTTMPeriod])? {
        let split = c.split
        guard let clock = split.evaluationClock else { return nil }
        let dom = trainer.internalDomain(
            of: split.warmPart(c.interactions, device: c.device, itemDomains: trainer.itemDomains)
        )
        let tl = trainer.timeline(c.interactions, internal: dom)
        func internalPart(_ r: Range<Int>) -> Interactions {
            let idx = r.filter { tl.isInternal[$0] }
            return Interactions(
                items: idx.map { tl.items[$0] },
                ratings: [Float](repeating: 1, count: idx.count),
                timestamps: idx.map { tl.times[$0] }
            )
        }
        let periods = (0..<split.config.periods).map { p -> LSTTMPeriod in
            let before = tl.firstIndex(atOrAfter: clock.begin(p))
            return LSTTMPeriod(
                slot: p,
                previousBegin: clock.begin(p - 1),
                begin: clock.begin(p),
                support: internalPart(tl.firstIndex(atOrAfter: clock.begin(p - 1))..<before),
                seen: Set(tl.items[0..<before]),
                query: internalPart(before..<tl.firstIndex(atOrAfter: clock.begin(p + 1)))
            )
        }
        return (tl, dom, periods)
    }

    /// The scored periods as tasks: support = the previous period's internal behaviours,
    /// query = this period's, known = everything before the period and every item outside
    /// the internal domain (what `coldStart` excludes from its ranking).
    public func coldStartTasks(_ c: ColdStartContext) -> [ColdStartSplit.Task] {
        guard let (_, dom, periods) = periods(c) else { return [] }
        let outside = outsideDomain(dom)
        return periods.filter { !$0.query.isEmpty }.map {
            ColdStartSplit.Task(slot: $0.slot, support: $0.support, query: $0.query, known: $0.seen.sorted() + outside)
        }
    }

    /// The temporal protocol, online: for each period p after the cut-off, one adaptation of
    /// `personalization.adaptation.groups` (short-term, fusion) on period p − 1's internal
    /// interactions, carried forward, then AUC / HR / NDCG on period p's, in the context at
    /// its start. The long-term module stays as trained.
    public func coldStart(_ c: ColdStartContext) -> [ColdStartEntry] {
        guard let (tl, dom, periods) = periods(c) else { return [] }
        let mask = LSTTMTrainer.modules(adaptation.groups)
        let outside = outsideDomain(dom)
        var model = c.shared
        var rng = Seeds.rng(seed, "lsttm.online", UInt64(c.device))
        var out: [ColdStartEntry] = []
        for period in periods {
            trainer.adaptOnline(
                &model,
                personal: c.personal,
                timeline: tl,
                cut: period.previousBegin,
                positives: period.support.items,
                seen: period.seen,
                steps: adaptation.steps,
                lr: adaptation.learningRate,
                mask: mask,
                rng: &rng
            )
            guard !period.query.isEmpty else { continue }
            let score = trainer.scorer(model: model, personal: c.personal, timeline: tl, cut: period.begin)
            let e = c.evaluator.evaluate(
                device: c.device,
                shared: model,
                items: shape.items,
                dim: itemRowWidth,
                train: .exclusion(Array(period.seen) + outside),
                test: period.query,
                score: score
            )
            out.append(
                ColdStartEntry(
                    device: UInt32(c.device),
                    slot: UInt16(period.slot),
                    count: UInt32(period.query.count),
                    squaredError: e.squaredError,
                    absoluteError: e.absoluteError,
                    ranked: e.ranked,
                    hit: e.hit,
                    ndcg: e.ndcg,
                    auc: e.auc
                )
            )
        }
        return out
    }
}
