import FedSimCore

/// Heterogeneity statistics of a population (what `fedsim data stats` prints): device sizes,
/// how concentrated each device is on domains, and how far each device's label distribution
/// is from the global one.
public struct PopulationStats: Sendable {
    public var devices = 0
    public var sizes: [Int] = []
    /// Per device, the share of its interactions in its top domain.
    public var topDomainShare: [Double] = []
    /// Per device, the number of domains holding ≥ 10% of its interactions.
    public var domainsOver10Percent: [Int] = []
    /// Global distributions over domains and categories.
    public var globalDomains: [Double] = []
    public var globalCategories: [Double] = []
    /// Mean over devices of JS divergence (base 2, in [0, 1]) and total variation distance
    /// (the earth mover's distance under the 0/1 ground metric) to the global distribution.
    public var domainJS = 0.0, domainTV = 0.0
    public var categoryJS = 0.0, categoryTV = 0.0

    public init() {}

    public static func compute(_ population: any Population, devices limit: Int = 0) -> PopulationStats {
        let n = limit > 0 ? min(limit, population.deviceCount) : population.deviceCount
        let nd = max(1, population.domainNames.count)
        let nc = max(1, Int(population.itemCategories.max() ?? 0) + 1)
        let itemDomains = population.itemDomains
        let itemCats = population.itemCategories
        var perDevice: [([Double], [Double])] = []
        perDevice.reserveCapacity(n)
        var s = PopulationStats()
        s.devices = n
        var gd = [Double](repeating: 0, count: nd)
        var gc = [Double](repeating: 0, count: nc)
        for d in 0..<n {
            let x = population.interactions(of: d)
            var dc = [Double](repeating: 0, count: nd)
            var cc = [Double](repeating: 0, count: nc)
            for item in x.items {
                dc[Int(itemDomains[Int(item)])] += 1
                cc[Int(itemCats[Int(item)])] += 1
            }
            for i in 0..<nd { gd[i] += dc[i] }
            for i in 0..<nc { gc[i] += cc[i] }
            s.sizes.append(x.count)
            let total = Double(max(1, x.count))
            s.topDomainShare.append((dc.max() ?? 0) / total)
            s.domainsOver10Percent.append(dc.filter { $0 / total >= 0.1 }.count)
            perDevice.append((dc, cc))
        }
        s.globalDomains = normalized(gd)
        s.globalCategories = normalized(gc)
        for (dc, cc) in perDevice where dc.reduce(0, +) > 0 {
            let pd = normalized(dc)
            let pc = normalized(cc)
            s.domainJS += jensenShannon(pd, s.globalDomains)
            s.domainTV += totalVariation(pd, s.globalDomains)
            s.categoryJS += jensenShannon(pc, s.globalCategories)
            s.categoryTV += totalVariation(pc, s.globalCategories)
        }
        let m = Double(max(1, perDevice.filter { $0.0.reduce(0, +) > 0 }.count))
        s.domainJS /= m
        s.domainTV /= m
        s.categoryJS /= m
        s.categoryTV /= m
        return s
    }

    public static func normalized(_ v: [Double]) -> [Double] {
        let t = v.reduce(0, +)
        return t > 0 ? v.map { $0 / t } : v
    }

    /// JS(p‖q) = ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q), in bits: 0 for equal, 1 for disjoint.
    public static func jensenShannon(_ p: [Double], _ q: [Double]) -> Double {
        var js = 0.0
        for i in p.indices {
            let m = 0.5 * (p[i] + q[i])
            if p[i] > 0 { js += 0.5 * p[i] * _log2(p[i] / m) }
            if q[i] > 0 { js += 0.5 * q[i] * _log2(q[i] / m) }
        }
        return max(0, js)
    }

    /// ½ Σ |p − q|: the earth mover's distance between categorical distributions when moving
    /// mass between any two labels costs 1.
    public static func totalVariation(_ p: [Double], _ q: [Double]) -> Double {
        var t = 0.0
        for i in p.indices { t += abs(p[i] - q[i]) }
        return t / 2
    }

    /// Counts in log₂ buckets [1,2), [2,4), … for the size histogram.
    public func sizeHistogram() -> [(range: String, count: Int)] {
        guard let maxSize = sizes.max(), maxSize > 0 else { return [] }
        var buckets: [(String, Int)] = []
        var lo = 1
        let smallest = max(1, sizes.filter { $0 > 0 }.min() ?? 1)
        while lo * 2 <= smallest { lo *= 2 }
        while lo <= maxSize {
            let hi = lo * 2
            buckets.append(("\(lo)–\(hi - 1)", sizes.filter { $0 >= lo && $0 < hi }.count))
            lo = hi
        }
        let zero = sizes.filter { $0 == 0 }.count
        if zero > 0 { buckets.insert(("0", zero), at: 0) }
        return buckets
    }
}
