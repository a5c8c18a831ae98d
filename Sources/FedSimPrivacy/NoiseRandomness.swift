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

    public mutating func nextBit() -> Bool { nextUInt64() & 1 == 1 }

    /// Uniform in 0..<bound, exactly (rejection sampling, no modulo bias).
    public mutating func uniform(below bound: UInt128) -> UInt128 {
        precondition(bound > 0)
        if bound <= UInt128(UInt64.max) {
            let b = UInt64(bound)
            let limit = UInt64.max - (UInt64.max % b)  // values ≥ limit are rejected
            while true {
                let v = nextUInt64()
                if v < limit { return UInt128(v % b) }
            }
        }
        let limit = UInt128.max - (UInt128.max % bound)
        while true {
            let v = UInt128(nextUInt64()) << 64 | UInt128(nextUInt64())
            if v < limit { return v % bound }
        }
    }
}
