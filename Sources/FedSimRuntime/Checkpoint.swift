import FedSimAggregation
import FedSimCore
import Foundation

/// The coordinator's checkpoint (`checkpoint.json`, written atomically: temp file, fsync,
/// rename). With the clients' state snapshots of the same round
/// (`state/process-i.r<round>.ckpt`), it is everything the next round depends on: the shared
/// model, the server optimizer's state, the DP clip, participation counts, the simulated
/// clock and the counters. Sampling, local training and reproducible noise are seeded per
/// round, so they need no saved RNG position; the accountant is rebuilt from the privacy
/// ledger, which is durable on its own.
public struct CoordinatorCheckpoint: Codable, Equatable, Sendable {
    public var version = 1
    /// Last completed round: a resumed run starts at round + 1.
    public var round: Int
    public var processes: Int
    public var model: Data
    public var momentum: Data
    public var variance: Data
    public var dpClip: Double?
    public var deviceUpdates: Int
    public var bytesSent: Int
    public var bytesReceived: Int
    public var simulatedClock: Double
    public var participationSelected: Data
    public var participationFinished: Data
    /// Whether the client processes' state snapshots exist for `round` (false when the
    /// clients keep state in memory only).
    public var clientSnapshots: Bool
    /// The popularity ranking of the last evaluation (absent in older checkpoints).
    public var popularItems: Data?
    /// lsttm's delayed long-term updates, by the round they arrive in (absent when none).
    public var delayedLongTerm: [Int: Data]?

    static func data<T>(_ a: [T]) -> Data { a.withUnsafeBytes { Data($0) } }
    static func array<T: FixedWidthInteger>(_ d: Data, as: T.Type) -> [T] {
        var out = [T](repeating: 0, count: d.count / MemoryLayout<T>.size)
        out.withUnsafeMutableBytes { _ = d.copyBytes(to: $0) }
        return out
    }
    static func floats(_ d: Data) -> [Float] { array(d, as: UInt32.self).map { Float(bitPattern: $0) } }

    public static func load(_ path: String) throws -> CoordinatorCheckpoint {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw RunDirectory.SetupError(description: "no checkpoint at \(path)")
        }
        do { return try JSONDecoder().decode(CoordinatorCheckpoint.self, from: d) } catch {
            throw RunDirectory.SetupError(description: "\(path) is not a FedSim checkpoint: \(error)")
        }
    }

    public func save(_ path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try RunDirectory.atomicWrite(Array(try enc.encode(self)), path: path)
    }
}

extension Coordinator {
    /// Asks every client process to snapshot its devices' state for round r, waits for them
    /// (or the deadline), then writes the coordinator's checkpoint. Returns whether it did.
    @discardableResult
    func writeCheckpoint(round r: Int) async -> Bool {
        guard let checkpointPath else { return false }
        let waiting = Set(peers.values.map(\.connection))
        for c in waiting.sorted() { await send(.checkpoint(round: UInt32(r)), to: c) }
        var pending = waiting
        var snapshots = true
        let deadline = armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)
        while !pending.isEmpty {
            switch await next() {
            case .deadline(let id) where id == deadline:
                log.warning(
                    "checkpoint of round \(r): \(pending.count) client processes did not confirm; not writing it"
                )
                return false
            case .deadline: continue
            case .transportEnded: return false
            case .transport(let e):
                if case .closed(let c, _) = e {
                    pending.remove(c)
                    snapshots = false
                }
                guard let (p, c, m) = await handleControl(e) else { continue }
                switch m {
                case .checkpointed(let round) where round == UInt32(r): pending.remove(c)
                default: await unexpected(m, from: p, on: c, during: "the checkpoint of round \(r)")
                }
            }
        }
        guard snapshots, peers.count == processCount else {
            log.warning("checkpoint of round \(r) skipped: not every client process could snapshot its devices")
            return false
        }
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
                ? nil : strategy.state.delayed.mapValues { CoordinatorCheckpoint.data($0) }
        )
        do {
            try ckpt.save(checkpointPath)
            log.info("checkpoint of round \(r) written")
            return true
        } catch {
            log.error("cannot write the checkpoint: \(error)")
            return false
        }
    }

    /// Restores the coordinator from a checkpoint and the privacy ledger's entries.
    public func restore(_ c: CoordinatorCheckpoint, ledger: [(rate: Double, noiseMultiplier: Double)]) throws {
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
        participation = Participation(
            selected: CoordinatorCheckpoint.array(c.participationSelected, as: UInt32.self),
            finished: CoordinatorCheckpoint.array(c.participationFinished, as: UInt32.self)
        )
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
