import FedSimRuntime
import FedSimSecAgg
import FedSimWire
import Testing

/// Every (state, event) pair of the coordinator's phase machines, without sockets: what each
/// message means in each state is decided by the machine alone, and these tables are its
/// specification. The one event loop (`Coordinator.drive`) only carries the actions out.
@Suite struct PhaseMachineTests {
    /// What an action list amounts to, for the tables.
    enum Kind: Equatable { case none, effect, violation, info, warning }

    static func kind<E>(_ actions: [PhaseAction<E>]) -> Kind {
        guard let a = actions.first else { return .none }
        #expect(actions.count == 1, "one action per event")
        switch a {
        case .effect: return .effect
        case .violation: return .violation
        case .info: return .info
        case .warning: return .warning
        }
    }

    static func update(_ device: UInt32, round: UInt32 = 3) -> Message {
        .update(
            DeviceUpdate(
                round: round,
                device: device,
                examples: 1,
                trainLoss: 0,
                weightedDelta: [1],
                weights: [],
                withinClip: 1
            )
        )
    }

    static func compressed(_ device: UInt32, round: UInt32 = 3) -> Message {
        .compressedUpdate(
            CompressedUpdate(round: round, device: device, examples: 1, trainLoss: 0, withinClip: 1, body: [1])
        )
    }

    static func failed(_ device: UInt32, round: UInt32 = 3, reason: String = "out of memory") -> Message {
        .failed(DeviceFailure(round: round, device: device, reason: reason))
    }

    // MARK: Training collection

    /// Process 0 on connection 1 hosts devices 0..<5 (0 and 1 sampled); process 1 on
    /// connection 2 hosts 5..<10 (5 sampled). Connection 3 is process 1 reconnected.
    enum TrainingState: CaseIterable { case collecting, deviceFinished, deviceFailed, expired }
    enum TrainingEvent: CaseIterable {
        case update, lateUpdate, notHosted, assignedElsewhere, compressed, lateCompressed, failed, lateFailed
        case otherReply, request, closedWithPending, closedOther, deadline, transportEnded
    }

    static func training(_ state: TrainingState, compression: Bool = true) -> TrainingCollection {
        var m = TrainingCollection(
            round: 3,
            label: "round 3",
            phase: "training round 3",
            assignments: [1: [0, 1], 2: [5]],
            hosted: [0: 0..<5, 1: 5..<10],
            compression: compression,
            deadlineSeconds: 30
        )
        switch state {
        case .collecting: break
        case .deviceFinished: m.finish(0, from: 1)
        case .deviceFailed: _ = m.handle(.message(process: 0, connection: 1, failed(0)))
        case .expired: _ = m.handle(.deadline)
        }
        return m
    }

    static func event(_ e: TrainingEvent) -> PhaseEvent {
        switch e {
        case .update: return .message(process: 0, connection: 1, update(0))
        case .lateUpdate: return .message(process: 0, connection: 1, update(0, round: 2))
        case .notHosted: return .message(process: 0, connection: 1, update(7))
        case .assignedElsewhere: return .message(process: 1, connection: 3, update(5))
        case .compressed: return .message(process: 0, connection: 1, compressed(0))
        case .lateCompressed: return .message(process: 0, connection: 1, compressed(0, round: 2))
        case .failed: return .message(process: 0, connection: 1, failed(0))
        case .lateFailed: return .message(process: 0, connection: 1, failed(0, round: 2))
        case .otherReply: return .message(process: 0, connection: 1, .checkpointed(round: 2))
        case .request: return .message(process: 0, connection: 1, .shutdown(reason: "bye"))
        case .closedWithPending: return .closed(1)
        case .closedOther: return .closed(9)
        case .deadline: return .deadline
        case .transportEnded: return .transportEnded
        }
    }

    /// The specification: the action, and device 0's outcome after the event.
    static func expected(_ s: TrainingState, _ e: TrainingEvent) -> (Kind, RoundTracker.Outcome) {
        let before: RoundTracker.Outcome =
            switch s {
            case .collecting: .pending(1)
            case .deviceFinished: .finished
            case .deviceFailed: .failed
            case .expired: .timedOut
            }
        let pending = s == .collecting
        switch e {
        case .update: return (pending ? .effect : .warning, before)
        case .lateUpdate, .lateCompressed, .otherReply: return (.info, before)
        case .notHosted, .request: return (.violation, before)
        // Device 5 is pending on connection 2 until the deadline.
        case .assignedElsewhere: return (s == .expired ? .warning : .violation, before)
        case .compressed: return (.effect, before)
        case .failed: return (pending ? .info : .none, pending ? .failed : before)
        case .lateFailed, .closedOther: return (.none, before)
        case .closedWithPending: return (.none, pending ? .dropped : before)
        case .deadline: return (.warning, pending ? .timedOut : before)
        case .transportEnded: return (.none, pending ? .timedOut : before)
        }
    }

    @Test func everyTrainingStateAndEvent() {
        for s in TrainingState.allCases {
            for e in TrainingEvent.allCases {
                var m = Self.training(s)
                let actions = m.handle(Self.event(e))
                let (kind, outcome) = Self.expected(s, e)
                #expect(Self.kind(actions) == kind, "\(s) × \(e)")
                #expect(m.tracker.outcomes[0] == outcome, "\(s) × \(e)")
                // The deadline and the transport's end leave nothing pending; nothing else
                // ends this round (device 5 stays pending on connection 2).
                let ends = s == .expired || [.deadline, .transportEnded].contains(e)
                #expect(m.isComplete == ends, "\(s) × \(e)")
            }
        }
    }

    @Test func admittedAndRefusedUpdatesEndTheirDevice() {
        var m = Self.training(.collecting)
        m.finish(0, from: 1)
        m.refuse(1, from: 1)
        m.refuse(1, from: 1)  // a second refusal of the same device counts once
        #expect(m.tracker.outcomes[0] == .finished && m.tracker.outcomes[1] == .failed && m.rejected == 1)
        #expect(!m.isComplete)
        _ = m.handle(.closed(2))
        #expect(m.isComplete && m.tracker.outcomes[5] == .dropped && m.finishedDevices == [0])
    }

    @Test func aCompressedUpdateWithoutCompressionIsAViolation() {
        var m = Self.training(.collecting, compression: false)
        #expect(Self.kind(m.handle(Self.event(.compressed))) == .violation)
        #expect(Self.kind(m.handle(Self.event(.lateCompressed))) == .violation)
    }

    /// The late-reply rule: every reply kind is ignored, every other kind is a violation.
    @Test func lateRepliesAreNeverViolations() {
        let replies: [Message] = [
            Self.update(0, round: 1), Self.failed(0, round: 1), .checkpointed(round: 1),
            .secagg(SecAggEnvelope(round: 1, stage: 3, body: [])), Self.compressed(0, round: 1),
        ]
        for m in replies {
            let a: PhaseAction<Never> = LateReplyRule.unexpected(m, process: 0, connection: 1, during: "x")
            #expect(Self.kind([a]) == .info, "\(m.kindName)")
        }
        for m in [Message.shutdown(reason: ""), .checkpoint(round: 1), .welcome(Welcome(processIndex: 0))] {
            let a: PhaseAction<Never> = LateReplyRule.unexpected(m, process: 0, connection: 1, during: "x")
            #expect(Self.kind([a]) == .violation, "\(m.kindName)")
        }
    }
}
