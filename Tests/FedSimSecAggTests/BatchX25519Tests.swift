import FedSimCore
import FedSimSecAgg
import Foundation
import Testing

/// The eight-lane AVX-512 IFMA X25519 must be libsodium's `crypto_scalarmult` byte for byte —
/// results and failures — since every SecAgg+ share key and mask seed is derived from it.
/// Each comparison runs the same inputs with `vectorized: true` and `false` (libsodium).
@Suite struct BatchX25519Tests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func random(_ rng: inout Xoshiro256) -> [UInt8] {
        (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Both ways, asserting they agree, and the batch's answer.
    static func both(_ scalars: [[UInt8]], _ points: [[UInt8]]) -> [[UInt8]?] {
        let wide = Sodium.scalarMultiply(scalars: scalars, points: points, vectorized: true)
        let narrow = Sodium.scalarMultiply(scalars: scalars, points: points, vectorized: false)
        #expect(wide == narrow)
        return wide
    }

    /// Where the CPU has AVX-512 IFMA (Linux's /proc/cpuinfo flags) the batch must run FedSim's
    /// ladder, so that the comparisons here do not compare libsodium with itself.
    @Test func theLadderRunsWhereTheCPUHasIFMA() {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return }
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let flags = Set(line.split(separator: " ").map(String.init))
        #expect(Sodium.batchX25519Available == (flags.contains("avx512f") && flags.contains("avx512ifma")))
    }

    /// RFC 7748 section 5.2's two vectors, and section 6.1's Diffie-Hellman (public keys and the
    /// shared secret), eight lanes of one batch.
    @Test func rfc7748Vectors() {
        let a = Self.bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let b = Self.bytes("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        let aPub = Self.bytes("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        let bPub = Self.bytes("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = Self.bytes("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        let nine = [9] + [UInt8](repeating: 0, count: 31)
        let scalars = [
            Self.bytes("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
            Self.bytes("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"), a, b, a, b, a, b,
        ]
        let points = [
            Self.bytes("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
            Self.bytes("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"), nine, nine, bPub, aPub,
            bPub, aPub,
        ]
        let expected = [
            Self.bytes("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
            Self.bytes("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"), aPub, bPub, shared,
            shared, shared, shared,
        ]
        #expect(Self.both(scalars, points) == expected)
    }

    /// RFC 7748 section 5.2's iterated vector (k = u = 9; then k, u ← X25519(k, u), k) to 1,000
    /// steps in lane 0, with seven random chains beside it checked step by step against libsodium.
    @Test func iteratedVectorTo1000() {
        var rng = Xoshiro256(seed: 7748)
        let nine = [9] + [UInt8](repeating: 0, count: 31)
        var k = [nine] + (1..<8).map { _ in Self.random(&rng) }
        var u = [nine] + (1..<8).map { _ in Self.random(&rng) }
        for step in 1...1_000 {
            let q = Sodium.scalarMultiply(scalars: k, points: u, vectorized: true).map { $0! }
            if step % 100 == 0 || step == 1 {
                #expect(
                    q == Sodium.scalarMultiply(scalars: k, points: u, vectorized: false).map { $0! },
                    "step \(step)"
                )
            }
            (u, k) = (k, q)
            if step == 1 {
                #expect(k[0] == Self.bytes("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"))
            }
        }
        #expect(k[0] == Self.bytes("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"))
    }

    /// Thousands of random (scalar, point) pairs, every lane its own scalar; counts that end
    /// in a full group, a padded group (5 lanes) and a short tail left to libsodium (3).
    @Test func randomPairsMatchLibsodium() {
        var rng = Xoshiro256(seed: 25519)
        for count in [4_096, 1_005, 1_003] {
            let scalars = (0..<count).map { _ in Self.random(&rng) }
            let points = (0..<count).map { _ in Self.random(&rng) }
            let q = Self.both(scalars, points)
            #expect(q.allSatisfy { $0 != nil })
        }
    }

    /// Non-canonical u-coordinates: the top bit set (RFC 7748 ignores it), p … 2^255 − 1 (reduced
    /// mod p), 2^256 − 1, and values just below p.
    @Test func nonCanonicalPointsMatchLibsodium() {
        var rng = Xoshiro256(seed: 255)
        var points: [[UInt8]] = []
        for d in 0..<19 {  // p + d = 2^255 − 19 + d, for d < 19, and with bit 255 set too
            var u = [UInt8](repeating: 0xff, count: 32)
            u[0] = 0xed &+ UInt8(d)
            u[31] = 0x7f
            points.append(u)
            u[31] = 0xff
            points.append(u)
        }
        points.append([UInt8](repeating: 0xff, count: 32))
        for d in 1...8 {  // p − d
            var u = [UInt8](repeating: 0xff, count: 32)
            u[0] = 0xed - UInt8(d)
            u[31] = 0x7f
            points.append(u)
        }
        for _ in 0..<64 {  // random with the top bit set
            var u = Self.random(&rng)
            u[31] |= 0x80
            points.append(u)
        }
        let q = Self.both(points.map { _ in Self.random(&rng) }, points)
        #expect(q.filter { $0 == nil }.count == 5)  // p − 1, and p, p + 1 (≡ 0, 1) with and without the top bit
    }

    /// libsodium's low-order points (0, 1, the two of order 8, p − 1, p, p + 1, and each with the
    /// top bit set) give an all-zero result: nil in the batch, among good lanes, exactly where
    /// libsodium returns −1.
    static let lowOrder: [[UInt8]] = {
        var points: [[UInt8]] = [
            [0] + [UInt8](repeating: 0, count: 31), [1] + [UInt8](repeating: 0, count: 31),
            bytes("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            bytes("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        ]
        for last in [0xec, 0xed, 0xee] as [UInt8] {
            points.append([last] + [UInt8](repeating: 0xff, count: 30) + [0x7f])
        }
        return points + points.map { Array($0.dropLast()) + [$0[31] | 0x80] }
    }()

    @Test func lowOrderPointsFailLikeLibsodium() {
        var rng = Xoshiro256(seed: 8)
        var points: [[UInt8]] = []
        for p in Self.lowOrder { points += [p, Self.random(&rng)] }
        let q = Self.both(points.map { _ in Self.random(&rng) }, points)
        #expect(q.count == 28)
        for (i, r) in q.enumerated() { #expect((r == nil) == i.isMultiple(of: 2), "point \(i)") }
    }

    /// `agreeBatch` gives `agree`'s keys in order; with a low-order key among the peers it throws
    /// `agree`'s error ("key agreement with a low-order public key"), and `SecAggSharedWork`'s
    /// batch makes the same table hits and counts as its sequential calls.
    @Test func agreeBatchIsSequentialAgree() throws {
        let own = Sodium.AgreementKeyPair.random()
        let peers = (0..<21).map { _ in Sodium.AgreementKeyPair.random().publicKey }
        let one = try peers.map {
            try Sodium.agree(secretKey: own.secretKey, ownPublicKey: own.publicKey, peerPublicKey: $0, context: "c")
        }
        for vectorized in [true, false] {
            let all = try Sodium.agreeBatch(
                secretKey: own.secretKey,
                ownPublicKey: own.publicKey,
                peerPublicKeys: peers,
                context: "c",
                vectorized: vectorized
            )
            #expect(all == one)
        }
        for bad in Self.lowOrder {
            let expected = #expect(throws: Sodium.CryptoError.self) {
                try Sodium.agree(
                    secretKey: own.secretKey,
                    ownPublicKey: own.publicKey,
                    peerPublicKey: bad,
                    context: "c"
                )
            }
            let batched = #expect(throws: Sodium.CryptoError.self) {
                try Sodium.agreeBatch(
                    secretKey: own.secretKey,
                    ownPublicKey: own.publicKey,
                    peerPublicKeys: peers + [bad] + peers,
                    context: "c"
                )
            }
            #expect(expected?.description == "key agreement with a low-order public key")
            #expect(batched == expected)
        }
        let work = SecAggSharedWork()
        let sequential = SecAggSharedWork()
        let list = peers + Array(peers.prefix(5))  // repeats are hits
        let batched = try work.agreeBatch(
            secretKey: own.secretKey,
            ownPublicKey: own.publicKey,
            peerPublicKeys: list,
            context: "c"
        )
        let oneByOne = try list.map {
            try sequential.agree(secretKey: own.secretKey, ownPublicKey: own.publicKey, peerPublicKey: $0, context: "c")
        }
        #expect(batched == oneByOne)
        #expect(work.agreements == 21 && work.agreementHits == 5)
        #expect((sequential.agreements, sequential.agreementHits) == (work.agreements, work.agreementHits))
    }

    /// Key pairs made as one batch have libsodium's public keys (`crypto_scalarmult_base`), for
    /// counts that fill, pad and leave a tail of the eight lanes.
    @Test func batchedKeyPairsAreLibsodiums() {
        for count in [1, 2, 3, 8, 13, 64] {
            let pairs = Sodium.AgreementKeyPair.randomBatch(count: count)
            #expect(pairs.count == count)
            for p in pairs { #expect(p == Sodium.AgreementKeyPair(secretKey: p.secretKey)) }
            #expect(Set(pairs.map(\.secretKey)).count == count)
        }
    }
}
