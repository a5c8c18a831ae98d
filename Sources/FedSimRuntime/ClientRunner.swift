import FedSimConfig
import FedSimCore
import FedSimSecAgg
import FedSimWire

#if canImport(Glibc)
import Glibc
#endif

/// A client process's protocol loop: handshake, then serve train and evaluate requests for
/// its devices until the coordinator says shutdown or the connection ends.
public struct ClientRunner {
    public let host: DeviceHost
    public let processIndex: Int
    public let processCount: Int
    public let token: [UInt8]
    public var log = Log("client")
    /// What a `crash` fault does. A real process SIGKILLs itself; in-memory tests substitute.
    public var crash: () async -> Void = { kill(getpid(), SIGKILL) }
    /// The device identities (needed when secure aggregation is on).
    public var enrollment: Enrollment?

    public init(host: DeviceHost, processIndex: Int, processCount: Int, token: [UInt8], enrollment: Enrollment? = nil) {
        self.host = host
        self.processIndex = processIndex
        self.processCount = processCount
        self.token = token
        self.enrollment = enrollment
        log = Log("client-\(processIndex)")
    }

    public struct Rejected: Error, CustomStringConvertible {
        public var description: String
    }

    /// Thrown by a `disconnect` fault: the process should reconnect after `seconds`.
    public struct Reconnect: Error, CustomStringConvertible {
        public var seconds: Double
        public var description: String { "fault injection: reconnect in \(seconds) s" }
    }

    /// Fault kinds already fired (a reconnected runner must not fire them again).
    public var firedFaults: Set<Int> = []

    /// Runs until shutdown. Throws if the coordinator rejects us or the connection breaks.
    public func run(_ conn: some ClientConnection) async throws {
        try await conn.send(
            .hello(
                Hello(
                    token: token,
                    processIndex: UInt32(processIndex),
                    processCount: UInt32(processCount),
                    firstDevice: UInt32(host.shard.lowerBound),
                    deviceCount: UInt32(host.shard.count)
                )
            )
        )
        let faults = host.scenario.runtime.faults.enumerated().filter {
            $0.element.process == processIndex && !firedFaults.contains($0.offset)
        }
        .map(\.element)
        var secure: SecAggParticipant?
        if host.scenario.secureAggregation.enabled {
            guard let enrollment else {
                throw Rejected(description: "secure aggregation is on but this process has no enrollment key")
            }
            secure = SecAggParticipant(host: host, enrollment: enrollment, log: log)
        }
        for try await message in conn.inbound {
            switch message {
            case .welcome:
                log.info("joined: hosting devices \(host.shard.lowerBound)..<\(host.shard.upperBound)")
                if let secure {
                    let p = secure.enrollment(devices: host.shard)
                    try await conn.send(.secagg(SecAggEnvelope(round: 0, stage: p.stage.rawValue, body: p.encoded())))
                }
            case .secagg(let env):
                guard let secure else {
                    log.warning("ignoring a secure-aggregation message: secure aggregation is off")
                    continue
                }
                try await handleSecure(env, secure, conn: conn, faults: faults)
            case .reject(let reason):
                throw Rejected(description: "coordinator rejected this process: \(reason)")
            case .shutdown(let reason):
                log.info("shutdown: \(reason)")
                await conn.close()
                return
            case .train(let req):
                host.beginRound(Int(req.round))
                if let secure {
                    let poison = faults.first { $0.kind == .poison && $0.round == Int(req.round) }.map {
                        Float($0.scale)
                    }
                    if poison != nil {
                        log.warning("fault injection: poisoning round \(req.round) updates by ×\(poison!)")
                    }
                    let clipped = secure.train(req, poisonScale: poison)
                    if clipped > 0 {
                        log.info("round \(req.round): \(clipped) values clipped to the secure-sum bounds")
                    }
                } else {
                    try await train(req, conn: conn, faults: faults)
                }
            case .evaluate(let req), .validate(let req):
                let validating = message.kind == .validate
                let final =
                    !validating && host.scenario.evaluation.localOnlyEpochs > 0
                    && Int(req.round) == host.scenario.training.rounds
                let batch = host.evaluateBatch(
                    req.devices.filter { host.hosts(Int($0)) }.map { Int($0) },
                    shared: req.shared,
                    negativeTransfer: final,
                    popular: req.popular,
                    phase: validating ? .validation : .test
                )
                var entries = batch.entries
                if let liar = Liar(faults) {
                    for i in entries.indices where liar.liesFor(position: i, round: Int(req.round)) {
                        log.warning("fault injection: forging the evaluation of device \(entries[i].device)")
                        liar.forge(&entries[i])
                    }
                }
                try await conn.send(
                    .evaluation(
                        EvaluationReport(
                            round: req.round,
                            entries: entries,
                            recommended: batch.recommended,
                            rated: batch.rated
                        )
                    )
                )
            case .coldStart(let req):
                let entries = host.coldStart(
                    req.devices.filter { host.hosts(Int($0)) }.map { Int($0) },
                    shared: req.shared
                )
                try await conn.send(.coldStartReport(ColdStartReport(round: req.round, entries: entries)))
            case .checkpoint(let r):
                do {
                    try host.snapshot(round: Int(r))
                    try await conn.send(.checkpointed(round: r))
                } catch {
                    // Said to the coordinator, which stops the run on the previous checkpoint:
                    // going on without one would silently lose everything since.
                    log.error("cannot write the checkpoint of round \(r): \(error)")
                    let reason = StorageError.snapshotFailurePrefix + "\(error)"
                    try await conn.send(
                        .failed(DeviceFailure(round: r, device: UInt32(host.shard.lowerBound), reason: reason))
                    )
                }
            case .keepBest:
                host.keepBest()
            case .restoreBest(let r):
                host.restoreBest()
                log.info("early stopping: devices' personal parameters restored to the best round (stopped after \(r))")
            case .hello, .update, .failed, .evaluation, .checkpointed, .compressedUpdate, .coldStartReport, .join,
                .setup:
                log.warning("ignoring unexpected \(message.kindName) message from the coordinator")
            }
        }
    }

    func handleSecure(
        _ env: SecAggEnvelope,
        _ secure: SecAggParticipant,
        conn: some ClientConnection,
        faults: [FaultConfig]
    ) async throws {
        func send(_ p: SecAggPayload) async throws {
            try await conn.send(.secagg(SecAggEnvelope(round: env.round, stage: p.stage.rawValue, body: p.encoded())))
        }
        let payload: SecAggPayload
        do {
            payload = try SecAggPayload.decode(stage: env.stage, env.body)
        } catch {
            log.warning("refusing a malformed secure-aggregation message: \(error)")
            return
        }
        if case .begin = payload {
        } else {
            guard secure.round?.round == env.round else {
                log.warning(
                    "ignoring secure-aggregation stage \(payload.stage.name) for round \(env.round): not the current round"
                )
                return
            }
        }
        switch payload {
        case .begin(let c):
            guard c.round == env.round else {
                log.warning("begin for round \(c.round) inside an envelope of round \(env.round)")
                return
            }
            do { try await send(try secure.begin(c)) } catch {
                log.error("round \(c.round): cannot take part in secure aggregation: \(error)")
                try await send(.advertise([]))
            }
        case .keys(let list):
            try await send(secure.share(list))
        case .relay(let list):
            if let f = faults.first(where: { $0.kind == .disconnect && $0.round == Int(env.round) }) {
                // Gone during the masked-input stage: a SecAgg+ dropout, then back for later rounds.
                log.warning(
                    "fault injection: disconnecting before the masked inputs of round \(env.round); back in \(f.seconds) s"
                )
                await conn.close()
                throw Reconnect(seconds: f.seconds)
            }
            try await secure.mask(list, send: send) { sent in
                for f in faults where f.round == Int(env.round) && f.afterUpdates == sent && f.kind == .crash {
                    log.warning("fault injection: crashing in round \(env.round) after \(sent) masked inputs")
                    await crash()
                }
            }
        case .unmask(let survivors):
            try await send(secure.unmask(survivors))
        case .enroll, .advertise, .shares, .masked, .maskedDone, .reveal:
            log.warning("ignoring secure-aggregation stage \(payload.stage.name), which only clients send")
        }
    }

    func train(_ req: DeviceRequest, conn: some ClientConnection, faults: [FaultConfig]) async throws {
        guard req.shared.count == host.sharedCount else {
            log.error(
                "train request for round \(req.round) carries \(req.shared.count) parameters, expected \(host.sharedCount)"
            )
            for d in req.devices {
                try await conn.send(.failed(DeviceFailure(round: req.round, device: d, reason: "model size mismatch")))
            }
            return
        }
        for (n, d) in req.devices.enumerated() {
            for f in faults where f.round == Int(req.round) && f.afterUpdates == n {
                switch f.kind {
                case .crash:
                    log.warning("fault injection: crashing in round \(req.round) after \(n) updates")
                    await crash()
                case .stall:
                    log.warning("fault injection: stalling \(f.seconds)s in round \(req.round)")
                    try await Task.sleep(for: .milliseconds(Int64(f.seconds * 1000)))
                case .disconnect:
                    log.warning(
                        "fault injection: disconnecting in round \(req.round) after \(n) updates; back in \(f.seconds) s"
                    )
                    await conn.close()
                    throw Reconnect(seconds: f.seconds)
                case .poison, .drop, .delay, .lie:
                    break
                }
            }
            guard host.hosts(Int(d)) else {
                try await conn.send(
                    .failed(DeviceFailure(round: req.round, device: d, reason: "device not hosted here"))
                )
                continue
            }
            var u = host.train(device: Int(d), round: Int(req.round), shared: req.shared, clip: req.clip)
            if let liar = Liar(faults), liar.liesFor(position: n, round: Int(req.round)) {
                log.warning("fault injection: lying about the update of device \(d) in round \(req.round)")
                liar.forge(&u)
            }
            var drop = false
            for f in faults where f.round == Int(req.round) {
                switch f.kind {
                case .poison:
                    let s = Float(f.scale)
                    for i in u.weightedDelta.indices { u.weightedDelta[i] *= s }
                    if n == 0 { log.warning("fault injection: poisoning round \(req.round) updates by ×\(f.scale)") }
                case .drop:
                    var rng = Seeds.rng(host.scenario.seed, "fault.drop", UInt64(d), UInt64(req.round))
                    drop = drop || rng.nextUnitDouble() < f.probability
                case .delay:
                    try await Task.sleep(for: .milliseconds(Int64(f.seconds * 1000)))
                default: break
                }
            }
            if drop {
                log.warning("fault injection: dropping the update frame of device \(d) in round \(req.round)")
                continue
            }
            if host.scenario.compression.enabled {
                let body = host.compress(u, device: Int(d), round: Int(req.round), clip: req.clip)
                try await conn.send(
                    .compressedUpdate(
                        CompressedUpdate(
                            round: req.round,
                            device: d,
                            examples: UInt32(u.examples),
                            trainLoss: u.trainLoss,
                            withinClip: u.withinClip ? 1 : 0,
                            body: body
                        )
                    )
                )
            } else {
                try await conn.send(
                    .update(
                        DeviceUpdate(
                            round: req.round,
                            device: d,
                            examples: UInt32(u.examples),
                            trainLoss: u.trainLoss,
                            weightedDelta: u.weightedDelta,
                            weights: u.weights,
                            withinClip: u.withinClip ? 1 : 0
                        )
                    )
                )
            }
        }
    }
}
