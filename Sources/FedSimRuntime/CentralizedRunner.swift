import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import Foundation

/// The reference every federated run is compared with: the same MF model, trained on all
/// devices' training ratings pooled in one place, evaluated with the same on-device metrics
/// and splits. One "round" is one epoch over the pooled data.
public enum CentralizedRunner {
    public static func run(
        scenario: Scenario,
        population: any Population,
        dir: RunDirectory,
        progress: ((Int) -> Void)? = nil
    ) throws {
        let started = monotonicSeconds()
        let sink = try FileMetricsSink(path: dir.metricsFile)
        let splitter = Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        let nUsers = population.deviceCount
        let nItems = population.itemCount
        let d = scenario.model.dim
        var data: [DeviceData] = []
        data.reserveCapacity(nUsers)
        for u in 0..<nUsers { data.append(population.deviceData(u, split: splitter)) }
        var users: [Int32] = []
        var items: [Int32] = []
        var ratings: [Float] = []
        for (u, dd) in data.enumerated() {
            for j in 0..<dd.train.count {
                users.append(Int32(u))
                items.append(dd.train.items[j])
                ratings.append(dd.train.ratings[j])
            }
        }
        // Same initialisation as the federated run: shared part from the coordinator's seed,
        // personal part per device.
        var block = MFBlock<Float>(dim: d, users: nUsers, items: nItems)
        let mid = (population.ratingScale.lowerBound + population.ratingScale.upperBound) / 2
        let shared = MatrixFactorization.initialShared(
            items: nItems,
            dim: d,
            initStd: scenario.model.initStd,
            globalBias: mid,
            seed: scenario.seed
        )
        block.item = Array(shared[0..<(nItems * d)])
        block.globalBias = shared[nItems * d + nItems]
        for u in 0..<nUsers {
            let p = MatrixFactorization.initialPersonal(
                dim: d,
                initStd: scenario.model.initStd,
                seed: scenario.seed,
                device: u
            )
            for f in 0..<d { block.user[u * d + f] = p[f] }
        }
        var grad = MFBlock<Float>(dim: d, users: nUsers, items: nItems)
        var step = SparseStep(config: scenario.training.local, shapeOf: block)
        let evaluator = Evaluator.of(scenario, population: population, categories: false, sampled: true)
        var rng = Seeds.rng(scenario.seed, "centralized")
        let n = ratings.count
        var order = Array(0..<n)
        var last: EvaluationSummary?
        let bs = scenario.training.local.batchSize
        for epoch in 1...scenario.training.rounds {
            let t0 = monotonicSeconds()
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextBounded(i + 1)) }
            let batch = MFBatch(
                users: order.map { users[$0] },
                items: order.map { items[$0] },
                ratings: order.map { ratings[$0] }
            )
            var lossSum: Float = 0
            var s = 0
            while s < n {
                let r = s..<min(n, s + bs)
                lossSum += MFKernel.accumulateGradient(
                    block,
                    batch,
                    range: r,
                    l2: Float(scenario.training.local.l2),
                    into: &grad
                )
                step.apply(&block, &grad, users: batch.users, items: batch.items, range: r, updateGlobalBias: true)
                s = r.upperBound
            }
            var line = RoundMetrics(round: epoch)
            line.examples = n
            line.trainLoss = Double(lossSum) / Double(max(n, 1))
            let every = scenario.evaluation.every
            if epoch == scenario.training.rounds || (every > 0 && epoch % every == 0) {
                let sharedNow = block.item + block.itemBias + [block.globalBias]
                var evals: [DeviceEvaluation] = []
                for u in 0..<nUsers {
                    let personal = Array(block.user[(u * d)..<((u + 1) * d)]) + [block.userBias[u]]
                    evals.append(
                        evaluator.evaluate(
                            device: u,
                            shared: sharedNow,
                            personal: personal,
                            items: nItems,
                            dim: d,
                            train: data[u].train,
                            test: data[u].test
                        )
                    )
                }
                let summary = EvaluationSummary(evals)
                last = summary
                line.eval = Coordinator.metrics(summary, k: scenario.evaluation.k)
            }
            line.roundSeconds = monotonicSeconds() - t0
            line.wallSeconds = monotonicSeconds() - started
            try sink.record(line)
            progress?(epoch)
        }
        let final = block.item + block.itemBias + [block.globalBias]
        try ModelFile.save(final, layout: MatrixFactorization.sharedLayout(items: nItems, dim: d), in: dir)
        var s = RunSummary(
            scenario: scenario.name,
            status: .completed,
            mode: "centralized",
            seed: Int(truncatingIfNeeded: scenario.seed),
            final: CoordinatorProcess.finalMetrics(last, k: scenario.evaluation.k)
        )
        s.rounds = scenario.training.rounds
        let secs = monotonicSeconds() - started
        s.wallSeconds = secs
        s.examplesPerSecond = Double(n * scenario.training.rounds) / max(secs, 1e-9)
        try dir.write(try MetricsJSON.line(s) + "\n", to: "summary.json")
    }
}
