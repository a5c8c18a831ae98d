import FedSimConfig
import FedSimData

/// The one place that knows which type implements each `model.kind`. Adding a model is a
/// folder with a `RecommenderModel` and one line here (docs/extending.md); nothing else in
/// the runtime asks which model it runs.
public enum ModelRegistry {
    public static func type(of kind: ModelConfig.Kind) -> any RecommenderModel.Type {
        switch kind {
        case .mf: MatrixFactorizationModel.self
        case .twoTower: TwoTowerModel.self
        case .deepfm: DeepFMModel.self
        case .lsttm: LSTTMModel.self
        case .svdpp: SVDPPModel.self
        }
    }

    /// The run's model, built from what this side of the run knows (`ModelContext`).
    public static func make(_ context: ModelContext) -> any RecommenderModel {
        type(of: context.scenario.model.kind).init(context)
    }

    /// The coordinator's view: layout, initial values and server-side hooks.
    public static func make(_ scenario: Scenario, _ info: PopulationInfo) -> any RecommenderModel {
        make(ModelContext(scenario: scenario, info: info))
    }
}
