import CSodium
import FedSimCore

/// Random bits for privacy noise.
///
/// `secure`: a ChaCha20 keystream (libsodium `randombytes_buf_deterministic`) keyed with 32
/// bytes from the OS CSPRNG (`randombytes_buf`), re-keyed every 64 KiB by hashing the key with
/// a counter. That is a CSPRNG, and far faster than one system call per draw.
/// `reproducible`: the same stream keyed from a seed, for debugging. It is **not private**:
/// anyone who knows the seed knows the noise. Runs that use it must say so first thing in
/// their report.
public struct NoiseRandomness {
    public enum Source: Sendable, Equatable {
        case secure
        case reproducible(seed: UInt64)
    }

    public let source: Source
    public var isPrivate: Bool { source == .secure }
    var key: [UInt8]
    var chunk: UInt64 = 0
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var position = 65_536
    var reservoir: UInt64 = 0
    var available = 0

    public init(_ source: Source) {
        SecureRandom.ensureReady()
        self.source = source
        switch source {
        case .secure: key = SecureRandom.bytes(32)
        case .reproducible(let seed):
            key = withUnsafeBytes(of: seed.littleEndian) { Array($0) } + Array("fedsim-reproducible-noise".utf8)
            key = Self.hash(key)
        }
    }

    static func hash(_ b: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash(&out, 32, b, UInt64(b.count), nil, 0)
        return out
    }

    mutating func refill() {
        let seed = Self.hash(key + withUnsafeBytes(of: chunk.littleEndian) { Array($0) })
        chunk += 1
        buffer.withUnsafeMutableBytes { randombytes_buf_deterministic($0.baseAddress!, $0.count, seed) }
        position = 0
    }

    public mutating func nextUInt64() -> UInt64 {
        if position + 8 > buffer.count { refill() }
        let v = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt64.self) }
        position += 8
        return UInt64(littleEndian: v)
    }

    /// `b` uniform bits (1 ≤ b ≤ 64), taken from a 64-bit reservoir so that small draws
    /// (a Bernoulli(1/k), a uniform below 20,000) do not each burn 8 bytes of keystream.
    @inline(__always)
    public mutating func nextBits(_ b: Int) -> UInt64 {
        if b <= available {
            let v = b == 64 ? reservoir : reservoir & ((1 << UInt64(b)) - 1)
            reservoir = b == 64 ? 0 : reservoir >> UInt64(b)
            available -= b
            return v
        }
        // Use the reservoir's remaining bits as the low part, a fresh word for the rest.
        let lowCount = available
        let low = reservoir
        let word = nextUInt64()
        let need = b - lowCount
        let high = need == 64 ? word : word & ((1 << UInt64(need)) - 1)
        reservoir = need == 64 ? 0 : word >> UInt64(need)
        available = 64 - need
        return lowCount == 0 ? high : (high << UInt64(lowCount)) | low
    }

    public mutating func nextBit() -> Bool { nextBits(1) == 1 }

    /// Uniform in 0..<bound, exactly: draw ⌈log₂ bound⌉ bits and reject values ≥ bound
    /// (fewer than 2 tries on average; no division, no modulo bias).
    public mutating func uniform(below bound: UInt128) -> UInt128 {
        precondition(bound > 0)
        if bound == 1 { return 0 }
        let bits = 128 - (bound - 1).leadingZeroBitCount
        if bits <= 64 {
            let b = UInt64(bound)
            while true {
                let v = nextBits(bits)
                if v < b { return UInt128(v) }
            }
        }
        while true {
            let v = UInt128(nextBits(bits - 64)) << 64 | UInt128(nextBits(64))
            if v < bound { return v }
        }
    }

    /// Uniform in 0..<bound for 64-bit bounds (the common case, kept in 64-bit arithmetic).
    @inline(__always)
    public mutating func uniform64(below bound: UInt64) -> UInt64 {
        if bound <= 1 { return 0 }
        let bits = 64 - (bound - 1).leadingZeroBitCount
        while true {
            let v = nextBits(bits)
            if v < bound { return v }
        }
    }
}
