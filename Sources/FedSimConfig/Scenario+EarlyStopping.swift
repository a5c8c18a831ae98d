import FedSimCore

/// Early stopping on the validation split (`training.early_stopping`, docs/scenarios.md).
///
/// Every evaluation round the devices also score their validation part; the coordinator keeps
/// the model of the best round so far (and the devices keep their personal parameters of that
/// round). After `patience` evaluations without an improvement of at least `min_delta`, or at
/// the last round, the run restores that model and reports its test metrics, so the test split
/// never chooses anything.
public struct EarlyStoppingConfig: Codable, Sendable, Equatable {
    /// The validation metric that picks the best round. `rmse` is lower-is-better; the ranking
    /// ones are higher-is-better; `*_sampled` rank against `evaluation.sampled_negatives`.
    public enum Metric: String, Codable, Sendable, CaseIterable {
        case rmse
        case ndcg
        case hr
        case ndcgSampled = "ndcg_sampled"
        case hrSampled = "hr_sampled"
        public var lowerIsBetter: Bool { self == .rmse }
        public var needsSampledNegatives: Bool { self == .ndcgSampled || self == .hrSampled }
    }
    public var enabled = false
    public var metric: Metric = .rmse
    /// Evaluations (not rounds) without improvement before the run stops.
    public var patience = 5
    /// An improvement smaller than this does not count (absolute, in the metric's units).
    public var minDelta = 0.0
    public init() {}
}

extension EarlyStoppingConfig {
    init(reading r: ConfigReader) {
        self.init()
        enabled = r.bool("enabled", default: enabled)
        metric = r.choice("metric", default: metric)
        patience = r.int("patience", default: patience, range: 1...100_000)
        minDelta = r.double("min_delta", default: minDelta, min: 0, max: 100)
        r.finish()
    }
}

/// `evaluation.bias_baseline`: the shrinkage of the bias-only reference (Koren 2008's
/// defaults: an item's bias counts as if it had 25 more ratings at the mean, a user's 10).
public struct BiasBaselineConfig: Codable, Sendable, Equatable {
    public var enabled = false
    public var itemShrinkage = 25.0
    public var userShrinkage = 10.0
    public init() {}
}

extension BiasBaselineConfig {
    init(reading r: ConfigReader) {
        self.init()
        enabled = r.bool("enabled", default: enabled)
        itemShrinkage = r.double("item_shrinkage", default: itemShrinkage, min: 0, max: 1e6)
        userShrinkage = r.double("user_shrinkage", default: userShrinkage, min: 0, max: 1e6)
        r.finish()
    }
}

extension Scenario {
    /// The validation split and early stopping against the rest of the scenario.
    func validationChecks() -> [(String, String)] {
        var out: [(String, String)] = []
        let es = training.earlyStopping
        let split = data.split
        if split.validation && evaluation.every == 0 {
            out.append(
                (
                    "data.split.validation",
                    "the validation split is scored at evaluation rounds; set evaluation.every > 0"
                )
            )
        }
        if split.validation && training.async.enabled {
            out.append(
                (
                    "data.split.validation",
                    "validation and early stopping are implemented for synchronous rounds; drop training.async"
                )
            )
        }
        if split.validation && evaluation.coldStart.enabled {
            out.append(
                (
                    "data.split.validation",
                    "the cold-start protocols hold out their own parts; drop data.split.validation or evaluation.cold_start"
                )
            )
        }
        if split.validation && training.mode == .centralized {
            out.append(
                (
                    "data.split.validation",
                    "validation is scored by the devices in federated runs; the centralized reference has none yet"
                )
            )
        }
        if es.enabled && !split.validation {
            out.append(
                (
                    "training.early_stopping.enabled",
                    "early stopping needs a validation split; set data.split.validation: true (the test split never chooses the round)"
                )
            )
        }
        if es.enabled && es.metric.needsSampledNegatives && evaluation.sampledNegatives == 0 {
            out.append(
                ("training.early_stopping.metric", "\(es.metric.rawValue) needs evaluation.sampled_negatives > 0")
            )
        }
        if es.enabled && privacy.audit != nil {
            out.append(
                (
                    "training.early_stopping.enabled",
                    "a privacy audit counts every round's release; run it without early stopping"
                )
            )
        }
        if evaluation.biasBaseline.enabled && training.mode != .federated {
            out.append(("evaluation.bias_baseline.enabled", "the bias-only reference is reported in federated runs"))
        }
        if evaluation.biasBaseline.enabled && evaluation.coldStart.enabled {
            // Its fit reads every device's training split, held-out users' and domains' included.
            out.append(
                (
                    "evaluation.bias_baseline.enabled",
                    "with a cold-start protocol the held-out devices would enter the reference's fit; the cold-start entries carry their own bias-only adaptation baseline (fitted on the warm devices only)"
                )
            )
        }
        if training.local.learningRateSchedule != .constant
            && (!ModelTraits.of(model.kind).learningRateSchedules || training.mode != .federated)
        {
            out.append(
                (
                    "training.local.learning_rate_schedule",
                    "local learning-rate schedules are implemented for federated model.kind: \(ModelTraits.kinds { $0.learningRateSchedules })"
                )
            )
        }
        if training.itemShrinkage > 0 && training.weighting != .perItem {
            out.append(("training.item_shrinkage", "shrinks per-item means; needs training.weighting: per_item"))
        }
        return out
    }
}
