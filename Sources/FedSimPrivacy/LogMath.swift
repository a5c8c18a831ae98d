#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Log-space arithmetic for the accountant, where A_α terms span hundreds of orders of magnitude.
enum LogMath {
    /// log(exp(a) + exp(b)).
    static func add(_ a: Double, _ b: Double) -> Double {
        let lo = min(a, b)
        let hi = max(a, b)
        if lo == -.infinity { return hi }
        return log1p(exp(lo - hi)) + hi
    }

    /// log C(n, k) for real n, k via lgamma.
    static func comb(_ n: Double, _ k: Double) -> Double {
        lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    }

    /// log(erfc(x)), accurate in the far tail. glibc's erfc keeps full relative precision
    /// until it underflows near x ≈ 26. Past that we use the asymptotic series
    /// erfc(x) ~ exp(−x²)/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸)).
    static func logErfc(_ x: Double) -> Double {
        if x < 25 {
            let r = erfc(x)
            if r > 0 { return log(r) }
        }
        let x2 = x * x
        let series = 1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2) + 105 / (16 * x2 * x2 * x2 * x2)
        return -x2 - log(x) - 0.5 * log(Double.pi) + log(series)
    }
}
