import FedSimAggregation
import FedSimConfig
import FedSimCore
import Foundation

/// The coordinator's checkpoint (`checkpoint.json`, written atomically: temp file, fsync,
/// rename). With the clients' state snapshots of the same round
/// (`state/process-i.r<round>.ckpt`), it is everything the next round depends on: the shared
/// model, the server optimizer's state, the DP clip, participation counts, the simulated
/// clock and the counters. Sampling, local training and reproducible noise are seeded per
/// round, so they need no saved RNG position; the accountant is rebuilt from the privacy
/// ledger, which is durable on its own.
///
/// The file ends with a checksum of everything before it, and records the digest of the
/// scenario it was written for: a resume refuses a damaged checkpoint or an edited scenario
/// instead of silently continuing a different run.
public struct CoordinatorCheckpoint: Codable, Equatable, Sendable {
    /// 2: checksum, scenario digest, lost processes and the measured upload size.
    public var version = 2
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
    /// Digest of the resolved scenario the run was started with (`ScenarioDigest`).
    public var scenarioDigest: String = ""
    /// Client processes lost before this checkpoint, with the reason: they wrote no snapshot,
    /// and a resumed run goes on without them, as the interrupted run did.
    public var lostProcesses: [Int: String]?
    /// The mean upload of the last round's finished devices: the fleet's timing model of the
    /// next round depends on it (compression makes it differ from the dense size).
    public var lastUploadBytesPerDevice: Double?

    public init(
        round: Int,
        processes: Int,
        model: Data,
        momentum: Data,
        variance: Data,
        dpClip: Double?,
        deviceUpdates: Int,
        bytesSent: Int,
        bytesReceived: Int,
        simulatedClock: Double,
        participationSelected: Data,
        participationFinished: Data,
        clientSnapshots: Bool,
        popularItems: Data? = nil,
        delayedLongTerm: [Int: Data]? = nil,
        scenarioDigest: String = "",
        lostProcesses: [Int: String]? = nil,
        lastUploadBytesPerDevice: Double? = nil
    ) {
        self.round = round
        self.processes = processes
        self.model = model
        self.momentum = momentum
        self.variance = variance
        self.dpClip = dpClip
        self.deviceUpdates = deviceUpdates
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.simulatedClock = simulatedClock
        self.participationSelected = participationSelected
        self.participationFinished = participationFinished
        self.clientSnapshots = clientSnapshots
        self.popularItems = popularItems
        self.delayedLongTerm = delayedLongTerm
        self.scenarioDigest = scenarioDigest
        self.lostProcesses = lostProcesses
        self.lastUploadBytesPerDevice = lastUploadBytesPerDevice
    }

    static func data<T>(_ a: [T]) -> Data { a.withUnsafeBytes { Data($0) } }
    static func array<T: FixedWidthInteger>(_ d: Data, as: T.Type) -> [T] {
        var out = [T](repeating: 0, count: d.count / MemoryLayout<T>.size)
        out.withUnsafeMutableBytes { _ = d.copyBytes(to: $0) }
        return out
    }
    static func floats(_ d: Data) -> [Float] { array(d, as: UInt32.self).map { Float(bitPattern: $0) } }

    /// The processes whose devices take part in a resumed run.
    public var survivingProcesses: [Int] { (0..<processes).filter { lostProcesses?[$0] == nil } }

    static let checksumKey = ",\"checksum\":\""

    /// Reads and checks a checkpoint: its checksum must match its content.
    public static func load(_ path: String) throws -> CoordinatorCheckpoint {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw RunDirectory.SetupError(description: "no checkpoint at \(path)")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw RunDirectory.SetupError(description: "\(path) is not a regular file (a symlink?); refusing to use it")
        }
        guard let d = FileManager.default.contents(atPath: path) else {
            throw RunDirectory.SetupError(description: "cannot read the checkpoint \(path)")
        }
        // The file is the JSON body with `,"checksum":"<hex>"` spliced in before its last brace.
        let text = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let at = text.range(of: checksumKey, options: .backwards), text.hasSuffix("\"}") else {
            throw RunDirectory.SetupError(
                description:
                    "\(path) has no checksum (written by an older FedSim, or damaged); refusing to resume from it"
            )
        }
        let stored = String(text[at.upperBound...].dropLast(2))
        let body = String(text[..<at.lowerBound]) + "}"
        guard Checksum.hex(Array(body.utf8)) == stored else {
            throw RunDirectory.SetupError(
                description: "\(path) is corrupt: its checksum does not match its content; refusing to resume from it"
            )
        }
        do { return try JSONDecoder().decode(CoordinatorCheckpoint.self, from: Data(body.utf8)) } catch {
            throw RunDirectory.SetupError(description: "\(path) is not a FedSim checkpoint: \(error)")
        }
    }

    public func save(_ path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let body = Array(try enc.encode(self))
        let text = String(decoding: body.dropLast(), as: UTF8.self) + Self.checksumKey + Checksum.hex(body) + "\"}\n"
        try DurableFile.write(Array(text.utf8), to: path)
    }

    /// Refuses a checkpoint that does not belong to this scenario or holds a non-finite value.
    /// `path` names the file in the messages.
    public func verify(scenarioDigest digest: String, path: String) throws {
        guard version == 2 else {
            throw RunDirectory.SetupError(description: "\(path) has format version \(version); this FedSim reads 2")
        }
        guard scenarioDigest == digest else {
            throw RunDirectory.SetupError(
                description:
                    "the run's scenario.json has changed since \(path) was written for round \(round) (scenario digest \(digest.prefix(12))… instead of \(scenarioDigest.prefix(12))…); a resumed run must use the scenario it started with: restore the file, or start a new run"
            )
        }
        for (name, values) in [
            ("model", model), ("server optimizer momentum", momentum), ("server optimizer variance", variance),
        ] {
            if let i = Self.floats(values).firstIndex(where: { !$0.isFinite }) {
                throw RunDirectory.SetupError(
                    description:
                        "\(path): the checkpointed \(name) holds a non-finite value at parameter \(i); refusing to resume from it"
                )
            }
        }
        for (r, values) in delayedLongTerm ?? [:] where Self.floats(values).contains(where: { !$0.isFinite }) {
            throw RunDirectory.SetupError(
                description: "\(path): the delayed update for round \(r) holds a non-finite value; refusing to resume"
            )
        }
    }
}

/// The digest of a scenario as the run directory resolves it (every default filled in), so an
/// edit that changes any value (a seed, a rate) changes it, and a whitespace edit does not.
public enum ScenarioDigest {
    public static func of(_ s: Scenario) -> String { Checksum.hex(Array(s.resolvedJSON().utf8)) }
}
