import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import Testing

/// A compromised client that keeps honest weights and lies only in Δ: the first update it
/// sends each round claims Δ = +1000 on every element it touched (wΔ = 1000·w, far inside the
/// wire's |x| < 2¹⁶). The coordinator clips each element's Δ to `UpdateBounds.maxDelta`, so
/// the lie is bounded, not eliminated: docs/reliability.md gives what it still costs per rule.
struct DeltaLiarConnection<Base: ClientConnection>: ClientConnection {
    let base: Base
    let layout: ParameterLayout
    let lied = Rounds()
    final class Rounds: @unchecked Sendable { var seen = Set<UInt32>() }

    var inbound: AsyncThrowingStream<Message, Error> { base.inbound }

    func send(_ message: Message) async throws {
        guard case .update(var u) = message, lied.seen.insert(u.round).inserted else {
            return try await base.send(message)
        }
        let slots = layout.elementWeightSlots()
        let weights = u.weights
        var delta = u.weightedDelta
        for e in delta.indices {
            let w = weights[Int(slots[e])]
            delta[e] = w > 0 ? min(60_000, 1000 * w) : 0
        }
        u.sparseDelta = SparseFloats(dense: delta)
        try await base.send(.update(u))
    }

    func close() async { await base.close() }
}

@Suite struct WithinBoundsLieTests {
    static func run(_ s: Scenario, lying: Bool) async throws -> (metrics: [[String: Any]], model: [Float]) {
        let h = CoordinatorHarness(s)
        var tasks = [h.client(0)]
        if lying {
            let shard = Sharding.range(process: 1, of: 2, devices: h.population.deviceCount)
            let host = try DeviceHost(scenario: s, population: h.population, shard: shard)
            let runner = ClientRunner(
                host: host,
                processIndex: 1,
                processCount: 2,
                token: h.token,
                enrollment: h.enrollment
            )
            let connection = DeltaLiarConnection(base: h.transport.connect(), layout: h.coordinator.layout)
            tasks.append(
                Task {
                    do {
                        try await runner.run(connection)
                        return nil
                    } catch { return error }
                }
            )
        } else {
            tasks.append(h.client(1))
        }
        try await h.coordinator.run()
        for t in tasks { #expect(await t.value == nil) }
        return (h.metrics, h.coordinator.model)
    }

    /// On the old coordinator Δ = 1000 went into every rule unbounded. Now every round clips
    /// it (`bounded_at_coordinator`), no parameter moves by more than 4 a round, and the
    /// norm-bounded rule (which also bounds each device's whole update) ends within 0.02 RMSE
    /// of the fault-free run.
    @Test(arguments: [TrainingConfig.Aggregation.mean, .median, .trimmedMean, .normBounded])
    func aLieInDeltaIsClippedToTheBound(rule: TrainingConfig.Aggregation) async throws {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 8, perRound: 30)
        s.training.aggregation = rule == .normBounded ? .normBounded(bound: 0.5) : AggregationRule(rule)
        let clean = try await Self.run(s, lying: false)
        let lying = try await Self.run(s, lying: true)
        #expect(lying.metrics.count == 8)
        #expect(lying.metrics.allSatisfy { ($0["bounded_at_coordinator"] as? Int ?? 0) > 0 })
        let drift = zip(clean.model, lying.model).map { abs($0 - $1) }.max() ?? .infinity
        #expect(drift <= 8 * 4, "a parameter moved \(drift) from the fault-free run in 8 rounds")
        if rule == .normBounded {
            let rmse = { (m: [[String: Any]]) in (m.last?["eval"] as? [String: Any])?["rmse"] as? Double ?? .nan }
            #expect(abs(rmse(lying.metrics) - rmse(clean.metrics)) <= 0.02)
        }
    }
}
