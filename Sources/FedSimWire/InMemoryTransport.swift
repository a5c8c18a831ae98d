import NIOConcurrencyHelpers
import NIOCore

/// An in-process transport for deterministic tests. Every message is still encoded to bytes
/// and decoded again, so tests exercise the same codec as the sockets.
public final class InMemoryTransport: CoordinatorTransport, @unchecked Sendable {
    public let events: AsyncStream<TransportEvent>
    let eventSink: AsyncStream<TransportEvent>.Continuation
    let limits: FrameLimits
    let lock = NIOLockedValueBox<State>(State())

    struct State {
        var nextID = 0
        var clients: [ConnectionID: AsyncThrowingStream<Message, Error>.Continuation] = [:]
    }

    /// Sees every message after decoding, in both directions (tests inspect what the
    /// coordinator received). `toCoordinator` is true for client → coordinator.
    public var recorder: (@Sendable (_ toCoordinator: Bool, Message) -> Void)?

    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
        (events, eventSink) = AsyncStream.makeStream(of: TransportEvent.self)
    }

    /// Opens a new client connection.
    public func connect() -> Endpoint {
        let (stream, cont) = AsyncThrowingStream.makeStream(of: Message.self)
        let id = lock.withLockedValue { s -> ConnectionID in
            let id = s.nextID
            s.nextID += 1
            s.clients[id] = cont
            return id
        }
        eventSink.yield(.connected(id))
        return Endpoint(id: id, transport: self, inbound: stream)
    }

    func roundTrip(_ m: Message) throws -> (Message, Int) {
        var buf = FrameCodec.encode(m)
        guard let decoded = try FrameCodec.decodeFrame(&buf, limits: limits) else {
            throw FrameError(.truncated, "in-memory frame incomplete")
        }
        return decoded
    }

    /// Delivers raw bytes as if a client had written them (for malformed-frame tests).
    public func deliverRaw(_ bytes: [UInt8], from id: ConnectionID) {
        var buf = ByteBufferAllocator().buffer(bytes: bytes)
        do {
            while buf.readableBytes > 0 {
                guard let (m, n) = try FrameCodec.decodeFrame(&buf, limits: limits) else {
                    dropClient(id, reason: "connection closed inside a frame")
                    return
                }
                eventSink.yield(.received(id, m, bytes: n))
            }
        } catch {
            dropClient(id, reason: "bad frame: \(error)")
        }
    }

    func fromClient(_ id: ConnectionID, _ m: Message) throws {
        guard lock.withLockedValue({ $0.clients[id] != nil }) else { throw FrameError(.truncated, "connection closed") }
        let (decoded, n) = try roundTrip(m)
        recorder?(true, decoded)
        eventSink.yield(.received(id, decoded, bytes: n))
    }

    func dropClient(_ id: ConnectionID, reason: String) {
        let c = lock.withLockedValue { $0.clients.removeValue(forKey: id) }
        if let c {
            c.finish()
            eventSink.yield(.closed(id, reason: reason))
        }
    }

    public func send(_ message: Message, to connection: ConnectionID) async -> Int {
        guard let c = lock.withLockedValue({ $0.clients[connection] }) else { return 0 }
        do {
            let (decoded, n) = try roundTrip(message)
            recorder?(false, decoded)
            c.yield(decoded)
            return n
        } catch {
            dropClient(connection, reason: "encode failed: \(error)")
            return 0
        }
    }

    public func close(_ connection: ConnectionID, reason: String) async {
        dropClient(connection, reason: reason)
    }

    public func shutdown() async {
        let all = lock.withLockedValue { s -> [ConnectionID] in Array(s.clients.keys) }
        for id in all { dropClient(id, reason: "transport shut down") }
        eventSink.finish()
    }

    /// The client end of an in-memory connection.
    public struct Endpoint: ClientConnection {
        public let id: ConnectionID
        let transport: InMemoryTransport
        public let inbound: AsyncThrowingStream<Message, Error>

        public func send(_ message: Message) async throws { try transport.fromClient(id, message) }
        public func close() async { transport.dropClient(id, reason: "client closed") }
        /// Simulates a crash: the connection vanishes without a goodbye.
        public func crash() { transport.dropClient(id, reason: "connection reset (simulated crash)") }
    }
}
