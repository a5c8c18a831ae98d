import FedSimCore
import Foundation

public struct LocalTrainingConfig: Codable, Sendable, Equatable {
    public enum Optimizer: String, Codable, Sendable, CaseIterable { case sgd, adam }
    public var optimizer: Optimizer = .sgd
    public var epochs = 5
    public var batchSize = 8
    public var learningRate = 0.05
    /// L2 penalty on the parameters touched by each example (embeddings and biases).
    public var l2 = 0.01
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    /// FedProx's μ: the local objective adds (μ/2)‖w − w_t‖² over the federated parameters
    /// (w_t: the model the round started from); 0 is plain FedAvg.
    public var proximalMu = 0.0
    /// The on-device objective of model.kind mf and two_tower: squared error on the ratings, BPR (each
    /// interaction ranked above `negatives` items the device never interacted with, drawn on
    /// the device every epoch), sampled softmax (each interaction against its `negatives` in
    /// one softmax cross-entropy), or squared error plus one of the two.
    public enum Loss: String, Codable, Sendable, CaseIterable {
        case mse
        case bpr
        case mseBpr = "mse+bpr"
        case sampledSoftmax = "sampled_softmax"
        case mseSampledSoftmax = "mse+sampled_softmax"
        public var ranks: Bool { self != .mse }
        public var regresses: Bool { self == .mse || self == .mseBpr || self == .mseSampledSoftmax }
        /// The ranking term is the sampled softmax (else BPR, when `ranks`).
        public var softmax: Bool { self == .sampledSoftmax || self == .mseSampledSoftmax }
    }
    public var loss: Loss = .mse
    /// Negatives per interaction per epoch of the ranking term.
    public var negatives = 1
    /// Interactions rated at least this are the ranking term's positives (0: every
    /// interaction). Lower-rated ones are still never drawn as negatives, and the squared error
    /// of `mse+…` still fits them.
    public var positiveThreshold = 0.0
    /// Sampled softmax only: add log(U/m) to every negative's score (U: the device's unrated
    /// items, m: `negatives`), the logQ correction of uniform sampling, so the sampled
    /// normaliser estimates the full softmax over the catalogue instead of an (m+1)-way one.
    public var logqCorrection = false
    /// The device's step size over the run (model.kind mf): `constant`; `exponential`,
    /// η·γ^(r−1) with γ = `learning_rate_decay`; `cosine`, η·½(1 + cos(π(r−1)/R)) over the
    /// R = `training.rounds`. Late rounds then move the model less, which is what keeps a long
    /// run from drifting away from its best round.
    public enum Schedule: String, Codable, Sendable, CaseIterable { case constant, exponential, cosine }
    public var learningRateSchedule: Schedule = .constant
    public var learningRateDecay = 1.0
    public init() {}

    /// Round r's local learning rate of a run of `rounds` rounds.
    public func learningRate(round r: Int, rounds: Int) -> Double {
        switch learningRateSchedule {
        case .constant: return learningRate
        case .exponential: return learningRate * pow(learningRateDecay, Double(max(0, r - 1)))
        case .cosine: return learningRate * 0.5 * (1 + cos(Double.pi * Double(max(0, r - 1)) / Double(max(1, rounds))))
        }
    }
}

public struct ServerOptimizerConfig: Codable, Sendable, Equatable {
    /// Server optimizers of Reddi et al. 2021 ("Adaptive Federated Optimization").
    public enum Kind: String, Codable, Sendable, CaseIterable { case fedavg, fedavgm, fedadam, fedyogi }
    public var optimizer: Kind = .fedavg
    public var learningRate = 1.0
    public var momentum = 0.9
    public var beta1 = 0.9
    public var beta2 = 0.99
    /// Adaptivity τ: larger is closer to FedAvgM.
    public var tau = 1e-3
    /// Server learning-rate decay γ: round r's step is scaled by γ^(r−1) (1: constant).
    public var learningRateDecay = 1.0
    public init() {}
}

public struct TrainingConfig: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable { case federated, centralized }
    public enum Weighting: String, Codable, Sendable, CaseIterable {
        /// Each item row averaged over the devices that rated it, weighted by their count of
        /// ratings of it; other tensors by example count.
        case perItem = "per_item"
        /// Classic FedAvg: every element weighted by the device's example count.
        case examples
        /// Every finished device weighs the same.
        case uniform
    }
    public var mode: Mode = .federated
    /// Federated rounds, or epochs in centralized mode.
    public var rounds = 20
    public var devicesPerRound = 100
    public var weighting: Weighting = .perItem
    /// How devices are sampled each round.
    public enum Sampling: String, Codable, Sendable, CaseIterable {
        /// Exactly `devices_per_round` devices, uniformly without replacement.
        case uniform
        /// Each device independently with rate q = devices_per_round / population (what DP
        /// amplification by sampling assumes).
        case poisson
        /// `devices_per_round` without replacement, each draw with probability ∝ the device's
        /// number of training examples (successive sampling). The coordinator learns sizes.
        case sizeWeighted = "size_weighted"
        /// `devices_per_round` split over strata in proportion to their sizes (largest
        /// remainder), uniform without replacement inside each stratum.
        case stratified
    }
    /// Who trains each round, with the sampler's own settings.
    public var sampling: SamplingRule = .uniform
    /// The names of the aggregation rules (`AggregationRule`, which carries each rule's settings).
    public enum Aggregation: String, Codable, Sendable, CaseIterable {
        case mean
        /// Coordinate-wise median of the devices that touched each element.
        case median
        /// Coordinate-wise mean after dropping the `trim_fraction` largest and smallest votes.
        case trimmedMean = "trimmed_mean"
        /// Each update scaled to L2 norm ≤ `norm_bound`, then the weighted mean.
        case normBounded = "norm_bounded"
    }
    /// How the coordinator combines updates, with the rule's own settings.
    public var aggregation: AggregationRule = .mean
    /// Buffered asynchronous training (FedBuff).
    public var async = AsyncConfig()
    /// Stop at the best round by a validation metric (needs `data.split.validation`).
    public var earlyStopping = EarlyStoppingConfig()
    /// Per-item weighting only: each item row's aggregate is Σ w⊙Δ / (Σ w + κ), so a row that
    /// one rater touched moves by 1/(1 + κ) of that rater's step instead of all of it, while a
    /// row rated by hundreds barely feels κ (a Gaussian prior's shrinkage toward no change).
    /// 0: the plain per-item mean.
    public var itemShrinkage = 0.0
    public enum Stratum: String, Codable, Sendable, CaseIterable {
        /// The domain holding most of the device's training examples.
        case domain
        /// Activity quantile of the device's training-set size (`strata` groups).
        case activity
    }
    public var local = LocalTrainingConfig()
    public var server = ServerOptimizerConfig()
    public init() {}
}

/// FedBuff (Nguyen et al. 2022): `concurrency` devices train at once, each on the model
/// version it fetched; the coordinator applies an update every `buffer_size` arrivals,
/// weighting each by (1 + staleness)^(−staleness_exponent). Who arrives when comes from the
/// fleet model's simulated clock. `training.rounds` counts server updates.
public struct AsyncConfig: Codable, Sendable, Equatable {
    public var enabled = false
    public var bufferSize = 10
    public var concurrency = 100
    public var stalenessExponent = 0.5
    /// Updates staler than this are discarded (0: keep all).
    public var maxStaleness = 0
    public init() {}
}

public struct EvaluationConfig: Codable, Sendable, Equatable {
    /// Evaluate every N rounds (and always after the last). 0: only after the last round.
    public var every = 5
    /// Cut-off K of HR@K and NDCG@K.
    public var k = 10
    /// Whether evaluation sends exposure counts through SecAgg+ (secure aggregation on and `secure_exposure`).
    public func exposureThroughSecureSum(_ s: SecureAggregationConfig) -> Bool { s.enabled && secureExposure }
    /// Held-out ratings at or above this count as relevant for ranking metrics.
    public var relevanceThreshold = 4.0
    /// Devices evaluated per evaluation (seeded sample); 0 means all devices.
    public var devices = 0
    /// Compute full-ranking HR@K / NDCG@K (costs items × dim per device).
    public var ranking = true
    /// The bias-only reference μ + b_u + b_i (shrunk) and random full ranking, fitted by the
    /// launcher on the run's training split (`ReferenceBaselines`).
    public var biasBaseline = BiasBaselineConfig()
    /// Also report the sampled-negatives protocol (NCF style) with this many negatives per
    /// relevant item; 0: off. Its numbers are much higher than full ranking's, and not comparable.
    public var sampledNegatives = 0
    /// Implicit feedback: every held-out interaction is relevant, whatever its rating (the
    /// NCF protocol), instead of those rated at least `relevance_threshold`. Rating models
    /// still report RMSE on the held-out ratings.
    public var implicit = false
    /// Report every metric per cohort (activity quartiles, main domain, devices that never
    /// trained vs trained) with the spread across devices.
    public var cohorts = true
    /// Which cohort families to report (`cohorts: [activity, demographic]` in a scenario; `true`
    /// means all of them).
    public var cohortKinds = EvaluationConfig.allCohortKinds
    public static let allCohortKinds = ["activity", "domain", "demographic", "availability", "participation"]
    /// At the final evaluation, also score each device with the global model (no
    /// personalization) and a local-only model trained for this many epochs on its own data
    /// (negative transfer); 0: off.
    public var localOnlyEpochs = 20
    /// Cold-start protocol run after training (new users, new domain, temporal).
    public var coldStart = ColdStartConfig()
    /// With secure aggregation on: sum the exposure and popularity counts through SecAgg+ (one
    /// extra round per evaluation). false sends per-process sums, as without secure aggregation.
    public var secureExposure = true
    public init() {}
}

public struct FaultConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The client process kills itself with SIGKILL (a real crash, no goodbye).
        case crash
        /// The client process stops responding for `seconds`.
        case stall
        /// Model poisoning: the process multiplies its devices' updates by `scale`
        /// (bypassing its own clipping), as a compromised client would.
        case poison
        /// A lossy link: each update frame of the round is dropped with `probability`.
        case drop
        /// A slow link: each update frame of the round is delayed by `seconds`.
        case delay
        /// The process closes its connection after `after_updates` updates and reconnects
        /// after `seconds`, with its devices' state intact.
        case disconnect
        /// A compromised client with a valid token: from `round` on, every round, the process
        /// lies for one of its devices (the `after_updates`-th it is asked for): an update whose
        /// weights are divided by `scale` (so Δ = wΔ / w is `scale` times too large), with an
        /// infinite training loss and 2³²−1 examples, and an evaluation report of 10⁹ held-out
        /// ratings with zero error.
        case lie
    }
    public var kind: Kind = .crash
    /// Index of the client process.
    public var process = 0
    /// Round in which the fault fires.
    public var round = 1
    /// Device updates the process sends in that round before the fault.
    public var afterUpdates = 0
    public var seconds = 5.0
    /// `poison`: the factor applied to updates; `lie`: the factor its weights are divided by.
    public var scale = 1000.0
    /// `drop`: the chance that each update frame is lost.
    public var probability = 0.5
    public init() {}
}

public struct RuntimeConfig: Codable, Sendable, Equatable {
    /// Client processes; 0 means one per CPU core.
    public var processes = 0
    /// A round closes at this deadline with the devices that finished.
    public var roundDeadlineSeconds = 60.0
    /// How long the coordinator waits for all client processes to connect.
    public var connectTimeoutSeconds = 30.0
    /// A round with fewer finished devices stops the run with an error.
    public var minDevicesPerRound = 1
    /// Largest frame accepted on the wire.
    public var maxFrameBytes = 256 * 1024 * 1024
    /// A connection that has not sent an accepted hello by then is closed (before the
    /// handshake, frames are also held to 64 KiB).
    public var handshakeTimeoutSeconds = 10.0
    /// Connections allowed to wait for their handshake at once; more are refused on accept.
    public var maxPendingConnections = 64
    /// Write a checkpoint (coordinator state + client device-state snapshots) every N
    /// rounds; 0: only when interrupted (SIGINT / SIGTERM).
    public var checkpointEvery = 10
    /// Simulated faults (for testing resilience).
    public var faults: [FaultConfig] = []
    /// Where the coordinator listens: `unix` (the run directory's socket, one host) or
    /// `tcp://HOST:PORT` (authenticated and encrypted; port 0 picks a free port and writes the
    /// bound address to the run directory's `coordinator.addr`). See docs/transport.md.
    public var listen = "unix"
    /// Where TCP clients connect (`tcp://HOST:PORT`); empty: the address in `coordinator.addr`.
    public var connect = ""
    /// Who starts the client processes, and where (`runtime.cluster`).
    public var cluster = ClusterConfig()
    /// The listen address when it is TCP, nil for the Unix socket.
    public var tcpListen: TCPAddress? { TCPAddress(parsing: listen) }
    public init() {}
}

extension Scenario {
    /// The ranking term's own keys apply only when the loss has that term.
    func rankingTermChecks() -> [(String, String)] {
        var out: [(String, String)] = []
        let local = training.local
        if local.positiveThreshold > 0 && !local.loss.ranks {
            out.append(
                (
                    "training.local.positive_threshold",
                    "picks the positives of a ranking loss; set training.local.loss to bpr, sampled_softmax, mse+bpr or mse+sampled_softmax (it is \(local.loss.rawValue))"
                )
            )
        }
        // A ranking loss trains the local epochs; adaptation (FedRecon's reconstruction, a
        // cold-start task's support, meta-learning's inner loops) fits squared error, so a
        // model trained to rank would be adapted to rate. Refused rather than mixed.
        if local.loss.ranks && ModelTraits.of(model.kind).rankingLosses {
            for (on, what) in [
                (meta.enabled, "meta.algorithm \(meta.algorithm.rawValue)'s inner loops"),
                (personalization.strategy == .fedrecon, "personalization.strategy fedrecon's reconstruction"),
                (evaluation.coldStart.protocol != .none, "evaluation.cold_start's adaptation"),
            ] where on {
                out.append(
                    (
                        "training.local.loss",
                        "\(local.loss.rawValue) trains the local epochs only; \(what) would still fit squared error (use loss: mse with it)"
                    )
                )
            }
        }
        if local.logqCorrection && !local.loss.softmax {
            out.append(
                (
                    "training.local.logq_correction",
                    "corrects sampled softmax's negatives; set training.local.loss to sampled_softmax or mse+sampled_softmax (it is \(local.loss.rawValue))"
                )
            )
        }
        return out
    }
}
