import FedSimPrivacy
import Foundation
import Testing

/// Statistical tests of the exact samplers, at a fixed (reproducible) seed so they are
/// deterministic. Thresholds are at p ≈ 0.001, so a correct sampler fails about 1 in 1000
/// seeds; the seeds used here pass, and a biased sampler fails by orders of magnitude.
@Suite struct DiscreteGaussianTests {
    @Test(arguments: [(3, 10), (1, 1), (5, 2), (0, 7)] as [(Int, Int)])
    func bernoulliExpNegHasTheRightFrequency(n: Int, d: Int) {
        var r = NoiseRandomness(.reproducible(seed: UInt64(n * 100 + d)))
        let trials = 200_000
        var hits = 0
        for _ in 0..<trials where DiscreteGaussian.bernoulliExpNeg(UInt128(n), UInt128(d), using: &r) { hits += 1 }
        let p = exp(-Double(n) / Double(d))
        let se = (p * (1 - p) / Double(trials)).squareRoot()
        #expect(abs(Double(hits) / Double(trials) - p) < 4 * se + 1e-12, "γ = \(n)/\(d)")
    }

    /// The exact pmf of N_Z(0, σ²) on |x| ≤ bound (normalised over a wide support).
    static func pmf(_ sigma2: Double, bound: Int) -> [Int: Double] {
        let support = Int(20 * sigma2.squareRoot()) + 20
        var z = 0.0
        for x in -support...support { z += exp(-Double(x * x) / (2 * sigma2)) }
        var out: [Int: Double] = [:]
        for x in -bound...bound { out[x] = exp(-Double(x * x) / (2 * sigma2)) / z }
        return out
    }

    static func exactVariance(_ sigma2: Double) -> Double {
        let support = Int(20 * sigma2.squareRoot()) + 20
        var z = 0.0
        var m2 = 0.0
        for x in -support...support {
            let w = exp(-Double(x * x) / (2 * sigma2))
            z += w
            m2 += Double(x * x) * w
        }
        return m2 / z
    }

    @Test(arguments: [(9, 1), (5, 2), (1, 4)] as [(Int, Int)])
    func goodnessOfFitAndMoments(sn: Int, sd: Int) {
        let g = DiscreteGaussian(sigmaSquaredNumerator: UInt128(sn), denominator: UInt128(sd))
        let sigma2 = Double(sn) / Double(sd)
        var r = NoiseRandomness(.reproducible(seed: UInt64(sn * 31 + sd)))
        let n = 200_000
        var counts: [Int: Int] = [:]
        var s1 = 0.0
        var s2 = 0.0
        for _ in 0..<n {
            let x = Int(g.sample(using: &r))
            counts[x, default: 0] += 1
            s1 += Double(x)
            s2 += Double(x * x)
        }
        let variance = Self.exactVariance(sigma2)
        let mean = s1 / Double(n)
        #expect(abs(mean) < 4 * (variance / Double(n)).squareRoot(), "mean \(mean)")
        // Var of the sample second moment ≈ (E[x⁴] − σ⁴)/n ≤ 2.5σ⁴/n for these distributions.
        #expect(
            abs(s2 / Double(n) - variance) < 4 * (2.5 * variance * variance / Double(n)).squareRoot(),
            "E[x²] \(s2 / Double(n)) vs \(variance)"
        )
        // Chi-square over |x| ≤ B, tails pooled into two bins.
        let bound = max(2, Int(3.5 * sigma2.squareRoot()))
        let p = Self.pmf(sigma2, bound: bound)
        var chi2 = 0.0
        var pooledObs = 0
        var pooledExp = 1.0
        for x in -bound...bound {
            let e = Double(n) * p[x]!
            let o = Double(counts[x] ?? 0)
            chi2 += (o - e) * (o - e) / e
            pooledExp -= p[x]!
        }
        pooledObs = counts.filter { abs($0.key) > bound }.values.reduce(0, +)
        let eTail = Double(n) * pooledExp
        if eTail > 5 { chi2 += (Double(pooledObs) - eTail) * (Double(pooledObs) - eTail) / eTail }
        let df = Double(2 * bound + (eTail > 5 ? 1 : 0))
        // Wilson–Hilferty approximation of the 99.9th percentile of χ²(df).
        let z = 3.09
        let critical = df * pow(1 - 2 / (9 * df) + z * (2 / (9 * df)).squareRoot(), 3)
        #expect(chi2 < critical, "χ² = \(chi2) over \(df) degrees of freedom (critical \(critical))")
    }

    /// σ from 10⁵ up to the sizes central DP uses (σ·2²⁰ with σ up to 95).
    @Test(arguments: [1e10, 2.2e13, 1e15, 1e16])
    func largeSigmaMoments(sigma2: Double) {
        let g = DiscreteGaussian(sigmaSquared: sigma2)
        #expect(g.sigmaSquared >= sigma2)  // rounded up, never understated
        var r = NoiseRandomness(.reproducible(seed: 5))
        let n = 40_000
        var s1 = 0.0
        var s2 = 0.0
        for _ in 0..<n {
            let x = Double(g.sample(using: &r))
            s1 += x
            s2 += x * x
        }
        #expect(abs(s1 / Double(n)) < 4 * sigma2.squareRoot() / Double(n).squareRoot())
        #expect(abs(s2 / Double(n) / sigma2 - 1) < 4 * (2.0 / Double(n)).squareRoot())
    }

    @Test func reproducibleModeRepeatsAndSecureModeDoesNot() {
        let g = DiscreteGaussian(sigmaSquared: 100)
        var a = NoiseRandomness(.reproducible(seed: 9))
        var b = NoiseRandomness(.reproducible(seed: 9))
        let xa = (0..<50).map { _ in g.sample(using: &a) }
        let xb = (0..<50).map { _ in g.sample(using: &b) }
        #expect(xa == xb)
        #expect(!a.isPrivate)
        var s1 = NoiseRandomness(.secure)
        var s2 = NoiseRandomness(.secure)
        #expect(s1.isPrivate)
        #expect((0..<50).map { _ in g.sample(using: &s1) } != (0..<50).map { _ in g.sample(using: &s2) })
    }

    @Test func uniformIsUnbiasedForAwkwardBounds() {
        var r = NoiseRandomness(.reproducible(seed: 1))
        let bound: UInt128 = 3 * (1 << 62)  // rejection matters: 2^64 mod bound is large
        var low = 0
        let n = 60_000
        for _ in 0..<n where r.uniform(below: bound) < bound / 3 { low += 1 }
        #expect(abs(Double(low) / Double(n) - 1.0 / 3) < 4 * (2.0 / 9 / Double(n)).squareRoot())
    }
}
