import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import Testing

/// Parameter groups and cold start end to end: coordinator and client loops over the
/// in-memory transport, every message recorded.
@Suite struct PersonalizationRuntimeTests {
    static func twoTower(devices: Int = 90, rounds: Int = 4, perRound: Int = 30) -> Scenario {
        var s = TestSupport.tinyScenario(devices: devices, rounds: rounds, perRound: perRound)
        s.model.kind = .twoTower
        s.model.domainAdapters = true
        s.evaluation.every = 0
        s.evaluation.localOnlyEpochs = 0
        return s
    }

    /// Runs a scenario and returns the harness, with every message to the coordinator recorded.
    func run(
        _ s: Scenario,
        record: @escaping @Sendable (Message) -> Void = { _ in }
    ) async throws -> CoordinatorTests.Harness {
        let h = CoordinatorTests.Harness(s)
        h.transport.recorder = { toCoordinator, m in if toCoordinator { record(m) } }
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        return h
    }

    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var updates: [DeviceUpdate] = []
        var kinds: Set<String> = []
        func add(_ m: Message) {
            lock.lock()
            defer { lock.unlock() }
            kinds.insert(m.kindName)
            if case .update(let u) = m { updates.append(u) }
        }
    }

    /// FedPer keeps a personal offset per device. What crosses the wire is exactly the shared
    /// and domain layout; the offsets the devices end with appear in no update.
    @Test func personalGroupNeverCrossesTheTransport() async throws {
        var s = Self.twoTower()
        s.personalization.strategy = .fedper
        let log = Log()
        let h = try await run(s) { log.add($0) }
        let layout = ModelRegistry.make(s, PopulationInfo(h.population)).layout
        #expect(!layout.tensors.contains { $0.group == .personal })
        #expect(log.updates.count == 4 * 30)
        #expect(
            log.updates.allSatisfy { $0.weightedDelta.count == layout.count && $0.weights.count == layout.weightCount }
        )
        // A device's trained offset (one round from the initial model, as in round 1) must
        // not appear inside any update.
        let host = try DeviceHost(scenario: s, population: h.population, shard: 0..<45)
        let d = log.updates.map { Int($0.device) }.first { $0 < 45 }!
        host.beginRound(1)
        _ = host.train(device: d, round: 1, shared: ModelRegistry.make(s, PopulationInfo(h.population)).initialShared())
        let offset = host.personalParameters(d)
        #expect(offset.contains { $0 != 0 }, "the offset trained")
        for u in log.updates {
            let v = u.weightedDelta
            let hit =
                v.count >= offset.count
                && (0...(v.count - offset.count)).contains { i in
                    (0..<offset.count).allSatisfy { v[i + $0] == offset[$0] }
                }
            #expect(!hit, "a personal offset appeared inside device \(u.device)'s update")
        }
    }

    /// One device per domain: after one round, the adapter of a domain none of the round's
    /// devices has data in is exactly its initial value; the others moved.
    @Test func domainGroupsAggregateOnlyWithinTheirDomain() async throws {
        var s = Self.twoTower(devices: 60, rounds: 1, perRound: 6)
        s.data.synthetic.domains = ["a", "b", "c", "d"]
        s.data.synthetic.domainsPerDevice = 1
        s.data.synthetic.maxRatings = 30
        let h = try await run(s)
        let info = PopulationInfo(h.population)
        let layout = ModelRegistry.make(s, info).layout
        let initial = ModelRegistry.make(s, info).initialShared()
        var touched = Set<Int32>()
        for (d, n) in h.coordinator.participation.finished.enumerated() where n > 0 {
            for it in h.population.interactions(of: d).items { touched.insert(h.population.itemDomains[Int(it)]) }
        }
        #expect(
            !touched.isEmpty && touched.count < 4,
            "the test needs a round that misses a domain (touched \(touched))"
        )
        for (i, name) in s.data.synthetic.domains.enumerated() {
            let r = layout.range(of: "domain_adapter.\(name)")!
            let same = Array(h.coordinator.model[r]) == Array(initial[r])
            #expect(
                same == !touched.contains(Int32(i)),
                "domain \(name): unchanged \(same), touched \(touched.contains(Int32(i)))"
            )
        }
    }

    /// New users never train and are scored only by the cold-start protocol, one result per k.
    @Test func newUsersNeverTrainAndGetAResultPerK() async throws {
        var s = Self.twoTower(devices: 100, rounds: 4, perRound: 40)
        s.data.synthetic.minRatings = 25
        s.evaluation.coldStart.protocol = .newUsers
        s.evaluation.coldStart.fraction = 0.2
        s.evaluation.coldStart.k = [0, 1, 5, 10]
        s.personalization.strategy = .global
        let h = try await run(s)
        let split = try ColdStartSplit(config: s.evaluation.coldStart, devices: 100, seed: s.seed)
        let newUsers = (0..<100).filter(split.isNewUser)
        #expect(newUsers.count == 20)
        #expect(newUsers.allSatisfy { h.coordinator.participation.selected[$0] == 0 })
        let results = h.coordinator.coldStartResults.map {
            try! JSONSerialization.jsonObject(with: Data($0.text.utf8)) as! [String: Any]
        }
        #expect(results.map { $0["k"] as? Int } == [0, 1, 5, 10])
        for r in results {
            #expect(r["devices"] as? Int == 20)
            #expect((r["rmse"] as? Double).map { $0 > 0.3 && $0 < 2.5 } == true, "\(r)")
        }
        // Every k is scored on the same query ratings.
        #expect(Set(results.map { $0["ratings"] as! Int }).count == 1)
        // The final metrics line carries the same list.
        #expect((h.metrics.last?["cold_start"] as? [[String: Any]])?.count == 4)
    }

    /// `training.rounds: 0` (the no-training baseline): nobody trains, the model stays the
    /// initial one, and the cold-start protocol still scores every k.
    @Test func zeroRoundsEvaluateTheInitialModel() async throws {
        var s = Self.twoTower(devices: 100, rounds: 0, perRound: 40)
        s.data.synthetic.minRatings = 25
        s.evaluation.coldStart.protocol = .newUsers
        s.evaluation.coldStart.k = [0, 5]
        s.personalization.strategy = .global
        let h = try await run(s)
        #expect(h.coordinator.participation.selected.allSatisfy { $0 == 0 })
        #expect(h.coordinator.model == ModelRegistry.make(s, PopulationInfo(h.population)).initialShared())
        let results = h.coordinator.coldStartResults.map {
            try! JSONSerialization.jsonObject(with: Data($0.text.utf8)) as! [String: Any]
        }
        #expect(results.map { $0["k"] as? Int } == [0, 5])
        #expect(results.allSatisfy { ($0["devices"] as? Int ?? 0) > 0 })
    }
}

@Suite struct BaselineTests {
    /// Train ratings {4, 2} and {3}: c = 3. Test ratings {5} and {1, 3}: errors 2, −2, 0 → RMSE √(8/3).
    @Test func globalMeanFromDeviceSums() {
        var a = DeviceEvaluation(device: 0, count: 1, squaredError: 0, absoluteError: 0, ranked: false, hit: 0, ndcg: 0)
        a.trainCount = 2
        a.trainSum = 6
        a.testSum = 5
        a.testSquares = 25
        var b = DeviceEvaluation(device: 1, count: 2, squaredError: 0, absoluteError: 0, ranked: false, hit: 0, ndcg: 0)
        b.trainCount = 1
        b.trainSum = 3
        b.testSum = 4
        b.testSquares = 10
        let g = Coordinator.globalMean([a, b])!
        #expect(g.value == 3)
        #expect(abs(g.rmse - (8.0 / 3).squareRoot()) < 1e-12)
        #expect(Coordinator.globalMean([]) == nil)
    }
}

@Suite struct ColdStartEntryValidationTests {
    func entry(
        device: UInt32 = 3,
        slot: UInt16 = 1,
        se: Double = 2,
        ae: Double = 1,
        ndcg: Double = 0.5,
        hit: Double = 1,
        auc: Double = 0.7
    ) -> ColdStartEntry {
        ColdStartEntry(
            device: device,
            slot: slot,
            count: 4,
            squaredError: se,
            absoluteError: ae,
            ranked: true,
            hit: hit,
            ndcg: ndcg,
            auc: auc
        )
    }

    /// What a hostile or broken process might send is refused entry by entry.
    @Test func hostileEntriesAreRefused() {
        let asked: Set<UInt32> = [3, 4]
        #expect(Coordinator.acceptable(entry(), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(device: 9), asked: asked, slots: 6))  // not asked
        #expect(!Coordinator.acceptable(entry(slot: 6), asked: asked, slots: 6))  // no such k
        #expect(!Coordinator.acceptable(entry(se: .nan), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(se: -1), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(ae: .infinity), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(ndcg: 1.5), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(hit: -0.1), asked: asked, slots: 6))
        #expect(!Coordinator.acceptable(entry(auc: .nan), asked: asked, slots: 6))
    }

    /// The per-slot table pools devices in device order: RMSE over ratings, NDCG over ranked devices.
    @Test func tableSumsPerSlot() throws {
        var c = ColdStartConfig()
        c.protocol = .newUsers
        c.k = [0, 5]
        let rows = Coordinator.coldStartTable(
            [
                entry(device: 4, slot: 0, se: 8, ndcg: 0.2), entry(device: 3, slot: 0, se: 0, ndcg: 0.4),
                entry(device: 3, slot: 1, se: 4),
            ],
            config: c,
            k: 10
        )
        let parsed = rows.map { try! JSONSerialization.jsonObject(with: Data($0.text.utf8)) as! [String: Any] }
        #expect(parsed[0]["k"] as? Int == 0 && parsed[0]["devices"] as? Int == 2 && parsed[0]["ratings"] as? Int == 8)
        #expect(abs((parsed[0]["rmse"] as! Double) - 1) < 1e-12)  // √(8/8)
        #expect(abs((parsed[0]["ndcg@10"] as! Double) - 0.3) < 1e-12)
        #expect(parsed[1]["devices"] as? Int == 1 && abs((parsed[1]["rmse"] as! Double) - 1) < 1e-12)  // √(4/4)
    }
}
