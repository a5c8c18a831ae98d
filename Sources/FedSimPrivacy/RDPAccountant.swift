#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rényi-DP accounting of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang
/// 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), composed over
/// rounds whose sampling rate and noise may differ, converted to (ε, δ).
///
/// This deliberately reproduces Google's `dp_accounting` (v0.6.0) `RdpAccountant` with the
/// add-or-remove-one relation, so numbers can be checked against it digit for digit:
/// - **Orders**: `defaultOrders` = 1.1, 1.2, …, 10.9, 11, …, 63, 128, 256, 512, 1024.
/// - **Integer α**: A_α = Σ_{i=0}^{α} C(α, i)(1 − q)^{α−i} q^i exp((i² − i)/(2σ²)), summed
///   in log space.
/// - **Fractional α**: the two-sided series of Mironov et al. §3.3. Each term is positive
///   (dp_accounting adds the *absolute* values, a valid upper bound that is looser than the
///   exact signed series Opacus uses). It stops when both sides decrease and fall 30 nats
///   below the total; after 1,000 terms without converging, the order is dropped (ε = ∞
///   there), as dp_accounting does.
/// - **RDP** at α: log(A_α)/(α − 1); α/(2σ²) when q = 1; 0 when q = 0; ∞ when σ = 0.
/// - **Conversion** (Canonne, Kamath, Steinke 2020, Prop. 12; also Asoodeh et al. 2020):
///   ε = min_α [rdp(α) + log(1 − 1/α) − log(δ·α)/(α − 1)], taken only for α > 1.01, with
///   ε = 0 where δ² + expm1(−rdp) > 0.
public struct RDPAccountant: Sendable, Equatable {
    public static let defaultOrders: [Double] =
        (1...99).map { 1 + Double($0) / 10 } + (11...63).map(Double.init) + [128, 256, 512, 1024]

    public let orders: [Double]
    public private(set) var rdp: [Double]

    public init(orders: [Double] = RDPAccountant.defaultOrders) {
        self.orders = orders
        rdp = [Double](repeating: 0, count: orders.count)
    }

    /// One round of the Poisson-subsampled Gaussian with rate q and noise multiplier σ,
    /// composed `count` times.
    public mutating func compose(rate q: Double, noiseMultiplier σ: Double, count: Int = 1) {
        precondition((0...1).contains(q) && σ >= 0 && count >= 0)
        let r = Self.rdp(rate: q, noiseMultiplier: σ, orders: orders)
        for i in orders.indices { rdp[i] += Double(count) * r[i] }
    }

    /// The (ε, optimal order) for δ.
    public func epsilon(delta: Double) -> (epsilon: Double, order: Double) {
        Self.epsilon(orders: orders, rdp: rdp, delta: delta)
    }

    // MARK: The math

    public static func rdp(rate q: Double, noiseMultiplier σ: Double, orders: [Double]) -> [Double] {
        orders.map { α in
            if q == 0 { return 0 }
            if α.isInfinite || σ == 0 { return .infinity }
            if q == 1 { return α / (2 * σ * σ) }
            return logA(q: q, sigma: σ, alpha: α) / (α - 1)
        }
    }

    static func logA(q: Double, sigma: Double, alpha: Double) -> Double {
        alpha == alpha.rounded()
            ? logAInt(q: q, sigma: sigma, alpha: Int(alpha)) : logAFrac(q: q, sigma: sigma, alpha: alpha)
    }

    static func logAInt(q: Double, sigma σ: Double, alpha: Int) -> Double {
        var logA = -Double.infinity
        let log1mq = log1p(-q)
        let logq = log(q)
        for i in 0...alpha {
            let di = Double(i)
            let coef = LogMath.comb(Double(alpha), di) + di * logq + Double(alpha - i) * log1mq
            logA = LogMath.add(logA, coef + (di * di - di) / (2 * σ * σ))
        }
        return logA
    }

    static func logAFrac(q: Double, sigma σ: Double, alpha: Double) -> Double {
        var logA0 = -Double.infinity
        var logA1 = -Double.infinity
        let z0 = σ * σ * log(1 / q - 1) + 0.5
        let log1mq = log1p(-q)
        let logq = log(q)
        var lastS0 = -Double.infinity
        var lastS1 = -Double.infinity
        for i in 0..<1_000 {
            let di = Double(i)
            let coef = LogMath.comb(alpha, di)
            let j = alpha - di
            let logT0 = coef + di * logq + j * log1mq
            let logT1 = coef + j * logq + di * log1mq
            let logE0 = log(0.5) + LogMath.logErfc((di - z0) / (2.0.squareRoot() * σ))
            let logE1 = log(0.5) + LogMath.logErfc((z0 - j) / (2.0.squareRoot() * σ))
            let logS0 = logT0 + (di * di - di) / (2 * σ * σ) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * σ * σ) + logE1
            logA0 = LogMath.add(logA0, logS0)
            logA1 = LogMath.add(logA1, logS1)
            let total = LogMath.add(logA0, logA1)
            if logS0 < lastS0 && logS1 < lastS1 && max(logS0, logS1) < total - 30 { return total }
            lastS0 = logS0
            lastS1 = logS1
        }
        return .infinity  // did not converge: the order is excluded
    }

    public static func epsilon(orders: [Double], rdp: [Double], delta: Double) -> (epsilon: Double, order: Double) {
        precondition(delta >= 0 && orders.count == rdp.count)
        if delta == 0 { return rdp.allSatisfy { $0 == 0 } ? (0, 0) : (.infinity, 0) }
        var best = (epsilon: Double.infinity, order: orders.first ?? 0)
        for (a, r) in zip(orders, rdp) {
            let eps: Double
            if r < 0 {
                eps = 0
            } else if delta * delta + expm1(-r) > 0 {
                eps = 0
            } else if a > 1.01 {
                eps = r + log1p(-1 / a) - log(delta * a) / (a - 1)
            } else {
                eps = .infinity
            }
            if eps < best.epsilon { best = (eps, a) }
        }
        return (max(0, best.epsilon), best.order)
    }

    /// The smallest noise multiplier (to 1e-4 relative) that keeps T rounds at rate q within
    /// (ε, δ); nil if even σ = 10⁴ does not.
    public static func calibrate(
        epsilon target: Double,
        delta: Double,
        rounds: Int,
        rate q: Double,
        orders: [Double] = defaultOrders
    ) -> Double? {
        func eps(_ σ: Double) -> Double {
            var acc = RDPAccountant(orders: orders)
            acc.compose(rate: q, noiseMultiplier: σ, count: rounds)
            return acc.epsilon(delta: delta).epsilon
        }
        var hi = 1.0
        while eps(hi) > target {
            hi *= 2
            if hi > 1e4 { return nil }
        }
        var lo = hi / 2
        if eps(lo) <= target { lo = 0 }
        while hi - lo > 1e-4 * hi {
            let mid = (lo + hi) / 2
            if eps(mid) > target { lo = mid } else { hi = mid }
        }
        return hi
    }
}
