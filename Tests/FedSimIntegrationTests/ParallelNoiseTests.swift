import FedSimConfig
import FedSimRuntime
import Foundation
import Testing

/// Central DP's secure noise is drawn in parallel chunks, each from its own CSPRNG stream.
/// What must hold whatever the split: every entry gets noise of the accounted scale, the
/// noise is Gaussian-shaped, and chunks are independent (not one stream replayed). The
/// reproducible (debugging) noise stays one sequential stream: the same seed, the same bytes.
@Suite struct ParallelNoiseTests {
    static let d = 60_000

    func state(_ noise: PrivacyConfig.NoiseSource) -> DPState {
        var p = PrivacyConfig()
        p.mechanism = .central
        p.noiseMultiplier = 1
        p.clip = 0.5
        p.noise = noise
        return DPState(config: p, rate: 0.01, population: 100_000, seed: 7)  // 1,000 expected devices
    }

    /// The standard deviation of one released entry: σ_z grid units of γ = C/2²⁰, over q·N.
    var sigma: Double {
        let sigmaZ = Double(1 << DPState.gridBits) + Double(Self.d).squareRoot()
        return sigmaZ * (0.5 / Double(1 << DPState.gridBits)) / 1_000
    }

    /// Kolmogorov–Smirnov distance of `xs / σ` from N(0, 1).
    func ksDistance(_ xs: ArraySlice<Float>) -> Double {
        let z = xs.map { Double($0) / sigma }.sorted()
        var worst = 0.0
        for (i, x) in z.enumerated() {
            let cdf = 0.5 * erfc(-x / 2.0.squareRoot())
            worst = max(worst, abs(cdf - Double(i) / Double(z.count)), abs(cdf - Double(i + 1) / Double(z.count)))
        }
        return worst
    }

    @Test func everyChunkIsGaussianOfTheAccountedScaleAndIndependent() {
        var dp = state(.secure)
        let out = dp.privatize(sum: [Double](repeating: 0, count: Self.d))
        let halves = [out[..<(Self.d / 2)], out[(Self.d / 2)...]]
        for h in halves {
            let variance = h.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(h.count)
            #expect(abs(variance.squareRoot() / sigma - 1) < 0.03, "σ \(variance.squareRoot()) vs \(sigma)")
            // 30,000 samples: the 1% critical value is 0.0094; 0.015 fails only a wrong shape.
            #expect(ksDistance(h) < 0.015)
        }
        // Chunks on independent streams: entry i of one half is uncorrelated with entry i of the other.
        let a = halves[0].map(Double.init)
        let b = halves[1].map(Double.init)
        let rho = zip(a, b).reduce(0.0) { $0 + $1.0 * $1.1 } / Double(a.count) / (sigma * sigma)
        #expect(abs(rho) < 0.03, "correlation \(rho)")
        #expect(a != b)
    }

    @Test func reproducibleNoiseIsOneSeededStream() {
        var x = state(.reproducible)
        var y = state(.reproducible)
        x.beginRound(3)
        y.beginRound(3)
        let sum = (0..<Self.d).map { Double($0 % 7) * 0.01 }
        #expect(x.privatize(sum: sum).map(\.bitPattern) == y.privatize(sum: sum).map(\.bitPattern))
    }
}
