/// Why a frame was refused. Any of these closes the offending connection (and only it).
public struct FrameError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case oversized, undersized, badVersion, unknownKind, reservedBits, truncated, trailingBytes
        case countLimit, badString, badValue
    }
    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public static func == (a: FrameError, b: FrameError) -> Bool { a.code == b.code }
    public var description: String { "\(code.rawValue): \(detail)" }
}

/// Explicit bounds on what a decoder will accept, so a hostile peer cannot make us allocate
/// without limit: the frame size caps every count before any allocation happens.
public struct FrameLimits: Sendable, Equatable {
    public var maxFrameBytes: Int
    public var maxStringBytes: Int
    public init(maxFrameBytes: Int = 256 << 20, maxStringBytes: Int = 4_096) {
        self.maxFrameBytes = maxFrameBytes
        self.maxStringBytes = maxStringBytes
    }
}

/// What a connection may do before it has proven it belongs to the run (a hello with the run's
/// token). Everything before that is untrusted, so it gets little: a short deadline, frames
/// far smaller than the post-handshake limit (a hello is about 100 bytes, so a peer claiming a
/// 200 MB hello is refused at its 4-byte header instead of being buffered), and a cap on how
/// many such connections may wait at once, so idle or slow peers cannot exhaust the socket.
///
/// The transport itself recognises the end of the handshake: the first hello that carries the
/// run's token (compared in constant time). So the deadline measures the peer, never the
/// coordinator's own latency: a process re-joining while the coordinator is busy with a long
/// evaluation is not cut off. The coordinator still checks everything else in the hello.
public struct HandshakePolicy: Sendable, Equatable {
    /// The run's secret; a hello carrying it ends the handshake.
    public var token: [UInt8]
    /// Seconds from accept to a hello with the token; then the connection is closed.
    public var timeoutSeconds: Double
    /// The frame limit before the handshake.
    public var maxFrameBytes: Int
    /// Connections allowed to wait for their handshake at once; more are closed on accept.
    public var maxPending: Int
    public init(token: [UInt8], timeoutSeconds: Double = 10, maxFrameBytes: Int = 64 << 10, maxPending: Int = 64) {
        self.token = token
        self.timeoutSeconds = timeoutSeconds
        self.maxFrameBytes = maxFrameBytes
        self.maxPending = maxPending
    }
}
