import FedSimWire

/// Collecting a plain (not secure) training round's updates: synchronous rounds and FedBuff's
/// asynchronous steps alike. Each sampled device ends in exactly one `RoundTracker` outcome;
/// the machine decides what each message means, the coordinator only admits the updates it
/// is asked to (`Effect.admit`) and reports back with `finish` or `refuse`.
public struct TrainingCollection: PhaseMachine {
    public enum Effect {
        /// An update of a pending device, from the process that hosts it: check it against
        /// the bounds and add it to the aggregate, then call `finish` or `refuse`.
        case admit(DeviceUpdate, process: Int, connection: ConnectionID)
        /// A compressed update of this round: decode it through the run's stages and feed the
        /// result back as a `.message(…, .update)`, or call `refuse` if it does not decode.
        case decode(CompressedUpdate, process: Int, connection: ConnectionID)
    }

    public let round: UInt32
    /// "round 3" or "async step 3": how log lines name this collection.
    public let label: String
    /// "training round 3": how the late-reply rule names the phase.
    public let phase: String
    let compression: Bool
    let deadlineSeconds: Double
    /// The device range each live process hosts, as of the round's start (a process that
    /// reconnects mid-round hosts the same range; a lost one sends nothing more).
    let hosted: [Int: Range<Int>]
    public private(set) var tracker: RoundTracker
    /// Updates refused at admission or that did not decode: failed devices.
    public private(set) var rejected = 0

    public init(
        round: Int,
        label: String,
        phase: String,
        assignments: [ConnectionID: [UInt32]],
        hosted: [Int: Range<Int>],
        compression: Bool,
        deadlineSeconds: Double
    ) {
        self.round = UInt32(round)
        self.label = label
        self.phase = phase
        self.hosted = hosted
        self.compression = compression
        self.deadlineSeconds = deadlineSeconds
        tracker = RoundTracker(assignments: assignments)
    }

    public var isComplete: Bool { tracker.isComplete }

    public mutating func handle(_ event: PhaseEvent) -> [PhaseAction<Effect>] {
        switch event {
        case .deadline:
            let n = tracker.expire()
            return [.warning("\(label): deadline of \(deadlineSeconds) s passed with \(n) devices outstanding")]
        case .transportEnded:
            tracker.expire()
            return []
        case .closed(let c):
            tracker.drop(connection: c)
            return []
        case .message(let p, let c, .update(let u)):
            return update(u, process: p, connection: c)
        case .message(let p, let c, .compressedUpdate(let cu)):
            guard compression else {
                return [
                    .violation(
                        process: p,
                        connection: c,
                        reason: "sent a compressed update, but this run does not compress"
                    )
                ]
            }
            guard cu.round == round else {
                return [.info("ignoring late compressed update of device \(cu.device) for round \(cu.round)")]
            }
            return [.effect(.decode(cu, process: p, connection: c))]
        case .message(_, let c, .failed(let f)):
            guard f.round == round else { return [] }
            guard tracker.resolve(f.device, from: c, as: .failed) == .accepted else { return [] }
            return [.info("\(label): device \(f.device) failed: \(f.reason)")]
        case .message(let p, let c, let m):
            return [LateReplyRule.unexpected(m, process: p, connection: c, during: phase)]
        }
    }

    func update(_ u: DeviceUpdate, process p: Int, connection c: ConnectionID) -> [PhaseAction<Effect>] {
        guard u.round == round else {
            return [.info("ignoring late update of device \(u.device) for round \(u.round)")]
        }
        guard hosted[p]?.contains(Int(u.device)) == true else {
            return [
                .violation(
                    process: p,
                    connection: c,
                    reason: "sent an update for device \(u.device), which it does not host"
                )
            ]
        }
        switch tracker.check(u.device, from: c) {
        case .accepted:
            return [.effect(.admit(u, process: p, connection: c))]
        case .notPending:
            return [
                .warning(
                    "\(label): process \(p) sent an update for device \(u.device), which is not pending (duplicate?)"
                )
            ]
        case .wrongConnection:
            return [
                .violation(
                    process: p,
                    connection: c,
                    reason: "sent an update for device \(u.device), which was assigned elsewhere"
                )
            ]
        }
    }

    /// The admitted update is in the aggregate.
    public mutating func finish(_ device: UInt32, from c: ConnectionID) {
        tracker.resolve(device, from: c, as: .finished)
    }

    /// The update was refused (bounds, a malformed value) or did not decode: the device failed.
    public mutating func refuse(_ device: UInt32, from c: ConnectionID) {
        if tracker.resolve(device, from: c, as: .failed) == .accepted { rejected += 1 }
    }

    /// The devices whose update counted, in order.
    public var finishedDevices: [Int] {
        tracker.outcomes.compactMap { $0.value == .finished ? Int($0.key) : nil }.sorted()
    }
}
