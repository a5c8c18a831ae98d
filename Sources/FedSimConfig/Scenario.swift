/// A complete, validated experiment description. Every field has a default, documented in
/// docs/scenarios.md; `Scenario.load` fills them in and `resolvedJSON` writes them all out,
/// so a run directory records exactly what ran.
public struct Scenario: Codable, Sendable, Equatable {
    public var name = "scenario"
    /// Fixes data generation, splits, sampling, initialisation and simulated faults.
    public var seed: UInt64 = 42
    public var data = DataConfig()
    public var model = ModelConfig()
    public var training = TrainingConfig()
    public var evaluation = EvaluationConfig()
    public var secureAggregation = SecureAggregationConfig()
    public var privacy = PrivacyConfig()
    public var runtime = RuntimeConfig()
    /// The simulated device fleet: availability, compute and network speed, deadlines.
    public var fleet = FleetConfig()
    /// Update compression (device → coordinator).
    public var compression = CompressionConfig()
    /// How personal parameters are trained (FedPer, FedRep, Ditto, FedRecon).
    public var personalization = PersonalizationConfig()
    /// Meta-learning of the shared initialisation (Reptile, FO-MAML, Per-FedAvg).
    public var meta = MetaConfig()

    public init() {}
}

/// Differential privacy of the shared model (user-level: one device is one user).
public struct PrivacyConfig: Codable, Sendable, Equatable {
    public enum Mechanism: String, Codable, Sendable, CaseIterable {
        case none
        /// DP-FedAvg (McMahan et al. 2018): devices clip, the coordinator adds discrete
        /// Gaussian noise to the (secure) sum. The coordinator is trusted to add it.
        case central
        /// Distributed discrete Gaussian (Kairouz, Liu, Steinke 2021): each device adds
        /// discrete Gaussian noise to its quantized update before SecAgg+ masking, so the
        /// coordinator only ever sees a noised sum. Needs secure aggregation.
        case distributed
    }
    public enum NoiseSource: String, Codable, Sendable, CaseIterable {
        /// CSPRNG (libsodium): required for a privacy claim.
        case secure
        /// Seeded from the scenario seed: for debugging only, NOT private.
        case reproducible
    }
    public var mechanism: Mechanism = .none
    /// L2 norm bound C on each device's update of the shared parameters.
    public var clip = 1.0
    /// σ: noise standard deviation / C.
    public var noiseMultiplier = 1.0
    public var delta = 1e-5
    public var budget = PrivacyBudget()
    public var noise: NoiseSource = .secure
    /// Write who was sampled and who finished each round (`participation.jsonl`, `.csv`).
    /// Off by default with DP: amplification by subsampling needs the sample to be secret, so
    /// when it is written the privacy report also gives ε without amplification.
    public var logParticipation = false
    /// Whether this run's sample must stay secret: DP with noise from the CSPRNG. Its Poisson
    /// coins then come from the CSPRNG too, and identities are written only on request.
    public var secretSample: Bool { enabled && noise == .secure }
    /// Whether the run directory may list who took part.
    public var writesParticipation: Bool { !enabled || logParticipation }
    /// Adaptive clipping (Andrew et al. 2021): C follows a target quantile of update norms.
    public var adaptiveClipping = AdaptiveClipping()
    public enum Clipping: String, Codable, Sendable, CaseIterable {
        /// One L2 bound `clip` on the whole update.
        case flat
        /// A bound per parameter group (`group_clips`); the sensitivity is √(Σ C_g²).
        case perGroup = "per_group"
    }
    public var clipping: Clipping = .flat
    /// Per-group bounds of the MF model's shared tensors (used with `clipping: per_group`).
    public var groupClips = GroupClips()
    /// A one-run privacy audit (`privacy.audit`): canaries whose inclusion the run must not
    /// reveal beyond the claimed ε. Absent (nil) in ordinary runs.
    public var audit: PrivacyAudit?

    /// The L2 sensitivity the noise is calibrated to: `clip`, or √(Σ C_g²) per group.
    public var sensitivity: Double {
        clipping == .flat
            ? clip
            : (groupClips.itemEmbedding * groupClips.itemEmbedding + groupClips.itemBias * groupClips.itemBias
                + groupClips.globalBias * groupClips.globalBias).squareRoot()
    }
    public init() {}

    public var enabled: Bool { mechanism != .none }
}

/// A one-run privacy audit (Steinke, Nasr, Jagielski 2023): `canaries` gradient canaries,
/// each included with probability ½ and then Poisson-sampled each round at the devices' rate,
/// enter the clipped sum as extra devices of norm C. At the end the run scores each canary
/// against the released noisy sums and derives an empirical lower bound on ε at the given
/// confidence; it must not exceed the ε the run claims.
public struct PrivacyAudit: Codable, Sendable, Equatable {
    public var canaries = 1000
    /// 1 − β: the confidence of the lower bound.
    public var confidence = 0.95
    public init() {}
}

/// Adaptive clipping to a target quantile (Andrew, Thakkar, McMahan, Ramaswamy 2021): each
/// round C ← C·exp(−η(b̄ − γ)), where b̄ is the noised fraction of devices whose update was
/// within C. The count's noise (std `count_noise`) is part of the accounting.
public struct AdaptiveClipping: Codable, Sendable, Equatable {
    public var enabled = false
    /// γ: the fraction of updates that should end up unclipped.
    public var targetQuantile = 0.5
    /// η: geometric learning rate of C.
    public var learningRate = 0.2
    /// σ_b: standard deviation of the noise on the count of unclipped devices.
    public var countNoise = 10.0
    public init() {}
}

public struct GroupClips: Codable, Sendable, Equatable {
    public var itemEmbedding = 1.0
    public var itemBias = 0.1
    public var globalBias = 0.01
    public init() {}

    /// Each clipped tensor (by its name in the MF layout) with its bound: the one table
    /// devices clip by and the coordinator re-checks against.
    public var bounds: [(tensor: String, bound: Double)] {
        [("item_embedding", itemEmbedding), ("item_bias", itemBias), ("global_bias", globalBias)]
    }
}

public struct PrivacyBudget: Codable, Sendable, Equatable {
    /// Stop before a round that would take ε (at `privacy.delta`) above this; 0 means no budget.
    public var epsilon = 0.0
    public init() {}
}

/// Secure aggregation (SecAgg+, Bell et al. 2020; SecAgg, Bonawitz et al. 2017): the
/// coordinator learns only the sum of the surviving devices' quantized updates.
public struct SecureAggregationConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case none
        /// Complete graph: every device shares with every other sampled device.
        case secagg
        /// Sparse random k-regular graph; k and t from n and the assumed dropout/corruption.
        case secaggPlus = "secagg+"
    }
    public var `protocol`: Kind = .secaggPlus
    /// Neighbours per device; 0 chooses from n, `assumed_dropout` and `assumed_corruption`.
    public var neighbors = 0
    /// Shamir threshold; 0 chooses ⌊(1 + γ)k/2⌋ + 1.
    public var threshold = 0
    /// Sums live in Z_{2^bits}.
    public var bits = 32
    /// Dropout rate δ the parameters must tolerate (correctness failure ≤ 2^-20).
    public var assumedDropout = 0.1
    /// Fraction γ of corrupted devices the threshold must tolerate.
    public var assumedCorruption = 0.1
    /// Public bounds for quantization (see docs/secure-aggregation.md).
    public var valueClip = 1.0
    public var maxRowWeight = 16.0
    public var maxExamples = 10_000.0
    /// Simulated dropouts: probability that a device goes silent before each stage.
    public var dropout = StageDropout()
    /// The PRG that expands masks; nil is `auto`: AES-128-CTR where the coordinator's CPU has
    /// AES instructions, else ChaCha20 (docs/secure-aggregation.md). Sums are the same either way.
    public var prg: MaskPRGChoice?
    public enum MaskPRGChoice: String, Codable, Sendable, CaseIterable { case auto, chacha20, aes128ctr }
    public init() {}

    public var enabled: Bool { `protocol` != .none }
}

public struct StageDropout: Codable, Sendable, Equatable {
    public var advertise = 0.0
    public var share = 0.0
    public var masked = 0.0
    public var unmask = 0.0
    public init() {}
}

public struct DataConfig: Codable, Sendable, Equatable {
    public enum Source: String, Codable, Sendable, CaseIterable { case synthetic, movielens, interactions, recbole }
    public var source: Source = .synthetic
    /// Folder holding MovieLens-100K in GroupLens (`u.data`) or RecBole (`ml-100k.inter`)
    /// layout, or (`recbole`) any dataset's RecBole atomic files.
    public var path = "data/ml-100k"
    /// `source: interactions` (nil otherwise, so other scenarios' resolved JSON is unchanged).
    public var interactions: InteractionsConfig?
    /// `source: recbole` (nil otherwise).
    public var recbole: RecBoleConfig?
    public var split = SplitConfig()
    public var partition = PartitionConfig()
    public var synthetic = SyntheticConfig()
    /// MovieLens: how items map to domains. `single`: one domain ("movies");
    /// `genre_groups`: three domains by a movie's primary genre (docs/data.md).
    public var movielensDomains: MovieLensDomains = .single
    public enum MovieLensDomains: String, Codable, Sendable, CaseIterable {
        case single
        case genreGroups = "genre_groups"
    }
    /// A (user, item) pair rated more than once in a ratings file. `error` (the default)
    /// refuses the file with both lines, since the same pair could otherwise land in train
    /// and test; `first` / `last` keep one rating by file order; `mean` keeps their mean
    /// (with the latest timestamp).
    public var duplicates: Duplicates = .error
    public enum Duplicates: String, Codable, Sendable, CaseIterable { case error, first, last, mean }
    public init() {}
}

public struct SplitConfig: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// Per device, a seeded random `test_fraction` of its ratings is held out.
        case random
        /// Per device, the latest `test_fraction` of its ratings by timestamp is held out.
        case latest
        /// Per device, exactly its latest interaction is held out (`test_fraction` is ignored;
        /// timestamp ties broken by the seed): the federated-recommendation literature's split.
        case leaveOneOut = "leave_one_out"
    }
    public var method: Method = .random
    public var testFraction = 0.2
    /// Devices with fewer ratings keep all of them for training (nothing to evaluate).
    public var minTrain = 1
    /// A validation split carved from each device's training part, for early stopping and
    /// tuning (never the test split): the second-latest interaction under `leave_one_out`, a
    /// seeded `validation_fraction` of the training ratings under `random` (the latest share
    /// under `latest`). Devices train on what is left.
    public var validation = false
    public var validationFraction = 0.1
    public init() {}
}

/// The seeded synthetic population: multi-domain latent-factor users and items.
public struct SyntheticConfig: Codable, Sendable, Equatable {
    public var devices = 2_000
    public var domains = ["movies", "music", "shopping"]
    public var itemsPerDomain = 400
    /// Latent factors shared by all domains (what transfers across domains).
    public var sharedFactors = 8
    /// Latent factors specific to each domain.
    public var domainFactors = 4
    /// Ratings per device follow a discrete power law on [min, max] with this exponent.
    public var minRatings = 10
    public var maxRatings = 300
    public var activityExponent = 1.6
    /// Item popularity follows Zipf with this exponent within each domain.
    public var popularityExponent = 0.8
    /// Probability that a rating falls in the device's home domain.
    public var homeDomainShare = 0.7
    /// Domains a device rates in (domain skew): its home domain plus `domains_per_device − 1`
    /// others drawn per device; 0 means every domain (the remainder spread over all others).
    public var domainsPerDevice = 0
    /// Standard deviation of the rating noise before rounding to the 1–5 scale.
    public var noise = 0.4
    /// Drifting short-term interests over timestamped periods (off by default).
    public var drift = DriftConfig()
    public init() {}
}

/// Temporal structure of the synthetic population (`data.synthetic.drift`): long-term tastes
/// (the latent profile) stay fixed, while each period a few item categories are "hot": a
/// device draws `hot_share` of that period's interactions from them and rates them
/// `hot_boost` × its susceptibility (∈ [0, 1]) higher. Hot topics persist across a period
/// boundary with probability 1 − `turnover`, so the previous period predicts the next.
/// Interactions outside the home domain are "external" and can arrive `external_delay_periods`
/// late. What LSTTM-style short/long-term models and the temporal protocol need.
public struct DriftConfig: Codable, Sendable, Equatable {
    /// Periods of the timeline; 0 keeps the original timestamps (no drift).
    public var periods = 0
    public var periodDays = 7.0
    public var hotTopics = 2
    public var turnover = 0.5
    /// Whose hot topics: `global` (one sequence for everyone, like news events) or
    /// `personal` (each device its own sequence, drawn from (seed, device) with the same
    /// turnover: drifting personal interests that global popularity cannot explain).
    public var topics: Topics = .global
    public enum Topics: String, Codable, Sendable, CaseIterable { case global, personal }
    public var hotShare = 0.5
    public var hotBoost = 1.0
    public var externalDelayPeriods = 0
    public init() {}
}

public struct ModelConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Biased matrix factorisation: r̂ = μ + b_u + b_i + p_u·q_i.
        case mf
        /// Two towers with content (docs/personalization.md): the user tower is a shared prior plus
        /// user-feature embeddings plus a personal offset; the item tower is the item's
        /// embedding plus its category's, modulated per domain by a FiLM adapter.
        case twoTower = "two_tower"
        /// DeepFM (Guo et al. 2017) click model on implicit feedback: every interaction is a
        /// positive, `negatives` unseen items per positive are negatives, cross-entropy loss,
        /// scored by AUC and full ranking (no rating metrics).
        case deepfm
        /// LSTTM (Xie et al. 2022): short-term graph attention over recent internal
        /// behaviours, a long-term module over all behaviours federated on its own cadence, a
        /// gate fusing them per target item, a DeepFM scorer (docs/personalization.md, `model.lsttm`).
        case lsttm
        /// SVD++ (Koren 2008): mf plus an implicit-feedback term,
        /// r̂ = μ + b_u + b_i + q_i·(p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j), N(u) the items the device
        /// rated, computed on the device; the y rows are shared like q.
        case svdpp
    }
    public var kind: Kind = .mf
    public var dim = 16
    public var initStd = 0.02
    /// two_tower: embed the population's user features (age, gender, occupation; synthetic profile).
    public var userFeatures = true
    /// two_tower: add the item's category (genre) embedding to its own.
    public var itemContent = true
    /// two_tower: per-domain FiLM adapters (γ, β, bias), a `domain` parameter group.
    public var domainAdapters = false
    /// two_tower with domain adapters: disentangle domain-invariant and domain-specific parts
    /// (a shared adapter prior every domain's adapter is an offset from, and cross-domain
    /// alignment of the shared item tower on each device).
    public var disentangle = false
    /// Weight of the alignment loss with `disentangle`.
    public var alignmentWeight = 0.1
    /// The alignment objective: `cosine` (positive pairs: 1 − cos of a device's two domain
    /// means) or `contrastive` (InfoNCE against `alignment_negatives` items of the second
    /// domain the device never interacted with, temperature `alignment_temperature`).
    public var alignment: Alignment = .cosine
    public enum Alignment: String, Codable, Sendable, CaseIterable { case cosine, contrastive }
    public var alignmentNegatives = 8
    public var alignmentTemperature = 0.2
    /// deepfm: hidden units of the MLP.
    public var hidden = 32
    /// deepfm, lsttm: negatives sampled on the device per positive, each round.
    public var negatives = 4
    /// lsttm: its modules, ablation switches and the long-term module's cadence.
    public var lsttm = LSTTMConfig()
    public init() {}
}

/// LSTTM's structure (`model.lsttm`). The four ablations of the paper's Table 4 are switches
/// here (`attention`, `fusion`, `external`) and `meta.algorithm: none` (no temporal MAML).
public struct LSTTMConfig: Codable, Sendable, Equatable {
    /// How the short- and long-term user representations are fused.
    public enum Fusion: String, Codable, Sendable, CaseIterable {
        /// A softmax gate per target item (Eq. 4–5).
        case gate
        /// Both representations as separate scorer fields (the "gate → concat" ablation).
        case concat
    }
    /// K: the most recent internal behaviours the short-term graph attends over.
    public var neighbours = 10
    /// false: mean pooling over the K neighbours instead of attention ("w/o attention").
    public var attention = true
    public var fusion: Fusion = .gate
    /// false: the long-term module sees internal behaviours only ("w/o external behaviours").
    public var external = true
    /// The long-term module trains every `long_term_every` rounds (from round 1)...
    public var longTermEvery = 5
    /// ...and its aggregated update reaches the model `long_term_delay` rounds late.
    public var longTermDelay = 0
    /// Full-batch steps of the neighbour-similarity loss per long-term round.
    public var longTermSteps = 20
    public var longTermLearningRate = 0.5
    /// Negatives per behaviour in the neighbour-similarity loss.
    public var longTermNegatives = 2
    /// The internal (target) domain; empty: each device's own dominant domain in its
    /// training data. Behaviours in other domains are external.
    public var internalDomain = ""
    /// The recency feature (issue 19): when > 0, the scorer adds w_r · r_c, where r_c is the
    /// share of the device's internal behaviours in the `recency_days` days before the
    /// context that fall in the target item's category, and w_r is a learned shared weight.
    /// The attention over K neighbours sees at most K behaviours; this feature sees a whole
    /// recent window, which is what a drifting interest is measured over. 0: off.
    public var recencyDays = 0.0
    public init() {}
}
