/// `eval.negative_transfer`: the personalized model per device against the global model and
/// a local-only model (docs/personalization.md).
public struct NegativeTransfer: Codable, Equatable, Sendable {
    public var devices: Int
    public var rmseGlobalModel: Double
    public var rmseLocalOnly: Double
    public var personalizationWorseThanGlobal: Gap
    public var federationWorseThanLocalOnly: Gap

    /// The share of devices a comparison makes worse, and by how much (mean RMSE points).
    public struct Gap: Codable, Equatable, Sendable {
        public var share: Double
        public var meanRMSELoss: Double
        public init(share: Double, meanRMSELoss: Double) {
            self.share = share
            self.meanRMSELoss = meanRMSELoss
        }
        enum CodingKeys: String, CodingKey {
            case share
            case meanRMSELoss = "mean_rmse_loss"
        }
    }

    public init(
        devices: Int,
        rmseGlobalModel: Double,
        rmseLocalOnly: Double,
        personalizationWorseThanGlobal: Gap,
        federationWorseThanLocalOnly: Gap
    ) {
        self.devices = devices
        self.rmseGlobalModel = rmseGlobalModel
        self.rmseLocalOnly = rmseLocalOnly
        self.personalizationWorseThanGlobal = personalizationWorseThanGlobal
        self.federationWorseThanLocalOnly = federationWorseThanLocalOnly
    }

    enum CodingKeys: String, CodingKey {
        case devices
        case rmseGlobalModel = "rmse_global_model"
        case rmseLocalOnly = "rmse_local_only"
        case personalizationWorseThanGlobal = "personalization_worse_than_global"
        case federationWorseThanLocalOnly = "federation_worse_than_local_only"
    }
}

/// `eval.cohorts`: every metric per cohort, grouped by kind (`activity`, `domain`,
/// `demographic`, `availability`, `participation`: `evaluation.cohorts` chooses), and the
/// worst cohort by RMSE. The kinds are the scenario's, so they are read as they come.
public struct CohortTable: Codable, Equatable, Sendable {
    public var groups: [Group]
    public var worstByRMSE: Worst?

    public struct Group: Equatable, Sendable {
        public var kind: String
        public var cohorts: [Cohort]
        public init(kind: String, cohorts: [Cohort]) {
            self.kind = kind
            self.cohorts = cohorts
        }
    }

    public struct Worst: Codable, Equatable, Sendable {
        /// `kind: name`, e.g. `activity: Q1 (0–25 ratings)`.
        public var cohort: String
        public var rmse: Double
        public init(cohort: String, rmse: Double) {
            self.cohort = cohort
            self.rmse = rmse
        }
    }

    public init(groups: [Group], worstByRMSE: Worst?) {
        self.groups = groups
        self.worstByRMSE = worstByRMSE
    }

    static let worstKey = "worst_by_rmse"

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        groups = try c.allKeys.filter { $0.stringValue != Self.worstKey }.map {
            Group(kind: $0.stringValue, cohorts: try c.decode([Cohort].self, forKey: $0))
        }
        worstByRMSE = try c.maybe(Self.worstKey)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        for g in groups { try c.put(g.cohorts, g.kind) }
        try c.put(worstByRMSE, Self.worstKey)
    }
}

/// One cohort's row: its devices, RMSE, ranking at `k`, and per-device RMSE percentiles.
public struct Cohort: Codable, Equatable, Sendable {
    public var k: Int
    public var name: String
    public var devices: Int
    public var rmse: Double
    public var hitRate: Double
    public var ndcg: Double
    public var deviceRMSE: [Double]

    public init(k: Int, name: String, devices: Int, rmse: Double, hitRate: Double, ndcg: Double, deviceRMSE: [Double]) {
        self.k = k
        self.name = name
        self.devices = devices
        self.rmse = rmse
        self.hitRate = hitRate
        self.ndcg = ndcg
        self.deviceRMSE = deviceRMSE
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: MetricKey.self)
        k = c.cutoff()
        name = try c.get("name")
        devices = try c.get("devices")
        rmse = try c.get("rmse")
        hitRate = try c.get("hr@\(k)")
        ndcg = try c.get("ndcg@\(k)")
        deviceRMSE = try c.get("device_rmse_p10_p50_p90")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.put(name, "name")
        try c.put(devices, "devices")
        try c.put(rmse, "rmse")
        try c.put(hitRate, "hr@\(k)")
        try c.put(ndcg, "ndcg@\(k)")
        try c.put(deviceRMSE, "device_rmse_p10_p50_p90")
    }
}
