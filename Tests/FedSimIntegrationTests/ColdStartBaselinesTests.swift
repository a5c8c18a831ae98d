import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// The cold-start protocol's in-run baselines: bias-only adaptation against its closed form,
/// popularity against counting, and both per k beside the model's entries.
@Suite struct ColdStartBaselinesTests {
    static func newUsers(k: [Int]) -> ColdStartConfig {
        var c = ColdStartConfig()
        c.protocol = .newUsers
        c.fraction = 1  // every device is a new user
        c.k = k
        return c
    }

    /// Device 0 rated, in time order, i0 = 5, i1 = 2 (the support window, k ≤ 2), then
    /// i2 = 4, i3 = 1 (the query). Device 1 has no query beyond the window: no task.
    /// μ = 3, b = [0.5, −0.5, 0.25, −1, 0], λ_u = 1.
    static func tiny() throws -> ColdStartBaselines {
        let split = try ColdStartSplit(config: newUsers(k: [0, 1, 2]), devices: 2, seed: 7)
        var fit = BiasBaseline.fit(train: [], items: 5, itemShrinkage: 0)
        fit.mu = 3
        fit.itemBias = [0.5, -0.5, 0.25, -1, 0]
        let d0 = Interactions(items: [0, 1, 2, 3], ratings: [5, 2, 4, 1], timestamps: [1, 2, 3, 4])
        let d1 = Interactions(items: [0, 4], ratings: [3, 3], timestamps: [1, 2])
        return ColdStartBaselines.score(
            split: split,
            devices: [(0, d0), (1, d1)],
            itemDomains: [],
            fit: fit,
            counts: [10, 9, 1, 5, 8],
            evaluator: Evaluator(k: 1, relevanceThreshold: 4, ranking: true, scale: 1...5),
            userShrinkage: 1,
            itemShrinkage: 0
        )
    }

    @Test func biasOnlyAdaptationMatchesTheClosedForm() throws {
        let b = try Self.tiny()
        let bias = try #require(b.biasOnly)
        // b_u = Σ_support (r − μ − b_i) / (k + λ_u); query predictions μ + b_u + b_i = 3.25 + b_u, 2 + b_u.
        let first: Double = 5 - 3 - 0.5
        let second: Double = 2 - 3 + 0.5
        let offsets: [Double] = [0, first / 2, (first + second) / 3]
        for (slot, bu) in offsets.enumerated() {
            let e1: Double = 3.25 + bu - 4
            let e2: Double = 2 + bu - 1
            #expect(bias[slot].devices == 1 && bias[slot].count == 2)
            #expect(abs(bias[slot].squaredError - (e1 * e1 + e2 * e2)) < 1e-5, "slot \(slot)")
            #expect(abs(bias[slot].absoluteError - (abs(e1) + abs(e2))) < 1e-5)  // scores are Float
            // Ranked by b_i over the items outside the window {i2, i3, i4}: i2 (the relevant one) first.
            #expect(bias[slot].rankedDevices == 1 && bias[slot].hit == 1 && bias[slot].ndcg == 1)
        }
        // k = 1 moves the offset to 0.75: the first query rating is then predicted exactly.
        #expect(abs(bias[1].squaredError - 1.75 * 1.75) < 1e-5)
        // Popularity ranks i4 (8 ratings) above i3 (5) and i2 (1): the relevant i2 misses the top 1.
        #expect(b.popularity.map(\.hit) == [0, 0, 0] && b.popularity.map(\.rankedDevices) == [1, 1, 1])
    }

    @Test func baselinesAppearBesideEveryK() throws {
        let b = try Self.tiny()
        let model = [0, 1, 2].map { k -> JSONObject in
            var o = JSONObject()
            o.add("k", k)
            o.add("rmse", 1.0)
            return o
        }
        let out = b.annotate(model, k: 1).map {
            try! JSONSerialization.jsonObject(with: Data($0.text.utf8)) as! [String: Any]
        }
        #expect(out.map { $0["k"] as? Int } == [0, 1, 2])
        for (slot, o) in out.enumerated() {
            let baselines = try #require(o["baselines"] as? [String: Any])
            let bias = try #require(baselines["bias_only_adaptation"] as? [String: Any])
            let s = b.biasOnly![slot]
            #expect(abs((bias["rmse"] as? Double ?? .nan) - (s.squaredError / 2).squareRoot()) < 1e-12)
            #expect(bias["ndcg@1"] as? Double == 1)
            let pop = try #require(baselines["popularity"] as? [String: Any])
            #expect(pop["hr@1"] as? Double == 0 && pop["rmse"] == nil)
        }
        // The file round trip keeps click models' missing bias-only adaptation (NaN λ_u too).
        var click = b
        click.biasOnly = nil
        click.userShrinkage = .nan
        let dir = RunDirectory(path: TestSupport.temporaryDirectory("cold-start-baselines"))
        try click.write(to: dir)
        let back = try #require(ColdStartBaselines.read(from: dir))
        #expect(back.biasOnly == nil && back.popularity == b.popularity && back.userShrinkage.isNaN)
    }

    /// On a synthetic population: one figure per k over the new users, the fit on warm
    /// training parts only, and a support that helps the bias-only prediction.
    @Test func measuredOnTheRunsNewUsers() throws {
        var s = TestSupport.tinyScenario(devices: 100, rounds: 1, perRound: 10)
        s.model.kind = .twoTower
        s.data.synthetic.minRatings = 25
        s.evaluation.coldStart.protocol = .newUsers
        s.evaluation.coldStart.fraction = 0.2
        s.evaluation.coldStart.k = [0, 5, 20]
        #expect(ColdStartBaselines.applies(s))
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let b = try ColdStartBaselines.measure(s, population: population, ratings: true)
        let bias = try #require(b.biasOnly)
        #expect(bias.count == 3 && b.popularity.count == 3)
        #expect(bias.allSatisfy { $0.devices == 20 } && b.popularity.allSatisfy { $0.devices == 20 })
        let rmse = bias.map { ($0.squaredError / Double($0.count)).squareRoot() }
        #expect(rmse[2] < rmse[0], "20 support ratings should beat none: \(rmse)")
        s.evaluation.coldStart.protocol = .temporal
        #expect(!ColdStartBaselines.applies(s))
    }
}
