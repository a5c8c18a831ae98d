import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import Foundation

/// The virtual devices of one client process: their data, their personal parameters and the
/// local training and evaluation they run. Transport-agnostic, so tests drive it directly.
///
/// Personal parameters of the whole shard sit in a `DeviceStateStore` (`model.personalWidth`
/// floats per device, memory-mapped from the run directory when there is one), initialised lazily from
/// (seed, device) the first time a device is touched. Device data is regenerated (or read)
/// when a round needs it and kept only until the next round, so a process holds only the
/// devices active now.
public final class DeviceHost {
    public let scenario: Scenario
    public let population: any Population
    public let shard: Range<Int>
    let splitter: Splitter
    var evaluator: Evaluator
    /// The run's model (`ModelRegistry`): training, evaluation and cold start go through it.
    public let model: any RecommenderModel
    let store: DeviceStateStore
    /// Error-feedback memory of compressed updates, per device (sparse: only entries the
    /// device touched). Lives in memory; not part of checkpoints (docs/scenarios.md).
    var residuals: [Int: [Int32: Float]] = [:]
    lazy var codec = UpdateCodec(config: scenario.compression, layout: model.layout)
    /// The cold-start protocol's split (`evaluation.cold_start`), nil when off.
    let coldSplit: ColdStartSplit?

    /// Encodes a trained update through the run's compression stages.
    public func compress(_ u: LocalUpdate, device: Int, round: Int, clip: Double) -> [UInt8] {
        var residual = residuals[device] ?? [:]
        var rng = Seeds.rng(scenario.seed, "compress", UInt64(device), UInt64(round))
        let bound: Double? = scenario.privacy.enabled ? (clip > 0 ? clip : scenario.privacy.clip) : nil
        let body = codec.encode(
            weightedDelta: u.weightedDelta,
            weights: u.weights,
            residual: &residual,
            clip: bound,
            rng: &rng,
            rotationSeed: Seeds.derive(scenario.seed, "rotation", UInt64(device), UInt64(round))
        )
        residuals[device] = residual.isEmpty ? nil : residual
        return body
    }
    var cache: [Int: DeviceData] = [:]
    var cacheRound = -1
    /// Written into every snapshot footer: a resume refuses a snapshot of another scenario.
    lazy var scenarioDigest = ScenarioDigest.of(scenario)

    /// `makeModel` replaces the registry's model for `model.kind` (a model under development, or a
    /// test's); the coordinator must be given the same one.
    public init(
        scenario: Scenario,
        population: any Population,
        shard: Range<Int>,
        statePath: String? = nil,
        makeModel: ((ModelContext) -> any RecommenderModel)? = nil
    ) throws {
        self.scenario = scenario
        self.population = population
        self.shard = shard
        splitter = Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        evaluator = Evaluator.of(scenario, population: population, categories: true, sampled: true)
        let cs = scenario.evaluation.coldStart
        let needsTime = cs.protocol == .temporal
        coldSplit =
            cs.enabled
            ? try ColdStartSplit(
                config: cs,
                devices: population.deviceCount,
                seed: scenario.seed,
                domainNames: population.domainNames,
                timeRange: needsTime ? population.timeRange() : nil
            )
            : nil
        let context = ModelContext(scenario: scenario, population: population, coldSplit: coldSplit)
        model = makeModel?(context) ?? ModelRegistry.make(context)
        store = try DeviceStateStore(devices: shard.count, width: model.personalWidth, path: statePath)
        if model.task == .click {
            // Scores are logits: no rating error, and every held-out interaction is relevant.
            evaluator.ratingMetrics = false
            evaluator.relevanceThreshold = -.infinity
        }
    }

    /// A device's data as training and warm evaluation see it: the cold-start protocol's
    /// withheld part removed, then the scenario's train/test split.
    func load(_ device: Int) -> DeviceData {
        guard let coldSplit else { return population.deviceData(device, split: splitter) }
        let warm = coldSplit.warmPart(
            population.interactions(of: device),
            device: device,
            itemDomains: population.itemDomains
        )
        let (train, validation, test) = splitter.splitWithValidation(warm, device: device)
        var d = DeviceData(device: device, train: train, test: test, features: population.userFeatures(of: device))
        d.validation = validation
        return d
    }

    /// Where the snapshot of round r goes: beside the store, `process-i.r<round>.ckpt`.
    public static func snapshotPath(statePath: String, round: Int) -> String {
        statePath.replacingOccurrences(of: ".bin", with: "") + ".r\(round).ckpt"
    }

    /// Persists the devices' state as of round r (a checkpoint), keeping the two newest
    /// snapshots. Returns false when the state lives only in memory (nothing to persist).
    @discardableResult
    public func snapshot(round r: Int) throws -> Bool {
        guard let path = store.path else { return false }
        try store.snapshot(to: Self.snapshotPath(statePath: path, round: r), round: r, scenarioDigest: scenarioDigest)
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = ((path as NSString).lastPathComponent as NSString).deletingPathExtension + ".r"
        let rounds = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".ckpt") }
            .compactMap { Int($0.dropFirst(prefix.count).dropLast(5)) }
            .sorted()
        for old in rounds.dropLast(2) { unlink(Self.snapshotPath(statePath: path, round: old)) }
        return true
    }

    /// Drops cached device data when a new round (or evaluation) starts.
    public func beginRound(_ r: Int) {
        if r != cacheRound {
            cache.removeAll(keepingCapacity: true)
            cacheRound = r
        }
    }

    public func hosts(_ device: Int) -> Bool { shard.contains(device) }

    public func data(_ device: Int) -> DeviceData {
        if let d = cache[device] { return d }
        let d = load(device)
        cache[device] = d
        return d
    }

    func personalRow(_ device: Int) -> UnsafeMutableBufferPointer<Float> {
        let i = device - shard.lowerBound
        if !store.isInitialized(i) { store.initialize(i, with: model.initialPersonal(device: device)) }
        return store.row(i)
    }

    /// The device's personal parameters (for tests and checkpoints).
    public func personalParameters(_ device: Int) -> [Float] { Array(personalRow(device)) }

    /// Local training for one device in one round. Seeded by (seed, device, round).
    public func train(device: Int, round: Int, shared: [Float], clip: Double = 0) -> LocalUpdate {
        precondition(hosts(device))
        let row = personalRow(device)
        var p = Array(row)
        var rng = Seeds.rng(scenario.seed, "local", UInt64(device), UInt64(round))
        let d = data(device)
        var u = model.train(d, shared: shared, personal: &p, round: round, rng: &rng)
        for j in 0..<p.count { row[j] = p[j] }
        if scenario.privacy.enabled {
            // DP: bound this device's contribution (uniform weighting, so the weighted delta is Δ).
            // The round's clip comes with the request (adaptive clipping changes it).
            let p = scenario.privacy
            if p.clipping == .perGroup {
                // Each shared tensor within its own bound; the total is within √(Σ C_g²).
                var within = true
                for (name, bound) in p.groupClips.bounds {
                    let r = model.layout.range(of: name)!
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

    public func evaluate(
        device: Int,
        shared: [Float],
        negativeTransfer: Bool = false,
        phase: EvaluationPhase = .test
    ) -> DeviceEvaluation {
        // Evaluation touches each device once: read through the cache without filling it.
        let d = (cache[device] ?? load(device)).scored(on: phase)
        return model.evaluate(
            EvaluationContext(
                device: device,
                data: d,
                shared: shared,
                personal: Array(personalRow(device)),
                evaluator: evaluator,
                negativeTransfer: negativeTransfer,
                initialShared: negativeTransfer ? initialShared : []
            )
        )
    }

    /// Runs the scenario's cold-start protocol for these devices (docs/personalization.md):
    /// for each task, the model adapts on its support from the device's starting point and
    /// scores its query.
    public func coldStart(_ devices: [Int], shared: [Float]) -> [ColdStartEntry] {
        guard let split = coldSplit else { return [] }
        var ev = evaluator
        ev.sampledNegatives = 0  // cold-start queries rank the full catalogue, without the popularity baseline
        ev.popular = []
        return devices.flatMap { device in
            model.coldStart(
                ColdStartContext(
                    device: device,
                    interactions: population.interactions(of: device),
                    features: population.userFeatures(of: device),
                    personal: Array(personalRow(device)),
                    shared: shared,
                    split: split,
                    evaluator: ev
                )
            )
        }
    }

    /// Early stopping: the devices' personal parameters as of the best validation round.
    var bestState: [UInt8]?

    /// Keeps the shard's personal parameters as they are now (the coordinator found this
    /// round's validation the best so far; no training has run since it was scored).
    public func keepBest() { bestState = store.copyState() }

    /// Puts back the personal parameters `keepBest` kept (nothing kept: nothing to restore,
    /// the run never improved on its first validation, which `keepBest` always follows).
    public func restoreBest() {
        if let bestState { store.restoreState(bestState) }
    }

    /// Evaluated devices' top-K lists and rated items, waiting for the evaluation's secure sum.
    var pendingExposure: [Int: (top: [Int32], rated: [Int32])] = [:]

    /// A device's input to the exposure secure sum: a one-hot vector of its top-K list, then one
    /// of the items it rated in training (2 × items entries of 0 or 1). Zeros if it was not evaluated.
    func exposureInput(_ device: Int) -> [UInt32] {
        let n = population.itemCount
        var v = [UInt32](repeating: 0, count: 2 * n)
        guard let p = pendingExposure[device] else { return v }
        for i in p.top where Int(i) < n { v[Int(i)] = 1 }
        for i in p.rated where Int(i) < n { v[n + Int(i)] = 1 }
        return v
    }

    lazy var initialShared = model.initialShared()

    public var sharedCount: Int { model.layout.count }

    /// Evaluates devices and aggregates, for the whole batch, how often each item appears in
    /// a top-K list and how many of the devices rated it in training: what exposure and
    /// novelty need, without any device's list leaving the process.
    public func evaluateBatch(
        _ devices: [Int],
        shared: [Float],
        negativeTransfer: Bool = false,
        popular: [UInt32] = [],
        phase: EvaluationPhase = .test
    )
        -> (
            entries: [DeviceEvaluation], recommended: [(item: UInt32, count: UInt32)],
            rated: [(item: UInt32, count: UInt32)]
        )
    {
        var rec: [UInt32: UInt32] = [:]
        var rated: [UInt32: UInt32] = [:]
        var entries: [DeviceEvaluation] = []
        evaluator.popular = popular.map { Int32(truncatingIfNeeded: $0) }
        defer { evaluator.popular = [] }
        // Validation reports only what early stopping reads: no exposure counts or secure sum.
        let validating = phase == .validation
        let secure = !validating && scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation)
        if secure { pendingExposure.removeAll(keepingCapacity: true) }
        for d in devices {
            var e = evaluate(device: d, shared: shared, negativeTransfer: negativeTransfer, phase: phase)
            let data = cache[d] ?? load(d)
            let heldOut = validating ? data.validation : data.test
            // Global-mean baseline sums (the training part only), and the profile for cohorts.
            if model.task == .rating {
                e.trainCount = data.train.count
                e.trainSum = data.train.ratings.reduce(0.0) { $0 + Double($1) }
                e.testSum = heldOut.ratings.reduce(0.0) { $0 + Double($1) }
                e.testSquares = heldOut.ratings.reduce(0.0) { $0 + Double($1) * Double($1) }
            }
            if validating {
                e.top = []
                entries.append(e)
                continue
            }
            if scenario.evaluation.cohorts { e.features = Array(data.features.prefix(16)) }
            if secure {
                // Under secure aggregation each device's list and rated items leave only
                // inside the evaluation's secure sum (`exposureInput`), never as counts.
                pendingExposure[d] = (e.top, Array(Set(data.train.items)))
                e.top = []
                entries.append(e)
                continue
            }
            for i in e.top { rec[UInt32(i), default: 0] += 1 }
            for i in Set(data.train.items) { rated[UInt32(i), default: 0] += 1 }
            e.top = []
            entries.append(e)
        }
        return (
            entries, rec.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            rated.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        )
    }
}
