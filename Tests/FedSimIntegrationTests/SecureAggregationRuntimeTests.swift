import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimPrivacy
import FedSimRuntime
import FedSimSecAgg
import FedSimTestSupport
import FedSimWire
import Foundation
import NIOConcurrencyHelpers
import Testing

/// Secure aggregation through the real coordinator and client loops (in-memory transport).
@Suite(.timeLimit(.minutes(30))) struct SecureAggregationRuntimeTests {
    final class Recorder: @unchecked Sendable {
        let lock = NIOLock()
        var toCoordinator: [Message] = []
        var toClients: [Message] = []
        func record(_ up: Bool, _ m: Message) {
            lock.withLock { if up { toCoordinator.append(m) } else { toClients.append(m) } }
        }
    }

    struct Run {
        var coordinator: Coordinator
        var recorder: Recorder
        var sink: MemoryMetricsSink
        var population: any Population
    }

    static func run(_ s: Scenario) async throws -> Run {
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let info = PopulationInfo(population)
        let token = SecureRandom.bytes(32)
        let enrollment = Enrollment(secret: SecureRandom.bytes(32))
        let transport = InMemoryTransport()
        let recorder = Recorder()
        transport.recorder = { recorder.record($0, $1) }
        let sink = MemoryMetricsSink()
        let directory = DeviceDirectory.build(
            population,
            splitter: Splitter(s.data.split, seed: Seeds.derive(s.seed, "split"))
        )
        let coordinator = try! Coordinator(
            scenario: s,
            population: info,
            processCount: s.runtime.processes,
            token: token,
            transport: transport,
            metrics: sink,
            directory: directory
        )
        // No test here waits for a deadline (a crashed client closes its connection), so the
        // deadlines go on a clock nobody advances: a 2-core machine running the whole suite
        // can starve the clients for minutes, and a wall-clock deadline then abandoned secure
        // sums that were only slow (a 516 s run lost its sum that way).
        coordinator.clock = ManualClock()
        var tasks: [Task<Void, Never>] = []
        for i in 0..<s.runtime.processes {
            let shard = Sharding.range(process: i, of: s.runtime.processes, devices: population.deviceCount)
            var runner = ClientRunner(
                host: try! DeviceHost(scenario: s, population: population, shard: shard),
                processIndex: i,
                processCount: s.runtime.processes,
                token: token,
                enrollment: enrollment
            )
            let endpoint = transport.connect()
            runner.crash = { endpoint.crash() }
            let r = runner
            tasks.append(Task { _ = try? await r.run(endpoint) })
        }
        try await coordinator.run()
        for t in tasks { await t.value }
        return Run(coordinator: coordinator, recorder: recorder, sink: sink, population: population)
    }

    static func scenario(_ proto: SecureAggregationConfig.Kind, rounds: Int = 3) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: rounds, perRound: 24)
        s.secureAggregation.protocol = proto
        // One deadline covers a whole secure sum (four stages of debug-build crypto). Nothing
        // here waits for it to fire (a crashed client closes its connection), so it is set far
        // above what a 2-core machine running the whole suite in parallel needs.
        s.runtime.roundDeadlineSeconds = 120
        return s
    }

    /// Meta-learning of the two-tower model with domain adapters (shared and domain groups in
    /// one vector) through SecAgg+: the same model as the plain run to quantization error, no
    /// plain update ever reaches the coordinator, and the cold-start phase still runs.
    @Test func metaLearnedTwoTowerThroughSecAggMatchesPlain() async throws {
        func scenario(_ proto: SecureAggregationConfig.Kind) -> Scenario {
            var s = Self.scenario(proto)
            s.model.kind = .twoTower
            s.model.domainAdapters = true
            s.model.disentangle = true
            s.personalization.strategy = .global
            s.meta.algorithm = .fomaml
            s.meta.innerGroups = [.personal, .domain]
            s.personalization.adaptation.groups = [.personal, .domain]
            s.data.synthetic.minRatings = 25
            s.evaluation.coldStart.protocol = .newUsers
            s.evaluation.coldStart.k = [0, 5]
            s.evaluation.localOnlyEpochs = 0
            return s
        }
        let plain = try await Self.run(scenario(.none))
        let secure = try await Self.run(scenario(.secaggPlus))
        let diffs = zip(plain.coordinator.model, secure.coordinator.model).map { abs($0 - $1) }
        let worst = diffs.max()!
        let layout = plain.coordinator.layout
        let at = diffs.firstIndex(of: worst)!
        let tensor = layout.tensors[layout.offsets.lastIndex { $0 <= at }!].name
        #expect(worst < 1e-3, "largest parameter difference \(worst) in \(tensor)")
        #expect(plain.coordinator.model != plain.coordinator.recommender.initialShared())
        #expect(!secure.recorder.toCoordinator.contains { if case .update = $0 { return true } else { return false } })
        #expect(secure.coordinator.coldStartResults.count == 2)
    }

    /// LSTTM through SecAgg+ with its long-term update delayed: the same model as the plain
    /// run to quantization error (the long-term tensors' zero weights on off-cadence rounds
    /// included), no plain update reaches the coordinator, and every period is scored.
    @Test func lsttmThroughSecAggMatchesPlain() async throws {
        func scenario(_ proto: SecureAggregationConfig.Kind) -> Scenario {
            var s = LSTTMRuntimeTests.scenario(rounds: 3, delay: 1)
            s.model.lsttm.longTermEvery = 2
            s.data.synthetic.devices = 60
            s.training.devicesPerRound = 24
            s.secureAggregation.protocol = proto
            s.runtime.roundDeadlineSeconds = 120  // nothing waits for it; a loaded suite can exceed 10 s
            return s
        }
        let plain = try await Self.run(scenario(.none))
        let secure = try await Self.run(scenario(.secaggPlus))
        let worst = zip(plain.coordinator.model, secure.coordinator.model).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest parameter difference \(worst)")
        #expect(plain.coordinator.model != plain.coordinator.recommender.initialShared())
        #expect(!secure.recorder.toCoordinator.contains { if case .update = $0 { return true } else { return false } })
        #expect(secure.coordinator.coldStartResults.count == 3)
    }

    /// Under secure aggregation no process reports exposure counts; the evaluation's secure
    /// sum gives exactly how many evaluated devices rated each item, and K items per ranked device.
    @Test func exposureCountsTravelOnlyThroughTheSecureSum() async throws {
        var s = Self.scenario(.secaggPlus, rounds: 2)
        s.evaluation.every = 1
        let run = try await Self.run(s)
        let reports = run.recorder.toCoordinator.compactMap { m -> EvaluationReport? in
            if case .evaluation(let r) = m { return r } else { return nil }
        }
        #expect(reports.count == 4)  // 2 evaluations × 2 processes
        #expect(
            reports.allSatisfy {
                $0.recommended.isEmpty && $0.rated.isEmpty && $0.entries.allSatisfy { $0.top.isEmpty }
            }
        )
        let sum = try #require(run.coordinator.lastExposureSum)
        let n = run.population.itemCount
        #expect(sum.count == 2 * n)
        let splitter = Splitter(s.data.split, seed: Seeds.derive(s.seed, "split"))
        var expected = [UInt32](repeating: 0, count: n)
        for d in 0..<run.population.deviceCount {
            for i in Set(run.population.deviceData(d, split: splitter).train.items) { expected[Int(i)] += 1 }
        }
        #expect(Array(sum[n...]) == expected)
        let line = try JSONSerialization.jsonObject(with: Data(run.sink.lines.last!.utf8)) as! [String: Any]
        let eval = try #require(line["eval"] as? [String: Any])
        let ranked = try #require(eval["ranked_devices"] as? Int)
        #expect(sum[0..<n].reduce(0, +) == UInt32(ranked * s.evaluation.k))
        #expect((eval["coverage@\(s.evaluation.k)"] as? Double).map { $0 > 0 } == true)
        #expect(eval["exposure_omitted"] == nil)
    }

    /// When the evaluation's secure exposure sum fails (here: most devices drop before
    /// advertising their keys, so no round reaches its threshold), the exposure metrics are
    /// missing and `exposure_omitted` says why, so a reader can tell them from "not computed".
    @Test func aFailedExposureSumSaysWhyTheExposureMetricsAreMissing() async throws {
        var s = Self.scenario(.secaggPlus, rounds: 1)
        s.secureAggregation.dropout.advertise = 0.9
        s.runtime.minDevicesPerRound = 1
        let run = try await Self.run(s)
        let line = try JSONSerialization.jsonObject(with: Data(run.sink.lines.last!.utf8)) as! [String: Any]
        let eval = try #require(line["eval"] as? [String: Any])
        #expect((eval["exposure_omitted"] as? String)?.contains("secure exposure sum failed") == true, "\(eval)")
        #expect(eval["coverage@\(s.evaluation.k)"] == nil)
    }

    @Test func secureRunMatchesPlainRunToQuantizationError() async throws {
        let plain = try await Self.run(Self.scenario(.none))
        let secure = try await Self.run(Self.scenario(.secaggPlus))
        let a = plain.coordinator.model
        let b = secure.coordinator.model
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest parameter difference \(worst)")
        #expect(secure.coordinator.deviceUpdates == 72)
        let line = try JSONSerialization.jsonObject(with: Data(secure.sink.lines[0].utf8)) as! [String: Any]
        let sa = try #require(line["secagg"] as? [String: Any])
        #expect(sa["protocol"] as? String == "secagg+")
        let stages = try #require(sa["stages"] as? [String: Any])
        for st in ["advertise", "share", "masked", "unmask"] {
            let o = try #require(stages[st] as? [String: Any], "stage \(st)")
            #expect(o["devices"] as? Int == 24 && (o["bytes_up"] as? Int ?? 0) > 0)
        }
    }

    @Test func coordinatorReceivesNoIndividualUpdate() async throws {
        let secure = try await Self.run(Self.scenario(.secagg, rounds: 2))
        let received = secure.recorder.lock.withLock { secure.recorder.toCoordinator }
        #expect(
            !received.contains {
                if case .update = $0 { return true }
                return false
            }
        )
        let masked = received.compactMap { m -> [UInt32]? in
            guard case .secagg(let e) = m, case .masked(_, let v)? = try? SecAggPayload.decode(stage: e.stage, e.body)
            else { return nil }
            return v
        }
        // 2 training rounds × 24 devices, plus the final evaluation's exposure sum over all 60.
        #expect(masked.count == 48 + 60)
        // A masked vector looks uniform: the update itself is mostly zeros (unrated items), the
        // masked vector almost never is.
        for v in masked { #expect(v.filter { $0 == 0 }.count < v.count / 100) }
    }

    @Test func clientKilledDuringMaskingLeavesAnExactSumOfTheSurvivors() async throws {
        var s = Self.scenario(.secaggPlus, rounds: 1)
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.kind = .crash
                f.process = 1
                f.round = 1
                f.afterUpdates = 3
                return f
            }()
        ]
        let r = try await Self.run(s)
        let sum = try #require(r.coordinator.lastSecureSum)
        let sent = r.recorder.lock.withLock { r.recorder.toClients }
        let unmasks = sent.compactMap { m -> [UInt32]? in
            guard case .secagg(let e) = m, case .unmask(let u)? = try? SecAggPayload.decode(stage: e.stage, e.body)
            else { return nil }
            return u
        }
        let begins = sent.compactMap { m -> SecAggRoundConfig? in
            guard case .secagg(let e) = m, case .begin(let c)? = try? SecAggPayload.decode(stage: e.stage, e.body)
            else { return nil }
            return c
        }
        let survivors = try #require(unmasks.first)
        let sampled = try #require(begins.first)
        // Process 1 hosts devices 30..<60; it sent 3 masked inputs and died.
        #expect(survivors.filter { $0 >= 30 }.count == 3)
        #expect(survivors.count == sampled.devices.filter { $0 < 30 }.count + 3)
        // Recompute every survivor's quantized input independently and add them up.
        let host = try! DeviceHost(scenario: s, population: r.population, shard: 0..<r.population.deviceCount)
        let initial = MatrixFactorization.initialShared(
            items: r.population.itemCount,
            dim: s.model.dim,
            initStd: s.model.initStd,
            globalBias: 3,
            seed: s.seed
        )
        let q = try SecureSumQuantizer(
            layout: MatrixFactorization.sharedLayout(items: r.population.itemCount, dim: s.model.dim),
            bits: s.secureAggregation.bits,
            maxContributors: sampled.devices.count,
            valueClip: s.secureAggregation.valueClip,
            maxRowWeight: s.secureAggregation.maxRowWeight,
            maxExamples: s.secureAggregation.maxExamples
        )
        var expected = [UInt32](repeating: 0, count: q.length)
        for d in survivors {
            let u = host.train(device: Int(d), round: 1, shared: initial)
            var rng = Seeds.rng(s.seed, "secagg.quantize", UInt64(d), 1)
            let v = q.quantize(
                weightedDelta: u.weightedDelta,
                weights: u.weights,
                examples: u.examples,
                meanLoss: u.trainLoss,
                rng: &rng
            ).vector
            for i in expected.indices { expected[i] &+= v[i] }
        }
        #expect(sum == expected)
    }

    @Test func distributedDPNoisesTheSumOnDevicesAndAccountsTheRealizedNoise() async throws {
        var s = Self.scenario(.secaggPlus, rounds: 2)
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .distributed
        s.privacy.noiseMultiplier = 1.2
        s.privacy.noise = .reproducible
        var plain = s
        plain.privacy.mechanism = .none
        let noisy = try await Self.run(s)
        let clean = try await Self.run(plain)
        // Same sample and training; only the devices' noise differs.
        #expect(noisy.coordinator.model != clean.coordinator.model)
        let lines = noisy.sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        for l in lines {
            let p = try #require(l["privacy"] as? [String: Any])
            let z = try #require(p["noise_multiplier"] as? Double)
            let n = l["finished"] as! Int
            // Planned for ⌊0.9·n⌋ survivors; with all n surviving the realized σ exceeds the target.
            #expect(
                z >= 1.2 && z < 1.2 * Double(n - 1).squareRoot() / Double(Int(0.9 * Double(n)) - 1).squareRoot() + 1e-9,
                "z \(z) for n \(n)"
            )
        }
        // The accountant composed exactly those realized multipliers.
        var acc = RDPAccountant()
        for l in lines {
            acc.compose(
                rate: 24.0 / 60.0,
                noiseMultiplier: (l["privacy"] as! [String: Any])["noise_multiplier"] as! Double
            )
        }
        #expect(
            abs(acc.epsilon(delta: 1e-5).epsilon - ((lines.last!["privacy"] as! [String: Any])["epsilon"] as! Double))
                < 1e-9
        )
    }

    @Test func plainUpdateDuringSecureRoundClosesThatConnection() async throws {
        // A hostile client answers the train request with a plain update: refused, never aggregated.
        var s = Self.scenario(.secaggPlus, rounds: 1)
        s.runtime.minDevicesPerRound = 1
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let info = PopulationInfo(population)
        let token = SecureRandom.bytes(32)
        let enrollment = Enrollment(secret: SecureRandom.bytes(32))
        let transport = InMemoryTransport()
        let sink = MemoryMetricsSink()
        let coordinator = try! Coordinator(
            scenario: s,
            population: info,
            processCount: 2,
            token: token,
            transport: transport,
            metrics: sink
        )
        let initial = coordinator.model
        let honest = ClientRunner(
            host: try! DeviceHost(scenario: s, population: population, shard: 0..<30),
            processIndex: 0,
            processCount: 2,
            token: token,
            enrollment: enrollment
        )
        let e0 = transport.connect()
        let t0 = Task { _ = try? await honest.run(e0) }
        let hostile = transport.connect()
        let t1 = Task {
            try await hostile.send(
                .hello(Hello(token: token, processIndex: 1, processCount: 2, firstDevice: 30, deviceCount: 30))
            )
            for try await m in hostile.inbound {
                switch m {
                case .welcome:
                    let p = SecAggPayload.enroll((30..<60).map { (UInt32($0), enrollment.publicKey(of: UInt32($0))) })
                    try await hostile.send(
                        .secagg(SecAggEnvelope(round: 0, stage: p.stage.rawValue, body: p.encoded()))
                    )
                case .train(let t):
                    try await hostile.send(
                        .update(
                            DeviceUpdate(
                                round: t.round,
                                device: t.devices[0],
                                examples: 1,
                                trainLoss: 0,
                                weightedDelta: t.shared.map { _ in 0.5 },
                                weights: []
                            )
                        )
                    )
                default: break
                }
            }
        }
        do { try await coordinator.run() } catch {}
        await t0.value
        _ = await t1.result
        // The hostile process was disconnected at its first plain update.
        let line = try #require(
            sink.lines.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        )
        #expect(line["processes_alive"] as? Int == 1)
        let sampledHonest = (line["sampled"] as! Int) - (line["dropped"] as! Int)
        #expect((line["finished"] as! Int) == sampledHonest)
        if coordinator.deviceUpdates == 0 {
            // Too few honest survivors for the threshold: the round was abandoned, the model untouched.
            #expect(coordinator.model == initial)
            #expect(((line["secagg"] as? [String: Any])?["abandoned"] as? String)?.contains("threshold") == true)
        } else {
            #expect(coordinator.deviceUpdates <= 30)  // only process 0's devices (0..<30) can be in the sum
        }
    }
}

/// Stragglers under a simulated deadline and over-selection: plain rounds train only the
/// devices that make it; secure rounds run SecAgg+ with every selected device and drop the
/// late ones' masked inputs, which the survivors' reveals then unmask. Both must aggregate
/// exactly the same devices, so the models agree to quantization error.
@Suite struct FleetRoundTests {
    static func scenario(_ proto: SecureAggregationConfig.Kind) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 3, perRound: 20)
        s.secureAggregation.protocol = proto
        // Nothing here waits for the wall-clock deadline to fire; under a loaded 2-core suite a
        // secure sum can take longer than tinyScenario's 10 s, which would drop devices.
        s.runtime.roundDeadlineSeconds = 120
        s.secureAggregation.assumedDropout = 0.3
        s.fleet.compute.examplesPerSecond = 20
        s.fleet.compute.sigma = 1.0
        s.fleet.deadlineSeconds = 6
        s.fleet.overSelection = 1.3
        // Compute-bound devices: upload sizes (larger under SecAgg+) do not move finish times.
        s.fleet.network.downloadMbps = 1e5
        s.fleet.network.uploadMbps = 1e5
        s.fleet.network.latencyMs = 0
        return s
    }

    static func lines(_ r: SecureAggregationRuntimeTests.Run) -> [[String: Any]] {
        r.sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test func deadlineAndOverSelectionDropTheSameDevicesWithAndWithoutSecureAggregation() async throws {
        let plain = try await SecureAggregationRuntimeTests.run(Self.scenario(.none))
        let secure = try await SecureAggregationRuntimeTests.run(Self.scenario(.secaggPlus))
        var late = 0
        for (p, s) in zip(Self.lines(plain), Self.lines(secure)) {
            let pf = p["fleet"] as! [String: Any]
            let sf = s["fleet"] as! [String: Any]
            #expect(pf["selected"] as? Int == 26)  // ⌈1.3 × 20⌉
            #expect(
                (pf["kept"] as! Int) + (pf["missed_deadline"] as! Int) + (pf["went_offline"] as! Int)
                    + (pf["over_selected"] as! Int) == 26
            )
            #expect(p["finished"] as? Int == pf["kept"] as? Int)
            #expect(s["finished"] as? Int == sf["kept"] as? Int)
            #expect(s["dropped"] as? Int == 26 - (sf["kept"] as! Int))
            var pfe = pf
            var sfe = sf
            #expect(
                abs(
                    (pfe.removeValue(forKey: "sim_round_seconds") as! Double)
                        - (sfe.removeValue(forKey: "sim_round_seconds") as! Double)
                ) < 1e-3
            )
            #expect(NSDictionary(dictionary: pfe) == NSDictionary(dictionary: sfe))
            late += pf["missed_deadline"] as! Int
        }
        #expect(late > 0, "the deadline should drop someone at this speed spread")
        let worst = zip(plain.coordinator.model, secure.coordinator.model).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest parameter difference \(worst)")
        #expect(plain.coordinator.participation.finished == secure.coordinator.participation.finished)
    }
}

/// FedBuff on the simulated clock, plain and with SecAgg+ over each buffer: the same devices
/// arrive in the same order, so the two models agree to quantization error; staleness
/// weights travel to the devices under SecAgg+.
@Suite struct AsyncTests {
    static func scenario(_ proto: SecureAggregationConfig.Kind) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 6, perRound: 10)
        s.secureAggregation.protocol = proto
        // Nothing here waits for the wall-clock deadline to fire; under a loaded 2-core suite a
        // secure sum can take longer than tinyScenario's 10 s, which would drop devices.
        s.runtime.roundDeadlineSeconds = 120
        s.training.async.enabled = true
        s.training.async.bufferSize = 6
        s.training.async.concurrency = 15
        s.fleet.compute.examplesPerSecond = 20
        s.fleet.compute.sigma = 1.2
        s.fleet.availability.roundIntervalSeconds = 0
        // Compute-bound devices: upload sizes (which differ under SecAgg+) do not move arrivals.
        s.fleet.network.downloadMbps = 1e5
        s.fleet.network.uploadMbps = 1e5
        s.fleet.network.latencyMs = 0
        return s
    }

    /// More flights than devices (concurrency 100 over 12 devices, fast ones): a device whose
    /// update waits in the buffer is not launched again until the buffer is aggregated, so no
    /// device arrives twice in one buffer (this crashed the coordinator before).
    @Test func moreFlightsThanDevicesNeverBufferADeviceTwice() async throws {
        var s = Self.scenario(.none)
        s.data.synthetic.devices = 12
        s.training.devicesPerRound = 4
        s.training.async.concurrency = 100
        s.training.async.bufferSize = 8
        let r = try await SecureAggregationRuntimeTests.run(s)
        let lines = r.sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 6)
        #expect(lines.allSatisfy { ($0["finished"] as? Int ?? 0) <= 8 }, "\(lines.map { $0["finished"] ?? "?" })")
        #expect(lines.contains { ($0["finished"] as? Int ?? 0) == 8 })
    }

    @Test func fedBuffPlainAndSecureAgree() async throws {
        let plain = try await SecureAggregationRuntimeTests.run(Self.scenario(.none))
        let secure = try await SecureAggregationRuntimeTests.run(Self.scenario(.secaggPlus))
        let p = plain.sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let s = secure.sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(p.count == 6 && s.count == 6)
        var clock = 0.0
        var stale = 0
        for (a, b) in zip(p, s) {
            #expect(a["finished"] as? Int == 6 && b["finished"] as? Int == 6)
            let t = a["sim_seconds"] as! Double
            #expect(t >= clock)  // the simulated clock only moves forward
            clock = t
            #expect(abs((b["sim_seconds"] as! Double) - t) < 1e-6)
            stale += (a["async"] as! [String: Any])["staleness_max"] as! Int
        }
        #expect(stale > 0, "with 15 in flight and buffers of 6, some arrivals must be stale")
        let worst = zip(plain.coordinator.model, secure.coordinator.model).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest parameter difference \(worst)")
    }

    @Test func asyncWithDPIsRefused() {
        do {
            _ = try Scenario.load(
                yaml: "name: x\n",
                overrides: [
                    "training.async.enabled=true", "privacy.mechanism=central",
                    "training.sampling=poisson", "training.weighting=uniform",
                ]
            )
            Issue.record("accepted")
        } catch { #expect("\(error)".contains("no accountant")) }
    }
}

/// What composes with secure aggregation: the secure sum's width sets the upload size
/// (masked vectors are packed at it), and a shared rotation before the quantizer commutes
/// with the sum.
@Suite struct SecureCompressionTests {
    static func scenario(bits: Int, rotate: Bool, proto: SecureAggregationConfig.Kind = .secaggPlus) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 24)
        s.secureAggregation.protocol = proto
        s.secureAggregation.bits = bits
        // Nothing here waits for the wall-clock deadline to fire; under a loaded 2-core suite a
        // secure sum can take longer than tinyScenario's 10 s, which would drop devices.
        s.runtime.roundDeadlineSeconds = 120
        s.training.weighting = .uniform
        s.secureAggregation.maxExamples = 1_000
        if rotate {
            s.compression.stages = [.rotate]
            s.compression.blockSize = 64
        }
        return s
    }

    static func maskedBytes(_ r: SecureAggregationRuntimeTests.Run) -> Int {
        let line = try! JSONSerialization.jsonObject(with: Data(r.sink.lines[0].utf8)) as! [String: Any]
        return (((line["secagg"] as! [String: Any])["stages"] as! [String: Any])["masked"] as! [String: Any])[
            "bytes_up"
        ] as! Int
    }

    @Test func packedWidthFollowsTheSecureSumBitsAndRotationCommutes() async throws {
        let plain = try await SecureAggregationRuntimeTests.run(Self.scenario(bits: 32, rotate: false, proto: .none))
        let wide = try await SecureAggregationRuntimeTests.run(Self.scenario(bits: 32, rotate: false))
        let narrow = try await SecureAggregationRuntimeTests.run(Self.scenario(bits: 24, rotate: false))
        let rotated = try await SecureAggregationRuntimeTests.run(Self.scenario(bits: 32, rotate: true))
        // 24-bit masked vectors take about 24/32 of the 32-bit ones on the wire.
        let ratio = Double(Self.maskedBytes(narrow)) / Double(Self.maskedBytes(wide))
        #expect(ratio > 0.72 && ratio < 0.78, "masked bytes ratio \(ratio)")
        for (name, run, tol) in [
            ("32-bit", wide, Float(1e-3)), ("rotated", rotated, Float(1e-3)), ("24-bit", narrow, Float(5e-3)),
        ] {
            let worst = zip(plain.coordinator.model, run.coordinator.model).map { abs($0 - $1) }.max()!
            #expect(worst < tol, "\(name): largest parameter difference \(worst)")
        }
    }

    @Test func onlyRotationComposesWithSecureAggregation() {
        func error(_ o: [String]) -> String {
            do {
                _ = try Scenario.load(yaml: "name: x\ntraining: {weighting: uniform}\n", overrides: o)
                return ""
            } catch { return "\(error)" }
        }
        #expect(error(["compression.stages=[rotate]"]).isEmpty)
        #expect(error(["compression.stages=[top_k]"]).contains("masks are dense"))
        #expect(error(["compression.stages=[rotate]", "training.weighting=per_item"]).contains("uniform"))
        #expect(
            error(["compression.stages=[rotate]", "secure_aggregation.protocol=none"]).contains("[rotate, quantize]")
        )
    }
}
