import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The launcher and its processes live and die together, and a run directory has one user at
/// a time (real processes; see `Supervision` and `RunLock`).
@Suite(.serialized) struct LauncherLifecycleTests {
    static func scenario() -> Scenario {
        var s = ResumeTests.scenario(privacy: false)
        s.runtime.checkpointEvery = 0
        return s
    }

    /// Process ids of every fedsim-coordinator / fedsim-client working in `dir` (from /proc).
    static func processes(in dir: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { e -> Int32? in
            guard let pid = Int32(e),
                let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline")
            else { return nil }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let exe = args.first, exe.hasSuffix("fedsim-coordinator") || exe.hasSuffix("fedsim-client"),
                args.contains(dir)
            else { return nil }
            return pid
        }
    }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = monotonicSeconds() + seconds
        while monotonicSeconds() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    static func summaryStatus(_ dir: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dir + "/summary.json"),
            let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return o["status"] as? String
    }

    /// Ctrl-C in a terminal reaches the launcher only (each child has its own process group):
    /// it must stop the run with a checkpoint, not be ignored.
    @Test func interruptingTheLauncherCheckpointsAndStopsEverything() throws {
        let parent = TestSupport.temporaryDirectory()
        let (launcher, _) = try ResumeTests.start([
            "run", MultiProcessTests.scenarioFile(Self.scenario()), "--out", parent, "--quiet",
        ])
        let dir = try #require(ResumeTests.runDirectory(in: parent))
        #expect(ResumeTests.waitForRounds(dir, 2))
        kill(launcher.processIdentifier, SIGINT)
        launcher.waitUntilExit()
        #expect(launcher.terminationStatus == 130)
        #expect(Self.summaryStatus(dir) == "interrupted")
        #expect(Self.processes(in: dir).isEmpty, "left running: \(Self.processes(in: dir))")
        let ckpt = try CoordinatorCheckpoint.load(dir + "/checkpoint.json")
        #expect(ckpt.round == TestSupport.metricsLines(dir + "/metrics.jsonl").count && ckpt.round < 12)
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count == 12)
    }

    /// A launcher killed outright (SIGKILL: no handler runs) must not leave orphans: the
    /// coordinator gets SIGTERM from the kernel, checkpoints and stops; the clients follow.
    @Test func aKilledLauncherTakesItsRunDownWithACheckpoint() throws {
        let parent = TestSupport.temporaryDirectory()
        let (launcher, _) = try ResumeTests.start([
            "run", MultiProcessTests.scenarioFile(Self.scenario()), "--out", parent, "--quiet",
        ])
        let dir = try #require(ResumeTests.runDirectory(in: parent))
        #expect(ResumeTests.waitForRounds(dir, 2))
        kill(launcher.processIdentifier, SIGKILL)
        launcher.waitUntilExit()
        #expect(Self.waitUntil(60) { Self.processes(in: dir).isEmpty }, "orphans: \(Self.processes(in: dir))")
        #expect(Self.summaryStatus(dir) == "interrupted")
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count == 12)
    }

    /// A resume while the run is live (its launcher holds run.lock) is refused before it
    /// touches anything, and the live run ends complete.
    @Test func aResumeOfALiveRunIsRefused() throws {
        let parent = TestSupport.temporaryDirectory()
        let (launcher, _) = try ResumeTests.start([
            "run", MultiProcessTests.scenarioFile(Self.scenario()), "--out", parent, "--quiet",
        ])
        let dir = try #require(ResumeTests.runDirectory(in: parent))
        #expect(ResumeTests.waitForRounds(dir, 1))
        let second = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("is in use by fedsim run"), "\(second.stderr)")
        launcher.waitUntilExit()
        #expect(launcher.terminationStatus == 0)
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").map { $0["round"] as? Int } == (1...12).map { $0 })
        #expect(Self.summaryStatus(dir) == "completed")
    }

    /// A coordinator still at work after its launcher is gone holds coordinator.lock: a
    /// resume must wait for it; a second coordinator in the directory stops before writing.
    @Test func theCoordinatorLockKeepsASecondCoordinatorOut() throws {
        let dir = TestSupport.temporaryDirectory()
        let held = try RunLock(dir + "/coordinator.lock", holder: "fedsim-coordinator")
        #expect(RunLock.isHeld(dir + "/coordinator.lock"))
        #expect(throws: RunLock.Busy.self) { try RunLock(dir + "/coordinator.lock", holder: "another") }
        withExtendedLifetime(held) {}
    }
}
