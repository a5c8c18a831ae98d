import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import Foundation

/// The bias-only predictor μ + b_u + b_i (Koren 2008's shrunk baseline) and the random ranking
/// under full ranking, measured on the run's own split, devices and candidates
/// (`evaluation.bias_baseline`, docs/metrics.md).
///
/// Fitted **centrally, on the run's training split** by the launcher before the first round:
/// it is a reference for the reader, not part of the federated protocol (the coordinator never
/// reads raw data; it only copies these figures into the evaluations and summary.json).
/// One closed-form pass, so it is exact and cheap:
///
///     μ   = mean of all training ratings
///     b_i = Σ_{u ∈ R(i)} (r_ui − μ) / (λ_i + |R(i)|)
///     b_u = Σ_{i ∈ R(u)} (r_ui − μ − b_i) / (λ_u + |R(u)|)
///
/// An item one user rated keeps only 1/(1 + λ_i) of that rating's offset. Predictions are
/// clamped to the rating scale, like every model's. Its ranking is by b_i (b_u does not
/// change a user's order), a rating-aware popularity. The test evaluation sees the same
/// history as the model's (validation items excluded from the candidates) and, under sampled
/// negatives, the same candidates, drawn from the same seeded stream.
public struct BiasBaseline: Sendable, Equatable {
    public var mu: Double
    public var itemBias: [Double]

    /// Fits μ and b_i on the devices' training parts.
    public static func fit(train: [Interactions], items: Int, itemShrinkage: Double) -> BiasBaseline {
        var total = 0.0
        var n = 0
        for t in train {
            for r in t.ratings { total += Double(r) }
            n += t.count
        }
        let mu = n > 0 ? total / Double(n) : 0
        var sum = [Double](repeating: 0, count: items)
        var count = [Double](repeating: 0, count: items)
        for t in train {
            for (i, r) in zip(t.items, t.ratings) where Int(i) < items {
                sum[Int(i)] += Double(r) - mu
                count[Int(i)] += 1
            }
        }
        return BiasBaseline(mu: mu, itemBias: (0..<items).map { sum[$0] / (itemShrinkage + count[$0]) })
    }

    /// A device's b_u from its training part.
    public func userBias(_ train: Interactions, userShrinkage: Double) -> Double {
        var s = 0.0
        for (i, r) in zip(train.items, train.ratings) { s += Double(r) - mu - itemBias[Int(i)] }
        return s / (userShrinkage + Double(train.count))
    }
}

/// The launcher's pass over every device (`reference-baselines.json`), and how the
/// coordinator adds it to evaluations and `final.baselines`.
public struct ReferenceBaselines: Codable, Sendable, Equatable {
    public struct Figures: Codable, Sendable, Equatable {
        public var rmse = Double.nan
        public var hit = Double.nan
        public var ndcg = Double.nan
        public var sampledHit = Double.nan
        public var sampledNdcg = Double.nan
    }
    public var biasOnly = Figures()
    /// The random ranking under full ranking: its exact expectation per device, averaged.
    public var random = Figures()
    public var itemShrinkage: Double
    public var userShrinkage: Double
    public var devices = 0

    public static let fileName = "reference-baselines.json"

    /// Fits on every device's training part and scores every device's test part under the
    /// run's evaluation protocol.
    public static func measure(_ scenario: Scenario, population: any Population) -> ReferenceBaselines {
        let config = scenario.evaluation.biasBaseline
        let splitter = Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        let data = (0..<population.deviceCount).map { population.deviceData($0, split: splitter) }
        let items = population.itemCount
        let fit = BiasBaseline.fit(train: data.map(\.train), items: items, itemShrinkage: config.itemShrinkage)
        let evaluator = Evaluator.of(scenario, population: population, categories: false, sampled: true)
        var out = ReferenceBaselines(itemShrinkage: config.itemShrinkage, userShrinkage: config.userShrinkage)
        var results: [DeviceEvaluation] = []
        var randomHit = 0.0
        var randomNdcg = 0.0
        for d in data where !d.test.isEmpty {
            let bu = fit.userBias(d.train, userShrinkage: config.userShrinkage)
            let scored = d.scored(on: .test)
            let e = evaluator.evaluate(
                device: d.device,
                shared: [],
                items: items,
                dim: 0,
                train: scored.train,
                test: scored.test
            ) {
                Float(fit.mu + bu + fit.itemBias[$0])
            }
            results.append(e)
            if e.ranked {
                let r = Self.randomFullRanking(scored, items: items, evaluator: evaluator)
                randomHit += r.hit
                randomNdcg += r.ndcg
            }
        }
        let s = EvaluationSummary(results)
        out.devices = s.devices
        out.biasOnly = Figures(
            rmse: s.rmse,
            hit: s.hitRate,
            ndcg: s.ndcg,
            sampledHit: s.sampledHit,
            sampledNdcg: s.sampledNdcg
        )
        let ranked = Double(max(1, s.rankedDevices))
        out.random.hit = randomHit / ranked
        out.random.ndcg = randomNdcg / ranked
        return out
    }

    /// A uniformly random order of the n candidates with r relevant ones: the top K hold a
    /// hypergeometric number of them, so HR@K = 1 − C(n−r, K)/C(n, K), and each rank holds a
    /// relevant item with probability r/n, so E[DCG@K] = (r/n)·Σ_{j<K} 1/log2(j + 2).
    public static func randomFullRanking(
        _ d: DeviceData,
        items: Int,
        evaluator: Evaluator
    ) -> (hit: Double, ndcg: Double) {
        let history = Set(d.train.items)
        let n = (0..<items).filter { !history.contains(Int32($0)) }.count
        let relevant = Set(
            (0..<d.test.count).filter { d.test.ratings[$0] >= evaluator.relevanceThreshold }.map { d.test.items[$0] }
        )
        let r = relevant.count
        let k = min(evaluator.k, n)
        guard n > 0, r > 0 else { return (0, 0) }
        var miss = 1.0  // C(n−r, K)/C(n, K) = Π_{j<K} (n−r−j)/(n−j)
        for j in 0..<k { miss *= max(0, Double(n - r - j)) / Double(n - j) }
        var dcg = 0.0
        var idcg = 0.0
        for j in 0..<evaluator.k { if j < k { dcg += 1 / _log2(Double(j) + 2) } }
        for j in 0..<min(r, evaluator.k) { idcg += 1 / _log2(Double(j) + 2) }
        return (1 - miss, Double(r) / Double(n) * dcg / idcg)
    }

    /// `bias_only` and `random` (full ranking) for an evaluation's `baselines` object.
    func add(to b: inout EvaluationBaselines, k: Int, sampled negatives: Int) {
        var o = BiasOnlyBaseline(
            k: k,
            rmse: biasOnly.rmse,
            hitRate: biasOnly.hit,
            ndcg: biasOnly.ndcg,
            devices: devices,
            fitted: "centrally on the training split (λ_i = \(itemShrinkage), λ_u = \(userShrinkage))"
        )
        if negatives > 0 {
            o.sampledNegatives = negatives
            o.sampledHitRate = biasOnly.sampledHit
            o.sampledNdcg = biasOnly.sampledNdcg
        }
        b.biasOnly = o
        b.random = RankingBaseline(k: k, hitRate: random.hit, ndcg: random.ndcg)
    }

    public func write(to dir: RunDirectory) throws { try dir.writeJSON(self, to: Self.fileName) }

    public static func read(from dir: RunDirectory) -> ReferenceBaselines? {
        dir.readJSON(ReferenceBaselines.self, from: fileName)
    }
}
