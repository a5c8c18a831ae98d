import FedSimWire

/// What a phase of the coordinator (a training round, an evaluation, a checkpoint, a secure
/// stage, the wait for client processes) is shown, once the connection-level work is done:
/// handshakes, enrolment and disconnect bookkeeping happen in `Coordinator.handleControl`
/// before a phase sees anything.
public enum PhaseEvent: Sendable {
    /// A message from an authenticated client process.
    case message(process: Int, connection: ConnectionID, Message)
    /// A connection closed (its process is already marked lost).
    case closed(ConnectionID)
    /// The phase's own deadline passed (a stale deadline of an earlier phase never arrives).
    case deadline
    /// The transport stopped delivering events: nothing more will arrive.
    case transportEnded
}

/// What a phase asks the coordinator to do. The phase itself never touches a socket, a clock
/// or a file: it is a value that takes events and returns actions (swift-nio's state-machine
/// style), so every (state, event) pair is testable without sockets (`PhaseMachineTests`).
public enum PhaseAction<Effect> {
    /// Phase-specific work only the coordinator can do (admit an update into the aggregate,
    /// decode a compressed body, hand a reply to its consumer…).
    case effect(Effect)
    /// The process broke the protocol: reject it and close its connection.
    case violation(process: Int, connection: ConnectionID, reason: String)
    case info(String)
    case warning(String)
}

/// A phase of the coordinator as a state machine. `Coordinator.drive` is the one event loop
/// that runs every phase: it turns transport events and the phase's deadline into
/// `PhaseEvent`s, feeds them to `handle`, and carries out the actions until `isComplete`.
public protocol PhaseMachine {
    associatedtype Effect
    var isComplete: Bool { get }
    mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>]
}

/// The one rule for a message the phase in progress does not consume. A reply
/// (`Message.isReply`: update, failed, evaluation, secagg, checkpointed…) can only be late,
/// an answer to an earlier request that outlived its deadline: it is logged and ignored,
/// whatever phase it answers, so a slow but honest client is never evicted. Anything else
/// (a hello mid-run, a request only the coordinator sends) is a protocol violation.
public enum LateReplyRule {
    public static func unexpected<E>(
        _ m: Message,
        process p: Int,
        connection c: ConnectionID,
        during phase: String
    ) -> PhaseAction<E> {
        m.isReply
            ? .info("process \(p): ignoring a late \(m.kindName) during \(phase)")
            : .violation(process: p, connection: c, reason: "sent \(m.kindName) during \(phase)")
    }
}
