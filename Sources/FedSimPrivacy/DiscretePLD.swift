#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A privacy-loss distribution on the grid {k·h}: probability `pmf[i]` at loss (offset + i)·h,
/// plus `infinityMass` at +∞. Its hockey-stick curve is
/// δ(ε) = ∞-mass + Σ_{l > ε} p_l (1 − e^{ε − l}).
///
/// Composition is convolution of the pmfs. Tails are truncated **pessimistically**, as
/// dp_accounting does: at most τ/2 of mass from the bottom is moved up onto the first kept
/// point, at most τ/2 from the top goes to +∞, so δ(ε) can only grow.
public struct DiscretePLD: Sendable {
    public var h: Double
    public var offset: Int
    public var pmf: [Double]
    public var infinityMass: Double

    public init(h: Double, offset: Int, pmf: [Double], infinityMass: Double) {
        self.h = h
        self.offset = offset
        self.pmf = pmf
        self.infinityMass = infinityMass
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ `delta` (exact for the discrete distribution); ∞ when the
    /// mass at +∞ alone exceeds δ.
    ///
    /// Walking down from the top, on [l_i, l_{i+1}) we have δ(ε) = ∞ + a − e^{ε − l_i}·b, with
    /// a = Σ_{j>i} p_j and b = Σ_{j>i} p_j e^{l_i − l_j} kept relative to l_i, so nothing
    /// underflows even when ε is in the hundreds of thousands.
    public func epsilon(delta: Double) -> Double {
        if infinityMass > delta { return .infinity }
        var a = 0.0
        var b = 0.0
        let decay = exp(-h)
        var i = pmf.count - 1
        while i >= 0 {
            let l = Double(offset + i) * h
            if b > 0 {
                // δ(l_i) = ∞ + a − b. Above the target: the answer is inside this interval.
                let x = (infinityMass + a - delta) / b  // e^{ε − l_i}
                if x > 1 { return max(0, l + log(x)) }
            }
            a += pmf[i]
            b = (b + pmf[i]) * decay
            i -= 1
        }
        // Below the support, δ(ε) = ∞ + a − e^{ε − l_0 + h}·b: solve there.
        let l0 = Double(offset - 1) * h
        if b > 0 && infinityMass + a > delta { return max(0, l0 + log((infinityMass + a - delta) / b)) }
        return 0
    }

    /// Drops the longest prefix and suffix whose masses are each ≤ τ/2: the prefix's mass moves
    /// up onto the first kept point, the suffix's goes to +∞ (dp_accounting's `_truncate_tails`).
    mutating func truncate(tail τ: Double) {
        guard τ > 0, pmf.count > 1 else { return }
        var lo = 0
        var low = 0.0
        while lo < pmf.count && low + pmf[lo] <= τ / 2 {
            low += pmf[lo]
            lo += 1
        }
        var hi = pmf.count
        var up = 0.0
        while hi > 0 && up + pmf[hi - 1] <= τ / 2 {
            up += pmf[hi - 1]
            hi -= 1
        }
        hi = max(hi, lo + 1)
        if lo >= pmf.count {
            lo = pmf.count - 1
            hi = pmf.count
            low -= pmf[lo]
        }
        var kept = Array(pmf[lo..<hi])
        kept[0] += low
        infinityMass += pmf[hi...].reduce(0, +)
        offset += lo
        pmf = kept
    }

    /// This PLD composed with another on the same grid (the pmfs convolved).
    public func composed(with other: DiscretePLD, tail τ: Double) -> DiscretePLD {
        precondition(h == other.h, "composing PLDs on different grids")
        var out = DiscretePLD(
            h: h,
            offset: offset + other.offset,
            pmf: FFT.convolve(pmf, other.pmf),
            infinityMass: infinityMass + other.infinityMass - infinityMass * other.infinityMass
        )
        out.truncate(tail: τ)
        return out
    }

    /// This PLD composed with itself `count` times by **one** FFT power: the count-fold
    /// convolution is the inverse transform of p̂^count. The transform is only as long as the
    /// window that holds all but τ of the result's mass; by the Chernoff bound, for any t,
    /// P[S > s] ≤ exp(T·log M(t) − t·s) with M(t) = Σ_i p_i e^{t·i} the moment generating
    /// function of one round's grid index, so s = (T·log M(t) + log(2/τ))/t bounds the top
    /// (and t < 0 the bottom) with τ/2 on each side. We take the best of t = ±1…±20 / len
    /// (dp_accounting's orders). Mass outside the window wraps around (it is below τ), and
    /// τ is added to the mass at +∞ to stay pessimistic.
    public func selfComposed(_ count: Int, tail τ: Double) -> DiscretePLD {
        precondition(count >= 1)
        if count == 1 { return self }
        let n = pmf.count
        let (lower, upper) = chernoffWindow(count, tail: τ)
        let outLen = upper - lower + 1
        let out = FFT.cyclicPower(pmf, count, length: max(outLen, n), shift: lower, keep: outLen)
        let inf = (τ > 0 ? τ : 0) - expm1(Double(count) * log1p(-infinityMass))
        return DiscretePLD(h: h, offset: offset * count + lower, pmf: out, infinityMass: min(1, inf))
    }

    /// The grid-index window [lower, upper] (relative to count·offset) outside which the
    /// count-fold composition has at most τ/2 of mass on each side, by the Chernoff bound above.
    func chernoffWindow(_ count: Int, tail τ: Double) -> (lower: Int, upper: Int) {
        let n = pmf.count
        var lower = 0
        var upper = (n - 1) * count
        if τ > 0 {
            let logP = pmf.map { $0 > 0 ? log($0) : -Double.infinity }
            for k in -20...20 where k != 0 {
                let t = Double(k) / Double(n)
                var m = -Double.infinity  // log M(t), by log-sum-exp
                for i in 0..<n where logP[i] > -.infinity { m = max(m, logP[i] + t * Double(i)) }
                var s = 0.0
                for i in 0..<n where logP[i] > -.infinity { s += exp(logP[i] + t * Double(i) - m) }
                let bound = (Double(count) * (m + log(s)) + log(2 / τ)) / t
                guard bound.isFinite else { continue }
                if k > 0 {
                    upper = min(upper, Int(bound.rounded(.up)))
                } else {
                    lower = max(lower, Int(bound.rounded(.down)))
                }
            }
        }
        return (lower, upper)
    }
}
