import FedSimTestSupport
import FedSimWire
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Unix socket server's limits before the handshake, against real sockets: idle peers are
/// closed at the deadline, a flood beyond the pending cap is refused on accept, a claimed
/// large frame is refused at its header, and a connection whose hello carries the token gets
/// the full limit and no deadline. Waits are generous (the whole suite shares 2 cores); each
/// returns as soon as its event is seen.
@Suite struct HandshakePolicyTests {
    /// A raw client socket (no framing), for peers that misbehave below the codec.
    final class RawSocket {
        let fd: Int32
        init(path: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0 else { throw FrameError(.truncated, "connect failed: \(errno)") }
        }
        func send(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        deinit { close(fd) }
    }

    /// Collects the server's events in the background.
    final class Events: @unchecked Sendable {
        let box = NIOLockedValueBox<[TransportEvent]>([])
        var task: Task<Void, Never>?
        init(_ server: UnixSocketServer) {
            task = Task { [box] in for await e in server.events { box.withLockedValue { $0.append(e) } } }
        }
        var closed: [(ConnectionID, String)] {
            box.withLockedValue { $0 }.compactMap { if case .closed(let c, let r) = $0 { (c, r) } else { nil } }
        }
        var connected: [ConnectionID] {
            box.withLockedValue { $0 }.compactMap { if case .connected(let c) = $0 { c } else { nil } }
        }
        var received: [(ConnectionID, Message)] {
            box.withLockedValue { $0 }.compactMap { if case .received(let c, let m, _) = $0 { (c, m) } else { nil } }
        }
        /// Polls `condition` every 20 ms, for `seconds` worth of polls. The budget counts polls,
        /// not wall time: when other tests block both cooperative threads (sync tests waiting
        /// for child processes do, on 2 cores), this task and the server's tasks are starved
        /// alike, and a wall-clock deadline would expire before the server had run at all (CI
        /// saw exactly that: 60 s of starvation, then a false failure with no events).
        func wait(_ seconds: Double, until condition: () -> Bool) async -> Bool {
            for _ in 0..<max(1, Int(seconds / 0.02)) {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return condition()
        }
    }

    static let token = [UInt8](repeating: 1, count: 32)

    static func server(timeout: Double = 0.5, maxPending: Int = 3) async throws -> (UnixSocketServer, String) {
        let path = TestSupport.temporaryDirectory() + "/s.sock"
        let server = try await UnixSocketServer.start(
            path: path,
            limits: FrameLimits(),
            handshake: HandshakePolicy(token: token, timeoutSeconds: timeout, maxPending: maxPending)
        )
        return (server, path)
    }

    @Test func idlePeersAreClosedAtTheDeadlineAndAFloodIsCapped() async throws {
        let (server, path) = try await Self.server()
        let events = Events(server)
        let sockets = try (0..<8).map { _ in try RawSocket(path: path) }
        #expect(
            await events.wait(60) { events.closed.filter { $0.1.hasPrefix("refused on accept") }.count == 5 },
            "\(events.closed)"
        )
        #expect(await events.wait(60) { events.connected.count == 3 })
        // The three admitted ones are closed at the 0.5 s deadline, not left open.
        #expect(
            await events.wait(60) {
                events.closed.filter { $0.1.contains("no hello with the run's token within 0.5 s") }.count == 3
            },
            "\(events.closed)"
        )
        // Once they are gone, a new peer is admitted again.
        let late = try RawSocket(path: path)
        #expect(await events.wait(60) { events.connected.count == 4 })
        _ = (sockets, late)
        await server.shutdown()
    }

    @Test func aClaimedLargeFrameIsRefusedAtItsHeaderBeforeTheHandshake() async throws {
        let (server, path) = try await Self.server(timeout: 30)
        let events = Events(server)
        let s = try RawSocket(path: path)
        s.send([0x00, 0x00, 0x00, 0x08])  // a 128 MB frame, far below the post-handshake 256 MB limit
        #expect(
            await events.wait(60) { events.closed.contains { $0.1.contains("exceeds the limit of 65536") } },
            "\(events.closed)"
        )
        await server.shutdown()
    }

    static func frame(_ m: Message) -> [UInt8] {
        var b = FrameCodec.encode(m)
        return b.readBytes(length: b.readableBytes)!
    }

    /// The peer writes its frames right after connecting, in the same synchronous call, so a
    /// starved test task cannot make it miss the 2 s deadline.
    @Test func aHelloWithTheTokenLiftsTheLimitAndTheDeadline() async throws {
        let (server, path) = try await Self.server(timeout: 2)
        let events = Events(server)
        let big = DeviceUpdate(
            round: 1,
            device: 0,
            examples: 1,
            trainLoss: 0,
            weightedDelta: [Float](repeating: 0.5, count: 100_000),
            weights: [],
            withinClip: 1
        )
        // Nobody acts on the hello (no coordinator here): the transport alone ends the
        // handshake. Then 400 kB, above the pre-handshake 64 KiB.
        let s = try RawSocket(path: path)
        s.send(
            Self.frame(
                .hello(Hello(token: Self.token, processIndex: 0, processCount: 1, firstDevice: 0, deviceCount: 1))
            )
                + Self.frame(.update(big))
        )
        #expect(await events.wait(60) { events.received.count == 2 }, "\(events.closed)")
        try await Task.sleep(for: .seconds(2.5))  // past the handshake deadline
        #expect(events.closed.isEmpty, "\(events.closed)")
        await server.shutdown()
    }

    @Test func aHelloWithAWrongTokenKeepsTheLimitAndTheDeadline() async throws {
        let (server, path) = try await Self.server(timeout: 0.5)
        let events = Events(server)
        let s = try RawSocket(path: path)
        let wrong = [UInt8](repeating: 2, count: 32)
        s.send(
            Self.frame(.hello(Hello(token: wrong, processIndex: 0, processCount: 1, firstDevice: 0, deviceCount: 1)))
        )
        #expect(
            await events.wait(60) { events.closed.contains { $0.1.contains("no hello with the run's token") } },
            "\(events.closed)"
        )
        #expect(events.received.count == 1)
        await server.shutdown()
    }
}
