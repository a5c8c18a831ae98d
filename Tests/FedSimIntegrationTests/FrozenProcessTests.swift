import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// Real processes frozen with SIGSTOP and resumed with SIGCONT (issue 21, class 2): a late
/// honest process is never evicted. A client frozen past the deadlines answers late in
/// whatever phase the coordinator has reached (training, a SecAgg+ stage, the evaluation's
/// secure exposure sum, a checkpoint); a coordinator frozen for seconds finds every reply
/// queued at once, and its deadlines already passed, when it wakes.
@Suite(.serialized) struct FrozenProcessTests {
    /// Evaluation and a checkpoint every round, so a freeze spans every kind of phase.
    static func scenario(secure: Bool) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 8, perRound: 40)
        s.name = "frozen"
        s.runtime.roundDeadlineSeconds = 2
        s.runtime.checkpointEvery = 1
        s.evaluation.every = 1
        s.evaluation.devices = 40
        if secure { s.secureAggregation.protocol = .secaggPlus }
        return s
    }

    /// Runs `fedsim run` and, once each of `atRounds` rounds are recorded, stops the process
    /// `target` names for `seconds`, then resumes it. Returns the exit status, the metrics
    /// lines and whether every freeze happened.
    static func runFreezing(
        _ s: Scenario,
        atRounds: [Int],
        seconds: Double,
        target: (String) -> pid_t?
    ) throws -> (status: Int32, metrics: [[String: Any]], froze: Bool) {
        let out = TestSupport.temporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binDirectory() + "/fedsim")
        p.arguments = ["run", MultiProcessTests.scenarioFile(s), "--out", out, "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var pending = atRounds
        var dir = ""
        let deadline = Date().addingTimeInterval(240)
        while p.isRunning && Date() < deadline {
            if dir.isEmpty, let d = (try? FileManager.default.contentsOfDirectory(atPath: out))?.first {
                dir = out + "/" + d
            }
            if let next = pending.first, !dir.isEmpty, lines(dir).count >= next, let pid = target(dir) {
                kill(pid, SIGSTOP)
                usleep(useconds_t(seconds * 1_000_000))
                kill(pid, SIGCONT)
                pending.removeFirst()
            }
            usleep(20_000)
        }
        if p.isRunning {
            p.terminate()
            Issue.record("the run did not finish within 240 s")
        }
        p.waitUntilExit()
        return (p.terminationStatus, lines(dir), pending.isEmpty)
    }

    static func lines(_ dir: String) -> [[String: Any]] {
        guard let t = try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8) else { return [] }
        return t.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Client 1 stopped for 5 s (past the 2 s round deadline) after round 2, with and without
    /// SecAgg+: its devices drop out of the rounds it misses, and both processes are alive in
    /// every round to the end. (Fails before the late-reply rule: the late client is evicted.)
    @Test(arguments: [false, true])
    func aFrozenClientIsNotEvicted(secure: Bool) throws {
        let r = try Self.runFreezing(Self.scenario(secure: secure), atRounds: [2], seconds: 5) {
            ProcessLookup.clientPID(runDirectory: $0, index: 1)
        }
        #expect(r.froze)
        #expect(r.status == 0)
        #expect(r.metrics.count == 8)
        #expect(
            r.metrics.allSatisfy { $0["processes_alive"] as? Int == 2 },
            "\(r.metrics.map { $0["processes_alive"] ?? "?" })"
        )
    }

    /// The coordinator stopped for 3 s (past the 2 s deadline) three times in a SecAgg+ run:
    /// on waking, its deadlines and the queued replies race, so some replies are late.
    @Test func aFrozenCoordinatorEvictsNoClient() throws {
        let r = try Self.runFreezing(Self.scenario(secure: true), atRounds: [1, 3, 5], seconds: 3) {
            ProcessLookup.coordinatorPID(runDirectory: $0)
        }
        #expect(r.froze)
        #expect(r.status == 0)
        #expect(r.metrics.count == 8)
        #expect(
            r.metrics.allSatisfy { $0["processes_alive"] as? Int == 2 },
            "\(r.metrics.map { $0["processes_alive"] ?? "?" })"
        )
    }
}
