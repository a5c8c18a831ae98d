import FedSimAggregation
import FedSimConfig
import FedSimModels
import Foundation

/// The server step inside a round strategy's `aggregateFit` (`FedAvgStrategy`): how the
/// aggregated update Δ, the mean of the devices' x_local − x, becomes the next model, and the
/// state that must survive a checkpoint. A pure function of Δ and its state, so the health
/// guard around it can refuse a step by not keeping its result.
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
public struct DelayedGroups: ServerStrategy {
    var inner: any ServerStrategy
    let delayed: DelayedUpdate
    var pending: [Int: [Float]] = [:]

    public init(_ inner: any ServerStrategy, delayed: DelayedUpdate) {
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

/// A server learning-rate schedule around any strategy: round r's step (the change the inner
/// strategy makes to the model) is scaled by γ^(r−1). Scaling the step rather than Δ is what a
/// learning rate is for every server optimizer: FedAdam normalises Δ, so scaling Δ would do
/// nothing there. The inner strategy's state (momentum, moments) is its own, unscaled.
public struct DecayedLearningRate: ServerStrategy {
    var inner: any ServerStrategy
    let decay: Double

    public init(_ inner: any ServerStrategy, decay: Double) {
        self.inner = inner
        self.decay = decay
    }

    public func scale(round r: Int) -> Float { Float(pow(decay, Double(max(0, r - 1)))) }

    public mutating func aggregateFit(_ update: [Float], round r: Int, model: inout [Float]) {
        let before = model
        inner.aggregateFit(update, round: r, model: &model)
        let s = scale(round: r)
        for i in model.indices { model[i] = before[i] + s * (model[i] - before[i]) }
    }

    public var state: StrategyState {
        get { inner.state }
        set { inner.state = newValue }
    }
}

/// The server-step recipe: the only place that decides how a scenario's server step composes.
public enum ServerStrategies {
    public static func make(_ scenario: Scenario, model: any RecommenderModel) -> any ServerStrategy {
        let server = scenario.training.server
        var strategy: any ServerStrategy = FedOptStrategy(config: server, count: model.layout.count)
        if let delayed = model.delayedUpdate { strategy = DelayedGroups(strategy, delayed: delayed) }
        // Only a real schedule wraps: γ = 1 leaves the step exactly as the optimizer makes it.
        if server.learningRateDecay < 1 { strategy = DecayedLearningRate(strategy, decay: server.learningRateDecay) }
        return strategy
    }
}
