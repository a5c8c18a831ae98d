import FedSimWire

/// Waiting for one reply per client process (an evaluation, a validation, a cold-start
/// report): done when every asked process has answered, closed, or the deadline passed.
public struct ReplyCollection: PhaseMachine {
    public enum Effect {
        /// The first reply of `process`: hand it to the phase's consumer.
        case consume(process: Int, connection: ConnectionID, Message)
    }

    public let phase: String
    /// Which messages are this phase's reply (its kind and round).
    let isReply: (Message) -> Bool
    public private(set) var waiting: Set<ConnectionID>

    public init(from connections: Set<ConnectionID>, phase: String, isReply: @escaping (Message) -> Bool) {
        waiting = connections
        self.phase = phase
        self.isReply = isReply
    }

    public var isComplete: Bool { waiting.isEmpty }

    public mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>] {
        switch event {
        case .deadline:
            let n = waiting.count
            waiting.removeAll()
            return [.warning("\(phase): deadline passed with \(n) processes outstanding")]
        case .transportEnded:
            waiting.removeAll()
            return []
        case .closed(let c):
            waiting.remove(c)
            return []
        case .message(let p, let c, let m):
            guard isReply(m) else { return [LateReplyRule.unexpected(m, process: p, connection: c, during: phase)] }
            guard waiting.remove(c) != nil else {
                return [.warning("process \(p) sent a second \(m.kindName) during \(phase); ignored")]
            }
            return [.effect(.consume(process: p, connection: c, m))]
        }
    }
}

/// A checkpoint: every live process confirms its device-state snapshot of the round, or says
/// it could not write it (a full disk: the run stops on the previous checkpoint). A deadline
/// or the transport's end abandons it: a checkpoint is written complete or not at all.
public struct CheckpointCollection: PhaseMachine {
    public enum Effect {
        /// A process reported that its snapshot failed: stop the run (the previous
        /// checkpoint stands).
        case snapshotFailed(process: Int, reason: String)
    }

    public let round: UInt32
    public private(set) var pending: Set<ConnectionID>
    public private(set) var confirmed: Set<Int> = []
    /// The deadline passed or the transport ended before every process confirmed.
    public private(set) var abandoned = false

    public init(round: Int, waiting: Set<ConnectionID>) {
        self.round = UInt32(round)
        pending = waiting
    }

    public var isComplete: Bool { pending.isEmpty || abandoned }

    public mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>] {
        switch event {
        case .deadline:
            abandoned = true
            return [
                .warning(
                    "checkpoint of round \(round): \(pending.count) client processes did not confirm; not writing it"
                )
            ]
        case .transportEnded:
            abandoned = true
            return []
        case .closed(let c):
            pending.remove(c)
            return []
        case .message(let p, let c, .checkpointed(let r)) where r == round:
            if pending.remove(c) != nil { confirmed.insert(p) }
            return []
        case .message(let p, _, .failed(let f))
        where f.round == round && f.reason.hasPrefix(StorageError.snapshotFailurePrefix):
            return [
                .effect(
                    .snapshotFailed(
                        process: p,
                        reason: String(f.reason.dropFirst(StorageError.snapshotFailurePrefix.count))
                    )
                )
            ]
        case .message(let p, let c, let m):
            return [LateReplyRule.unexpected(m, process: p, connection: c, during: "the checkpoint of round \(round)")]
        }
    }
}
