import FedSimCore

@testable import FedSimModels

extension TwoTowerBlock<Double> {
    /// Fills every parameter group with small Gaussians from `rng` in one fixed order (the
    /// gradient checks of the rating, ranking and Meta-SGD kernels share it), and sets μ = 3.1.
    /// `offset: false` leaves the personal offset at 0, as the Meta-SGD checks adapt from it.
    mutating func randomise(_ rng: inout Xoshiro256, offset: Bool = true) {
        for i in item.indices { item[i] = rng.nextGaussian() * 0.5 }
        for i in itemBias.indices { itemBias[i] = rng.nextGaussian() * 0.3 }
        for i in prior.indices { prior[i] = rng.nextGaussian() * 0.5 }
        for i in features.indices { features[i] = rng.nextGaussian() * 0.4 }
        for i in category.indices { category[i] = rng.nextGaussian() * 0.4 }
        for i in adapter.indices { adapter[i] = rng.nextGaussian() * 0.3 }
        for i in adapterPrior.indices { adapterPrior[i] = rng.nextGaussian() * 0.2 }
        if offset { for i in self.offset.indices { self.offset[i] = rng.nextGaussian() * 0.3 } }
        globalBias = 3.1
    }
}
