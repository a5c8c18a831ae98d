/// Work that two simulated devices hosted by the same client process would both do with
/// identical inputs and identical results: checking one neighbour's signed keys, and the
/// two ends of a key agreement. The process does it once per round and hands both devices
/// the same bytes, so every message a device sends is byte-for-byte what an isolated
/// device would send; only the simulator's CPU time changes.
///
/// Entries are keyed by *all* their inputs (the exact signature, message and identity key;
/// both public keys of an agreement), so a coordinator that forwards different keys to
/// different devices gets no shortcut: each distinct input is checked or agreed on its own.
public final class SecAggSharedWork {
    var verified: Set<[UInt8]> = []
    var agreed: [[UInt8]: [UInt8]] = [:]
    public private(set) var verifications = 0, verificationHits = 0
    public private(set) var agreements = 0, agreementHits = 0

    public init() {}

    public func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        let key = signature + publicKey + message
        if verified.contains(key) {
            verificationHits += 1
            return true
        }
        verifications += 1
        guard Sodium.verify(signature: signature, message: message, publicKey: publicKey) else { return false }
        verified.insert(key)
        return true
    }

    /// X25519 + BLAKE2b of the sorted public keys: symmetric, so the peer's call with its own
    /// secret key and our public key yields the same bytes, and hits this entry.
    public func agree(
        secretKey: [UInt8],
        ownPublicKey: [UInt8],
        peerPublicKey: [UInt8],
        context: String
    ) throws -> [UInt8] {
        let (lo, hi) =
            ownPublicKey.lexicographicallyPrecedes(peerPublicKey)
            ? (ownPublicKey, peerPublicKey) : (peerPublicKey, ownPublicKey)
        let key = lo + hi + Array(context.utf8)
        if let v = agreed[key] {
            agreementHits += 1
            return v
        }
        agreements += 1
        let v = try Sodium.agree(
            secretKey: secretKey,
            ownPublicKey: ownPublicKey,
            peerPublicKey: peerPublicKey,
            context: context
        )
        agreed[key] = v
        return v
    }
}
