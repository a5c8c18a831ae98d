import FedSimConfig

/// Applies a gradient to the rows a batch touched, then zeroes those gradient rows.
/// SGD, or Adam with bias correction applied lazily to touched rows (the usual sparse-Adam
/// treatment for embeddings); state lives for one local training session.
public struct SparseStep {
    let config: LocalTrainingConfig
    var mUser: [Float] = [], vUser: [Float] = []
    var mUB: [Float] = [], vUB: [Float] = []
    var mItem: [Float] = [], vItem: [Float] = []
    var mIB: [Float] = [], vIB: [Float] = []
    var mMu: Float = 0, vMu: Float = 0
    var t = 0

    public init(config: LocalTrainingConfig, shapeOf m: MFBlock<Float>) {
        self.config = config
        if config.optimizer == .adam {
            mUser = [Float](repeating: 0, count: m.user.count)
            vUser = mUser
            mUB = [Float](repeating: 0, count: m.userBias.count)
            vUB = mUB
            mItem = [Float](repeating: 0, count: m.item.count)
            vItem = mItem
            mIB = [Float](repeating: 0, count: m.itemBias.count)
            vIB = mIB
        }
    }

    public mutating func apply(
        _ m: inout MFBlock<Float>,
        _ g: inout MFBlock<Float>,
        users: [Int32],
        items: [Int32],
        range: Range<Int>,
        updateGlobalBias: Bool
    ) {
        let lr = Float(config.learningRate)
        let d = m.dim
        switch config.optimizer {
        case .sgd:
            for j in range {
                let u = Int(users[j])
                let i = Int(items[j])
                for f in 0..<d {
                    m.user[u * d + f] -= lr * g.user[u * d + f]
                    g.user[u * d + f] = 0
                }
                m.userBias[u] -= lr * g.userBias[u]
                g.userBias[u] = 0
                for f in 0..<d {
                    m.item[i * d + f] -= lr * g.item[i * d + f]
                    g.item[i * d + f] = 0
                }
                m.itemBias[i] -= lr * g.itemBias[i]
                g.itemBias[i] = 0
            }
            if updateGlobalBias { m.globalBias -= lr * g.globalBias }
            g.globalBias = 0
        case .adam:
            t += 1
            let b1 = Float(config.beta1)
            let b2 = Float(config.beta2)
            let eps = Float(config.epsilon)
            let c1 = 1 - powf(b1, Float(t))
            let c2 = 1 - powf(b2, Float(t))
            let a = lr * c2.squareRoot() / c1
            @inline(__always) func step(_ x: inout Float, _ gr: inout Float, _ mm: inout Float, _ vv: inout Float) {
                guard gr != 0 else { return }  // rows touched twice in a batch are stepped once
                mm = b1 * mm + (1 - b1) * gr
                vv = b2 * vv + (1 - b2) * gr * gr
                x -= a * mm / (vv.squareRoot() + eps)
                gr = 0
            }
            for j in range {
                let u = Int(users[j])
                let i = Int(items[j])
                for f in 0..<d { step(&m.user[u * d + f], &g.user[u * d + f], &mUser[u * d + f], &vUser[u * d + f]) }
                step(&m.userBias[u], &g.userBias[u], &mUB[u], &vUB[u])
                for f in 0..<d { step(&m.item[i * d + f], &g.item[i * d + f], &mItem[i * d + f], &vItem[i * d + f]) }
                step(&m.itemBias[i], &g.itemBias[i], &mIB[i], &vIB[i])
            }
            if updateGlobalBias { step(&m.globalBias, &g.globalBias, &mMu, &vMu) }
            g.globalBias = 0
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
