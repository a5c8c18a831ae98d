import FedSimConfig
import FedSimCore

/// A population re-cut into devices by a `Partitioner`: every interaction of the base
/// population is pooled and dealt out again. Devices are then not users, so their profile
/// features are unknown (all zero); their data is what the partition gave them, ordered by
/// (timestamp, item) like every other population.
///
/// Built from the seed alone, so each process that needs it rebuilds the same partition.
/// It costs O(total interactions) memory per process: meant for ML-100K-sized pools, not for
/// 100,000-device synthetic populations (which have natural and domain-skewed devices).
public struct PartitionedPopulation: Population {
    public let name: String
    public let base: any Population
    public let method: PartitionConfig.Method
    public var deviceCount: Int { offsets.count - 1 }
    public var itemCount: Int { base.itemCount }
    public var ratingScale: ClosedRange<Float> { base.ratingScale }
    public var itemDomains: [Int32] { base.itemDomains }
    public var domainNames: [String] { base.domainNames }
    public var itemCategories: [Int32] { base.itemCategories }
    public var categoryNames: [String] { base.categoryNames }
    public var userFeatureNames: [String] { base.userFeatureNames }

    let pool: Interactions
    let offsets: [Int]
    let members: [Int32]  // pool indices, grouped by device via offsets

    public init(base: any Population, config: PartitionConfig, seed: UInt64) throws {
        self.base = base
        method = config.method
        name = "\(base.name)/\(config.method.rawValue)"
        var pool = Interactions()
        for d in 0..<base.deviceCount {
            let x = base.interactions(of: d)
            pool.items += x.items
            pool.ratings += x.ratings
            pool.timestamps += x.timestamps
        }
        let labels: [Int32]
        let labelCount: Int
        switch config.label {
        case .domain:
            labels = pool.items.map { base.itemDomains[Int($0)] }
            labelCount = base.domainNames.count
        case .category:
            labels = pool.items.map { base.itemCategories[Int($0)] }
            labelCount = max(1, Int(base.itemCategories.max() ?? 0) + 1)
        }
        let devices = config.devices > 0 ? config.devices : base.deviceCount
        let groups = try Partitioner(config: config, seed: seed)
            .partition(labels: labels, labelCount: labelCount, devices: devices)
        var offsets = [0]
        var members: [Int32] = []
        members.reserveCapacity(pool.count)
        for g in groups {
            // Same order as natural devices: by (timestamp, item), then pool index.
            let sorted = g.sorted {
                (pool.timestamps[$0], pool.items[$0], $0) < (pool.timestamps[$1], pool.items[$1], $1)
            }
            members += sorted.map { Int32($0) }
            offsets.append(members.count)
        }
        self.pool = pool
        self.offsets = offsets
        self.members = members
    }

    public func interactions(of device: Int) -> Interactions {
        pool.subset(members[offsets[device]..<offsets[device + 1]].map { Int($0) })
    }

    public func userFeatures(of device: Int) -> [Int32] { [Int32](repeating: 0, count: userFeatureNames.count) }
}

/// Deals pooled interactions (given by their labels) to devices. Every method is a pure
/// function of (labels, seed), returning each device's pool indices.
public struct Partitioner: Sendable {
    public var config: PartitionConfig
    public var seed: UInt64

    public init(config: PartitionConfig, seed: UInt64) {
        self.config = config
        self.seed = seed
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public func partition(labels: [Int32], labelCount: Int, devices n: Int) throws -> [[Int]] {
        let total = labels.count
        guard n >= 1 else { throw Failure(description: "data.partition.devices: need at least one device") }
        let minimum = config.method == .quantitySkew ? config.minPerDevice : 1
        guard total >= n * minimum else {
            throw Failure(
                description:
                    "data.partition.devices: \(n) devices × at least \(minimum) interactions exceeds the \(total) interactions in the pool"
            )
        }
        var rng = Seeds.rng(seed, "partition")
        switch config.method {
        case .natural:
            throw Failure(description: "natural partitions need no partitioner")
        case .dirichlet:
            return dirichlet(labels: labels, labelCount: labelCount, devices: n, rng: &rng)
        case .shards:
            return try shards(labels: labels, devices: n, rng: &rng)
        case .quantitySkew:
            return quantitySkew(total: total, devices: n, rng: &rng)
        }
    }

    /// Equal sizes (±1). For each device in turn, a label mix q ~ Dir(α·p) with p the global
    /// label distribution; each of its interactions draws a label from q and takes the next
    /// interaction of that label's shuffled pool. Exhausted labels drop out of q (renormalised),
    /// so every interaction is dealt exactly once.
    func dirichlet(labels: [Int32], labelCount: Int, devices n: Int, rng: inout Xoshiro256) -> [[Int]] {
        var pools = [[Int]](repeating: [], count: labelCount)
        for (i, l) in labels.enumerated() { pools[Int(l)].append(i) }
        for c in pools.indices { shuffle(&pools[c], &rng) }
        var next = [Int](repeating: 0, count: labelCount)
        let p = pools.map { Double($0.count) / Double(labels.count) }
        var out: [[Int]] = []
        out.reserveCapacity(n)
        for d in 0..<n {
            let size = labels.count / n + (d < labels.count % n ? 1 : 0)
            var q = rng.nextDirichlet(p.map { config.alpha * $0 })
            var group: [Int] = []
            group.reserveCapacity(size)
            while group.count < size {
                var mass = 0.0
                for c in 0..<labelCount where next[c] < pools[c].count { mass += q[c] }
                if mass <= 0 {
                    // q lives on exhausted labels only: fall back to what is left, by remaining size.
                    for c in 0..<labelCount { q[c] = Double(pools[c].count - next[c]) }
                    continue
                }
                var u = rng.nextUnitDouble() * mass
                var pick = -1
                for c in 0..<labelCount where next[c] < pools[c].count {
                    pick = c
                    u -= q[c]
                    if u < 0 { break }
                }
                group.append(pools[pick][next[pick]])
                next[pick] += 1
            }
            out.append(group)
        }
        return out
    }

    /// Sort by label (ties in random order), cut into n·s equal shards, deal s per device.
    func shards(labels: [Int32], devices n: Int, rng: inout Xoshiro256) throws -> [[Int]] {
        let s = config.shardsPerDevice
        let count = n * s
        guard labels.count >= count else {
            throw Failure(
                description:
                    "data.partition.shards_per_device: \(n) devices × \(s) shards exceeds the \(labels.count) interactions"
            )
        }
        var order = Array(0..<labels.count)
        shuffle(&order, &rng)
        order = order.enumerated().sorted { (labels[$0.element], $0.offset) < (labels[$1.element], $1.offset) }.map(
            \.element
        )
        var shardIDs = Array(0..<count)
        shuffle(&shardIDs, &rng)
        return (0..<n).map { d in
            var g: [Int] = []
            for j in 0..<s {
                let id = shardIDs[d * s + j]
                let lo = id * labels.count / count
                let hi = (id + 1) * labels.count / count
                g += order[lo..<hi]
            }
            return g
        }
    }

    /// IID labels, sizes ∝ log-normal(0, σ) or a Pareto(a) draw, each at least min_per_device,
    /// summing exactly to the pool (largest remainder).
    func quantitySkew(total: Int, devices n: Int, rng: inout Xoshiro256) -> [[Int]] {
        var order = Array(0..<total)
        shuffle(&order, &rng)
        let weights: [Double] = (0..<n).map { _ in
            switch config.sizes {
            case .lognormal: return _exp(config.sizeSigma * rng.nextGaussian())
            case .powerLaw: return _pow(1 - rng.nextUnitDouble(), -1 / (config.sizeExponent - 1))
            }
        }
        let spare = total - n * config.minPerDevice
        let wsum = weights.reduce(0, +)
        var sizes = weights.map { config.minPerDevice + Int(Double(spare) * $0 / wsum) }
        var left = total - sizes.reduce(0, +)
        let byRemainder = (0..<n).sorted {
            let a = Double(spare) * weights[$0] / wsum
            let b = Double(spare) * weights[$1] / wsum
            return (a - a.rounded(.down), $1) > (b - b.rounded(.down), $0)
        }
        var i = 0
        while left > 0 {
            sizes[byRemainder[i % n]] += 1
            left -= 1
            i += 1
        }
        var out: [[Int]] = []
        var at = 0
        for s in sizes {
            out.append(Array(order[at..<(at + s)]))
            at += s
        }
        return out
    }

    func shuffle(_ a: inout [Int], _ rng: inout Xoshiro256) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.nextBounded(i + 1)) }
    }
}
