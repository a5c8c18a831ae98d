import FedSimMetrics

/// The server's policy for a whole round, Flower's `Strategy`: what a round asks of its
/// devices, whether it ends with an evaluation, and how its aggregate becomes the next model.
/// The coordinator calls these hooks and nothing else decides them, so a policy that changes
/// a round (a privacy stage, a budget, a health guard) is one type wrapping another.
///
/// `Strategies.make` composes the run's strategy: `FedAvgStrategy` (the FedAvg family: its
/// server step, `ServerStrategy`, is FedAvg, FedAvgM, FedAdam or FedYogi, possibly with
/// delayed groups and a learning-rate schedule), wrapped by `DifferentialPrivacy` when the
/// scenario asks for central or distributed DP (Flower's `DifferentialPrivacyServerSide…`
/// wrappers do the same around any strategy).
///
/// Not `Sendable`: a strategy may own a file (the privacy ledger) and lives in the
/// coordinator, on its one event loop.
public protocol Strategy {
    /// configure_fit: called once before round r is dispatched. `.stop` ends the run before
    /// the round instead (a privacy budget it would exceed).
    mutating func configureFit(round r: Int) -> FitPlan
    /// The clip C the round's devices train under (0: none). Devices clip their own update;
    /// without secure aggregation the coordinator checks it.
    var deviceClip: Double { get }
    /// configure_evaluate: whether round r ends with an evaluation.
    func evaluates(round r: Int) -> Bool
    /// For a secure round whose devices added the noise themselves (distributed DP, realized
    /// multiplier `z` with `survivors` devices in the sum): why its sum must stay masked, or nil.
    func refusesRelease(round r: Int, noiseMultiplier z: Double, survivors: Int) -> String?
    /// aggregate_fit: turns round r's aggregate into the next model. Throws to stop the run
    /// (a ledger that cannot be written, a model that keeps failing its health check).
    mutating func aggregateFit(_ aggregate: RoundAggregate, round r: Int, model: inout [Float]) throws -> FitReport
    /// What a checkpoint keeps of the server step, and what a resume puts back.
    var state: StrategyState { get set }
    /// The privacy stage's state (accountant, clip, noise), when the strategy has one.
    var privacy: DPState? { get set }
    /// The one-run privacy audit's canaries, when the privacy stage runs one.
    var audit: CanaryAudit? { get }
}

extension Strategy {
    public var deviceClip: Double { privacy?.clip ?? 0 }
    public func refusesRelease(round r: Int, noiseMultiplier z: Double, survivors: Int) -> String? { nil }
    public var privacy: DPState? {
        get { nil }
        set {}
    }
    public var audit: CanaryAudit? { nil }
}

/// What `configureFit` decides about a round.
public enum FitPlan: Equatable, Sendable {
    case train
    /// Do not run the round; the run stops with this reason.
    case stop(String)
}

/// What a round's aggregation hands its strategy.
public enum RoundAggregate {
    /// The aggregation rule's update Δ (weighted mean, median, …) in the layout's order.
    case update([Float])
    /// A sum for a privacy stage to release: the exact sum of the clipped weighted deltas
    /// (central DP), or one the devices already noised (distributed DP).
    case sum(ReleasableSum)
}

/// A round's sum before its privacy stage, with what the release records about it.
public struct ReleasableSum {
    public var values: [Double]
    /// Devices sampled for the round (the ledger's `sampled`).
    public var sampled: Int
    /// Devices whose update is in the sum.
    public var contributors: Int
    /// Contributors whose update was within the clip (adaptive clipping's count).
    public var withinClip: Int
    /// Distributed DP: the noise multiplier the devices' noise realized (nil: central DP,
    /// the stage adds the noise itself).
    public var realizedMultiplier: Double?

    public init(values: [Double], sampled: Int, contributors: Int, withinClip: Int, realizedMultiplier: Double? = nil) {
        self.values = values
        self.sampled = sampled
        self.contributors = contributors
        self.withinClip = withinClip
        self.realizedMultiplier = realizedMultiplier
    }
}

/// What `aggregateFit` did, for the round's metrics line.
public struct FitReport: Equatable {
    /// The privacy stage's release (ε so far, order, multiplier, clip).
    public var privacy: PrivacyRound?
    /// Why the server step was refused (the model stays as it was), if it was.
    public var refusal: String?
    public init(privacy: PrivacyRound? = nil, refusal: String? = nil) {
        self.privacy = privacy
        self.refusal = refusal
    }
}

/// Why a strategy stopped the run.
public struct StrategyFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
