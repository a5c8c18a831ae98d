import FedSimConfig
import FedSimCore

/// A seeded multi-domain latent-factor population, the embedded default data set.
///
/// The catalogue (per-item domain, bias, shared and domain-specific factors, popularity) is
/// built once from the seed: O(items). Each device is generated *on demand* from
/// `(seed, device)` alone: its home domain, bias, tastes, activity level (a truncated power
/// law) and ratings. So 100,000+ devices cost nothing until a process touches them, and any
/// process regenerates exactly the same device.
///
/// Rating model: r = clamp(round(3.5 + b_u + b_i + 0.8·p_u·s_i/√k_s + 0.5·t_{u,d}·e_i/√k_d + ε)),
/// ε ~ N(0, noise²). Shared factors (p_u, s_i) transfer across domains; domain factors do not.
public struct SyntheticPopulation: Population {
    public let name = "synthetic"
    public let config: SyntheticConfig
    public let seed: UInt64
    public var deviceCount: Int { config.devices }
    public var itemCount: Int { config.itemsPerDomain * config.domains.count }
    public let ratingScale: ClosedRange<Float> = 1...5
    public var domainNames: [String] { config.domains }
    public let userFeatureNames = ["home_domain", "age_bucket", "region"]
    public let itemDomains: [Int32]
    /// Item category (0..<8): the dominant shared factor, a genre-like feature.
    public let itemCategories: [Int32]
    public var categoryNames: [String] { (0..<max(1, min(8, config.sharedFactors))).map { "category-\($0)" } }
    let itemBias: [Float]
    let itemShared: [Float]  // itemCount × sharedFactors
    let itemDomain: [Float]  // itemCount × domainFactors
    let popularityCDF: [[Double]]  // per domain, cumulative popularity over its items
    /// Drift: the hot categories of each period, and the items of each (domain, category).
    public let hotTopics: [[Int32]]
    let itemsByDomainCategory: [[[Int32]]]
    public static let epoch: Int64 = 1_600_000_000

    public init(_ config: SyntheticConfig, seed: UInt64) {
        self.config = config
        self.seed = seed
        let nd = config.domains.count
        let per = config.itemsPerDomain
        let ks = config.sharedFactors
        let kd = config.domainFactors
        var rng = Seeds.rng(seed, "synthetic.catalogue")
        var domains = [Int32]()
        var bias = [Float]()
        var shared = [Float]()
        var dom = [Float]()
        var cats = [Int32]()
        domains.reserveCapacity(nd * per)
        var cdfs: [[Double]] = []
        for d in 0..<nd {
            // Zipf popularity over a random permutation of the domain's items.
            var ranks = Array(1...per)
            for i in stride(from: per - 1, to: 0, by: -1) { ranks.swapAt(i, rng.nextBounded(i + 1)) }
            var cdf = [Double](repeating: 0, count: per)
            var acc = 0.0
            for j in 0..<per {
                acc += 1.0 / _pow(Double(ranks[j]), config.popularityExponent)
                cdf[j] = acc
            }
            for j in 0..<per { cdf[j] /= acc }
            cdfs.append(cdf)
            for _ in 0..<per {
                domains.append(Int32(d))
                bias.append(Float(0.4 * rng.nextGaussian()))
                var best = 0
                var bestV = -1.0
                for f in 0..<ks {
                    let v = rng.nextGaussian()
                    shared.append(Float(v))
                    if f < 8 && abs(v) > bestV {
                        bestV = abs(v)
                        best = f
                    }
                }
                cats.append(Int32(best))
                for _ in 0..<kd { dom.append(Float(rng.nextGaussian())) }
            }
        }
        itemDomains = domains
        itemBias = bias
        itemShared = shared
        itemDomain = dom
        itemCategories = cats
        popularityCDF = cdfs
        let nc = max(1, min(8, config.sharedFactors))
        var byDC = [[[Int32]]](repeating: [[Int32]](repeating: [], count: nc), count: nd)
        for (i, c) in cats.enumerated() where Int(c) < nc { byDC[Int(domains[i])][Int(c)].append(Int32(i)) }
        itemsByDomainCategory = byDC
        hotTopics = Self.hotTopics(config.drift, categories: nc, seed: seed)
    }

    /// Each period's hot categories: the first period draws `hot_topics` distinct ones; at each
    /// boundary every topic is replaced (by a category not currently hot) with probability `turnover`.
    static func hotTopics(_ d: DriftConfig, categories nc: Int, seed: UInt64) -> [[Int32]] {
        guard d.periods > 0 else { return [] }
        var rng = Seeds.rng(seed, "synthetic.drift.topics")
        let k = min(d.hotTopics, nc)
        var hot = rng.sampleWithoutReplacement(k, from: nc).map { Int32($0) }
        var out = [hot]
        for _ in 1..<d.periods {
            // A replacement is new: neither hot now nor in the period before (when there are enough categories).
            let previous = hot
            for i in hot.indices where rng.nextUnitDouble() < d.turnover && k < nc {
                let avoidPrevious = nc >= 2 * k
                var c = Int32(rng.nextBounded(nc))
                while hot.contains(c) || (avoidPrevious && previous.contains(c)) { c = Int32(rng.nextBounded(nc)) }
                hot[i] = c
            }
            out.append(hot)
        }
        return out
    }

    /// The domain of the next interaction: home with probability `home_domain_share`, else
    /// one of the device's other domains (all others without domain skew).
    func chooseDomain(_ p: Profile, _ rng: inout Xoshiro256) -> Int {
        let nd = config.domains.count
        if let others = p.others {
            if !others.isEmpty && rng.nextUnitDouble() >= config.homeDomainShare {
                return others[rng.nextBounded(others.count)]
            }
        } else if nd > 1 && rng.nextUnitDouble() >= config.homeDomainShare {
            let d = rng.nextBounded(nd - 1)
            return d >= p.home ? d + 1 : d
        }
        return p.home
    }

    /// An item of domain d drawn by its Zipf popularity.
    func popularItem(in d: Int, _ rng: inout Xoshiro256) -> Int32 {
        let cdf = popularityCDF[d]
        let u = rng.nextUnitDouble()
        var lo = 0
        var hi = config.itemsPerDomain - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return Int32(d * config.itemsPerDomain + lo)
    }

    /// The drifting generator: interactions spread evenly over the periods; in period p a
    /// share `hot_share` is drawn from p's hot categories (in the chosen domain) and rated
    /// `hot_boost` × susceptibility higher; external (non-home) interactions arrive late.
    func driftingInteractions(of device: Int) -> Interactions {
        let p = profile(device)
        let d = config.drift
        var rng = Seeds.rng(seed, "synthetic.drift.ratings", UInt64(device))
        var user = Seeds.rng(seed, "synthetic.drift.user", UInt64(device))
        let susceptibility = user.nextUnitDouble()
        let topics =
            d.topics == .personal
            ? Self.hotTopics(
                d,
                categories: max(1, min(8, config.sharedFactors)),
                seed: Seeds.derive(seed, "synthetic.drift.personal", UInt64(device))
            )
            : hotTopics
        let len = Int64(d.periodDays * 86_400)
        var seen = Set<Int32>(minimumCapacity: p.activity * 2)
        var out = Interactions()
        var attempts = 0
        while out.count < p.activity && attempts < p.activity * 50 {
            attempts += 1
            let period = out.count * d.periods / p.activity
            let dom = chooseDomain(p, &rng)
            let hot = topics[period]
            var item: Int32
            let pool = itemsByDomainCategory[dom][Int(hot[rng.nextBounded(hot.count)])]
            if rng.nextUnitDouble() < d.hotShare && !pool.isEmpty {
                item = pool[rng.nextBounded(pool.count)]
            } else {
                item = popularItem(in: dom, &rng)
            }
            guard seen.insert(item).inserted else { continue }
            let boost = hot.contains(itemCategories[Int(item)]) ? d.hotBoost * susceptibility : 0
            let r = expected(p, Int(item)) + boost + config.noise * rng.nextGaussian()
            var t = Self.epoch + Int64(period) * len + Int64(rng.nextBounded(Int(len)))
            if dom != p.home { t += Int64(d.externalDelayPeriods) * len }
            out.append(item: item, rating: Float(min(5, max(1, r.rounded()))), timestamp: t)
        }
        return out
    }

    /// Per-device latent profile, regenerated from (seed, device).
    struct Profile {
        var home: Int
        var bias: Double
        var shared: [Double]
        var domainTaste: [Double]  // domains × domainFactors
        var activity: Int
        var features: [Int32]
        /// Domains besides home the device rates in (domain skew); nil: all others.
        var others: [Int]?
    }

    func profile(_ device: Int) -> Profile {
        var rng = Seeds.rng(seed, "synthetic.device", UInt64(device))
        let nd = config.domains.count
        let home = rng.nextBounded(nd)
        let bias = 0.4 * rng.nextGaussian()
        let shared = (0..<config.sharedFactors).map { _ in rng.nextGaussian() }
        let taste = (0..<(nd * config.domainFactors)).map { _ in rng.nextGaussian() }
        // Truncated continuous power law on [min, max+1), floored: P(n) ∝ n^-α.
        let a = config.activityExponent - 1
        let lo = Double(config.minRatings)
        let hi = Double(config.maxRatings + 1)
        let u = rng.nextUnitDouble()
        let x = _pow(_pow(lo, -a) - u * (_pow(lo, -a) - _pow(hi, -a)), -1 / a)
        let activity = min(config.maxRatings, max(config.minRatings, Int(x)))
        // Features loosely tied to tastes, so feature-aware models have signal to find.
        let age = Int32(min(6, max(0, Int(3 + 1.5 * (shared.first ?? 0) + rng.nextGaussian()))))
        let region = Int32(rng.nextBounded(10))
        // Domain skew: drawn last, and only when asked, so default populations are unchanged.
        var others: [Int]?
        let k = config.domainsPerDevice
        if k > 0 && k < nd {
            let pick = rng.sampleWithoutReplacement(k - 1, from: nd - 1)
            others = pick.map { $0 >= home ? $0 + 1 : $0 }
        }
        return Profile(
            home: home,
            bias: bias,
            shared: shared,
            domainTaste: taste,
            activity: activity,
            features: [Int32(home), age, region],
            others: others
        )
    }

    public func userFeatures(of device: Int) -> [Int32] { profile(device).features }

    /// The noiseless expected rating (for tests and oracle baselines).
    public func expectedRating(device: Int, item: Int) -> Double {
        expected(profile(device), item)
    }

    func expected(_ p: Profile, _ item: Int) -> Double {
        let ks = config.sharedFactors
        let kd = config.domainFactors
        var s = 0.0
        for f in 0..<ks { s += p.shared[f] * Double(itemShared[item * ks + f]) }
        var t = 0.0
        let d = Int(itemDomains[item])
        for f in 0..<kd { t += p.domainTaste[d * kd + f] * Double(itemDomain[item * kd + f]) }
        let sharedTerm = ks > 0 ? 0.8 * s / Double(ks).squareRoot() : 0
        let domainTerm = kd > 0 ? 0.5 * t / Double(kd).squareRoot() : 0
        return 3.5 + p.bias + Double(itemBias[item]) + sharedTerm + domainTerm
    }

    public func interactions(of device: Int) -> Interactions {
        if config.drift.periods > 0 { return driftingInteractions(of: device) }
        let p = profile(device)
        var rng = Seeds.rng(seed, "synthetic.ratings", UInt64(device))
        var seen = Set<Int32>(minimumCapacity: p.activity * 2)
        var out = Interactions()
        out.items.reserveCapacity(p.activity)
        out.ratings.reserveCapacity(p.activity)
        out.timestamps.reserveCapacity(p.activity)
        var t = Self.epoch + Int64(rng.nextBounded(365 * 86_400))
        var attempts = 0
        while out.count < p.activity && attempts < p.activity * 50 {
            attempts += 1
            let d = chooseDomain(p, &rng)
            let item = popularItem(in: d, &rng)
            guard seen.insert(item).inserted else { continue }
            let r = expected(p, Int(item)) + config.noise * rng.nextGaussian()
            let rating = Float(min(5, max(1, r.rounded())))
            t += Int64(1 + rng.nextBounded(2 * 86_400))
            out.append(item: item, rating: rating, timestamp: t)
        }
        return out
    }
}

/// Builds the population a scenario names.
public enum PopulationFactory {
    public static func make(_ data: DataConfig, seed: UInt64) throws -> any Population {
        let base: any Population
        switch data.source {
        case .synthetic: base = SyntheticPopulation(data.synthetic, seed: Seeds.derive(seed, "population"))
        case .movielens:
            base = try MovieLensPopulation(
                folder: data.path,
                domains: data.movielensDomains,
                duplicates: data.duplicates
            )
        case .interactions:
            base = try InteractionLogPopulation.load(
                data.interactions ?? InteractionsConfig(),
                duplicates: data.duplicates
            )
        case .recbole:
            base = try InteractionLogPopulation.load(
                recbole: data.recbole ?? RecBoleConfig(),
                folder: data.path,
                duplicates: data.duplicates
            )
        }
        guard data.partition.method != .natural else { return base }
        do {
            return try PartitionedPopulation(base: base, config: data.partition, seed: Seeds.derive(seed, "partition"))
        } catch let e as Partitioner.Failure {
            throw DataError(file: "scenario", message: e.description)
        }
    }
}
