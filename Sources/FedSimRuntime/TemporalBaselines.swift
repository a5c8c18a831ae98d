import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels

/// In-run baselines for the `temporal` cold-start protocol (issue 19): the previous-period
/// categories heuristic and previous-period popularity (`PreviousPeriodBaselines`), scored per
/// period on **the model's own tasks** (`RecommenderModel.coldStartTasks`: LSTTM's internal
/// domain and exclusions, two-tower's split tasks) with the evaluator the devices use, then
/// written beside the model's figures in `summary.json` (`cold_start[i].baselines`,
/// `cold_start_thirds[i].baselines`, each with the model's AUC margin over it).
///
/// Measured **centrally by the launcher** before the first round, like `ColdStartBaselines`:
/// both are closed forms of a device's own interactions and, for popularity, of the previous
/// period's per-item device counts over the population (which a server would obtain as the
/// coordinator obtains its `popular` list, from the devices' counts). A device computing them
/// would get the same figures; doing it there would change the cold-start report's wire
/// format for no difference in the numbers.
public struct TemporalBaselines: Codable, Sendable, Equatable {
    public typealias Sums = ColdStartBaselines.Sums
    /// Per period; nil when the population has no item categories.
    public var categories: [Sums]?
    public var popularity: [Sums]

    public static let fileName = "temporal-baselines.json"
    static let categoriesKey = "previous_period_categories"
    static let popularityKey = "previous_period_popularity"

    /// The temporal protocol of a federated run.
    public static func applies(_ scenario: Scenario) -> Bool {
        let cs = scenario.evaluation.coldStart
        return cs.enabled && cs.protocol == .temporal && scenario.training.mode == .federated
    }

    /// Builds the model as a device host does and scores both baselines on every device's tasks.
    public static func measure(_ scenario: Scenario, population: any Population) throws -> TemporalBaselines {
        let split = try ColdStartSplit(
            config: scenario.evaluation.coldStart,
            devices: population.deviceCount,
            seed: scenario.seed,
            domainNames: population.domainNames,
            timeRange: population.timeRange()
        )
        let model = ModelRegistry.make(ModelContext(scenario: scenario, population: population, coldSplit: split))
        var evaluator = Evaluator.of(scenario, population: population, categories: true, sampled: false)
        evaluator.sampledNegatives = 0  // as DeviceHost.coldStart ranks
        evaluator.popular = []
        if model.task == .click {
            evaluator.ratingMetrics = false
            evaluator.relevanceThreshold = -.infinity
        }
        let periods = split.config.periods
        guard let clock = split.evaluationClock else { return TemporalBaselines(categories: nil, popularity: []) }
        let items = population.itemCount
        let baselines = PreviousPeriodBaselines(
            itemCategories: population.itemCategories,
            popularity: PreviousPeriodBaselines.popularity(
                of: (0..<population.deviceCount).lazy.map { population.interactions(of: $0) },
                clock: clock,
                periods: periods,
                items: items
            )
        )
        var categories = [Sums](repeating: Sums(), count: periods)
        var popularity = [Sums](repeating: Sums(), count: periods)
        for device in 0..<population.deviceCount {
            let context = ColdStartContext(
                device: device,
                interactions: population.interactions(of: device),
                features: population.userFeatures(of: device),
                personal: [],
                shared: [],
                split: split,
                evaluator: evaluator
            )
            for task in model.coldStartTasks(context) where task.slot < periods {
                let (c, p) = baselines.evaluate(task, device: device, items: items, evaluator: evaluator)
                if let c { categories[task.slot].add(c) }
                if let p { popularity[task.slot].add(p) }
            }
        }
        return TemporalBaselines(
            categories: population.itemCategories.isEmpty ? nil : categories,
            popularity: popularity
        )
    }

    /// The baselines' sums over some periods (a third pools its periods' device-periods).
    func pooled(_ slots: [Int]) -> (categories: Sums?, popularity: Sums) {
        func pool(_ s: [Sums]) -> Sums {
            slots.filter { $0 < s.count }.reduce(into: Sums()) { t, i in
                t.devices += s[i].devices
                t.count += s[i].count
                t.squaredError += s[i].squaredError
                t.absoluteError += s[i].absoluteError
                t.rankedDevices += s[i].rankedDevices
                t.hit += s[i].hit
                t.ndcg += s[i].ndcg
                t.auc += s[i].auc
            }
        }
        return (categories.map(pool), pool(popularity))
    }

    /// The `baselines` object for the model's figures over `slots`: each baseline's HR, NDCG
    /// and AUC, and `auc_margin` = the model's AUC − the baseline's (positive: the model ranks
    /// the period's items better than the baseline does).
    func baselines(_ slots: [Int], modelAUC: Double?, k: Int) -> JSONObject {
        let (c, p) = pooled(slots)
        func object(_ s: Sums, _ fitted: String) -> JSONObject {
            var o = ColdStartBaselines.object(s, k: k, ratings: false)
            let auc = s.rankedDevices > 0 ? s.auc / Double(s.rankedDevices) : .nan
            o.add("auc_margin", modelAUC.map { $0 - auc } ?? .nan)
            o.add("fitted", fitted)
            return o
        }
        var b = JSONObject()
        if let c {
            b.add(
                Self.categoriesKey,
                object(c, "items by the device's support interactions (previous period) in their category")
            )
        }
        b.add(Self.popularityKey, object(p, "items by devices that interacted with them in the previous period"))
        return b
    }

    /// The model's per-period `cold_start` entries, each with its period's `baselines`.
    public func annotate(_ entries: [JSONObject], k: Int) -> [JSONObject] {
        entries.enumerated().map { slot, entry in
            var e = entry
            e.add("baselines", baselines([slot], modelAUC: Self.auc(of: entry), k: k))
            return e
        }
    }

    /// The model's `cold_start_thirds`, each with the baselines pooled over its periods.
    public func annotateThirds(_ thirds: [JSONObject], periods: Int, k: Int) -> [JSONObject] {
        thirds.enumerated().map { third, entry in
            var e = entry
            let slots = (0..<periods).filter { 3 * $0 / periods == third }
            e.add("baselines", baselines(slots, modelAUC: Self.auc(of: entry), k: k))
            return e
        }
    }

    /// The model's AUC as an entry reports it (nil: not reported, or not a number).
    static func auc(of entry: JSONObject) -> Double? {
        switch (try? JSONValue(parsing: entry.text))?["auc"] {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    public func write(to dir: RunDirectory) throws { try dir.writeJSON(self, to: Self.fileName) }

    public static func read(from dir: RunDirectory) -> TemporalBaselines? {
        dir.readJSON(TemporalBaselines.self, from: fileName)
    }
}
