extension TwoTowerKernel {
    /// Adds coef · ∂s/∂θ of one candidate into `g` (its rows) and `gu` (the user tower), plus
    /// `rs` times its rows (their L2 gradient). s is the item side of the score (without μ and
    /// the user-tower bias); the squared-error kernel calls it with coef = error/B, the ranking
    /// kernel with each term's coefficient, so both share one backward pass of the item side.
    @inlinable @inline(__always)
    static func addCandidate<T: BinaryFloatingPoint>(
        _ m: TwoTowerBlock<T>,
        _ u: [T],
        _ i: Int,
        _ c: Int,
        _ a: Int,
        coef: T,
        rs: T,
        gu: inout [T],
        into g: inout TwoTowerBlock<T>
    ) {
        let d = m.dim
        let e = d + 1
        let w = 2 * d + 1
        let prior = !m.adapterPrior.isEmpty
        for f in 0..<d {
            var base = m.item[i * d + f]
            if c >= 0 { base += m.category[c * e + f] }
            var v = base
            var gBase = coef * u[f]
            if a >= 0 {
                let gamma = m.adapterValue(a, f)
                v = base * (1 + gamma) + m.adapterValue(a, d + f)
                g.adapter[a * w + f] += coef * u[f] * base
                g.adapter[a * w + d + f] += coef * u[f]
                if prior {
                    g.adapterPrior[f] += coef * u[f] * base
                    g.adapterPrior[d + f] += coef * u[f]
                }
                gBase = coef * u[f] * (1 + gamma)
            }
            gu[f] += coef * v
            g.item[i * d + f] += gBase + rs * m.item[i * d + f]
            if c >= 0 { g.category[c * e + f] += gBase + rs * m.category[c * e + f] }
        }
        g.itemBias[i] += coef + rs * m.itemBias[i]
        if c >= 0 { g.category[c * e + d] += coef + rs * m.category[c * e + d] }
        if a >= 0 {
            g.adapter[a * w + 2 * d] += coef
            for f in 0..<w { g.adapter[a * w + f] += rs * m.adapter[a * w + f] }
            if prior {
                g.adapterPrior[2 * d] += coef
                for f in 0..<w { g.adapterPrior[f] += rs * m.adapterPrior[f] }
            }
        }
    }
}
