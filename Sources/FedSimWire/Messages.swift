import FedSimCore

/// Everything that crosses the wire between coordinator and client processes.
///
/// A client process hosts many virtual devices and multiplexes them over its one connection:
/// requests name device ids, and every device's update travels as its own message (so the
/// coordinator sees per-device contributions, or, under secure aggregation, per-device
/// masked ones).
public enum Message: Equatable, Sendable {
    /// Client → coordinator, first frame: who I am, proven by the per-run token.
    case hello(Hello)
    /// Client → coordinator, first and only frame of a connection: a process started on
    /// another host (by mpirun or srun) asks for the run it is to join, proving it holds the
    /// run's token. Answered with `setup`, then the connection closes; the process then
    /// connects again and says `hello`.
    case join(token: [UInt8])
    /// Coordinator → client: the answer to `join`.
    case setup(RunSetup)
    /// Coordinator → client: handshake accepted.
    case welcome(Welcome)
    /// Either way: the peer is being disconnected, with the reason.
    case reject(reason: String)
    /// Coordinator → client: train these devices from this shared model.
    case train(DeviceRequest)
    /// Client → coordinator: one device's update.
    case update(DeviceUpdate)
    /// Client → coordinator: a device could not finish (simulated or real failure).
    case failed(DeviceFailure)
    /// Coordinator → client: evaluate these devices against this shared model.
    case evaluate(DeviceRequest)
    /// Client → coordinator: the devices' evaluation sums.
    case evaluation(EvaluationReport)
    /// Coordinator → client: the run is over; exit cleanly.
    case shutdown(reason: String)
    /// Either way: one stage of a secure-aggregation round. The body is opaque here; the
    /// FedSimSecAgg module encodes and checks it, so the transport knows nothing of the protocol.
    case secagg(SecAggEnvelope)
    /// Client → coordinator: one device's update through the run's compression stages
    /// (decoded by `UpdateCodec` on the coordinator).
    case compressedUpdate(CompressedUpdate)
    /// Coordinator → client: persist your devices' state as it is after this round (the
    /// coordinator's checkpoint of the same round will point at it).
    case checkpoint(round: UInt32)
    /// Client → coordinator: the state of that round is on disk.
    case checkpointed(round: UInt32)
    /// Coordinator → client: run the scenario's cold-start protocol on these devices
    /// (adapt on device from this shared model, score the held-out part).
    case coldStart(DeviceRequest)
    /// Client → coordinator: cold-start sums, one entry per device and slot (k or period).
    case coldStartReport(ColdStartReport)
    /// Coordinator → client: score these devices' validation parts against this shared model
    /// (answered with `evaluation`, same round; early stopping, never the test split).
    case validate(DeviceRequest)
    /// Coordinator → client: this round's validation is the best so far; keep the devices'
    /// personal parameters as they are now.
    case keepBest(round: UInt32)
    /// Coordinator → client: early stopping ends the run; put back what `keepBest` kept.
    case restoreBest(round: UInt32)

    /// The message's kind without its payload (to match kinds in sets and switches).
    public enum Kind: Sendable, Hashable {
        case hello, welcome, reject, train, update, failed, evaluate, evaluation, shutdown, secagg, compressedUpdate
        case checkpoint, checkpointed, coldStart, coldStartReport, validate, keepBest, restoreBest, join, setup
    }

    public var kind: Kind {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .reject: return .reject
        case .train: return .train
        case .update: return .update
        case .failed: return .failed
        case .evaluate: return .evaluate
        case .evaluation: return .evaluation
        case .shutdown: return .shutdown
        case .secagg: return .secagg
        case .compressedUpdate: return .compressedUpdate
        case .checkpoint: return .checkpoint
        case .checkpointed: return .checkpointed
        case .coldStart: return .coldStart
        case .coldStartReport: return .coldStartReport
        case .validate: return .validate
        case .keepBest: return .keepBest
        case .restoreBest: return .restoreBest
        case .join: return .join
        case .setup: return .setup
        }
    }

    /// Whether a client sends this in answer to a request of the coordinator's. Every reply
    /// names the round (or step) it answers, so a reply the phase in progress is not waiting
    /// for is *late*: it answers an earlier request that timed out or was cut short. One rule
    /// for every phase: a late reply is logged and ignored, never a protocol violation.
    /// Exhaustive, so a new kind must say which it is.
    public var isReply: Bool {
        switch self {
        case .update, .failed, .evaluation, .secagg, .compressedUpdate, .checkpointed, .coldStartReport: return true
        case .hello, .welcome, .reject, .train, .evaluate, .shutdown, .checkpoint, .coldStart: return false
        case .validate, .keepBest, .restoreBest, .join, .setup: return false
        }
    }

    public var kindName: String {
        switch self {
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .reject: return "reject"
        case .train: return "train"
        case .update: return "update"
        case .failed: return "failed"
        case .evaluate: return "evaluate"
        case .evaluation: return "evaluation"
        case .shutdown: return "shutdown"
        case .secagg(let e): return "secagg(stage \(e.stage))"
        case .compressedUpdate: return "compressed update"
        case .checkpoint: return "checkpoint"
        case .checkpointed: return "checkpointed"
        case .coldStart: return "cold start"
        case .coldStartReport: return "cold-start report"
        case .validate: return "validate"
        case .keepBest: return "keep best"
        case .restoreBest: return "restore best"
        case .join: return "join"
        case .setup: return "setup"
        }
    }
}

public struct Hello: Equatable, Sendable {
    public var token: [UInt8]
    public var processIndex: UInt32
    public var processCount: UInt32
    /// The contiguous device range this process hosts.
    public var firstDevice: UInt32
    public var deviceCount: UInt32

    public init(token: [UInt8], processIndex: UInt32, processCount: UInt32, firstDevice: UInt32, deviceCount: UInt32) {
        self.token = token
        self.processIndex = processIndex
        self.processCount = processCount
        self.firstDevice = firstDevice
        self.deviceCount = deviceCount
    }
}

/// What a process started on another host needs before it can say hello: the resolved
/// scenario (every default filled in, the process count resolved) and the population summary,
/// exactly as the run directory holds them. Only binaries and the run's secrets need to be on
/// that host; a synthetic population is rebuilt from the scenario's seed.
public struct RunSetup: Equatable, Sendable {
    /// `scenario.json` of the run directory.
    public var scenarioJSON: String
    /// `population.json` of the run directory.
    public var populationJSON: String
    /// A resumed run: the checkpoint round whose device-state snapshot the process restores
    /// before it serves (its state lives on its own host, out of the launcher's reach); 0 for
    /// a fresh run.
    public var restoreRound: UInt32
    public init(scenarioJSON: String, populationJSON: String, restoreRound: UInt32 = 0) {
        self.scenarioJSON = scenarioJSON
        self.populationJSON = populationJSON
        self.restoreRound = restoreRound
    }
}

public struct Welcome: Equatable, Sendable {
    public var processIndex: UInt32
    public init(processIndex: UInt32) { self.processIndex = processIndex }
}

/// Coordinator → client: a round's work for some of the client's devices, with the shared
/// model to start from (`train`) or to score (`evaluate`).
public struct DeviceRequest: Equatable, Sendable {
    public var round: UInt32
    public var devices: [UInt32]
    public var shared: [Float]
    /// The round's L2 clip for DP (it changes under adaptive clipping); 0 means none.
    public var clip: Double
    /// A factor the devices apply to their weighted delta and weights before they leave
    /// (FedBuff's staleness weight under secure aggregation, where the coordinator cannot
    /// weight individual updates); 1 otherwise.
    public var scale: Float
    /// `evaluate` only: items by how many devices rated them in training, most first (the
    /// previous evaluation's aggregated counts): the popularity baseline and serendipity.
    public var popular: [UInt32] = []
    public init(round: UInt32, devices: [UInt32], shared: [Float], clip: Double = 0, scale: Float = 1) {
        self.round = round
        self.devices = devices
        self.shared = shared
        self.clip = clip
        self.scale = scale
    }
}

/// One device's update. The weighted delta and the weights travel and are kept as runs of
/// their non-zero entries (`SparseFloats`): an MF device touches about 100 of 1,683 item rows,
/// so the frame is a few kB instead of 128 kB, and the coordinator's checks and exact sum walk
/// only the entries present. The dense views give back exactly the vectors the device sent.
public struct DeviceUpdate: Equatable, Sendable {
    public var round: UInt32
    public var device: UInt32
    public var examples: UInt32
    public var trainLoss: Double
    public var sparseDelta: SparseFloats
    public var sparseWeights: SparseFloats
    /// Adaptive clipping: whether the update's norm was within the round's clip (0 or 1).
    public var withinClip: UInt8
    /// The weighted delta as a dense vector (allocates; the sparse form is what is kept).
    public var weightedDelta: [Float] { sparseDelta.dense() }
    /// The weights as a dense vector (allocates).
    public var weights: [Float] { sparseWeights.dense() }
    public init(
        round: UInt32,
        device: UInt32,
        examples: UInt32,
        trainLoss: Double,
        weightedDelta: [Float],
        weights: [Float],
        withinClip: UInt8 = 0
    ) {
        self.init(
            round: round,
            device: device,
            examples: examples,
            trainLoss: trainLoss,
            sparseDelta: SparseFloats(dense: weightedDelta),
            sparseWeights: SparseFloats(dense: weights),
            withinClip: withinClip
        )
    }
    public init(
        round: UInt32,
        device: UInt32,
        examples: UInt32,
        trainLoss: Double,
        sparseDelta: SparseFloats,
        sparseWeights: SparseFloats,
        withinClip: UInt8 = 0
    ) {
        self.round = round
        self.device = device
        self.examples = examples
        self.trainLoss = trainLoss
        self.sparseDelta = sparseDelta
        self.sparseWeights = sparseWeights
        self.withinClip = withinClip
    }
}

public struct DeviceFailure: Equatable, Sendable {
    public var round: UInt32
    public var device: UInt32
    public var reason: String
    public init(round: UInt32, device: UInt32, reason: String) {
        self.round = round
        self.device = device
        self.reason = reason
    }
}

/// Per-device evaluation sums, batched: one entry per device.
public struct EvaluationReport: Equatable, Sendable {
    public var round: UInt32
    public var entries: [DeviceEvaluation]
    /// Per item, how many of the process's evaluated devices have it in their top-K list
    /// (sparse, ascending items): exposure without individual lists.
    public var recommended: [(item: UInt32, count: UInt32)]
    /// Per item, how many of the process's evaluated devices rated it in training (popularity).
    public var rated: [(item: UInt32, count: UInt32)]
    public init(
        round: UInt32,
        entries: [DeviceEvaluation],
        recommended: [(item: UInt32, count: UInt32)] = [],
        rated: [(item: UInt32, count: UInt32)] = []
    ) {
        self.round = round
        self.entries = entries
        self.recommended = recommended
        self.rated = rated
    }

    public static func == (a: EvaluationReport, b: EvaluationReport) -> Bool {
        a.round == b.round && a.entries == b.entries && a.recommended.map(\.item) == b.recommended.map(\.item)
            && a.recommended.map(\.count) == b.recommended.map(\.count) && a.rated.map(\.item) == b.rated.map(\.item)
            && a.rated.map(\.count) == b.rated.map(\.count)
    }
}

public struct SecAggEnvelope: Equatable, Sendable {
    public var round: UInt32
    public var stage: UInt8
    public var body: [UInt8]
    public init(round: UInt32, stage: UInt8, body: [UInt8]) {
        self.round = round
        self.stage = stage
        self.body = body
    }
}

public struct CompressedUpdate: Equatable, Sendable {
    public var round: UInt32
    public var device: UInt32
    public var examples: UInt32
    public var trainLoss: Double
    public var withinClip: UInt8
    public var body: [UInt8]

    public init(round: UInt32, device: UInt32, examples: UInt32, trainLoss: Double, withinClip: UInt8, body: [UInt8]) {
        self.round = round
        self.device = device
        self.examples = examples
        self.trainLoss = trainLoss
        self.withinClip = withinClip
        self.body = body
    }
}

extension ColdStartEntry {
    static let wireBytes = 4 + 2 + 4 + 8 + 8 + 1 + 8 + 8 + 8
}

public struct ColdStartReport: Equatable, Sendable {
    public var round: UInt32
    public var entries: [ColdStartEntry]
    public init(round: UInt32, entries: [ColdStartEntry]) {
        self.round = round
        self.entries = entries
    }
}
