import FedSimAggregation
import FedSimConfig
import FedSimModels

/// The server's policy once a round's updates are aggregated (Flower's `aggregate_fit` after
/// the aggregation itself): how the aggregated update Δ, the mean of the devices'
/// x_local − x, becomes the next model, and the state that must survive a checkpoint.
///
/// Strategies compose: `ServerStrategies.make` wraps the server optimizer (FedAvg, FedAvgM,
/// FedAdam, FedYogi) in `DelayedGroups` when the model federates a slice on its own, slower
/// cadence (LSTTM's long-term module).
public protocol ServerStrategy: Sendable {
    /// Applies round r's aggregated update to `model`.
    mutating func aggregateFit(_ update: [Float], round r: Int, model: inout [Float])
    /// What a checkpoint keeps, and what a resume puts back.
    var state: StrategyState { get set }
}

/// A strategy's checkpointable state: the server optimizer's moments and updates held back
/// for later rounds (keyed by the round they land in).
public struct StrategyState: Sendable, Equatable {
    public var momentum: [Float] = []
    public var variance: [Float] = []
    public var delayed: [Int: [Float]] = [:]
    public init() {}
}

/// The adaptive federated optimizers of Reddi et al. 2021 (`training.server`), through
/// `ServerOptimizer`.
public struct FedOptStrategy: ServerStrategy {
    var optimizer: ServerOptimizer

    public init(config: ServerOptimizerConfig, count: Int) {
        optimizer = ServerOptimizer(config: config, count: count)
    }

    public mutating func aggregateFit(_ update: [Float], round r: Int, model: inout [Float]) {
        optimizer.apply(update, to: &model)
    }

    public var state: StrategyState {
        get {
            var s = StrategyState()
            s.momentum = optimizer.momentum
            s.variance = optimizer.variance
            return s
        }
        set {
            optimizer.momentum = newValue.momentum
            optimizer.variance = newValue.variance
        }
    }
}

/// Holds a model's delayed slice (`RecommenderModel.delayedUpdate`) back: round r's part of it
/// arrives with round r + D's update, so what a device trains against in between is that slice
/// as it was D rounds earlier (LSTTM's long-term module federates asynchronously to the rest).
public struct DelayedGroups<Inner: ServerStrategy>: ServerStrategy {
    var inner: Inner
    let delayed: DelayedUpdate
    var pending: [Int: [Float]] = [:]

    public init(_ inner: Inner, delayed: DelayedUpdate) {
        self.inner = inner
        self.delayed = delayed
    }

    public mutating func aggregateFit(_ update: [Float], round r: Int, model: inout [Float]) {
        let range = delayed.range
        var now = update
        pending[r + delayed.delay] = Array(update[range])
        let arriving = pending.removeValue(forKey: r)
        for i in range { now[i] = arriving?[i - range.lowerBound] ?? 0 }
        inner.aggregateFit(now, round: r, model: &model)
    }

    public var state: StrategyState {
        get {
            var s = inner.state
            s.delayed = pending
            return s
        }
        set {
            inner.state = newValue
            pending = newValue.delayed
        }
    }
}

/// The strategy recipe: the only place that decides how a scenario's server step composes.
public enum ServerStrategies {
    public static func make(_ scenario: Scenario, model: any RecommenderModel) -> any ServerStrategy {
        let fedopt = FedOptStrategy(config: scenario.training.server, count: model.layout.count)
        guard let delayed = model.delayedUpdate else { return fedopt }
        return DelayedGroups(fedopt, delayed: delayed)
    }
}
