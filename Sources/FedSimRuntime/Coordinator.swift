import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// Where the coordinator writes per-round metrics. The file sink appends JSON lines; tests
/// collect them in memory. A sink that cannot record (a full disk) throws, and the run stops.
public protocol MetricsSink: AnyObject {
    func record(_ line: JSONObject) throws
}

/// The coordinator's round loop: handshake client processes, then per round sample devices,
/// broadcast the shared model, collect updates until all are in or the deadline passes,
/// aggregate, step the server optimizer, evaluate when due, and record metrics.
///
/// It never trusts a client: every frame is checked against what that connection may send,
/// a bad one closes that connection (its devices count as dropped), and the run carries on
/// while at least `runtime.min_devices_per_round` devices finish each round.
public final class Coordinator {
    public let scenario: Scenario
    public let population: PopulationInfo
    public let processCount: Int
    let token: [UInt8]
    let transport: any CoordinatorTransport
    let metrics: MetricsSink
    public var log = Log("coordinator")

    public internal(set) var model: [Float]
    /// The run's kind of model (`ModelRegistry`): its layout, initial values and server-side hooks.
    public let recommender: any RecommenderModel
    public let layout: ParameterLayout
    /// The round strategy (`Strategies.make`): the FedAvg family around the server step, with
    /// the privacy stage when the scenario has one.
    public var strategy: any Strategy

    // Connections and processes.
    struct Peer {
        var connection: ConnectionID
        var range: Range<Int>
    }
    var peers: [Int: Peer] = [:]  // process index -> peer
    var processOf: [ConnectionID: Int] = [:]  // authenticated connections
    var unauthenticated: Set<ConnectionID> = []
    var lostReasons: [Int: String] = [:]
    /// Processes a resumed run goes on without: lost before its checkpoint (never spawned again).
    var excludedProcesses: Set<Int> = []
    var inWaitForProcesses = false
    // Secure aggregation: enrolled identity public keys (the coordinator's view of the PKI).
    /// Not `lazy`: a lazy property is mutated through a copy, and a copy of this one is
    /// 32 bytes a device (each enrolment would copy the whole directory).
    var identityKeys: IdentityKeyDirectory
    var enrolledProcesses: Set<Int> = []
    /// The last unmasked secure sum (Z_{2^bits}), kept for tests that check it bit for bit.
    public internal(set) var lastSecureSum: [UInt32]?
    /// The last evaluation's exposure sum (recommended, then rated, per item), for tests.
    public internal(set) var lastExposureSum: [UInt32]?
    /// Central DP state (accountant, noise), held by the strategy's privacy stage; nil when
    /// privacy is off.
    public internal(set) var dp: DPState? {
        get { strategy.privacy }
        set { strategy.privacy = newValue }
    }
    /// A one-run privacy audit's canaries (`privacy.audit`), when the scenario asks for one.
    public var audit: CanaryAudit? { strategy.audit }
    /// Why the run stopped early, if it did (e.g. the privacy budget).
    public internal(set) var stoppedEarly: String?

    // Populations and the fleet (Sampling/).
    /// Who trains each round (`training.sampling`, or a sampler set before `run`); told what
    /// each round measured.
    public var sampler: any ClientSampler
    let fleet: FleetModel
    let directory: DeviceDirectory?
    /// Simulated seconds since round 1 began.
    public internal(set) var simulatedClock = 0.0
    public internal(set) var participation: Participation
    /// The last evaluation as its metrics line's `eval` (beyond-accuracy metrics, baselines,
    /// negative transfer and cohorts included).
    public internal(set) var lastEvaluationMetrics: EvaluationMetrics?
    /// The model beside its baselines under the sampled-negatives protocol, last evaluation.
    public internal(set) var lastSampledBaselines: SampledBaselines?
    /// Decoder of compressed updates.
    lazy var codec = UpdateCodec(config: scenario.compression, layout: layout)
    /// Mean bytes a finished device uploaded last round (the fleet's timing model uses it).
    var lastUploadBytesPerDevice: Double?
    /// Bytes the plain updates received so far would have taken as dense frames, beyond what
    /// their runs took: the fleet simulation charges uploads at the dense size
    /// (`FrameCodec.updateFrameBytes`), so runs on the wire do not move the simulated clock.
    var denseUploadSurplus = 0
    /// Devices whose update counted in the last secure round.
    var lastFinished: [Int] = []
    let participationLog: ParticipationLog?

    // Event plumbing: transport events and deadline timers merged into one stream.
    enum Input: Sendable {
        case transport(TransportEvent)
        case deadline(Int)
        case transportEnded
    }
    let inputs: AsyncStream<Input>
    let inputSink: AsyncStream<Input>.Continuation
    var iterator: AsyncStream<Input>.Iterator
    var deadlineCounter = 0
    var forwarder: Task<Void, Never>?

    // Totals.
    public internal(set) var bytesSent = 0
    public internal(set) var bytesReceived = 0
    public internal(set) var deviceUpdates = 0
    public internal(set) var roundsCompleted = 0
    /// The first round to run (after `restore`, the checkpoint's round + 1).
    public internal(set) var firstRound = 1
    /// Device updates done before this process started (restored from a checkpoint).
    public internal(set) var updatesBeforeStart = 0
    /// Where the final evaluation's per-device metrics go (`device-metrics.csv`).
    public var deviceMetricsPath: String?
    /// Where checkpoints go (nil: no checkpoints, e.g. in-memory tests).
    public var checkpointPath: String?
    /// What a process started on another host receives when it asks to `join` (the run
    /// directory's scenario and population files); nil: this coordinator refuses joins.
    public var runSetup: RunSetup?
    /// Set when a round was held back because releasing it would exceed the privacy budget.
    var budgetStop: String?
    /// The clock every deadline is armed on (a test's manual clock, or the system's).
    public var clock: any DeadlineClock = SystemDeadlineClock()
    /// Set from a signal handler: finish the current round, checkpoint, and stop.
    public let interrupt = InterruptFlag()
    /// Whether the run stopped on an interrupt (the process exits 130).
    public internal(set) var interrupted = false
    public internal(set) var lastEvaluation: EvaluationSummary?
    /// Items by how many devices rated them in training, from the last evaluation's counts
    /// (sent with the next evaluation: popularity baseline and serendipity).
    var popularItems: [UInt32] = []
    /// lsttm with `long_term_delay`: the long-term module's aggregated updates waiting for
    /// the round they arrive in (round → its share of the update).
    static let popularListLength = 1000
    /// New users of a `new_users` cold-start protocol: never sampled, never evaluated as warm
    /// users (empty otherwise). The devices derive the rest of the split themselves.
    let newUsers: [Bool]
    /// Cold-start results of the final evaluation (`summary.json` "cold_start").
    public internal(set) var coldStartResults: [JSONObject] = []
    /// Temporal protocol: the periods pooled into early / middle / late thirds.
    public internal(set) var coldStartThirds: [JSONObject] = []

    // Hostile devices (Coordinator+Admission, Coordinator+Step).
    /// Bounds every device's update in Δ, not only in wΔ (`UpdateBounds`): the per-element
    /// bound is the secure sum's public `value_clip`, or the rating scale's width if larger.
    lazy var updateBounds = UpdateBounds(
        layout: layout,
        maxDelta: Float(max(scenario.secureAggregation.valueClip, Double(population.ratingMax - population.ratingMin)))
    )
    /// Bounds on what a device's statistics may claim (`ReportBounds`).
    lazy var reportBounds = ReportBounds(directory: directory, split: scenario.data.split, population: population)
    /// The launcher's bias-only and random references (`evaluation.bias_baseline`), when on.
    public var referenceBaselines: ReferenceBaselines?
    /// The last evaluation's global-mean and full-ranking popularity figures (final.baselines).
    var lastFullBaselines: FullBaselines?
    // Validation and early stopping (Coordinator+Validation).
    var validationTracker: ValidationTracker?
    /// The shared model of the best validation round (early stopping only).
    var bestModel: [Float]?
    /// The round whose model early stopping restored at the end, if it was not the last one.
    public internal(set) var restoredRound: Int?
    /// Set for the evaluation that closes an early-stopped run (it writes device-metrics.csv).
    var finalEvaluation = false
    /// Early stopping ended the run before its last round.
    var earlyStopped = false
    /// Why this round's server step was refused (`FedAvgStrategy`'s health guard), for its metrics line.
    var stepRefusal: String?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(
        scenario: Scenario,
        population: PopulationInfo,
        processCount: Int,
        token: [UInt8],
        transport: any CoordinatorTransport,
        metrics: MetricsSink,
        ledgerPath: String? = nil,
        directory: DeviceDirectory? = nil,
        domainNames: [String] = [],
        participationPath: String? = nil,
        recommender: (any RecommenderModel)? = nil
    ) throws {
        self.scenario = scenario
        self.population = population
        identityKeys = IdentityKeyDirectory(devices: population.devices)
        self.processCount = processCount
        self.token = token
        self.transport = transport
        self.metrics = metrics
        self.recommender = recommender ?? ModelRegistry.make(scenario, population)
        layout = self.recommender.layout
        model = self.recommender.initialShared()
        newUsers = ColdStartSplit.newUsers(
            scenario.evaluation.coldStart,
            devices: population.devices,
            seed: scenario.seed
        )
        strategy = try Self.strategy(
            scenario,
            model: self.recommender,
            population: population,
            ledgerPath: ledgerPath,
            dimension: self.recommender.layout.count
        )
        (inputs, inputSink) = AsyncStream.makeStream(of: Input.self)
        iterator = inputs.makeAsyncIterator()
        if let directory, directory.count != population.devices {
            throw Failure(
                description:
                    "the device directory lists \(directory.count) devices, the population has \(population.devices)"
            )
        }
        if directory == nil
            && (scenario.fleet.shapesRounds || ClientSamplers.needsDirectory(scenario.training.sampling))
        {
            throw Failure(
                description:
                    "training.sampling \(scenario.training.sampling.kind.rawValue) and the fleet model need the device directory"
            )
        }
        self.directory = directory
        do {
            sampler = try ClientSamplers.make(
                config: scenario.training,
                population: population.devices,
                directory: directory,
                domainNames: domainNames,
                secret: scenario.privacy.secretSample
            )
        } catch let e as ClientSamplers.Failure {
            throw Failure(description: e.description)
        }
        fleet = FleetModel(config: scenario.fleet, seed: Seeds.derive(scenario.seed, "fleet"))
        participation = Participation(devices: population.devices)
        participationLog = try participationPath.map { try ParticipationLog(path: $0) }
    }

    /// The run's strategy, with its privacy stage (DP state, ledger, audit) when privacy is on.
    static func strategy(
        _ scenario: Scenario,
        model: any RecommenderModel,
        population: PopulationInfo,
        ledgerPath: String?,
        dimension: Int
    ) throws -> any Strategy {
        let p = scenario.privacy
        guard p.enabled else { return Strategies.make(scenario, model: model, privacy: nil) }
        if p.delta >= 1 / Double(max(1, population.devices)) {
            // δ is the chance the guarantee fails; at 1/N or more it may fail for someone.
            throw Failure(
                description:
                    "privacy.delta = \(p.delta) is not below 1/N = \(1 / Double(max(1, population.devices))) for this population of \(population.devices) devices; choose δ ≪ 1/N"
            )
        }
        let state = DPState(
            config: p,
            rate: samplingRate(scenario, devices: population.devices),
            population: population.devices,
            seed: scenario.seed
        )
        let ledger = try ledgerPath.map { try PrivacyLedger(path: $0) }
        let audit = p.audit.map {
            CanaryAudit(config: $0, dimension: dimension, noise: p.noise, seed: scenario.seed)
        }
        return Strategies.make(scenario, model: model, privacy: (state, ledger, audit))
    }

    /// q for Poisson sampling: the expected count per round over the population.
    static func samplingRate(_ scenario: Scenario, devices: Int) -> Double {
        min(1, Double(scenario.training.devicesPerRound) / Double(max(1, devices)))
    }
}
