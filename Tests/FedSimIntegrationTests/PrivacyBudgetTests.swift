import FedSimConfig
import FedSimCore
import FedSimData
import FedSimPrivacy
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import Testing

/// A run with a privacy budget never records ε above it, even when distributed DP's dropouts
/// leave less noise in a round than was planned.
@Suite struct PrivacyBudgetTests {
    /// Distributed DP under SecAgg+ with 30% of the devices dropping before their masked
    /// input, where 10% were assumed: the realized noise multiplier falls below the planned σ.
    static func scenario(budget: Double = 0) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 4, perRound: 24)
        s.secureAggregation.protocol = .secaggPlus
        s.secureAggregation.dropout.masked = 0.3
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .distributed
        s.privacy.noiseMultiplier = 1.2
        s.privacy.noise = .reproducible
        s.privacy.budget.epsilon = budget
        // Silent devices end with their process's "masked done", so nothing waits for the
        // deadline; it covers a whole secure sum under a loaded 2-core machine.
        s.runtime.roundDeadlineSeconds = 120
        return s
    }

    static func run(_ s: Scenario) async throws -> CoordinatorHarness {
        let h = CoordinatorHarness(s)
        let clients = (0..<s.runtime.processes).map { h.client($0) }
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        return h
    }

    static func privacy(_ h: CoordinatorHarness) -> [(epsilon: Double, z: Double)] {
        h.metrics.compactMap { l in
            guard let p = l["privacy"] as? [String: Any], let e = p["epsilon"] as? Double,
                let z = p["noise_multiplier"] as? Double
            else { return nil }
            return (e, z)
        }
    }

    @Test func distributedDPNeverRecordsEpsilonAboveTheBudget() async throws {
        let free = Self.privacy(try await Self.run(Self.scenario()))
        try #require(free.count >= 2)
        #expect(free[1].z < 1.2, "dropouts beyond the assumed rate leave less noise than planned")
        // What the check before round 2 sees: round 1 as realized, round 2 at the planned σ.
        var planned = RDPAccountant()
        planned.compose(rate: 24.0 / 60.0, noiseMultiplier: free[0].z)
        planned.compose(rate: 24.0 / 60.0, noiseMultiplier: 1.2)
        let plannedEpsilon = planned.epsilon(delta: 1e-5).epsilon
        #expect(free[1].epsilon > plannedEpsilon)
        let budget = (plannedEpsilon + free[1].epsilon) / 2
        let h = try await Self.run(Self.scenario(budget: budget))
        let capped = Self.privacy(h)
        #expect(
            !capped.isEmpty && capped.allSatisfy { $0.epsilon <= budget },
            "budget \(budget): \(capped.map(\.epsilon))"
        )
        #expect(
            h.coordinator.stoppedEarly?.contains("not unmasked") == true,
            "\(h.coordinator.stoppedEarly ?? "no stop")"
        )
    }
}

/// The smaller privacy checks: a ledger write that fails stops the release, δ must be below
/// 1/N, and calibration never answers with a σ no scenario accepts.
@Suite struct PrivacyChecksTests {
    @Test func aLedgerThatCannotBeWrittenThrows() throws {
        // /dev/full fails every write with ENOSPC, as a full disk does.
        let ledger = try PrivacyLedger(path: "/dev/full")
        var entry = JSONObject()
        entry.add("round", 1)
        #expect(throws: PrivacyLedger.WriteError.self) { try ledger.append(entry) }
    }

    @Test func deltaMustBeBelowOneOverTheNumberOfDevices() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 1, perRound: 10)
        s.privacy.mechanism = .central
        s.privacy.delta = 1.0 / 50
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        #expect {
            _ = try Coordinator(
                scenario: s,
                population: PopulationInfo(population),
                processCount: 2,
                token: [],
                transport: InMemoryTransport(),
                metrics: MemoryMetricsSink()
            )
        } throws: { "\($0)".contains("not below 1/N") }
        s.privacy.delta = 1e-5
        _ = try Coordinator(
            scenario: s,
            population: PopulationInfo(population),
            processCount: 2,
            token: [],
            transport: InMemoryTransport(),
            metrics: MemoryMetricsSink()
        )
    }

    @Test func calibrationStaysWithinWhatAScenarioAccepts() throws {
        let r = try MultiProcessTests.fedsim([
            "privacy", "calibrate", "--epsilon", "0.01", "--rounds", "10000", "--rate", "1",
        ])
        #expect(
            r.status == 1 && r.stdout.isEmpty && r.stderr.contains("up to 90"),
            "\(r.status) \(r.stdout) \(r.stderr)"
        )
        let ok = try MultiProcessTests.fedsim([
            "privacy", "calibrate", "--epsilon", "2", "--rounds", "100", "--rate", "0.01",
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}

extension PrivacyChecksTests {
    /// Distributed DP whose per-device noise is beyond the exact sampler's range (a small
    /// cohort and a clip far above the quantizer's value clip) stops with a message before any
    /// round begins; no client crashes (they used to, on the sampler's precondition) and none
    /// sends an un-noised input.
    @Test func perDeviceNoiseBeyondTheSamplersRangeStopsTheRunCleanly() async throws {
        var s = PrivacyBudgetTests.scenario()
        s.secureAggregation.dropout.masked = 0
        s.training.devicesPerRound = 6
        s.secureAggregation.valueClip = 0.5
        s.privacy.clip = 50
        let h = CoordinatorHarness(s)
        let clients = (0..<s.runtime.processes).map { h.client($0) }
        await #expect { try await h.coordinator.run() } throws: { "\($0)".contains("beyond the exact sampler's range") }
        await h.coordinator.abort(reason: "test over")
        for c in clients { _ = await c.value }
        #expect(h.sink.lines.isEmpty)
    }
}
