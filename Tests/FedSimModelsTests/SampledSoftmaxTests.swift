import FedSimConfig
import FedSimCore
import FedSimData
import FedSimTestSupport
import Foundation
import Testing

@testable import FedSimModels

/// Sampled softmax on MF: the gradient against finite differences, its relation to BPR, and what
/// the device trains against.
@Suite struct SampledSoftmaxTests {
    func fixture() -> (MFBlock<Double>, SoftmaxBatch) {
        let m = MFBlock<Double>.randomized(tag: "softmax-fixture", seed: 12, items: 7)
        // Item 1 is a positive in one group and a negative in another, and group 2 draws
        // item 6 twice: every occurrence's term must add.
        let b = SoftmaxBatch(
            users: [0, 1, 0],
            positives: [1, 2, 4],
            negatives: [3, 5, 0, 1, 3, 0, 6, 6, 5],
            perPositive: 3
        )
        return (m, b)
    }

    func check(shift: Double) {
        let (m, b) = fixture()
        var g = MFBlock<Double>(dim: m.dim, users: m.users, items: m.items)
        let reported = SampledSoftmaxKernel.accumulateGradient(
            m,
            b,
            range: 0..<b.count,
            l2: 0.05,
            negativeShift: shift,
            into: &g
        )
        var check = GradientChecker(at: m, gradient: g) {
            SampledSoftmaxKernel.loss($0, b, range: 0..<b.count, l2: 0.05, negativeShift: shift)
        }
        check.field(\.user, "user")
        check.field(\.item, "item")
        check.field(\.itemBias, "item bias")
        #expect(check.worst < 1e-6, "worst relative error \(check.worst) at \(check.worstAt) (shift \(shift))")
        #expect(check.checked == m.user.count + m.item.count + m.itemBias.count)
        // μ and b_u shift every score alike and cancel in the softmax: no analytic gradient, and
        // the numeric one is round-off (a relative error against 0 would only measure that).
        #expect(g.globalBias == 0 && g.userBias == [0, 0])
        #expect(abs(check.numeric { $0.globalBias += $1 }) < 1e-8)
        for u in 0..<m.users { #expect(abs(check.numeric { $0.userBias[u] += $1 }) < 1e-8) }
        // The reported loss is the unregularised cross-entropy sum.
        let plain = SampledSoftmaxKernel.loss(m, b, range: 0..<b.count, l2: 0, negativeShift: shift) * Double(b.count)
        #expect(abs(reported - plain) < 1e-12)
    }

    @Test func gradientMatchesFiniteDifferences() { check(shift: 0) }

    @Test func gradientWithTheLogQShiftMatchesFiniteDifferences() { check(shift: 1.3) }

    /// With one negative and no shift, softmax over {i, j} is σ(s_i − s_j): the loss is BPR's.
    @Test func oneNegativeIsBPR() {
        let (m, _) = fixture()
        let s = SoftmaxBatch(users: [0, 1], positives: [1, 2], negatives: [3, 6], perPositive: 1)
        let p = BPRBatch(users: [0, 1], positives: [1, 2], negatives: [3, 6])
        let softmax = SampledSoftmaxKernel.loss(m, s, range: 0..<2, l2: 0)
        let bpr = BPRKernel.loss(m, p, range: 0..<2, l2: 0)
        #expect(abs(softmax - bpr) < 1e-12)
        // …and a shift makes the negatives weigh more: the loss rises.
        #expect(SampledSoftmaxKernel.loss(m, s, range: 0..<2, l2: 0, negativeShift: 2) > softmax + 0.1)
    }

    func train(
        _ config: LocalTrainingConfig,
        data: Interactions,
        items: Int,
        dim: Int
    ) -> (LocalUpdate, [Float], [Float]) {
        let trainer = LocalTrainer(config: config, weighting: .perItem, items: items, dim: dim)
        var shared = MatrixFactorization.initialShared(items: items, dim: dim, initStd: 0.1, globalBias: 3, seed: 1)
        var personal = MatrixFactorization.initialPersonal(dim: dim, initStd: 0.1, seed: 1, device: 0)
        var rng = Seeds.rng(3, "softmax-train")
        let u = trainer.train(shared: shared, personal: &personal, data: data, rng: &rng)
        for gi in 0..<items where u.weights[gi] > 0 {
            for f in 0..<dim { shared[gi * dim + f] += u.weightedDelta[gi * dim + f] / u.weights[gi] }
            shared[items * dim + gi] += u.weightedDelta[items * dim + gi] / u.weights[items + gi]
        }
        return (u, shared, personal)
    }

    /// Trained with sampled softmax alone, a device's interacted items rise above the rest.
    @Test func softmaxTrainingRanksInteractedItemsAboveOthers() {
        var config = LocalTrainingConfig()
        config.loss = .sampledSoftmax
        config.epochs = 30
        config.learningRate = 0.1
        config.negatives = 4
        let (items, dim) = (30, 4)
        let data = Interactions(items: [3, 8, 15, 21], ratings: [1, 2, 5, 4], timestamps: [0, 0, 0, 0])
        let (u, shared, personal) = train(config, data: data, items: items, dim: dim)
        func score(_ i: Int) -> Float { mfScore(i, shared: shared, personal: personal, items: items, dim: dim) }
        let worstPositive = data.items.map { score(Int($0)) }.min()!
        let others = (0..<items).filter { !data.items.contains(Int32($0)) }.map(score)
        #expect(others.filter { $0 >= worstPositive }.count == 0)
        #expect(u.weights.prefix(items).filter { $0 > 0 }.count > data.count)
        #expect(u.weightedDelta[items * dim + items] == 0)  // μ gets no gradient
    }

    /// With positive_threshold 4, the items rated 1 and 2 are neither positives nor negatives:
    /// their rows do not move, while the 4 and 5 rise.
    @Test func positiveThresholdLeavesLowRatedItemsOut() {
        var config = LocalTrainingConfig()
        config.loss = .sampledSoftmax
        config.epochs = 10
        config.negatives = 4
        config.positiveThreshold = 4
        let (items, dim) = (30, 4)
        let data = Interactions(items: [3, 8, 15, 21], ratings: [1, 2, 5, 4], timestamps: [0, 0, 0, 0])
        let (u, _, _) = train(config, data: data, items: items, dim: dim)
        for low in [3, 8] {
            #expect((0..<dim).allSatisfy { u.weightedDelta[low * dim + $0] == 0 })
            #expect(u.weightedDelta[items * dim + low] == 0)
        }
        for high in [15, 21] { #expect(u.weightedDelta[items * dim + high] > 0) }
        // Without the threshold the low-rated items are positives too.
        config.positiveThreshold = 0
        let (all, _, _) = train(config, data: data, items: items, dim: dim)
        #expect(all.weightedDelta[items * dim + 3] > 0)
    }

    /// `mse+sampled_softmax` is the sum of its two terms, and with a threshold the low-rated
    /// interaction is fitted by squared error only; the step covers every row either touched.
    @Test func jointObjectiveAddsBothTermsOverTheirRows() {
        var rng = Seeds.rng(5, "joint")
        var m = MFBlock<Float>(dim: 3, users: 1, items: 8)
        for i in m.user.indices { m.user[i] = Float(rng.nextGaussian()) }
        for i in m.item.indices { m.item[i] = Float(rng.nextGaussian()) }
        m.globalBias = 3
        let batch = MFBatch(users: [0, 0, 0], items: [0, 1, 2], ratings: [5, 2, 4])
        let drawn: [Int32] = [3, 4, 5, 6, 7, 3]  // two per interaction
        func gradient(_ loss: LocalTrainingConfig.Loss) -> (MFBlock<Float>, MFObjective.Step) {
            var g = MFBlock<Float>(dim: 3, users: 1, items: 8)
            let o = MFObjective(loss: loss, negatives: 2, positiveThreshold: 4)
            let step = o.accumulate(m, batch, negatives: drawn, range: 0..<3, l2: 0.01, into: &g)
            return (g, step)
        }
        let (joint, step) = gradient(.mseSampledSoftmax)
        let (mse, _) = gradient(.mse)
        let (softmax, softmaxStep) = gradient(.sampledSoftmax)
        for (a, (b, c)) in zip(joint.item, zip(mse.item, softmax.item)) { #expect(abs(a - (b + c)) < 1e-6) }
        for (a, (b, c)) in zip(joint.user, zip(mse.user, softmax.user)) { #expect(abs(a - (b + c)) < 1e-6) }
        // Item 1 (rated 2) is no positive: only squared error moves it; its negatives (5, 6) are unused.
        #expect(softmax.itemBias[1] == 0 && mse.itemBias[1] != 0)
        #expect(softmax.itemBias[5] == 0 && softmax.itemBias[6] == 0 && softmax.itemBias[7] != 0)
        #expect(Set(step.items[step.range]) == [0, 1, 2, 3, 4, 7])
        #expect(Set(softmaxStep.items[softmaxStep.range]) == [0, 2, 3, 4, 7])
    }

    /// The device's logQ shift is log(U/m) under uniform sampling, and only with the key on.
    @Test func logQShiftIsKnownOnTheDevice() {
        var config = LocalTrainingConfig()
        config.loss = .sampledSoftmax
        config.negatives = 4
        #expect(MFObjective(config, unrated: 400).negativeShift == 0)
        config.logqCorrection = true
        #expect(abs(MFObjective(config, unrated: 400).negativeShift - Float(log(100.0))) < 1e-6)
        config.loss = .bpr
        #expect(MFObjective(config, unrated: 400).negativeShift == 0)
    }
}
