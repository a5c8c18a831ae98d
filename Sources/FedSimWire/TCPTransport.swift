import FedSimCore
import NIOCore
import NIOPosix

/// TCP for runs across hosts: the same frames, the same server (accept loop, pending cap,
/// handshake deadline, 64 KiB pre-handshake frames), with `SecureHandshakeHandler` and then the
/// record handlers under the frame decoder. docs/transport.md describes the protocol.
extension SocketServer {
    /// Listens on `address` (port 0: any free port; `tcpAddress` then holds the bound one).
    public static func start(
        tcp address: TCPAddress,
        secret: TransportSecret,
        limits: FrameLimits,
        handshake: HandshakePolicy
    ) async throws -> SocketServer {
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: address.host, port: address.port) { channel in
                let gate = HandshakeGate()
                return channel.eventLoop.makeCompletedFuture {
                    let secure = SecureHandshakeHandler(
                        role: .server,
                        secret: secret,
                        completed: channel.eventLoop.makePromise()
                    )
                    try channel.pipeline.syncOperations.addHandler(secure)
                }
                .flatMap { makeFrameChannel(channel, limits: limits, handshake: (handshake, gate)) }
                .map { AcceptedConnection(channel: $0, gate: gate) }
            }
        let port = ch.channel.localAddress?.port ?? address.port
        let s = SocketServer(ch, handshake: handshake, tcpAddress: TCPAddress(host: address.host, port: port))
        s.acceptTask = Task { await s.acceptLoop() }
        return s
    }
}

extension SocketClient {
    /// Connects over TCP and completes the secure handshake before returning, so the caller's
    /// first frame (the hello with the token) only ever goes to a coordinator that proved it
    /// holds the job secret. `resolve` is asked for the address on every attempt (nil: not
    /// known yet, e.g. the coordinator has not written `coordinator.addr`); refused
    /// connections are retried until `timeout`, a failed handshake is not.
    public static func connect(
        tcp resolve: () -> TCPAddress?,
        secret: TransportSecret,
        limits: FrameLimits,
        timeout: Double
    ) async throws -> SocketClient {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var lastError: Error = SecureChannelError(.truncated, "the coordinator's address never became known")
        while ContinuousClock.now < deadline {
            if let address = resolve() {
                do {
                    return try await attempt(address, secret: secret, limits: limits, timeout: timeout)
                } catch let e as SecureChannelError {
                    throw e
                } catch {
                    lastError = error
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw lastError
    }

    static func attempt(
        _ address: TCPAddress,
        secret: TransportSecret,
        limits: FrameLimits,
        timeout: Double
    ) async throws -> SocketClient {
        let (conn, keyed) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture { () -> EventLoopFuture<Void> in
                    let done = channel.eventLoop.makePromise(of: Void.self)
                    try channel.pipeline.syncOperations.addHandler(
                        SecureHandshakeHandler(role: .client, secret: secret, completed: done)
                    )
                    // A peer that accepts but never answers is closed, which fails the handshake.
                    let stall = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
                        channel.close(promise: nil)
                    }
                    done.futureResult.whenComplete { _ in stall.cancel() }
                    return done.futureResult
                }
                .flatMap { keyed in makeFrameChannel(channel, limits: limits).map { ($0, keyed) } }
            }
        do {
            try await keyed.get()
        } catch {
            try? await conn.channel.close()
            throw error
        }
        return await bridge(conn)
    }
}
