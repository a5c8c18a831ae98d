import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimPrivacy
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// `fedsim run` for real: one coordinator and two client processes over a Unix socket.
@Suite(.serialized) struct MultiProcessTests {
    static func eval(_ line: [String: Any]) -> Double? { (line["eval"] as? [String: Any])?["rmse"] as? Double }

    @Test func runImprovesTheModelAndWritesTheRunDirectory() throws {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 10, perRound: 60)
        s.evaluation.every = 2
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let dir = r.runDirectory
        #expect(dir.hasPrefix(out + "/tiny-"))
        for f in [
            "scenario.json", "metrics.jsonl", "summary.json", "model.bin", "model.json", "logs/coordinator.log",
            "logs/client-0.log", "logs/client-1.log",
        ] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f), "missing \(f)")
        }
        var st = stat()
        stat(dir, &st)
        #expect(st.st_mode & 0o777 == 0o700)
        let m = TestSupport.metricsLines(dir + "/metrics.jsonl")
        #expect(m.count == 10)
        #expect(m.allSatisfy { $0["finished"] as? Int == 60 && ($0["bytes_received"] as? Int ?? 0) > 0 })
        let rmses = m.compactMap(Self.eval)
        #expect(rmses.count == 5)
        #expect(rmses.last! < rmses.first! - 0.01, "rmse \(rmses)")
        let summary = try TestSupport.summary(dir)
        #expect(summary.status == .completed)
        #expect(summary.rounds == 10 && summary.deviceUpdates == 600)
        let final = summary.final
        #expect(final.k == 10)
        for v in [final.rmse, final.mae, final.hitRate, final.ndcg] { #expect(v.isFinite, "\(final)") }
        #expect(final.rmse == rmses.last)
        // The model file holds the shared parameters only: items × (dim + 1) + 1 floats.
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/model.bin"))
        #expect(bytes.count == (80 * 5 + 1) * 4)
    }

    /// Meta-learning and a held-out domain over real processes and sockets: the cold-start
    /// results land in summary.json and the last metrics line, identically on a second run.
    @Test func coldStartOverRealProcessesIsReproducible() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 30)
        s.data.synthetic.domains = ["a", "b", "c"]
        s.data.synthetic.minRatings = 20
        s.model.kind = .twoTower
        s.model.domainAdapters = true
        s.personalization.strategy = .global
        s.personalization.adaptation.groups = [.personal, .domain]
        s.meta.algorithm = .fomaml
        s.meta.innerGroups = [.personal, .domain]
        s.evaluation.coldStart.protocol = .newDomain
        s.evaluation.coldStart.domain = "c"
        s.evaluation.coldStart.k = [0, 1, 3]
        let file = Self.scenarioFile(s)
        let out = TestSupport.temporaryDirectory()
        var lists: [[JSONValue]] = []
        for _ in 0..<2 {
            let r = try Self.fedsim(["run", file, "--out", out, "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let summary = try TestSupport.summary(r.runDirectory)
            let cold = try #require(summary.coldStart?.arrayValue)
            #expect(cold.map { $0["k"]?.intValue } == [0, 1, 3])
            #expect(
                cold.allSatisfy {
                    ($0["devices"]?.intValue ?? 0) > 0 && $0["rmse"]?.doubleValue.map { $0.isFinite } == true
                }
            )
            #expect(summary.coldStartProtocol?.initialisation == "meta-learned (fomaml)")
            #expect(
                (TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl").last?["cold_start"] as? [[String: Any]])?
                    .count == 3
            )
            lists.append(cold)
        }
        #expect(lists[0].map { $0["rmse"]?.doubleValue } == lists[1].map { $0["rmse"]?.doubleValue })
    }

    /// LSTTM over real processes, twice: the same model bytes and per-period AUCs (separate
    /// processes hash differently, so any order taken from a hashed collection shows here).
    @Test func lsttmOverRealProcessesIsReproducible() throws {
        var s = LSTTMRuntimeTests.scenario(rounds: 4, delay: 1)
        s.training.local.batchSize = 64  // batches spanning several contexts: their order matters
        s.meta.periods = 6
        s.meta.algorithm = .fomaml
        s.meta.task = .temporal
        s.meta.innerGroups = [.shortTerm, .fusion]
        s.meta.episodes = 2
        let file = Self.scenarioFile(s)
        let out = TestSupport.temporaryDirectory()
        var aucs: [[Double?]] = []
        var models: [Data?] = []
        for _ in 0..<2 {
            let r = try Self.fedsim(["run", file, "--out", out, "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let cold = try #require(try TestSupport.summary(r.runDirectory).coldStart?.arrayValue)
            aucs.append(cold.map { $0["auc"]?.doubleValue })
            models.append(FileManager.default.contents(atPath: r.runDirectory + "/model.bin"))
        }
        #expect(aucs[0].count == 3 && aucs[0].allSatisfy { $0 != nil } && aucs[0] == aucs[1])
        #expect(models[0] != nil && models[0] == models[1])
    }

    @Test func sameSeedSameMetrics() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 5, perRound: 30)
        s.evaluation.every = 1
        let file = Self.scenarioFile(s)
        let out = TestSupport.temporaryDirectory()
        func strip(_ dir: String) -> [String] {
            TestSupport.metricsLines(dir + "/metrics.jsonl").map { l in
                var l = l
                for k in ["round_seconds", "wall_seconds"] { l[k] = nil }
                return String(
                    decoding: try! JSONSerialization.data(withJSONObject: l, options: .sortedKeys),
                    as: UTF8.self
                )
            }
        }
        let a = try Self.fedsim(["run", file, "--out", out, "--quiet"])
        let b = try Self.fedsim(["run", file, "--out", out, "--quiet"])
        let c = try Self.fedsim(["run", file, "--out", out, "--quiet", "--seed", "8"])
        #expect(a.status == 0 && b.status == 0 && c.status == 0)
        #expect(strip(a.runDirectory) == strip(b.runDirectory))
        #expect(strip(a.runDirectory) != strip(c.runDirectory))
        let ma = FileManager.default.contents(atPath: a.runDirectory + "/model.bin")
        #expect(ma != nil && ma == FileManager.default.contents(atPath: b.runDirectory + "/model.bin"))
    }

    @Test func killedClientProcessDropsItsDevicesAndTheRunFinishes() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 5, perRound: 40)
        s.evaluation.every = 5
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.kind = .crash
                f.process = 1
                f.round = 3
                f.afterUpdates = 4
                return f
            }()
        ]
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let m = TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl")
        #expect(m.count == 5)
        let r3 = m[2]
        #expect((r3["dropped"] as? Int ?? 0) > 0)
        #expect((r3["finished"] as! Int) + (r3["dropped"] as! Int) == r3["sampled"] as! Int)
        #expect(m[3]["processes_alive"] as? Int == 1)
        let log = try String(contentsOfFile: r.runDirectory + "/logs/coordinator.log", encoding: .utf8)
        #expect(log.contains("client process 1 disconnected"))
    }

    @Test func stalledClientIsCutOffAtTheDeadline() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 30)
        s.runtime.roundDeadlineSeconds = 1
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.kind = .stall
                f.process = 0
                f.round = 2
                f.afterUpdates = 2
                f.seconds = 3
                return f
            }()
        ]
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let m = TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl")
        #expect(m.count == 3)
        #expect((m[1]["timed_out"] as? Int ?? 0) > 0)
        #expect((m[1]["finished"] as? Int ?? 0) >= 2)
    }

    @Test func tooFewSurvivorsStopTheRunWithAClearMessage() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 40)
        s.runtime.minDevicesPerRound = 30
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.kind = .crash
                f.process = 0
                f.round = 2
                return f
            }()
        ]
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("run failed: round 2: only"), "\(r.stderr)")
        #expect(r.stderr.contains("minimum 30"))
        let summary = try TestSupport.summary(r.runDirectory)
        #expect(summary.status == .failed && summary.error?.contains("round 2: only") == true)
    }

    @Test func secureAggregationSurvivesAClientKilledWhileMasking() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 30, processes: 3)
        s.secureAggregation.protocol = .secaggPlus
        s.evaluation.every = 3
        // n = 30 gives the complete graph with t = 16. Killing one of three processes while it
        // masks leaves every survivor's secrets with about 19 live holders.
        s.runtime.faults = [
            {
                var f = FaultConfig()
                f.kind = .crash
                f.process = 2
                f.round = 2
                f.afterUpdates = 3
                return f
            }()
        ]
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        var st = stat()
        #expect(stat(r.runDirectory + "/enrollment.key", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let m = TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl")
        #expect(m.count == 3)
        let r2 = try #require(m[1]["secagg"] as? [String: Any])
        let stages = try #require(r2["stages"] as? [String: [String: Any]])
        // Process 2 (devices 40..<60) sent 3 masked inputs, then died: those 3 are in the sum.
        let masked = stages["masked"]?["devices"] as? Int ?? 0
        let shared = stages["share"]?["devices"] as? Int ?? 0
        #expect(masked < shared && masked == m[1]["finished"] as? Int)
        #expect(r2["abandoned"] == nil)
        #expect(m[2]["processes_alive"] as? Int == 2)
        let log = try String(contentsOfFile: r.runDirectory + "/logs/coordinator.log", encoding: .utf8)
        #expect(!log.contains("enrollment.key") && !log.lowercased().contains("secret"))
    }

    @Test func centralizedModeWritesTheSameFiles() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3)
        s.training.mode = .centralized
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try TestSupport.summary(r.runDirectory)
        #expect(summary.mode == "centralized" && summary.examplesPerSecond != nil && summary.bytesSent == nil)
        #expect(summary.final.rmse.isFinite)
    }

    @Test func privacyBudgetStopsAtTheRightRoundAndTheReportAgrees() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 30, perRound: 20)
        s.privacy.mechanism = .central
        s.privacy.noiseMultiplier = 1.5
        s.privacy.budget.epsilon = 3
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.evaluation.every = 0
        // The accountant's answer: the last T with ε(T) ≤ 3 at q = 1/3, σ = 1.5.
        var expected = 0
        var acc = RDPAccountant()
        while true {
            var next = acc
            next.compose(rate: 20.0 / 60.0, noiseMultiplier: 1.5)
            if next.epsilon(delta: 1e-5).epsilon > 3 { break }
            acc = next
            expected += 1
        }
        #expect(expected > 0 && expected < 30)
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let m = TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl")
        #expect(m.count == expected)
        let ledger = try String(contentsOfFile: r.runDirectory + "/privacy-ledger.jsonl", encoding: .utf8).split(
            separator: "\n"
        )
        #expect(ledger.count == expected)
        let summary = try TestSupport.summary(r.runDirectory)
        #expect(summary.stoppedEarly?.contains("privacy budget: round \(expected + 1)") == true)
        let report = try Self.fedsim(["privacy", "report", r.runDirectory, "--json"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        let compute = try Self.fedsim([
            "privacy", "compute", "--rate", "\(20.0 / 60.0)", "--noise", "1.5", "--steps", "\(expected)", "--json",
        ])
        let c = try #require(try JSONSerialization.jsonObject(with: Data(compute.stdout.utf8)) as? [String: Any])
        let ce = try #require((c["rdp"] as? [String: Any])?["epsilon"] as? Double)
        #expect(abs((o["epsilon"] as? Double ?? 0) - ce) < 1e-9)
        #expect(o["private"] as? String == "yes" && o["rounds"] as? Int == expected)
        #expect(abs(ce - acc.epsilon(delta: 1e-5).epsilon) < 1e-12)
        let text = try Self.fedsim(["privacy", "report", r.runDirectory])
        #expect(text.stdout.hasPrefix("(ε="))
        #expect(text.stdout.contains("not covered:"))
    }

    @Test func reproducibleNoiseIsFlaggedFirst() throws {
        var s = TestSupport.tinyScenario(devices: 40, rounds: 2, perRound: 10)
        s.privacy.mechanism = .central
        s.privacy.noise = .reproducible
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        let out = TestSupport.temporaryDirectory()
        let r = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try Self.fedsim(["privacy", "report", r.runDirectory])
        #expect(report.stdout.hasPrefix("NOT PRIVATE:"))
        // Reproducible noise really reproduces: a second run gives the same model.
        let r2 = try Self.fedsim(["run", Self.scenarioFile(s), "--out", out, "--quiet"])
        #expect(
            FileManager.default.contents(atPath: r.runDirectory + "/model.bin")
                == FileManager.default.contents(atPath: r2.runDirectory + "/model.bin")
        )
    }

    @Test func privacyComputeAndCalibrate() throws {
        // Reference: dp_accounting 0.6.0 RdpAccountant gives ε = 1.2492093615085609 at order 8.7.
        let r = try Self.fedsim([
            "privacy", "compute", "--rate", "0.0106", "--noise", "1.0", "--steps", "100", "--delta", "1e-5", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rdp = try #require(o["rdp"] as? [String: Any])
        #expect(abs((rdp["epsilon"] as? Double ?? 0) - 1.2492093615085609) < 1e-9)
        #expect(rdp["order"] as? Double == 8.7)
        #expect(
            o["steps"] as? Int == 100
                && (o["accountant"] as? String)?.contains("dp_accounting's default orders") == true
        )
        let c = try Self.fedsim([
            "privacy", "calibrate", "--epsilon", "4", "--rounds", "100", "--rate", "0.1", "--json",
        ])
        let co = try #require(try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any])
        let σ = try #require(co["noise_multiplier"] as? Double)
        #expect(σ > 1.4 && σ < 1.6 && (co["epsilon"] as? Double ?? 9) <= 4)
        let bad = try Self.fedsim(["privacy", "compute", "--rate", "2", "--noise", "1", "--steps", "1"])
        #expect(bad.status == 64 && bad.stderr.contains("--rate must be in [0, 1]"))
    }

    @Test func validateNamesTheKeyPathAndExitsTwo() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("training:\n  rounds: 3\n  locl: {epochs: 2}\n", to: dir + "/bad.yaml")
        let r = try Self.fedsim(["validate", dir + "/bad.yaml"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("bad.yaml:3: training.locl: unknown key; did you mean \"local\"?"), "\(r.stderr)")
        let ok = try Self.fedsim([
            "validate", dir + "/bad.yaml", "--set", "training.locl=", "--set", "training.rounds=4",
        ])
        #expect(ok.status == 2)  // "locl" still unknown even when emptied
        TestSupport.write("training: {rounds: 3}\n", to: dir + "/good.yaml")
        let good = try Self.fedsim(["validate", dir + "/good.yaml"])
        #expect(good.status == 0 && good.stdout.contains("ok"))
        let run = try Self.fedsim(["run", dir + "/good.yaml", "--set", "training.rounds=-1"])
        #expect(run.status == 2 && run.stderr.contains("training.rounds"))
    }

    /// "ok" means the run can start: a data.path without a dataset is an error (it used to say
    /// ok), unless the user asks to check the scenario only.
    @Test func validateLoadsTheDataset() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("data: {source: movielens, path: \(dir)}\ntraining: {rounds: 3}\n", to: dir + "/ml.yaml")
        let r = try Self.fedsim(["validate", dir + "/ml.yaml"])
        #expect(r.status == 2 && r.stdout.isEmpty, "\(r.stdout)")
        #expect(r.stderr.contains("invalid data") && r.stderr.contains("no MovieLens-100K here"), "\(r.stderr)")
        let scenarioOnly = try Self.fedsim(["validate", dir + "/ml.yaml", "--no-data"])
        #expect(scenarioOnly.status == 0 && scenarioOnly.stdout.contains("ok"))
    }
}

/// Amplification by subsampling needs a secret sample: DP runs with CSPRNG noise draw their
/// Poisson coins from the CSPRNG, write who took part only on request, and then report ε
/// without amplification beside the amplified one.
@Suite struct SecretSampleTests {
    static func scenario(log: Bool) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 6, perRound: 12)
        s.privacy.mechanism = .central
        s.privacy.noiseMultiplier = 1.5
        s.privacy.logParticipation = log
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        return s
    }

    @Test func theSampleIsSecretAndIdentitiesAreWrittenOnlyOnRequest() throws {
        let out = TestSupport.temporaryDirectory()
        // Default: no participation identities in the run directory.
        let quiet = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(Self.scenario(log: false)), "--out", out, "--quiet",
        ])
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(!FileManager.default.fileExists(atPath: quiet.runDirectory + "/participation.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: quiet.runDirectory + "/participation.csv"))
        let quietReport = try MultiProcessTests.fedsim(["privacy", "report", quiet.runDirectory, "--json"])
        let q = try #require(try JSONSerialization.jsonObject(with: Data(quietReport.stdout.utf8)) as? [String: Any])
        #expect(q["without_amplification"] == nil)
        // Asked for: written, and two runs with the same seed draw different samples.
        var logs: [String] = []
        var reports: [[String: Any]] = []
        for _ in 0..<2 {
            let r = try MultiProcessTests.fedsim([
                "run", MultiProcessTests.scenarioFile(Self.scenario(log: true)), "--out", out, "--quiet",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            logs.append((try? String(contentsOfFile: r.runDirectory + "/participation.jsonl", encoding: .utf8)) ?? "")
            let report = try MultiProcessTests.fedsim(["privacy", "report", r.runDirectory, "--json"])
            reports.append(
                try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
            )
        }
        #expect(!logs[0].isEmpty && logs[0] != logs[1], "the same seed drew the same sample")
        let amplified = try #require(reports[0]["epsilon"] as? Double)
        let w = try #require(reports[0]["without_amplification"] as? [String: Any])
        let unamplified = try #require(w["epsilon"] as? Double)
        #expect(unamplified > amplified, "without amplification \(unamplified) vs \(amplified)")
        #expect((w["against"] as? String)?.contains("participation.jsonl") == true)
    }

    @Test func secretPoissonCoinsIgnoreTheSeed() {
        let s = PoissonSampler(population: 2_000, rate: 0.05, secret: true)
        var a = Xoshiro256(seed: 1)
        var b = Xoshiro256(seed: 1)
        let x = s.sample(SamplingRequest(target: 0, allEligible: true) { _ in true }, rng: &a)
        let y = s.sample(SamplingRequest(target: 0, allEligible: true) { _ in true }, rng: &b)
        #expect(x != y)
        // Binomial(2000, 0.05): mean 100, sd ≈ 9.7; both within 6 sd.
        #expect(abs(x.count - 100) < 60 && abs(y.count - 100) < 60)
    }
}

/// The privacy report fails closed: a deleted, truncated or edited ledger is refused (exit 2,
/// nothing on stdout), never reported as a smaller ε.
@Suite struct PrivacyReportFailsClosedTests {
    @Test func aLedgerThatDoesNotAddUpIsRefused() throws {
        let out = TestSupport.temporaryDirectory()
        let r = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(SecretSampleTests.scenario(log: false)), "--out", out, "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let ok = try MultiProcessTests.fedsim(["privacy", "report", r.runDirectory, "--json"])
        #expect(ok.status == 0 && ok.stdout.contains("\"private\""), "\(ok.stderr)")
        let ledger = try String(contentsOfFile: r.runDirectory + "/privacy-ledger.jsonl", encoding: .utf8)
        let lines = ledger.split(separator: "\n").map(String.init)
        try #require(lines.count >= 3)
        let edits: [(String, String?)] = [
            ("deleted", nil),
            ("truncated", lines.dropLast().joined(separator: "\n") + "\n"),
            (
                "an ε edited",
                ([lines[0].replacingOccurrences(of: "\"epsilon_rdp\":", with: "\"epsilon_rdp\":0.0")]
                    + lines.dropFirst()).joined(separator: "\n") + "\n"
            ),
            (
                "a rate edited",
                ([lines[0].replacingOccurrences(of: "\"q\":", with: "\"q\":0.001,\"was\":")] + lines.dropFirst())
                    .joined(separator: "\n") + "\n"
            ),
            ("garbage", lines.joined(separator: "\n") + "\nnot json\n"),
        ]
        for (what, text) in edits {
            let copy = TestSupport.temporaryDirectory()
            for f in try FileManager.default.contentsOfDirectory(atPath: r.runDirectory) {
                try? FileManager.default.copyItem(atPath: r.runDirectory + "/" + f, toPath: copy + "/" + f)
            }
            try? FileManager.default.removeItem(atPath: copy + "/privacy-ledger.jsonl")
            if let text { TestSupport.write(text, to: copy + "/privacy-ledger.jsonl") }
            for args in [["privacy", "report", copy], ["privacy", "report", copy, "--json"]] {
                let report = try MultiProcessTests.fedsim(args)
                #expect(report.status == 2, "ledger \(what): exit \(report.status)")
                #expect(report.stdout.isEmpty, "ledger \(what): \(report.stdout)")
                #expect(report.stderr.contains("no privacy report"), "ledger \(what): \(report.stderr)")
            }
        }
    }
}
