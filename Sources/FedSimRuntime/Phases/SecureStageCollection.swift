import FedSimSecAgg
import FedSimWire

/// One collection stage of a SecAgg+ round (keys, shares, masked inputs, unmasking shares):
/// waits for each asked process's payload of this round. What a payload means for the
/// protocol is the `SecAggServer` machine's business; this machine only decides which
/// messages reach it, and when the stage is over.
public struct SecureStageCollection: PhaseMachine {
    public enum Effect {
        /// A decoded payload of this round from a process the stage waits for. The handler
        /// says whether it was the stage's answer (`answered`).
        case payload(process: Int, connection: ConnectionID, SecAggPayload)
        /// Nothing more can arrive: the round fails.
        case transportEnded
    }

    public let round: UInt32
    /// How log lines name the round ("3", or "3 (evaluation)").
    public let label: String
    public private(set) var waiting: Set<ConnectionID>
    /// The round's deadline passed: this stage and every later one of the round end at once.
    public private(set) var timedOut = false

    public init(round: UInt32, label: String, waiting: Set<ConnectionID>, timedOut: Bool = false) {
        self.round = round
        self.label = label
        self.waiting = waiting
        self.timedOut = timedOut
    }

    public var isComplete: Bool { waiting.isEmpty || timedOut }

    /// The process on `c` gave this stage's answer.
    public mutating func answered(_ c: ConnectionID) { waiting.remove(c) }

    public mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>] {
        switch event {
        case .deadline:
            timedOut = true
            return [
                .warning(
                    "round \(label): secure aggregation deadline passed with \(waiting.count) client processes outstanding"
                )
            ]
        case .transportEnded:
            return [.effect(.transportEnded)]
        case .closed(let c):
            waiting.remove(c)
            return []
        case .message(let p, let c, .secagg(let env)) where env.round == round:
            let payload: SecAggPayload
            do { payload = try SecAggPayload.decode(stage: env.stage, env.body) } catch {
                return [
                    .violation(
                        process: p,
                        connection: c,
                        reason: "sent a malformed secure-aggregation message: \(error)"
                    )
                ]
            }
            return waiting.contains(c) ? [.effect(.payload(process: p, connection: c, payload))] : []
        case .message(_, _, .secagg(let env)):
            return [.info("ignoring a secure-aggregation message of round \(env.round) during round \(round)")]
        case .message(let p, let c, let m) where m.isPlainTrainingReply:
            return [
                .violation(
                    process: p,
                    connection: c,
                    reason: "sent a plain \(m.kindName) while secure aggregation is on"
                )
            ]
        case .message(let p, let c, let m):
            return [LateReplyRule.unexpected(m, process: p, connection: c, during: "secure-aggregation round \(round)")]
        }
    }
}

extension Message {
    /// A plain round's answer (`update`, `failed`), which a secure round never asks for.
    var isPlainTrainingReply: Bool {
        switch self {
        case .update, .failed: return true
        default: return false
        }
    }
}

/// Start-up: waiting until every expected client process has said hello (and, with secure
/// aggregation, enrolled its devices' identity keys). The handshakes themselves happen in
/// `Coordinator.handleControl`; the coordinator refreshes the counts after every event.
public struct ProcessGathering: PhaseMachine {
    public enum Effect {
        /// A process's enrolment (its devices' identity public keys).
        case enroll(process: Int, connection: ConnectionID, SecAggEnvelope)
        /// The connect timeout passed first.
        case timedOut
        /// The transport ended first.
        case transportEnded
    }

    public let expected: Int
    public let secure: Bool
    public var connected = 0
    public var enrolled: Set<Int> = []

    public init(expected: Int, secure: Bool) {
        self.expected = expected
        self.secure = secure
    }

    public var isComplete: Bool { connected >= expected && (!secure || enrolled.count >= expected) }

    public mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>] {
        switch event {
        case .deadline: return [.effect(.timedOut)]
        case .transportEnded: return [.effect(.transportEnded)]
        case .closed: return []
        case .message(let p, let c, .secagg(let env))
        where secure && env.stage == SecAggStage.enroll.rawValue && !enrolled.contains(p):
            return [.effect(.enroll(process: p, connection: c, env))]
        case .message(let p, let c, let m):
            // Nothing has been asked yet, so nothing can be a late reply.
            return [.violation(process: p, connection: c, reason: "sent \(m.kindName) before the first round")]
        }
    }
}
