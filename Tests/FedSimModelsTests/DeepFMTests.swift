import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimTestSupport
import Testing

@Suite struct DeepFMTests {
    /// 7 rows, 4 fields (one absent in some examples), hidden 5; labels mixed.
    func fixture(seed: UInt64) -> (DeepFMBlock<Double>, DeepFMExamples) {
        var rng = Xoshiro256(seed: seed)
        var m = DeepFMBlock<Double>(dim: 3, fields: 4, hidden: 5, rows: 7)
        for i in m.rows.indices { m.rows[i] = rng.nextGaussian() * 0.5 }
        for i in m.w1.indices { m.w1[i] = rng.nextGaussian() * 0.5 }
        for i in m.b1.indices { m.b1[i] = rng.nextGaussian() * 0.3 }
        for i in m.out.indices { m.out[i] = rng.nextGaussian() * 0.5 }
        m.bias = -0.2
        var x = DeepFMExamples(fields: 4)
        x.append([0, 1, 3, 5], label: 1)
        x.append([0, 2, 4, -1], label: 0)
        x.append([0, 1, 6, 5], label: 0)
        x.append([0, -1, 3, 5], label: 1)
        x.append([0, 2, 6, -1], label: 1)
        return (m, x)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func gradientMatchesFiniteDifferences(seed: UInt64) {
        let (m, x) = fixture(seed: seed)
        let l2 = 0.05
        var g = m.zeros()
        _ = DeepFMKernel.accumulateGradient(m, x, range: 0..<x.count, l2: l2, into: &g)
        var check = GradientChecker(at: m, gradient: g) { DeepFMKernel.loss($0, x, range: 0..<x.count, l2: l2) }
        for f in [\DeepFMBlock<Double>.rows, \.w1, \.b1, \.out] { check.field(f) }
        check.field(\.bias, "bias")
        #expect(check.worst < 1e-5, "worst relative error \(check.worst) at \(check.worstAt)")
    }

    /// The scorer's full-catalogue logits equal the kernel's on the same fields.
    @Test func scorerAgreesWithTheKernel() {
        let shape = DeepFMShape(items: 20, dim: 4, hidden: 6, userFeatures: 2, categories: 3, domains: ["a", "b"])
        let cats: [Int32] = (0..<20).map { Int32($0 % 3) }
        let doms: [Int32] = (0..<20).map { Int32($0 / 10) }
        var local = LocalTrainingConfig()
        local.epochs = 1
        let t = DeepFMTrainer(
            shape: shape,
            local: local,
            weighting: .perItem,
            negatives: 2,
            itemCategories: cats,
            itemDomains: doms
        )
        var shared = shape.initialShared(initStd: 0.3, seed: 4)
        for i in shared.indices where shared[i] == 0 { shared[i] = 0.01 * Float(i % 7) }  // non-zero linear weights too
        let personal = shape.initialPersonal(initStd: 0.3, seed: 4, device: 1)
        let score = t.scorer(shared: shared, personal: personal, features: [1, 5])
        // The same example through the kernel: rows copied by hand.
        let e = 5
        var m = DeepFMBlock<Float>(dim: 4, fields: shape.fields, hidden: 6, rows: 6)
        func copy(_ to: Int, _ from: Int) { for f in 0..<e { m.rows[to * e + f] = shared[from + f] } }
        for f in 0..<e { m.rows[f] = personal[f] }
        copy(1, shape.features + 1 * e)
        copy(2, shape.features + (32 + 5) * e)
        let item = 13
        copy(3, shape.item + item * e)
        copy(4, shape.category + (item % 3) * e)
        copy(5, shape.domain + 1 * e)
        m.w1 = Array(shared[shape.w1..<(shape.w1 + 6 * shape.fields * 4)])
        m.b1 = Array(shared[shape.b1..<(shape.b1 + 6)])
        m.out = Array(shared[shape.out..<(shape.out + 6)])
        m.bias = shared[shape.bias]
        var x = DeepFMExamples(fields: shape.fields)
        x.append([0, 1, 2, 3, 4, 5], label: 1)
        #expect(abs(score(item) - DeepFMKernel.logit(m, x, 0)) < 1e-4)
    }

    /// Training raises the logits of the device's items above the others (a 10-item catalogue,
    /// so 5 negatives per positive cover it), and the user row (personal) is not part of the update.
    @Test func trainingSeparatesPositivesAndKeepsTheUserRowLocal() {
        let shape = DeepFMShape(items: 10, dim: 4, hidden: 8, userFeatures: 1, categories: 0, domains: ["x"])
        var local = LocalTrainingConfig()
        local.epochs = 30
        local.learningRate = 0.1
        let t = DeepFMTrainer(
            shape: shape,
            local: local,
            weighting: .examples,
            negatives: 5,
            itemCategories: [],
            itemDomains: [Int32](repeating: 0, count: 10)
        )
        var shared = shape.initialShared(initStd: 0.1, seed: 1)
        var personal = shape.initialPersonal(initStd: 0.1, seed: 1, device: 0)
        let before = personal
        let data = Interactions(items: [1, 4, 7, 9], ratings: [5, 4, 5, 3], timestamps: [1, 2, 3, 4])
        var rng = Xoshiro256(seed: 2)
        let u = t.train(shared: shared, personal: &personal, data: data, features: [2], rng: &rng)
        #expect(u.weightedDelta.count == shape.layout.count)
        #expect(!shape.layout.tensors.contains { $0.group == .personal })
        #expect(personal != before)
        for i in shared.indices { shared[i] += u.weightedDelta[i] / 4 }
        let score = t.scorer(shared: shared, personal: personal, features: [2])
        let pos = [1, 4, 7, 9].map(score).reduce(0, +) / 4
        let neg = (0..<10).filter { ![1, 4, 7, 9].contains($0) }.map(score).max()!
        #expect(pos > neg + 0.5, "positives' mean logit \(pos), best other item \(neg)")
    }
}
