import FedSimConfig
import FedSimModels

/// Early stopping's bookkeeping, a value type so its rule is tested without a run: the best
/// validation value so far, the round it came from, and how many evaluations have passed
/// without an improvement of more than `minDelta`.
public struct ValidationTracker: Sendable, Equatable {
    public let metric: EarlyStoppingConfig.Metric
    public let patience: Int
    public let minDelta: Double
    public private(set) var bestRound: Int?
    public private(set) var bestValue = Double.nan
    public private(set) var lastValue = Double.nan
    /// Evaluations since the best one (0 right after an improvement).
    public private(set) var sinceBest = 0

    public init(_ config: EarlyStoppingConfig) {
        metric = config.metric
        patience = config.patience
        minDelta = config.minDelta
    }

    /// The metric's value in a validation summary (NaN when the devices had nothing to score).
    public static func value(of metric: EarlyStoppingConfig.Metric, in s: EvaluationSummary) -> Double {
        switch metric {
        case .rmse: return s.rmse
        case .ndcg: return s.ndcg
        case .hr: return s.hitRate
        case .ndcgSampled: return s.sampledNdcg
        case .hrSampled: return s.sampledHit
        }
    }

    /// Records round r's validation value. Returns true when it is the new best: the first
    /// finite value, then any that beats the best by more than `minDelta`. A non-finite value
    /// (a diverged model) never improves.
    public mutating func observe(round r: Int, value v: Double) -> Bool {
        lastValue = v
        let gain = metric.lowerIsBetter ? bestValue - v : v - bestValue
        if v.isFinite && (bestRound == nil || gain > minDelta) {
            bestRound = r
            bestValue = v
            sinceBest = 0
            return true
        }
        sinceBest += 1
        return false
    }

    /// `patience` evaluations in a row without an improvement.
    public var exhausted: Bool { sinceBest >= patience }
}
