import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// Secure aggregation on the coordinator: enrollment of device identities, then per round the
/// four SecAgg+ stages over the same transport as training. The coordinator keeps only the
/// running sum of masked inputs; a plain `update` from a client while secure aggregation is on
/// is refused and its connection closed, so no individual update enters the aggregate.
extension Coordinator {
    enum SecureEvent {
        case payload(process: Int, connection: ConnectionID, SecAggPayload)
        case closed(ConnectionID)
        case deadline
        case ended
    }

    /// Stores a process's enrollment (its devices' identity public keys). Returns false and
    /// closes the connection when the list is not exactly the process's own devices.
    func enroll(process p: Int, connection c: ConnectionID, _ env: SecAggEnvelope) async -> Bool {
        guard case .enroll(let list)? = try? SecAggPayload.decode(stage: env.stage, env.body),
            let range = peers[p]?.range
        else {
            await protocolViolation(c, p, "sent a malformed enrollment")
            return false
        }
        guard list.count == range.count, list.allSatisfy({ range.contains(Int($0.device)) }),
            Set(list.map(\.device)).count == list.count
        else {
            await protocolViolation(
                c,
                p,
                "enrolled devices that are not exactly its own \(range.lowerBound)..<\(range.upperBound)"
            )
            return false
        }
        // A process that reconnects enrols again; its devices' identity keys must not change
        // (a process cannot swap in new identities for devices mid-run).
        for (d, pk) in list where identityKeys[d] != nil && identityKeys[d]! != pk {
            await protocolViolation(c, p, "re-enrolled device \(d) with a different identity key")
            return false
        }
        for (d, pk) in list { identityKeys[d] = pk }
        enrolledProcesses.insert(p)
        log.info("client process \(p) enrolled \(list.count) device identities")
        return true
    }

    func nextSecure(round: UInt32, deadline: Int) async -> SecureEvent {
        while true {
            switch await next() {
            case .deadline(let id) where id == deadline: return .deadline
            case .deadline: continue
            case .transportEnded: return .ended
            case .transport(let e):
                if case .closed(let c, _) = e {
                    _ = await handleControl(e)
                    return .closed(c)
                }
                guard let (p, c, m) = await handleControl(e) else { continue }
                switch m {
                case .secagg(let env) where env.round == round:
                    do {
                        return .payload(process: p, connection: c, try SecAggPayload.decode(stage: env.stage, env.body))
                    } catch {
                        await protocolViolation(c, p, "sent a malformed secure-aggregation message: \(error)")
                    }
                case .secagg(let env):
                    log.info("ignoring a secure-aggregation message of round \(env.round) during round \(round)")
                case .update, .failed:
                    await protocolViolation(c, p, "sent a plain \(m.kindName) while secure aggregation is on")
                default:
                    await unexpected(m, from: p, on: c, during: "secure-aggregation round \(round)")
                }
            }
        }
    }

    struct StageStats {
        var name: String
        var devices: Int
        var bytesUp: Int
        var bytesDown: Int
        var seconds: Double
    }

    struct SecureOutcome {
        var mean: [Float]?
        /// Σ weighted deltas (dequantized), for central DP.
        var sum: [Double]? = nil
        /// With distributed DP: the noise multiplier the survivors' noise achieved.
        var realizedMultiplier: Double? = nil
        /// Devices whose update was within the DP clip (a total from the secure sum).
        var withinClip = 0
        var survivors: Int
        var survivorIDs: [Int] = []
        var examples: Double
        var lossSum: Double
        var abandoned: String?
        var line: JSONObject
    }

    /// The round's quantizer; both sides build it from public values, so the scales agree.
    static func quantizer(scenario: Scenario, layout: ParameterLayout, devices n: Int) throws -> SecureSumQuantizer {
        let sa = scenario.secureAggregation
        let headroom =
            scenario.privacy.mechanism == .distributed
            ? DistributedDP.headroom(noiseMultiplier: scenario.privacy.noiseMultiplier, devices: n) : 1
        // Uniform weighting sends weight 1 in every slot: bound the weights by 1, which also
        // gives every value element the same scale (what DP noise in the integer domain needs).
        let uniform = scenario.training.weighting == .uniform
        return try SecureSumQuantizer(
            layout: layout,
            bits: sa.bits,
            maxContributors: n,
            valueClip: sa.valueClip,
            maxRowWeight: uniform ? 1 : sa.maxRowWeight,
            maxExamples: sa.maxExamples,
            maxWholeWeight: uniform ? 1 : nil,
            noiseHeadroom: headroom
        )
    }

    func secAggParameters(n: Int) -> (k: Int, t: Int) {
        let c = scenario.secureAggregation
        let γ = c.assumedCorruption
        // Over-selection discards a known share of the selected devices at the masked stage:
        // the graph must tolerate it on top of the assumed dropout.
        let δ = min(0.9, c.assumedDropout + (1 - 1 / scenario.fleet.overSelection))
        func threshold(_ k: Int) -> Int {
            c.threshold > 0 ? min(c.threshold, k) : min(k, Int(((1 + γ) * Double(k) / 2).rounded(.down)) + 1)
        }
        if c.neighbors > 0 {
            let k = min(c.neighbors, n - 1)
            return (k, threshold(k))
        }
        if c.protocol == .secagg { return (n - 1, threshold(n - 1)) }
        let p = SecAggParameters.choose(n: n, dropoutRate: δ, corruptionRate: γ)
        return (p.k, c.threshold > 0 ? min(c.threshold, p.k) : p.t)
    }

    /// `trainRequests` replaces the one train request per process (FedBuff: devices train on
    /// different model versions, each with its staleness weight).
    func runSecureRound(
        _ r: Int,
        chosen: [Int],
        assignments: [ConnectionID: [UInt32]],
        discard: Set<Int> = [],
        trainRequests: [ConnectionID: [DeviceRequest]]? = nil
    ) async throws -> SecureOutcome {
        let n = chosen.count
        let quantizer = try Self.quantizer(scenario: scenario, layout: layout, devices: n)
        let s = try await runSecureSum(
            round: UInt32(r),
            chosen: chosen,
            assignments: assignments,
            length: quantizer.length,
            graphSeed: Seeds.derive(scenario.seed, "secagg.graph", UInt64(r)),
            discard: discard
        ) { c, devices in
            // With the round announced, hand out the model to train.
            if let requests = trainRequests?[c] {
                for req in requests { await self.send(.train(req), to: c) }
            } else {
                await self.send(
                    .train(
                        DeviceRequest(round: UInt32(r), devices: devices, shared: self.model, clip: self.dp?.clip ?? 0)
                    ),
                    to: c
                )
            }
        }
        let line = s.line
        guard let sum = s.sum else {
            return SecureOutcome(mean: nil, survivors: 0, examples: 0, lossSum: 0, abandoned: s.abandoned, line: line)
        }
        let survivors = s.survivors
        let sa = scenario.secureAggregation
        var totals = quantizer.dequantize(sum)
        if scenario.compression.stages == [.rotate] {
            // Σ R·x = R·Σ x: undo the round's shared rotation on the sum.
            SharedRotation(
                blockSize: scenario.compression.blockSize,
                seed: Seeds.derive(scenario.seed, "secagg.rotation", UInt64(r))
            )
            .inverse(&totals.weightedDelta, count: totals.weightedDelta.count)
        }
        var realized: Double?
        if scenario.privacy.mechanism == .distributed {
            let Δ = quantizer.integerSensitivity(clip: scenario.privacy.sensitivity)
            let σdev = DistributedDP.deviceSigma(
                noiseMultiplier: scenario.privacy.noiseMultiplier,
                sensitivity: Δ,
                devices: n,
                assumedDropout: sa.assumedDropout
            )
            realized = DistributedDP.realizedMultiplier(deviceSigma: σdev, sensitivity: Δ, survivors: survivors.count)
        }
        return SecureOutcome(
            mean: quantizer.mean(weightedDelta: totals.weightedDelta, weights: totals.weights),
            sum: totals.weightedDelta,
            realizedMultiplier: realized,
            withinClip: Int(totals.withinClip),
            survivors: survivors.count,
            survivorIDs: survivors.map { Int($0) }.sorted(),
            examples: totals.examples,
            lossSum: totals.lossSum,
            abandoned: nil,
            line: line
        )
    }

    /// The outcome of one SecAgg+ protocol run: the unmasked sum in Z_{2^bits} of the
    /// survivors' inputs, or why there is none.
    struct SecureSum {
        var sum: [UInt32]?
        var survivors: Set<UInt32>
        var line: JSONObject
        var abandoned: String?
    }

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
        /// Runs one collection stage: waits for each connection in `waiting` to answer.
        func collect(
            _ waiting: Set<ConnectionID>,
            _ handle: (Int, ConnectionID, SecAggPayload) async -> Bool
        ) async throws {
            var waiting = waiting
            while !waiting.isEmpty && !timedOut {
                switch await nextSecure(round: round, deadline: deadline) {
                case .payload(let p, let c, let payload):
                    if waiting.contains(c), await handle(p, c, payload) { waiting.remove(c) }
                case .closed(let c): waiting.remove(c)
                case .deadline:
                    timedOut = true
                    log.warning(
                        "round \(label): secure aggregation deadline passed with \(waiting.count) client processes outstanding"
                    )
                case .ended: throw Failure(description: "transport closed during round \(label)")
                }
            }
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

        var line = JSONObject()
        line.add("protocol", sa.protocol.rawValue)
        line.add("k", k)
        line.add("t", t)
        line.add("bits", sa.bits)
        func finishLine(_ l: inout JSONObject) {
            var st = JSONObject()
            for s in stats {
                var o = JSONObject()
                o.add("devices", s.devices)
                o.add("bytes_up", s.bytesUp)
                o.add("bytes_down", s.bytesDown)
                o.add("seconds", s.seconds)
                st.add(s.name, o)
            }
            l.add("stages", st)
        }
        guard survivors.count >= t else {
            finishLine(&line)
            let why = "only \(survivors.count) devices sent masked input; the threshold is \(t)"
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
    /// three devices were evaluated or the round fails; the exposure metrics are then omitted.
    func secureExposure(round r: Int, evaluated: [Int]) async throws -> (recommended: [Double], rated: [Double])? {
        let chosen = Array(Set(evaluated)).sorted()
        guard chosen.count >= 3 else {
            log.warning(
                "evaluation of round \(r): \(chosen.count) evaluated devices are too few for a secure exposure sum; exposure metrics omitted"
            )
            return nil
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
            log.warning(
                "evaluation of round \(r): the secure exposure sum failed (\(s.abandoned ?? "?")); exposure metrics omitted"
            )
            return nil
        }
        return (sum[0..<n].map { Double($0) }, sum[n..<(2 * n)].map { Double($0) })
    }
}
