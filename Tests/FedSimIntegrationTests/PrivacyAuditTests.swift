import FedSimConfig
import FedSimCore
import FedSimPrivacy
import FedSimRuntime
import FedSimTestSupport
import Testing

/// The one-run privacy audit through the real coordinator and clients: the empirical lower
/// bound stays below the claimed ε on an honest run, and exceeds it when the noise is
/// secretly a hundredth of what is accounted (a planted bug: the audit can fail).
@Suite struct PrivacyAuditTests {
    /// 400 devices, q = 0.2, σ = 3, 10 rounds: claimed ε ≈ 1.04 at δ = 1e-5. 400 canaries in
    /// about 6,800 shared parameters (400 items × 17): nearly orthogonal.
    static func scenario() -> Scenario {
        var s = TestSupport.tinyScenario(devices: 400, rounds: 10, perRound: 80)
        s.data.synthetic.itemsPerDomain = 200
        s.model.dim = 16
        s.training.local.epochs = 1
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .central
        s.privacy.noiseMultiplier = 3
        s.privacy.clip = 0.5
        s.privacy.noise = .reproducible
        var audit = PrivacyAudit()
        audit.canaries = 400
        s.privacy.audit = audit
        return s
    }

    static func audit(plantedNoiseScale: Double? = nil) async throws -> (lower: Double, claimed: Double, text: String) {
        let h = CoordinatorHarness(Self.scenario())
        if let plantedNoiseScale { h.coordinator.plantNoiseBugForAuditSelfTest(scale: plantedNoiseScale) }
        let clients = (0..<2).map { h.client($0) }
        try await h.coordinator.run()
        for c in clients { #expect(await c.value == nil) }
        let audit = try #require(h.coordinator.audit)
        #expect(audit.rounds == 10)
        let r = audit.result(delta: 1e-5)
        let claimed = try #require(h.coordinator.dp).accountant.epsilon(delta: 1e-5).epsilon
        let report = try #require(h.coordinator.auditReport())
        #expect(report.consistent == (r.epsilonLowerBound <= claimed))
        return (r.epsilonLowerBound, claimed, report.json.text)
    }

    @Test func anHonestRunStaysBelowItsClaim() async throws {
        let (lower, claimed, text) = try await Self.audit()
        #expect(abs(claimed - 1.0404) < 1e-3)
        print("honest audit: \(text)")
        #expect(lower <= claimed, "\(text)")
        #expect(text.contains("\"consistent\":true"))
    }

    @Test func aPlantedNoiseBugIsCaught() async throws {
        let (lower, claimed, text) = try await Self.audit(plantedNoiseScale: 0.01)
        print("planted audit: \(text)")
        #expect(lower > claimed, "\(text)")
        #expect(text.contains("\"consistent\":false"))
    }

    @Test func anAuditRunCannotBeResumed() throws {
        let h = CoordinatorHarness(Self.scenario())
        #expect(throws: Coordinator.Failure.self) { try h.coordinator.checkResumable() }
    }
}
