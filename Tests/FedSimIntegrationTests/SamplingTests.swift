import FedSimConfig
import FedSimCore
import FedSimData
import FedSimRuntime
import FedSimTestSupport
import Testing

/// Each sampler's empirical behaviour against its definition, at fixed seeds.
@Suite struct SamplingTests {
    func config(_ kind: TrainingConfig.Sampling, perRound: Int) -> TrainingConfig {
        var t = TrainingConfig()
        t.sampling = SamplingRule(kind)
        t.devicesPerRound = perRound
        return t
    }

    /// A sampler with its seed: each round draws from the round's own generator, as the coordinator does.
    struct Seeded {
        let sampler: any ClientSampler
        let seed: UInt64
        func sample(round r: Int, target: Int, allEligible: Bool, eligible: @escaping (Int) -> Bool) -> [Int] {
            sampler.sample(round: r, target: target, allEligible: allEligible, seed: seed, eligible: eligible)
        }
    }

    func sampler(
        config: TrainingConfig,
        population n: Int,
        directory: DeviceDirectory?,
        domainNames: [String],
        seed: UInt64
    ) throws -> Seeded {
        Seeded(
            sampler: try ClientSamplers.make(
                config: config,
                population: n,
                directory: directory,
                domainNames: domainNames
            ),
            seed: seed
        )
    }

    func directory(_ n: Int) -> DeviceDirectory {
        // Sizes 1..10 repeating; domain = device % 3 (stratum sizes 334/333/333 for n = 1000).
        DeviceDirectory(trainSizes: (0..<n).map { UInt32($0 % 10 + 1) }, mainDomains: (0..<n).map { UInt16($0 % 3) })
    }

    @Test func poissonSelectsEachDeviceAtRateQ() throws {
        let n = 2_000
        let s = try sampler(
            config: config(.poisson, perRound: 100),
            population: n,
            directory: nil,
            domainNames: [],
            seed: 1
        )
        var counts = [Int](repeating: 0, count: n)
        let rounds = 400
        var sizes: [Int] = []
        for r in 1...rounds {
            let chosen = s.sample(round: r, target: 0, allEligible: true) { _ in true }
            sizes.append(chosen.count)
            for d in chosen { counts[d] += 1 }
        }
        let q = 0.05
        let rate = Double(counts.reduce(0, +)) / Double(n * rounds)
        // Binomial(n·rounds, q): standard error √(q(1−q)/(n·rounds)) ≈ 0.00024.
        #expect(abs(rate - q) < 0.0015)
        // Round sizes vary like Binomial(n, q): variance n·q·(1−q) = 95.
        let mean = Double(sizes.reduce(0, +)) / Double(rounds)
        let variance = sizes.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(rounds - 1)
        #expect(variance > 60 && variance < 140)
    }

    @Test func uniformPicksExactlyKDistinctAndCoversEvenly() throws {
        let n = 500
        let s = try sampler(
            config: config(.uniform, perRound: 50),
            population: n,
            directory: nil,
            domainNames: [],
            seed: 2
        )
        var counts = [Int](repeating: 0, count: n)
        for r in 1...400 {
            // Half the devices are ineligible every round: they must never be chosen.
            let chosen = s.sample(round: r, target: 50, allEligible: false) { $0 % 2 == 0 }
            #expect(chosen.count == 50 && Set(chosen).count == 50)
            #expect(chosen.allSatisfy { $0 % 2 == 0 })
            for d in chosen { counts[d] += 1 }
        }
        // Each eligible device: expected 400 · 50/250 = 80 selections.
        let eligible = counts.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        #expect(abs(Double(eligible.reduce(0, +)) / 250 - 80) < 0.01)
        #expect(eligible.min()! > 50 && eligible.max()! < 115)
    }

    @Test func stratifiedMatchesStratumProportions() throws {
        let n = 1_000
        var t = config(.stratified, perRound: 100)
        t.sampling = .stratified(by: .domain, activityStrata: 4)
        let s = try sampler(config: t, population: n, directory: directory(n), domainNames: ["a", "b", "c"], seed: 3)
        #expect(StratifiedSampler.allocate(100, over: [334, 333, 333]) == [34, 33, 33])
        for r in 1...50 {
            let chosen = s.sample(round: r, target: 100, allEligible: true) { _ in true }
            #expect(chosen.count == 100)
            let perStratum = (0..<3).map { k in chosen.filter { $0 % 3 == k }.count }
            #expect(perStratum == [34, 33, 33])
        }
        // By activity: 4 quantile strata of equal size get 25 each.
        t.sampling = .stratified(by: .activity, activityStrata: 4)
        let a = try sampler(config: t, population: n, directory: directory(n), domainNames: [], seed: 3)
        #expect((a.sampler as? StratifiedSampler)?.stratumSizes() == [250, 250, 250, 250])
    }

    @Test func sizeWeightedFavoursLargeDevicesProportionally() throws {
        let n = 1_000
        // With k = 1 each draw is exactly ∝ size: sizes 1..10 ⇒ P(size s) = s/55 per size class.
        let s = try sampler(
            config: config(.sizeWeighted, perRound: 1),
            population: n,
            directory: directory(n),
            domainNames: [],
            seed: 4
        )
        var bySize = [Int](repeating: 0, count: 11)
        let rounds = 20_000
        for r in 1...rounds {
            for d in s.sample(round: r, target: 1, allEligible: true, eligible: { _ in true }) {
                bySize[d % 10 + 1] += 1
            }
        }
        for size in 1...10 {
            let p = Double(bySize[size]) / Double(rounds)
            #expect(abs(p - Double(size) / 55) < 0.01, "size \(size): \(p)")
        }
        // Without replacement and with ineligible devices.
        let s2 = try sampler(
            config: config(.sizeWeighted, perRound: 100),
            population: n,
            directory: directory(n),
            domainNames: [],
            seed: 4
        )
        let chosen = s2.sample(round: 1, target: 100, allEligible: false) { $0 >= 500 }
        #expect(chosen.count == 100 && Set(chosen).count == 100 && chosen.allSatisfy { $0 >= 500 })
    }

    @Test func availabilityNeverSelectsAnOfflineDevice() throws {
        var f = FleetConfig()
        f.availability.model = .diurnal
        let fleet = FleetModel(config: f, seed: 9)
        let n = 3_000
        let s = try sampler(
            config: config(.uniform, perRound: 100),
            population: n,
            directory: nil,
            domainNames: [],
            seed: 5
        )
        var onlineShare: [Double] = []
        for hour in 0..<24 {
            let t = Double(hour) * 3600 + 60
            let chosen = s.sample(round: hour + 1, target: 100, allEligible: false) { fleet.isAvailable($0, at: t) }
            #expect(chosen.allSatisfy { fleet.isAvailable($0, at: t) })
            onlineShare.append(Double((0..<n).filter { fleet.isAvailable($0, at: t) }.count) / Double(n))
        }
        // A diurnal pattern: availability varies across the day, and nobody is online always.
        #expect(onlineShare.max()! - onlineShare.min()! > 0.02)
        #expect(onlineShare.max()! < 0.6 && onlineShare.min()! > 0)
        // A device without Wi-Fi is never available.
        let noWifi = (0..<n).first { !fleet.device($0).hasWifi }!
        #expect((0..<48).allSatisfy { !fleet.isAvailable(noWifi, at: Double($0) * 1800) })
    }

    @Test func deadlineDropsExactlyTheSlowerDevices() {
        let selected = Array(0..<10)
        let finish = Dictionary(uniqueKeysWithValues: selected.map { ($0, Double($0) * 10 + 5) })  // 5, 15, …, 95 s
        let window = Dictionary(uniqueKeysWithValues: selected.map { ($0, $0 == 2 ? 20.0 : Double.infinity) })
        let p = RoundPlan.make(selected: selected, finish: finish, window: window, deadline: 60, target: 10)
        #expect(p.missedDeadline == [6, 7, 8, 9])  // 65 s and later
        #expect(p.wentOffline == [2])  // finished at 25 s, left at 20 s
        #expect(p.kept == [0, 1, 3, 4, 5])
        #expect(p.seconds == 60)  // waited for the deadline
        // Over-selection: keep the first 3 to finish.
        let o = RoundPlan.make(selected: selected, finish: finish, window: [:], deadline: 0, target: 3)
        #expect(o.kept == [0, 1, 2] && o.overSelected == Array(3...9) && o.seconds == 25)
    }

    @Test func lazyPermutationAndGini() {
        #expect(Participation.gini([1, 1, 1, 1]) == 0)
        #expect(abs(Participation.gini([0, 0, 0, 4]) - 0.75) < 1e-12)
        #expect(abs(Participation.gini([1, 2, 3, 4]) - 0.25) < 1e-12)
    }
}
