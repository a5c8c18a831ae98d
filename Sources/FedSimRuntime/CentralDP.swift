import FedSimConfig
import FedSimCore
import FedSimPrivacy
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Central DP for the coordinator (DP-FedAvg, McMahan et al. 2018): the sum of the devices'
/// clipped updates gets noise of standard deviation σ·C, is divided by the *expected* number
/// of devices q·N (a fixed denominator, so participation itself is not a data-dependent
/// divisor), and each round is recorded in an RDP ledger before its model is released.
///
/// Noise without floating-point leaks: the sum is rounded to the grid γ = C/2²⁰, and exact
/// discrete Gaussian noise N_Z(0, σ_z²) is added in grid units. Rounding can move a
/// neighbour's sum by up to √d grid units, so the sensitivity in grid units is C/γ + √d and
/// σ_z = σ·(2²⁰ + √d). The accounted noise multiplier is exactly σ.
public struct CentralDP {
    public let config: PrivacyConfig
    public let rate: Double
    public let expectedDevices: Double
    public private(set) var accountant = RDPAccountant()
    var randomness: NoiseRandomness
    public static let gridBits = 20

    public init(config: PrivacyConfig, rate: Double, population: Int, seed: UInt64) {
        self.config = config
        self.rate = rate
        expectedDevices = rate * Double(population)
        randomness = NoiseRandomness(config.noise == .secure ? .secure : .reproducible(seed: Seeds.derive(seed, "dp.noise")))
    }

    public var noiseIsPrivate: Bool { randomness.isPrivate }

    /// ε (at δ) after one more round; the budget check runs on this before the round starts.
    public func epsilonAfterNextRound() -> (epsilon: Double, order: Double) {
        var next = accountant
        next.compose(rate: rate, noiseMultiplier: config.noiseMultiplier)
        return next.epsilon(delta: config.delta)
    }

    public mutating func recordRound() -> (epsilon: Double, order: Double) {
        accountant.compose(rate: rate, noiseMultiplier: config.noiseMultiplier)
        return accountant.epsilon(delta: config.delta)
    }

    /// Noised mean update from the sum of clipped updates.
    public mutating func privatize(sum: [Double]) -> [Float] {
        let gamma = config.clip / Double(1 << Self.gridBits)
        let sigmaZ = config.noiseMultiplier * (Double(1 << Self.gridBits) + Double(sum.count).squareRoot())
        let g = DiscreteGaussian(sigmaSquared: sigmaZ * sigmaZ)
        var out = [Float](repeating: 0, count: sum.count)
        for i in sum.indices {
            let grid = (sum[i] / gamma).rounded()
            let noisy = grid + Double(g.sample(using: &randomness))
            out[i] = Float(noisy * gamma / expectedDevices)
        }
        return out
    }
}

/// The privacy ledger: one JSON line per released round, appended and fsynced *before* that
/// round's model is released, so a crash can never leave a released model unaccounted.
public final class PrivacyLedger {
    let fd: Int32
    public init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw RunDirectory.SetupError(description: "cannot open \(path)") }
    }
    deinit { close(fd) }

    public func append(_ line: JSONObject) {
        let bytes = Array((line.text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
    }
}
