import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// The SecAgg+ driver: one secure sum over the devices of a round (training, or evaluation's
/// exposure counts), stage by stage, with dropouts at any stage.
extension Coordinator {
    /// Runs the four SecAgg+ stages for `chosen` over vectors of `length`, and returns the
    /// survivors' sum. `afterBegin` sends whatever a connection needs right after the round is
    /// announced (training: the model). Used by training rounds and by evaluation's exposure
    /// counts alike, so both go through the same protocol code.
    func runSecureSum(
        round: UInt32,
        chosen: [Int],
        assignments: [ConnectionID: [UInt32]],
        length: Int,
        graphSeed: UInt64,
        discard: Set<Int> = [],
        beforeUnmask: (Set<UInt32>) -> String? = { _ in nil },
        afterBegin: (ConnectionID, [UInt32]) async -> Void
    ) async throws -> SecureSum {
        let label =
            round & Self.evaluationRoundFlag != 0 ? "evaluation \(round & ~Self.evaluationRoundFlag)" : "\(round)"
        let sa = scenario.secureAggregation
        let (k, t) = secAggParameters(n: chosen.count)
        let config = SecAggRoundConfig(
            round: round,
            devices: chosen.map { UInt32($0) },
            k: k,
            t: t,
            bits: sa.bits,
            graphSeed: graphSeed,
            length: length
        )
        let keys = identityKeys
        var server = SecAggServer(config: config, identityKey: { keys[$0] })
        let deadline = armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)
        var stats: [StageStats] = []
        var stageStart = (monotonicSeconds(), bytesSent, bytesReceived)
        var timedOut = false
        func closeStage(_ name: String, _ devices: Int) {
            stats.append(
                StageStats(
                    name: name,
                    devices: devices,
                    bytesUp: bytesReceived - stageStart.2,
                    bytesDown: bytesSent - stageStart.1,
                    seconds: monotonicSeconds() - stageStart.0
                )
            )
            stageStart = (monotonicSeconds(), bytesSent, bytesReceived)
        }
        func owns(_ p: Int, _ d: UInt32) -> Bool { peers[p]?.range.contains(Int(d)) == true }
        func send(_ payload: SecAggPayload, to c: ConnectionID) async {
            await self.send(
                .secagg(SecAggEnvelope(round: round, stage: payload.stage.rawValue, body: payload.encoded())),
                to: c
            )
        }
        /// Runs one collection stage: waits for each connection in `waiting` to answer. Once
        /// the round's deadline has passed, every later stage ends at once.
        func collect(
            _ waiting: Set<ConnectionID>,
            _ handle: (Int, ConnectionID, SecAggPayload) async -> Bool
        ) async throws {
            var stage = SecureStageCollection(round: round, label: label, waiting: waiting, timedOut: timedOut)
            try await drive(&stage, deadline: deadline) { effect, stage in
                switch effect {
                case .payload(let p, let c, let payload):
                    if await handle(p, c, payload) { stage.answered(c) }
                case .transportEnded:
                    throw Failure(description: "transport closed during round \(label)")
                }
                return nil
            }
            timedOut = stage.timedOut
        }
        func liveConnections(hosting devices: Set<UInt32>) -> [(ConnectionID, [UInt32])] {
            assignments.sorted { $0.key < $1.key }.compactMap { c, ds in
                guard processOf[c] != nil else { return nil }
                let mine = ds.filter { devices.contains($0) }
                return mine.isEmpty ? nil : (c, mine)
            }
        }

        // Stage 0 → 1: announce the round (and whatever the caller sends with it); collect keys.
        for (c, devices) in assignments.sorted(by: { $0.key < $1.key }) {
            await send(.begin(config), to: c)
            await afterBegin(c, devices)
        }
        try await collect(Set(assignments.keys)) { p, c, payload in
            guard case .advertise(let list) = payload else { return false }
            for a in list {
                guard owns(p, a.device) else {
                    await protocolViolation(c, p, "advertised keys for device \(a.device), which it does not host")
                    return true
                }
                do { try server.receive(a) } catch {
                    log.warning("round \(label): refusing keys of device \(a.device): \(error)")
                }
            }
            return true
        }
        closeStage("advertise", server.advertised.count)

        // Stage 2: forward neighbours' keys; collect encrypted shares.
        let u1 = Set(server.advertised.keys)
        let stage2 = liveConnections(hosting: u1)
        for (c, devices) in stage2 { await send(.keys(devices.map { ($0, server.neighbourKeys(for: $0)) }), to: c) }
        try await collect(Set(stage2.map(\.0))) { p, c, payload in
            guard case .shares(let list) = payload else { return false }
            for (from, shares) in Dictionary(grouping: list, by: \.from).sorted(by: { $0.key < $1.key }) {
                guard owns(p, from) else {
                    await protocolViolation(c, p, "dealt shares as device \(from), which it does not host")
                    return true
                }
                do { try server.receive(shares: shares, from: from) } catch {
                    log.warning("round \(label): refusing shares of device \(from): \(error)")
                }
            }
            return true
        }
        closeStage("share", server.dealt.count)

        // Stage 3: relay shares; collect masked inputs into the running sum.
        let stage3 = liveConnections(hosting: server.dealt)
        for (c, devices) in stage3 { await send(.relay(devices.map { ($0, server.shares(for: $0)) }), to: c) }
        try await collect(Set(stage3.map(\.0))) { p, c, payload in
            switch payload {
            case .masked(let d, let y):
                guard owns(p, d) else {
                    await protocolViolation(c, p, "sent a masked input as device \(d), which it does not host")
                    return true
                }
                // Past the simulated deadline, offline, or beyond the over-selection target:
                // the input arrives too late to count, exactly like a dropout.
                if discard.contains(Int(d)) { return false }
                do { try server.receive(masked: y, from: d) } catch {
                    log.warning("round \(label): refusing masked input of device \(d): \(error)")
                }
                return false
            case .maskedDone: return true
            default: return false
            }
        }
        let survivors = server.announceSurvivors()
        closeStage("masked", survivors.count)

        var line = SecAggRound(protocol: sa.protocol.rawValue, k: k, t: t, bits: sa.bits)
        func finishLine(_ l: inout SecAggRound) {
            l.stages = stats.map {
                SecAggRound.Stage(
                    name: $0.name,
                    devices: $0.devices,
                    bytesUp: $0.bytesUp,
                    bytesDown: $0.bytesDown,
                    seconds: $0.seconds
                )
            }
        }
        guard survivors.count >= t else {
            finishLine(&line)
            let why = "only \(survivors.count) devices sent masked input; the threshold is \(t)"
            return SecureSum(sum: nil, survivors: [], line: line, abandoned: why)
        }
        // Last moment to keep the sum masked: nothing has been revealed yet.
        if let why = beforeUnmask(survivors) {
            finishLine(&line)
            return SecureSum(sum: nil, survivors: [], line: line, abandoned: why)
        }

        // Stage 4: announce survivors; collect revealed shares; unmask.
        let stage4 = liveConnections(hosting: survivors)
        for (c, _) in stage4 { await send(.unmask(survivors: survivors.sorted()), to: c) }
        var revealers = 0
        try await collect(Set(stage4.map(\.0))) { p, c, payload in
            guard case .reveal(let list) = payload else { return false }
            for (holder, reveals) in Dictionary(grouping: list, by: \.holder).sorted(by: { $0.key < $1.key }) {
                guard owns(p, holder) else {
                    await protocolViolation(c, p, "revealed shares as device \(holder), which it does not host")
                    return true
                }
                do {
                    try server.receive(reveals: reveals, from: holder)
                    revealers += 1
                } catch {
                    log.warning("round \(label): refusing shares revealed by device \(holder): \(error)")
                }
            }
            return true
        }
        var scratch: [UInt32] = []
        let sum: [UInt32]
        do {
            sum = try server.unmaskedSum(scratch: &scratch)
        } catch {
            closeStage("unmask", revealers)
            finishLine(&line)
            return SecureSum(sum: nil, survivors: [], line: line, abandoned: "\(error)")
        }
        closeStage("unmask", revealers)
        finishLine(&line)
        if round & Self.evaluationRoundFlag == 0 { lastSecureSum = sum } else { lastExposureSum = sum }
        return SecureSum(sum: sum, survivors: survivors, line: line, abandoned: nil)
    }

    /// Round ids with the top bit set are evaluation rounds (exposure counts), never training.
    static let evaluationRoundFlag: UInt32 = 0x8000_0000

    /// Evaluation under secure aggregation: the evaluated devices' top-K lists and rated items
    /// (one-hot, 2 × items) summed through SecAgg+, so the coordinator learns how often each
    /// item was recommended and rated, never by whom. nil (with a warning) when fewer than
    /// three devices were evaluated or the round fails; the exposure metrics are then omitted
    /// and the evaluation's `exposure_omitted` says why.
    func secureExposure(round r: Int, evaluated: [Int]) async throws -> ExposureSum {
        let chosen = Array(Set(evaluated)).sorted()
        guard chosen.count >= 3 else {
            let why = "\(chosen.count) evaluated devices are too few for a secure exposure sum"
            log.warning("evaluation of round \(r): \(why); exposure metrics omitted")
            return .omitted(why)
        }
        var assignments: [ConnectionID: [UInt32]] = [:]
        for d in chosen {
            let p = Sharding.process(of: d, processes: processCount, devices: population.devices)
            if let peer = peers[p] { assignments[peer.connection, default: []].append(UInt32(d)) }
        }
        let n = population.items
        let s = try await runSecureSum(
            round: Self.evaluationRoundFlag | UInt32(r),
            chosen: chosen,
            assignments: assignments,
            length: 2 * n,
            graphSeed: Seeds.derive(scenario.seed, "secagg.exposure", UInt64(r))
        ) { _, _ in }
        guard let sum = s.sum else {
            let why = "the secure exposure sum failed (\(s.abandoned ?? "?"))"
            log.warning("evaluation of round \(r): \(why); exposure metrics omitted")
            return .omitted(why)
        }
        return .summed(recommended: sum[0..<n].map { Double($0) }, rated: sum[n..<(2 * n)].map { Double($0) })
    }

    /// An evaluation's secure exposure sum: per item, how often it was recommended and rated;
    /// or why there is none.
    enum ExposureSum {
        case summed(recommended: [Double], rated: [Double])
        case omitted(String)
    }
}
