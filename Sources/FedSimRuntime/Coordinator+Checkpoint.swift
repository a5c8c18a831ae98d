import FedSimAggregation
import FedSimCore
import Foundation

extension Coordinator {
    /// Asks every live client process to snapshot its devices' state for round r, waits for
    /// them (or the deadline), then writes the coordinator's checkpoint. Returns whether it did.
    ///
    /// Processes lost earlier (or during the checkpoint) are recorded as lost: the checkpoint
    /// covers the survivors, whose devices are the only ones later rounds sample, so a resume
    /// from it continues exactly as this run does. A process that is connected but did not
    /// confirm (late, or reconnected mid-checkpoint) makes this checkpoint incomplete: it is
    /// skipped and the previous one stays. A checkpoint that cannot be written (a full disk)
    /// throws: the run stops with the previous checkpoint intact.
    @discardableResult
    func writeCheckpoint(round r: Int) async throws -> Bool {
        guard let checkpointPath else { return false }
        let waiting = Set(peers.values.map(\.connection))
        for c in waiting.sorted() { await send(.checkpoint(round: UInt32(r)), to: c) }
        var machine = CheckpointCollection(round: r, waiting: waiting)
        try await drive(&machine, deadline: armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)) { effect, _ in
            guard case .snapshotFailed(let p, let reason) = effect else { return nil }
            throw StorageError(
                reported: "client process \(p) could not write its device-state snapshot of round \(r): \(reason)"
            )
        }
        guard !machine.abandoned else { return false }
        let confirmed = machine.confirmed
        guard !confirmed.isEmpty, Set(peers.keys) == confirmed else {
            log.warning("checkpoint of round \(r) skipped: not every live client process could snapshot its devices")
            return false
        }
        var lost: [Int: String] = [:]
        for p in 0..<processCount where !confirmed.contains(p) { lost[p] = lostReasons[p] ?? "lost" }
        let ckpt = CoordinatorCheckpoint(
            round: r,
            processes: processCount,
            model: CoordinatorCheckpoint.data(model),
            momentum: CoordinatorCheckpoint.data(strategy.state.momentum),
            variance: CoordinatorCheckpoint.data(strategy.state.variance),
            dpClip: dp?.clip,
            deviceUpdates: deviceUpdates,
            bytesSent: bytesSent,
            bytesReceived: bytesReceived,
            simulatedClock: simulatedClock,
            participationSelected: CoordinatorCheckpoint.data(participation.selected),
            participationFinished: CoordinatorCheckpoint.data(participation.finished),
            clientSnapshots: true,
            popularItems: CoordinatorCheckpoint.data(popularItems),
            delayedLongTerm: strategy.state.delayed.isEmpty
                ? nil : strategy.state.delayed.mapValues { CoordinatorCheckpoint.data($0) },
            scenarioDigest: ScenarioDigest.of(scenario),
            lostProcesses: lost.isEmpty ? nil : lost,
            lastUploadBytesPerDevice: lastUploadBytesPerDevice
        )
        try ckpt.save(checkpointPath)
        log.info(
            "checkpoint of round \(r) written"
                + (lost.isEmpty
                    ? "" : " (without lost processes \(lost.keys.sorted().map(String.init).joined(separator: ", ")))")
        )
        return true
    }

    /// Restores the coordinator from a checkpoint and the privacy ledger's entries. Refuses a
    /// checkpoint of another scenario or with a non-finite model; processes it records as lost
    /// stay out of the run.
    public func restore(_ c: CoordinatorCheckpoint, ledger: [(rate: Double, noiseMultiplier: Double)]) throws {
        do {
            try c.verify(scenarioDigest: ScenarioDigest.of(scenario), path: checkpointPath ?? "the checkpoint")
        } catch let e as RunDirectory.SetupError {
            throw Failure(description: e.description)
        }
        let m = CoordinatorCheckpoint.floats(c.model)
        guard m.count == model.count, c.processes == processCount else {
            throw Failure(
                description:
                    "the checkpoint holds a model of \(m.count) parameters for \(c.processes) processes; this run has \(model.count) and \(processCount)"
            )
        }
        model = m
        var state = StrategyState()
        state.momentum = CoordinatorCheckpoint.floats(c.momentum)
        state.variance = CoordinatorCheckpoint.floats(c.variance)
        state.delayed = (c.delayedLongTerm ?? [:]).mapValues { CoordinatorCheckpoint.floats($0) }
        strategy.state = state
        if dp != nil { dp!.restore(ledger: ledger, clip: c.dpClip ?? scenario.privacy.sensitivity) }
        deviceUpdates = c.deviceUpdates
        updatesBeforeStart = c.deviceUpdates
        bytesSent = c.bytesSent
        bytesReceived = c.bytesReceived
        popularItems = c.popularItems.map { CoordinatorCheckpoint.array($0, as: UInt32.self) } ?? []
        simulatedClock = c.simulatedClock
        lastUploadBytesPerDevice = c.lastUploadBytesPerDevice
        participation = Participation(
            selected: CoordinatorCheckpoint.array(c.participationSelected, as: UInt32.self),
            finished: CoordinatorCheckpoint.array(c.participationFinished, as: UInt32.self)
        )
        for (p, why) in c.lostProcesses ?? [:] {
            excludedProcesses.insert(p)
            lostReasons[p] = "lost before the checkpoint of round \(c.round): \(why)"
        }
        roundsCompleted = c.round
        firstRound = c.round + 1
    }
}

/// Reads the privacy ledger's (q, noise multiplier) per entry, skipping a torn last line.
public enum PrivacyLedgerReader {
    public static func entries(_ path: String) -> [(rate: Double, noiseMultiplier: Double)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let q = o["q"] as? Double, let z = o["noise_multiplier"] as? Double
            else { return nil }
            return (q, z)
        }
    }
}

/// A flag a signal handler sets and the round loop reads.
public final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    public func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
