import FedSimCore

/// One device's side of a SecAgg+ round, as a value-type state machine:
///
/// ```
/// start ──advertise()──▶ advertised ──shareKeys()──▶ shared ──maskedInput()──▶ masked ──unmask()──▶ done
/// ```
///
/// Each event checks that it comes in order, for this round, and only from the device's
/// neighbours. A violation throws `SecAggError`, and nothing secret is released.
/// The device answers exactly one unmask request per round, and for each peer reveals
/// either the self-mask seed share (the peer survived) or the mask-key share (the peer
/// dropped), never both. That rule defeats the double-reveal attack.
public struct SecAggDevice {
    public enum Stage: Equatable, Sendable { case start, advertised, shared, masked, done }

    public let device: UInt32
    public let config: SecAggRoundConfig
    let identity: Sodium.SigningKeyPair
    let graph: NeighbourGraph
    let node: Int
    let neighbourSet: Set<UInt32>
    public private(set) var stage: Stage = .start

    let encryptionKeys: Sodium.AgreementKeyPair
    let maskKeys: Sodium.AgreementKeyPair
    var selfMaskSeed: [UInt8] = []
    var peers: [UInt32: AdvertisedKeys] = [:]  // verified neighbour keys
    var received: [UInt32: [UInt8]] = [:]  // sealed shares from neighbours (U2 ∩ N(u))
    var shareKeys: [UInt32: [UInt8]] = [:]  // per-neighbour encryption keys, agreed once
    var maskedWith: [UInt32] = []
    /// Checks and agreements shared with the other devices of the same process, if any.
    let sharedWork: SecAggSharedWork?

    /// `graph` may be passed in when many devices of one process share a round; so may
    /// `sharedWork` (see `SecAggSharedWork`), and the round's two fresh key pairs c_u, s_u
    /// (`keys`, made for many devices at once by `AgreementKeyPair.randomBatch`).
    public init(
        device: UInt32,
        identity: Sodium.SigningKeyPair,
        config: SecAggRoundConfig,
        graph: NeighbourGraph? = nil,
        sharedWork: SecAggSharedWork? = nil,
        keys: (encryption: Sodium.AgreementKeyPair, mask: Sodium.AgreementKeyPair)? = nil
    ) throws {
        encryptionKeys = keys?.encryption ?? .random()
        maskKeys = keys?.mask ?? .random()
        self.sharedWork = sharedWork
        let g = graph ?? config.graph()
        guard let node = g.node(of: device) else {
            throw SecAggError(.notSampled, "device \(device) is not among the round's sampled devices")
        }
        guard config.t >= 1, config.t <= g.neighbours(of: node).count, (1...32).contains(config.bits) else {
            throw SecAggError(
                .malformed,
                "threshold \(config.t) and \(config.bits) bits do not fit \(g.neighbours(of: node).count) neighbours"
            )
        }
        self.device = device
        self.identity = identity
        self.config = config
        self.graph = g
        self.node = node
        neighbourSet = Set(g.neighbours(of: node).map { g.devices[$0] })
    }

    public var neighbours: Set<UInt32> { neighbourSet }

    func verify(_ signature: [UInt8], _ message: [UInt8], _ publicKey: [UInt8]) -> Bool {
        if let sharedWork { return sharedWork.verify(signature: signature, message: message, publicKey: publicKey) }
        return Sodium.verify(signature: signature, message: message, publicKey: publicKey)
    }

    /// `agree` with each of `peers` in order, the X25519s as one batch (`Sodium.agreeBatch`).
    func agreeAll(_ own: Sodium.AgreementKeyPair, _ peers: [[UInt8]], context: String) throws -> [[UInt8]] {
        if let sharedWork {
            return try sharedWork.agreeBatch(
                secretKey: own.secretKey,
                ownPublicKey: own.publicKey,
                peerPublicKeys: peers,
                context: context
            )
        }
        return try Sodium.agreeBatch(
            secretKey: own.secretKey,
            ownPublicKey: own.publicKey,
            peerPublicKeys: peers,
            context: context
        )
    }

    // MARK: Stage 1

    public mutating func advertise() throws -> AdvertisedKeys {
        guard stage == .start else { throw SecAggError(.outOfOrder, "advertise in stage \(stage)") }
        var keys = AdvertisedKeys(
            device: device,
            encryptionKey: encryptionKeys.publicKey,
            maskKey: maskKeys.publicKey,
            signature: []
        )
        keys.signature = identity.sign(keys.signedBytes(round: config.round))
        stage = .advertised
        return keys
    }

    // MARK: Stage 2

    /// Verifies the neighbours' advertised keys against their enrolled identity keys
    /// (`identityKey(device)`, the PKI), then deals Shamir shares of the self-mask seed and
    /// the mask secret key to each, encrypted to that neighbour.
    public mutating func shareKeys(
        _ advertised: [AdvertisedKeys],
        identityKey: (UInt32) -> [UInt8]?
    ) throws -> [EncryptedShare] {
        guard stage == .advertised else { throw SecAggError(.outOfOrder, "share keys in stage \(stage)") }
        for a in advertised {
            guard neighbourSet.contains(a.device) else {
                throw SecAggError(.notNeighbour, "keys of device \(a.device), which is not a neighbour of \(device)")
            }
            guard peers[a.device] == nil else { throw SecAggError(.duplicate, "keys of device \(a.device) twice") }
            guard let pk = identityKey(a.device), verify(a.signature, a.signedBytes(round: config.round), pk) else {
                throw SecAggError(
                    .badSignature,
                    "keys of device \(a.device) do not carry its signature for round \(config.round)"
                )
            }
            peers[a.device] = a
        }
        guard peers.count >= config.t else {
            throw SecAggError(.tooFewNeighbours, "\(peers.count) neighbours advertised keys, threshold is \(config.t)")
        }
        selfMaskSeed = SecureRandom.bytes(32)
        let holders = peers.keys.sorted()
        let xs = holders.map { NeighbourGraph.point(of: graph.node(of: $0)!) }
        let seedShares = Shamir.split(selfMaskSeed, threshold: config.t, xs: xs)
        let keyShares = Shamir.split(maskKeys.secretKey, threshold: config.t, xs: xs)
        var out: [EncryptedShare] = []
        out.reserveCapacity(holders.count)
        let keys = try agreeAll(
            encryptionKeys,
            holders.map { peers[$0]!.encryptionKey },
            context: "fedsim-secagg-share"
        )
        for (i, v) in holders.enumerated() {
            let key = keys[i]
            shareKeys[v] = key
            let plain = le(device) + le(v) + seedShares[i].encoded() + keyShares[i].encoded()
            out.append(
                EncryptedShare(
                    from: device,
                    to: v,
                    ciphertext: Sodium.seal(
                        plain,
                        key: key,
                        associatedData: EncryptedShare.associatedData(round: config.round, from: device, to: v)
                    )
                )
            )
        }
        stage = .shared
        return out
    }

    // MARK: Stage 3

    /// Masks `input` (values in Z_{2^bits}) with the self mask and the pairwise masks of the
    /// neighbours whose shares arrived: y = x + PRG(b_u) + Σ_v ±PRG(s_uv) mod 2^bits, with
    /// + when u > v and − when u < v, so each pair's masks cancel in the sum.
    public mutating func maskedInput(
        _ input: [UInt32],
        sharesForMe: [EncryptedShare],
        scratch: inout [UInt32]
    ) throws -> [UInt32] {
        guard stage == .shared else { throw SecAggError(.outOfOrder, "masked input in stage \(stage)") }
        guard input.count == config.length else {
            throw SecAggError(.badLength, "input of \(input.count), expected \(config.length)")
        }
        for s in sharesForMe {
            guard s.to == device, peers[s.from] != nil else {
                throw SecAggError(.notNeighbour, "a share from \(s.from) to \(s.to) relayed to device \(device)")
            }
            guard received[s.from] == nil else { throw SecAggError(.duplicate, "two shares from device \(s.from)") }
            received[s.from] = s.ciphertext
        }
        guard received.count >= config.t else {
            throw SecAggError(.tooFewNeighbours, "shares from \(received.count) neighbours, threshold is \(config.t)")
        }
        var y = input
        let prg = config.prg
        prg.addStream(seed: selfMaskSeed, to: &y, subtract: false, scratch: &scratch)
        maskedWith = received.keys.sorted()
        let seeds = try agreeAll(maskKeys, maskedWith.map { peers[$0]!.maskKey }, context: "fedsim-secagg-mask")
        for (v, seed) in zip(maskedWith, seeds) {
            if let sharedWork {
                sharedWork.addPairStream(
                    seed: seed,
                    partner: v,
                    to: &y,
                    subtract: device < v,
                    prg: prg,
                    scratch: &scratch
                )
            } else {
                prg.addStream(seed: seed, to: &y, subtract: device < v, scratch: &scratch)
            }
        }
        let m = config.modulusMask
        if m != .max { for i in y.indices { y[i] &= m } }
        stage = .masked
        return y
    }

    // MARK: Stage 4

    /// Answers the one unmask request of the round: for each neighbour it masked with, a share
    /// of its self-mask seed if `survivors` lists it, else a share of its mask key.
    public mutating func unmask(survivors: Set<UInt32>) throws -> [RevealedShare] {
        guard stage == .masked else {
            throw SecAggError(
                stage == .done ? .doubleReveal : .outOfOrder,
                stage == .done
                    ? "device \(device) already answered an unmask request in round \(config.round)"
                    : "unmask in stage \(stage)"
            )
        }
        guard survivors.contains(device) else {
            throw SecAggError(.malformed, "survivor list omits device \(device) itself")
        }
        let alive = maskedWith.filter { survivors.contains($0) }.count
        guard alive + 1 >= config.t else {
            throw SecAggError(
                .tooFewSurvivors,
                "only \(alive) of \(maskedWith.count) neighbours survived; threshold \(config.t)"
            )
        }
        stage = .done  // from here on, never answer again
        var out: [RevealedShare] = []
        for v in maskedWith {
            guard let key = shareKeys[v],
                let plain = Sodium.open(
                    received[v]!,
                    key: key,
                    associatedData: EncryptedShare.associatedData(round: config.round, from: v, to: device)
                ),
                plain.count == 8 + 2 * Shamir.Share.encodedBytes,
                Array(plain[0..<8]) == le(v) + le(device),
                let seedShare = Shamir.Share(encoded: Array(plain[8..<(8 + Shamir.Share.encodedBytes)])),
                let keyShare = Shamir.Share(encoded: Array(plain[(8 + Shamir.Share.encodedBytes)...]))
            else { continue }  // tampered or replayed: reveal nothing for this peer
            let survived = survivors.contains(v)
            out.append(
                RevealedShare(
                    holder: device,
                    peer: v,
                    kind: survived ? .selfMaskSeed : .maskKey,
                    share: survived ? seedShare : keyShare
                )
            )
        }
        return out
    }
}
