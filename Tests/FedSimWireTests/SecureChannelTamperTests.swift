import FedSimCore
import Foundation
import Testing

@testable import FedSimWire

/// An active attacker between a client and the coordinator, as a relay on loopback that
/// changes exactly one client→server record: each change closes the connection with its own
/// reason, and the frames before it (and only those) reach the coordinator.
@Suite struct SecureChannelTamperTests {
    typealias Events = HandshakePolicyTests.Events

    /// Runs a client that sends the hello and two updates through a relay applying `mutation`;
    /// returns the frames the server decoded and its close reason.
    static func attack(_ mutation: TCPTestSupport.Mutation) async throws -> ([Message], String) {
        let (frames, reason, _) = try await observe(mutation)
        return (frames, reason)
    }

    /// `attack`, and also what the relay saw on the wire.
    static func observe(_ mutation: TCPTestSupport.Mutation) async throws -> ([Message], String, [UInt8]) {
        let server = try await TCPTestSupport.server()
        let port = try #require(server.tcpAddress?.port)
        let events = Events(server)
        let relay = try TCPTestSupport.Relay(to: port, mutation: mutation)
        let client = try await TCPTestSupport.client(relay.port)
        try? await client.send(TCPTestSupport.hello)
        try? await client.send(TCPTestSupport.update(100, value: 1))
        try? await client.send(TCPTestSupport.update(100, value: 2))
        if case .none = mutation { await client.close() }
        let closed = await events.wait(60) { !events.closed.isEmpty }
        #expect(closed, "the server never closed the connection")
        let result = (events.received.map(\.1), events.closed.first?.1 ?? "", relay.captured.withLockedValue { $0 })
        await client.close()
        await server.shutdown()
        return result
    }

    /// The untouched relay is also the eavesdropper: every frame arrives, and none of the
    /// plaintext (the token, a frame's bytes) appears in what it saw.
    @Test func anUntouchedRelayChangesNothingAndSeesNoPlaintext() async throws {
        let (frames, reason, wire) = try await Self.observe(.none)
        #expect(frames.count == 3)
        #expect(reason == "peer closed the connection")
        // 3 records plus the final one, each 4 + 17 bytes over its frame, after 96 handshake bytes.
        let plain = [TCPTestSupport.hello, TCPTestSupport.update(100, value: 1), TCPTestSupport.update(100, value: 2)]
            .map { TCPTestSupport.frame($0) }
        #expect(wire.count == 96 + plain.reduce(0) { $0 + $1.count + 21 } + 21)
        func contains(_ needle: [UInt8]) -> Bool {
            guard wire.count >= needle.count else { return false }
            return (0...(wire.count - needle.count)).contains { Array(wire[$0..<($0 + needle.count)]) == needle }
        }
        #expect(!contains(TCPTestSupport.token))
        #expect(!contains(Array(plain[1].suffix(64))))
        #expect(contains(Array(wire[40..<60])))  // the search itself works
    }

    @Test func aFlippedCiphertextBitClosesTheConnectionAtThatRecord() async throws {
        let (frames, reason) = try await Self.attack(.flipByte(record: 1))
        #expect(frames == [TCPTestSupport.hello])
        #expect(reason.contains("badRecord") && reason.contains("record 2 failed authentication"), "\(reason)")
    }

    @Test func aReplayedRecordIsRefused() async throws {
        let (frames, reason) = try await Self.attack(.replay(record: 1))
        // The original is decoded once; its copy is the third record and does not authenticate.
        #expect(frames == [TCPTestSupport.hello, TCPTestSupport.update(100, value: 1)])
        #expect(reason.contains("badRecord") && reason.contains("record 3"), "\(reason)")
    }

    @Test func reorderedRecordsAreRefused() async throws {
        let (frames, reason) = try await Self.attack(.swap(record: 1))
        #expect(frames == [TCPTestSupport.hello])
        #expect(reason.contains("badRecord") && reason.contains("record 2"), "\(reason)")
    }

    @Test func aStreamCutInsideARecordIsReported() async throws {
        let (frames, reason) = try await Self.attack(.cutInside(record: 1))
        #expect(frames == [TCPTestSupport.hello])
        #expect(reason.contains("truncated") && reason.contains("inside record 2"), "\(reason)")
    }

    @Test func aStreamCutBetweenRecordsIsToldApartFromAGoodbye() async throws {
        let (frames, reason) = try await Self.attack(.cutBefore(record: 2))
        #expect(frames.count == 2)
        #expect(reason.contains("truncated") && reason.contains("without the final message"), "\(reason)")
    }
}
