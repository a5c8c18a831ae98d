import FedSimConfig
import FedSimCore
import FedSimData

/// Chooses each round's devices among the eligible ones (process alive, device reachable).
/// One conforming type per `training.sampling`, built by `ClientSamplers.make`; a new sampler
/// is one type and one line there. A sampler is a pure function of (seed, round, eligibility
/// and what it has observed), and looks only at the devices it draws, except Poisson (one
/// coin per device, as its definition requires) and the size-weighted fallback when eligible
/// devices are scarce.
public protocol ClientSampler: Sendable {
    /// Devices for the request's round, sorted, drawn with `rng` (seeded by the round).
    func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int]
    /// What a finished round measured: a feedback sampler (power-of-choice, loss-aware)
    /// keeps what it needs. The default ignores it.
    mutating func observe(_ round: RoundFeedback)
    /// How many devices a round's plan aims to keep: the request's target for fixed-size
    /// samplers; what was drawn for Poisson, whose size is random.
    func planTarget(selected: Int, devicesPerRound: Int) -> Int
}

extension ClientSampler {
    public mutating func observe(_ round: RoundFeedback) {}
    public func planTarget(selected: Int, devicesPerRound: Int) -> Int { devicesPerRound }

    /// Devices for round `r`: the round's own generator, so draws never depend on earlier rounds.
    public func sample(
        round r: Int,
        target: Int,
        allEligible: Bool,
        seed: UInt64,
        eligible: @escaping (Int) -> Bool
    ) -> [Int] {
        var rng = Seeds.rng(seed, "sample", UInt64(r))
        return sample(SamplingRequest(target: target, allEligible: allEligible, eligible: eligible), rng: &rng)
    }
}

/// One round's question to a sampler.
public struct SamplingRequest {
    /// How many a fixed-size sampler returns (fewer when fewer are eligible).
    public var target: Int
    /// Every device is eligible: samplers may take a fast path that never calls `eligible`.
    public var allEligible: Bool
    public var eligible: (Int) -> Bool

    public init(target: Int, allEligible: Bool, eligible: @escaping (Int) -> Bool) {
        self.target = target
        self.allEligible = allEligible
        self.eligible = eligible
    }
}

/// What a finished round tells the sampler: who was selected and who finished, and the
/// training loss each finished device reported (empty under secure aggregation, where the
/// coordinator sees only sums).
public struct RoundFeedback: Sendable {
    public var round: Int
    public var selected: [Int]
    public var finished: [Int]
    public var trainLoss: [Int: Double]

    public init(round: Int, selected: [Int], finished: [Int], trainLoss: [Int: Double] = [:]) {
        self.round = round
        self.selected = selected
        self.finished = finished
        self.trainLoss = trainLoss
    }
}

/// Builds the run's sampler from `training.sampling`: the only switch over sampler kinds.
public enum ClientSamplers {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether the kind needs the device directory (training sizes, main domains).
    public static func needsDirectory(_ rule: SamplingRule) -> Bool {
        switch rule {
        case .uniform, .poisson: false
        case .sizeWeighted, .stratified: true
        }
    }

    /// `secret`: the sample backs a privacy claim (DP with CSPRNG noise), so Poisson coins come
    /// from the CSPRNG instead of the seed.
    public static func make(
        config: TrainingConfig,
        population n: Int,
        directory: DeviceDirectory?,
        domainNames: [String],
        secret: Bool = false
    ) throws -> any ClientSampler {
        if needsDirectory(config.sampling) {
            guard let directory, directory.count == n else {
                throw Failure(description: "\(config.sampling.kind.rawValue) sampling needs the device directory")
            }
            switch config.sampling {
            case .stratified(let by, let strata):
                return StratifiedSampler(by: by, activityStrata: strata, directory: directory, domainNames: domainNames)
            default: return try SizeWeightedSampler(trainSizes: directory.trainSizes)
            }
        }
        switch config.sampling {
        case .poisson:
            return PoissonSampler(
                population: n,
                rate: min(1, Double(config.devicesPerRound) / Double(max(1, n))),
                secret: secret
            )
        default: return UniformSampler(population: n)
        }
    }
}

/// k devices uniformly without replacement among the eligible.
public struct UniformSampler: ClientSampler {
    public let population: Int
    public init(population: Int) { self.population = population }

    public func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int] {
        if request.allEligible {
            // The fast path (and the stream every earlier FedSim version drew).
            return rng.sampleWithoutReplacement(min(request.target, population), from: population).sorted()
        }
        var perm = LazyPermutation(count: population)
        return perm.draw(request.target, rng: &rng, accept: request.eligible).sorted()
    }
}

/// One coin with probability q per device (the sampling the privacy accountants assume).
///
/// Amplification by subsampling holds only against an adversary who does not know the sample.
/// A `secret` sampler draws its coins from the CSPRNG (libsodium), not from the scenario's
/// seed, so neither the seed nor anything derived from it tells who was sampled. The run is
/// then not reproducible in its sample, as it is not in its noise.
public struct PoissonSampler: ClientSampler {
    public let population: Int
    /// q: devices per round over the population.
    public let rate: Double
    public let secret: Bool

    public init(population: Int, rate: Double, secret: Bool = false) {
        self.population = population
        self.rate = rate
        self.secret = secret
    }

    public func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int] {
        var out: [Int] = []
        if secret {
            // 53-bit uniforms from the CSPRNG, one per device.
            let bytes = SecureRandom.bytes(8 * population)
            bytes.withUnsafeBytes { raw in
                for d in 0..<population {
                    let u = Double(raw.loadUnaligned(fromByteOffset: 8 * d, as: UInt64.self) >> 11) * 0x1p-53
                    if u < rate && (request.allEligible || request.eligible(d)) { out.append(d) }
                }
            }
            return out
        }
        for d in 0..<population where rng.nextUnitDouble() < rate && (request.allEligible || request.eligible(d)) {
            out.append(d)
        }
        return out
    }

    public func planTarget(selected: Int, devicesPerRound: Int) -> Int { selected }
}

/// Successive sampling ∝ training size: alias draws with replacement, rejecting repeats and
/// ineligible devices; Efraimidis–Spirakis over the eligible rest if draws keep failing.
public struct SizeWeightedSampler: ClientSampler {
    let alias: AliasTable
    let weights: [UInt32]

    public init(trainSizes: [UInt32]) throws {
        guard trainSizes.contains(where: { $0 > 0 }) else {
            throw ClientSamplers.Failure(description: "size-weighted sampling: every device has 0 training examples")
        }
        weights = trainSizes
        alias = AliasTable(trainSizes.map(Double.init))
    }

    public func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int] {
        let k = request.target
        let eligible = request.eligible
        var chosen = Set<Int>()
        var out: [Int] = []
        var failures = 0
        let limit = 64 * k + 1_000
        while out.count < k && failures < limit {
            let d = alias.draw(&rng)
            if weights[d] == 0 || chosen.contains(d) || !eligible(d) {
                failures += 1
                continue
            }
            chosen.insert(d)
            out.append(d)
        }
        if out.count < k {
            // Scarce eligibility: keys u^(1/w) over everything left; the top keys win.
            var keyed: [(Double, Int)] = []
            for d in 0..<weights.count where weights[d] > 0 && !chosen.contains(d) && eligible(d) {
                keyed.append((_log(max(rng.nextUnitDouble(), .leastNormalMagnitude)) / Double(weights[d]), d))
            }
            keyed.sort { $0 > $1 }
            out += keyed.prefix(k - out.count).map(\.1)
        }
        return out.sorted()
    }
}

/// Uniform within strata (domains, or activity groups by training size), the target
/// apportioned over strata by size (largest remainder).
public struct StratifiedSampler: ClientSampler {
    let strata: [[Int32]]
    /// Each stratum's name, for reports.
    public let strataNames: [String]

    public init(by: TrainingConfig.Stratum, activityStrata: Int, directory: DeviceDirectory, domainNames: [String]) {
        let n = directory.count
        switch by {
        case .domain:
            let count = max(1, domainNames.count)
            var strata = [[Int32]](repeating: [], count: count)
            for d in 0..<n { strata[Int(directory.mainDomains[d]) % count].append(Int32(d)) }
            self.strata = strata
            strataNames = (0..<count).map { $0 < domainNames.count ? domainNames[$0] : "domain-\($0)" }
        case .activity:
            let g = activityStrata
            let order = (0..<n).sorted { (directory.trainSizes[$0], $0) < (directory.trainSizes[$1], $1) }
            var strata = [[Int32]](repeating: [], count: g)
            for (rank, d) in order.enumerated() { strata[rank * g / n].append(Int32(d)) }
            for s in strata.indices { strata[s].sort() }
            self.strata = strata
            strataNames = strata.map { s in
                guard let lo = s.map({ directory.trainSizes[Int($0)] }).min(),
                    let hi = s.map({ directory.trainSizes[Int($0)] }).max()
                else { return "empty" }
                return "\(lo)–\(hi) examples"
            }
        }
    }

    /// Devices per stratum.
    public func stratumSizes() -> [Int] { strata.map(\.count) }

    public func sample(_ request: SamplingRequest, rng: inout Xoshiro256) -> [Int] {
        let quotas = Self.allocate(request.target, over: strata.map(\.count))
        var out: [Int] = []
        for (s, members) in strata.enumerated() where quotas[s] > 0 {
            var perm = LazyPermutation(count: members.count)
            out += perm.draw(quotas[s], rng: &rng) { request.eligible(Int(members[$0])) }.map { Int(members[$0]) }
        }
        return out.sorted()
    }

    /// Largest-remainder apportionment of `k` over groups of the given sizes.
    public static func allocate(_ k: Int, over sizes: [Int]) -> [Int] {
        let total = sizes.reduce(0, +)
        guard total > 0 else { return sizes.map { _ in 0 } }
        let k = min(k, total)
        var q = sizes.map { k * $0 / total }
        var left = k - q.reduce(0, +)
        let order = sizes.indices.sorted {
            let a = (k * sizes[$0]) % total
            let b = (k * sizes[$1]) % total
            return (a, -$0) > (b, -$1)
        }
        var i = 0
        while left > 0 {
            let s = order[i % order.count]
            if q[s] < sizes[s] {
                q[s] += 1
                left -= 1
            }
            i += 1
        }
        return q
    }
}
