/// `training.aggregation`: how the coordinator combines updates, as a sum type. A rule's own
/// setting exists only with it (a trim fraction is part of `trimmedMean`, a norm bound of
/// `normBounded`), so "a trim fraction set for the median" cannot be written down.
///
/// In a scenario a rule is its name (`aggregation: median`, with its setting's default), or a
/// mapping with `rule` and that rule's settings:
/// ```yaml
/// aggregation: {rule: trimmed_mean, fraction: 0.2}
/// aggregation: {rule: norm_bounded, bound: 0.5}
/// ```
/// Anything but `mean` needs the individual updates, so it is refused with secure
/// aggregation (and with DP, whose accounting assumes a sum).
public enum AggregationRule: Equatable, Sendable {
    /// The weighted mean (per weight slot).
    case mean
    /// Coordinate-wise median of the devices that touched each element.
    case median
    /// Coordinate-wise mean after dropping the `fraction` largest and smallest votes (< 0.5).
    case trimmedMean(fraction: Double)
    /// Each update scaled to L2 norm ≤ `bound`, then the weighted mean.
    case normBounded(bound: Double)

    /// The rule's name, for choices and messages.
    public var kind: TrainingConfig.Aggregation {
        switch self {
        case .mean: .mean
        case .median: .median
        case .trimmedMean: .trimmedMean
        case .normBounded: .normBounded
        }
    }

    /// The rule `kind` with its settings' defaults (trim fraction 0.1, norm bound 1).
    public init(_ kind: TrainingConfig.Aggregation) {
        switch kind {
        case .mean: self = .mean
        case .median: self = .median
        case .trimmedMean: self = .trimmedMean(fraction: 0.1)
        case .normBounded: self = .normBounded(bound: 1)
        }
    }
}

extension AggregationRule: Codable {
    enum CodingKeys: String, CodingKey {
        case rule, fraction, bound
    }

    /// Written as the mapping the reader takes back (`rule` and the rule's own settings), so
    /// a run directory's scenario.json loads as a scenario.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.rawValue, forKey: .rule)
        switch self {
        case .mean, .median: break
        case .trimmedMean(let fraction): try c.encode(fraction, forKey: .fraction)
        case .normBounded(let bound): try c.encode(bound, forKey: .bound)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .rule)
        guard let kind = TrainingConfig.Aggregation(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .rule, in: c, debugDescription: "unknown rule \(name)")
        }
        switch kind {
        case .mean: self = .mean
        case .median: self = .median
        case .trimmedMean: self = .trimmedMean(fraction: try c.decode(Double.self, forKey: .fraction))
        case .normBounded: self = .normBounded(bound: try c.decode(Double.self, forKey: .bound))
        }
    }
}

extension AggregationRule {
    /// Reads `training.aggregation` (a rule name, or a mapping with `rule` and its settings),
    /// each problem recorded with its key path and line.
    init(reading r: ConfigReader, key: String) {
        let (kind, settings) = r.rule(key, default: TrainingConfig.Aggregation.mean)
        let defaults = AggregationRule(kind)
        guard let s = settings else {
            self = defaults
            return
        }
        switch defaults {
        case .mean, .median: self = defaults
        case .trimmedMean(let f): self = .trimmedMean(fraction: s.double("fraction", default: f, min: 0, max: 0.49))
        case .normBounded(let b):
            self = .normBounded(bound: s.double("bound", default: b, min: 0, max: 1e9, exclusiveMin: true))
        }
        // A setting of another rule is named as such, not as a typo.
        for (setting, owner) in [("fraction", TrainingConfig.Aggregation.trimmedMean), ("bound", .normBounded)]
        where owner != kind {
            s.refuse(setting, "is a setting of rule \(owner.rawValue); this rule is \(kind.rawValue)")
        }
        s.finish()
    }
}
