import FedSimCore
import FedSimData

/// The temporal protocol's non-learned baselines (issue 19), scored on a model's own tasks
/// (`RecommenderModel.coldStartTasks`: the same periods, queries and excluded items the model
/// is scored on), so the model's AUC in a period is read beside what needs no training:
///
/// - **previous-period categories**: a candidate's score is the number of the device's
///   support interactions (the previous period's, as the model defines them: LSTTM's internal
///   ones) in the candidate's category. This is the heuristic of `DriftTests.heuristicAUCs`
///   (0.640 on the drifting synthetic population), which ranks a device's unseen home-domain
///   items by its previous week's home-domain category counts.
/// - **previous-period popularity**: a candidate's score is the number of devices (of the
///   whole population) that interacted with it in the period before the scored one.
///
/// Ties (most candidates of a category share a score) count half in AUC, as in the
/// `Evaluator`; top-K breaks them by lower item index.
public struct PreviousPeriodBaselines: Sendable {
    public var itemCategories: [Int32]
    /// `popularity[p][i]`: devices that interacted with item i in period p − 1 of the
    /// evaluation clock (for p = 0, the period before the cut-off).
    public var popularity: [[Float]]

    public init(itemCategories: [Int32], popularity: [[Float]]) {
        self.itemCategories = itemCategories
        self.popularity = popularity
    }

    /// Per slot p, how many devices interacted with each item in the period before p
    /// (each device counted once per item and period).
    public static func popularity(
        of devices: some Sequence<Interactions>,
        clock: PeriodClock,
        periods: Int,
        items: Int
    ) -> [[Float]] {
        var counts = [[Float]](repeating: [Float](repeating: 0, count: items), count: periods)
        for all in devices {
            var counted = Set<Int>()
            for (item, t) in zip(all.items, all.timestamps) where Int(item) < items {
                let slot = clock.period(of: t) + 1
                guard slot >= 0, slot < periods, counted.insert(slot * items + Int(item)).inserted else { continue }
                counts[slot][Int(item)] += 1
            }
        }
        return counts
    }

    /// The category score of every item for one task: its category's count in the support.
    /// Nil when the population has no item categories.
    public func categoryScores(_ task: ColdStartSplit.Task, items: Int) -> [Float]? {
        guard !itemCategories.isEmpty else { return nil }
        var byCategory: [Int32: Float] = [:]
        for it in task.support.items where Int(it) < itemCategories.count {
            byCategory[itemCategories[Int(it)], default: 0] += 1
        }
        return (0..<items).map { $0 < itemCategories.count ? byCategory[itemCategories[$0]] ?? 0 : 0 }
    }

    /// Both baselines on one task, by the model's evaluator (same relevance, same exclusion).
    public func evaluate(
        _ task: ColdStartSplit.Task,
        device: Int,
        items: Int,
        evaluator: Evaluator
    ) -> (categories: DeviceEvaluation?, popularity: DeviceEvaluation?) {
        let known = Interactions.exclusion(task.known)
        func evaluate(_ scores: [Float]) -> DeviceEvaluation {
            evaluator.evaluate(device: device, shared: [], items: items, dim: 0, train: known, test: task.query) {
                scores[$0]
            }
        }
        let categories = categoryScores(task, items: items).map(evaluate)
        let pop = task.slot < popularity.count ? evaluate(popularity[task.slot]) : nil
        return (categories, pop)
    }
}
