/// Meta-SGD (Li et al. 2017): the inner loop's learning rates are parameters too. Each
/// adapted group has one rate per column of its rows (the user offset's d + 1 coordinates,
/// the d + 1 of every genre row, …), a shared tensor that is trained by the outer step like
/// the initialisation and aggregated with it (so secure aggregation, clipping and DP noise
/// apply to it as to any shared tensor). Adaptation at evaluation then steps each coordinate
/// by its learned rate: what a few ratings can move is learned, not fixed by one scalar.
///
/// `meta.rate_learning_rate` is the rates' own outer step: their gradient has another scale
/// than the initialisation's. `meta.max_inner_learning_rate` bounds them after every outer
/// step (a projected step): a rate past the support loss's curvature would make the inner
/// loop diverge before the outer step sees it.
public enum InnerRates {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// One rate, `inner_learning_rate` (and `personalization.adaptation.learning_rate`).
        case fixed
        /// Meta-SGD: per-coordinate rates, initialised at `inner_learning_rate`, learned.
        case learned
    }
}

extension MetaConfig {
    init(reading r: ConfigReader) {
        self.init()
        algorithm = r.choice("algorithm", default: algorithm)
        task = r.choice("task", default: task)
        innerSteps = r.int("inner_steps", default: innerSteps, range: 1...10_000)
        innerLearningRate = r.double(
            "inner_learning_rate",
            default: innerLearningRate,
            min: 0,
            max: 100,
            exclusiveMin: true
        )
        outerLearningRate = r.double(
            "outer_learning_rate",
            default: outerLearningRate,
            min: 0,
            max: 100,
            exclusiveMin: true
        )
        episodes = r.int("episodes", default: episodes, range: 1...10_000)
        outerStep = r.choice("outer_step", default: outerStep)
        supportSizes = r.intList("support_sizes", default: supportSizes, range: 1...100_000)
        if supportSizes.isEmpty { r.fail("support_sizes", "needs at least one size") }
        innerGroups = r.groupList("inner_groups", default: innerGroups)
        if innerGroups.isEmpty { r.fail("inner_groups", "needs at least one group (personal, domain)") }
        queryBatch = r.int("query_batch", default: queryBatch, range: 0...1_000_000)
        periods = r.int("periods", default: periods, range: 2...10_000)
        innerLearningRates = r.choice("inner_learning_rates", default: innerLearningRates)
        let defaults = (rateLearningRate, maxInnerLearningRate)
        rateLearningRate = r.double("rate_learning_rate", default: rateLearningRate, min: 0, max: 1e6)
        maxInnerLearningRate = r.double(
            "max_inner_learning_rate",
            default: maxInnerLearningRate,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        // A value that would change nothing (the default, as scenario.json writes it) is fine.
        if !learnedRates {
            for (key, set) in [
                ("rate_learning_rate", rateLearningRate != defaults.0),
                ("max_inner_learning_rate", maxInnerLearningRate != defaults.1),
            ] where set {
                r.fail(key, "applies with inner_learning_rates: learned (Meta-SGD) only")
            }
        }
        r.finish()
    }

    /// Meta-SGD's learned inner rates are on.
    public var learnedRates: Bool { innerLearningRates == .learned }

    /// The outer step of the learned rates.
    public var rateStep: Double { rateLearningRate > 0 ? rateLearningRate : outerLearningRate }
}

extension Scenario {
    /// Where learned inner rates apply: two_tower's FO-MAML on new users or a new domain, with
    /// adaptation at evaluation running the very loop the rates were learned for.
    func metaRateChecks(_ t: ModelTraits) -> [(String, String)] {
        guard meta.learnedRates else { return [] }
        let key = "meta.inner_learning_rates"
        if !t.learnedInnerRates {
            return [(key, "learned needs model.kind: \(ModelTraits.kinds { $0.learnedInnerRates })")]
        }
        if meta.algorithm != .fomaml {
            return [(key, "learned takes the first-order MAML outer gradient; needs meta.algorithm: fomaml")]
        }
        var out: [(String, String)] = []
        if meta.task == .temporal || evaluation.coldStart.protocol == .temporal {
            out.append((key, "learned applies to random and domain tasks (the temporal protocol adapts online)"))
        }
        let adaptation = personalization.adaptation
        if Set(adaptation.groups) != Set(meta.innerGroups) {
            out.append(
                (
                    "personalization.adaptation.groups",
                    "with learned inner rates, adaptation runs the learned loop: list meta.inner_groups' groups (\(meta.innerGroups.map(\.rawValue).joined(separator: ", ")))"
                )
            )
        }
        if adaptation.steps != meta.innerSteps {
            out.append(
                (
                    "personalization.adaptation.steps",
                    "with learned inner rates, adaptation takes the meta.inner_steps (\(meta.innerSteps)) steps the rates were learned for"
                )
            )
        }
        return out
    }
}
