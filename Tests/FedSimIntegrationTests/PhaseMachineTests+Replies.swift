import FedSimRuntime
import FedSimSecAgg
import FedSimWire
import Testing

/// The reply, checkpoint, secure-stage and start-up machines, every (state, event) pair.
extension PhaseMachineTests {
    typealias K = PhaseMachineTests.Kind

    // MARK: Replies (evaluation, validation, cold start)

    enum ReplyState: CaseIterable { case waitingOnBoth, oneAnswered, complete }
    enum ReplyEvent: CaseIterable { case reply, secondReply, otherReply, request, closed, closedOther, deadline, ended }

    static func replies(_ s: ReplyState) -> ReplyCollection {
        var m = ReplyCollection(from: [1, 2], phase: "evaluation of round 3") {
            if case .checkpointed(let r) = $0 { r == 3 } else { false }
        }
        if s != .waitingOnBoth { _ = m.handle(.message(process: 1, connection: 2, .checkpointed(round: 3))) }
        if s == .complete { _ = m.handle(.message(process: 0, connection: 1, .checkpointed(round: 3))) }
        return m
    }

    @Test func everyReplyStateAndEvent() {
        for s in ReplyState.allCases {
            for e in ReplyEvent.allCases {
                var m = Self.replies(s)
                let before = m.waiting
                let event: PhaseEvent =
                    switch e {
                    case .reply: .message(process: 0, connection: 1, .checkpointed(round: 3))
                    case .secondReply: .message(process: 1, connection: 2, .checkpointed(round: 3))
                    case .otherReply: .message(process: 0, connection: 1, .checkpointed(round: 2))
                    case .request: .message(process: 0, connection: 1, .checkpoint(round: 3))
                    case .closed: .closed(1)
                    case .closedOther: .closed(9)
                    case .deadline: .deadline
                    case .ended: .transportEnded
                    }
                let (kind, after): (K, Set<ConnectionID>) =
                    switch e {
                    case .reply: before.contains(1) ? (.effect, before.subtracting([1])) : (.warning, before)
                    case .secondReply: before.contains(2) ? (.effect, before.subtracting([2])) : (.warning, before)
                    case .otherReply: (.info, before)
                    case .request: (.violation, before)
                    case .closed: (.none, before.subtracting([1]))
                    case .closedOther: (.none, before)
                    case .deadline: (.warning, [])
                    case .ended: (.none, [])
                    }
                #expect(Self.kind(m.handle(event)) == kind, "\(s) × \(e)")
                #expect(m.waiting == after && m.isComplete == after.isEmpty, "\(s) × \(e)")
            }
        }
    }

    // MARK: Checkpoint

    enum CheckpointState: CaseIterable { case pending, oneConfirmed, abandoned }
    enum CheckpointEvent: CaseIterable {
        case confirm, confirmOtherRound, snapshotFailed, otherFailure, otherRoundFailure, request, closed, deadline,
            ended
    }

    @Test func everyCheckpointStateAndEvent() {
        for s in CheckpointState.allCases {
            for e in CheckpointEvent.allCases {
                var m = CheckpointCollection(round: 4, waiting: [1, 2])
                if s == .oneConfirmed { _ = m.handle(.message(process: 1, connection: 2, .checkpointed(round: 4))) }
                if s == .abandoned { _ = m.handle(.deadline) }
                let before = (m.pending, m.confirmed, m.abandoned)
                let event: PhaseEvent =
                    switch e {
                    case .confirm: .message(process: 0, connection: 1, .checkpointed(round: 4))
                    case .confirmOtherRound: .message(process: 0, connection: 1, .checkpointed(round: 2))
                    case .snapshotFailed:
                        .message(
                            process: 0,
                            connection: 1,
                            Self.failed(0, round: 4, reason: "snapshot failed: disk full")
                        )
                    case .otherFailure: .message(process: 0, connection: 1, Self.failed(0, round: 4))
                    case .otherRoundFailure:
                        .message(process: 0, connection: 1, Self.failed(0, round: 2, reason: "snapshot failed: x"))
                    case .request:
                        .message(process: 0, connection: 1, .train(DeviceRequest(round: 4, devices: [], shared: [])))
                    case .closed: .closed(1)
                    case .deadline: .deadline
                    case .ended: .transportEnded
                    }
                let actions = m.handle(event)
                switch e {
                case .confirm:
                    #expect(Self.kind(actions) == .none && !m.pending.contains(1) && m.confirmed.contains(0))
                case .snapshotFailed:
                    guard case .effect(.snapshotFailed(0, "disk full"))? = actions.first else {
                        Issue.record("\(s) × \(e): \(actions)")
                        continue
                    }
                case .confirmOtherRound, .otherFailure, .otherRoundFailure:
                    #expect(
                        Self.kind(actions) == .info && (m.pending, m.confirmed) == (before.0, before.1),
                        "\(s) × \(e)"
                    )
                case .request: #expect(Self.kind(actions) == .violation && m.pending == before.0, "\(s) × \(e)")
                case .closed: #expect(Self.kind(actions) == .none && !m.pending.contains(1) && m.confirmed == before.1)
                case .deadline: #expect(Self.kind(actions) == .warning && m.abandoned && m.isComplete)
                case .ended: #expect(Self.kind(actions) == .none && m.abandoned && m.isComplete)
                }
                #expect(m.isComplete == (m.abandoned || m.pending.isEmpty))
            }
        }
    }

    // MARK: A SecAgg+ collection stage

    enum SecureEvent: CaseIterable {
        case payload, payloadFromOther, malformed, otherRound, plainUpdate, plainFailure, otherReply, request
        case closed, deadline, ended
    }

    @Test func everySecureStageStateAndEvent() {
        let valid = SecAggEnvelope(
            round: 5,
            stage: SecAggStage.advertise.rawValue,
            body: SecAggPayload.advertise([]).encoded()
        )
        for timedOut in [false, true] {
            for e in SecureEvent.allCases {
                var m = SecureStageCollection(round: 5, label: "5", waiting: [1], timedOut: timedOut)
                let event: PhaseEvent =
                    switch e {
                    case .payload: .message(process: 0, connection: 1, .secagg(valid))
                    case .payloadFromOther: .message(process: 1, connection: 2, .secagg(valid))
                    case .malformed:
                        .message(
                            process: 0,
                            connection: 1,
                            .secagg(SecAggEnvelope(round: 5, stage: valid.stage, body: [0xFF]))
                        )
                    case .otherRound:
                        .message(
                            process: 0,
                            connection: 1,
                            .secagg(SecAggEnvelope(round: 4, stage: valid.stage, body: []))
                        )
                    case .plainUpdate: .message(process: 0, connection: 1, Self.update(0, round: 5))
                    case .plainFailure: .message(process: 0, connection: 1, Self.failed(0, round: 5))
                    case .otherReply: .message(process: 0, connection: 1, .checkpointed(round: 5))
                    case .request: .message(process: 0, connection: 1, .shutdown(reason: ""))
                    case .closed: .closed(1)
                    case .deadline: .deadline
                    case .ended: .transportEnded
                    }
                let kind: K =
                    switch e {
                    case .payload, .ended: .effect
                    case .payloadFromOther, .closed: .none
                    case .malformed, .plainUpdate, .plainFailure, .request: .violation
                    case .otherRound, .otherReply: .info
                    case .deadline: .warning
                    }
                #expect(Self.kind(m.handle(event)) == kind, "timedOut \(timedOut) × \(e)")
                #expect(m.waiting == (e == .closed ? [] : [1]), "timedOut \(timedOut) × \(e)")
                #expect(m.isComplete == (timedOut || e == .deadline || e == .closed), "timedOut \(timedOut) × \(e)")
            }
        }
    }

    // MARK: Start-up

    @Test func everyStartUpStateAndEvent() {
        let enroll = SecAggEnvelope(round: 0, stage: SecAggStage.enroll.rawValue, body: [])
        for secure in [false, true] {
            for alreadyEnrolled in [false, true] {
                var m = ProcessGathering(expected: 2, secure: secure)
                m.connected = 2
                if alreadyEnrolled { m.enrolled = [0] }
                #expect(m.isComplete == !secure)
                let cases: [(PhaseEvent, K)] = [
                    (
                        .message(process: 0, connection: 1, .secagg(enroll)),
                        secure && !alreadyEnrolled ? .effect : .violation
                    ),
                    (.message(process: 0, connection: 1, Self.update(0)), .violation),  // nothing asked yet: not late
                    (.message(process: 0, connection: 1, .shutdown(reason: "")), .violation),
                    (.closed(1), .none), (.deadline, .effect), (.transportEnded, .effect),
                ]
                for (event, kind) in cases {
                    var copy = m
                    #expect(
                        Self.kind(copy.handle(event)) == kind,
                        "secure \(secure) enrolled \(alreadyEnrolled) × \(event)"
                    )
                }
            }
        }
    }
}
