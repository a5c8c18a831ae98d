import FedSimConfig
import FedSimCore
import FedSimRuntime
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ChaosBench {
    /// The launcher's life: killed outright, and two resumes racing for one directory. Both
    /// run `fedsim` as a child process, as a user would.
    static func lifecycleCases() -> [Case] {
        [
            Case(
                name: "launcher SIGKILL, then fedsim resume",
                secure: false,
                faults: slowRounds,
                runner: killLauncherThenResume,
                mustEqualFaultFree: true,
                note: "the kernel sends the coordinator SIGTERM (PR_SET_PDEATHSIG): it checkpoints and stops, "
                    + "the clients follow, no orphans; the resume ends with the fault-free model"
            ),
            Case(
                name: "Ctrl-C, then two concurrent resumes",
                secure: false,
                faults: slowRounds,
                runner: interruptThenRaceTwoResumes,
                mustEqualFaultFree: true,
                note: "the launcher forwards the interrupt (checkpoint, exit 130); the second resume finds run.lock "
                    + "held and exits 1 without touching the directory"
            ),
        ]
    }

    /// Every update frame of every round delayed 20 ms (a fault that changes no result): rounds
    /// take long enough that the signal lands mid-run, not after the last round.
    static let slowRounds = (1...10).flatMap { r in (0..<2).map { fault(.delay, process: $0, round: r, seconds: 0.02) }
    }

    /// `fedsim run` as a child process, its run directory once round `rounds` is on disk.
    static func startCLI(_ s: Scenario, parent: String, rounds: Int) throws -> (Process, String) {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let file = parent + "/scenario.yaml"
        try s.resolvedJSON().write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Launcher.ownBinDirectory() + "/fedsim")
        p.arguments = ["run", file, "--out", parent, "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let end = monotonicSeconds() + 120
        while monotonicSeconds() < end {
            if let d = (try? FileManager.default.contentsOfDirectory(atPath: parent))?.filter({
                $0.hasPrefix(s.name + "-")
            }).sorted().last, metrics(parent + "/" + d).count >= rounds {
                return (p, parent + "/" + d)
            }
            usleep(10_000)
        }
        throw RunDirectory.SetupError(description: "the run did not reach round \(rounds)")
    }

    static func orphans(in dir: String) -> Bool { !ProcessLookup.processes(workingIn: dir).isEmpty }

    static func killLauncherThenResume(_ s: Scenario, _ parent: String) throws -> Launcher.Result {
        let (launcher, dir) = try startCLI(s, parent: parent, rounds: 3)
        kill(launcher.processIdentifier, SIGKILL)
        launcher.waitUntilExit()
        let end = monotonicSeconds() + 60
        while orphans(in: dir) && monotonicSeconds() < end { usleep(50_000) }
        var r = try Launcher.resume(directory: dir, binDirectory: Launcher.ownBinDirectory(), showProgress: false)
        if orphans(in: dir) {
            r.exitCode = 99
            r.error = "processes outlived their launcher"
        }
        return r
    }

    static func interruptThenRaceTwoResumes(_ s: Scenario, _ parent: String) throws -> Launcher.Result {
        let (launcher, dir) = try startCLI(s, parent: parent, rounds: 3)
        kill(launcher.processIdentifier, SIGINT)
        launcher.waitUntilExit()
        let box = ResultBox()
        let thread = Thread {
            box.result = Result {
                try Launcher.resume(directory: dir, binDirectory: Launcher.ownBinDirectory(), showProgress: false)
            }
        }
        thread.start()
        let end = monotonicSeconds() + 60
        while !RunLock.isHeld(RunDirectory(path: dir).coordinatorLockFile) && box.result == nil
            && monotonicSeconds() < end
        {
            usleep(5_000)
        }
        let second = Process()
        second.executableURL = URL(fileURLWithPath: Launcher.ownBinDirectory() + "/fedsim")
        second.arguments = ["resume", dir, "--quiet"]
        second.standardOutput = FileHandle.nullDevice
        second.standardError = FileHandle.nullDevice
        try second.run()
        second.waitUntilExit()
        while box.result == nil { usleep(10_000) }
        var r = try box.result!.get()
        if launcher.terminationStatus != 130 || second.terminationStatus != 1 {
            r.exitCode = 99
            r.error =
                "interrupted launcher exited \(launcher.terminationStatus), the second resume \(second.terminationStatus)"
        }
        return r
    }
}
