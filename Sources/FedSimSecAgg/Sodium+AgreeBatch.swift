import CFedSimX25519
import CSodium
import FedSimCore

extension Sodium {
    /// Whether X25519 runs eight at a time on FedSim's AVX-512 IFMA ladder (`CFedSimX25519`)
    /// rather than one at a time in libsodium: the same function (RFC 7748) and the same bytes,
    /// several times the rate on this project's Zen 4 machine (`make bench-x25519`). Tests and the benchmark pass
    /// `vectorized: false` to compare the two.
    public static let batchX25519Available: Bool = fedsim_x25519_available() == 1

    /// A final group of fewer lanes than this goes to libsodium: eight lanes cost about as
    /// much as two or three single agreements (`make bench-x25519`), so padding a group of
    /// one or two loses.
    static let minimumVectorLanes = 3

    /// X25519(scalars[i], points[i]) for every i (RFC 7748: scalars clamped, the points' top bit
    /// ignored), or nil where the result is all zero — a low-order point, where libsodium's
    /// `crypto_scalarmult` returns −1. Byte for byte libsodium's results either way.
    public static func scalarMultiply(
        scalars: [[UInt8]],
        points: [[UInt8]],
        vectorized: Bool = batchX25519Available
    ) -> [[UInt8]?] {
        ready()
        precondition(scalars.count == points.count)
        precondition(scalars.allSatisfy { $0.count == 32 } && points.allSatisfy { $0.count == 32 })
        let count = scalars.count
        let tail = count % 8
        let vectorCount = !(vectorized && batchX25519Available) ? 0 : count - (tail < minimumVectorLanes ? tail : 0)
        var out = [[UInt8]?](repeating: nil, count: count)
        if vectorCount > 0 {
            var n = [UInt8]()
            var p = [UInt8]()
            n.reserveCapacity(32 * vectorCount)
            p.reserveCapacity(32 * vectorCount)
            for i in 0..<vectorCount {
                n += scalars[i]
                p += points[i]
            }
            var q = [UInt8](repeating: 0, count: 32 * vectorCount)
            var status = [Int32](repeating: 0, count: vectorCount)
            fedsim_x25519_batch(&q, n, p, vectorCount, &status)
            sodium_memzero(&n, n.count)
            for i in 0..<vectorCount where status[i] == 0 { out[i] = Array(q[(32 * i)..<(32 * i + 32)]) }
            sodium_memzero(&q, q.count)
        }
        for i in vectorCount..<count {
            var q = [UInt8](repeating: 0, count: 32)
            if crypto_scalarmult(&q, scalars[i], points[i]) == 0 { out[i] = q }
        }
        return out
    }

    /// `agree` with each of `peerPublicKeys` under one key pair: the same keys, in order, as
    /// that many `agree` calls, with the X25519s computed as one batch. Throws `agree`'s error
    /// for the first peer (in order) whose key is low-order or not 32 bytes.
    public static func agreeBatch(
        secretKey: [UInt8],
        ownPublicKey: [UInt8],
        peerPublicKeys: [[UInt8]],
        context: String,
        vectorized: Bool = batchX25519Available
    ) throws -> [[UInt8]] {
        try agreeEach(
            secretKey: secretKey,
            ownPublicKey: ownPublicKey,
            peerPublicKeys: peerPublicKeys,
            context: context,
            vectorized: vectorized
        ).map { try $0.get() }
    }

    /// `agreeBatch` with each peer's outcome on its own: the key `agree` returns, or the error
    /// it throws.
    public static func agreeEach(
        secretKey: [UInt8],
        ownPublicKey: [UInt8],
        peerPublicKeys: [[UInt8]],
        context: String,
        vectorized: Bool = batchX25519Available
    ) -> [Result<[UInt8], CryptoError>] {
        ready()
        let lengthError = CryptoError("key agreement needs 32-byte keys")
        guard secretKey.count == 32, ownPublicKey.count == 32 else {
            return peerPublicKeys.map { _ in .failure(lengthError) }
        }
        // A peer key of the wrong length is not multiplied (u = 9 stands in for it).
        let points = peerPublicKeys.map { $0.count == 32 ? $0 : basePoint }
        let shared = scalarMultiply(
            scalars: [[UInt8]](repeating: secretKey, count: points.count),
            points: points,
            vectorized: vectorized
        )
        let contextBytes = Array(context.utf8)
        return zip(shared, peerPublicKeys).map { q, peer in
            guard peer.count == 32 else { return .failure(lengthError) }
            guard let q else { return .failure(CryptoError("key agreement with a low-order public key")) }
            return .success(derivedKey(shared: q, ownPublicKey, peer, contextBytes))
        }
    }

    /// RFC 7748's base point u = 9.
    static let basePoint: [UInt8] = [9] + [UInt8](repeating: 0, count: 31)

    /// BLAKE2b(q ‖ pk_low ‖ pk_high ‖ context): `agree`'s key from the X25519 output q.
    static func derivedKey(shared q: [UInt8], _ own: [UInt8], _ peer: [UInt8], _ context: [UInt8]) -> [UInt8] {
        let (lo, hi) = own.lexicographicallyPrecedes(peer) ? (own, peer) : (peer, own)
        return hash(q + lo + hi + context, length: 32)
    }
}

extension Sodium.AgreementKeyPair {
    /// Fresh key pairs, their public keys X25519(sk, 9) computed as one batch
    /// (`Sodium.scalarMultiply`): the same bytes as `random()`'s libsodium
    /// `crypto_scalarmult_base`, several at a time. A client process makes two per device and
    /// round (2,000 devices in a quickstart evaluation), so they share vector lanes.
    public static func randomBatch(count: Int, vectorized: Bool = Sodium.batchX25519Available) -> [Self] {
        var random = SecureRandom.bytes(32 * count)  // one CSPRNG call for all of them
        defer { sodium_memzero(&random, random.count) }
        return batch(secretKeys: (0..<count).map { Array(random[(32 * $0)..<(32 * $0 + 32)]) }, vectorized: vectorized)
    }

    /// Key pairs for the given secret keys (each 32 bytes), public keys as one batch.
    public static func batch(secretKeys: [[UInt8]], vectorized: Bool = Sodium.batchX25519Available) -> [Self] {
        let base = [9] + [UInt8](repeating: 0, count: 31)
        let publicKeys = Sodium.scalarMultiply(
            scalars: secretKeys,
            points: [[UInt8]](repeating: base, count: secretKeys.count),
            vectorized: vectorized
        )
        // The base point has order 8·ℓ's large prime factor ℓ: a clamped scalar never gives zero.
        return zip(secretKeys, publicKeys).map { Self(secretKey: $0, publicKey: $1!) }
    }
}
