import CSodium

/// Cryptographically secure randomness from libsodium (`randombytes_buf`, which reads the
/// kernel's getrandom(2)). Used for run tokens, keys, and noise that backs a privacy claim.
/// Never seeded, never reproducible: that is the point.
public enum SecureRandom {
    /// Initialises libsodium once per process (thread-safe, lazily). `sodium_init` also picks
    /// the fastest implementation of each primitive for this CPU (e.g. AVX2 ChaCha20, about
    /// 4× the portable one); without it libsodium silently uses the reference code.
    public static let ready: Bool = { sodium_init() >= 0 }()

    /// Ensures libsodium is initialised; stops the process if it cannot be.
    @inline(__always) public static func ensureReady() {
        if !ready { fatalError("libsodium failed to initialise") }
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return out
    }

    /// A random 64-bit value.
    public static func uint64() -> UInt64 {
        let b = bytes(8)
        return b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Constant-time comparison (libsodium `sodium_memcmp`), for tokens and MACs: the time
    /// taken does not depend on where the first differing byte is.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        ensureReady()
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }
}

/// Hex encoding for tokens and digests (not a hot path).
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = v(u[i]), let lo = v(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
