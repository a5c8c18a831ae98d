import FedSimConfig
import FedSimCore
import FedSimPrivacy

/// The coordinator's side of a one-run privacy audit (`privacy.audit`; statistics in
/// `OneRunAudit`).
///
/// Each of m canaries is a fixed random direction cⱼ in the shared parameters, of unit norm,
/// public (derived from the scenario seed): the auditor is assumed to know it. Whether a
/// canary is in the run (Sⱼ, probability ½) and whether an included canary is sampled in a
/// round (probability q, the devices' own rate) are drawn from the same source as the DP
/// noise: the CSPRNG when noise is secure. An included, sampled canary adds C·cⱼ to the
/// round's clipped sum, exactly what a device whose clipped update is C·cⱼ would add, so the
/// run's claimed (ε, δ) must hold for it as for any device.
///
/// The auditor sees what the DP claim says is public: every released noisy sum. Under central
/// DP it is also allowed what the worst-case DP adversary knows, the other devices' clipped
/// updates (their sum before noise), and subtracts it; that leaves noise plus canaries, the
/// strongest white-box test of the noise and the accounting. Conditioning on the honest sum
/// does not weaken any canary's guarantee: DP holds for every fixed rest of the population.
/// Under distributed DP the coordinator never sees that sum, so the score uses the released
/// sum alone (a weaker but still valid test). What the audit does not test: the devices'
/// clipping (canaries are clipped by construction) and anything outside the released sums.
///
/// Scores: sⱼ = ⟨Σ_rounds residual, cⱼ⟩. A canary that never took part scores pure noise.
public struct CanaryAudit {
    public let config: PrivacyAudit
    let dimension: Int
    let directionSeed: UInt64
    var coins: NoiseRandomness
    /// Sⱼ: whether canary j is in the run.
    public private(set) var included: [Bool]
    /// Σ over released rounds of (released sum − honest sum, when known).
    var residual: [Double]
    /// Canary contributions added over the run (for the report; the auditor does not use them).
    public private(set) var participations = 0
    public private(set) var rounds = 0

    public init(config: PrivacyAudit, dimension: Int, noise: PrivacyConfig.NoiseSource, seed: UInt64) {
        self.config = config
        self.dimension = dimension
        directionSeed = Seeds.derive(seed, "audit.direction")
        coins = NoiseRandomness(noise == .secure ? .secure : .reproducible(seed: Seeds.derive(seed, "audit.coins")))
        var s = [Bool](repeating: false, count: config.canaries)
        for j in s.indices { s[j] = coins.nextBit() }
        included = s
        residual = [Double](repeating: 0, count: dimension)
    }

    /// Canary j's unit direction: i.i.d. Gaussian coordinates, normalised. Random directions
    /// in d dimensions are nearly orthogonal (|⟨cᵢ, cⱼ⟩| ≈ 1/√d), so canaries barely mask
    /// each other.
    public static func direction(_ j: Int, dimension: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: Seeds.derive(seed, "canary", UInt64(j)))
        var v = [Double](repeating: 0, count: dimension)
        var norm = 0.0
        for i in v.indices {
            v[i] = rng.nextGaussian()
            norm += v[i] * v[i]
        }
        let scale = 1 / norm.squareRoot()
        for i in v.indices { v[i] *= scale }
        return v
    }

    /// Bernoulli(q) from the audit's coins, with 53 bits of resolution.
    mutating func coin(_ q: Double) -> Bool {
        Double(coins.nextBits(53)) * (1.0 / 9_007_199_254_740_992.0) < q
    }

    /// Adds this round's sampled canaries, each C·cⱼ, to the clipped sum.
    public mutating func inject(into sum: inout [Double], norm c: Double, rate q: Double) {
        precondition(sum.count == dimension)
        for j in included.indices where included[j] && coin(q) {
            let d = Self.direction(j, dimension: dimension, seed: directionSeed)
            for i in sum.indices { sum[i] += c * d[i] }
            participations += 1
        }
    }

    /// Records what the auditor learns from one released round: the released noisy sum, less
    /// the honest devices' clipped sum when the adversary model allows knowing it.
    public mutating func observe(released: [Double], honestSum: [Double]?) {
        precondition(released.count == dimension)
        if let honestSum {
            for i in residual.indices { residual[i] += released[i] - honestSum[i] }
        } else {
            for i in residual.indices { residual[i] += released[i] }
        }
        rounds += 1
    }

    public func scores() -> [Double] {
        (0..<config.canaries).map { j in
            let d = Self.direction(j, dimension: dimension, seed: directionSeed)
            var s = 0.0
            for i in d.indices { s += d[i] * residual[i] }
            return s
        }
    }

    /// The audit's verdict at the run's δ, beside the ε the run claims.
    public func result(delta: Double) -> OneRunAudit.Result {
        OneRunAudit.audit(scores: scores(), included: included, delta: delta, beta: 1 - config.confidence)
    }
}
