#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Privacy-loss-distribution accounting of the Poisson-subsampled Gaussian, beside RDP.
///
/// It follows Google's dp_accounting (v0.6.0) `PLDAccountant` step for step, so each number
/// can be checked against it at the same discretisation h:
/// - **One round**: the pessimistic connect-the-dots PLD (`SubsampledGaussianPLD`) of each
///   direction of add-or-remove adjacency, on the grid {k·h}, over the loss support of the
///   noise truncated at its 0.5·e^{−50} quantile (that tail goes to +∞).
/// - **T identical rounds**: one FFT power p̂^T over the Chernoff window of the result, with
///   τ = 10⁻¹⁵ added to the mass at +∞ (`DiscretePLD.selfComposed`), not T convolutions.
/// - **Different rounds**: FFT convolution with pessimistic tail truncation (≤ τ/2 a side).
/// - **ε(δ)**: the larger of the two directions' exact ε for the discrete distributions.
/// Connect the dots is pessimistic: the discrete curve lies above the true δ(ε), so ε is an
/// upper bound up to the 10⁻¹⁵ truncations, and a coarser grid can only make it larger.
///
/// **The grid.** A fixed h = 10⁻⁴ is too fine for small σ and long runs (q = 1, σ = 0.3,
/// T = 10⁵ spreads the loss over ~10⁸ points) and too coarse for tiny losses (q = 10⁻⁴,
/// σ = 20 has a per-round support 10⁻⁴ wide). `init(planning:)` therefore picks h from the
/// plan (`discretization(for:)`): about 2¹⁸ points across the composed loss window.
public struct PLDAccountant: Sendable {
    public typealias Event = (rate: Double, noiseMultiplier: Double, count: Int)

    public let h: Double
    public let tail: Double
    var remove: DiscretePLD?
    var add: DiscretePLD?
    /// Set by a round without noise (σ = 0) or with a loss too large for a Double: ε = ∞.
    public private(set) var unbounded = false

    /// Grid points the planned discretisation spreads over the composed loss window.
    public static let plannedPoints = 1 << 18

    /// An accountant on a fixed grid h (dp_accounting's default is 10⁻⁴). Prefer
    /// `init(planning:)`, whose h is sized to the plan.
    public init(discretization h: Double = 1e-4, tailMass: Double = 1e-15) {
        precondition(h > 0)
        self.h = h
        tail = tailMass
    }

    /// An accountant whose grid suits these events (which it does not compose).
    public init(planning events: [Event], tailMass: Double = 1e-15) {
        let h = Self.discretization(for: events)
        self.init(discretization: h.isFinite ? h : 1, tailMass: tailMass)
    }

    /// The discretisation for a plan: about 2¹⁸ grid points across the composed loss window.
    /// For each event, one round's PLD is built on a provisional grid h₀ (2¹⁶ points across its
    /// loss support, width w) and the Chernoff window that holds all but 10⁻¹⁵ of the T-fold
    /// composition (`DiscretePLD.chernoffWindow`, the window `selfComposed` transforms) is
    /// measured in loss units, the wider direction; the windows of the events add up to W, and
    /// h = W / 2¹⁸ rounded up to 1, 2 or 5 × 10^k. The window, not the worst-case width w·T,
    /// is what matters: at q = 10⁻⁴, σ = 0.3, T = 10⁵ one round spans w ≈ 29 but the
    /// composition only ~10³, and sizing h by w·√T gave h = 0.5 and ε 27% above the converged
    /// value. scripts/crosscheck/generate_vectors.py computes the same rule with
    /// dp_accounting's own PLDs, so both are run on the same grid. ∞ when a round has σ = 0 or
    /// an infinite loss.
    public static func discretization(for events: [Event]) -> Double {
        var window = 0.0
        for e in events where e.rate > 0 && e.count > 0 {
            if e.noiseMultiplier <= 0 { return .infinity }
            let m = SubsampledGaussianPLD(q: e.rate, σ: e.noiseMultiplier)
            let h0 = roundUp125(m.lossWidth / Double(1 << 16))
            guard h0.isFinite else { return .infinity }
            var widest = 0.0
            for removal in [true, false] {
                guard let p = m.discretised(removal: removal, h: h0) else { return .infinity }
                let (lo, hi) = p.chernoffWindow(e.count, tail: 1e-15)
                widest = max(widest, Double(hi - lo + 1) * h0)
            }
            window += widest
        }
        return roundUp125(window / Double(plannedPoints))
    }

    /// The smallest of 1, 2, 5 × 10^k that is ≥ x (x > 0), parsed from its decimal spelling so
    /// it is the same correctly rounded Double that Python's float() gives.
    static func roundUp125(_ x: Double) -> Double {
        guard x.isFinite else { return .infinity }
        let raw = max(x, 1e-12)
        let k = Int(log10(raw).rounded(.down))
        for m in [1, 2, 5] {
            let v = Double("\(m)e\(k)")!
            if v >= raw * (1 - 1e-12) { return v }
        }
        return Double("1e\(k + 1)")!
    }

    /// `count` rounds at sampling rate q with noise multiplier σ.
    public mutating func compose(rate q: Double, noiseMultiplier σ: Double, count: Int = 1) {
        precondition((0...1).contains(q) && σ >= 0 && count >= 0)
        guard count > 0, q > 0, !unbounded else { return }
        let mechanism = SubsampledGaussianPLD(q: q, σ: σ)
        guard σ > 0, let r1 = mechanism.discretised(removal: true, h: h),
            let a1 = q == 1 ? r1 : mechanism.discretised(removal: false, h: h)
        else {
            unbounded = true
            remove = nil
            add = nil
            return
        }
        let r = r1.selfComposed(count, tail: tail)
        let a = q == 1 ? r : a1.selfComposed(count, tail: tail)
        remove = remove.map { $0.composed(with: r, tail: tail) } ?? r
        add = add.map { $0.composed(with: a, tail: tail) } ?? a
    }

    /// The smallest ε with δ(ε) ≤ `delta` in both directions (0 before any round; ∞ when
    /// unbounded or when the mass at +∞ exceeds δ).
    public func epsilon(delta: Double) -> Double {
        if unbounded { return .infinity }
        return max(remove?.epsilon(delta: delta) ?? 0, add?.epsilon(delta: delta) ?? 0)
    }
}
