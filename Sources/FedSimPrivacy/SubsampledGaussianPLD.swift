#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One round of the Poisson-subsampled Gaussian mechanism (rate q, noise multiplier σ,
/// sensitivity 1) as a pair of privacy-loss distributions, add-or-remove adjacency, in
/// dp_accounting's coordinates (noise μ = N(0, σ²)):
/// - **remove**: P = (1−q)·N(0,σ²) + q·N(−1,σ²) against Q = N(0,σ²); the loss at x is
///   L_R(x) = log(1 − q + q·e^{ℓ(x)}) with ℓ(x) = (−½ − x)/σ², decreasing in x.
/// - **add**: P = N(0,σ²) against Q = (1−q)·N(0,σ²) + q·N(1,σ²); L_A(x) = −L_R(−x).
/// With q = 1 the two coincide.
///
/// Everything is computed in log space, because the quantities span hundreds of orders of
/// magnitude at small σ: the hockey stick δ(ε) = P[X ≤ x_ε] − e^ε·Q[X ≤ x_ε] (x_ε the
/// inverse loss) is exp(log P)·(−expm1(log(e^ε Q) − log P)), with log Φ from log-erfc in the
/// far tail, and losses via log1p/expm1. The old linear-space version lost every digit of
/// δ near ε ≈ −60 at q = 1, σ = 0.3, and the corrupted slopes zeroed the whole PLD (ε = 0).
struct SubsampledGaussianPLD {
    let q: Double
    let σ: Double

    /// The noise is truncated at its 0.5·e^{−50} quantile, as dp_accounting does
    /// (log_mass_truncation_bound = −50): −Φ⁻¹(0.5·e^{−50}) = 9.745474864965935.
    static let zTrunc = 9.745474864965935

    /// L_R(x) = log(1 − q + q·e^{ℓ}), stable for ℓ of either sign and any size.
    func removeLoss(_ x: Double) -> Double {
        let l0 = (-0.5 - x) / (σ * σ)
        if l0 > 0 { return l0 + log(q + (1 - q) * exp(-l0)) }
        if l0 > -1 { return log1p(q * expm1(l0)) }
        return LogMath.add(log1p(-q), log(q) + l0)  // expm1(l0) → −1 would cancel at q = 1
    }

    /// The loss support [ε_lower, ε_upper] after truncating the noise at ±σ·zTrunc (beyond
    /// the shifted component on the sampled side). The same interval length in both directions.
    func lossRange(removal: Bool) -> (lower: Double, upper: Double) {
        let top = removeLoss(-σ * Self.zTrunc - 1)
        let bottom = removeLoss(σ * Self.zTrunc)
        return removal ? (bottom, top) : (-top, -bottom)
    }

    /// The width of one round's loss support, which sets the discretisation.
    var lossWidth: Double { removeLoss(-σ * Self.zTrunc - 1) - removeLoss(σ * Self.zTrunc) }

    /// log Φ(z), Φ the standard normal CDF: log(½·erfc(−z/√2)) with log-erfc in the lower
    /// tail, log1p(−½·erfc(z/√2)) in the upper one.
    static func logPhi(_ z: Double) -> Double {
        z < 0 ? log(0.5) + LogMath.logErfc(-z / 2.0.squareRoot()) : log1p(-0.5 * erfc(z / 2.0.squareRoot()))
    }

    /// The exact hockey-stick divergence δ(ε) of one round in one direction.
    func delta(_ ε: Double, removal: Bool) -> Double {
        let s = σ
        let logq = log(q)
        let log1mq = log1p(-q)
        let lu: Double
        let ll: Double  // log P[X ≤ x], log(e^ε·Q[X ≤ x])
        if removal {
            if q < 1 && ε <= log1mq { return -expm1(ε) }
            // ℓ = log(1 + (e^ε − 1)/q), the loss without subsampling; x = −½ − ℓσ².
            let l0 = ε > 1 ? ε + log1p((q - 1) * exp(-ε)) - logq : log1p(expm1(ε) / q)
            let x = -0.5 - l0 * s * s
            lu = LogMath.add(log1mq + Self.logPhi(x / s), logq + Self.logPhi((x + 1) / s))
            ll = ε + Self.logPhi(x / s)
        } else {
            if q < 1 && ε >= -log1mq { return 0 }
            // ℓ = −log(1 + (e^{−ε} − 1)/q); x = ½ − ℓσ².
            let l0 = -ε > 1 ? ε - log1p((q - 1) * exp(ε)) + logq : -log1p(expm1(-ε) / q)
            let x = 0.5 - l0 * s * s
            lu = Self.logPhi(x / s)
            ll = ε + LogMath.add(log1mq + Self.logPhi(x / s), logq + Self.logPhi((x - 1) / s))
        }
        guard lu > ll else { return 0 }
        return min(1, exp(lu) * -expm1(ll - lu))
    }

    /// The pessimistic **connect-the-dots** PLD (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi
    /// 2022, Algorithm 1) on the grid ε_k = k·h covering the loss support: the discrete
    /// distribution whose hockey-stick curve, as a function of e^ε, is the chord through the
    /// exact δ(ε_k). With δ_k non-increasing and d_k = δ_{k+1} − δ_k,
    ///   p_0 = 1 − δ_0 + d_0/(e^h − 1),  p_k = (d_k − e^h·d_{k−1})/(e^h − 1),
    ///   p_{n−1} = d_{n−2}/(e^{−h} − 1),  mass at +∞ = δ_{n−1}.
    /// Returns nil when the support is not finite (σ so small that ℓ overflows).
    func discretised(removal: Bool, h: Double) -> DiscretePLD? {
        let (lo, hi) = lossRange(removal: removal)
        guard lo.isFinite && hi.isFinite else { return nil }
        let kLo = (lo / h).rounded(.down)
        let kHi = (hi / h).rounded(.up)
        precondition(kHi - kLo < Double(1 << 26), "PLD discretisation \(h) is too fine for q = \(q), σ = \(σ)")
        let iLo = Int(kLo)
        let n = Int(kHi) - iLo + 1
        var d = [Double](repeating: 0, count: n)
        var running = 1.0
        for k in 0..<n {
            running = min(running, delta(Double(iLo + k) * h, removal: removal))
            d[k] = running
        }
        if n == 1 { return DiscretePLD(h: h, offset: iLo, pmf: [1 - d[0]], infinityMass: d[0]) }
        let em1 = expm1(h)
        let e = exp(h)
        var p = [Double](repeating: 0, count: n)
        p[0] = 1 - d[0] + (d[1] - d[0]) / em1
        if n > 2 { for k in 1..<(n - 1) { p[k] = ((d[k + 1] - d[k]) - e * (d[k] - d[k - 1])) / em1 } }
        p[n - 1] = (d[n - 1] - d[n - 2]) / expm1(-h)
        for k in 0..<n where p[k] < 0 { p[k] = 0 }
        return DiscretePLD(h: h, offset: iLo, pmf: p, infinityMass: d[n - 1])
    }
}
