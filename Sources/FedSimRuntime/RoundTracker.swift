import FedSimWire

/// Which sampled devices of a round are still owed, and what became of the rest.
///
/// A value-type state machine: each event returns whether it was accepted, and the round is
/// complete when nothing is pending. Every device ends in exactly one terminal state, so the
/// per-round counts always add up to the number sampled.
public struct RoundTracker: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case pending(ConnectionID)
        /// Its update was received and accepted into the aggregate.
        case finished
        /// The device reported failure, or its update was refused (malformed).
        case failed
        /// Its client process disconnected or crashed before it reported.
        case dropped
        /// Still pending at the round deadline.
        case timedOut
    }

    public enum Verdict: Sendable, Equatable {
        case accepted
        /// Not pending: a duplicate, or a device of another round.
        case notPending
        /// The device is pending on another connection: the sender claims a device it does not host.
        case wrongConnection
    }

    public private(set) var outcomes: [UInt32: Outcome] = [:]
    public private(set) var pending = 0

    public init(assignments: [ConnectionID: [UInt32]]) {
        for (c, devices) in assignments {
            for d in devices { outcomes[d] = .pending(c) }
            pending += devices.count
        }
    }

    public var isComplete: Bool { pending == 0 }

    /// Checks that `device` is pending on `connection`, without changing state.
    public func check(_ device: UInt32, from connection: ConnectionID) -> Verdict {
        guard case .pending(let c)? = outcomes[device] else { return .notPending }
        return c == connection ? .accepted : .wrongConnection
    }

    @discardableResult
    public mutating func resolve(_ device: UInt32, from connection: ConnectionID, as outcome: Outcome) -> Verdict {
        let v = check(device, from: connection)
        if v == .accepted {
            outcomes[device] = outcome
            pending -= 1
        }
        return v
    }

    /// Marks every device pending on `connection` as dropped; returns how many.
    @discardableResult
    public mutating func drop(connection: ConnectionID) -> Int {
        var n = 0
        for (d, o) in outcomes {
            if case .pending(let c) = o, c == connection {
                outcomes[d] = .dropped
                n += 1
            }
        }
        pending -= n
        return n
    }

    /// Marks everything still pending as timed out (the deadline passed).
    @discardableResult
    public mutating func expire() -> Int {
        var n = 0
        for (d, o) in outcomes {
            if case .pending = o {
                outcomes[d] = .timedOut
                n += 1
            }
        }
        pending -= n
        return n
    }

    public func count(_ outcome: Outcome) -> Int { outcomes.values.filter { $0 == outcome }.count }
}
