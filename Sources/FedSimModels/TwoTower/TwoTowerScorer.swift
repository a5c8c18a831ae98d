import FedSimConfig
import FedSimData

/// Scores any item of the catalogue for one user: the full-ranking side of evaluation. The
/// user tower and the domain adapters may come from an on-device adaptation; item rows
/// always come from the shared model (adaptation never changes them).
public struct TwoTowerScorer {
    public let shape: TwoTowerShape
    let shared: [Float]
    public let user: [Float]
    let adapters: [Float]  // domains × (2d + 1)
    let categories: [Float]  // categories × (d + 1): the shared rows, or the device's adapted ones
    let itemCategories: [Int32], itemDomains: [Int32]

    public init(
        shape: TwoTowerShape,
        shared: [Float],
        user: [Float],
        adapted: [Int: [Float]] = [:],
        adaptedCategories: [Int: [Float]] = [:],
        itemCategories: [Int32],
        itemDomains: [Int32]
    ) {
        self.shape = shape
        self.shared = shared
        self.user = user
        let e = shape.dim + 1
        var c = Array(shared[shape.category..<(shape.category + shape.categories * e)])
        for (cat, row) in adaptedCategories where cat < shape.categories {
            c.replaceSubrange((cat * e)..<(cat * e + e), with: row)
        }
        categories = c
        let w = 2 * shape.dim + 1
        var a = Array(shared[shape.adapters..<(shape.adapters + shape.domains.count * w)])
        for (dom, row) in adapted where dom < shape.domains.count {
            a.replaceSubrange((dom * w)..<(dom * w + w), with: row)
        }
        if shape.hasAdapterPrior {
            // Every domain's adapter is an offset from the shared prior.
            for dom in 0..<shape.domains.count { for f in 0..<w { a[dom * w + f] += shared[shape.adapterPrior + f] } }
        }
        adapters = a
        self.itemCategories = itemCategories
        self.itemDomains = itemDomains
    }

    public func score(_ i: Int) -> Float {
        let s = shape
        let d = s.dim
        let e = d + 1
        let w = 2 * d + 1
        let c = s.categories > 0 && i < itemCategories.count ? Int(itemCategories[i]) : -1
        let hasC = c >= 0 && c < s.categories
        let a = s.domains.isEmpty || i >= itemDomains.count ? -1 : Int(itemDomains[i])
        var r = shared[s.globalBias] + user[d] + shared[s.itemBias + i]
        if hasC { r += categories[c * e + d] }
        if a >= 0 { r += adapters[a * w + 2 * d] }
        for f in 0..<d {
            var base = shared[s.item + i * d + f]
            if hasC { base += categories[c * e + f] }
            let v = a >= 0 ? base * (1 + adapters[a * w + f]) + adapters[a * w + d + f] : base
            r += user[f] * v
        }
        return r
    }
}

extension TwoTowerTrainer {
    /// Adapts a user on `support` (steps, learning rate and groups from `adaptation`), starting
    /// from `offset`, and returns the scorer of the adapted model. With no support (k = 0) or
    /// no steps it scores the received model as is.
    public func adaptedScorer(
        shared: [Float],
        offset: [Float]? = nil,
        support: Interactions,
        features: [Int32],
        adaptation: AdaptationConfig
    ) -> TwoTowerScorer {
        var v = view(shared: shared, offset: offset ?? zeroOffset, data: support, features: features)
        if v.rates.isEmpty {
            adapt(
                &v.block,
                v.examples,
                Array(0..<support.count),
                steps: adaptation.steps,
                lr: adaptation.learningRate(support: support.count),
                mask: Self.mask(adaptation.groups)
            )
        } else {
            // Meta-SGD: the learned loop, on the groups it learned rates for (the config makes
            // them adaptation's groups), with the same support-size shrinkage as in training.
            _ = TwoTowerMetaSGD.adapt(
                &v.block,
                v.examples,
                steps: adaptation.steps,
                rates: v.rates,
                scale: Float(adaptation.learningRate(support: support.count) / adaptation.learningRate),
                l2: Float(local.l2)
            )
        }
        return TwoTowerScorer(
            shape: shape,
            shared: shared,
            user: v.block.userTower(),
            adapted: v.adaptedAdapters,
            adaptedCategories: v.adaptedCategories,
            itemCategories: itemCategories,
            itemDomains: itemDomains
        )
    }
}
