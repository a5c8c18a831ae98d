import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Testing

/// The standard protocol end to end over the in-memory transport: leave-one-out, implicit
/// feedback, sampled negatives, BPR on the devices, and the baselines on the same candidates;
/// for MF and for two-tower (whose warm evaluation ranks the same sampled candidates; only its
/// cold-start queries rank the full catalogue).
@Suite struct SampledProtocolRuntimeTests {
    @Test(arguments: [ModelConfig.Kind.mf, .twoTower])
    func evaluationsCarryThePopularityAndRandomBaselinesUnderTheSameProtocol(kind: ModelConfig.Kind) async throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 30)
        s.model.kind = kind
        s.data.split.method = .leaveOneOut
        s.evaluation.implicit = true
        s.evaluation.sampledNegatives = 20
        s.evaluation.every = 1
        s.training.local.loss = .mseBpr
        let h = CoordinatorHarness(s)
        let c0 = h.client(0)
        let c1 = h.client(1)
        try await h.coordinator.run()
        _ = await c0.value
        _ = await c1.value
        let evals = h.metrics.compactMap { $0["eval"] as? [String: Any] }
        #expect(evals.count == 3)
        // Leave-one-out and implicit feedback: one held-out item per device, always relevant.
        for e in evals {
            #expect(e["ratings"] as? Int == e["devices"] as? Int)
            #expect(e["ranked_devices"] as? Int == e["devices"] as? Int)
        }
        let first = try #require(evals.first?["baselines"] as? [String: Any])
        #expect(first["popularity_sampled20"] == nil)  // no popularity ranking before the first counts
        let last = try #require(evals.last?["baselines"] as? [String: Any])
        let random = try #require(last["random_sampled20"] as? [String: Any])
        #expect(abs((random["hr@10"] as? Double ?? 0) - 10.0 / 21.0) < 1e-12)
        let popularity = try #require(last["popularity_sampled20"] as? [String: Any])
        let hr = try #require(popularity["hr@10"] as? Double)
        #expect(hr > 0 && hr <= 1)
        // The summary's margin is the model minus the best baseline, by NDCG.
        let b = try #require(h.coordinator.lastSampledBaselines)
        let best = max(b.random.ndcg, b.popularity?.ndcg ?? 0)
        #expect(b.best.figures.ndcg == best)
        let modelNdcg = try #require(evals.last?["ndcg@10_sampled20"] as? Double)
        #expect(abs(b.model.ndcg - modelNdcg) < 1e-12)  // the same mean, summed in another order
    }
}
