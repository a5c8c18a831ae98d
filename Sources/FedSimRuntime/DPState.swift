import FedSimConfig
import FedSimCore
import FedSimPrivacy
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The coordinator's DP state: the accountant, and for central DP the noise.
///
/// Central DP (DP-FedAvg, McMahan et al. 2018): the sum of the devices' clipped updates gets
/// noise of standard deviation σ·C. Distributed DP: the sum arrives already noised by the
/// devices (`DistributedDP`). Either way the sum is divided by the *expected* number of
/// devices q·N, a fixed denominator, so participation is not a data-dependent divisor. Each
/// round is recorded in the RDP ledger before its model is released.
///
/// Noise without floating-point leaks: the sum is rounded to the grid γ = C/2²⁰, and exact
/// discrete Gaussian noise N_Z(0, σ_z²) is added in grid units. Rounding can move a
/// neighbour's sum by up to √d grid units, so the sensitivity in grid units is C/γ + √d and
/// σ_z = σ·(2²⁰ + √d). The accounted noise multiplier is exactly σ.
public struct DPState {
    public let config: PrivacyConfig
    public let rate: Double
    public let expectedDevices: Double
    public private(set) var accountant = RDPAccountant()
    var randomness: NoiseRandomness
    public static let gridBits = 20
    /// The current clip C (it moves under adaptive clipping).
    public private(set) var clip: Double
    /// Noise multiplier of the update itself: the configured σ, or under adaptive clipping
    /// z_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2), so that update and count together are accounted as one
    /// Gaussian with multiplier σ (Andrew et al. 2021, Theorem 1).
    public let updateMultiplier: Double

    let seed: UInt64
    /// 1 in every run; below 1 only when a test plants a noise bug for the audit to find
    /// (`Coordinator.plantNoiseBugForAuditSelfTest`).
    var plantedNoiseScale = 1.0

    public init(config: PrivacyConfig, rate: Double, population: Int, seed: UInt64) {
        self.config = config
        self.seed = seed
        self.rate = rate
        expectedDevices = rate * Double(population)
        randomness = NoiseRandomness(
            config.noise == .secure ? .secure : .reproducible(seed: Seeds.derive(seed, "dp.noise"))
        )
        clip = config.sensitivity
        let z = config.noiseMultiplier
        let σb = config.adaptiveClipping.countNoise
        updateMultiplier = config.adaptiveClipping.enabled ? 1 / (1 / (z * z) - 1 / (4 * σb * σb)).squareRoot() : z
    }

    /// Adaptive clipping (Andrew et al. 2021): each contributing device's bit b = [‖Δ‖ ≤ C]
    /// enters *centred*, b − ½, so adding or removing one device moves the count by ½: the
    /// sensitivity that the noise split z_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) assumes. Exactly on the
    /// integers: 2·Σ(b − ½) = 2·within − contributors has sensitivity 1 and gets N_Z(0, (2σ_b)²).
    /// Then b̄ = noised Σ(b − ½) / (q·N) + ½, and C ← C·exp(−η(b̄ − γ)). Returns b̄.
    public mutating func adaptClip(withinCount: Int, contributors: Int) -> Double {
        let a = config.adaptiveClipping
        let g = DiscreteGaussian(sigmaSquared: 4 * a.countNoise * a.countNoise)
        let doubled =
            Double(Self.doubledCentredCount(withinCount: withinCount, contributors: contributors))
            + Double(g.sample(using: &randomness))
        let fraction = doubled / 2 / expectedDevices + 0.5
        clip *= exp(-a.learningRate * (fraction - a.targetQuantile))
        return fraction
    }

    /// The centred count statistic before noise, 2·Σ(b − ½) (for tests: its sensitivity is 1).
    public static func doubledCentredCount(withinCount: Int, contributors: Int) -> Int {
        2 * withinCount - contributors
    }

    public var noiseIsPrivate: Bool { randomness.isPrivate }

    /// Reproducible (debugging) noise restarts from (seed, round) every round, so a run
    /// resumed from a checkpoint draws the same noise as an uninterrupted one. Secure noise
    /// keeps its CSPRNG stream.
    public mutating func beginRound(_ r: Int) {
        if !randomness.isPrivate {
            randomness = NoiseRandomness(.reproducible(seed: Seeds.derive(seed, "dp.noise", UInt64(r))))
        }
    }

    /// Rebuilds the accountant from the ledger's entries (each round whose noisy aggregate
    /// was computed, including rounds after the checkpoint that a crash interrupted: they may
    /// have been released, so they stay counted), and restores the clip.
    public mutating func restore(ledger entries: [(rate: Double, noiseMultiplier: Double)], clip: Double) {
        accountant = RDPAccountant()
        for e in entries { accountant.compose(rate: e.rate, noiseMultiplier: e.noiseMultiplier) }
        self.clip = clip
    }

    /// ε (at δ) after one more round; the budget check runs on this before the round starts.
    public func epsilonAfterNextRound() -> (epsilon: Double, order: Double) {
        var next = accountant
        next.compose(rate: rate, noiseMultiplier: config.noiseMultiplier)
        return next.epsilon(delta: config.delta)
    }

    /// ε (at δ) if one more round were released with noise multiplier `z` (distributed DP's
    /// realized multiplier, known once the survivors are): the budget check before unmasking.
    public func epsilon(composing z: Double) -> Double {
        var next = accountant
        next.compose(rate: rate, noiseMultiplier: z)
        return next.epsilon(delta: config.delta).epsilon
    }

    public mutating func recordRound(noiseMultiplier z: Double? = nil) -> (epsilon: Double, order: Double) {
        let z = z ?? config.noiseMultiplier
        if z <= 0 {
            accountant.compose(rate: rate, noiseMultiplier: 0)  // no noise: ε becomes ∞, as it should
        } else {
            accountant.compose(rate: rate, noiseMultiplier: z)
        }
        return accountant.epsilon(delta: config.delta)
    }

    /// The mean update from a sum that already carries the devices' noise.
    public func mean(ofNoisySum sum: [Double]) -> [Float] {
        sum.map { Float($0 / expectedDevices) }
    }

    /// Noised mean update from the sum of clipped updates.
    ///
    /// Secure noise is drawn in parallel chunks (`NoisePlan`), each from its own CSPRNG
    /// stream keyed from the OS: every entry still gets an independent exact N_Z(0, σ_z²) sample
    /// from a cryptographically secure stream, so the released distribution is the same. The
    /// reproducible (debugging) noise stays one sequential stream, so its runs keep their bytes.
    public mutating func privatize(sum: [Double]) -> [Float] {
        let gamma = clip / Double(1 << Self.gridBits)
        let sigmaZ =
            plantedNoiseScale * updateMultiplier * (Double(1 << Self.gridBits) + Double(sum.count).squareRoot())
        let g = DiscreteGaussian(sigmaSquared: sigmaZ * sigmaZ)
        let scale = (gamma: gamma, expected: expectedDevices)
        var out = [Float](repeating: 0, count: sum.count)
        let plan = NoisePlan(count: sum.count, secure: randomness.isPrivate)
        if plan.chunks <= 1 {
            Self.noise(sum, into: &out, range: 0..<sum.count, g, scale, &randomness)
            return out
        }
        out.withUnsafeMutableBufferPointer { o in
            nonisolated(unsafe) let o = o
            DispatchQueue.concurrentPerform(iterations: plan.chunks) { c in
                var stream = NoiseRandomness(.secure)
                var part = [Float](repeating: 0, count: plan.range(c).count)
                Self.noise(sum, into: &part, range: plan.range(c), g, scale, &stream)
                for (j, i) in plan.range(c).enumerated() { o[i] = part[j] }
            }
        }
        return out
    }

    /// Adds N_Z(0, σ_z²) in grid units to `sum[range]`, writing the scaled mean to `out`
    /// (indexed from 0 for the range's first entry when `out` is shorter than `sum`).
    static func noise(
        _ sum: [Double],
        into out: inout [Float],
        range: Range<Int>,
        _ g: DiscreteGaussian,
        _ scale: (gamma: Double, expected: Double),
        _ r: inout NoiseRandomness
    ) {
        let base = out.count == sum.count ? 0 : range.lowerBound
        for i in range {
            let grid = (sum[i] / scale.gamma).rounded()
            let noisy = grid + Double(g.sample(using: &r))
            out[i - base] = Float(noisy * scale.gamma / scale.expected)
        }
    }
}

/// How central DP's noise is split over cores: chunks of at least `minimumChunk` entries, at
/// most one per core; reproducible noise is never split (one stream keeps its bytes).
struct NoisePlan: Sendable {
    static let minimumChunk = 8_192
    let count: Int
    let chunks: Int

    init(count: Int, secure: Bool, cores: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.count = count
        chunks = secure ? max(1, min(cores, count / Self.minimumChunk)) : 1
    }

    func range(_ c: Int) -> Range<Int> { (c * count / chunks)..<((c + 1) * count / chunks) }
}

/// The privacy ledger: one JSON line per released round, appended and fsynced *before* that
/// round's model is released, so a crash can never leave a released model unaccounted. Every
/// write is checked: a short write or a failed fsync (a full disk) throws, and the caller must
/// not release the round. The directory is fsynced when the file is created, so the entry
/// survives a crash of the machine too.
public final class PrivacyLedger {
    let fd: Int32
    let path: String

    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(path: String) throws {
        self.path = path
        let existed = access(path, F_OK) == 0
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else {
            throw RunDirectory.SetupError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        if !existed {
            let folder = (path as NSString).deletingLastPathComponent
            let dfd = open(folder.isEmpty ? "." : folder, O_RDONLY)
            if dfd >= 0 {
                defer { close(dfd) }
                guard fsync(dfd) == 0 else {
                    throw RunDirectory.SetupError(
                        description: "cannot fsync the folder of \(path): \(String(cString: strerror(errno)))"
                    )
                }
            }
        }
    }
    deinit { close(fd) }

    /// Appends one entry durably (write, then fsync), or throws.
    public func append(_ line: JSONObject) throws {
        let bytes = Array((line.text + "\n").utf8)
        // A line that does not fit is cut back: a torn entry would swallow the next one.
        let start = lseek(fd, 0, SEEK_END)
        var written = 0
        defer { if written < bytes.count && start >= 0 { _ = ftruncate(fd, start) } }
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw WriteError(
                    description: "cannot write the privacy ledger \(path): \(String(cString: strerror(errno)))"
                )
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            throw WriteError(
                description: "cannot fsync the privacy ledger \(path): \(String(cString: strerror(errno)))"
            )
        }
    }
}
