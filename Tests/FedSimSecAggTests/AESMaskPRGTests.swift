import CFedSimAES
import FedSimCore
import FedSimSecAgg
import Testing

/// AES-128-CTR as SecAgg+'s mask PRG: the published test vectors, the same words from every
/// implementation (VAES-512, AES-NI, portable C) so that devices on different CPUs cancel each
/// other's masks, and the PRG travelling in the round's `begin` message.
@Suite struct AESMaskPRGTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let c = Array(hex.utf8)
        return stride(from: 0, to: c.count, by: 2).map {
            UInt8(String(decoding: c[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
        }
    }

    /// Keystream words → bytes (little-endian, as masking reads them).
    static func keystream(_ key: [UInt8], _ counter: [UInt8], blocks: Int, impl: Int32) -> [UInt8] {
        var words = [UInt32](repeating: 0, count: 4 * blocks)
        fedsim_aes128ctr_words(&words, words.count, key, counter, Int32(FEDSIM_AES_STORE.rawValue), impl)
        return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
    }

    static var implementations: [Int32] { Array(0...fedsim_aes_best()) }

    /// FIPS-197 appendix C.1 (AES-128): one block is the cipher applied to the counter block.
    @Test func fips197() {
        let key = Self.bytes("000102030405060708090a0b0c0d0e0f")
        let plain = Self.bytes("00112233445566778899aabbccddeeff")
        for impl in Self.implementations {
            #expect(Self.keystream(key, plain, blocks: 1, impl: impl) == Self.bytes("69c4e0d86a7b0430d8cdb78070b4c55a"))
        }
    }

    /// SP 800-38A F.5.1 (CTR-AES128.Encrypt): keystream ⊕ plaintext is the ciphertext; the
    /// counter block's low byte wraps (…feff → …ff00) within the four blocks.
    @Test func sp80038aCTR() {
        let key = Self.bytes("2b7e151628aed2a6abf7158809cf4f3c")
        let counter = Self.bytes("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
        let plain = Self.bytes(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
        )
        let cipher = Self.bytes(
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
        )
        for impl in Self.implementations {
            let k = Self.keystream(key, counter, blocks: 4, impl: impl)
            #expect(zip(k, plain).map { $0 ^ $1 } == cipher, "implementation \(impl)")
        }
    }

    /// Where the CPU has VAES (avx512f, avx512bw, vaes in /proc/cpuinfo) the fast path really
    /// runs, so the comparisons below are not between two copies of the portable code.
    @Test func theFastestImplementationRunsWhereTheCPUHasIt() throws {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(
            info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? []
        )
        if flags.isSuperset(of: ["vaes", "avx512f", "avx512bw"]) {
            #expect(fedsim_aes_best() == Int32(FEDSIM_AES_VAES512.rawValue))
        } else if flags.contains("aes") {
            #expect(fedsim_aes_best() == Int32(FEDSIM_AES_NI.rawValue))
        }
        #expect(MaskPRG.aesAccelerated == flags.contains("aes"))
    }

    /// Stored, added and subtracted over lengths around both batch sizes (32 and 128 words) and
    /// counters whose low 64 bits carry inside a batch: every implementation gives the portable
    /// code's words.
    @Test func implementationsAgree() {
        var rng = Xoshiro256(seed: 24)
        let lengths = [0, 1, 3, 4, 5, 31, 32, 33, 127, 128, 129, 255, 257, 1000, 4099]
        for (i, n) in lengths.enumerated() {
            let key = (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var counter = (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if i % 2 == 0 { for b in 8..<15 { counter[b] = 0xff } }  // a carry within the stream
            if i % 3 == 0 { counter = [UInt8](repeating: 0xff, count: 16) }  // wraps to zero
            let start = (0..<n).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            for mode in [FEDSIM_AES_STORE, FEDSIM_AES_ADD, FEDSIM_AES_SUBTRACT] {
                var reference = start
                fedsim_aes128ctr_words(&reference, n, key, counter, Int32(mode.rawValue), 0)
                for impl in Self.implementations.dropFirst() {
                    var w = start
                    fedsim_aes128ctr_words(&w, n, key, counter, Int32(mode.rawValue), impl)
                    #expect(w == reference, "length \(n), mode \(mode.rawValue), implementation \(impl)")
                }
            }
        }
    }

    /// `MaskPRG.aes128ctr` keys AES with the seed's first 16 bytes from counter 0; adding then
    /// subtracting a stream restores the vector; the two PRGs give different masks.
    @Test func maskPRGUsesTheSeedsFirstHalf() {
        let seed = (0..<32).map { UInt8($0 * 7 + 1) }
        let words = MaskPRG.aes128ctr.keystreamWords(seed: seed, count: 8)
        let direct = Self.keystream(Array(seed.prefix(16)), [UInt8](repeating: 0, count: 16), blocks: 2, impl: -1)
        #expect(words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } } == direct)
        #expect(words != MaskPRG.chacha20.keystreamWords(seed: seed, count: 8))
        let v0 = (0..<1000).map { UInt32($0) &* 2_654_435_761 }
        for prg in MaskPRG.allCases {
            var v = v0
            var scratch: [UInt32] = []
            prg.addStream(seed: seed, to: &v, subtract: false, scratch: &scratch)
            #expect(v != v0)
            var kept = v0
            Sodium.add(words: prg.keystreamWords(seed: seed, count: 1000), to: &kept, subtract: false)
            #expect(v == kept)
            prg.addStream(seed: seed, to: &v, subtract: true, scratch: &scratch)
            #expect(v == v0)
        }
    }

    /// The PRG travels in `begin` (byte 1 of the bits word): ChaCha20's encoding is the old
    /// one, AES's round-trips, and an unknown PRG is refused.
    @Test func beginCarriesThePRG() throws {
        let c = SecAggRoundConfig(round: 3, devices: [1, 2, 3], k: 2, t: 2, bits: 24, graphSeed: 5, length: 9)
        var a = c
        a.prg = .aes128ctr
        let chacha = SecAggPayload.begin(c).encoded()
        let aes = SecAggPayload.begin(a).encoded()
        #expect(chacha[12..<16] == [24, 0, 0, 0] && aes[12..<16] == [24, 1, 0, 0])
        guard case .begin(let back) = try SecAggPayload.decode(stage: SecAggStage.begin.rawValue, aes) else {
            Issue.record("not a begin")
            return
        }
        #expect(back == a)
        var bad = aes
        bad[13] = 2
        #expect(throws: SecAggError.self) { try SecAggPayload.decode(stage: SecAggStage.begin.rawValue, bad) }
    }
}
