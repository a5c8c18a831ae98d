/// A connection, as the coordinator names it.
public typealias ConnectionID = Int

/// What the coordinator hears from its transport. The transport knows frames and
/// connections, nothing of rounds.
public enum TransportEvent: Sendable {
    case connected(ConnectionID)
    /// A decoded message and the bytes its frame occupied on the wire.
    case received(ConnectionID, Message, bytes: Int)
    /// The connection is gone (peer closed, crashed, or sent a bad frame), with the reason.
    case closed(ConnectionID, reason: String)
}

/// The coordinator's side of a transport: Unix-domain sockets in production, in-memory
/// pipes in tests. Sending to a closed connection is not an error the caller must handle:
/// it surfaces as a `.closed` event.
public protocol CoordinatorTransport: Sendable {
    var events: AsyncStream<TransportEvent> { get }
    /// Sends and returns the bytes written.
    @discardableResult func send(_ message: Message, to connection: ConnectionID) async -> Int
    func close(_ connection: ConnectionID, reason: String) async
    func shutdown() async
}

/// A client process's side of a transport: one connection to the coordinator.
public protocol ClientConnection: Sendable {
    /// Messages from the coordinator; finishes when the connection closes, throws on a bad frame.
    var inbound: AsyncThrowingStream<Message, Error> { get }
    func send(_ message: Message) async throws
    func close() async
}
