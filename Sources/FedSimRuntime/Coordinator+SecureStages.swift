import FedSimCore
import FedSimMetrics
import FedSimSecAgg
import FedSimWire

/// One secure sum in progress (`Coordinator.runSecureSum`): the SecAgg+ server machine, the
/// round's one deadline, and what each stage cost.
struct SecureSumRun {
    let round: UInt32
    /// "3", or "evaluation 3" for an exposure sum, in messages.
    let label: String
    let assignments: [ConnectionID: [UInt32]]
    let deadline: Int
    var server: SecAggServer
    /// Each closed stage's cost, as the round's metrics line carries it.
    var stages: [SecAggRound.Stage] = []
    /// When the current stage began: (seconds, bytes sent, bytes received).
    var stageStart: (Double, Int, Int)
    /// Once the round's deadline has passed, every later stage ends at once.
    var timedOut = false

    /// `line` with every closed stage's cost.
    func finish(_ line: SecAggRound) -> SecAggRound {
        var line = line
        line.stages = stages
        return line
    }
}

/// What the last stage gave: the unmasked sum, or why there is none.
enum UnmaskOutcome {
    case sum([UInt32])
    case failed(String)
}

/// The four SecAgg+ stages, each one collection on the round's event loop.
extension Coordinator {
    /// Stage 0 → 1: announce the round (and whatever the caller sends with it); collect keys.
    func advertiseStage(
        _ run: inout SecureSumRun,
        config: SecAggRoundConfig,
        afterBegin: (ConnectionID, [UInt32]) async -> Void
    ) async throws {
        for (c, devices) in run.assignments.sorted(by: { $0.key < $1.key }) {
            await sendSecAgg(.begin(config), round: run.round, to: c)
            await afterBegin(c, devices)
        }
        try await collectStage(&run, Set(run.assignments.keys)) { run, p, c, payload in
            guard case .advertise(let list) = payload else { return false }
            for a in list {
                guard self.owns(p, a.device) else {
                    await self.protocolViolation(c, p, "advertised keys for device \(a.device), which it does not host")
                    return true
                }
                do { try run.server.receive(a) } catch {
                    self.log.warning("round \(run.label): refusing keys of device \(a.device): \(error)")
                }
            }
            return true
        }
        closeStage(&run, "advertise", run.server.advertised.count)
    }

    /// Stage 2: forward neighbours' keys; collect encrypted shares.
    func shareStage(_ run: inout SecureSumRun) async throws {
        let stage = liveConnections(run, hosting: Set(run.server.advertised.keys))
        for (c, devices) in stage {
            await sendSecAgg(.keys(devices.map { ($0, run.server.neighbourKeys(for: $0)) }), round: run.round, to: c)
        }
        try await collectStage(&run, Set(stage.map(\.0))) { run, p, c, payload in
            guard case .shares(let list) = payload else { return false }
            for (from, shares) in Dictionary(grouping: list, by: \.from).sorted(by: { $0.key < $1.key }) {
                guard self.owns(p, from) else {
                    await self.protocolViolation(c, p, "dealt shares as device \(from), which it does not host")
                    return true
                }
                do { try run.server.receive(shares: shares, from: from) } catch {
                    self.log.warning("round \(run.label): refusing shares of device \(from): \(error)")
                }
            }
            return true
        }
        closeStage(&run, "share", run.server.dealt.count)
    }

    /// Stage 3: relay shares; collect masked inputs into the running sum. Returns the survivors.
    func maskedStage(_ run: inout SecureSumRun, discard: Set<Int>) async throws -> Set<UInt32> {
        let stage = liveConnections(run, hosting: run.server.dealt)
        for (c, devices) in stage {
            await sendSecAgg(.relay(devices.map { ($0, run.server.shares(for: $0)) }), round: run.round, to: c)
        }
        try await collectStage(&run, Set(stage.map(\.0))) { run, p, c, payload in
            switch payload {
            case .masked(let d, let y):
                guard self.owns(p, d) else {
                    await self.protocolViolation(c, p, "sent a masked input as device \(d), which it does not host")
                    return true
                }
                // Past the simulated deadline, offline, or beyond the over-selection target:
                // the input arrives too late to count, exactly like a dropout.
                if discard.contains(Int(d)) { return false }
                do { try run.server.receive(masked: y, from: d) } catch {
                    self.log.warning("round \(run.label): refusing masked input of device \(d): \(error)")
                }
                return false
            case .maskedDone: return true
            default: return false
            }
        }
        let survivors = run.server.announceSurvivors()
        closeStage(&run, "masked", survivors.count)
        return survivors
    }

    /// Stage 4: announce survivors; collect revealed shares; unmask.
    func unmaskStage(_ run: inout SecureSumRun, survivors: Set<UInt32>) async throws -> UnmaskOutcome {
        let stage = liveConnections(run, hosting: survivors)
        for (c, _) in stage { await sendSecAgg(.unmask(survivors: survivors.sorted()), round: run.round, to: c) }
        var revealers = 0
        try await collectStage(&run, Set(stage.map(\.0))) { run, p, c, payload in
            guard case .reveal(let list) = payload else { return false }
            for (holder, reveals) in Dictionary(grouping: list, by: \.holder).sorted(by: { $0.key < $1.key }) {
                guard self.owns(p, holder) else {
                    await self.protocolViolation(c, p, "revealed shares as device \(holder), which it does not host")
                    return true
                }
                do {
                    try run.server.receive(reveals: reveals, from: holder)
                    revealers += 1
                } catch {
                    self.log.warning("round \(run.label): refusing shares revealed by device \(holder): \(error)")
                }
            }
            return true
        }
        var scratch: [UInt32] = []
        defer { closeStage(&run, "unmask", revealers) }
        do {
            return .sum(try run.server.unmaskedSum(scratch: &scratch))
        } catch {
            return .failed("\(error)")
        }
    }

    /// Runs one collection stage: waits for each connection in `waiting` to answer; `handle`
    /// returns whether a payload was that connection's answer.
    func collectStage(
        _ run: inout SecureSumRun,
        _ waiting: Set<ConnectionID>,
        _ handle: (inout SecureSumRun, Int, ConnectionID, SecAggPayload) async -> Bool
    ) async throws {
        var stage = SecureStageCollection(round: run.round, label: run.label, waiting: waiting, timedOut: run.timedOut)
        try await drive(&stage, deadline: run.deadline) { effect, stage in
            switch effect {
            case .payload(let p, let c, let payload):
                if await handle(&run, p, c, payload) { stage.answered(c) }
            case .transportEnded:
                throw Failure(description: "transport closed during round \(run.label)")
            }
            return nil
        }
        run.timedOut = stage.timedOut
    }

    /// Ends a stage: what it cost since the last one ended.
    func closeStage(_ run: inout SecureSumRun, _ name: String, _ devices: Int) {
        run.stages.append(
            SecAggRound.Stage(
                name: name,
                devices: devices,
                bytesUp: bytesReceived - run.stageStart.2,
                bytesDown: bytesSent - run.stageStart.1,
                seconds: monotonicSeconds() - run.stageStart.0
            )
        )
        run.stageStart = (monotonicSeconds(), bytesSent, bytesReceived)
    }

    func sendSecAgg(_ payload: SecAggPayload, round: UInt32, to c: ConnectionID) async {
        await send(.secagg(SecAggEnvelope(round: round, stage: payload.stage.rawValue, body: payload.encoded())), to: c)
    }

    /// Whether process p hosts device d (a process speaks only for its own devices).
    func owns(_ p: Int, _ d: UInt32) -> Bool { peers[p]?.range.contains(Int(d)) == true }

    /// The live connections hosting any of `devices`, with theirs among them.
    func liveConnections(_ run: SecureSumRun, hosting devices: Set<UInt32>) -> [(ConnectionID, [UInt32])] {
        run.assignments.sorted { $0.key < $1.key }.compactMap { c, ds in
            guard processOf[c] != nil else { return nil }
            let mine = ds.filter { devices.contains($0) }
            return mine.isEmpty ? nil : (c, mine)
        }
    }
}
