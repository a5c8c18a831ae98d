/// The public configuration of one SecAgg+ round, sent by the coordinator to every sampled
/// device's process. Everything here is public; devices check it before acting.
public struct SecAggRoundConfig: Equatable, Sendable {
    public var round: UInt32
    /// The sampled devices, ascending.
    public var devices: [UInt32]
    public var k: Int
    public var t: Int
    /// Inputs and sums live in Z_{2^bits}, bits ≤ 32.
    public var bits: Int
    /// Public randomness for the neighbour graph.
    public var graphSeed: UInt64
    /// Input vector length.
    public var length: Int
    /// The PRG that expands masks; the same for every party of the round.
    public var prg: MaskPRG

    public init(
        round: UInt32,
        devices: [UInt32],
        k: Int,
        t: Int,
        bits: Int,
        graphSeed: UInt64,
        length: Int,
        prg: MaskPRG = .chacha20
    ) {
        self.round = round
        self.devices = devices
        self.k = k
        self.t = t
        self.bits = bits
        self.graphSeed = graphSeed
        self.length = length
        self.prg = prg
    }

    public var modulusMask: UInt32 { bits >= 32 ? .max : (UInt32(1) << UInt32(bits)) - 1 }
    public func graph() -> NeighbourGraph { NeighbourGraph(devices: devices, k: k, seed: graphSeed) }
}

/// Stage 1: a device's two ephemeral public keys for this round, signed with its identity key.
public struct AdvertisedKeys: Equatable, Sendable {
    public var device: UInt32
    /// X25519 key for encrypting shares (c_u).
    public var encryptionKey: [UInt8]
    /// X25519 key for pairwise mask seeds (s_u).
    public var maskKey: [UInt8]
    /// Ed25519 signature over `signedBytes(round:)`.
    public var signature: [UInt8]

    public init(device: UInt32, encryptionKey: [UInt8], maskKey: [UInt8], signature: [UInt8]) {
        self.device = device
        self.encryptionKey = encryptionKey
        self.maskKey = maskKey
        self.signature = signature
    }

    /// Domain-separated and bound to the round and device, so a signature cannot be replayed
    /// into another round or for another device.
    public func signedBytes(round: UInt32) -> [UInt8] {
        Array("fedsim-secagg-keys-v1".utf8) + le(round) + le(device) + encryptionKey + maskKey
    }
}

/// Stage 2: one device's shares for one neighbour, encrypted to that neighbour.
public struct EncryptedShare: Equatable, Sendable {
    public var from: UInt32
    public var to: UInt32
    /// XChaCha20-Poly1305(nonce ‖ ct ‖ tag) of (from, to, self-mask-seed share, mask-key share),
    /// associated data = round ‖ from ‖ to.
    public var ciphertext: [UInt8]

    public init(from: UInt32, to: UInt32, ciphertext: [UInt8]) {
        self.from = from
        self.to = to
        self.ciphertext = ciphertext
    }

    public static func associatedData(round: UInt32, from: UInt32, to: UInt32) -> [UInt8] {
        Array("fedsim-secagg-share-v1".utf8) + le(round) + le(from) + le(to)
    }
}

/// Stage 4: a revealed share of one peer's secret.
public struct RevealedShare: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// A share of the peer's self-mask seed b_v (the peer survived).
        case selfMaskSeed = 1
        /// A share of the peer's mask secret key s_v (the peer dropped after sharing).
        case maskKey = 2
    }
    public var holder: UInt32
    public var peer: UInt32
    public var kind: Kind
    public var share: Shamir.Share

    public init(holder: UInt32, peer: UInt32, kind: Kind, share: Shamir.Share) {
        self.holder = holder
        self.peer = peer
        self.kind = kind
        self.share = share
    }
}

/// Why a SecAgg+ party refused to go on. The message names the rule that was broken.
public struct SecAggError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case outOfOrder, wrongRound, notSampled, notNeighbour, badSignature, duplicate, tooFewNeighbours
        case tooFewSurvivors, doubleReveal, badShare, badLength, malformed, reconstructionFailed
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public static func == (a: SecAggError, b: SecAggError) -> Bool { a.code == b.code }
    public var description: String { "\(code.rawValue): \(detail)" }
}

@inline(__always) func le(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
