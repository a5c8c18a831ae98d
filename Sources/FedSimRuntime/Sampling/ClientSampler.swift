import FedSimConfig
import FedSimCore
import FedSimData

/// Chooses each round's devices among the eligible ones (process alive, device reachable).
/// Every sampler is a pure function of (seed, round, eligibility), and only looks at the
/// devices it draws, except Poisson (one coin per device, as its definition requires) and
/// the size-weighted fallback when eligible devices are scarce.
public struct ClientSampler: Sendable {
    public let kind: TrainingConfig.Sampling
    public let population: Int
    public let seed: UInt64
    /// q for Poisson sampling.
    public let rate: Double
    let alias: AliasTable?
    let strata: [[Int32]]
    public let strataNames: [String]
    let weights: [UInt32]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(config: TrainingConfig, population n: Int, directory: DeviceDirectory?, domainNames: [String], seed: UInt64) throws {
        kind = config.sampling
        population = n
        self.seed = seed
        rate = min(1, Double(config.devicesPerRound) / Double(max(1, n)))
        var alias: AliasTable?
        var strata: [[Int32]] = []
        var names: [String] = []
        var weights: [UInt32] = []
        switch config.sampling {
        case .uniform, .poisson: break
        case .sizeWeighted:
            guard let directory, directory.count == n else { throw Failure(description: "size-weighted sampling needs the device directory") }
            weights = directory.trainSizes
            guard weights.contains(where: { $0 > 0 }) else { throw Failure(description: "size-weighted sampling: every device has 0 training examples") }
            alias = AliasTable(weights.map(Double.init))
        case .stratified:
            guard let directory, directory.count == n else { throw Failure(description: "stratified sampling needs the device directory") }
            switch config.stratifyBy {
            case .domain:
                let count = max(1, domainNames.count)
                strata = [[Int32]](repeating: [], count: count)
                for d in 0..<n { strata[Int(directory.mainDomains[d]) % count].append(Int32(d)) }
                names = (0..<count).map { $0 < domainNames.count ? domainNames[$0] : "domain-\($0)" }
            case .activity:
                let g = config.activityStrata
                let order = (0..<n).sorted { (directory.trainSizes[$0], $0) < (directory.trainSizes[$1], $1) }
                strata = [[Int32]](repeating: [], count: g)
                for (rank, d) in order.enumerated() { strata[rank * g / n].append(Int32(d)) }
                for s in strata.indices { strata[s].sort() }
                names = strata.map { s in
                    guard let lo = s.map({ directory.trainSizes[Int($0)] }).min(), let hi = s.map({ directory.trainSizes[Int($0)] }).max() else { return "empty" }
                    return "\(lo)–\(hi) examples"
                }
            }
        }
        self.alias = alias
        self.strata = strata
        strataNames = names
        self.weights = weights
    }

    /// The stratum of each chosen device (for metrics), when stratified.
    public func stratumSizes() -> [Int] { strata.map(\.count) }

    /// Devices for round `r`, sorted. `target` is how many a fixed-size sampler returns
    /// (fewer when fewer are eligible); Poisson ignores it and uses `rate`.
    public func sample(round r: Int, target: Int, allEligible: Bool, eligible: (Int) -> Bool) -> [Int] {
        var rng = Seeds.rng(seed, "sample", UInt64(r))
        switch kind {
        case .uniform:
            if allEligible {
                // The fast path (and the stream every earlier FedSim version drew).
                return rng.sampleWithoutReplacement(min(target, population), from: population).sorted()
            }
            var perm = LazyPermutation(count: population)
            return perm.draw(target, rng: &rng, accept: eligible).sorted()
        case .poisson:
            var out: [Int] = []
            for d in 0..<population where rng.nextUnitDouble() < rate && (allEligible || eligible(d)) { out.append(d) }
            return out
        case .sizeWeighted:
            return sizeWeighted(target, rng: &rng, eligible: eligible)
        case .stratified:
            let quotas = Self.allocate(target, over: strata.map(\.count))
            var out: [Int] = []
            for (s, members) in strata.enumerated() where quotas[s] > 0 {
                var perm = LazyPermutation(count: members.count)
                out += perm.draw(quotas[s], rng: &rng) { eligible(Int(members[$0])) }.map { Int(members[$0]) }
            }
            return out.sorted()
        }
    }

    /// Largest-remainder apportionment of `k` over groups of the given sizes.
    public static func allocate(_ k: Int, over sizes: [Int]) -> [Int] {
        let total = sizes.reduce(0, +)
        guard total > 0 else { return sizes.map { _ in 0 } }
        let k = min(k, total)
        var q = sizes.map { k * $0 / total }
        var left = k - q.reduce(0, +)
        let order = sizes.indices.sorted {
            let a = (k * sizes[$0]) % total, b = (k * sizes[$1]) % total
            return (a, -$0) > (b, -$1)
        }
        var i = 0
        while left > 0 {
            let s = order[i % order.count]
            if q[s] < sizes[s] { q[s] += 1; left -= 1 }
            i += 1
        }
        return q
    }

    /// Successive sampling ∝ size: alias draws with replacement, rejecting repeats and
    /// ineligible devices; Efraimidis–Spirakis over the eligible rest if draws keep failing.
    func sizeWeighted(_ k: Int, rng: inout Xoshiro256, eligible: (Int) -> Bool) -> [Int] {
        guard let alias else { return [] }
        var chosen = Set<Int>()
        var out: [Int] = []
        var failures = 0
        let limit = 64 * k + 1_000
        while out.count < k && failures < limit {
            let d = alias.draw(&rng)
            if weights[d] == 0 || chosen.contains(d) || !eligible(d) { failures += 1; continue }
            chosen.insert(d)
            out.append(d)
        }
        if out.count < k {
            // Scarce eligibility: keys u^(1/w) over everything left; the top keys win.
            var keyed: [(Double, Int)] = []
            for d in 0..<population where weights[d] > 0 && !chosen.contains(d) && eligible(d) {
                keyed.append((_log(max(rng.nextUnitDouble(), .leastNormalMagnitude)) / Double(weights[d]), d))
            }
            keyed.sort { $0 > $1 }
            out += keyed.prefix(k - out.count).map(\.1)
        }
        return out.sorted()
    }
}

/// A Fisher–Yates shuffle of 0..<count materialised only where it has been touched, so
/// drawing k of n costs O(k) time and memory.
struct LazyPermutation {
    let count: Int
    var swapped: [Int: Int] = [:]
    var position = 0

    init(count: Int) { self.count = count }

    mutating func next(_ rng: inout Xoshiro256) -> Int? {
        guard position < count else { return nil }
        let j = position + rng.nextBounded(count - position)
        let vj = swapped[j] ?? j
        swapped[j] = swapped[position] ?? position
        position += 1
        return vj
    }

    /// Up to `k` accepted values, in draw order.
    mutating func draw(_ k: Int, rng: inout Xoshiro256, accept: (Int) -> Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(min(k, count))
        while out.count < k, let v = next(&rng) {
            if accept(v) { out.append(v) }
        }
        return out
    }
}

/// Walker's alias method: O(n) to build, O(1) per draw from a discrete distribution.
struct AliasTable: Sendable {
    let probability: [Double]
    let alias: [Int]

    init(_ weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var p = weights.map { $0 * Double(n) / total }
        var alias = [Int](repeating: 0, count: n)
        var small: [Int] = [], large: [Int] = []
        for i in 0..<n { if p[i] < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.popLast(), let l = large.popLast() {
            alias[s] = l
            p[l] -= 1 - p[s]
            if p[l] < 1 { small.append(l) } else { large.append(l) }
        }
        for i in small + large { p[i] = 1 }
        probability = p
        self.alias = alias
    }

    func draw(_ rng: inout Xoshiro256) -> Int {
        let i = rng.nextBounded(probability.count)
        return rng.nextUnitDouble() < probability[i] ? i : alias[i]
    }
}
