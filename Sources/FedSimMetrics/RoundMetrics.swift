/// One line of `metrics.jsonl`: what round `round` did (docs/metrics.md defines each field).
///
/// The coordinator fills one of these per round (or per FedBuff step) and writes it with
/// `MetricsJSON.line`; the progress display, the TensorBoard log, `fedsim report` and
/// `fedsim compare` decode the same type. A section that a run's configuration does not have
/// is `nil` and absent from the line (`secagg` without secure aggregation, `privacy` without
/// central DP, `eval` between evaluations). Keys are the snake_case names users' scripts read:
/// rename a property freely, never a `CodingKeys` string.
public struct RoundMetrics: Codable, Equatable, Sendable {
    public var round: Int
    // The training counters; absent on round 0 (evaluation without training).
    /// Devices asked to train; `finished + failed + dropped + timed_out` add up to it.
    public var sampled: Int?
    public var finished: Int?
    public var failed: Int?
    /// Devices whose client process disconnected during the round.
    public var dropped: Int?
    public var timedOut: Int?
    /// Updates refused whole (malformed or dishonest claims; docs/reliability.md).
    public var rejected: Int?
    public var processesAlive: Int?
    public var examples: Int?
    /// Example-weighted mean local training loss (NaN, written `null`, when none finished).
    public var trainLoss: Double?
    /// Elements the norm-bounded rule clipped (the aggregation rule's measurement).
    public var normBounded: Int?
    /// Devices whose update the coordinator clipped to the DP clip norm (central DP).
    public var clippedAtCoordinator: Int?
    /// Elements of the mean beyond what honest devices send, clipped by the coordinator.
    public var boundedAtCoordinator: Int?
    public var secagg: SecAggRound?
    public var communication: Communication?
    public var privacy: PrivacyRound?
    /// FedBuff's step (asynchronous training only).
    public var async: AsyncStep?
    public var fleet: FleetRound?
    /// The simulated clock after the round (seconds since the run's simulated start).
    public var simSeconds: Double?
    public var validation: ValidationMetrics?
    /// The round whose model the evaluation scored, when early stopping restored an earlier one.
    public var evalModelRound: Int?
    public var eval: EvaluationMetrics?
    /// The cold-start protocol's results (last round only). Kept as a JSON tree: its tables
    /// are open-ended (per support size, per strategy); see docs/architecture.md.
    public var coldStart: JSONValue?
    public var coldStartThirds: JSONValue?
    /// Why the server step was refused (an unhealthy model); the model stayed as it was.
    public var stepRefused: String?
    /// Cumulative bytes the coordinator sent and received since the run started (absent
    /// from a centralized run's lines).
    public var bytesSent: Int?
    public var bytesReceived: Int?
    /// Wall-clock seconds of this round and since the run started (not reproducible).
    public var roundSeconds: Double
    public var wallSeconds: Double

    public init(round: Int) {
        self.round = round
        roundSeconds = 0
        wallSeconds = 0
    }

    enum CodingKeys: String, CodingKey {
        case round, sampled, finished, failed, dropped
        case timedOut = "timed_out"
        case rejected
        case processesAlive = "processes_alive"
        case examples
        case trainLoss = "train_loss"
        case normBounded = "norm_bounded"
        case clippedAtCoordinator = "clipped_at_coordinator"
        case boundedAtCoordinator = "bounded_at_coordinator"
        case secagg, communication, privacy, async, fleet
        case simSeconds = "sim_seconds"
        case validation
        case evalModelRound = "eval_model_round"
        case eval
        case coldStart = "cold_start"
        case coldStartThirds = "cold_start_thirds"
        case stepRefused = "step_refused"
        case bytesSent = "bytes_sent"
        case bytesReceived = "bytes_received"
        case roundSeconds = "round_seconds"
        case wallSeconds = "wall_seconds"
    }

    /// Records an aggregation rule's measurement under its metrics name. Every name an
    /// `UpdateAggregator` reports must have a field here: an unknown one is a programming
    /// error, caught by the aggregation tests before any run writes a line without it.
    public mutating func record(measurement name: String, _ value: Int) {
        switch name {
        case CodingKeys.normBounded.rawValue: normBounded = value
        case CodingKeys.clippedAtCoordinator.rawValue: clippedAtCoordinator = value
        case CodingKeys.boundedAtCoordinator.rawValue: boundedAtCoordinator = value
        default: preconditionFailure("RoundMetrics has no field for the aggregation measurement \"\(name)\"")
        }
    }

    /// Records an aggregation pipeline's measurements, nested by stage
    /// (`AggregationPipeline.measurements`). Each name is one typed field of the line
    /// (docs/metrics.md); the stage it came from is the pipeline's business.
    public mutating func record(_ stages: [(stage: String, values: [(name: String, value: Int)])]) {
        for (_, values) in stages {
            for (name, value) in values { record(measurement: name, value) }
        }
    }
}

/// Bytes on the wire this round (the coordinator's view; docs/metrics.md).
public struct Communication: Codable, Equatable, Sendable {
    public var bytesUp: Int
    public var bytesDown: Int
    /// Absent for FedBuff steps.
    public var bytesUpPerUpdate: Double?
    /// What a dense update would have cost: 4 bytes per value and weight.
    public var rawBytesPerUpdate: Int?
    /// Mean compressed body size (compression on).
    public var compressedBodyBytesPerUpdate: Double?

    public init(bytesUp: Int, bytesDown: Int) {
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
    }

    enum CodingKeys: String, CodingKey {
        case bytesUp = "bytes_up"
        case bytesDown = "bytes_down"
        case bytesUpPerUpdate = "bytes_up_per_update"
        case rawBytesPerUpdate = "raw_bytes_per_update"
        case compressedBodyBytesPerUpdate = "compressed_body_bytes_per_update"
    }
}

/// The privacy guarantee after this round (central or distributed DP): ε at δ from the RDP
/// accountant, and the round's mechanism parameters.
public struct PrivacyRound: Codable, Equatable, Sendable {
    public var epsilon: Double
    /// The RDP order that gave the best ε.
    public var order: Double
    public var delta: Double
    public var noiseMultiplier: Double
    public var clip: Double

    public init(epsilon: Double, order: Double, delta: Double, noiseMultiplier: Double, clip: Double) {
        self.epsilon = epsilon
        self.order = order
        self.delta = delta
        self.noiseMultiplier = noiseMultiplier
        self.clip = clip
    }

    enum CodingKeys: String, CodingKey {
        case epsilon, order, delta
        case noiseMultiplier = "noise_multiplier"
        case clip
    }
}

/// A FedBuff step: the model version it produced, and the flights around it.
public struct AsyncStep: Codable, Equatable, Sendable {
    public var modelVersion: Int
    public var lostInFlight: Int
    public var stalenessMean: Double
    public var stalenessMax: Int
    public var inFlight: Int

    public init(modelVersion: Int, lostInFlight: Int, stalenessMean: Double, stalenessMax: Int, inFlight: Int) {
        self.modelVersion = modelVersion
        self.lostInFlight = lostInFlight
        self.stalenessMean = stalenessMean
        self.stalenessMax = stalenessMax
        self.inFlight = inFlight
    }

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version"
        case lostInFlight = "lost_in_flight"
        case stalenessMean = "staleness_mean"
        case stalenessMax = "staleness_max"
        case inFlight = "in_flight"
    }
}

/// The simulated fleet's round: who was selected, who counted, and the simulated time.
public struct FleetRound: Codable, Equatable, Sendable {
    public var selected: Int
    public var kept: Int
    public var missedDeadline: Int
    public var wentOffline: Int
    public var overSelected: Int
    public var simStartSeconds: Double
    public var simRoundSeconds: Double

    public init(
        selected: Int,
        kept: Int,
        missedDeadline: Int,
        wentOffline: Int,
        overSelected: Int,
        simStartSeconds: Double,
        simRoundSeconds: Double
    ) {
        self.selected = selected
        self.kept = kept
        self.missedDeadline = missedDeadline
        self.wentOffline = wentOffline
        self.overSelected = overSelected
        self.simStartSeconds = simStartSeconds
        self.simRoundSeconds = simRoundSeconds
    }

    enum CodingKeys: String, CodingKey {
        case selected, kept
        case missedDeadline = "missed_deadline"
        case wentOffline = "went_offline"
        case overSelected = "over_selected"
        case simStartSeconds = "sim_start_seconds"
        case simRoundSeconds = "sim_round_seconds"
    }
}
