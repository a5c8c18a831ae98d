#if canImport(Glibc)
import Glibc
#endif

/// A privacy-loss distribution on the grid {k·h}: probability `pmf[i]` at loss (offset + i)·h,
/// plus mass at +∞. δ(ε) = ∞-mass + Σ_{l > ε} p_l (1 − e^{ε − l}).
public struct DiscretePLD: Sendable {
    public var h: Double
    public var offset: Int
    public var pmf: [Double]
    public var infinityMass: Double

    /// The smallest ε with δ(ε) ≤ `delta` (exact for the discrete distribution).
    ///
    /// Walking down from the top, on [l_i, l_{i+1}) we have δ(ε) = ∞ + a − e^{ε − l_i}·b, with
    /// a = Σ_{j>i} p_j and b = Σ_{j>i} p_j e^{l_i − l_j} kept relative to l_i, so nothing
    /// underflows even when ε is in the hundreds.
    public func epsilon(delta: Double) -> Double {
        if infinityMass > delta { return .infinity }
        var a = 0.0, b = 0.0
        let decay = exp(-h)
        var i = pmf.count - 1
        while i >= 0 {
            let l = Double(offset + i) * h
            if b > 0 {
                // δ(l_i) = ∞ + a − b. Above the target: the answer is inside this interval.
                let x = (infinityMass + a - delta) / b  // e^{ε − l_i}
                if x > 1 { return max(0, l + log(x)) }
            }
            // Move the interval down by one grid step.
            a += pmf[i]
            b = (b + pmf[i]) * decay
            i -= 1
        }
        // Below the support, δ(ε) = ∞ + a − e^{ε − l_0 + h}·b: solve there.
        let l0 = Double(offset - 1) * h
        if b > 0 { return max(0, l0 + log((infinityMass + a - delta) / b)) }
        return 0
    }

    /// Drops tail mass (≤ τ on each side) pessimistically: the lower tail moves up onto the
    /// first kept point, the upper tail goes to +∞.
    mutating func truncate(tail τ: Double) {
        var lo = 0, acc = 0.0
        while lo < pmf.count - 1 && acc + pmf[lo] <= τ { acc += pmf[lo]; lo += 1 }
        var hi = pmf.count - 1, up = 0.0
        while hi > lo && up + pmf[hi] <= τ { up += pmf[hi]; hi -= 1 }
        var kept = Array(pmf[lo...hi])
        kept[0] += acc
        infinityMass += up
        offset += lo
        pmf = kept
    }

    public func composed(with other: DiscretePLD, tail τ: Double) -> DiscretePLD {
        precondition(h == other.h)
        var out = DiscretePLD(h: h, offset: offset + other.offset, pmf: FFT.convolve(pmf, other.pmf),
                              infinityMass: 1 - (1 - infinityMass) * (1 - other.infinityMass))
        out.truncate(tail: τ)
        return out
    }

    public func selfComposed(_ count: Int, tail τ: Double) -> DiscretePLD {
        precondition(count >= 1)
        var result: DiscretePLD?
        var base = self
        var n = count
        while n > 0 {
            if n & 1 == 1 { result = result.map { $0.composed(with: base, tail: τ) } ?? base }
            n >>= 1
            if n > 0 { base = base.composed(with: base, tail: τ) }
        }
        return result!
    }
}

/// Privacy-loss-distribution accounting of the Poisson-subsampled Gaussian, the second opinion
/// beside RDP. Each round's PLD is discretised by **connect the dots** (Doroshenko, Ghazi,
/// Kamath, Kumar, Manurangsi 2022). The exact hockey-stick curve δ(ε) of the mechanism,
/// a convex function of e^ε, is evaluated at the grid points, and the PLD is the discrete
/// distribution whose curve is the chord through them. That curve is pessimistic everywhere
/// and exact at grid points, and unlike rounding each loss up, its error does not grow
/// linearly with the number of compositions. Rounds are composed by FFT convolution with
/// pessimistic tail truncation; add-or-remove adjacency takes the larger ε of the add and
/// remove directions.
public struct PLDAccountant: Sendable {
    public let h: Double
    public let tail: Double
    var remove: DiscretePLD?
    var add: DiscretePLD?

    public init(discretization h: Double = 1e-4, tailMass: Double = 1e-15) {
        self.h = h
        tail = tailMass
    }

    public mutating func compose(rate q: Double, noiseMultiplier σ: Double, count: Int = 1) {
        guard count > 0, q > 0 else { return }
        let r = Self.single(q: q, sigma: σ, removal: true, h: h, tail: tail).selfComposed(count, tail: tail)
        let a = Self.single(q: q, sigma: σ, removal: false, h: h, tail: tail).selfComposed(count, tail: tail)
        remove = remove.map { $0.composed(with: r, tail: tail) } ?? r
        add = add.map { $0.composed(with: a, tail: tail) } ?? a
    }

    public func epsilon(delta: Double) -> Double {
        max(remove?.epsilon(delta: delta) ?? 0, add?.epsilon(delta: delta) ?? 0)
    }

    static func normalTail(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }  // P[N(0,1) > z]

    /// The exact hockey-stick divergence δ(ε) of one round.
    /// Remove: P = (1−q)N(0,σ²) + qN(1,σ²) against Q = N(0,σ²). Add: P = N(0,σ²) against that mixture.
    static func hockeyStick(_ ε: Double, q: Double, sigma σ: Double, removal: Bool) -> Double {
        let e = exp(ε)
        if removal {
            if e <= 1 - q { return 1 - e }
            let x = q == 1 ? σ * σ * ε + 0.5 : σ * σ * log((e - (1 - q)) / q) + 0.5
            let p = (1 - q) * normalTail(x / σ) + q * normalTail((x - 1) / σ)
            return max(0, p - e * normalTail(x / σ))
        } else {
            let f = exp(-ε)
            if f <= 1 - q { return 0 }
            let x = q == 1 ? -σ * σ * ε + 0.5 : σ * σ * log((f - (1 - q)) / q) + 0.5
            let p = normalTail(-x / σ)  // P[X < x], X ~ N(0, σ²)
            let qm = (1 - q) * normalTail(-x / σ) + q * normalTail(-(x - 1) / σ)
            return max(0, p - e * qm)
        }
    }

    /// P[loss < lo] under the mechanism's P distribution, in closed form.
    static func massBelow(_ lo: Double, q: Double, sigma σ: Double, removal: Bool) -> Double {
        if removal {
            // q = 1 only (q < 1 has a finite minimum): L = (2x − 1)/(2σ²), x ~ N(1, σ²), so L ~ N(1/(2σ²), 1/σ²).
            let μ = 1 / (2 * σ * σ), s = 1 / σ
            return normalTail((μ - lo) / s)
        }
        // Add: x ~ N(0, σ²), L(x) = −log(1 − q + q·e^{(2x−1)/(2σ²)}) < lo ⟺ x > x*.
        let inner = (exp(-lo) - (1 - q)) / q
        guard inner > 0, inner.isFinite else { return inner.isInfinite ? 0 : 1 }
        let xStar = σ * σ * log(inner) + 0.5
        return normalTail(xStar / σ)
    }

    /// One round's connect-the-dots PLD.
    static func single(q: Double, sigma σ: Double, removal: Bool, h: Double, tail: Double) -> DiscretePLD {
        // Loss range. Above: until δ(hi) ≤ tail (what is left becomes mass at +∞). Below:
        // until the probability of a loss under lo is ≤ tail (it is moved up onto lo,
        // pessimistically). The remove direction's losses are ≥ log(1 − q) exactly.
        var hi = 1.0
        while hockeyStick(hi, q: q, sigma: σ, removal: removal) > tail { hi *= 2 }
        var lo = -1.0
        if removal && q < 1 {
            lo = log(1 - q) - h
        } else {
            while massBelow(lo, q: q, sigma: σ, removal: removal) > tail && lo > -1e6 { lo *= 2 }
        }
        if !removal && q < 1 { hi = min(hi, -log(1 - q) + h) }
        let iLo = Int((lo / h).rounded(.down)), iHi = Int((hi / h).rounded(.up))
        let n = iHi - iLo + 1
        var y = [Double](repeating: 0, count: n), d = [Double](repeating: 0, count: n)
        for k in 0..<n {
            let ε = Double(iLo + k) * h
            y[k] = exp(ε)
            d[k] = hockeyStick(ε, q: q, sigma: σ, removal: removal)
        }
        // Enforce monotone convex data against round-off, then read masses off the chord slopes.
        var slopes = [Double](repeating: 0, count: n + 1)  // slopes[k] is the segment left of point k
        slopes[0] = (d[0] - 1) / y[0]
        for k in 1..<n { slopes[k] = (d[k] - d[k - 1]) / (y[k] - y[k - 1]) }
        slopes[n] = 0
        for k in 1...n where slopes[k] < slopes[k - 1] { slopes[k] = slopes[k - 1] }  // convexity
        var pmf = [Double](repeating: 0, count: n)
        for k in 0..<n { pmf[k] = max(0, y[k] * (slopes[k + 1] - slopes[k])) }
        var pld = DiscretePLD(h: h, offset: iLo, pmf: pmf, infinityMass: max(0, d[n - 1]))
        // Normalise away round-off (the construction sums to 1 exactly in exact arithmetic).
        let total = pmf.reduce(0, +) + pld.infinityMass
        if total > 0 { for k in 0..<n { pld.pmf[k] /= total } }
        pld.truncate(tail: tail)
        return pld
    }
}
