import FedSimConfig
import FedSimCore

/// How meta-training cuts a device's examples into episodes (support, query).
extension TwoTowerTrainer {
    /// Temporal tasks of a device, shuffled: (a period with data, the next period with data).
    /// nil when tasks are random.
    func temporalPairs(_ v: TwoTowerView, rng: inout some RandomNumberGenerator) -> [([Int], [Int])]? {
        guard meta.task == .temporal, let periodOf else { return nil }
        var byPeriod: [Int: [Int]] = [:]
        for j in 0..<v.examples.count { byPeriod[periodOf(v.timestamps[j]), default: []].append(j) }
        let periods = byPeriod.keys.sorted()
        var pairs: [([Int], [Int])] = []
        for p in periods.indices.dropLast() { pairs.append((byPeriod[periods[p]]!, byPeriod[periods[p + 1]]!)) }
        for i in stride(from: pairs.count - 1, to: 0, by: -1) { pairs.swapAt(i, rng.nextBounded(i + 1)) }
        return pairs
    }

    /// Support and query indices of one random-task (or domain-task) episode.
    func episodeSplit(_ v: TwoTowerView, rng: inout some RandomNumberGenerator) -> ([Int], [Int])? {
        var pool = Array(0..<v.examples.count)
        if meta.task == .domain {
            var byDomain: [Int32: [Int]] = [:]
            for j in pool { byDomain[itemDomains[Int(v.globalItem(j))], default: []].append(j) }
            let eligible = byDomain.keys.sorted().filter { byDomain[$0]!.count >= 2 }
            guard !eligible.isEmpty else { return nil }
            pool = byDomain[eligible[rng.nextBounded(eligible.count)]]!
        }
        let n = pool.count
        guard n >= 2 else { return nil }
        var order = pool
        if meta.task == .ordered {
            order.sort { (v.timestamps[$0], $0) < (v.timestamps[$1], $1) }
        } else {
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextBounded(i + 1)) }
        }
        if meta.algorithm == .perfedavg {
            // Two independent mini-batches: D for the inner step, D' for the outer one.
            let b = min(max(1, local.batchSize), n)
            var second = pool
            for i in stride(from: n - 1, to: 0, by: -1) { second.swapAt(i, rng.nextBounded(i + 1)) }
            return (Array(order.prefix(b)), Array(second.prefix(b)))
        }
        let k = min(meta.supportSizes[rng.nextBounded(meta.supportSizes.count)], n - 1)
        return (Array(order.prefix(k)), capped(Array(order.dropFirst(k)), rng: &rng))
    }

    func capped(_ q: [Int], rng: inout some RandomNumberGenerator) -> [Int] {
        guard meta.queryBatch > 0, q.count > meta.queryBatch else { return q }
        var q = q
        for i in 0..<meta.queryBatch { q.swapAt(i, i + rng.nextBounded(q.count - i)) }
        return Array(q.prefix(meta.queryBatch))
    }
}
