import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import NIOCore
import Testing

/// The coordinator and real client loops over the in-memory transport: deterministic, no sockets.
@Suite struct CoordinatorTests {
    typealias Harness = CoordinatorHarness

    static func withoutTiming(_ lines: [String]) -> [String] {
        lines.map { line in
            var o = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            for k in ["round_seconds", "wall_seconds"] { o[k] = nil }
            return String(decoding: try! JSONSerialization.data(withJSONObject: o, options: .sortedKeys), as: UTF8.self)
        }
    }

    @Test func federatedRunImprovesTheModelAndIsReproducible() async throws {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 10, perRound: 60)
        s.evaluation.every = 2
        var runs: [[String]] = []
        for _ in 0..<2 {
            let h = Harness(s)
            let clients = [h.client(0), h.client(1)]
            try await h.coordinator.run()
            for c in clients { #expect(await c.value == nil) }
            let m = h.metrics
            #expect(m.count == 10)
            #expect(m.allSatisfy { $0["finished"] as? Int == 60 && $0["dropped"] as? Int == 0 })
            let first = (m[1]["eval"] as! [String: Any])["rmse"] as! Double
            let last = (m[9]["eval"] as! [String: Any])["rmse"] as! Double
            #expect(last < first - 0.01, "rmse \(first) -> \(last)")
            runs.append(h.sink.lines)
        }
        #expect(Self.withoutTiming(runs[0]) == Self.withoutTiming(runs[1]))
    }

    @Test func crashedClientsDevicesCountAsDroppedAndTheRunGoesOn() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 40)
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.process = 1
                f.round = 2
                f.afterUpdates = 3
                return f
            }()
        ]
        let h = Harness(s)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        #expect(await c0.value == nil)
        _ = await c1.value
        let m = h.metrics
        #expect(m.count == 4)
        #expect(m[0]["finished"] as? Int == 40)
        let r2 = m[1]
        let sampled2 = r2["sampled"] as! Int
        #expect((r2["finished"] as! Int) + (r2["dropped"] as! Int) == sampled2)
        #expect((r2["dropped"] as! Int) > 0)
        // Later rounds sample only from the surviving process's 40 devices.
        #expect(m[2]["processes_alive"] as? Int == 1 && m[2]["sampled"] as? Int == 40 && m[2]["dropped"] as? Int == 0)
    }

    @Test func runStopsWithAClearMessageWhenTooFewDevicesFinish() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 40)
        s.runtime.minDevicesPerRound = 30
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.process = 1
                f.round = 2
                return f
            }()
        ]
        let h = Harness(s)
        _ = h.client(0)
        _ = h.client(1)
        do {
            try await h.coordinator.run()
            Issue.record("run should have failed")
        } catch let e as Coordinator.Failure {
            #expect(e.description.contains("round 2: only"))
            #expect(e.description.contains("minimum 30"))
            #expect(e.description.contains("dropped with their client process"))
        }
    }

    @Test func wrongTokenIsRejectedAndTheRunStillStarts() async throws {
        let s = TestSupport.tinyScenario(devices: 40, rounds: 2, perRound: 10)
        let h = Harness(s)
        let intruder = h.client(0, token: SecureRandom.bytes(32))
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        let err = await intruder.value
        #expect("\(err.map { "\($0)" } ?? "")".contains("wrong run token"))
        let e0 = await c0.value
        let e1 = await c1.value
        #expect(e0 == nil && e1 == nil)
        #expect(h.metrics.count == 2)
    }

    @Test func malformedFramesCloseOnlyTheirConnection() async throws {
        let s = TestSupport.tinyScenario(devices: 40, rounds: 2, perRound: 10)
        let h = Harness(s)
        // A stranger sends garbage; another sends a frame with an unknown kind.
        let bad1 = h.transport.connect()
        let bad2 = h.transport.connect()
        h.transport.deliverRaw([0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3], from: bad1.id)
        h.transport.deliverRaw([4, 0, 0, 0, 1, 99, 0, 0], from: bad2.id)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        let e0 = await c0.value
        let e1 = await c1.value
        #expect(e0 == nil && e1 == nil)
        #expect(h.metrics.count == 2 && h.metrics.allSatisfy { $0["finished"] as? Int == 10 })
    }

    @Test func aClientClaimingAnotherProcessesDeviceIsDisconnected() async throws {
        let s = TestSupport.tinyScenario(devices: 40, rounds: 2, perRound: 40)
        let h = Harness(s)
        let c1 = h.client(1)
        // Process 0 is hand-driven: it handshakes, then answers with an update for device 39 (process 1's).
        let fake = h.transport.connect()
        let token = h.token
        let faker = Task {
            try await fake.send(
                .hello(Hello(token: token, processIndex: 0, processCount: 2, firstDevice: 0, deviceCount: 20))
            )
            for try await m in fake.inbound {
                if case .train(let t) = m {
                    try await fake.send(
                        .update(
                            DeviceUpdate(
                                round: t.round,
                                device: 39,
                                examples: 1,
                                trainLoss: 0,
                                weightedDelta: t.shared.map { _ in 0 },
                                weights: []
                            )
                        )
                    )
                }
            }
        }
        try await h.coordinator.run()
        _ = await faker.result
        _ = await c1.value
        let m = h.metrics
        #expect(m[0]["dropped"] as? Int == 20 && m[0]["finished"] as? Int == 20)
        #expect(m[1]["processes_alive"] as? Int == 1)
    }
}

extension CoordinatorTests {
    /// A process that sends every update twice and replays last round's updates: duplicates
    /// are refused (logged, not aggregated) and replays of an earlier round are ignored, so
    /// the model equals an honest run's.
    @Test func duplicatedAndReplayedUpdatesCountOnce() async throws {
        let s = TestSupport.tinyScenario(devices: 40, rounds: 3, perRound: 40)
        let honest = Harness(s)
        let h0 = honest.client(0)
        let h1 = honest.client(1)
        try await honest.coordinator.run()
        _ = await h0.value
        _ = await h1.value

        let h = Harness(s)
        let c1 = h.client(1)
        let fake = h.transport.connect()
        let token = h.token
        let host = try! DeviceHost(scenario: s, population: h.population, shard: 0..<20)
        let faker = Task {
            try await fake.send(
                .hello(Hello(token: token, processIndex: 0, processCount: 2, firstDevice: 0, deviceCount: 20))
            )
            var previous: [DeviceUpdate] = []
            for try await m in fake.inbound {
                if case .shutdown = m { return }
                if case .evaluate(let e) = m {
                    try await fake.send(.evaluation(EvaluationReport(round: e.round, entries: [])))
                    continue
                }
                guard case .train(let t) = m else { continue }
                for old in previous { try await fake.send(.update(old)) }  // replay of the last round
                previous = []
                for d in t.devices {
                    let u = host.train(device: Int(d), round: Int(t.round), shared: t.shared)
                    let msg = DeviceUpdate(
                        round: t.round,
                        device: d,
                        examples: UInt32(u.examples),
                        trainLoss: u.trainLoss,
                        weightedDelta: u.weightedDelta,
                        weights: u.weights
                    )
                    try await fake.send(.update(msg))
                    try await fake.send(.update(msg))  // duplicate
                    previous.append(msg)
                }
            }
        }
        try await h.coordinator.run()
        _ = await faker.result
        _ = await c1.value
        #expect(h.metrics.allSatisfy { $0["finished"] as? Int == 40 && $0["processes_alive"] as? Int == 2 })
        #expect(h.coordinator.model == honest.coordinator.model)
    }
}

@Suite struct AdaptiveClippingTests {
    func config(_ z: Double, countNoise: Double) -> PrivacyConfig {
        var p = PrivacyConfig()
        p.mechanism = .central
        p.noiseMultiplier = z
        p.clip = 1
        p.noise = .reproducible
        p.adaptiveClipping.enabled = true
        p.adaptiveClipping.countNoise = countNoise
        p.adaptiveClipping.targetQuantile = 0.5
        p.adaptiveClipping.learningRate = 0.2
        return p
    }

    @Test func updateNoiseLeavesRoomForTheCountNoise() {
        // (z_Δ⁻² + (2σ_b)⁻²)^(−1/2) must give back the configured z.
        let dp = DPState(config: config(1.0, countNoise: 5), rate: 0.1, population: 1000, seed: 1)
        let z = 1 / (1 / (dp.updateMultiplier * dp.updateMultiplier) + 1 / 100.0).squareRoot()
        #expect(abs(z - 1.0) < 1e-12 && dp.updateMultiplier > 1)
    }

    @Test func clipMovesTowardsTheTargetQuantile() {
        var dp = DPState(config: config(1.0, countNoise: 1), rate: 0.1, population: 1000, seed: 1)  // 100 expected
        _ = dp.adaptClip(withinCount: 100, contributors: 100)  // everyone unclipped: C is too large
        #expect(dp.clip < 1 && abs(dp.clip - exp(-0.2 * 0.5)) < 0.02)
        let before = dp.clip
        _ = dp.adaptClip(withinCount: 0, contributors: 100)  // everyone clipped: C is too small
        #expect(dp.clip > before)
    }

    /// The count the noise split accounts for is centred: one device more or less, clipped or
    /// not, moves 2·Σ(b − ½) by exactly 1, so Σ(b − ½) moves by ½ (the (2σ_b)⁻² term). An
    /// uncentred count (Σb) would move by 1 for an unclipped device and be under-accounted.
    @Test func theClippedCountIsCentred() {
        for (within, contributors) in [(0, 0), (3, 10), (10, 10), (57, 100)] {
            let base = DPState.doubledCentredCount(withinCount: within, contributors: contributors)
            let addUnclipped = DPState.doubledCentredCount(withinCount: within + 1, contributors: contributors + 1)
            let addClipped = DPState.doubledCentredCount(withinCount: within, contributors: contributors + 1)
            #expect(abs(addUnclipped - base) == 1 && abs(addClipped - base) == 1)
        }
        // With no noise to speak of, b̄ is the fraction of contributors within the clip.
        var p = config(1.0, countNoise: 1e-9)
        p.adaptiveClipping.learningRate = 1e-9
        var dp = DPState(config: p, rate: 0.1, population: 1000, seed: 1)  // 100 expected
        #expect(abs(dp.adaptClip(withinCount: 30, contributors: 100) - 0.3) < 1e-6)
    }

    @Test func aRunShrinksAnOversizedClip() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 12, perRound: 40)
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy = config(1.0, countNoise: 2)
        s.privacy.clip = 50  // far above every update norm
        let h = CoordinatorTests.Harness(s)
        _ = h.client(0)
        _ = h.client(1)
        try await h.coordinator.run()
        let clips = h.metrics.compactMap { ($0["privacy"] as? [String: Any])?["clip"] as? Double }
        #expect(clips.count == 12 && clips.first == 50)
        #expect(clips.last! < 50 * exp(-0.2 * 0.3 * 11), "clips \(clips)")  // shrank geometrically
    }
}

@Suite struct PerGroupClippingTests {
    @Test func everyGroupStaysWithinItsOwnBound() throws {
        var s = TestSupport.tinyScenario()
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .central
        s.privacy.clipping = .perGroup
        s.privacy.groupClips.itemEmbedding = 0.05
        s.privacy.groupClips.itemBias = 0.01
        s.privacy.groupClips.globalBias = 0.001
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let host = try! DeviceHost(scenario: s, population: population, shard: 0..<population.deviceCount)
        let layout = MatrixFactorization.sharedLayout(items: population.itemCount, dim: s.model.dim)
        let shared = MatrixFactorization.initialShared(
            items: population.itemCount,
            dim: s.model.dim,
            initStd: 0.02,
            globalBias: 3,
            seed: 1
        )
        var clippedSomewhere = false
        for d in 0..<20 {
            let u = host.train(device: d, round: 1, shared: shared)
            for (name, bound) in [("item_embedding", 0.05), ("item_bias", 0.01), ("global_bias", 0.001)] {
                let norm = u.weightedDelta[layout.range(of: name)!].reduce(0.0) { $0 + Double($1) * Double($1) }
                    .squareRoot()
                #expect(norm <= bound * (1 + 1e-5), "\(name) norm \(norm) > \(bound)")
            }
            clippedSomewhere = clippedSomewhere || !u.withinClip
        }
        #expect(clippedSomewhere)
        // The noise is calibrated to the total sensitivity √(Σ C_g²).
        #expect(abs(s.privacy.sensitivity - (0.05 * 0.05 + 0.01 * 0.01 + 0.001 * 0.001).squareRoot()) < 1e-15)
        let dp = DPState(config: s.privacy, rate: 0.5, population: 60, seed: 1)
        #expect(dp.clip == s.privacy.sensitivity)
    }
}

@Suite struct RoundTrackerTests {
    @Test func everyDeviceEndsInExactlyOneState() {
        var t = RoundTracker(assignments: [1: [10, 11, 12], 2: [20, 21]])
        #expect(t.pending == 5 && !t.isComplete)
        #expect(t.resolve(10, from: 1, as: .finished) == .accepted)
        #expect(t.resolve(10, from: 1, as: .finished) == .notPending)  // duplicate
        #expect(t.resolve(20, from: 1, as: .finished) == .wrongConnection)  // not its device
        #expect(t.resolve(99, from: 1, as: .finished) == .notPending)  // never sampled
        #expect(t.resolve(11, from: 1, as: .failed) == .accepted)
        #expect(t.drop(connection: 2) == 2)
        #expect(t.expire() == 1)
        #expect(t.isComplete)
        #expect(t.count(.finished) == 1 && t.count(.failed) == 1 && t.count(.dropped) == 2 && t.count(.timedOut) == 1)
    }

    @Test func shardingCoversEveryDeviceOnce() {
        for (n, p) in [(10, 3), (943, 2), (7, 7), (100_000, 16)] {
            var seen = 0
            for i in 0..<p {
                let r = Sharding.range(process: i, of: p, devices: n)
                #expect(r.lowerBound == seen)
                seen = r.upperBound
                for d in [r.lowerBound, r.upperBound - 1] where !r.isEmpty {
                    #expect(Sharding.process(of: d, processes: p, devices: n) == i)
                }
            }
            #expect(seen == n)
        }
    }
}

extension CoordinatorTests {
    /// The final evaluation carries ranking, beyond-accuracy, cohort and negative-transfer
    /// figures, each within its range.
    @Test func finalEvaluationReportsBeyondAccuracyCohortsAndNegativeTransfer() async throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 30)
        s.evaluation.sampledNegatives = 20
        let h = Harness(s)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        _ = await c0.value
        _ = await c1.value
        let e = try #require(h.metrics.last?["eval"] as? [String: Any])
        for key in [
            "recall@10", "mrr@10", "auc", "coverage@10", "gini_exposure@10", "ild_category@10", "ild_embedding@10",
            "hr@10_sampled20", "ndcg@10_sampled20",
        ] {
            let v = try #require(e[key] as? Double, "\(key)")
            // cosine distance is in [0, 2]
            #expect(v >= 0 && v <= (key.hasPrefix("ild_embedding") ? 2 : 1), "\(key) = \(v)")
        }
        #expect((e["novelty@10"] as? Double ?? -1) > 0)
        let nt = try #require(e["negative_transfer"] as? [String: Any])
        #expect(nt["devices"] as? Int == 60 || (nt["devices"] as? Int ?? 0) > 40)
        #expect(
            (nt["rmse_local_only"] as? Double ?? .nan).isFinite && (nt["rmse_global_model"] as? Double ?? .nan).isFinite
        )
        let share = ((nt["federation_worse_than_local_only"] as? [String: Any])?["share"] as? Double) ?? -1
        #expect(share >= 0 && share <= 1)
        let cohorts = try #require(e["cohorts"] as? [String: Any])
        let activity = try #require(cohorts["activity"] as? [[String: Any]])
        #expect(activity.count == 4 && activity.map { $0["devices"] as? Int ?? 0 }.reduce(0, +) == 60)
        #expect((cohorts["worst_by_rmse"] as? [String: Any])?["cohort"] is String)
        // Demographic cohorts from the synthetic profile (home domain, age bucket, region).
        let demographic = try #require(cohorts["demographic"] as? [[String: Any]])
        let homes = demographic.filter { ($0["name"] as? String)?.hasPrefix("home_domain=") == true }
        #expect(homes.count == 2 && homes.map { $0["devices"] as? Int ?? 0 }.reduce(0, +) == 60)
    }

    /// A scenario names the cohort families it wants; with a diurnal fleet, availability
    /// classes partition the evaluated devices.
    @Test func scenariosChooseCohortFamiliesIncludingAvailability() async throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 2, perRound: 20)
        s.fleet.availability.model = .diurnal
        s.evaluation.cohortKinds = ["availability", "participation"]
        let h = Harness(s)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        _ = await c0.value
        _ = await c1.value
        let cohorts = try #require((h.metrics.last?["eval"] as? [String: Any])?["cohorts"] as? [String: Any])
        #expect(Set(cohorts.keys) == ["availability", "participation", "worst_by_rmse"])
        let availability = try #require(cohorts["availability"] as? [[String: Any]])
        let wifi = availability.filter { ($0["name"] as? String)?.contains("Wi-Fi") == true }
        let compute = availability.filter { ($0["name"] as? String)?.hasSuffix("compute") == true }
        #expect(wifi.map { $0["devices"] as? Int ?? 0 }.reduce(0, +) == 60)
        #expect(compute.count == 3 && compute.map { $0["devices"] as? Int ?? 0 }.reduce(0, +) == 60)
    }
}
