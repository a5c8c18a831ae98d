import FedSimConfig
import FedSimCore
import FedSimMetrics
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

    static func processes(in dir: String) -> [Int32] { ProcessLookup.processes(workingIn: dir) }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = monotonicSeconds() + seconds
        while monotonicSeconds() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    static func summaryStatus(_ dir: String) -> String? {
        (try? TestSupport.summary(dir))?.status.rawValue
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

    /// One process supervising runs one after the other (a sweep) hears Ctrl-C in every run,
    /// not only the first (the handlers are removed and installed again between runs), and
    /// the interrupted run continues when the sweep is run again.
    @Test func aSweepHearsCtrlCInItsSecondRun() throws {
        let dir = TestSupport.temporaryDirectory()
        var yaml = Self.scenario().resolvedJSON()
        yaml.removeLast(2)
        yaml += ",\n\"sweep\": {\"name\": \"two\", \"grid\": {\"seed\": [1, 2]}}\n}\n"
        TestSupport.write(yaml, to: dir + "/sweep.yaml")
        let out = TestSupport.temporaryDirectory()
        let (sweep, _) = try ResumeTests.start(["sweep", dir + "/sweep.yaml", "--out", out, "--quiet"])
        let second = out + "/sweep-two/two-002"
        #expect(Self.waitUntil(120) { TestSupport.metricsLines(second + "/metrics.jsonl").count >= 2 })
        kill(sweep.processIdentifier, SIGINT)
        sweep.waitUntilExit()
        #expect(sweep.terminationStatus == 130)
        #expect(Self.summaryStatus(second) == "interrupted")
        #expect(Self.processes(in: second).isEmpty)
        let again = try MultiProcessTests.fedsim(["sweep", dir + "/sweep.yaml", "--out", out, "--quiet"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(TestSupport.metricsLines(second + "/metrics.jsonl").count == 12)
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
