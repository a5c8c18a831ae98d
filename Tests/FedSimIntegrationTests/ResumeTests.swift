import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// Checkpoint and resume with real processes: a run SIGKILLed at a random round and resumed
/// ends exactly like the uninterrupted run; a SIGINT checkpoints and exits 130.
@Suite(.serialized) struct ResumeTests {
    /// Starts `fedsim run` in the background; returns the process and its output pipe.
    static func start(_ args: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binDirectory() + "/fedsim")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, out)
    }

    /// The newest run directory under `parent`, once it has a coordinator pid file.
    static func runDirectory(in parent: String, timeout: Double = 30) -> String? {
        let end = monotonicSeconds() + timeout
        while monotonicSeconds() < end {
            if let d = (try? FileManager.default.contentsOfDirectory(atPath: parent))?.sorted().last,
                FileManager.default.fileExists(atPath: parent + "/" + d + "/coordinator.pid")
            {
                return parent + "/" + d
            }
            usleep(20_000)
        }
        return nil
    }

    /// The pid of the run's coordinator (its `coordinator.pid`).
    static func coordinatorPID(_ dir: String) throws -> Int32 {
        try #require(
            Int32(
                try String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
    }

    static func waitForRounds(_ dir: String, _ n: Int, timeout: Double = 60) -> Bool {
        let end = monotonicSeconds() + timeout
        while monotonicSeconds() < end {
            if TestSupport.metricsLines(dir + "/metrics.jsonl").count >= n { return true }
            usleep(10_000)
        }
        return false
    }

    /// Metrics without wall-clock fields and socket byte counters (a resumed run handshakes
    /// again, so its counters differ by the handshake's bytes).
    static func comparable(_ dir: String) -> [NSDictionary] {
        TestSupport.metricsLines(dir + "/metrics.jsonl").map { line in
            var o = line
            for k in ["round_seconds", "wall_seconds", "bytes_sent", "bytes_received", "communication"] { o[k] = nil }
            // ε and its order: a resumed run accounts the redone rounds twice (checked below).
            if var p = o["privacy"] as? [String: Any] {
                p["epsilon"] = nil
                p["order"] = nil
                o["privacy"] = p
            }
            if var sa = o["secagg"] as? [String: Any], var stages = sa["stages"] as? [String: Any] {
                for (name, v) in stages {
                    var st = v as! [String: Any]
                    for k in ["seconds", "bytes_up", "bytes_down"] { st[k] = nil }
                    stages[name] = st
                }
                sa["stages"] = stages
                o["secagg"] = sa
            }
            return NSDictionary(dictionary: o)
        }
    }

    static func scenario(privacy: Bool) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 12, perRound: 30)
        s.evaluation.every = 3
        s.runtime.checkpointEvery = 2
        s.secureAggregation.protocol = .secaggPlus
        // Nothing here waits for a deadline (SIGKILL closes the victim's connections), and the
        // reference and the resumed run must both finish every secure sum: under a loaded
        // 2-core machine the 10 s default abandoned an evaluation's exposure sum in one of them
        // ("0 shares of device 0's self-mask seed": the whole unmask stage timed out).
        s.runtime.roundDeadlineSeconds = 300
        if privacy {
            s.training.sampling = .poisson
            s.training.weighting = .uniform
            s.privacy.mechanism = .central
            s.privacy.noise = .reproducible
            s.privacy.clip = 0.5
        }
        return s
    }

    @Test(arguments: [false, true])
    func sigkillAtARandomRoundThenResumeEndsLikeTheUninterruptedRun(privacy: Bool) throws {
        let s = Self.scenario(privacy: privacy)
        let file = MultiProcessTests.scenarioFile(s)
        let reference = try MultiProcessTests.fedsim([
            "run", file, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(reference.status == 0)

        // Kill the coordinator with SIGKILL once a random round (3…10) has been recorded.
        var rng = Xoshiro256(seed: UInt64(monotonicSeconds() * 1e6))
        let killAfter = 3 + rng.nextBounded(8)
        let parent = TestSupport.temporaryDirectory()
        let (proc, _) = try Self.start(["run", file, "--out", parent, "--quiet"])
        let dir = try #require(Self.runDirectory(in: parent))
        #expect(Self.waitForRounds(dir, killAfter))
        let pid = Int32(
            try String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        )!
        kill(pid, SIGKILL)
        proc.waitUntilExit()
        #expect(proc.terminationStatus != 0)
        let recorded = TestSupport.metricsLines(dir + "/metrics.jsonl").count
        #expect(recorded < 12, "the run finished before the kill")

        let checkpointRound = try CoordinatorCheckpoint.load(dir + "/checkpoint.json").round
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        // Same final model, bit for bit, and the same metrics.
        let a = FileManager.default.contents(atPath: reference.runDirectory + "/model.bin")
        let b = FileManager.default.contents(atPath: dir + "/model.bin")
        #expect(a != nil && a == b, "killed after \(killAfter) rounds (\(recorded) recorded)")
        #expect(Self.comparable(reference.runDirectory) == Self.comparable(dir))
        if privacy {
            // Every released round is in the ledger; rounds redone after the crash count twice.
            let ledger = try String(contentsOfFile: dir + "/privacy-ledger.jsonl", encoding: .utf8).split(
                separator: "\n"
            )
            #expect(ledger.count >= 12)
            #expect(
                ledger.count >= 12 + (recorded - checkpointRound)
                    && ledger.count <= 12 + (recorded + 1 - checkpointRound),
                "ledger \(ledger.count), recorded \(recorded), checkpoint \(checkpointRound)"
            )
            let eps = { (d: String) in
                ((TestSupport.metricsLines(d + "/metrics.jsonl").last?["privacy"] as? [String: Any])?["epsilon"]
                    as? Double) ?? 0
            }
            #expect(eps(dir) >= eps(reference.runDirectory))
        }
    }

    /// A round redone after a crash (released before the crash, redone from the checkpoint) is a
    /// second release. With secure noise it draws fresh CSPRNG coins and fresh noise, so the
    /// ledger is right to book it as an independent one: the redone round's sample differs from
    /// the first time (it used to be the same, seeded sample), and both are in the ledger.
    @Test func aRedoneRoundDrawsAFreshSecretSampleAndIsBookedAgain() throws {
        var s = Self.scenario(privacy: true)
        s.secureAggregation.protocol = .none
        s.privacy.noise = .secure
        s.privacy.logParticipation = true
        s.runtime.checkpointEvery = 4
        let parent = TestSupport.temporaryDirectory()
        let (proc, _) = try Self.start(["run", MultiProcessTests.scenarioFile(s), "--out", parent, "--quiet"])
        let dir = try #require(Self.runDirectory(in: parent))
        #expect(Self.waitForRounds(dir, 6))  // past the checkpoint of round 4
        let pid = Int32(
            try String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        )!
        kill(pid, SIGKILL)
        proc.waitUntilExit()
        let checkpointRound = try CoordinatorCheckpoint.load(dir + "/checkpoint.json").round
        func samples() throws -> [Int: [Int]] {
            var out: [Int: [Int]] = [:]
            for line in try String(contentsOfFile: dir + "/participation.jsonl", encoding: .utf8).split(separator: "\n")
            {
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                out[o["round"] as! Int] = o["selected"] as? [Int]
            }
            return out
        }
        // The rounds released after the checkpoint, as first drawn (resume truncates the log).
        let first = try samples().filter { $0.key > checkpointRound }
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let second = try samples()
        try #require(!first.isEmpty, "no round was released after the checkpoint of round \(checkpointRound)")
        let redone = first
        for (round, draw) in first { #expect(second[round] != draw, "round \(round) redrew the same sample") }
        let ledgerRounds = try String(contentsOfFile: dir + "/privacy-ledger.jsonl", encoding: .utf8).split(
            separator: "\n"
        )
        .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["round"] as? Int }
        for round in redone.keys {
            #expect(ledgerRounds.filter { $0 == round }.count >= 2, "round \(round) booked once")
        }
        // And the report, which recomputes ε from the ledger, accepts it.
        let report = try MultiProcessTests.fedsim(["privacy", "report", dir, "--json"])
        #expect(report.status == 0, "\(report.stderr)")
    }

    @Test func sigintCheckpointsAndExits130() throws {
        var s = Self.scenario(privacy: false)
        s.runtime.checkpointEvery = 0
        let parent = TestSupport.temporaryDirectory()
        let (proc, _) = try Self.start(["run", MultiProcessTests.scenarioFile(s), "--out", parent, "--quiet"])
        let dir = try #require(Self.runDirectory(in: parent))
        #expect(Self.waitForRounds(dir, 2))
        let pid = Int32(
            try String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        )!
        kill(pid, SIGINT)
        proc.waitUntilExit()
        #expect(proc.terminationStatus == 130)
        #expect(try TestSupport.summary(dir).status == .interrupted)
        let ckpt = try CoordinatorCheckpoint.load(dir + "/checkpoint.json")
        #expect(ckpt.round == TestSupport.metricsLines(dir + "/metrics.jsonl").count)
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0)
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count == 12)
    }

    @Test func resumeWithoutACheckpointIsAClearError() throws {
        let r = try MultiProcessTests.fedsim(["resume", TestSupport.temporaryDirectory()])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot resume"))
    }
}

/// Local security with real processes.
@Suite(.serialized) struct LocalSecurityTests {
    /// No secret (run token, enrollment secret) appears in logs, metrics, summaries or reports.
    @Test func noSecretsInLogsOrReports() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 20)
        s.secureAggregation.protocol = .secaggPlus
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .distributed
        let r = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(r.status == 0)
        let dir = r.runDirectory
        _ = try MultiProcessTests.fedsim(["report", dir])
        let token = try String(contentsOfFile: dir + "/token", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let enrollment = try String(contentsOfFile: dir + "/enrollment.key", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        #expect(token.count == 64 && enrollment.count == 64)
        var scanned = 0
        for f in [
            "logs/coordinator.log", "logs/client-0.log", "logs/client-1.log", "metrics.jsonl", "summary.json",
            "report.html",
            "metrics.csv", "privacy-ledger.jsonl", "participation.jsonl",
        ] {
            guard let text = try? String(contentsOfFile: dir + "/" + f, encoding: .utf8) else { continue }
            scanned += 1
            #expect(!text.contains(token) && !text.contains(enrollment), "\(f) leaks a secret")
            #expect(
                !text.contains(token.prefix(16)) && !text.contains(enrollment.prefix(16)),
                "\(f) leaks part of a secret"
            )
        }
        #expect(scanned >= 8)
        var st = stat()
        stat(dir + "/token", &st)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    /// A run directory other users can read is refused before anything listens on it.
    @Test func aGroupReadableRunDirectoryIsRefused() throws {
        let r = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(TestSupport.tinyScenario(rounds: 6)),
            "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        let dir = r.runDirectory
        chmod(dir, 0o750)
        try? FileManager.default.removeItem(atPath: dir + "/checkpoint.json")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binDirectory() + "/fedsim-coordinator")
        p.arguments = ["--run-dir", dir]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("accessible to other users"))
    }
}
