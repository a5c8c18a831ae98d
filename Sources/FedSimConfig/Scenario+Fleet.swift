/// How a pooled data set is re-cut into devices. `natural` keeps one device per user; the
/// others pool every interaction and deal it out again, to stress heterogeneity on purpose
/// (for datasets that are not naturally per-user, and for personalization experiments).
public struct PartitionConfig: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// One device per user, as the data comes.
        case natural
        /// Hsu, Qi, Brown 2019: each device's label mix q ~ Dirichlet(α·p), p the global mix.
        case dirichlet
        /// McMahan et al. 2017 "pathological non-IID": sort by label, cut into
        /// devices × shards_per_device shards, deal each device shards_per_device of them.
        case shards
        /// IID labels, skewed sizes: log-normal(0, size_sigma) or power law (size_exponent).
        case quantitySkew = "quantity_skew"
    }
    /// What Dirichlet and shards split over.
    public enum Label: String, Codable, Sendable, CaseIterable {
        /// The item's domain (synthetic populations have several).
        case domain
        /// The item's category: the synthetic genre-like feature, or a movie's first genre.
        case category
    }
    public enum Sizes: String, Codable, Sendable, CaseIterable {
        case lognormal
        case powerLaw = "power_law"
    }
    public var method: Method = .natural
    /// Virtual devices after re-partitioning; 0 keeps the natural device count.
    public var devices = 0
    public var label: Label = .category
    /// Dirichlet concentration α: small ⇒ each device sees few labels; large ⇒ IID.
    public var alpha = 0.5
    public var shardsPerDevice = 2
    public var sizes: Sizes = .lognormal
    public var sizeSigma = 1.0
    /// Exponent of the power law P(size) ∝ size^-a (quantity_skew with sizes: power_law).
    public var sizeExponent = 1.5
    /// Every device gets at least this many interactions (quantity_skew).
    public var minPerDevice = 5
    public init() {}
}

/// The device fleet: when devices are reachable and how fast they compute and transfer. It
/// drives a simulated clock next to the wall clock: who can be sampled, who misses the
/// round deadline, and how long a round would take on real phones.
public struct FleetConfig: Codable, Sendable, Equatable {
    public var availability = AvailabilityConfig()
    public var compute = ComputeConfig()
    public var network = NetworkConfig()
    /// Simulated round deadline in seconds: devices whose simulated finish time is later are
    /// dropped (dropouts for secure aggregation). 0: no deadline.
    public var deadlineSeconds = 0.0
    /// Select ⌈over_selection · devices_per_round⌉ and keep the first devices_per_round to
    /// finish (Bonawitz et al. 2019). 1: no over-selection.
    public var overSelection = 1.0
    public init() {}

    /// Whether any part of the fleet model changes who trains (otherwise rounds run as before).
    public var shapesRounds: Bool { availability.model != .always || deadlineSeconds > 0 || overSelection > 1 }
}

/// A seeded diurnal availability model in the spirit of FedScale's traces: a device is
/// eligible while it is charging, on Wi-Fi and reachable, in its own time zone.
public struct AvailabilityConfig: Codable, Sendable, Equatable {
    public enum Model: String, Codable, Sendable, CaseIterable {
        /// Every device is always reachable.
        case always
        /// Charging window ∩ Wi-Fi window ∩ a per-hour reachability coin, in local time.
        case diurnal
    }
    public var model: Model = .always
    /// UTC offsets (hours) devices are spread over, uniformly.
    public var timezones: [Double] = [-8, -6, -5, -3, 0, 1, 2, 3, 5.5, 7, 8, 9, 10]
    /// Local hour the charging window opens (mean) and its spread (standard deviation, hours).
    public var chargingStartHour = 22.0
    public var chargingStartSpread = 2.0
    /// Charging window length (mean and spread, hours).
    public var chargingHours = 8.0
    public var chargingHoursSpread = 1.5
    /// Share of devices that have home Wi-Fi; the others are never eligible.
    public var wifiShare = 0.85
    /// Local hour the Wi-Fi window opens (mean and spread) and its length.
    public var wifiStartHour = 18.0
    public var wifiStartSpread = 1.5
    public var wifiHours = 14.0
    /// Probability that an eligible device is reachable in a given hour (idle, signal, opted in).
    public var reachable = 0.9
    /// UTC hour of the simulated clock at round 1.
    public var startHourUTC = 0.0
    /// The simulated clock advances by at least this much per round.
    public var roundIntervalSeconds = 300.0
    public init() {}
}

/// Per-device compute speed: log-normal around a median.
public struct ComputeConfig: Codable, Sendable, Equatable {
    /// Median training speed (examples per second, per local epoch pass).
    public var examplesPerSecond = 500.0
    /// σ of log(speed): 0 makes every device equally fast; 1 gives a heavy straggler tail.
    public var sigma = 0.7
    public init() {}
}

/// Per-device network: log-normal bandwidths and latency.
public struct NetworkConfig: Codable, Sendable, Equatable {
    public var downloadMbps = 20.0
    public var uploadMbps = 5.0
    public var bandwidthSigma = 0.8
    public var latencyMs = 80.0
    public var latencySigma = 0.5
    public init() {}
}

/// Update compression on the device, decoded on the coordinator: a short stack of stages
/// (docs/scenarios.md lists the valid stacks).
public struct CompressionConfig: Codable, Sendable, Equatable {
    public enum Stage: String, Codable, Sendable, CaseIterable {
        /// Only the item rows the device touched (and their indices); plain rounds only.
        case sparseRows = "sparse_rows"
        /// Randomized Hadamard rotation of each block before quantizing (Suresh et al. 2017).
        case rotate
        /// Unbiased stochastic quantization to `bits` bits per value, per block.
        case quantize
        /// The `fraction` largest-magnitude non-zero entries, the rest carried over.
        case topK = "top_k"
        /// `fraction` of the non-zero entries, uniformly at random, the rest carried over.
        case randomK = "random_k"
    }
    public var stages: [Stage] = []
    public var bits = 8
    /// top_k / random_k: share of the update's non-zero entries sent each round.
    public var fraction = 0.1
    /// top_k / random_k: keep what was not sent on the device and add it next time.
    public var errorFeedback = true
    /// Values per quantization block (each has its own scale; rotation works per block).
    public var blockSize = 1024
    public init() {}

    public var enabled: Bool { !stages.isEmpty }

    /// The stacks the coordinator can decode, in order.
    public static let validStacks: [[Stage]] = [
        [], [.sparseRows], [.quantize], [.rotate, .quantize], [.topK], [.randomK], [.rotate],
        [.sparseRows, .quantize], [.topK, .quantize], [.randomK, .quantize],
    ]
}
