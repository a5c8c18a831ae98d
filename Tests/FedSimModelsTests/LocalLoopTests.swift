import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import Testing

/// The shared local loop and FedProx's proximal term, through each model's real trainer.
@Suite struct LocalLoopTests {
    let data = Interactions(items: [1, 4, 7, 9, 4, 2], ratings: [5, 4, 5, 3, 2, 4], timestamps: [1, 2, 3, 4, 5, 6])

    func local(mu: Double) -> LocalTrainingConfig {
        var c = LocalTrainingConfig()
        c.epochs = 3
        c.batchSize = 2
        c.learningRate = 0.1
        c.proximalMu = mu
        return c
    }

    func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// With η·μ = 1 each batch ends back at the round's start: no federated parameter moves,
    /// while the personal ones still train. A smaller μ moves them less than plain FedAvg.
    @Test func proximalTermHoldsMFAtTheRoundsStart() {
        let shared = MatrixFactorization.initialShared(items: 12, dim: 3, initStd: 0.3, globalBias: 3, seed: 1)
        func train(_ mu: Double) -> (LocalUpdate, [Float]) {
            var personal = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.3, seed: 1, device: 0)
            var rng = Xoshiro256(seed: 5)
            let u = LocalTrainer(config: local(mu: mu), weighting: .examples, items: 12, dim: 3)
                .train(shared: shared, personal: &personal, data: data, rng: &rng)
            return (u, personal)
        }
        let start = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.3, seed: 1, device: 0)
        let (plain, _) = train(0)
        let (half, _) = train(5)
        let (snapped, personal) = train(10)
        #expect(snapped.weightedDelta.allSatisfy { abs($0) < 1e-6 })
        #expect(personal != start)
        #expect(norm(half.weightedDelta) < norm(plain.weightedDelta) && norm(half.weightedDelta) > 0)
        #expect(snapped.trainLoss > 0)
    }

    @Test func proximalTermHoldsDeepFMAtTheRoundsStart() {
        let shape = DeepFMShape(items: 12, dim: 3, hidden: 4, userFeatures: 0, categories: 0, domains: [])
        let shared = shape.initialShared(initStd: 0.3, seed: 2)
        func train(_ mu: Double) -> (LocalUpdate, [Float]) {
            var personal = shape.initialPersonal(initStd: 0.3, seed: 2, device: 0)
            var rng = Xoshiro256(seed: 6)
            let t = DeepFMTrainer(
                shape: shape,
                local: local(mu: mu),
                weighting: .examples,
                negatives: 1,
                itemCategories: [],
                itemDomains: []
            )
            return (t.train(shared: shared, personal: &personal, data: data, features: [], rng: &rng), personal)
        }
        let (plain, _) = train(0)
        let (half, _) = train(5)
        let (snapped, personal) = train(10)
        #expect(snapped.weightedDelta.allSatisfy { abs($0) < 1e-6 })
        #expect(personal != shape.initialPersonal(initStd: 0.3, seed: 2, device: 0))
        #expect(norm(half.weightedDelta) < norm(plain.weightedDelta) && norm(half.weightedDelta) > 0)
    }

    @Test func proximalTermHoldsTwoTowerAtTheRoundsStart() {
        let shape = TwoTowerShape(
            items: 12,
            dim: 3,
            userFeatures: 0,
            categories: 2,
            domains: ["a", "b"],
            adapters: true
        )
        let shared = shape.initialShared(initStd: 0.3, globalBias: 3, seed: 3)
        let cats: [Int32] = (0..<12).map { Int32($0 % 2) }
        let doms: [Int32] = (0..<12).map { Int32($0 / 6) }
        func train(_ mu: Double) -> LocalUpdate {
            var p = PersonalizationConfig()
            p.strategy = .fedper
            let t = TwoTowerTrainer(
                shape: shape,
                local: local(mu: mu),
                weighting: .examples,
                personalization: p,
                meta: MetaConfig(),
                itemCategories: cats,
                itemDomains: doms
            )
            var personal = t.zeroOffset
            var rng = Xoshiro256(seed: 7)
            return t.train(shared: shared, personal: &personal, data: data, features: [], rng: &rng)
        }
        let plain = train(0)
        let half = train(5)
        let snapped = train(10)
        #expect(snapped.weightedDelta.allSatisfy { abs($0) < 1e-6 })
        #expect(norm(half.weightedDelta) < norm(plain.weightedDelta) && norm(half.weightedDelta) > 0)
    }

    /// One pass is a shuffle continued from the previous pass, cut into batches of the size asked.
    @Test func batchesCoverEachPassOnce() {
        var c = LocalTrainingConfig()
        c.epochs = 2
        c.batchSize = 3
        let loop = LocalLoop(c)
        #expect(loop.batches(7) == [0..<3, 3..<6, 6..<7])
        var seen: [[Int]] = []
        var rng = Xoshiro256(seed: 1)
        let mean = loop.run(Array(0..<7), rng: &rng) { order in
            seen.append(order)
            return 14
        }
        #expect(seen.count == 2 && seen.allSatisfy { $0.sorted() == Array(0..<7) } && seen[0] != seen[1])
        #expect(mean == 2)
    }
}
