import CSodium
import FedSimCore

/// Why a TCP connection's secure channel was closed. Each refusal has its own code, and its
/// description is the reason the coordinator logs.
public struct SecureChannelError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The peer does not speak this protocol (wrong magic or version).
        case badHandshake
        /// Key confirmation failed: the peer does not hold the job secret.
        case authenticationFailed
        /// A record did not decrypt: tampered, replayed, reordered, or from another stream.
        case badRecord
        /// A record longer than the limit, claimed in its header.
        case oversized
        /// The stream ended inside a record or without its final message.
        case truncated
        /// Bytes after the final message, or a write before the handshake finished.
        case protocolViolation
    }
    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public static func == (a: SecureChannelError, b: SecureChannelError) -> Bool { a.code == b.code }
    public var description: String { "secure channel \(code.rawValue): \(detail)" }
}

/// The per-job key of the TCP transport.
///
/// It is derived from the run's `token` file rather than kept in a second file: the token is
/// already exactly what the transport needs (32 bytes from libsodium's CSPRNG, created per
/// run, 0600 in a 0700 directory, refused by `readToken` when others can read it, and never
/// put in the environment or on a command line), and one secret per job is one file to copy
/// to other hosts. It is not used as is: `crypto_kdf_derive_from_key` with the context
/// `FSimTCP1` gives an independent key, so the value compared in the `hello` (inside the
/// channel) is never itself the key that authenticates the channel, and a future second use
/// of the token gets its own subkey id instead of sharing this key.
public struct TransportSecret: Sendable {
    let key: [UInt8]

    public init(token: [UInt8]) {
        precondition(token.count == Int(crypto_kdf_KEYBYTES), "the run token must be 32 bytes")
        SecureRandom.ensureReady()
        var k = [UInt8](repeating: 0, count: 32)
        let context = Array("FSimTCP1".utf8CString)
        _ = k.withUnsafeMutableBufferPointer { out in
            context.withUnsafeBufferPointer { ctx in
                crypto_kdf_derive_from_key(out.baseAddress!, 32, 1, ctx.baseAddress!, token)
            }
        }
        key = k
    }
}

/// The handshake as a value type, free of I/O: the NIO handler feeds it the peer's messages
/// and writes what it returns. Four fixed-size messages:
///
/// ```
/// 1 client → server   magic(8) ‖ client ephemeral X25519 key(32)
/// 2 server → client   magic(8) ‖ server ephemeral X25519 key(32)
/// 3 client → server   client confirmation(32) ‖ client→server secretstream header(24)
/// 4 server → client   server confirmation(32) ‖ server→client secretstream header(24)
/// ```
///
/// `crypto_kx` gives both sides the same two session keys from the ephemeral keys. They are
/// not yet bound to the job, so every key actually used is a keyed BLAKE2b (the job secret
/// as the key) over a label, the transcript (magic and both public keys) and both kx keys;
/// the confirmations also cover the sender's stream header. The client proves first, and the
/// server sends nothing derived from the secret until that proof checks out, so a peer
/// without the secret gets one random public key and a closed connection.
struct SecureHandshake {
    enum Role { case client, server }
    static let magic = Array("FSIMTCP\u{1}".utf8)
    static let keyMessageBytes = 8 + 32
    static let confirmMessageBytes = 32 + 24

    let role: Role
    let secret: TransportSecret
    let publicKey: [UInt8]
    let secretKey: [UInt8]
    var peerKey: [UInt8]?
    /// Filled once the peer's key is known: c2s and s2c keys and both confirmations.
    var c2sKey: [UInt8] = []
    var s2cKey: [UInt8] = []
    var ownHeader: [UInt8] = []

    init(role: Role, secret: TransportSecret) {
        SecureRandom.ensureReady()
        self.role = role
        self.secret = secret
        var pk = [UInt8](repeating: 0, count: Int(crypto_kx_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_kx_SECRETKEYBYTES))
        crypto_kx_keypair(&pk, &sk)
        publicKey = pk
        secretKey = sk
    }

    /// Message 1 (client) or 2 (server).
    var keyMessage: [UInt8] { Self.magic + publicKey }

    /// Reads the peer's key message and derives the session keys.
    mutating func receiveKeyMessage(_ m: [UInt8]) throws {
        guard m.count == Self.keyMessageBytes, Array(m[0..<8]) == Self.magic else {
            throw SecureChannelError(.badHandshake, "the peer does not speak FedSim's TCP protocol (version 1)")
        }
        let peer = Array(m[8...])
        var rx = [UInt8](repeating: 0, count: 32)
        var tx = [UInt8](repeating: 0, count: 32)
        let rc =
            role == .client
            ? crypto_kx_client_session_keys(&rx, &tx, publicKey, secretKey, peer)
            : crypto_kx_server_session_keys(&rx, &tx, publicKey, secretKey, peer)
        guard rc == 0 else { throw SecureChannelError(.badHandshake, "the peer's public key is invalid") }
        peerKey = peer
        let (c2s, s2c) = role == .client ? (tx, rx) : (rx, tx)
        c2sKey = bound("c2s stream", c2s, s2c)
        s2cKey = bound("s2c stream", c2s, s2c)
    }

    /// The transcript: protocol magic, then the client's and the server's public keys.
    var transcript: [UInt8] {
        let peer = peerKey ?? []
        return Self.magic + (role == .client ? publicKey + peer : peer + publicKey)
    }

    /// BLAKE2b-256 keyed with the job secret over label ‖ transcript ‖ parts.
    func bound(_ label: String, _ parts: [UInt8]...) -> [UInt8] {
        var input = Array("fedsim tcp v1 \(label)".utf8) + transcript
        for p in parts { input += p }
        var out = [UInt8](repeating: 0, count: 32)
        crypto_generichash(&out, 32, input, UInt64(input.count), secret.key, secret.key.count)
        return out
    }

    func confirmation(of role: Role, header: [UInt8]) -> [UInt8] {
        role == .client
            ? bound("client confirm", c2sKey, s2cKey, header) : bound("server confirm", c2sKey, s2cKey, header)
    }

    /// Message 3 (client) or 4 (server): this side's confirmation and stream header.
    func confirmMessage(header: [UInt8]) -> [UInt8] { confirmation(of: role, header: header) + header }

    /// Checks the peer's confirmation in constant time and returns its stream header.
    func receiveConfirmMessage(_ m: [UInt8]) throws -> [UInt8] {
        guard m.count == Self.confirmMessageBytes else {
            throw SecureChannelError(.badHandshake, "a confirmation of \(m.count) bytes")
        }
        let header = Array(m[32...])
        let expected = confirmation(of: role == .client ? .server : .client, header: header)
        guard SecureRandom.constantTimeEqual(Array(m[0..<32]), expected) else {
            throw SecureChannelError(
                .authenticationFailed,
                role == .server
                    ? "the peer does not hold the job secret (key confirmation failed)"
                    : "the coordinator does not hold the job secret (key confirmation failed)"
            )
        }
        return header
    }

    var sendKey: [UInt8] { role == .client ? c2sKey : s2cKey }
    var receiveKey: [UInt8] { role == .client ? s2cKey : c2sKey }
}
