import FedSimConfig
import FedSimCore
import FedSimData
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Launcher {
    /// `fedsim resume RUN_DIR`: continues a run from its last checkpoint. The clients' device
    /// state is rolled back to the checkpoint's snapshots, and metrics and participation lines
    /// of later rounds are dropped (those rounds run again). The privacy ledger keeps every
    /// entry: rounds after the checkpoint may have been released, so they stay accounted.
    ///
    /// Nothing is touched until everything checks out: the checkpoint's checksum, the
    /// scenario's digest, a finite model, and every surviving process's snapshot (regular
    /// file, footer, round, scenario, checksum). A run that already completed is left as it is.
    public static func resume(directory path: String, binDirectory: String, showProgress: Bool = true) throws -> Result
    {
        let dir = RunDirectory(path: path)
        // Before anything in the directory is touched: no other launcher, no live coordinator.
        let lock = try RunLock(dir.launcherLockFile, holder: "fedsim resume")
        defer { withExtendedLifetime(lock) {} }
        if RunLock.isHeld(dir.coordinatorLockFile) {
            throw RunLock.Busy(
                description:
                    "a coordinator is still running in \(path) (coordinator.lock is held); wait for it to exit before resuming"
            )
        }
        if access(dir.path + "/" + SetupGuard.marker, F_OK) == 0 {
            throw RunDirectory.SetupError(
                description:
                    "\(dir.path) was interrupted while fedsim was setting it up; nothing ran. Delete it and start again with `fedsim run`"
            )
        }
        let scenario = try dir.loadScenario()
        if let rounds = completedRounds(dir) {
            return Result(
                directory: dir,
                exitCode: ExitCodes.success,
                error: nil,
                note:
                    "\(dir.path) already completed (\(rounds) rounds, summary.json status \"completed\"); nothing to resume, nothing changed"
            )
        }
        let ckpt = try CoordinatorCheckpoint.load(dir.checkpointFile)
        let digest = ScenarioDigest.of(scenario)
        try ckpt.verify(scenarioDigest: digest, path: dir.checkpointFile)
        guard ckpt.processes == scenario.runtime.processes else {
            throw RunDirectory.SetupError(
                description:
                    "the checkpoint was written for \(ckpt.processes) client processes, the run has \(scenario.runtime.processes)"
            )
        }
        // A cluster run's state lives with its clients, on their hosts: each restores its own
        // snapshot when it joins (`RunSetup.restoreRound`).
        if ckpt.clientSnapshots && !scenario.runtime.cluster.isRemote {
            let info = try PopulationInfo.parse(try dir.read("population.json"))
            try restoreSnapshots(dir, ckpt, devices: info.devices, digest: digest)
        }
        try RunDirectory.truncateJSONLines(dir.metricsFile, keepingRoundsUpTo: ckpt.round)
        try RunDirectory.truncateJSONLines(dir.participationFile, keepingRoundsUpTo: ckpt.round)
        var launcher = Launcher(
            scenario: scenario,
            outParent: (path as NSString).deletingLastPathComponent,
            binDirectory: binDirectory
        )
        launcher.showProgress = showProgress
        let progress = Progress(total: scenario.training.rounds, enabled: showProgress)
        progress.evaluationEvery = scenario.evaluation.every
        let lost = Set((ckpt.lostProcesses ?? [:]).keys)
        return try launcher.supervise(dir, scenario: scenario, progress: progress, resume: true, without: lost)
    }

    /// Stages every surviving process's snapshot beside its store, then replaces the stores:
    /// one bad snapshot refuses the resume with every store untouched.
    static func restoreSnapshots(
        _ dir: RunDirectory,
        _ ckpt: CoordinatorCheckpoint,
        devices: Int,
        digest: String
    ) throws {
        var staged: [(from: String, to: String)] = []
        do {
            for i in ckpt.survivingProcesses {
                let state = try dir.stateFile(process: i)
                try stageSnapshot(
                    state: state,
                    round: ckpt.round,
                    devices: Sharding.range(process: i, of: ckpt.processes, devices: devices).count,
                    digest: digest
                )
                staged.append((state + ".restore", state))
            }
        } catch {
            for s in staged { unlink(s.from) }
            throw error
        }
        for s in staged {
            guard rename(s.from, s.to) == 0 else { throw StorageError("rename \(s.from) to", s.to) }
        }
        if let last = staged.last { DurableFile.syncFolder(of: last.to) }
    }

    /// Checks one process's snapshot of `round` and copies it beside its store as `.restore`.
    static func stageSnapshot(state: String, round: Int, devices: Int, digest: String) throws {
        try DeviceStateStore.stage(
            snapshot: DeviceHost.snapshotPath(statePath: state, round: round),
            round: round,
            scenarioDigest: digest,
            devices: devices,
            to: state + ".restore"
        )
    }

    /// A process joining a resumed cluster run rolls its own store back to the checkpoint.
    static func restoreOwnSnapshot(state: String, round: Int, devices: Int, digest: String) throws {
        try stageSnapshot(state: state, round: round, devices: devices, digest: digest)
        guard rename(state + ".restore", state) == 0 else { throw StorageError("rename \(state).restore to", state) }
        DurableFile.syncFolder(of: state)
    }

    /// The rounds of a run whose summary says it completed (nil otherwise).
    static func completedRounds(_ dir: RunDirectory) -> Int? {
        guard let summary = try? dir.summary(), summary.status == .completed else { return nil }
        return summary.rounds
    }
}
