import FedSimCore
import Foundation
import NIOCore
import Testing

@testable import FedSimWire

/// The TCP transport against real loopback sockets: frames round-trip through the secure
/// channel, a peer without the job secret is refused in the handshake and none of its bytes
/// are decoded, and the Unix server's pre-handshake limits hold on TCP. Waits are generous
/// (the suite shares 2 cores); each returns as soon as its event is seen.
@Suite struct TCPTransportTests {
    typealias Events = HandshakePolicyTests.Events

    @Test func framesRoundTripThroughTheSecureChannelBothWays() async throws {
        let server = try await TCPTestSupport.server()
        let port = try #require(server.tcpAddress?.port)
        #expect(port != 0)
        let events = Events(server)
        let client = try await TCPTestSupport.client(port)
        // 400 kB: several 64 KiB records, and above the pre-handshake limit once the hello is in.
        let big = TCPTestSupport.update(100_000, value: 0.25)
        try await client.send(TCPTestSupport.hello)
        try await client.send(big)
        #expect(await events.wait(60) { events.received.count == 2 }, "\(events.closed)")
        #expect(events.received.map(\.1) == [TCPTestSupport.hello, big])
        let id = try #require(events.connected.first)
        let reply = TCPTestSupport.update(30_000, value: -1.5)
        let written = await server.send(reply, to: id)
        #expect(written == FrameCodec.encode(reply).readableBytes)
        var inbound = client.inbound.makeAsyncIterator()
        #expect(try await inbound.next() == reply)
        // An orderly close sends the final record: the server logs a plain close, not a cut.
        await client.close()
        #expect(await events.wait(60) { !events.closed.isEmpty })
        #expect(events.closed.first?.1 == "peer closed the connection", "\(events.closed)")
        await server.shutdown()
    }

    @Test func aPeerWithTheWrongSecretIsRefusedInTheHandshakeAndNothingOfItsIsDecoded() async throws {
        let server = try await TCPTestSupport.server()
        let port = try #require(server.tcpAddress?.port)
        let events = Events(server)
        let wrong = TransportSecret(token: [UInt8](repeating: 2, count: 32))
        do {
            _ = try await TCPTestSupport.client(port, secret: wrong)
            Issue.record("a client with the wrong secret connected")
        } catch let e as SecureChannelError {
            #expect(e.code == .authenticationFailed, "\(e)")
        }
        #expect(
            await events.wait(60) {
                events.closed.contains { $0.1.contains("the peer does not hold the job secret") }
            },
            "\(events.closed)"
        )
        // A peer that skips the crypto and sends a plaintext hello with the right token gets nowhere.
        let raw = try TCPTestSupport.RawSocket(port: port)
        raw.send(TCPTestSupport.frame(TCPTestSupport.hello))
        #expect(
            await events.wait(60) { events.closed.contains { $0.1.contains("badHandshake") } },
            "\(events.closed)"
        )
        #expect(events.received.isEmpty)
        await server.shutdown()
    }

    @Test func aClientRefusesACoordinatorWithoutTheSecret() async throws {
        let impostor = try await SocketServer.start(
            tcp: TCPAddress(host: "127.0.0.1", port: 0),
            secret: TransportSecret(token: [UInt8](repeating: 9, count: 32)),
            limits: FrameLimits(),
            handshake: HandshakePolicy(token: TCPTestSupport.token)
        )
        let port = try #require(impostor.tcpAddress?.port)
        let events = Events(impostor)
        await #expect(throws: SecureChannelError.self) { _ = try await TCPTestSupport.client(port) }
        #expect(events.received.isEmpty)
        await impostor.shutdown()
    }

    @Test func idlePeersAreClosedAtTheDeadlineAndAFloodIsCappedOnTCP() async throws {
        let server = try await TCPTestSupport.server(timeout: 0.5, maxPending: 3)
        let port = try #require(server.tcpAddress?.port)
        let events = Events(server)
        let sockets = try (0..<8).map { _ in try TCPTestSupport.RawSocket(port: port) }
        #expect(
            await events.wait(60) { events.closed.filter { $0.1.hasPrefix("refused on accept") }.count == 5 },
            "\(events.closed)"
        )
        #expect(
            await events.wait(60) {
                events.closed.filter { $0.1.contains("no hello with the run's token within 0.5 s") }.count == 3
            },
            "\(events.closed)"
        )
        _ = sockets
        await server.shutdown()
    }

    /// A peer that holds the secret but has not sent its hello is still held to 64 KiB frames,
    /// and its claimed 128 MB frame is refused at the frame header inside the channel.
    @Test func thePreHandshakeFrameLimitHoldsInsideTheSecureChannel() async throws {
        let server = try await TCPTestSupport.server()
        let port = try #require(server.tcpAddress?.port)
        let events = Events(server)
        let client = try await TCPTestSupport.client(port)
        try await client.writer.write(ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x08]))
        #expect(
            await events.wait(60) { events.closed.contains { $0.1.contains("exceeds the limit of 65536") } },
            "\(events.closed)"
        )
        await server.shutdown()
    }

    /// The secret holder who has not sent its hello within the deadline is closed too.
    @Test func aKeyedPeerWithoutAHelloIsClosedAtTheDeadline() async throws {
        let server = try await TCPTestSupport.server(timeout: 1)
        let port = try #require(server.tcpAddress?.port)
        let events = Events(server)
        let client = try await TCPTestSupport.client(port)
        #expect(
            await events.wait(60) { events.closed.contains { $0.1.contains("no hello with the run's token") } },
            "\(events.closed)"
        )
        _ = client
        await server.shutdown()
    }

    @Test func addressesParse() {
        #expect(TCPAddress(parsing: "tcp://127.0.0.1:0") == TCPAddress(host: "127.0.0.1", port: 0))
        #expect(TCPAddress(parsing: "tcp://[::1]:7070") == TCPAddress(host: "::1", port: 7070))
        #expect(TCPAddress(parsing: " tcp://node-3:5000\n")?.description == "tcp://node-3:5000")
        for bad in ["127.0.0.1:80", "tcp://:80", "tcp://h:65536", "tcp://h", "tcp://::1:80", "unix"] {
            #expect(TCPAddress(parsing: bad) == nil, "\(bad)")
        }
    }
}
