import FedSimConfig
import FedSimCore
import FedSimData
import FedSimTestSupport
import Testing

@Suite struct PartitionTests {
    func base() -> SyntheticPopulation {
        var c = SyntheticConfig()
        c.devices = 300
        c.itemsPerDomain = 200
        c.maxRatings = 120
        return SyntheticPopulation(c, seed: 3)
    }

    func partitioned(
        _ method: PartitionConfig.Method,
        alpha: Double = 0.5,
        devices: Int = 100
    ) throws -> PartitionedPopulation {
        var p = PartitionConfig()
        p.method = method
        p.alpha = alpha
        p.devices = devices
        return try PartitionedPopulation(base: base(), config: p, seed: 11)
    }

    /// Every pooled interaction is dealt exactly once, whatever the method.
    @Test(arguments: [PartitionConfig.Method.dirichlet, .shards, .quantitySkew])
    func partitionsDealEveryInteractionOnce(_ method: PartitionConfig.Method) throws {
        let b = base()
        let p = try partitioned(method)
        #expect(p.deviceCount == 100)
        var pooled: [Int: Int] = [:]
        var dealt: [Int: Int] = [:]
        for d in 0..<b.deviceCount {
            for (i, r) in zip(b.interactions(of: d).items, b.interactions(of: d).ratings) {
                pooled[Int(i) * 10 + Int(r), default: 0] += 1
            }
        }
        for d in 0..<p.deviceCount {
            for (i, r) in zip(p.interactions(of: d).items, p.interactions(of: d).ratings) {
                dealt[Int(i) * 10 + Int(r), default: 0] += 1
            }
        }
        #expect(pooled == dealt)
        // Reproducible from the seed.
        let again = try partitioned(method)
        for d in [0, 37, 99] { #expect(p.interactions(of: d) == again.interactions(of: d)) }
    }

    /// Lower α ⇒ higher heterogeneity index (Jensen–Shannon and total variation over categories).
    @Test func dirichletHeterogeneityFallsWithAlpha() throws {
        let stats = try [0.05, 0.5, 5, 500].map { PopulationStats.compute(try partitioned(.dirichlet, alpha: $0)) }
        for (a, b) in zip(stats, stats.dropFirst()) {
            #expect(a.categoryJS > b.categoryJS)
            #expect(a.categoryTV > b.categoryTV)
        }
        #expect(stats[0].categoryJS > 0.5)  // near one category per device
        #expect(stats[3].categoryJS < 0.05)  // near IID
    }

    /// Shards: with 2 shards per device a device sees at most a few categories.
    @Test func shardsConcentrateLabels() throws {
        let p = try partitioned(.shards)
        let iid = try partitioned(.dirichlet, alpha: 1_000)
        #expect(PopulationStats.compute(p).categoryJS > 3 * PopulationStats.compute(iid).categoryJS)
    }

    /// Quantity skew: sizes vary widely but respect the minimum and sum to the pool.
    @Test func quantitySkewSizes() throws {
        let p = try partitioned(.quantitySkew)
        let sizes = (0..<p.deviceCount).map { p.interactions(of: $0).count }
        #expect(sizes.min()! >= 5)
        #expect(Double(sizes.max()!) > 5 * Double(sizes.sorted()[50]))
    }

    @Test func tooManyDevicesIsAClearError() {
        var p = PartitionConfig()
        p.method = .quantitySkew
        p.devices = 1_000_000
        #expect(throws: Partitioner.Failure.self) { try PartitionedPopulation(base: base(), config: p, seed: 1) }
    }

    @Test func statisticsOfKnownDistributions() {
        #expect(PopulationStats.jensenShannon([1, 0], [0, 1]) == 1)
        #expect(PopulationStats.jensenShannon([0.5, 0.5], [0.5, 0.5]) == 0)
        #expect(abs(PopulationStats.totalVariation([0.7, 0.3], [0.4, 0.6]) - 0.3) < 1e-12)
        // JS([1,0] ‖ [½,½]) = ½·log2(1/0.75) + ¼·log2(0.5/0.75) + ¼·log2(0.5/0.25)
        let expected = 0.5 * _log2(1 / 0.75) + 0.25 * _log2(0.5 / 0.75) + 0.25 * _log2(2)
        #expect(abs(PopulationStats.jensenShannon([1, 0], [0.5, 0.5]) - expected) < 1e-12)
    }

    /// Domain skew: one domain per device puts every rating in the home domain.
    @Test func domainSkewOfTheSyntheticPopulation() {
        var c = SyntheticConfig()
        c.devices = 200
        c.domainsPerDevice = 2
        c.homeDomainShare = 0.8
        let p = SyntheticPopulation(c, seed: 5)
        let s = PopulationStats.compute(p)
        #expect(s.domainsOver10Percent.allSatisfy { $0 <= 2 })
        let unskewed = PopulationStats.compute(SyntheticPopulation(SyntheticConfig(), seed: 5), devices: 200)
        #expect(s.domainJS > unskewed.domainJS)
    }

    @Test func directoryRoundTripsAndRejectsCorruption() throws {
        let p = base()
        let dir = DeviceDirectory.build(p, splitter: Splitter(SplitConfig(), seed: 1), workers: 2)
        #expect(dir == DeviceDirectory.build(p, splitter: Splitter(SplitConfig(), seed: 1), workers: 1))
        #expect(try DeviceDirectory.decode(dir.encoded()) == dir)
        var bad = dir.encoded()
        bad.removeLast()
        #expect(throws: DeviceDirectory.Corrupt.self) { try DeviceDirectory.decode(bad) }
        let data = p.deviceData(17, split: Splitter(SplitConfig(), seed: 1))
        #expect(Int(dir.trainSizes[17]) == data.train.count)
    }
}

@Suite struct DirichletTests {
    @Test func dirichletIsOnTheSimplexEvenForTinyAlpha() {
        var rng = Seeds.rng(1, "t")
        for a in [0.001, 0.1, 1, 50] {
            let x = rng.nextDirichlet([a, a, a, a])
            #expect(abs(x.reduce(0, +) - 1) < 1e-12)
            #expect(x.allSatisfy { $0 >= 0 && $0.isFinite })
        }
        // Mean of Dir(α) is α/Σα.
        var mean = [0.0, 0.0, 0.0]
        for _ in 0..<20_000 { for (i, v) in rng.nextDirichlet([1, 2, 5]).enumerated() { mean[i] += v / 20_000 } }
        #expect(abs(mean[0] - 0.125) < 0.01 && abs(mean[1] - 0.25) < 0.01 && abs(mean[2] - 0.625) < 0.01)
    }
}
