import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

@Suite struct SVDPPTests {
    /// A random one-user block in Double over 5 local items; the batch repeats items so the
    /// check covers accumulation into shared rows.
    func fixture(seed: UInt64) -> (SVDPPBlock<Double>, MFBatch) {
        var rng = Seeds.rng(seed, "svdpp-fixture")
        var m = SVDPPBlock<Double>(dim: 4, items: 5)
        for i in m.user.indices { m.user[i] = rng.nextGaussian() * 0.5 }
        for i in m.item.indices { m.item[i] = rng.nextGaussian() * 0.5 }
        for i in m.implicit.indices { m.implicit[i] = rng.nextGaussian() * 0.5 }
        for i in m.itemBias.indices { m.itemBias[i] = rng.nextGaussian() * 0.3 }
        m.userBias = 0.2
        m.globalBias = 3.4
        let items: [Int32] = [0, 1, 3, 1, 4, 2, 0]
        let ratings: [Float] = [4, 3, 5, 2, 1, 4, 3]
        return (m, MFBatch(users: [Int32](repeating: 0, count: items.count), items: items, ratings: ratings))
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func gradientMatchesFiniteDifferences(seed: UInt64) {
        let (m, b) = fixture(seed: seed)
        let l2 = 0.07
        for range in [0..<b.count, 2..<5] {
            let g = SVDPPKernel.gradient(m, b, range: range, l2: l2)
            var check = GradientChecker(at: m, gradient: g) { SVDPPKernel.loss($0, b, range: range, l2: l2) }
            check.field(\.user, "user")
            check.field(\.userBias, "user bias")
            check.field(\.item, "item")
            check.field(\.itemBias, "item bias")
            check.field(\.globalBias, "global bias")
            check.field(\.implicit, "implicit")
            #expect(check.checked == 4 + 1 + 20 + 5 + 1 + 20)
            #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt)")
        }
    }

    /// The implicit term matters: the y gradient is not zero, and it is the same direction
    /// for every row up to each row's own λy_j.
    @Test func everyImplicitRowSharesTheBatchDirection() {
        let (m, b) = fixture(seed: 4)
        let g = SVDPPKernel.gradient(m, b, range: 0..<b.count, l2: 0)
        #expect(g.implicit.contains { abs($0) > 1e-3 })
        for j in 1..<m.items {
            for f in 0..<m.dim { #expect(abs(g.implicit[j * m.dim + f] - g.implicit[f]) < 1e-12) }
        }
    }

    /// `ImplicitRows` (y_j = scale·y_j⁰ + shift) steps exactly like dense SGD on every y row,
    /// proximal pull included.
    @Test func lazyImplicitRowsStepLikeDenseSGD() {
        let (m, b) = fixture(seed: 5)
        let lr = 0.05
        let l2 = 0.1
        var dense = m  // only y moves, in both: p, q and the biases stay at m
        var rows = ImplicitRows(start: m.implicit, dim: m.dim)
        for range in [0..<3, 3..<6, 6..<7, 0..<7] {
            let g = SVDPPKernel.gradient(dense, b, range: range, l2: l2)
            for k in dense.implicit.indices { dense.implicit[k] -= lr * g.implicit[k] }
            for k in dense.implicit.indices { dense.implicit[k] -= 0.3 * (dense.implicit[k] - m.implicit[k]) }

            var u = rows.normalizedSum()
            for f in 0..<m.dim { u[f] += m.user[f] }
            var scratch = SVDPPBlock<Double>(dim: m.dim, items: m.items)
            var common = [Double](repeating: 0, count: m.dim)
            _ = SVDPPKernel.accumulateGradient(
                m,
                effective: u,
                b,
                range: range,
                l2: l2,
                into: &scratch,
                common: &common
            )
            rows.step(common: common, lr: lr, l2: l2)
            rows.pull(0.3)
            // The sum the next batch reads agrees with the dense rows.
            let expected = dense.effectiveUser()
            let got = rows.normalizedSum()
            for f in 0..<m.dim { #expect(abs(got[f] + dense.user[f] - expected[f]) < 1e-12) }
        }
        for j in 0..<m.items {
            let row = rows.row(m.implicit[(j * m.dim)..<((j + 1) * m.dim)])
            for f in 0..<m.dim { #expect(abs(row[f] - dense.implicit[j * m.dim + f]) < 1e-12) }
        }
        #expect(dense.implicit != m.implicit)
    }

    func trainer(weighting: TrainingConfig.Weighting = .perItem) -> SVDPPTrainer {
        var c = LocalTrainingConfig()
        c.epochs = 20
        c.learningRate = 0.05
        c.batchSize = 2
        return SVDPPTrainer(config: c, weighting: weighting, items: 6, dim: 3)
    }

    func deviceData() -> Interactions {
        Interactions(items: [0, 2, 2, 5], ratings: [5, 1, 2, 4], timestamps: [1, 2, 3, 4])
    }

    @Test func localTrainingReducesLossAndTouchesOnlyRatedRows() {
        let t = trainer()
        let shape = t.shape
        let shared = shape.initialShared(initStd: 0.1, globalBias: 3, seed: 1)
        var personal = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 1, device: 0)
        var rng = Xoshiro256(seed: 9)
        let data = deviceData()
        let before = SVDPPKernel.loss(
            shape.localBlock(shared: shared, personal: personal, items: [0, 2, 5]),
            MFBatch(users: [0, 0, 0, 0], items: [0, 1, 1, 2], ratings: data.ratings),
            range: 0..<4,
            l2: 0
        )
        let u = t.train(shared: shared, personal: &personal, data: data, rng: &rng)
        #expect(u.examples == 4)
        #expect(u.weightedDelta.count == shape.sharedCount && u.weights.count == shape.weightCount)
        for item in [1, 3, 4] {
            #expect(u.weightedDelta[(item * 3)..<(item * 3 + 3)].allSatisfy { $0 == 0 })
            let y = shape.implicitBase + item * 3
            #expect(u.weightedDelta[y..<(y + 3)].allSatisfy { $0 == 0 })
            #expect(shape.weightSlots(item: item).allSatisfy { u.weights[$0] == 0 })
        }
        // A y row carries the weight of its item's q row: the item's ratings on the device.
        #expect(shape.weightSlots(item: 2).allSatisfy { u.weights[$0] == 2 })
        #expect(shape.weightSlots(item: 5).allSatisfy { u.weights[$0] == 1 })
        #expect(u.weights[shape.globalWeightSlot] == 4)
        for item in [0, 2, 5] {
            let y = shape.implicitBase + item * 3
            #expect(u.weightedDelta[y..<(y + 3)].contains { $0 != 0 }, "y row of item \(item) moved")
        }
        var after = shared
        let slots = shape.layout.elementWeightSlots()
        for k in after.indices where u.weights[Int(slots[k])] > 0 {
            after[k] += u.weightedDelta[k] / u.weights[Int(slots[k])]
        }
        let trained = SVDPPKernel.loss(
            shape.localBlock(shared: after, personal: personal, items: [0, 2, 5]),
            MFBatch(users: [0, 0, 0, 0], items: [0, 1, 1, 2], ratings: data.ratings),
            range: 0..<4,
            l2: 0
        )
        #expect(trained < before / 4, "loss \(before) → \(trained)")
    }

    @Test func sameSeedSameUpdate() {
        let t = trainer(weighting: .examples)
        let shared = t.shape.initialShared(initStd: 0.1, globalBias: 3, seed: 2)
        var p1 = MatrixFactorization.initialPersonal(dim: 3, initStd: 0.1, seed: 2, device: 1)
        var p2 = p1
        var r1 = Xoshiro256(seed: 3)
        var r2 = Xoshiro256(seed: 3)
        let a = t.train(shared: shared, personal: &p1, data: deviceData(), rng: &r1)
        let b = t.train(shared: shared, personal: &p2, data: deviceData(), rng: &r2)
        #expect(a == b && p1 == p2)
        #expect(a.weights.allSatisfy { $0 == 4 })
    }
}
