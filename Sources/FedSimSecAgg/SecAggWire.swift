/// The stages of a SecAgg+ round as they travel, each with its byte encoding. Decoding checks
/// every count against the bytes present and every key length, and throws `malformed`.
public enum SecAggStage: UInt8, Sendable, CaseIterable {
    case enroll = 1
    case begin, advertise, keys, shares, relay, masked, maskedDone, unmask, reveal

    public var name: String {
        switch self {
        case .enroll: return "enroll"
        case .begin: return "begin"
        case .advertise: return "advertise"
        case .keys: return "keys"
        case .shares: return "shares"
        case .relay: return "relay"
        case .masked: return "masked"
        case .maskedDone: return "masked_done"
        case .unmask: return "unmask"
        case .reveal: return "reveal"
        }
    }
}

public enum SecAggPayload: Equatable, Sendable {
    /// client → coordinator, once after the handshake: its devices' identity public keys.
    case enroll([(device: UInt32, publicKey: [UInt8])])
    /// coordinator → client: the round's public configuration.
    case begin(SecAggRoundConfig)
    /// client → coordinator: stage 1 for the client's live devices.
    case advertise([AdvertisedKeys])
    /// coordinator → client: for each of its devices, its neighbours' advertised keys.
    case keys([(device: UInt32, keys: [AdvertisedKeys])])
    /// client → coordinator: stage 2, every share its live devices dealt.
    case shares([EncryptedShare])
    /// coordinator → client: for each of its devices, the shares addressed to it.
    case relay([(device: UInt32, shares: [EncryptedShare])])
    /// client → coordinator: stage 3, one device's masked input.
    case masked(device: UInt32, vector: [UInt32])
    /// client → coordinator: all of this client's masked inputs for the round are sent.
    case maskedDone
    /// coordinator → client: the survivor set U3.
    case unmask(survivors: [UInt32])
    /// client → coordinator: stage 4, its devices' revealed shares.
    case reveal([RevealedShare])

    public var stage: SecAggStage {
        switch self {
        case .enroll: return .enroll
        case .begin: return .begin
        case .advertise: return .advertise
        case .keys: return .keys
        case .shares: return .shares
        case .relay: return .relay
        case .masked: return .masked
        case .maskedDone: return .maskedDone
        case .unmask: return .unmask
        case .reveal: return .reveal
        }
    }

    public static func == (a: SecAggPayload, b: SecAggPayload) -> Bool { a.encoded() == b.encoded() }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .enroll(let list):
            w.u32(UInt32(list.count))
            for (d, pk) in list {
                w.u32(d)
                w.bytes(pk, fixed: 32)
            }
        case .begin(let c):
            w.u32(c.round)
            w.u32(UInt32(c.k))
            w.u32(UInt32(c.t))
            // The low byte is the bit width, the next the mask PRG (0 = ChaCha20, so a ChaCha20
            // round's bytes are what they were before the PRG became selectable).
            w.u32(UInt32(c.bits) | UInt32(c.prg.rawValue) << 8)
            w.u64(c.graphSeed)
            w.u32(UInt32(c.length))
            w.u32s(c.devices)
        case .advertise(let keys):
            w.u32(UInt32(keys.count))
            for k in keys { Self.write(k, &w) }
        case .keys(let list):
            w.u32(UInt32(list.count))
            for (d, keys) in list {
                w.u32(d)
                w.u32(UInt32(keys.count))
                for k in keys { Self.write(k, &w) }
            }
        case .shares(let shares):
            w.u32(UInt32(shares.count))
            for s in shares { Self.write(s, &w) }
        case .relay(let list):
            w.u32(UInt32(list.count))
            for (d, shares) in list {
                w.u32(d)
                w.u32(UInt32(shares.count))
                for s in shares { Self.write(s, &w) }
            }
        case .masked(let d, let v):
            w.u32(d)
            w.packed(v)
        case .maskedDone:
            break
        case .unmask(let survivors):
            w.u32s(survivors)
        case .reveal(let reveals):
            w.u32(UInt32(reveals.count))
            for r in reveals {
                w.u32(r.holder)
                w.u32(r.peer)
                w.u8(r.kind.rawValue)
                w.bytes(r.share.encoded(), fixed: Shamir.Share.encodedBytes)
            }
        }
        return w.out
    }

    static func write(_ k: AdvertisedKeys, _ w: inout ByteWriter) {
        w.u32(k.device)
        w.bytes(k.encryptionKey, fixed: 32)
        w.bytes(k.maskKey, fixed: 32)
        w.bytes(k.signature, fixed: 64)
    }

    static func write(_ s: EncryptedShare, _ w: inout ByteWriter) {
        w.u32(s.from)
        w.u32(s.to)
        w.u32(UInt32(s.ciphertext.count))
        w.bytes(s.ciphertext, fixed: s.ciphertext.count)
    }

    // MARK: Decoding

    public static func decode(stage raw: UInt8, _ body: [UInt8]) throws -> SecAggPayload {
        guard let stage = SecAggStage(rawValue: raw) else { throw SecAggError(.malformed, "unknown stage \(raw)") }
        var r = ByteReader(body)
        let p: SecAggPayload
        switch stage {
        case .enroll:
            let n = try r.count(itemBytes: 36)
            p = .enroll(try (0..<n).map { _ in (try r.u32(), try r.bytes(32)) })
        case .begin:
            let round = try r.u32()
            let k = Int(try r.u32())
            let t = Int(try r.u32())
            let bitsAndPRG = try r.u32()
            let bits = Int(bitsAndPRG & 0xff)
            let seed = try r.u64()
            let length = Int(try r.u32())
            let devices = try r.u32s()
            guard (1...32).contains(bits), t >= 1, t <= k, length > 0 else {
                throw SecAggError(.malformed, "begin with k \(k), t \(t), \(bits) bits")
            }
            guard bitsAndPRG >> 16 == 0, let prg = MaskPRG(rawValue: UInt8(bitsAndPRG >> 8 & 0xff)) else {
                throw SecAggError(
                    .malformed,
                    "begin names mask PRG \(bitsAndPRG >> 8), which is not 0 (chacha20) or 1 (aes128ctr)"
                )
            }
            p = .begin(
                SecAggRoundConfig(
                    round: round,
                    devices: devices,
                    k: k,
                    t: t,
                    bits: bits,
                    graphSeed: seed,
                    length: length,
                    prg: prg
                )
            )
        case .advertise:
            let n = try r.count(itemBytes: 132)
            p = .advertise(try (0..<n).map { _ in try readKeys(&r) })
        case .keys:
            let n = try r.count(itemBytes: 8)
            p = .keys(
                try (0..<n).map { _ in
                    let d = try r.u32()
                    let m = try r.count(itemBytes: 132)
                    return (d, try (0..<m).map { _ in try readKeys(&r) })
                }
            )
        case .shares:
            let n = try r.count(itemBytes: 12)
            p = .shares(try (0..<n).map { _ in try readShare(&r) })
        case .relay:
            let n = try r.count(itemBytes: 8)
            p = .relay(
                try (0..<n).map { _ in
                    let d = try r.u32()
                    let m = try r.count(itemBytes: 12)
                    return (d, try (0..<m).map { _ in try readShare(&r) })
                }
            )
        case .masked:
            p = .masked(device: try r.u32(), vector: try r.packed())
        case .maskedDone:
            p = .maskedDone
        case .unmask:
            p = .unmask(survivors: try r.u32s())
        case .reveal:
            let n = try r.count(itemBytes: 9 + Shamir.Share.encodedBytes)
            p = .reveal(
                try (0..<n).map { _ in
                    let h = try r.u32()
                    let peer = try r.u32()
                    let kindByte = try r.u8()
                    guard let kind = RevealedShare.Kind(rawValue: kindByte) else {
                        throw SecAggError(.malformed, "share kind \(kindByte)")
                    }
                    guard let share = Shamir.Share(encoded: try r.bytes(Shamir.Share.encodedBytes)) else {
                        throw SecAggError(.malformed, "share of \(peer) from \(h) is not a field element")
                    }
                    return RevealedShare(holder: h, peer: peer, kind: kind, share: share)
                }
            )
        }
        guard r.remaining == 0 else {
            throw SecAggError(.malformed, "\(r.remaining) trailing bytes after \(stage.name)")
        }
        return p
    }

    static func readKeys(_ r: inout ByteReader) throws -> AdvertisedKeys {
        AdvertisedKeys(
            device: try r.u32(),
            encryptionKey: try r.bytes(32),
            maskKey: try r.bytes(32),
            signature: try r.bytes(64)
        )
    }

    static func readShare(_ r: inout ByteReader) throws -> EncryptedShare {
        let from = try r.u32()
        let to = try r.u32()
        let n = Int(try r.u32())
        guard n <= 4096 else { throw SecAggError(.malformed, "share ciphertext of \(n) bytes") }
        return EncryptedShare(from: from, to: to, ciphertext: try r.bytes(n))
    }
}

struct ByteWriter {
    var out: [UInt8] = []
    mutating func u8(_ v: UInt8) { out.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    mutating func bytes(_ b: [UInt8], fixed n: Int) {
        precondition(b.count == n, "field of \(b.count) bytes where \(n) are required")
        out += b
    }
    mutating func u32s(_ v: [UInt32]) {
        u32(UInt32(v.count))
        v.withUnsafeBytes { out += $0 }
    }

    /// Count, bit width, then the values packed at that width: a masked vector in Z_{2^bits}
    /// costs `bits` per element on the wire, so `secure_aggregation.bits` sets the upload size.
    mutating func packed(_ v: [UInt32]) {
        u32(UInt32(v.count))
        var maxValue: UInt32 = 0
        for x in v { maxValue |= x }
        let width = max(1, 32 - maxValue.leadingZeroBitCount)
        out.append(UInt8(width))
        if width == 32 {
            v.withUnsafeBytes { out += $0 }
            return
        }
        out.reserveCapacity(out.count + (v.count * width + 7) / 8)
        var acc: UInt64 = 0
        var n = 0
        for x in v {
            acc |= UInt64(x) << UInt64(n)
            n += width
            while n >= 8 {
                out.append(UInt8(truncatingIfNeeded: acc))
                acc >>= 8
                n -= 8
            }
        }
        if n > 0 { out.append(UInt8(truncatingIfNeeded: acc)) }
    }
}

struct ByteReader {
    let data: [UInt8]
    var pos = 0
    init(_ d: [UInt8]) { data = d }
    var remaining: Int { data.count - pos }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= remaining else { throw SecAggError(.malformed, "needs \(n) bytes, \(remaining) left") }
        defer { pos += n }
        return Array(data[pos..<(pos + n)])
    }
    mutating func u8() throws -> UInt8 { try bytes(1)[0] }
    mutating func u32() throws -> UInt32 {
        let b = try bytes(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    mutating func u64() throws -> UInt64 { UInt64(try u32()) | UInt64(try u32()) << 32 }
    /// A count whose items take at least `itemBytes` each: checked against what is left.
    mutating func count(itemBytes: Int) throws -> Int {
        let n = Int(try u32())
        guard n * itemBytes <= remaining else {
            throw SecAggError(.malformed, "\(n) items do not fit in \(remaining) bytes")
        }
        return n
    }
    mutating func packed() throws -> [UInt32] {
        let n = Int(try u32())
        let width = Int(try u8())
        guard (1...32).contains(width) else { throw SecAggError(.malformed, "packed width \(width)") }
        let bytes = (n * width + 7) / 8
        guard n <= remaining * 8, bytes == remaining else {
            throw SecAggError(.malformed, "\(n) values of \(width) bits need \(bytes) bytes, \(remaining) present")
        }
        if width == 32 {
            let v = [UInt32](unsafeUninitializedCapacity: n) { dst, initialized in
                data.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(dst).copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: src[pos..<(pos + 4 * n)])
                    )
                }
                initialized = n
            }
            pos += 4 * n
            return v.map { UInt32(littleEndian: $0) }
        }
        var out = [UInt32](repeating: 0, count: n)
        var acc: UInt64 = 0
        var have = 0
        let mask: UInt64 = (1 << UInt64(width)) - 1
        for i in 0..<n {
            while have < width {
                acc |= UInt64(data[pos]) << UInt64(have)
                pos += 1
                have += 8
            }
            out[i] = UInt32(acc & mask)
            acc >>= UInt64(width)
            have -= width
        }
        pos = data.count
        return out
    }

    mutating func u32s() throws -> [UInt32] {
        let n = try count(itemBytes: 4)
        let out = [UInt32](unsafeUninitializedCapacity: n) { dst, initialized in
            data.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(dst).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: src[pos..<(pos + 4 * n)])
                )
            }
            initialized = n
        }
        pos += 4 * n
        return out
    }
}

/// Device identities. The simulation's PKI: an enrollment authority holds a per-run secret
/// (`enrollment.key` in the run directory, 0600, read by client processes only) and derives
/// each device's Ed25519 key pair from it. Devices look up a neighbour's public key with
/// `publicKey(of:)`, which stands in for a trusted directory. The coordinator never reads the
/// secret. It learns public keys only from enrollment messages, so it cannot forge a
/// device's signature.
public struct Enrollment: Sendable {
    let secret: [UInt8]
    public init(secret: [UInt8]) {
        precondition(secret.count == 32)
        self.secret = secret
    }

    public func identity(of device: UInt32) -> Sodium.SigningKeyPair {
        Sodium.SigningKeyPair(seed: Sodium.hash(secret + Array("fedsim-identity-v1".utf8) + le(device)))
    }

    public func publicKey(of device: UInt32) -> [UInt8] { identity(of: device).publicKey }
}
