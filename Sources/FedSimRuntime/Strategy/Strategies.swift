import FedSimConfig
import FedSimModels

/// The round-strategy recipe: the only place that decides how a scenario's strategy composes.
public enum Strategies {
    /// The FedAvg family around the scenario's server step, wrapped by the privacy stage when
    /// `privacy` (the DP state, ledger and audit the coordinator opened) is given.
    public static func make(
        _ scenario: Scenario,
        model: any RecommenderModel,
        privacy: (state: DPState, ledger: PrivacyLedger?, audit: CanaryAudit?)?
    ) -> any Strategy {
        var strategy: any Strategy = FedAvgStrategy(
            step: ServerStrategies.make(scenario, model: model),
            rounds: scenario.training.rounds,
            evaluateEvery: scenario.evaluation.every
        )
        if let privacy {
            strategy = DifferentialPrivacy(strategy, state: privacy.state, ledger: privacy.ledger, audit: privacy.audit)
        }
        return strategy
    }
}
