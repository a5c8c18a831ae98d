/// Seeded, reproducible randomness.
///
/// FedSim never touches a global RNG: every random decision (data splits, sampling,
/// initialisation, simulated faults) receives a generator derived from the scenario seed and
/// a *stream tag* naming what it is for, so adding a new random consumer never shifts the
/// numbers drawn by another. Noise that backs a privacy claim does **not** come from here;
/// see ``SecureRandom``.

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator used to expand seeds.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    @inlinable public init(seed: UInt64) { state = seed }
    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): the workhorse generator. Fast, 256-bit state,
/// passes BigCrush; seeded through SplitMix64 as its authors recommend.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    @inlinable public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next()
        s1 = sm.next()
        s2 = sm.next()
        s3 = sm.next()
    }

    @inlinable public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }
}

/// Derives independent seeds from the run seed and a path of tags, e.g.
/// `Seeds.derive(seed, "split", device)`. Mixing is SplitMix64's finaliser applied per tag,
/// which is a bijection per step, so distinct paths collide only by chance (2^-64).
public enum Seeds {
    @inlinable public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var sm = SplitMix64(seed: a ^ (b &* 0xD1B5_4A32_D192_ED03))
        return sm.next()
    }

    /// FNV-1a hash of a tag string: stable across processes and runs (unlike `Hasher`).
    @inlinable public static func tag(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    @inlinable public static func derive(_ seed: UInt64, _ tagName: String) -> UInt64 {
        mix(seed, tag(tagName))
    }

    @inlinable public static func derive(_ seed: UInt64, _ tagName: String, _ a: UInt64) -> UInt64 {
        mix(mix(seed, tag(tagName)), a)
    }

    @inlinable public static func derive(_ seed: UInt64, _ tagName: String, _ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(mix(mix(seed, tag(tagName)), a), b)
    }

    /// A generator for one purpose: `Seeds.rng(seed, "init")`.
    @inlinable public static func rng(
        _ seed: UInt64,
        _ tagName: String,
        _ a: UInt64 = 0,
        _ b: UInt64 = 0
    )
        -> Xoshiro256
    {
        Xoshiro256(seed: derive(seed, tagName, a, b))
    }
}

extension RandomNumberGenerator {
    /// Uniform in [0, 1) with 24 bits of resolution (exactly representable in Float).
    @inlinable public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 bits of resolution.
    @inlinable public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in 0..<bound without modulo bias (Lemire 2019).
    @inlinable public mutating func nextBounded(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }

    /// Standard normal via Box–Muller. Adequate for initialisation and synthetic data; *not*
    /// used for privacy noise (floating-point Gaussian samplers leak, Mironov 2012).
    @inlinable public mutating func nextGaussian() -> Double {
        var u1 = nextUnitDouble()
        while u1 <= .leastNormalMagnitude { u1 = nextUnitDouble() }
        let u2 = nextUnitDouble()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang; used for Dirichlet draws.
    public mutating func nextGamma(shape: Double) -> Double {
        if shape < 1 {
            let u = nextUnitDouble()
            return nextGamma(shape: shape + 1) * _pow(max(u, .leastNormalMagnitude), 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1.0 / (9 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextUnitDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if _log(max(u, .leastNormalMagnitude)) < 0.5 * x * x + d * (1 - v + _log(v)) { return d * v }
        }
    }

    /// log Gamma(shape, 1): stays finite for tiny shapes, where Gamma draws underflow to 0.
    public mutating func nextLogGamma(shape: Double) -> Double {
        if shape >= 1 { return _log(nextGamma(shape: shape)) }
        let u = max(nextUnitDouble(), .leastNormalMagnitude)
        return _log(nextGamma(shape: shape + 1)) + _log(u) / shape
    }

    /// Dirichlet(α₁…α_n) through normalised Gammas, computed in log space so that small
    /// concentrations (α = 0.01) still give a proper point of the simplex.
    public mutating func nextDirichlet(_ alphas: [Double]) -> [Double] {
        var logs = alphas.map { $0 > 0 ? nextLogGamma(shape: $0) : -Double.infinity }
        let m = logs.max() ?? 0
        var total = 0.0
        for i in logs.indices {
            logs[i] = m.isFinite ? _exp(logs[i] - m) : 0
            total += logs[i]
        }
        return total > 0 ? logs.map { $0 / total } : alphas.map { _ in 1 / Double(alphas.count) }
    }

    /// Fisher–Yates partial shuffle: `count` distinct indices from 0..<n, in draw order.
    public mutating func sampleWithoutReplacement(_ count: Int, from n: Int) -> [Int] {
        precondition(count <= n)
        if count * 4 < n {
            // Sparse case: Floyd's algorithm avoids an O(n) array.
            var chosen = Set<Int>(minimumCapacity: count)
            var out: [Int] = []
            out.reserveCapacity(count)
            for j in (n - count)..<n {
                let t = nextBounded(j + 1)
                if chosen.insert(t).inserted {
                    out.append(t)
                } else {
                    chosen.insert(j)
                    out.append(j)
                }
            }
            return out
        }
        var a = Array(0..<n)
        for i in 0..<count {
            let j = i + nextBounded(n - i)
            a.swapAt(i, j)
        }
        return Array(a[0..<count])
    }
}
