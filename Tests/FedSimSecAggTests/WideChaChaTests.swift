import FedSimCore
import FedSimSecAgg
import Testing

/// Mask expansion with FedSim's AVX-512 ChaCha20 must give libsodium's keystream word for word:
/// every SecAgg+ mask, and so every masked vector and golden output, depends on it.
@Suite struct WideChaChaTests {
    /// RFC 8439 appendix A.1, test vector 1: all-zero key and nonce, block counter 0.
    @Test func theKeystreamIsRFC8439s() {
        let expected: [UInt8] = [
            0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28,
            0xbd, 0xd2, 0x19, 0xb8, 0xa0, 0x8d, 0xed, 0x1a, 0xa8, 0x36, 0xef, 0xcc, 0x8b, 0x77, 0x0d, 0xc7,
            0xda, 0x41, 0x59, 0x7c, 0x51, 0x57, 0x48, 0x8d, 0x77, 0x24, 0xe0, 0x3f, 0xb8, 0xd8, 0x4a, 0x37,
            0x6a, 0x43, 0xb8, 0xf4, 0x15, 0x18, 0xa1, 0x1c, 0xc3, 0x87, 0xb6, 0x69, 0xb2, 0xee, 0x65, 0x86,
        ]
        var words: [UInt32] = []
        for i in 0..<16 {
            var w: UInt32 = 0
            for b in 0..<4 { w |= UInt32(expected[4 * i + b]) << UInt32(8 * b) }
            words.append(w)  // little-endian, as masking reads the keystream
        }
        let key = [UInt8](repeating: 0, count: 32)
        for wide in [true, false] {
            #expect(Array(Sodium.keystreamWords(seed: key, count: 300, wide: wide).prefix(16)) == words)
        }
    }

    /// Stored, added and subtracted, over lengths around the 16-block batch (256 words) and the
    /// ML-100K update's 30,276 words, with random keys: the same words as libsodium's.
    @Test func wideAndLibsodiumStreamsAgree() {
        guard Sodium.wideChaChaAvailable else { return }  // nothing to compare on this CPU
        var rng = Xoshiro256(seed: 24)
        for n in [0, 1, 15, 16, 17, 255, 256, 257, 511, 513, 4_099, 30_276] {
            let seed = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let base = (0..<n).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            #expect(
                Sodium.keystreamWords(seed: seed, count: n, wide: true)
                    == Sodium.keystreamWords(seed: seed, count: n, wide: false)
            )
            for subtract in [false, true] {
                var scratch: [UInt32] = []
                var (a, b) = (base, base)
                Sodium.addStream(seed: seed, to: &a, subtract: subtract, scratch: &scratch, wide: true)
                Sodium.addStream(seed: seed, to: &b, subtract: subtract, scratch: &scratch, wide: false)
                #expect(a == b, "n = \(n), subtract = \(subtract)")
                Sodium.addStream(seed: seed, to: &a, subtract: !subtract, scratch: &scratch, wide: true)
                #expect(a == base)  // adding then subtracting a stream is the identity
            }
        }
    }
}
