import CFedSimAES

/// The PRG that expands a 32-byte mask seed into a mask vector. Every device and the
/// coordinator of a round must use the same one (it travels in the round's `begin` message),
/// or the masks would not cancel. Both are keyed by one seed per stream and never reuse a key:
/// a self-mask seed is fresh CSPRNG output per device and round; a pairwise seed is BLAKE2b of
/// the pair's X25519 secret, both round-fresh public keys and the context "fedsim-secagg-mask"
/// (share-encryption keys use another context), so no two streams, kinds or PRGs share a key.
public enum MaskPRG: UInt8, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// IETF ChaCha20 (RFC 8439) keyed by the whole seed, nonce 0: libsodium's
    /// `crypto_stream_chacha20_ietf`, or FedSim's AVX-512 code for the same keystream.
    case chacha20 = 0
    /// AES-128-CTR (SP 800-38A) keyed by the seed's first 16 bytes, the counter block starting
    /// at 0: a standard PRG from a 128-bit key. A vector is at most 2^32 words (2^30 blocks), so
    /// the keystream's distance from random is at most (2^30)^2 / 2^129 = 2^-69 by the birthday
    /// bound. VAES or AES-NI where the CPU has them, constant-time portable C elsewhere.
    case aes128ctr = 1

    public var description: String { self == .chacha20 ? "chacha20" : "aes128ctr" }

    /// Whether this CPU has AES instructions (VAES or AES-NI): then AES-128-CTR expands masks
    /// faster than ChaCha20 (`make bench-prg`), and the default (`prg: auto`) picks it.
    public static let aesAccelerated = fedsim_aes_best() >= Int32(FEDSIM_AES_NI.rawValue)

    /// `auto`'s choice on this machine (docs/secure-aggregation.md has the measurement).
    public static var preferred: MaskPRG { aesAccelerated ? .aes128ctr : .chacha20 }

    /// Adds (or subtracts) the keystream of `seed`, read as little-endian UInt32 words, to
    /// `vector` with wrapping arithmetic. `aesImplementation` forces an AES implementation
    /// (`fedsim_aes_impl`; tests compare them), −1 the fastest.
    public func addStream(
        seed: [UInt8],
        to vector: inout [UInt32],
        subtract: Bool,
        scratch: inout [UInt32],
        aesImplementation: Int32 = -1
    ) {
        switch self {
        case .chacha20:
            Sodium.addStream(seed: seed, to: &vector, subtract: subtract, scratch: &scratch)
        case .aes128ctr:
            let mode = subtract ? FEDSIM_AES_SUBTRACT : FEDSIM_AES_ADD
            vector.withUnsafeMutableBufferPointer { v in
                guard let base = v.baseAddress else { return }
                Self.aes(base, v.count, seed, Int32(mode.rawValue), aesImplementation)
            }
        }
    }

    /// The keystream of `seed` as `count` words: what `addStream` adds, kept for a second use.
    public func keystreamWords(seed: [UInt8], count n: Int, aesImplementation: Int32 = -1) -> [UInt32] {
        switch self {
        case .chacha20: return Sodium.keystreamWords(seed: seed, count: n)
        case .aes128ctr:
            return [UInt32](unsafeUninitializedCapacity: n) { buffer, initialized in
                if let base = buffer.baseAddress {
                    Self.aes(base, n, seed, Int32(FEDSIM_AES_STORE.rawValue), aesImplementation)
                }
                initialized = n
            }
        }
    }

    static func aes(_ words: UnsafeMutablePointer<UInt32>, _ n: Int, _ seed: [UInt8], _ mode: Int32, _ impl: Int32) {
        precondition(seed.count == 32)
        let counter = [UInt8](repeating: 0, count: 16)
        seed.withUnsafeBufferPointer { key in
            fedsim_aes128ctr_words(words, n, key.baseAddress!, counter, mode, impl)
        }
    }
}
