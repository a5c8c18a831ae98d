import FedSimCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// One decoded frame and its size on the wire.
public struct ReceivedFrame: Sendable {
    public var message: Message
    public var bytes: Int
}

/// Whether a connection has passed its handshake; shared by the connection's decoder (on its
/// event loop) and the server (which opens it when the coordinator accepts the hello).
final class HandshakeGate: Sendable {
    let open = NIOLockedValueBox(false)
    var isOpen: Bool { open.withLockedValue { $0 } }
}

/// NIO adapter for `FrameCodec`: buffering and re-entrancy are NIO's, the format is ours.
/// With a handshake policy, frames are held to its small limit until a hello carries the
/// run's token; then the gate opens and the full limit applies.
struct FrameDecoderHandler: ByteToMessageDecoder {
    typealias InboundOut = ReceivedFrame
    let limits: FrameLimits
    var preHandshake: FrameLimits?
    var token: [UInt8] = []
    let gate: HandshakeGate?

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let (m, n) = try FrameCodec.decodeFrame(&buffer, limits: preHandshake ?? limits) else {
            return .needMoreData
        }
        if preHandshake != nil, case .hello(let h) = m, SecureRandom.constantTimeEqual(h.token, token) {
            preHandshake = nil
            gate?.open.withLockedValue { $0 = true }
        }
        context.fireChannelRead(wrapInboundOut(ReceivedFrame(message: m, bytes: n)))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            throw FrameError(.truncated, "connection closed inside a frame (\(buffer.readableBytes) bytes pending)")
        }
        return .needMoreData
    }
}

typealias FrameChannel = NIOAsyncChannel<ReceivedFrame, ByteBuffer>

func makeFrameChannel(
    _ channel: Channel,
    limits: FrameLimits,
    handshake: (policy: HandshakePolicy, gate: HandshakeGate)? = nil
) -> EventLoopFuture<FrameChannel> {
    channel.eventLoop.makeCompletedFuture {
        let early = handshake.map {
            FrameLimits(
                maxFrameBytes: min($0.policy.maxFrameBytes, limits.maxFrameBytes),
                maxStringBytes: limits.maxStringBytes
            )
        }
        let decoder = FrameDecoderHandler(
            limits: limits,
            preHandshake: early,
            token: handshake?.policy.token ?? [],
            gate: handshake?.gate
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
        return try FrameChannel(wrappingChannelSynchronously: channel)
    }
}

/// An accepted connection and its handshake gate.
struct AcceptedConnection: Sendable {
    var channel: FrameChannel
    var gate: HandshakeGate
}

/// The coordinator's Unix-domain-socket server. Each accepted connection gets an id; decoded
/// frames and closures flow into one `events` stream. A bad frame closes that connection only.
public final class UnixSocketServer: CoordinatorTransport, @unchecked Sendable {
    public let events: AsyncStream<TransportEvent>
    let sink: AsyncStream<TransportEvent>.Continuation
    let state = NIOLockedValueBox(State())
    let serverChannel: NIOAsyncChannel<AcceptedConnection, Never>
    let handshake: HandshakePolicy
    var acceptTask: Task<Void, Never>?

    struct Connection {
        var channel: Channel
        var writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var gate: HandshakeGate
        var closeReason: String?
    }

    struct State {
        var next = 0
        var connections: [ConnectionID: Connection] = [:]
        /// Connections still waiting for their handshake (`HandshakePolicy.maxPending`).
        var pending: Set<ConnectionID> = []
    }

    /// Binds `path` (replacing a stale socket file) and restricts it to the owner (0600).
    /// Accept errors such as EMFILE (no file descriptors left) back off and retry inside NIO
    /// (its `AcceptBackoffHandler`) instead of failing the server.
    public static func start(
        path: String,
        limits: FrameLimits,
        handshake: HandshakePolicy
    ) async throws -> UnixSocketServer {
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                let gate = HandshakeGate()
                return makeFrameChannel(channel, limits: limits, handshake: (handshake, gate)).map {
                    AcceptedConnection(channel: $0, gate: gate)
                }
            }
        chmod(path, 0o600)
        let s = UnixSocketServer(ch, handshake: handshake)
        s.acceptTask = Task { await s.acceptLoop() }
        return s
    }

    init(_ ch: NIOAsyncChannel<AcceptedConnection, Never>, handshake: HandshakePolicy) {
        serverChannel = ch
        self.handshake = handshake
        (events, sink) = AsyncStream.makeStream(of: TransportEvent.self)
    }

    func acceptLoop() async {
        do {
            try await serverChannel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await conn in inbound { group.addTask { await self.serve(conn) } }
                }
            }
        } catch {
            // The listening socket closed: shutdown, or a fatal error the coordinator will see as silence.
        }
    }

    func serve(_ accepted: AcceptedConnection) async {
        let conn = accepted.channel
        let (id, admitted) = state.withLockedValue { s -> (ConnectionID, Bool) in
            s.next += 1
            guard s.pending.count < handshake.maxPending else { return (s.next, false) }
            s.pending.insert(s.next)
            return (s.next, true)
        }
        guard admitted else {
            try? await conn.channel.close()
            sink.yield(
                .closed(
                    id,
                    reason:
                        "refused on accept: \(handshake.maxPending) connections are already waiting for their handshake"
                )
            )
            return
        }
        let timeout = handshake.timeoutSeconds
        let timer = conn.channel.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) { [self] in
            guard !accepted.gate.isOpen else { return }
            state.withLockedValue {
                $0.connections[id]?.closeReason = "no hello with the run's token within \(timeout) s"
            }
            conn.channel.close(promise: nil)
        }
        var reason = "peer closed the connection"
        do {
            try await conn.executeThenClose { inbound, outbound in
                state.withLockedValue {
                    $0.connections[id] = Connection(channel: conn.channel, writer: outbound, gate: accepted.gate)
                }
                sink.yield(.connected(id))
                for try await f in inbound { sink.yield(.received(id, f.message, bytes: f.bytes)) }
            }
        } catch let e as FrameError {
            reason = "bad frame: \(e)"
        } catch {
            reason = "connection error: \(error)"
        }
        timer.cancel()
        let c = state.withLockedValue { s -> Connection? in
            s.pending.remove(id)
            return s.connections.removeValue(forKey: id)
        }
        sink.yield(.closed(id, reason: c?.closeReason ?? reason))
    }

    public func send(_ message: Message, to connection: ConnectionID) async -> Int {
        guard let c = state.withLockedValue({ $0.connections[connection] }) else { return 0 }
        let buf = FrameCodec.encode(message)
        do {
            try await c.writer.write(buf)
            return buf.readableBytes
        } catch {
            await close(connection, reason: "write failed: \(error)")
            return 0
        }
    }

    public func close(_ connection: ConnectionID, reason: String) async {
        let ch = state.withLockedValue { s -> Channel? in
            s.connections[connection]?.closeReason = reason
            return s.connections[connection]?.channel
        }
        try? await ch?.close()
    }

    public func shutdown() async {
        let all = state.withLockedValue { s in s.connections.values.map(\.channel) }
        for ch in all { try? await ch.close() }
        try? await serverChannel.channel.close()
        sink.finish()
    }
}

/// A client process's connection to the coordinator's socket.
public final class UnixSocketClient: ClientConnection, @unchecked Sendable {
    public let inbound: AsyncThrowingStream<Message, Error>
    let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: Channel

    init(
        inbound: AsyncThrowingStream<Message, Error>,
        writer: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: Channel
    ) {
        self.inbound = inbound
        self.writer = writer
        self.channel = channel
    }

    /// Connects, retrying while the coordinator is still starting, up to `timeout` seconds.
    public static func connect(path: String, limits: FrameLimits, timeout: Double) async throws -> UnixSocketClient {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var lastError: Error = FrameError(.truncated, "no attempt")
        while ContinuousClock.now < deadline {
            do {
                let conn = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(unixDomainSocketPath: path) { makeFrameChannel($0, limits: limits) }
                return await bridge(conn)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError
    }

    static func bridge(_ conn: FrameChannel) async -> UnixSocketClient {
        let (stream, cont) = AsyncThrowingStream.makeStream(of: Message.self)
        let (writerStream, writerCont) = AsyncStream.makeStream(of: NIOAsyncChannelOutboundWriter<ByteBuffer>.self)
        Task {
            do {
                try await conn.executeThenClose { inbound, outbound in
                    writerCont.yield(outbound)
                    writerCont.finish()
                    for try await f in inbound { cont.yield(f.message) }
                }
                cont.finish()
            } catch {
                writerCont.finish()
                cont.finish(throwing: error)
            }
        }
        var it = writerStream.makeAsyncIterator()
        let writer = await it.next()!
        return UnixSocketClient(inbound: stream, writer: writer, channel: conn.channel)
    }

    public func send(_ message: Message) async throws {
        try await writer.write(FrameCodec.encode(message))
    }

    public func close() async {
        try? await channel.close()
    }
}
