import FedSimConfig
import FedSimCore
import FedSimModels

/// The one place that turns `model:` into a parameter layout and initial values, so the
/// coordinator (which knows only `PopulationInfo`) and the devices agree on every offset.
public enum ModelFactory {
    public static func twoTowerShape(_ s: Scenario, _ info: PopulationInfo) -> TwoTowerShape {
        TwoTowerShape(items: info.items, dim: s.model.dim, userFeatures: s.model.userFeatures ? (info.userFeatures ?? 0) : 0,
                      categories: s.model.itemContent ? (info.categories ?? 0) : 0, domains: info.domains ?? [],
                      adapters: s.model.domainAdapters, adapterPrior: s.model.disentangle)
    }

    public static func deepFMShape(_ s: Scenario, _ info: PopulationInfo) -> DeepFMShape {
        DeepFMShape(items: info.items, dim: s.model.dim, hidden: s.model.hidden, userFeatures: s.model.userFeatures ? (info.userFeatures ?? 0) : 0,
                    categories: s.model.itemContent ? (info.categories ?? 0) : 0, domains: info.domains ?? [])
    }

    public static func lsttmShape(_ s: Scenario, _ info: PopulationInfo) -> LSTTMShape {
        LSTTMShape(items: info.items, dim: s.model.dim, hidden: s.model.hidden, categories: s.model.itemContent ? (info.categories ?? 0) : 0,
                   gated: s.model.lsttm.fusion == .gate)
    }

    /// Everything that travels: the shared and domain groups.
    public static func layout(_ s: Scenario, _ info: PopulationInfo) -> ParameterLayout {
        switch s.model.kind {
        case .mf: return MatrixFactorization.sharedLayout(items: info.items, dim: s.model.dim)
        case .twoTower: return twoTowerShape(s, info).layout
        case .deepfm: return deepFMShape(s, info).layout
        case .lsttm: return lsttmShape(s, info).layout
        }
    }

    public static func initialShared(_ s: Scenario, _ info: PopulationInfo) -> [Float] {
        let mid = (info.ratingMin + info.ratingMax) / 2
        switch s.model.kind {
        case .mf:
            return MatrixFactorization.initialShared(items: info.items, dim: s.model.dim, initStd: s.model.initStd, globalBias: mid, seed: s.seed)
        case .twoTower:
            return twoTowerShape(s, info).initialShared(initStd: s.model.initStd, globalBias: mid, seed: s.seed)
        case .deepfm:
            return deepFMShape(s, info).initialShared(initStd: s.model.initStd, seed: s.seed)
        case .lsttm:
            return lsttmShape(s, info).initialShared(initStd: s.model.initStd, seed: s.seed)
        }
    }
}
