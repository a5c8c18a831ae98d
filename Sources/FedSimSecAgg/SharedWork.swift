/// Work that two simulated devices hosted by the same client process would both do with
/// identical inputs and identical results: checking one neighbour's signed keys, and the
/// two ends of a key agreement. The process does it once per round and hands both devices
/// the same bytes, so every message a device sends is byte-for-byte what an isolated
/// device would send; only the simulator's CPU time changes.
///
/// Entries are keyed by *all* their inputs (the exact signature, message and identity key;
/// both public keys of an agreement), so a coordinator that forwards different keys to
/// different devices gets no shortcut: each distinct input is checked or agreed on its own.
///
/// Pairwise mask streams likewise: when devices u and v of one process mask with each other,
/// both expand the mask stream (`MaskPRG`) of the same seed s_uv (u adds it, v subtracts it). The first
/// of the two keeps the expanded words (within `streamBudgetBytes`) and the second adds them
/// instead of expanding again; the masked vectors are the same numbers either way (addition
/// mod 2^32), so the bytes each device sends are unchanged and half the PRG work of such pairs
/// is saved. Only a partner listed in `willMask` (a device of this process that has yet to
/// mask this round) makes a stream worth keeping; a kept stream is dropped on its second use.
public final class SecAggSharedWork {
    var verified: Set<WorkKey> = []
    var agreed: [PairKey: [UInt8]] = [:]
    var streams: [Key32: [UInt32]] = [:]
    /// A small number per agreement context string, so table keys are fixed-size words.
    var contexts: [String: UInt8] = [:]
    public private(set) var streamBytes = 0
    public private(set) var verifications = 0, verificationHits = 0
    public private(set) var agreements = 0, agreementHits = 0
    public private(set) var streamExpansions = 0, streamHits = 0
    /// Devices of this process that will still mask this round (set by the process).
    public var willMask: Set<UInt32> = []
    /// Memory the kept streams may take at once; past it, a pair's stream is expanded twice.
    public var streamBudgetBytes: Int

    public init(streamBudgetBytes: Int = 64 << 20) { self.streamBudgetBytes = streamBudgetBytes }

    /// Adds (or subtracts) the pair stream of `seed` to `vector`, exactly as
    /// `prg.addStream` would; `partner` is the other device of the pair.
    public func addPairStream(
        seed: [UInt8],
        partner: UInt32,
        to vector: inout [UInt32],
        subtract: Bool,
        prg: MaskPRG = .chacha20,
        scratch: inout [UInt32]
    ) {
        if let kept = streams.removeValue(forKey: Key32(seed)), kept.count == vector.count {
            streamBytes -= 4 * kept.count
            streamHits += 1
            Sodium.add(words: kept, to: &vector, subtract: subtract)
            return
        }
        streamExpansions += 1
        let bytes = 4 * vector.count
        guard willMask.contains(partner), streamBytes + bytes <= streamBudgetBytes else {
            prg.addStream(seed: seed, to: &vector, subtract: subtract, scratch: &scratch)
            return
        }
        let words = prg.keystreamWords(seed: seed, count: vector.count)
        Sodium.add(words: words, to: &vector, subtract: subtract)
        streams[Key32(seed)] = words
        streamBytes += bytes
    }

    public func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        let key = WorkKey(signature + publicKey + message)
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
        guard ownPublicKey.count == 32, peerPublicKey.count == 32 else {  // Sodium's length error
            return try Sodium.agree(
                secretKey: secretKey,
                ownPublicKey: ownPublicKey,
                peerPublicKey: peerPublicKey,
                context: context
            )
        }
        let key = PairKey(Key32(ownPublicKey), Key32(peerPublicKey), context: contextID(context))
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

    /// `agree` with each of `peerPublicKeys` in order — the same keys, table hits and counts,
    /// and the same first error — with the X25519s of all misses computed as one batch.
    public func agreeBatch(
        secretKey: [UInt8],
        ownPublicKey: [UInt8],
        peerPublicKeys: [[UInt8]],
        context: String
    ) throws -> [[UInt8]] {
        guard ownPublicKey.count == 32, peerPublicKeys.allSatisfy({ $0.count == 32 }) else {
            return try Sodium.agreeBatch(  // Sodium's length error, for the first bad key in order
                secretKey: secretKey,
                ownPublicKey: ownPublicKey,
                peerPublicKeys: peerPublicKeys,
                context: context
            )
        }
        let own = Key32(ownPublicKey)
        let c = contextID(context)
        let keys = peerPublicKeys.map { PairKey(own, Key32($0), context: c) }
        // Each distinct miss once; a repeat of it later in the list is a hit, as it would be
        // after the first sequential call.
        var slot: [PairKey: Int] = [:]
        var missing: [[UInt8]] = []
        for (i, key) in keys.enumerated() where agreed[key] == nil && slot[key] == nil {
            slot[key] = missing.count
            missing.append(peerPublicKeys[i])
        }
        let fresh = Sodium.agreeEach(
            secretKey: secretKey,
            ownPublicKey: ownPublicKey,
            peerPublicKeys: missing,
            context: context
        )
        return try keys.map { key in
            if let v = agreed[key] {
                agreementHits += 1
                return v
            }
            agreements += 1
            let v = try fresh[slot[key]!].get()
            agreed[key] = v
            return v
        }
    }

    func contextID(_ context: String) -> UInt8 {
        if let id = contexts[context] { return id }
        precondition(contexts.count < 255, "more agreement contexts than a SecAgg+ round uses")
        let id = UInt8(contexts.count)
        contexts[context] = id
        return id
    }
}

/// 32 bytes (a public key, a seed) as four words, read big-endian so that comparing the words
/// in order compares the bytes lexicographically. Equality compares all 32 bytes without a heap
/// object; hashing the first 16 is enough, since they are uniformly random.
struct Key32: Hashable, Comparable {
    let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32)
        (a, b, c, d) = bytes.withUnsafeBytes { raw in
            (
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            )
        }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(a)
        hasher.combine(b)
    }

    static func < (x: Key32, y: Key32) -> Bool { (x.a, x.b, x.c, x.d) < (y.a, y.b, y.c, y.d) }
}

/// An agreement's table key: both public keys in order (so both ends of a pair find the same
/// entry) and the context.
struct PairKey: Hashable {
    let low: Key32, high: Key32, context: UInt8

    init(_ x: Key32, _ y: Key32, context: UInt8) {
        (low, high) = x < y ? (x, y) : (y, x)
        self.context = context
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(low.a)
        hasher.combine(high.a)
        hasher.combine(context)
    }
}

/// A table key of bytes that begin with 16 uniformly random ones (a signature, a public key, a
/// seed): hashing those 16 is enough, where hashing every byte (`[UInt8]`'s own `Hashable`)
/// was about 2% of a SecAgg+ round. Equality still compares every byte.
struct WorkKey: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { raw in
            guard raw.count >= 16 else { return hasher.combine(bytes: raw) }
            hasher.combine(raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            hasher.combine(raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}
