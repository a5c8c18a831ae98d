import FedSimConfig
import FedSimMetrics
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// The metrics schema is shared by the writer and the readers: a fully populated line comes
/// back equal, real runs write exactly the schema (no key outside it, every value read back
/// the same), and a renamed or unknown key fails.
@Suite struct MetricsSchemaTests {
    /// Every section and optional field set, with finite values (NaN never equals itself).
    static func fullLine() -> RoundMetrics {
        var m = RoundMetrics(round: 7)
        (m.sampled, m.finished, m.failed, m.dropped, m.timedOut, m.rejected) = (30, 24, 2, 1, 2, 1)
        (m.processesAlive, m.examples, m.trainLoss) = (2, 812, 0.4375)
        (m.normBounded, m.clippedAtCoordinator, m.boundedAtCoordinator) = (3, 5, 1)
        var sa = SecAggRound(protocol: "secagg+", k: 12, t: 7, bits: 32)
        sa.stages = ["advertise", "share", "masked", "unmask"].enumerated().map {
            .init(name: $0.element, devices: 24 - $0.offset, bytesUp: 1000 * $0.offset, bytesDown: 17, seconds: 0.25)
        }
        (sa.abandoned, sa.boundedAtCoordinator) = ("only 3 devices sent masked input; the threshold is 7", 2)
        m.secagg = sa
        var comm = Communication(bytesUp: 4096, bytesDown: 2048)
        (comm.bytesUpPerUpdate, comm.rawBytesPerUpdate, comm.compressedBodyBytesPerUpdate) = (170.5, 1200, 88.25)
        m.communication = comm
        m.privacy = PrivacyRound(epsilon: 1.25, order: 12.0, delta: 1e-05, noiseMultiplier: 1.0, clip: 0.5)
        m.async = AsyncStep(modelVersion: 6, lostInFlight: 1, stalenessMean: 2.5, stalenessMax: 4, inFlight: 9)
        m.fleet = FleetRound(
            selected: 30,
            kept: 28,
            missedDeadline: 1,
            wentOffline: 1,
            overSelected: 0,
            simStartSeconds: 1800.0,
            simRoundSeconds: 4.5
        )
        m.simSeconds = 2100.0
        var validation = evaluation(k: 5)
        (validation.sampledNegatives, validation.sampledHitRate, validation.sampledNdcg) = (50, 0.75, 0.5)
        m.validation = ValidationMetrics(evaluation: validation, bestRound: 6, metric: "ndcg_sampled", bestValue: 0.5)
        m.evalModelRound = 6
        m.eval = fullEvaluation(k: 5)
        m.coldStart = .array([.object([.init("k", .int(1)), .init("rmse", .double(1.5))])])
        m.coldStartThirds = .array([.object([.init("third", .string("early")), .init("auc", .null)])])
        m.stepRefused = "the new model has a non-finite value"
        (m.bytesSent, m.bytesReceived, m.roundSeconds, m.wallSeconds) = (99_000, 77_000, 0.125, 3.0)
        return m
    }

    static func evaluation(k: Int) -> EvaluationMetrics {
        EvaluationMetrics(
            k: k,
            rmse: 0.95,
            mae: 0.75,
            hitRate: 0.375,
            ndcg: 0.125,
            devices: 60,
            ratings: 400,
            rankedDevices: 58,
            deviceRMSE: [0.5, 0.875, 1.25]
        )
    }

    static func fullEvaluation(k: Int) -> EvaluationMetrics {
        var e = evaluation(k: k)
        (e.recall, e.mrr, e.auc) = (0.25, 0.375, 0.625)
        (e.sampledNegatives, e.sampledHitRate, e.sampledNdcg) = (50, 0.5, 0.25)
        (e.coverage, e.giniExposure, e.novelty, e.ildCategory, e.ildEmbedding) = (0.125, 0.875, 4.5, 0.75, 0.625)
        e.serendipity = 0.0625
        e.exposureOmitted = "the secure exposure sum failed (below the threshold)"
        var b = EvaluationBaselines()
        b.globalMean = .init(value: 3.5, rmse: 1.125)
        b.popularity = RankingBaseline(k: k, hitRate: 0.5, ndcg: 0.25, devices: 58)
        b.sampledNegatives = 50
        b.popularitySampled = RankingBaseline(k: k, hitRate: 0.625, ndcg: 0.375, devices: 58)
        b.randomSampled = RankingBaseline(k: k, hitRate: 0.125, ndcg: 0.0625)
        var bias = BiasOnlyBaseline(
            k: k,
            rmse: 1.0,
            hitRate: 0.25,
            ndcg: 0.125,
            devices: 58,
            fitted: "centrally (λ = 2)"
        )
        (bias.sampledNegatives, bias.sampledHitRate, bias.sampledNdcg) = (50, 0.5, 0.25)
        b.biasOnly = bias
        b.random = RankingBaseline(k: k, hitRate: 0.0625, ndcg: 0.03125)
        e.baselines = b
        e.refusedReports = 1
        e.negativeTransfer = NegativeTransfer(
            devices: 60,
            rmseGlobalModel: 1.0,
            rmseLocalOnly: 1.125,
            personalizationWorseThanGlobal: .init(share: 0.25, meanRMSELoss: 0.0625),
            federationWorseThanLocalOnly: .init(share: 0.5, meanRMSELoss: 0.125)
        )
        let row = Cohort(
            k: k,
            name: "Q1 (0–10 ratings)",
            devices: 15,
            rmse: 1.0,
            hitRate: 0.25,
            ndcg: 0.125,
            deviceRMSE: [0.5, 1.0, 1.5]
        )
        e.cohorts = CohortTable(
            groups: [.init(kind: "activity", cohorts: [row, row]), .init(kind: "participation", cohorts: [row])],
            worstByRMSE: .init(cohort: "activity: Q1 (0–10 ratings)", rmse: 1.0)
        )
        return e
    }

    @Test func aFullyPopulatedLineComesBackEqual() throws {
        let line = try MetricsJSON.line(Self.fullLine())
        #expect(try MetricsJSON.decodeExactly(RoundMetrics.self, line: line) == Self.fullLine())
        // The keys users' scripts read, spelled with the cut-off and sample size.
        for key in [
            "\"timed_out\":2", "\"hr@5\":0.375", "\"ndcg@5_sampled50\":0.25", "\"popularity_sampled50\":{",
            "\"best_ndcg_sampled\":0.5", "\"serendipity@5\":0.0625", "\"worst_by_rmse\":{", "\"exposure_omitted\":",
            "\"stages\":{\"advertise\":{",
            "\"mean_rmse_loss\":0.0625", "\"sim_start_seconds\":1800.0", "\"delta\":1e-05",
        ] {
            #expect(line.contains(key), "\(key) missing from \(line)")
        }
    }

    /// Non-finite values are written `null` (JSON has no NaN) and read back as NaN; an absent
    /// optional stays absent, so `null` and "not measured" are told apart.
    @Test func nonFiniteValuesAreNullAndAbsentStaysAbsent() throws {
        var m = RoundMetrics(round: 0)
        m.trainLoss = .nan
        m.eval = Self.evaluation(k: 10)
        m.eval?.rmse = .infinity
        m.eval?.deviceRMSE = [.nan, .nan, .nan]
        let line = try MetricsJSON.line(m)
        #expect(line.contains("\"train_loss\":null") && line.contains("\"rmse\":null"))
        #expect(line.contains("[null,null,null]") && !line.contains("sampled") && !line.contains("bytes_sent"))
        let back = try MetricsJSON.decodeExactly(RoundMetrics.self, line: line)
        #expect(back.trainLoss?.isNaN == true && back.eval?.rmse.isNaN == true && back.sampled == nil)
        #expect(back.eval?.deviceRMSE.allSatisfy(\.isNaN) == true)
    }

    /// A key renamed on the writer's side, an unknown key, or a changed type fails, naming it.
    @Test func aRenamedUnknownOrRetypedKeyFails() throws {
        let line = try MetricsJSON.line(Self.fullLine())
        #expect(throws: MetricsJSON.SchemaMismatch(paths: ["timedout"])) {
            try MetricsJSON.decodeExactly(
                RoundMetrics.self,
                line: line.replacingOccurrences(of: "\"timed_out\"", with: "\"timedout\"")
            )
        }
        let extra = line.replacingOccurrences(of: "\"auc\":0.625", with: "\"auc\":0.625,\"auc_pr\":0.5")
        #expect(throws: MetricsJSON.SchemaMismatch(paths: ["eval.auc_pr"])) {
            try MetricsJSON.decodeExactly(RoundMetrics.self, line: extra)
        }
        let retyped = line.replacingOccurrences(of: "\"sampled\":30", with: "\"sampled\":30.0")
        do {
            _ = try MetricsJSON.decode(RoundMetrics.self, line: retyped)
            Issue.record("an integer field read a floating-point value")
        } catch {
            #expect(MetricsJSON.describe(error) == "sampled: expected Int, found a floating-point number")
        }
        do {
            _ = try MetricsJSON.decode(
                RoundMetrics.self,
                line: line.replacingOccurrences(of: "\"ndcg@5\":0.125,", with: "")
            )
            Issue.record("a required key was missing")
        } catch {
            #expect(MetricsJSON.describe(error).contains("ndcg@5"))
        }
    }

    /// Doubles keep the text the coordinator has always written (`3.0`, `1e-05`), strings are
    /// escaped as before, and parsing keeps `3` and `3.0` apart.
    @Test func textMatchesTheHandWrittenEncoder() throws {
        let v = JSONValue.object([
            .init("a", .double(3.0)), .init("b", .double(1e-05)), .init("c", .int(3)),
            .init("d", .string("q\"\\\n\u{01}é")),
        ])
        #expect(v.text == #"{"a":3.0,"b":1e-05,"c":3,"d":"q\"\\\n\u0001é"}"#)
        #expect(try JSONValue(parsing: v.text) == v)
        #expect(try JSONValue(parsing: "3") != JSONValue.double(3.0))
        #expect(throws: JSONValue.ParseError(message: "expected , or }", column: 8)) {
            try JSONValue(parsing: #"{"a":1 "b":2}"#)
        }
    }

    enum RunKind: String, CaseIterable {
        case plain, secagg, centralDP, fedbuff, validation, sampledNegativesAndBiasBaseline, normBounded
    }

    static func scenario(_ kind: RunKind) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 24)
        s.evaluation.every = 1
        switch kind {
        case .plain: break
        case .secagg:
            s.secureAggregation.protocol = .secaggPlus
            s.runtime.roundDeadlineSeconds = 120
        case .centralDP:
            s.training.sampling = .poisson
            s.training.weighting = .uniform
            s.privacy.mechanism = .central
            s.privacy.noise = .reproducible
        case .fedbuff:
            s.training.async.enabled = true
            // Fewer flights than devices: the default concurrency (100) exceeds these 60 devices.
            s.training.async.bufferSize = 6
            s.training.async.concurrency = 15
        case .validation:
            s.data.split.validation = true
            s.training.earlyStopping.enabled = true
        case .sampledNegativesAndBiasBaseline:
            s.evaluation.biasBaseline.enabled = true
            s.data.split.method = .leaveOneOut
            s.evaluation.implicit = true
            s.evaluation.sampledNegatives = 20
            s.training.local.loss = .mseBpr
        case .normBounded:
            s.training.aggregation = .normBounded(bound: 0.5)
        }
        return s
    }

    /// Real runs through the coordinator: every line decodes into `RoundMetrics` with nothing
    /// left over, and the section the configuration adds is there.
    @Test(arguments: RunKind.allCases) func realRunsWriteExactlyTheSchema(_ kind: RunKind) async throws {
        let s = Self.scenario(kind)
        let h = CoordinatorHarness(s)
        if s.evaluation.biasBaseline.enabled {
            // What `fedsim run` measures before the coordinator starts (reference-baselines.json).
            h.coordinator.referenceBaselines = ReferenceBaselines.measure(s, population: h.population)
        }
        let clients = [h.client(0), h.client(1)]
        try await h.coordinator.run()
        for c in clients { _ = await c.value }
        let rounds = try h.rounds()
        #expect(rounds.count == 3 && rounds.allSatisfy { $0.eval != nil && $0.bytesSent != nil })
        let last = try #require(rounds.last)
        switch kind {
        case .plain: #expect(last.eval?.cohorts != nil && last.fleet != nil && last.eval?.baselines?.globalMean != nil)
        case .secagg: #expect(last.secagg?.stages.map(\.name) == ["advertise", "share", "masked", "unmask"])
        case .centralDP: #expect(last.privacy != nil && last.clippedAtCoordinator != nil)
        case .fedbuff: #expect(last.async != nil && last.communication?.rawBytesPerUpdate == nil)
        case .validation: #expect(last.validation?.metric == "rmse")
        case .sampledNegativesAndBiasBaseline:
            #expect(last.eval?.sampledNegatives == 20 && last.eval?.baselines?.sampledNegatives == 20)
            #expect(
                last.eval?.baselines?.randomSampled != nil && last.eval?.baselines?.biasOnly?.sampledNegatives == 20
            )
        case .normBounded: #expect(rounds.allSatisfy { $0.normBounded != nil })
        }
    }
}
