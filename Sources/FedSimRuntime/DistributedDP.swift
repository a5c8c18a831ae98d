import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimPrivacy

/// Distributed discrete Gaussian DP (Kairouz, Liu, Steinke 2021) on top of the secure sum.
///
/// Each device clips its update to C, and the quantizer maps it to integers with a public
/// scale. The device then adds N_Z(0, σ_dev²) to every weighted-delta coordinate before
/// masking. The coordinator only ever sees Σ (x_u + noise_u), so no party sees an un-noised
/// sum.
///
/// - Sensitivity in integer units: Δ = s_max·C + √d (scale times clip, plus rounding).
/// - Calibration: σ_dev = σ·Δ/√(m − 1), where m = ⌊(1 − δ_assumed)·n⌋ is the number of
///   survivors SecAgg+'s parameters are built for. If at least m devices survive, the noise
///   from the *other* m − 1 devices alone has multiplier ≥ σ.
/// - Accounting: the ledger records the *realized* multiplier z = σ_dev·√(n_survived − 1)/Δ.
///   It counts only the other devices' noise (a device's own noise is not credited to its own
///   protection) and reflects dropouts, which mean less noise. The sum of independent discrete
///   Gaussians is not exactly a discrete Gaussian. KLS21 bound the gap by
///   τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ_dev²·k/(k+1)), which is below 10^-1000 at these σ_dev, so
///   the sum is accounted as a Gaussian with variance (n − 1)σ_dev².
public enum DistributedDP {
    /// Headroom factor for the quantizer so the noisy sum cannot wrap: room for 12 standard
    /// deviations of the total noise on top of n full-scale contributions.
    public static func headroom(noiseMultiplier σ: Double, devices n: Int) -> Double {
        1 + 12 * σ / Double(max(1, n)).squareRoot()
    }

    public static func plannedSurvivors(devices n: Int, assumedDropout: Double) -> Int {
        max(2, Int((Double(n) * (1 - assumedDropout)).rounded(.down)))
    }

    /// Per-device noise standard deviation in integer units.
    public static func deviceSigma(
        noiseMultiplier σ: Double,
        sensitivity Δ: Double,
        devices n: Int,
        assumedDropout: Double
    ) -> Double {
        σ * Δ / Double(plannedSurvivors(devices: n, assumedDropout: assumedDropout) - 1).squareRoot()
    }

    /// The noise multiplier actually achieved with `survivors` devices' noise in the sum.
    public static func realizedMultiplier(deviceSigma: Double, sensitivity Δ: Double, survivors: Int) -> Double {
        deviceSigma * Double(max(survivors - 1, 0)).squareRoot() / Δ
    }

    /// Adds the device's noise to the weighted-delta segment of its quantized vector (mod 2^32,
    /// which the secure sum is).
    public static func addNoise(
        to v: inout [UInt32],
        count: Int,
        deviceSigma: Double,
        randomness: inout NoiseRandomness
    ) {
        DiscreteGaussian(sigmaSquared: deviceSigma * deviceSigma).addNoise(to: &v, count: count, using: &randomness)
    }
}
