import FedSimCore

/// Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(2⁶¹ − 1).
///
/// Why a prime field and not Debian's libgfshare: libgfshare works in GF(2⁸), which allows at
/// most 255 shares, while full SecAgg over n = 1,000 devices deals 999 shares per secret.
/// A Mersenne prime makes reduction two shifts and an add. A 32-byte secret is split into
/// five limbs of at most 56 bits (< p), each shared with its own random polynomial of degree
/// t − 1. Coefficients come from the CSPRNG. Any t shares reconstruct the secret exactly;
/// fewer reveal nothing about it (information-theoretically).
public enum Shamir {
    public static let p: UInt64 = (1 << 61) - 1
    static let limbs = 5

    /// One holder's share: the evaluation point x ≥ 1 and the five limb values.
    public struct Share: Equatable, Sendable {
        public var x: UInt32
        public var y: [UInt64]
        public init(x: UInt32, y: [UInt64]) {
            self.x = x
            self.y = y
        }

        public static let encodedBytes = 4 + 8 * 5

        public func encoded() -> [UInt8] {
            var out = withUnsafeBytes(of: x.littleEndian) { Array($0) }
            for v in y { out += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
            return out
        }

        public init?(encoded b: [UInt8]) {
            guard b.count == Self.encodedBytes else { return nil }
            x = b[0..<4].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            var ys: [UInt64] = []
            for i in 0..<5 {
                let v = b[(4 + 8 * i)..<(12 + 8 * i)].withUnsafeBytes {
                    UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
                }
                guard v < Shamir.p else { return nil }
                ys.append(v)
            }
            guard x > 0 else { return nil }
            y = ys
        }
    }

    @inline(__always) static func reduce(_ x: UInt64) -> UInt64 {
        let r = (x & p) &+ (x >> 61)
        return r >= p ? r - p : r
    }

    @inline(__always) static func add(_ a: UInt64, _ b: UInt64) -> UInt64 { reduce(a &+ b) }
    @inline(__always) static func sub(_ a: UInt64, _ b: UInt64) -> UInt64 { a >= b ? a - b : a &+ p &- b }

    @inline(__always) static func mul(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (hi, lo) = a.multipliedFullWidth(by: b)
        // a·b = hi·2^64 + lo; 2^61 ≡ 1, so 2^64 ≡ 8.
        let r = (lo & p) &+ (lo >> 61) &+ (hi << 3)
        return reduce(r)
    }

    static func pow(_ a: UInt64, _ e: UInt64) -> UInt64 {
        var result: UInt64 = 1
        var base = a
        var e = e
        while e > 0 {
            if e & 1 == 1 { result = mul(result, base) }
            base = mul(base, base)
            e >>= 1
        }
        return result
    }

    static func inverse(_ a: UInt64) -> UInt64 { pow(a, p - 2) }

    static func randomElement() -> UInt64 {
        while true {
            let v = SecureRandom.uint64() & p
            if v < p { return v }
        }
    }

    static func limbsOf(_ secret: [UInt8]) -> [UInt64] {
        precondition(secret.count == 32)
        return (0..<limbs).map { i in
            var v: UInt64 = 0
            for j in 0..<7 where 7 * i + j < 32 { v |= UInt64(secret[7 * i + j]) << (8 * UInt64(j)) }
            return v
        }
    }

    static func secretOf(_ l: [UInt64]) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<limbs {
            for j in 0..<7 where 7 * i + j < 32 { out.append(UInt8(truncatingIfNeeded: l[i] >> (8 * UInt64(j)))) }
            let bits = i == limbs - 1 ? 32 : 56
            if l[i] >> UInt64(bits) != 0 { return nil }  // not a valid sharing of a 32-byte secret
        }
        return out
    }

    /// Shares `secret` among holders at points `xs` (distinct, ≥ 1); any `threshold` reconstruct it.
    public static func split(_ secret: [UInt8], threshold t: Int, xs: [UInt32]) -> [Share] {
        precondition(t >= 1 && t <= xs.count && Set(xs).count == xs.count && !xs.contains(0))
        let secretLimbs = limbsOf(secret)
        // The random coefficients come from one CSPRNG call, not one per coefficient: each was a
        // getrandom system call, about 200 per device and round at t = 21.
        let random = SecureRandom.bytes(8 * secretLimbs.count * (t - 1))
        let coeffs = secretLimbs.indices.map { l in
            [secretLimbs[l]]
                + (0..<(t - 1)).map { i in
                    let v =
                        random.withUnsafeBytes {
                            $0.loadUnaligned(fromByteOffset: 8 * (l * (t - 1) + i), as: UInt64.self)
                        } & p
                    return v < p ? v : randomElement()  // v = p (probability 2⁻⁶¹): draw again
                }
        }
        return xs.map { x in
            let xv = UInt64(x)
            let y = coeffs.map { c in
                var acc: UInt64 = 0
                for k in stride(from: c.count - 1, through: 0, by: -1) { acc = add(mul(acc, xv), c[k]) }
                return acc
            }
            return Share(x: x, y: y)
        }
    }

    /// Lagrange coefficients at 0 for the points `xs`: λ_i = Π_{j≠i} x_j / (x_j − x_i).
    public static func lagrangeAtZero(_ xs: [UInt32]) -> [UInt64] {
        let v = xs.map { UInt64($0) }
        var num = [UInt64](repeating: 1, count: v.count)
        var den = [UInt64](repeating: 1, count: v.count)
        for i in v.indices {
            for j in v.indices where j != i {
                num[i] = mul(num[i], v[j])
                den[i] = mul(den[i], sub(v[j], v[i]))
            }
        }
        // Batch inversion (Montgomery's trick): one exponentiation for all denominators.
        var prefix = [UInt64](repeating: 1, count: v.count + 1)
        for i in v.indices { prefix[i + 1] = mul(prefix[i], den[i]) }
        var inv = inverse(prefix[v.count])
        var out = [UInt64](repeating: 0, count: v.count)
        for i in stride(from: v.count - 1, through: 0, by: -1) {
            out[i] = mul(num[i], mul(inv, prefix[i]))
            inv = mul(inv, den[i])
        }
        return out
    }

    /// Reconstructs from exactly `threshold` shares with distinct points (the caller picks
    /// which); `coefficients` may be passed in when many secrets share one point set.
    public static func reconstruct(_ shares: [Share], coefficients: [UInt64]? = nil) -> [UInt8]? {
        guard !shares.isEmpty, Set(shares.map(\.x)).count == shares.count, !shares.contains(where: { $0.x == 0 }) else {
            return nil
        }
        let lambda = coefficients ?? lagrangeAtZero(shares.map(\.x))
        var limbs = [UInt64](repeating: 0, count: Self.limbs)
        for (i, s) in shares.enumerated() {
            for l in 0..<Self.limbs { limbs[l] = add(limbs[l], mul(lambda[i], s.y[l])) }
        }
        return secretOf(limbs)
    }
}
