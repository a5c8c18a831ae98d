import FedSimConfig

/// Applies the aggregated client update Δ (the mean of clients' x_local − x) to the global
/// model, per Reddi et al. 2021 ("Adaptive Federated Optimization"), which treats −Δ as a
/// pseudo-gradient:
///
/// - FedAvg:  x ← x + η Δ
/// - FedAvgM: m ← β m + Δ;  x ← x + η m
/// - FedAdam: m ← β₁ m + (1−β₁) Δ;  v ← β₂ v + (1−β₂) Δ²;  x ← x + η m / (√v + τ)
/// - FedYogi: as FedAdam but v ← v − (1−β₂) Δ² sign(v − Δ²)
///
/// State (m, v) is part of the server's checkpointable state.
public struct ServerOptimizer: Sendable, Equatable, Codable {
    public var config: ServerOptimizerConfig
    public var momentum: [Float]
    public var variance: [Float]

    public init(config: ServerOptimizerConfig, count: Int) {
        self.config = config
        momentum = config.optimizer == .fedavg ? [] : [Float](repeating: 0, count: count)
        // Reddi et al. initialise v to τ²; this keeps early steps bounded by η Δ / (|Δ| + τ).
        variance =
            (config.optimizer == .fedadam || config.optimizer == .fedyogi)
            ? [Float](repeating: Float(config.tau * config.tau), count: count) : []
    }

    public mutating func apply(_ delta: [Float], to x: inout [Float]) {
        precondition(delta.count == x.count)
        let lr = Float(config.learningRate)
        switch config.optimizer {
        case .fedavg:
            for i in 0..<x.count { x[i] += lr * delta[i] }
        case .fedavgm:
            let b = Float(config.momentum)
            for i in 0..<x.count {
                momentum[i] = b * momentum[i] + delta[i]
                x[i] += lr * momentum[i]
            }
        case .fedadam, .fedyogi:
            let b1 = Float(config.beta1)
            let b2 = Float(config.beta2)
            let tau = Float(config.tau)
            let yogi = config.optimizer == .fedyogi
            for i in 0..<x.count {
                let g = delta[i]
                momentum[i] = b1 * momentum[i] + (1 - b1) * g
                let g2 = g * g
                if yogi {
                    let s: Float = variance[i] - g2 > 0 ? 1 : (variance[i] - g2 < 0 ? -1 : 0)
                    variance[i] -= (1 - b2) * g2 * s
                } else {
                    variance[i] = b2 * variance[i] + (1 - b2) * g2
                }
                x[i] += lr * momentum[i] / (variance[i].squareRoot() + tau)
            }
        }
    }
}
