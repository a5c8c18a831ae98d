import FedSimConfig
import FedSimCore

/// The mini-batch loop every model's local training shares: `epochs` passes, each over a fresh
/// Fisher–Yates shuffle (continued from the previous pass's order, with the device's own
/// generator) cut into consecutive batches of `batchSize`. The model supplies one pass
/// (`run`'s `epoch`), which steps its own kernel on each batch of `batches(n)` and returns the
/// pass's summed loss; the loop returns the last pass's mean.
///
/// FedProx's proximal term (Li et al. 2020) lives here too: with μ = `proximalMu` > 0 the local
/// objective is F(w) + (μ/2)‖w − w_t‖² over the shared and domain groups, w_t being the model
/// the round started from. Its gradient step, w ← w − η·μ·(w − w_t), is `pull`, which a model
/// calls after each batch on every federated parameter of its local view; μ = 0 skips it, so
/// plain FedAvg is exactly as before.
public struct LocalLoop: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var proximalMu: Float

    public init(_ config: LocalTrainingConfig, epochs: Int? = nil) {
        self.epochs = epochs ?? config.epochs
        batchSize = max(1, config.batchSize)
        learningRate = Float(config.learningRate)
        proximalMu = Float(config.proximalMu)
    }

    /// Runs the passes over `order` (the examples to train on, shuffled in place every pass).
    /// Returns the last pass's mean loss (0 without examples or passes).
    @discardableResult
    public func run(_ order: [Int], rng: inout some RandomNumberGenerator, epoch: ([Int]) -> Float) -> Double {
        var order = order
        var last = 0.0
        for _ in 0..<epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextBounded(i + 1)) }
            let sum = epoch(order)
            last = order.isEmpty ? 0 : Double(sum) / Double(order.count)
        }
        return last
    }

    /// The consecutive batches of one pass over `n` examples.
    public func batches(_ n: Int) -> [Range<Int>] {
        stride(from: 0, to: n, by: batchSize).map { $0..<min(n, $0 + batchSize) }
    }

    /// Whether the proximal term is on (μ > 0).
    public var isProximal: Bool { proximalMu > 0 }

    /// The proximal step on `w[from...]` towards the round's start `start` (same length): a
    /// no-op when μ = 0. `from` skips a leading personal part (DeepFM's user row).
    @inlinable
    public func pull(_ w: inout [Float], towards start: [Float], from lower: Int = 0) {
        guard proximalMu > 0 else { return }
        let k = learningRate * proximalMu
        w.withUnsafeMutableBufferPointer { p in
            start.withUnsafeBufferPointer { s in
                for i in lower..<p.count { p[i] -= k * (p[i] - s[i]) }
            }
        }
    }

    /// The proximal step on one scalar.
    @inlinable
    public func pull(_ w: inout Float, towards start: Float) {
        guard proximalMu > 0 else { return }
        w -= learningRate * proximalMu * (w - start)
    }
}
