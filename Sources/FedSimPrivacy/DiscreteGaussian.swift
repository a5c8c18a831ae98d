/// The discrete Gaussian N_Z(0, σ²): P[X = x] ∝ exp(−x²/(2σ²)) over the integers, sampled
/// **exactly** by the algorithms of Canonne, Kamath, Steinke 2020 ("The Discrete Gaussian for
/// Differential Privacy", Algorithms 1–3).
///
/// σ² is a rational sn/sd, and every step is integer arithmetic on 128-bit values: Bernoulli
/// trials with rational parameters, a discrete Laplace proposal and a Bernoulli(exp(−·))
/// acceptance test. No floating-point number enters the sampling path, so the noise cannot
/// leak through floating-point artefacts (Mironov 2012). This is the noise the
/// distributed-DP mechanism adds in the integer domain of the secure sum (Kairouz, Liu,
/// Steinke 2021), and what central noise uses after fixed-point quantization.
public struct DiscreteGaussian: Sendable, Equatable {
    public let sigmaSquaredNumerator: UInt128
    public let sigmaSquaredDenominator: UInt128
    /// t = ⌊σ⌋ + 1, the discrete Laplace proposal's scale.
    let t: UInt128

    /// σ² = numerator / denominator, with σ² ≤ 10^16, denominator ≤ 2^20 and numerator ≤ 10^17,
    /// which keeps every intermediate below 2^128.
    public init(sigmaSquaredNumerator sn: UInt128, denominator sd: UInt128 = 1) {
        precondition(
            sn > 0 && sd > 0 && sd <= 1 << 20 && sn <= 100_000_000_000_000_000 && sn / sd <= 10_000_000_000_000_000
        )
        sigmaSquaredNumerator = sn
        sigmaSquaredDenominator = sd
        t = Self.isqrt(sn / sd) + 1
    }

    /// σ² from a Double, as a rational sn/2^k, **rounded up** so the noise is never smaller
    /// than asked. k ≤ 20 is the largest that keeps sn below 10^17, which keeps every
    /// intermediate of the acceptance test below 2^120. The sampling is exact for that rational.
    /// The largest σ² the exact sampler takes (every intermediate stays below 2^128).
    public static let maximumSigmaSquared = 1e16

    public init(sigmaSquared: Double) {
        precondition(sigmaSquared > 0 && sigmaSquared <= Self.maximumSigmaSquared)
        var k = 20
        while k > 0 && sigmaSquared * Double(UInt64(1) << UInt64(k)) > 1e17 { k -= 1 }
        let sd = UInt128(1) << UInt128(k)
        self.init(
            sigmaSquaredNumerator: UInt128((sigmaSquared * Double(UInt64(1) << UInt64(k))).rounded(.up)),
            denominator: sd
        )
    }

    public var sigmaSquared: Double { Double(sigmaSquaredNumerator) / Double(sigmaSquaredDenominator) }

    static func isqrt(_ n: UInt128) -> UInt128 {
        if n < 2 { return n }
        var x = UInt128(Double(n).squareRoot())
        while x * x > n { x -= 1 }
        while (x + 1) * (x + 1) <= n { x += 1 }
        return x
    }

    // MARK: Exact Bernoulli trials (CKS Algorithm 1)

    /// Bernoulli(exp(−n/d)).
    public static func bernoulliExpNeg(_ n: UInt128, _ d: UInt128, using r: inout NoiseRandomness) -> Bool {
        var n = n
        while n > d {  // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋))
            if !bernoulliExpNegUnit(1, 1, using: &r) { return false }
            n -= d
        }
        return bernoulliExpNegUnit(n, d, using: &r)
    }

    /// Bernoulli(exp(−γ)) for γ = n/d ∈ [0, 1]: K ← 1; while Bernoulli(γ/K) { K += 1 }; K odd.
    static func bernoulliExpNegUnit(_ n: UInt128, _ d: UInt128, using r: inout NoiseRandomness) -> Bool {
        var k: UInt128 = 1
        if d <= UInt128(UInt64.max) {
            // 64-bit arithmetic while d·k fits (almost always: K rarely passes 3).
            let n64 = UInt64(n)
            let d64 = UInt64(d)
            var k64: UInt64 = 1
            while true {
                let (dk, overflow) = d64.multipliedReportingOverflow(by: k64)
                if overflow {
                    k = UInt128(k64)
                    break
                }
                if r.uniform64(below: dk) >= n64 { return k64 & 1 == 1 }
                k64 += 1
            }
        }
        while r.uniform(below: d * k) < n { k += 1 }
        return k & 1 == 1
    }

    // MARK: Discrete Laplace (CKS Algorithm 2, integer scale t)

    /// P[Y = y] ∝ exp(−|y|/t).
    static func discreteLaplace(t: UInt128, using r: inout NoiseRandomness) -> Int64 {
        while true {
            let u = t <= UInt128(UInt64.max) ? UInt128(r.uniform64(below: UInt64(t))) : r.uniform(below: t)
            guard bernoulliExpNeg(u, t, using: &r) else { continue }
            var v: UInt128 = 0
            while bernoulliExpNeg(1, 1, using: &r) { v += 1 }
            let x = u + t * v
            let negative = r.nextBit()
            if negative && x == 0 { continue }
            return negative ? -Int64(x) : Int64(x)
        }
    }

    // MARK: Discrete Gaussian (CKS Algorithm 3)

    public func sample(using r: inout NoiseRandomness) -> Int64 {
        let sn = sigmaSquaredNumerator
        let sd = sigmaSquaredDenominator
        while true {
            let y = Self.discreteLaplace(t: t, using: &r)
            // Accept with probability exp(−(|y| − σ²/t)² / (2σ²)) = exp(−(|y|·sd·t − sn)² / (2·sd·t²·sn)).
            // A proposal so far out that diff² would not fit in 128 bits has acceptance
            // probability below exp(−1000): rejecting it outright changes nothing measurable.
            let (a, o1) = UInt128(y.magnitude).multipliedReportingOverflow(by: sd * t)
            if o1 { continue }
            let diff = a > sn ? a - sn : sn - a
            let (d2, o2) = diff.multipliedReportingOverflow(by: diff)
            if o2 || d2 > UInt128(1) << 124 { continue }
            if Self.bernoulliExpNeg(d2, 2 * sd * t * t * sn, using: &r) { return y }
        }
    }

    /// Adds independent samples to the first `count` elements (wrapping, as in Z_{2^32}).
    public func addNoise(to v: inout [UInt32], count: Int, using r: inout NoiseRandomness) {
        for i in 0..<count { v[i] = v[i] &+ UInt32(truncatingIfNeeded: sample(using: &r)) }
    }
}
