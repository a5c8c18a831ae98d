/// `summary.json`: how a run ended and what it reached (docs/metrics.md defines each field).
///
/// The coordinator (`CoordinatorProcess.writeSummary`) and the centralized runner fill one of
/// these and write it with `MetricsJSON.line`; `fedsim report`, `fedsim compare`, the privacy
/// report, `fedsim resume` and the launcher decode the same type. A section the run does not
/// have is `nil` and absent from the file (`privacy` without central DP, `cold_start_protocol`
/// without the cold-start protocol, `bytes_sent` in a centralized run). Keys are the snake_case
/// names users' scripts read: rename a property freely, never a `CodingKeys` string.
public struct RunSummary: Codable, Equatable, Sendable {
    public var scenario: String
    public var status: Status
    /// Why the run failed (status `failed`), as the coordinator logged it.
    public var error: String?
    /// `federated` or `centralized` (the scenario's `training.mode`).
    public var mode: String
    public var seed: Int
    /// Rounds completed (epochs in a centralized run).
    public var rounds: Int
    public var deviceUpdates: Int
    /// Wall-clock seconds of the run, and the rates per wall second (not reproducible).
    public var wallSeconds: Double
    /// Device updates in this session per wall second (federated runs).
    public var deviceUpdatesPerSecond: Double?
    /// Training examples per wall second (centralized runs).
    public var examplesPerSecond: Double?
    /// A resumed run: the checkpoint's round this session started after.
    public var resumedAfterRound: Int?
    /// Processes lost on the way (their devices left the run), so `completed` is not read as
    /// "intact".
    public var lostProcesses: LostProcesses?
    /// Cumulative bytes the coordinator sent and received (absent from centralized runs).
    public var bytesSent: Int?
    public var bytesReceived: Int?
    public var final: FinalMetrics
    /// Why the run stopped before its last round (early stopping, the privacy budget, an
    /// unhealthy model, an interrupt).
    public var stoppedEarly: String?
    public var validation: ValidationOutcome?
    public var coldStartProtocol: ColdStartProtocol?
    /// The cold-start protocol's results per support size k (or period), with their in-run
    /// baselines. Kept as a JSON tree like `RoundMetrics.coldStart`: its tables are
    /// open-ended (per k, per strategy); see docs/architecture.md.
    public var coldStart: JSONValue?
    /// The temporal protocol's periods pooled into early / middle / late thirds.
    public var coldStartThirds: JSONValue?
    public var participation: ParticipationSummary?
    public var privacy: PrivacySummary?

    public init(scenario: String, status: Status, mode: String, seed: Int, final: FinalMetrics) {
        self.scenario = scenario
        self.status = status
        self.mode = mode
        self.seed = seed
        rounds = 0
        deviceUpdates = 0
        wallSeconds = 0
        self.final = final
    }

    public enum Status: String, Codable, Sendable, CaseIterable {
        case completed, failed, interrupted

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let status = Status(rawValue: text) else {
                let names = Self.allCases.map(\.rawValue).joined(separator: ", ")
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "\(render(decoder.codingPath)): \"\(text)\" is none of \(names)"
                    )
                )
            }
            self = status
        }
    }

    enum CodingKeys: String, CodingKey {
        case scenario, status, error, mode, seed, rounds
        case deviceUpdates = "device_updates"
        case wallSeconds = "wall_seconds"
        case deviceUpdatesPerSecond = "device_updates_per_second"
        case examplesPerSecond = "examples_per_second"
        case resumedAfterRound = "resumed_after_round"
        case lostProcesses = "lost_processes"
        case bytesSent = "bytes_sent"
        case bytesReceived = "bytes_received"
        case final
        case stoppedEarly = "stopped_early"
        case validation
        case coldStartProtocol = "cold_start_protocol"
        case coldStart = "cold_start"
        case coldStartThirds = "cold_start_thirds"
        case participation, privacy
    }
}

/// `lost_processes`: each lost client process (by index, ascending) and why it was lost.
public struct LostProcesses: Codable, Equatable, Sendable {
    public var reasons: [Int: String]

    public init(_ reasons: [Int: String]) { self.reasons = reasons }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        var reasons: [Int: String] = [:]
        for key in c.allKeys {
            guard let p = Int(key.stringValue), p >= 0 else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: c.codingPath + [key],
                        debugDescription: "\(render(c.codingPath + [key])): not a process index"
                    )
                )
            }
            reasons[p] = try c.decode(String.self, forKey: key)
        }
        self.reasons = reasons
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        for (p, why) in reasons.sorted(by: { $0.key < $1.key }) { try c.put(why, String(p)) }
    }
}

/// `final`: the test metrics of the run's model (the best round's with early stopping), and
/// beside them the in-run baselines with the model's margin. NaN (`null`) when the run never
/// evaluated, and RMSE/MAE for click models.
public struct FinalMetrics: Codable, Equatable, Sendable {
    public var k: Int
    public var rmse: Double
    public var mae: Double
    public var hitRate: Double
    public var ndcg: Double
    public var baselines: FinalBaselines?

    public init(k: Int, rmse: Double = .nan, mae: Double = .nan, hitRate: Double = .nan, ndcg: Double = .nan) {
        self.k = k
        self.rmse = rmse
        self.mae = mae
        self.hitRate = hitRate
        self.ndcg = ndcg
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        rmse = try c.get("rmse")
        mae = try c.get("mae")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
        baselines = try c.maybe("baselines")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(rmse, "rmse")
        try c.put(mae, "mae")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
        try c.put(baselines, "baselines")
    }
}

/// `validation` (with `data.split.validation`): the metric, the best round and value, and
/// whether early stopping restored that round's model.
public struct ValidationOutcome: Codable, Equatable, Sendable {
    public var metric: String
    public var bestRound: Int
    public var bestValue: Double
    public var lastValue: Double
    public var earlyStopping: Bool
    /// The round whose model early stopping put back (absent when the last round was best).
    public var restoredRound: Int?
    /// The round whose model the run ended with (the test metrics are that model's).
    public var modelRound: Int

    public init(
        metric: String,
        bestRound: Int,
        bestValue: Double,
        lastValue: Double,
        earlyStopping: Bool,
        modelRound: Int
    ) {
        self.metric = metric
        self.bestRound = bestRound
        self.bestValue = bestValue
        self.lastValue = lastValue
        self.earlyStopping = earlyStopping
        self.modelRound = modelRound
    }

    enum CodingKeys: String, CodingKey {
        case metric
        case bestRound = "best_round"
        case bestValue = "best_value"
        case lastValue = "last_value"
        case earlyStopping = "early_stopping"
        case restoredRound = "restored_round"
        case modelRound = "model_round"
    }
}

/// `cold_start_protocol`: how the cold-start figures were measured (docs/personalization.md).
public struct ColdStartProtocol: Codable, Equatable, Sendable {
    /// `new_users` or `temporal`.
    public var name: String
    /// `meta-learned (fomaml)` or `federated (<strategy>)`.
    public var initialisation: String
    public var adaptationSteps: Int
    public var adaptationLearningRate: Double
    /// The parameter groups adapted on device, joined by `+`.
    public var adaptedGroups: String
    /// Where the global-model-fine-tuned baseline is: "this run: …" when the initialisation
    /// is the federated global model, else the run to pair with by seed. Absent in run
    /// directories written before it existed.
    public var globalModelFineTuned: String?

    public init(
        name: String,
        initialisation: String,
        adaptationSteps: Int,
        adaptationLearningRate: Double,
        adaptedGroups: String,
        globalModelFineTuned: String? = nil
    ) {
        self.name = name
        self.initialisation = initialisation
        self.adaptationSteps = adaptationSteps
        self.adaptationLearningRate = adaptationLearningRate
        self.adaptedGroups = adaptedGroups
        self.globalModelFineTuned = globalModelFineTuned
    }

    enum CodingKeys: String, CodingKey {
        case name = "protocol"
        case initialisation
        case adaptationSteps = "adaptation_steps"
        case adaptationLearningRate = "adaptation_learning_rate"
        case adaptedGroups = "adapted_groups"
        case globalModelFineTuned = "global_model_fine_tuned"
    }
}

/// `participation`: how evenly the run used its devices (participation.csv has the counts).
public struct ParticipationSummary: Codable, Equatable, Sendable {
    public var devices: Int
    public var neverSelected: Int
    public var neverFinished: Int
    public var maxSelected: Int
    public var meanFinished: Double
    /// The Gini coefficient of the per-device finished counts (0: all equal).
    public var giniFinished: Double
    /// The simulated clock at the end of the run.
    public var simulatedSeconds: Double

    public init(
        devices: Int,
        neverSelected: Int,
        neverFinished: Int,
        maxSelected: Int,
        meanFinished: Double,
        giniFinished: Double,
        simulatedSeconds: Double
    ) {
        self.devices = devices
        self.simulatedSeconds = simulatedSeconds
        self.neverSelected = neverSelected
        self.neverFinished = neverFinished
        self.maxSelected = maxSelected
        self.meanFinished = meanFinished
        self.giniFinished = giniFinished
    }

    enum CodingKeys: String, CodingKey {
        case devices
        case neverSelected = "never_selected"
        case neverFinished = "never_finished"
        case maxSelected = "max_selected"
        case meanFinished = "mean_finished"
        case giniFinished = "gini_finished"
        case simulatedSeconds = "simulated_seconds"
    }
}

/// `privacy` (central DP): the ε the RDP accountant composes to at the scenario's δ, and
/// whether the noise was private.
public struct PrivacySummary: Codable, Equatable, Sendable {
    public var mechanism: String
    public var epsilon: Double
    public var delta: Double
    public var rdpOrder: Double
    /// `secure`, or `reproducible (NOT private)` for seeded noise.
    public var noise: String

    public init(mechanism: String, epsilon: Double, delta: Double, rdpOrder: Double, noise: String) {
        self.mechanism = mechanism
        self.epsilon = epsilon
        self.delta = delta
        self.rdpOrder = rdpOrder
        self.noise = noise
    }

    /// Seeded noise: the run is reproducible and not private.
    public var isPrivate: Bool { !noise.contains("NOT") }

    enum CodingKeys: String, CodingKey {
        case mechanism, epsilon, delta
        case rdpOrder = "rdp_order"
        case noise
    }
}

extension RunSummary {
    /// summary.json that is not the schema: the file and the key path (`final.hr@10: expected
    /// Double, found a string`), for every reader to print as is.
    public struct ReadError: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads summary.json's text (`file` names it in the error).
    public init(text: some StringProtocol, file: String) throws {
        do { self = try MetricsJSON.decode(RunSummary.self, line: text) } catch {
            throw ReadError(description: "\(file): \(MetricsJSON.describe(error))")
        }
    }
}
