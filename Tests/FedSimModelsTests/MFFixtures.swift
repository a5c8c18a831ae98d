import FedSimCore

@testable import FedSimModels

extension MFBlock<Double> {
    /// A small MF block with Gaussian rows and item biases (seeded by `tag`), user biases 0.3
    /// and −0.2 and a global bias of 3.5: the fixture of the ranking-loss gradient checks.
    static func randomized(tag: String, seed: UInt64, items: Int) -> MFBlock<Double> {
        var rng = Seeds.rng(seed, tag)
        var m = MFBlock<Double>(dim: 3, users: 2, items: items)
        for i in m.user.indices { m.user[i] = rng.nextGaussian() }
        for i in m.item.indices { m.item[i] = rng.nextGaussian() }
        for i in m.itemBias.indices { m.itemBias[i] = rng.nextGaussian() }
        m.userBias = [0.3, -0.2]
        m.globalBias = 3.5
        return m
    }
}

/// The device's MF score of item i from the flat shared vector (item rows, then item biases)
/// and its personal user vector, as the ranking-loss training tests read it.
func mfScore(_ i: Int, shared: [Float], personal: [Float], items: Int, dim: Int) -> Float {
    var s = shared[items * dim + i]
    for f in 0..<dim { s += personal[f] * shared[i * dim + f] }
    return s
}
