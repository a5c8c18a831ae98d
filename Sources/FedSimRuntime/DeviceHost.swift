import FedSimAggregation
import FedSimCore
import FedSimConfig
import FedSimData
import FedSimModels

/// The virtual devices of one client process: their data, their personal parameters and the
/// local training and evaluation they run. Transport-agnostic, so tests drive it directly.
///
/// Personal parameters of the whole shard sit in one contiguous buffer (dim + 1 floats per
/// device), initialised lazily from (seed, device) the first time a device is touched.
public final class DeviceHost {
    public let scenario: Scenario
    public let population: any Population
    public let shard: Range<Int>
    let splitter: Splitter
    let trainer: LocalTrainer
    let evaluator: Evaluator
    let dim: Int
    var personal: [Float]
    var initialized: [Bool]
    var cache: [Int: DeviceData] = [:]
    let cacheLimit = 50_000

    public init(scenario: Scenario, population: any Population, shard: Range<Int>) {
        self.scenario = scenario
        self.population = population
        self.shard = shard
        splitter = Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        dim = scenario.model.dim
        trainer = LocalTrainer(config: scenario.training.local, weighting: scenario.training.weighting,
                               items: population.itemCount, dim: dim)
        evaluator = Evaluator(k: scenario.evaluation.k, relevanceThreshold: Float(scenario.evaluation.relevanceThreshold),
                              ranking: scenario.evaluation.ranking, scale: population.ratingScale)
        personal = [Float](repeating: 0, count: shard.count * (dim + 1))
        initialized = [Bool](repeating: false, count: shard.count)
    }

    public func hosts(_ device: Int) -> Bool { shard.contains(device) }

    public func data(_ device: Int) -> DeviceData {
        if let d = cache[device] { return d }
        let d = population.deviceData(device, split: splitter)
        if cache.count < cacheLimit { cache[device] = d }
        return d
    }

    func personalRange(_ device: Int) -> Range<Int> {
        let i = device - shard.lowerBound
        if !initialized[i] {
            let p = MatrixFactorization.initialPersonal(dim: dim, initStd: scenario.model.initStd,
                                                        seed: scenario.seed, device: device)
            personal.replaceSubrange(i * (dim + 1)..<((i + 1) * (dim + 1)), with: p)
            initialized[i] = true
        }
        return i * (dim + 1)..<((i + 1) * (dim + 1))
    }

    /// The device's personal parameters (for tests and checkpoints).
    public func personalParameters(_ device: Int) -> [Float] { Array(personal[personalRange(device)]) }

    /// Local training for one device in one round. Seeded by (seed, device, round).
    public func train(device: Int, round: Int, shared: [Float], clip: Double = 0) -> LocalUpdate {
        precondition(hosts(device))
        let r = personalRange(device)
        var p = Array(personal[r])
        var rng = Seeds.rng(scenario.seed, "local", UInt64(device), UInt64(round))
        var u = trainer.train(shared: shared, personal: &p, data: data(device).train, rng: &rng)
        personal.replaceSubrange(r, with: p)
        if scenario.privacy.enabled {
            // DP: bound this device's contribution (uniform weighting, so the weighted delta is Δ).
            // The round's clip comes with the request (adaptive clipping changes it).
            let p = scenario.privacy
            if p.clipping == .perGroup {
                // Each shared tensor within its own bound; the total is within √(Σ C_g²).
                let layout = MatrixFactorization.sharedLayout(items: population.itemCount, dim: dim)
                var within = true
                for (name, bound) in [("item_embedding", p.groupClips.itemEmbedding), ("item_bias", p.groupClips.itemBias),
                                      ("global_bias", p.groupClips.globalBias)] {
                    let r = layout.range(of: name)!
                    var part = Array(u.weightedDelta[r])
                    within = L2Clip.clip(&part, to: bound) <= bound && within
                    u.weightedDelta.replaceSubrange(r, with: part)
                }
                u.withinClip = within
            } else {
                let bound = clip > 0 ? clip : p.clip
                u.withinClip = L2Clip.clip(&u.weightedDelta, to: bound) <= bound
            }
        }
        return u
    }

    public func evaluate(device: Int, shared: [Float]) -> DeviceEvaluation {
        let d = data(device)
        let p = Array(personal[personalRange(device)])
        return evaluator.evaluate(device: device, shared: shared, personal: p, items: population.itemCount,
                                  dim: dim, train: d.train, test: d.test)
    }

    public var sharedCount: Int { trainer.sharedCount }
}
