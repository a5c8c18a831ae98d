import FedSimConfig
import FedSimCore
import FedSimModels

/// A `lie` fault (`runtime.faults`): the process acts as a compromised client with a valid
/// token. From the fault's round on, every round, it lies for one device of each request (the
/// `after_updates`-th), in the ways an honest device's own checks would never allow:
///
/// - its update's weights are divided by `scale`, its weighted delta kept, so the Δ = wΔ / w
///   any aggregation rule derives is `scale` times the honest one;
/// - its training loss is +∞ and it claims 2³²−1 training examples;
/// - its evaluation entry claims 10⁹ held-out ratings with zero error and perfect ranking.
///
/// The coordinator must refuse each (docs/reliability.md, threat model).
struct Liar: Sendable {
    let fault: FaultConfig

    init?(_ faults: [FaultConfig]) {
        guard let f = faults.first(where: { $0.kind == .lie }) else { return nil }
        fault = f
    }

    /// Whether the device at `position` of round `round`'s request is the one it lies for.
    func liesFor(position: Int, round: Int) -> Bool {
        round >= fault.round && position == fault.afterUpdates
    }

    func forge(_ u: inout LocalUpdate) {
        let s = Float(max(1, fault.scale))
        for i in u.weights.indices { u.weights[i] /= s }
        u.trainLoss = .infinity
        u.examples = Int(UInt32.max)
    }

    func forge(_ e: inout DeviceEvaluation) {
        e.count = 1_000_000_000
        e.squaredError = 0
        e.absoluteError = 0
        e.hit = 1
        e.ndcg = 1
    }
}
