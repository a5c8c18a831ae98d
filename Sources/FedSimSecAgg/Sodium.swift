import CSodium
import FedSimCore

/// The libsodium primitives SecAgg+ uses, behind small value types. Keys are `[UInt8]` of the
/// primitive's length; every function checks lengths and reports failure by `throws`/`nil`.
public enum Sodium {
    public struct CryptoError: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    static func ready() { precondition(SecureRandom.ready) }

    // MARK: Ed25519 identity signatures

    public struct SigningKeyPair: Sendable, Equatable {
        public var publicKey: [UInt8]   // 32
        var secretKey: [UInt8]          // 64 (seed ‖ pk), never logged
        public init(seed: [UInt8]) {
            Sodium.ready()
            precondition(seed.count == 32)
            var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
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
        public var publicKey: [UInt8]   // 32
        public var secretKey: [UInt8]   // 32
        public init(secretKey: [UInt8]) {
            Sodium.ready()
            precondition(secretKey.count == 32)
            var pk = [UInt8](repeating: 0, count: 32)
            _ = crypto_scalarmult_base(&pk, secretKey)
            self.secretKey = secretKey
            publicKey = pk
        }
        public static func random() -> AgreementKeyPair { AgreementKeyPair(secretKey: SecureRandom.bytes(32)) }
    }

    /// A 32-byte symmetric key both parties derive: BLAKE2b(X25519(sk, peer) ‖ pk_low ‖ pk_high ‖ context).
    /// Hashing in both public keys (ordered) and a context string gives distinct keys per pair
    /// and per use, and removes X25519's algebraic structure.
    public static func agree(secretKey: [UInt8], ownPublicKey: [UInt8], peerPublicKey: [UInt8], context: String) throws -> [UInt8] {
        ready()
        guard secretKey.count == 32, peerPublicKey.count == 32, ownPublicKey.count == 32 else {
            throw CryptoError("key agreement needs 32-byte keys")
        }
        var q = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult(&q, secretKey, peerPublicKey) == 0 else {
            throw CryptoError("key agreement with a low-order public key")
        }
        let (lo, hi) = ownPublicKey.lexicographicallyPrecedes(peerPublicKey) ? (ownPublicKey, peerPublicKey) : (peerPublicKey, ownPublicKey)
        return hash(q + lo + hi + Array(context.utf8), length: 32)
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
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&c, &clen, plaintext, UInt64(plaintext.count), ad, UInt64(ad.count), nil, nonce, key)
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
        guard crypto_aead_xchacha20poly1305_ietf_decrypt(&m, &mlen, nil, c, UInt64(c.count), ad, UInt64(ad.count), nonce, key) == 0
        else { return nil }
        return m
    }

    // MARK: PRG (ChaCha20 keystream)

    /// Adds (or subtracts) the ChaCha20 keystream of `seed`, read as little-endian UInt32 words,
    /// to `vector` with wrapping arithmetic (so the result is correct modulo any 2^b, b ≤ 32).
    /// The keystream is produced in cache-sized chunks into `scratch` and never allocated whole.
    public static func addStream(seed: [UInt8], to vector: inout [UInt32], subtract: Bool, scratch: inout [UInt32]) {
        ready()
        precondition(seed.count == 32)
        let chunkWords = 4096  // 16 KiB, a multiple of the 64-byte ChaCha20 block
        if scratch.count < chunkWords { scratch = [UInt32](repeating: 0, count: chunkWords) }
        let nonce = [UInt8](repeating: 0, count: 8)  // each seed is used for exactly one stream
        let zeros = [UInt8](repeating: 0, count: chunkWords * 4)
        var done = 0
        let n = vector.count
        vector.withUnsafeMutableBufferPointer { v in
            scratch.withUnsafeMutableBufferPointer { s in
                while done < n {
                    let words = min(chunkWords, n - done)
                    let bytes = ((words * 4 + 63) / 64) * 64
                    let block = UInt64(done * 4 / 64)
                    _ = crypto_stream_chacha20_xor_ic(UnsafeMutableRawPointer(s.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                                      zeros, UInt64(bytes), nonce, block, seed)
                    if subtract {
                        for i in 0..<words { v[done + i] &-= UInt32(littleEndian: s[i]) }
                    } else {
                        for i in 0..<words { v[done + i] &+= UInt32(littleEndian: s[i]) }
                    }
                    done += words
                }
            }
        }
    }

    /// Bytes of keystream per second on this machine (for the benchmark's floor).
    public static func measureStreamThroughput(bytes: Int = 64 << 20) -> Double {
        var v = [UInt32](repeating: 0, count: bytes / 4)
        var scratch: [UInt32] = []
        let seed = [UInt8](repeating: 7, count: 32)
        let t = monotonicSeconds()
        addStream(seed: seed, to: &v, subtract: false, scratch: &scratch)
        return Double(bytes) / (monotonicSeconds() - t)
    }
}
