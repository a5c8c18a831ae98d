import FedSimConfig
import FedSimCore
import FedSimPrivacy
import FedSimRuntime
import FedSimTestSupport
import Foundation
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
        #expect(lower <= claimed, "\(text)")
        #expect(text.contains("\"consistent\":true"))
    }

    @Test func aPlantedNoiseBugIsCaught() async throws {
        let (lower, claimed, text) = try await Self.audit(plantedNoiseScale: 0.01)
        #expect(lower > claimed, "\(text)")
        #expect(text.contains("\"consistent\":false"))
    }

    @Test func anAuditRunCannotBeResumed() throws {
        let h = CoordinatorHarness(Self.scenario())
        #expect(throws: Coordinator.Failure.self) { try h.coordinator.checkResumable() }
    }
}

/// `fedsim privacy audit` with real processes, and the report's use of its result: the audit
/// line beside the guarantee, and a refusal when the lower bound exceeds the claim.
@Suite struct PrivacyAuditCommandTests {
    @Test func theAuditCommandRunsAndTheReportFailsClosedOnAViolation() throws {
        var s = PrivacyAuditTests.scenario()
        s.privacy.audit = nil
        s.training.rounds = 4
        let out = TestSupport.temporaryDirectory()
        let r = try MultiProcessTests.fedsim([
            "privacy", "audit", MultiProcessTests.scenarioFile(s), "--canaries", "200", "--out", out, "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("verdict:      consistent"), "\(r.stdout)")
        let text = try String(contentsOfFile: r.runDirectory + "/privacy-audit.json", encoding: .utf8)
        #expect(text.contains("\"canaries\":200") && text.contains("\"rounds_audited\":4"), "\(text)")
        let report = try MultiProcessTests.fedsim(["privacy", "report", r.runDirectory])
        #expect(report.status == 0 && report.stdout.contains("privacy audit: empirical ε ≥"), "\(report.stderr)")
        // The same run with a bound above the claim: the report refuses it.
        let forged = text.replacingOccurrences(
            of: #""epsilon_lower_bound":[0-9.e-]+"#,
            with: "\"epsilon_lower_bound\":99.0",
            options: .regularExpression
        )
        #expect(forged != text)
        TestSupport.write(forged, to: r.runDirectory + "/privacy-audit.json")
        let refused = try MultiProcessTests.fedsim(["privacy", "report", r.runDirectory])
        #expect(refused.status == 2 && refused.stdout.isEmpty, "\(refused.stdout)")
        #expect(refused.stderr.contains("the privacy audit found ε ≥ 99.000"), "\(refused.stderr)")
    }

    @Test func anAuditNeedsDifferentialPrivacy() throws {
        var s = TestSupport.tinyScenario()
        s.privacy.mechanism = .none
        let r = try MultiProcessTests.fedsim(["privacy", "audit", MultiProcessTests.scenarioFile(s), "--quiet"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("privacy.audit") && r.stderr.contains("set privacy.mechanism"), "\(r.stderr)")
    }
}
