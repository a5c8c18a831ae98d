import CFedSimChaCha
import CSodium
import FedSimCore

/// The libsodium primitives SecAgg+ uses, behind small value types. Keys are `[UInt8]` of the
/// primitive's length; every function checks lengths and reports failure by `throws`/`nil`.
public enum Sodium {
    public struct CryptoError: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    static func ready() { SecureRandom.ensureReady() }

    // MARK: Ed25519 identity signatures

    public struct SigningKeyPair: Sendable, Equatable {
        public var publicKey: [UInt8]  // 32
        var secretKey: [UInt8]  // 64 (seed ‖ pk), never logged
        public init(seed: [UInt8]) {
            Sodium.ready()
            precondition(seed.count == 32)
            var pk = [UInt8](repeating: 0, count: 32)
            var sk = [UInt8](repeating: 0, count: 64)
            _ = crypto_sign_seed_keypair(&pk, &sk, seed)
            publicKey = pk
            secretKey = sk
        }
        public static func random() -> SigningKeyPair { SigningKeyPair(seed: SecureRandom.bytes(32)) }

        public func sign(_ message: [UInt8]) -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: 64)
            _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), secretKey)
            return sig
        }
    }

    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        ready()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    // MARK: X25519 key agreement

    public struct AgreementKeyPair: Sendable, Equatable {
        public var publicKey: [UInt8]  // 32
        public var secretKey: [UInt8]  // 32
        public init(secretKey: [UInt8]) {
            Sodium.ready()
            precondition(secretKey.count == 32)
            var pk = [UInt8](repeating: 0, count: 32)
            _ = crypto_scalarmult_base(&pk, secretKey)
            self.secretKey = secretKey
            publicKey = pk
        }
        public static func random() -> AgreementKeyPair { AgreementKeyPair(secretKey: SecureRandom.bytes(32)) }

        /// A pair whose public key was computed elsewhere (`randomBatch`).
        init(secretKey: [UInt8], publicKey: [UInt8]) {
            self.secretKey = secretKey
            self.publicKey = publicKey
        }
    }

    /// A 32-byte symmetric key both parties derive: BLAKE2b(X25519(sk, peer) ‖ pk_low ‖ pk_high ‖ context).
    /// Hashing in both public keys (ordered) and a context string gives distinct keys per pair
    /// and per use, and removes X25519's algebraic structure.
    public static func agree(
        secretKey: [UInt8],
        ownPublicKey: [UInt8],
        peerPublicKey: [UInt8],
        context: String
    ) throws -> [UInt8] {
        ready()
        guard secretKey.count == 32, peerPublicKey.count == 32, ownPublicKey.count == 32 else {
            throw CryptoError("key agreement needs 32-byte keys")
        }
        var q = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult(&q, secretKey, peerPublicKey) == 0 else {
            throw CryptoError("key agreement with a low-order public key")
        }
        return derivedKey(shared: q, ownPublicKey, peerPublicKey, Array(context.utf8))
    }

    public static func hash(_ input: [UInt8], length: Int = 32) -> [UInt8] {
        ready()
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, input, UInt64(input.count), nil, 0)
        return out
    }

    // MARK: Authenticated encryption (XChaCha20-Poly1305)

    public static let nonceBytes = 24
    public static let macBytes = 16

    /// Encrypts with a fresh random nonce; output is nonce ‖ ciphertext ‖ tag.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData ad: [UInt8]) -> [UInt8] {
        ready()
        precondition(key.count == 32)
        let nonce = SecureRandom.bytes(nonceBytes)
        var c = [UInt8](repeating: 0, count: plaintext.count + macBytes)
        var clen: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &c,
            &clen,
            plaintext,
            UInt64(plaintext.count),
            ad,
            UInt64(ad.count),
            nil,
            nonce,
            key
        )
        return nonce + c
    }

    /// Decrypts `seal`'s output; nil when the key, associated data or bytes do not match.
    public static func open(_ sealed: [UInt8], key: [UInt8], associatedData ad: [UInt8]) -> [UInt8]? {
        ready()
        guard key.count == 32, sealed.count >= nonceBytes + macBytes else { return nil }
        let nonce = Array(sealed[0..<nonceBytes])
        let c = Array(sealed[nonceBytes...])
        var m = [UInt8](repeating: 0, count: c.count - macBytes)
        var mlen: UInt64 = 0
        guard
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                &m,
                &mlen,
                nil,
                c,
                UInt64(c.count),
                ad,
                UInt64(ad.count),
                nonce,
                key
            ) == 0
        else { return nil }
        return m
    }

    // MARK: PRG (ChaCha20 keystream)

    /// Whether mask expansion uses FedSim's 16-block AVX-512 ChaCha20 (`CFedSimChaCha`) rather
    /// than libsodium's: same keystream, about twice the rate with the add fused in. Tests pass
    /// `wide: false` to compare the two.
    public static let wideChaChaAvailable: Bool = fedsim_chacha20_available() == 1

    /// Adds (or subtracts) the ChaCha20 (IETF) keystream of `seed`, read as little-endian UInt32
    /// words, to `vector` with wrapping arithmetic (so the result is correct modulo any 2^b,
    /// b ≤ 32). With AVX-512 the keystream is added as it is made; otherwise libsodium writes it
    /// into `scratch` (reused between calls; no zero buffer is XORed) and it is added in one
    /// vectorised pass.
    public static func addStream(
        seed: [UInt8],
        to vector: inout [UInt32],
        subtract: Bool,
        scratch: inout [UInt32],
        wide: Bool = wideChaChaAvailable
    ) {
        ready()
        precondition(seed.count == 32)
        let n = vector.count
        let nonce = [UInt8](repeating: 0, count: 12)  // each seed keys exactly one stream
        if wide && wideChaChaAvailable {
            vector.withUnsafeMutableBufferPointer { v in
                guard let base = v.baseAddress else { return }
                fedsim_chacha20_words(
                    base,
                    n,
                    seed,
                    nonce,
                    Int32(subtract ? FEDSIM_CHACHA_SUBTRACT.rawValue : FEDSIM_CHACHA_ADD.rawValue)
                )
            }
            return
        }
        if scratch.count < n { scratch = [UInt32](repeating: 0, count: n) }
        vector.withUnsafeMutableBufferPointer { v in
            scratch.withUnsafeMutableBufferPointer { s in
                _ = crypto_stream_chacha20_ietf(
                    UnsafeMutableRawPointer(s.baseAddress!).assumingMemoryBound(to: UInt8.self),
                    UInt64(n * 4),
                    nonce,
                    seed
                )
                if subtract {
                    for i in 0..<n { v[i] &-= UInt32(littleEndian: s[i]) }
                } else {
                    for i in 0..<n { v[i] &+= UInt32(littleEndian: s[i]) }
                }
            }
        }
    }

    /// The ChaCha20 (IETF) keystream of `seed` as `count` little-endian UInt32 words: what
    /// `addStream` adds, kept for a second use (`SecAggSharedWork.addPairStream`).
    public static func keystreamWords(seed: [UInt8], count n: Int, wide: Bool = wideChaChaAvailable) -> [UInt32] {
        ready()
        precondition(seed.count == 32)
        let nonce = [UInt8](repeating: 0, count: 12)
        if wide && wideChaChaAvailable {
            return [UInt32](unsafeUninitializedCapacity: n) { buffer, initialized in
                if let base = buffer.baseAddress {
                    fedsim_chacha20_words(base, n, seed, nonce, Int32(FEDSIM_CHACHA_STORE.rawValue))
                }
                initialized = n
            }
        }
        var words = [UInt32](repeating: 0, count: n)
        words.withUnsafeMutableBufferPointer { s in
            _ = crypto_stream_chacha20_ietf(
                UnsafeMutableRawPointer(s.baseAddress!).assumingMemoryBound(to: UInt8.self),
                UInt64(n * 4),
                nonce,
                seed
            )
            for i in 0..<n { s[i] = UInt32(littleEndian: s[i]) }
        }
        return words
    }

    /// `vector ± words` with wrapping arithmetic (the add of `addStream`, for kept words).
    public static func add(words: [UInt32], to vector: inout [UInt32], subtract: Bool) {
        precondition(words.count == vector.count)
        vector.withUnsafeMutableBufferPointer { v in
            words.withUnsafeBufferPointer { s in
                if subtract {
                    for i in 0..<v.count { v[i] &-= s[i] }
                } else {
                    for i in 0..<v.count { v[i] &+= s[i] }
                }
            }
        }
    }

    /// Keystream bytes per second on this machine, measured the way masking uses it: repeated
    /// `addStream` over a warm vector of `words` words (the mask-expansion floor).
    public static func measureStreamThroughput(words: Int = 100_000, repetitions: Int = 200) -> Double {
        var v = [UInt32](repeating: 0, count: words)
        var scratch = [UInt32](repeating: 0, count: words)
        var seed = [UInt8](repeating: 7, count: 32)
        addStream(seed: seed, to: &v, subtract: false, scratch: &scratch)  // warm both buffers
        let t = monotonicSeconds()
        for i in 0..<repetitions {
            seed[0] = UInt8(truncatingIfNeeded: i)
            addStream(seed: seed, to: &v, subtract: i & 1 == 1, scratch: &scratch)
        }
        return Double(repetitions * words * 4) / (monotonicSeconds() - t)
    }

    /// Raw keystream generation alone (no add), for comparison.
    public static func measureRawKeystream(bytes: Int = 400_000, repetitions: Int = 200) -> Double {
        ready()
        var buf = [UInt8](repeating: 0, count: bytes)
        let nonce = [UInt8](repeating: 0, count: 12)
        let key = [UInt8](repeating: 3, count: 32)
        _ = crypto_stream_chacha20_ietf(&buf, UInt64(bytes), nonce, key)
        let t = monotonicSeconds()
        for _ in 0..<repetitions { _ = crypto_stream_chacha20_ietf(&buf, UInt64(bytes), nonce, key) }
        return Double(repetitions * bytes) / (monotonicSeconds() - t)
    }
}
