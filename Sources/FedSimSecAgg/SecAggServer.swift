import FedSimCore

/// The coordinator's side of a SecAgg+ round. It relays keys and encrypted shares, adds up
/// masked inputs as they arrive (it keeps only the running sum, never a device's vector),
/// and at the end reconstructs the secrets it is entitled to and removes the masks.
///
/// Sets, as in Bonawitz et al.: U1 advertised keys, U2 dealt shares, U3 sent masked input.
/// The result is Σ_{u ∈ U3} x_u mod 2^bits, exactly, or an error saying which secret
/// could not be reconstructed.
///
/// A value-type state machine: `stage` says which messages it takes, and every event in any
/// other stage is refused with `.outOfOrder` before anything changes. The first message of
/// the next stage closes the one before (the first share closes advertising, the first masked
/// input closes sharing); `announceSurvivors` closes masking and fixes U3, which the
/// unmasking stage carries. `SecAggServerTransitionTests` checks every (stage, event) pair.
///
///     advertising ──shares──▶ sharing ──masked──▶ masking ──announceSurvivors──▶ unmasking(U3)
public struct SecAggServer {
    /// Where the round is; what a stage alone knows travels in its case.
    public enum Stage: Equatable, Sendable {
        case advertising
        case sharing
        case masking
        case unmasking(survivors: Set<UInt32>)
    }

    public private(set) var stage: Stage = .advertising
    public let config: SecAggRoundConfig
    public let graph: NeighbourGraph
    let identityKey: (UInt32) -> [UInt8]?

    public private(set) var advertised: [UInt32: AdvertisedKeys] = [:]
    public private(set) var dealt: Set<UInt32> = []
    var inbox: [UInt32: [EncryptedShare]] = [:]
    public private(set) var maskedFrom: Set<UInt32> = []
    var sum: [UInt32]
    var seedShares: [UInt32: [Shamir.Share]] = [:]
    var keyShares: [UInt32: [Shamir.Share]] = [:]
    public private(set) var revealedBy: Set<UInt32> = []
    /// U3 once announced.
    public var survivorsAnnounced: Set<UInt32>? {
        if case .unmasking(let survivors) = stage { return survivors }
        return nil
    }

    public init(config: SecAggRoundConfig, identityKey: @escaping (UInt32) -> [UInt8]?) {
        self.config = config
        graph = config.graph()
        self.identityKey = identityKey
        sum = [UInt32](repeating: 0, count: config.length)
    }

    func neighbours(_ d: UInt32) -> Set<UInt32> {
        Set(graph.neighbours(of: graph.node(of: d)!).map { graph.devices[$0] })
    }

    // MARK: Stage 1

    public mutating func receive(_ keys: AdvertisedKeys) throws {
        guard stage == .advertising else {
            throw SecAggError(.outOfOrder, "keys from \(keys.device) after sharing began")
        }
        guard graph.node(of: keys.device) != nil else {
            throw SecAggError(.notSampled, "device \(keys.device) was not sampled")
        }
        guard advertised[keys.device] == nil else {
            throw SecAggError(.duplicate, "device \(keys.device) advertised twice")
        }
        guard let pk = identityKey(keys.device),
            Sodium.verify(signature: keys.signature, message: keys.signedBytes(round: config.round), publicKey: pk)
        else {
            throw SecAggError(
                .badSignature,
                "keys of device \(keys.device) are not signed by its enrolled identity for round \(config.round)"
            )
        }
        advertised[keys.device] = keys
    }

    /// The advertised keys of `device`'s neighbours (to forward to it).
    public func neighbourKeys(for device: UInt32) -> [AdvertisedKeys] {
        neighbours(device).sorted().compactMap { advertised[$0] }
    }

    // MARK: Stage 2

    public mutating func receive(shares: [EncryptedShare], from device: UInt32) throws {
        guard stage == .advertising || stage == .sharing else {
            throw SecAggError(.outOfOrder, "shares from \(device) after masking began")
        }
        guard advertised[device] != nil else {
            throw SecAggError(.outOfOrder, "shares from \(device), which did not advertise keys")
        }
        guard !dealt.contains(device) else { throw SecAggError(.duplicate, "device \(device) dealt shares twice") }
        let nb = neighbours(device)
        var seen = Set<UInt32>()
        for s in shares {
            guard s.from == device, nb.contains(s.to), advertised[s.to] != nil, seen.insert(s.to).inserted else {
                throw SecAggError(.notNeighbour, "device \(device) sent a share from \(s.from) to \(s.to)")
            }
        }
        stage = .sharing
        dealt.insert(device)
        for s in shares { inbox[s.to, default: []].append(s) }
    }

    /// The encrypted shares addressed to `device` (to forward to it).
    public func shares(for device: UInt32) -> [EncryptedShare] {
        (inbox[device] ?? []).filter { dealt.contains($0.from) }.sorted { $0.from < $1.from }
    }

    // MARK: Stage 3

    /// Adds one masked input to the running sum. Only the sum is kept.
    public mutating func receive(masked y: [UInt32], from device: UInt32) throws {
        guard stage == .sharing || stage == .masking else {
            throw SecAggError(.outOfOrder, "masked input from \(device) outside the masking stage")
        }
        guard dealt.contains(device) else {
            throw SecAggError(.outOfOrder, "masked input from \(device), which dealt no shares")
        }
        guard !maskedFrom.contains(device) else { throw SecAggError(.duplicate, "two masked inputs from \(device)") }
        guard y.count == config.length else {
            throw SecAggError(.badLength, "masked input of \(y.count), expected \(config.length)")
        }
        let m = config.modulusMask
        if m != .max, y.contains(where: { $0 > m }) {
            throw SecAggError(.malformed, "masked input outside Z_2^\(config.bits)")
        }
        stage = .masking
        sum.withUnsafeMutableBufferPointer { s in
            y.withUnsafeBufferPointer { v in for i in 0..<v.count { s[i] &+= v[i] } }
        }
        maskedFrom.insert(device)
    }

    /// Closes stage 3 (from any stage before it: whoever sent masked input by then): the
    /// survivor set U3 that every survivor is asked to unmask against. Idempotent.
    public mutating func announceSurvivors() -> Set<UInt32> {
        if case .unmasking(let survivors) = stage { return survivors }
        stage = .unmasking(survivors: maskedFrom)
        return maskedFrom
    }

    // MARK: Stage 4

    public mutating func receive(reveals: [RevealedShare], from holder: UInt32) throws {
        guard let survivors = survivorsAnnounced, survivors.contains(holder) else {
            throw SecAggError(.outOfOrder, "reveals from \(holder), which is not a survivor")
        }
        guard revealedBy.insert(holder).inserted else {
            throw SecAggError(.duplicate, "device \(holder) revealed twice")
        }
        let nb = neighbours(holder)
        let expectedX = NeighbourGraph.point(of: graph.node(of: holder)!)
        for r in reveals {
            guard r.holder == holder, nb.contains(r.peer), dealt.contains(r.peer), r.share.x == expectedX else {
                throw SecAggError(.badShare, "device \(holder) revealed a share of \(r.peer) it cannot hold")
            }
            let survived = survivors.contains(r.peer)
            switch (r.kind, survived) {
            case (.selfMaskSeed, true): seedShares[r.peer, default: []].append(r.share)
            case (.maskKey, false): keyShares[r.peer, default: []].append(r.share)
            default:
                throw SecAggError(.badShare, "device \(holder) revealed the wrong kind of share for \(r.peer)")
            }
        }
    }

    /// Removes all masks and returns Σ_{u ∈ U3} x_u mod 2^bits.
    public func unmaskedSum(scratch: inout [UInt32]) throws -> [UInt32] {
        guard let survivors = survivorsAnnounced else { throw SecAggError(.outOfOrder, "no survivor set announced") }
        guard survivors.count >= config.t else {
            throw SecAggError(
                .tooFewSurvivors,
                "\(survivors.count) devices sent masked input; threshold is \(config.t)"
            )
        }
        var result = sum
        var coefficientCache: [[UInt32]: [UInt64]] = [:]
        func reconstruct(_ shares: [Shamir.Share]?, of v: UInt32, what: String) throws -> [UInt8] {
            let sorted = (shares ?? []).sorted { $0.x < $1.x }
            guard sorted.count >= config.t else {
                throw SecAggError(
                    .reconstructionFailed,
                    "\(sorted.count) shares of device \(v)'s \(what); threshold is \(config.t)"
                )
            }
            let use = Array(sorted.prefix(config.t))
            let xs = use.map(\.x)
            let lambda = coefficientCache[xs] ?? Shamir.lagrangeAtZero(xs)
            coefficientCache[xs] = lambda
            guard let secret = Shamir.reconstruct(use, coefficients: lambda) else {
                throw SecAggError(.reconstructionFailed, "shares of device \(v)'s \(what) are inconsistent")
            }
            return secret
        }
        for v in survivors.sorted() {
            let seed = try reconstruct(seedShares[v], of: v, what: "self-mask seed")
            config.prg.addStream(seed: seed, to: &result, subtract: true, scratch: &scratch)
        }
        for v in dealt.subtracting(survivors).sorted() {
            let sk = try reconstruct(keyShares[v], of: v, what: "mask key")
            let keys = Sodium.AgreementKeyPair(secretKey: sk)
            guard keys.publicKey == advertised[v]!.maskKey else {
                throw SecAggError(
                    .reconstructionFailed,
                    "reconstructed mask key of device \(v) does not match its advertised key"
                )
            }
            // Every surviving neighbour w that masked with v added sign(w, v)·PRG(s_wv): take it out.
            let ws = neighbours(v).intersection(survivors).sorted()
            let seeds = try Sodium.agreeBatch(
                secretKey: sk,
                ownPublicKey: keys.publicKey,
                peerPublicKeys: ws.map { advertised[$0]!.maskKey },
                context: "fedsim-secagg-mask"
            )
            for (w, seed) in zip(ws, seeds) {
                config.prg.addStream(seed: seed, to: &result, subtract: !(w < v), scratch: &scratch)
            }
        }
        let m = config.modulusMask
        if m != .max { for i in result.indices { result[i] &= m } }
        return result
    }
}
