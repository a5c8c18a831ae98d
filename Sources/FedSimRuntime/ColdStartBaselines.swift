import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import Foundation

/// In-run baselines for the `new_users` and `new_domain` cold-start protocols, scored on the
/// same devices, the same support/query tasks (`ColdStartSplit.tasks`) and the same full-
/// catalogue ranking as the adapted model, so every k of `summary.json`'s `cold_start` can
/// say what a meta-learned or federated initialisation buys over adapting nothing but biases
/// (issue 19; docs/personalization.md):
///
/// - **bias-only adaptation** (rating models): μ + b_i + b_u with b_u learned from the k
///   support ratings alone, shrunk toward 0:
///       b_u = Σ_{support} (r − μ − b_i) / (k + λ_u)
///   μ and b_i are the `evaluation.bias_baseline` fit (λ_i = `item_shrinkage`) on the run's
///   training split, i.e. on the warm devices' training parts: new users never train and a
///   held-out domain's interactions are outside training, so nothing of a query leaks into
///   the fit. λ_u is `evaluation.bias_baseline.user_shrinkage`. At k = 0, b_u = 0.
/// - **popularity**: items ranked by their number of training interactions (what the
///   coordinator's `popular` list counts through the evaluation's sums), the support window
///   excluded like the model's. It does not depend on k.
///
/// Like `ReferenceBaselines`, measured **centrally by the launcher** before the first round:
/// a reference for the reader, not part of the federated protocol. Both baselines are closed
/// forms, so a device computing them would get the same figures.
public struct ColdStartBaselines: Codable, Sendable, Equatable {
    /// One baseline's sums over the devices of one slot (aggregated as `coldStartTable` does).
    public struct Sums: Codable, Sendable, Equatable {
        public var devices = 0
        public var count = 0
        public var squaredError = 0.0
        public var absoluteError = 0.0
        public var rankedDevices = 0
        public var hit = 0.0
        public var ndcg = 0.0
        public var auc = 0.0

        mutating func add(_ e: DeviceEvaluation) {
            guard e.count > 0 || e.ranked else { return }
            devices += 1
            count += e.count
            squaredError += e.squaredError
            absoluteError += e.absoluteError
            if e.ranked {
                rankedDevices += 1
                hit += e.hit
                ndcg += e.ndcg
                auc += e.auc
            }
        }
    }
    /// Per slot of `evaluation.cold_start.k`: nil bias-only for click models (no ratings).
    public var biasOnly: [Sums]?
    public var popularity: [Sums]
    public var itemShrinkage: Double
    public var userShrinkage: Double

    public static let fileName = "cold-start-baselines.json"

    /// Whether a scenario gets these baselines: the k-shot protocols of a federated run.
    public static func applies(_ scenario: Scenario) -> Bool {
        let cs = scenario.evaluation.coldStart
        return cs.enabled && [.newUsers, .newDomain].contains(cs.protocol) && scenario.training.mode == .federated
    }

    /// Fits μ and b_i on the warm training parts and scores every device's tasks.
    public static func measure(
        _ scenario: Scenario,
        population: any Population,
        ratings: Bool
    ) throws
        -> ColdStartBaselines
    {
        let split = try ColdStartSplit(
            config: scenario.evaluation.coldStart,
            devices: population.deviceCount,
            seed: scenario.seed,
            domainNames: population.domainNames
        )
        let splitter = Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        let domains = population.itemDomains
        var train: [Interactions] = []
        for d in 0..<population.deviceCount {
            let warm = split.warmPart(population.interactions(of: d), device: d, itemDomains: domains)
            train.append(splitter.splitWithValidation(warm, device: d).train)
        }
        var evaluator = Evaluator.of(scenario, population: population, categories: true, sampled: false)
        if !ratings {  // as DeviceHost scores click models
            evaluator.ratingMetrics = false
            evaluator.relevanceThreshold = -.infinity
        }
        let config = scenario.evaluation.biasBaseline
        let fit = BiasBaseline.fit(train: train, items: population.itemCount, itemShrinkage: config.itemShrinkage)
        return score(
            split: split,
            devices: (0..<population.deviceCount).map { ($0, population.interactions(of: $0)) },
            itemDomains: domains,
            fit: fit,
            counts: popularityCounts(train, items: population.itemCount),
            evaluator: evaluator,
            userShrinkage: ratings ? config.userShrinkage : nil,
            itemShrinkage: config.itemShrinkage
        )
    }

    /// Training interactions per item: the popularity score.
    public static func popularityCounts(_ train: [Interactions], items: Int) -> [Float] {
        var counts = [Float](repeating: 0, count: items)
        for t in train { for i in t.items where Int(i) < items { counts[Int(i)] += 1 } }
        return counts
    }

    /// Scores both baselines on every task of these devices (`userShrinkage` nil: no
    /// bias-only adaptation, the model predicts no ratings).
    public static func score(
        split: ColdStartSplit,
        devices: [(Int, Interactions)],
        itemDomains: [Int32],
        fit: BiasBaseline,
        counts: [Float],
        evaluator: Evaluator,
        userShrinkage: Double?,
        itemShrinkage: Double
    ) -> ColdStartBaselines {
        let slots = split.config.k.count
        var bias = [Sums](repeating: Sums(), count: slots)
        var pop = [Sums](repeating: Sums(), count: slots)
        let items = counts.count
        for (device, all) in devices {
            for task in split.tasks(all, device: device, itemDomains: itemDomains) {
                let known = Interactions.exclusion(task.known)
                func evaluate(_ score: (Int) -> Float) -> DeviceEvaluation {
                    evaluator.evaluate(
                        device: device,
                        shared: [],
                        items: items,
                        dim: 0,
                        train: known,
                        test: task.query,
                        score: score
                    )
                }
                if let userShrinkage {
                    let bu = fit.userBias(task.support, userShrinkage: userShrinkage)
                    bias[task.slot].add(evaluate { Float(fit.mu + bu + fit.itemBias[$0]) })
                }
                pop[task.slot].add(evaluate { counts[$0] })
            }
        }
        return ColdStartBaselines(
            biasOnly: userShrinkage == nil ? nil : bias,
            popularity: pop,
            itemShrinkage: itemShrinkage,
            userShrinkage: userShrinkage ?? .nan
        )
    }
}

extension ColdStartBaselines {
    /// Where this run's "global model fine-tuned" baseline is (issue 19): the FedAvg-trained
    /// global model adapted by the same procedure. A run whose initialisation is the federated
    /// global model (no meta-learning, strategy global) *is* that baseline; any other run has
    /// no such model to adapt, and names the run to pair with by seed instead.
    public static func globalFineTuned(_ scenario: Scenario) -> String {
        if !scenario.meta.enabled && scenario.personalization.strategy == .global {
            return "this run: its initialisation is the federated global model, adapted by the same procedure"
        }
        return
            "not in this run: the same scenario with meta.algorithm none and personalization.strategy global, paired by seed (fedsim sweep)"
    }

    /// One slot's figures under the keys of the model's own `cold_start` entries.
    static func object(_ s: Sums, k: Int, ratings: Bool) -> JSONObject {
        var o = JSONObject()
        o.add("devices", s.devices)
        if ratings {
            let n = Double(s.count)
            o.add("rmse", s.count > 0 ? (s.squaredError / n).squareRoot() : .nan)
            o.add("mae", s.count > 0 ? s.absoluteError / n : .nan)
        }
        let rn = Double(s.rankedDevices)
        o.add("ranked_devices", s.rankedDevices)
        o.add("hr@\(k)", rn > 0 ? s.hit / rn : .nan)
        o.add("ndcg@\(k)", rn > 0 ? s.ndcg / rn : .nan)
        o.add("auc", rn > 0 ? s.auc / rn : .nan)
        return o
    }

    /// The slot's `baselines` object: `bias_only_adaptation` (rating models) and `popularity`.
    public func baselines(slot: Int, k: Int) -> JSONObject {
        var b = JSONObject()
        if let biasOnly, slot < biasOnly.count {
            var o = Self.object(biasOnly[slot], k: k, ratings: true)
            o.add(
                "fitted",
                "μ, b_i on the training split (λ_i = \(itemShrinkage)); b_u from the k support ratings (λ_u = \(userShrinkage))"
            )
            b.add("bias_only_adaptation", o)
        }
        if slot < popularity.count {
            var o = Self.object(popularity[slot], k: k, ratings: false)
            o.add("fitted", "items by training interactions")
            b.add("popularity", o)
        }
        return b
    }

    /// The model's per-slot `cold_start` entries, each with its slot's `baselines` added.
    public func annotate(_ entries: [JSONObject], k: Int) -> [JSONObject] {
        entries.enumerated().map { slot, entry in
            var e = entry
            e.add("baselines", baselines(slot: slot, k: k))
            return e
        }
    }

    public func write(to dir: RunDirectory) throws { try dir.writeJSON(self, to: Self.fileName) }

    public static func read(from dir: RunDirectory) -> ColdStartBaselines? {
        dir.readJSON(ColdStartBaselines.self, from: fileName)
    }
}
