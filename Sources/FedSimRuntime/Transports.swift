import FedSimConfig
import FedSimCore
import FedSimWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension RunDirectory {
    /// `tcp://HOST:PORT` the coordinator actually bound (0600), written once it listens on
    /// TCP; clients without `runtime.connect` read it. The launcher removes a stale one before
    /// the processes start, so a resumed run never sends clients to the previous port.
    public var addressFile: String { path + "/coordinator.addr" }
}

/// Which transport a run uses (`runtime.listen`), for both ends: the Unix socket of the run
/// directory (the default, one host), or TCP with the secure channel keyed by the run's token
/// (`TransportSecret`).
public enum Transports {
    public static func policy(_ runtime: RuntimeConfig, token: [UInt8]) -> HandshakePolicy {
        HandshakePolicy(
            token: token,
            timeoutSeconds: runtime.handshakeTimeoutSeconds,
            maxPending: runtime.maxPendingConnections
        )
    }

    /// The coordinator's server. On the Unix socket it refuses to run when the socket file is
    /// accessible to others; on TCP it writes the bound address to `coordinator.addr`.
    public static func listen(
        _ runtime: RuntimeConfig,
        dir: RunDirectory,
        token: [UInt8]
    ) async throws
        -> SocketServer
    {
        let limits = FrameLimits(maxFrameBytes: runtime.maxFrameBytes)
        if let address = runtime.tcpListen {
            let server = try await SocketServer.start(
                tcp: address,
                secret: TransportSecret(token: token),
                limits: limits,
                handshake: policy(runtime, token: token)
            )
            let bound = server.tcpAddress ?? address
            try RunDirectory.atomicWrite(Array("\(bound)\n".utf8), path: dir.addressFile, mode: 0o600)
            return server
        }
        let server = try await SocketServer.start(
            path: dir.socketPath,
            limits: limits,
            handshake: policy(runtime, token: token)
        )
        var sst = stat()
        guard stat(dir.socketPath, &sst) == 0, sst.st_mode & 0o077 == 0 else {
            await server.shutdown()
            throw RunDirectory.SetupError(
                description: "the socket \(dir.socketPath) is accessible to other users; refusing to run"
            )
        }
        return server
    }

    /// A client's connection: `runtime.connect`, else the address in `coordinator.addr`
    /// (waited for, within the connect timeout), else the run directory's Unix socket.
    public static func connect(
        _ runtime: RuntimeConfig,
        dir: RunDirectory,
        token: [UInt8]
    ) async throws
        -> SocketClient
    {
        let limits = FrameLimits(maxFrameBytes: runtime.maxFrameBytes)
        guard runtime.tcpListen != nil else {
            return try await SocketClient.connect(
                path: dir.socketPath,
                limits: limits,
                timeout: runtime.connectTimeoutSeconds
            )
        }
        let fixed = TCPAddress(parsing: runtime.connect)
        return try await SocketClient.connect(
            tcp: { fixed ?? readAddress(dir) },
            secret: TransportSecret(token: token),
            limits: limits,
            timeout: runtime.connectTimeoutSeconds
        )
    }

    static func readAddress(_ dir: RunDirectory) -> TCPAddress? {
        (try? String(contentsOfFile: dir.addressFile, encoding: .utf8)).flatMap { TCPAddress(parsing: $0) }
    }
}
