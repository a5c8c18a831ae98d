/// `training.sampling`: who trains each round, as a sum type. Stratification's settings exist
/// only with it, and the number of activity strata only when stratifying by activity.
///
/// In a scenario a sampler is its name (`sampling: poisson`), or a mapping with `rule` and
/// that sampler's settings:
/// ```yaml
/// sampling: {rule: stratified, by: activity, strata: 5}
/// ```
public enum SamplingRule: Equatable, Sendable {
    /// Exactly `devices_per_round` eligible devices, without replacement.
    case uniform
    /// Each device independently with rate q = devices_per_round / population (what DP
    /// accounting assumes).
    case poisson
    /// `devices_per_round` without replacement, each draw ∝ the device's training-set size.
    case sizeWeighted
    /// `devices_per_round` apportioned to strata by population share, uniform inside each:
    /// by main domain, or by `activityStrata` quantiles of training-set size.
    case stratified(by: TrainingConfig.Stratum, activityStrata: Int)

    /// The sampler's name, for choices and messages.
    public var kind: TrainingConfig.Sampling {
        switch self {
        case .uniform: .uniform
        case .poisson: .poisson
        case .sizeWeighted: .sizeWeighted
        case .stratified: .stratified
        }
    }

    /// The sampler `kind` with its settings' defaults (stratified by domain; 4 activity strata).
    public init(_ kind: TrainingConfig.Sampling) {
        switch kind {
        case .uniform: self = .uniform
        case .poisson: self = .poisson
        case .sizeWeighted: self = .sizeWeighted
        case .stratified: self = .stratified(by: .domain, activityStrata: 4)
        }
    }

    /// Stratification by each device's main domain (the rules check the data has domains).
    public var stratifiesByDomain: Bool {
        if case .stratified(.domain, _) = self { return true }
        return false
    }
}

extension SamplingRule: Codable {
    enum CodingKeys: String, CodingKey {
        case rule, by, strata
    }

    /// Written as the mapping the reader takes back, so a run directory's scenario.json loads.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.rawValue, forKey: .rule)
        if case .stratified(let by, let strata) = self {
            try c.encode(by.rawValue, forKey: .by)
            if by == .activity { try c.encode(strata, forKey: .strata) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .rule)
        guard let kind = TrainingConfig.Sampling(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .rule, in: c, debugDescription: "unknown sampler \(name)")
        }
        guard kind == .stratified else {
            self = SamplingRule(kind)
            return
        }
        let by = try c.decode(TrainingConfig.Stratum.self, forKey: .by)
        self = .stratified(by: by, activityStrata: try c.decodeIfPresent(Int.self, forKey: .strata) ?? 4)
    }
}

extension SamplingRule {
    /// Reads `training.sampling` (a sampler name, or a mapping with `rule` and its settings),
    /// each problem recorded with its key path and line.
    init(reading r: ConfigReader, key: String) {
        let (kind, settings) = r.rule(key, default: TrainingConfig.Sampling.uniform)
        guard let s = settings else {
            self = SamplingRule(kind)
            return
        }
        var by: TrainingConfig.Stratum?
        if kind == .stratified {
            by = s.choice("by", default: TrainingConfig.Stratum.domain)
            let strata = by == .activity ? s.int("strata", default: 4, range: 1...100) : 4
            self = .stratified(by: by!, activityStrata: strata)
        } else {
            self = SamplingRule(kind)
        }
        // A setting that does not belong to this sampler is named as such, not as a typo.
        if kind != .stratified { s.refuse("by", "is a setting of rule stratified; this rule is \(kind.rawValue)") }
        if by != .activity { s.refuse("strata", "counts activity strata: it needs rule stratified with by: activity") }
        s.finish()
    }
}
