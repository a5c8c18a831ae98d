import FedSimConfig
import FedSimCore
import FedSimData
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `fedsim run`: prepares a run directory, starts one coordinator and P client processes,
/// shows progress, and reports the outcome. The processes talk only through the socket in
/// the run directory; this launcher only watches files and exit codes.
public struct Launcher {
    public var scenario: Scenario
    public var outParent: String
    public var binDirectory: String
    /// Progress goes to standard error: a live line on a terminal, plain lines otherwise.
    public var showProgress = true
    /// The run directory's exact name (sweeps); nil: NAME-TIMESTAMP.
    public var directoryName: String?

    public init(scenario: Scenario, outParent: String, binDirectory: String) {
        self.scenario = scenario
        self.outParent = outParent
        self.binDirectory = binDirectory
    }

    public struct Result {
        public var directory: RunDirectory
        public var exitCode: Int32
        public var error: String?
        /// Sum over the run's processes of each one's peak resident set (VmHWM), as last
        /// sampled (every 200 ms) before it exited; 0 in centralized mode.
        public var peakTreeRSSBytes: Int = 0
        /// The run's TensorBoard event file, for text the caller adds at the end.
        public var tensorBoard: TensorBoardLog?
    }

    /// A process's peak resident set size in bytes (Linux /proc), or nil once it has exited.
    public static func peakRSS(pid: Int32) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }

    /// The folder holding the running executable (where its sibling executables are).
    public static func ownBinDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let path = n > 0 ? String(cString: buf) : CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }

    public func launch() throws -> Result {
        var scenario = self.scenario
        scenario.runtime.processes = scenario.runtime.resolvedProcesses(
            cores: ProcessInfo.processInfo.activeProcessorCount
        )
        let population = try PopulationFactory.make(scenario.data, seed: scenario.seed)
        if scenario.training.mode == .federated && scenario.runtime.processes > population.deviceCount {
            scenario.runtime.processes = population.deviceCount
        }
        let dir = try RunDirectory.create(parent: outParent, name: scenario.name, exactName: directoryName)
        let lock = try RunLock(dir.launcherLockFile, holder: "fedsim run")
        defer { withExtendedLifetime(lock) {} }
        try dir.write(scenario.resolvedJSON(), to: "scenario.json")
        let info = PopulationInfo(population)
        if scenario.evaluation.coldStart.enabled {
            // Fail before any process starts when the protocol does not fit the population.
            _ = try ColdStartSplit(
                config: scenario.evaluation.coldStart,
                devices: 0,
                seed: scenario.seed,
                domainNames: population.domainNames,
                timeRange: scenario.evaluation.coldStart.protocol == .temporal ? population.timeRange() : nil
            )
        }
        try dir.write(info.json() + "\n", to: "population.json")
        if scenario.training.mode == .federated {
            // What the coordinator may know per device (sizes, main domain): built once here.
            let directory = DeviceDirectory.build(
                population,
                splitter: Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split")),
                workers: ProcessInfo.processInfo.activeProcessorCount
            )
            try RunDirectory.atomicWrite(directory.encoded(), path: dir.directoryFile)
        }
        let progress = Progress(total: scenario.training.rounds, enabled: showProgress)
        progress.evaluationEvery = scenario.evaluation.every

        if scenario.training.mode == .centralized {
            let tensorBoard = try? TensorBoardLog(runDirectory: dir, scenario: scenario)
            do {
                try CentralizedRunner.run(scenario: scenario, population: population, dir: dir) { _ in
                    progress.update(from: dir.metricsFile)
                    tensorBoard?.follow(metricsFile: dir.metricsFile)
                }
                progress.finish()
                tensorBoard?.follow(metricsFile: dir.metricsFile)
                return Result(directory: dir, exitCode: ExitCodes.success, error: nil, tensorBoard: tensorBoard)
            } catch {
                progress.finish()
                return Result(
                    directory: dir,
                    exitCode: ExitCodes.runFailed,
                    error: "\(error)",
                    tensorBoard: tensorBoard
                )
            }
        }

        _ = try dir.createToken()
        if scenario.secureAggregation.enabled { try dir.createEnrollmentSecret() }
        return try supervise(dir, scenario: scenario, progress: progress, resume: false)
    }

    /// `fedsim resume RUN_DIR`: continues a run from its last checkpoint. The clients' device
    /// state is rolled back to the checkpoint's snapshots, and metrics and participation lines
    /// of later rounds are dropped (those rounds run again). The privacy ledger keeps every
    /// entry: rounds after the checkpoint may have been released, so they stay accounted.
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
        let scenario = try dir.loadScenario()
        let ckpt = try CoordinatorCheckpoint.load(dir.checkpointFile)
        guard ckpt.processes == scenario.runtime.processes else {
            throw RunDirectory.SetupError(
                description:
                    "the checkpoint was written for \(ckpt.processes) client processes, the run has \(scenario.runtime.processes)"
            )
        }
        if ckpt.clientSnapshots {
            for i in 0..<ckpt.processes {
                let state = try dir.stateFile(process: i)
                try DeviceStateStore.restore(
                    snapshot: DeviceHost.snapshotPath(statePath: state, round: ckpt.round),
                    to: state
                )
            }
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
        return try launcher.supervise(dir, scenario: scenario, progress: progress, resume: true)
    }

    func supervise(_ dir: RunDirectory, scenario: Scenario, progress: Progress, resume: Bool) throws -> Result {
        // Ctrl-C, SIGTERM, SIGHUP: forwarded to the coordinator (Supervision).
        let stops = Supervision.StopRequests()
        defer { stops.uninstall() }
        // A resumed TCP run binds a new port; clients must not find the previous run's address.
        unlink(dir.addressFile)
        let coordinator = try spawn(
            "fedsim-coordinator",
            ["--run-dir", dir.path] + (resume ? ["--resume"] : []) + ["--supervisor", String(getpid())],
            log: dir.logsDir + "/coordinator.log",
            append: resume
        )
        var clients: [Process] = []
        for i in 0..<scenario.runtime.processes {
            clients.append(
                try spawn(
                    "fedsim-client",
                    ["--run-dir", dir.path, "--index", String(i)],
                    log: dir.logsDir + "/client-\(i).log",
                    append: resume
                )
            )
        }
        var peaks: [Int32: Int] = [:]
        func samplePeaks() {
            for p in [coordinator] + clients {
                if let r = Self.peakRSS(pid: p.processIdentifier) { peaks[p.processIdentifier] = r }
            }
        }
        let tensorBoard = try? TensorBoardLog(runDirectory: dir, scenario: scenario)
        var handled = 0
        var stoppedAtOnce = false
        while coordinator.isRunning {
            let requested = stops.total
            if requested > handled {
                handled = requested
                if handled == 1 {
                    progress.note(
                        "stopping after the current round, with a checkpoint; interrupt again to stop at once"
                    )
                    kill(coordinator.processIdentifier, SIGTERM)
                } else if !stoppedAtOnce {
                    stoppedAtOnce = true
                    for p in [coordinator] + clients where p.isRunning { kill(p.processIdentifier, SIGKILL) }
                }
            }
            samplePeaks()
            progress.update(from: dir.metricsFile)
            progress.tick()
            tensorBoard?.follow(metricsFile: dir.metricsFile)
            usleep(200_000)
        }
        samplePeaks()
        progress.update(from: dir.metricsFile)
        tensorBoard?.follow(metricsFile: dir.metricsFile)
        progress.finish()
        // Clients leave on the coordinator's shutdown message; give them a moment, then stop them.
        let grace = monotonicSeconds() + 5
        while clients.contains(where: \.isRunning) && monotonicSeconds() < grace { usleep(50_000) }
        for c in clients where c.isRunning { c.terminate() }
        usleep(100_000)
        for c in clients where c.isRunning { kill(c.processIdentifier, SIGKILL) }
        if !dir.socketPath.hasPrefix(dir.path) {
            unlink(dir.socketPath)
            rmdir((dir.socketPath as NSString).deletingLastPathComponent)
        }
        let code = coordinator.terminationStatus
        var error: String?
        if stoppedAtOnce {
            let message =
                "stopped at once, without a checkpoint of the current round; `fedsim resume \(dir.path)` continues from the last checkpoint"
            return Result(directory: dir, exitCode: ExitCodes.interrupted, error: message, tensorBoard: tensorBoard)
        }
        if code == ExitCodes.interrupted {
            error = "interrupted; continue with `fedsim resume \(dir.path)`"
        } else if code != 0 {
            error =
                Self.summaryError(dir)
                ?? "the coordinator exited with status \(code); see \(dir.logsDir)/coordinator.log"
        }
        let exit =
            code == 0
            ? ExitCodes.success : (code == ExitCodes.interrupted ? ExitCodes.interrupted : ExitCodes.runFailed)
        return Result(
            directory: dir,
            exitCode: exit,
            error: error,
            peakTreeRSSBytes: peaks.values.reduce(0, +),
            tensorBoard: tensorBoard
        )
    }

    static func summaryError(_ dir: RunDirectory) -> String? {
        guard let text = try? dir.read("summary.json"),
            let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return nil }
        return obj["error"] as? String
    }

    func spawn(_ name: String, _ args: [String], log: String, append: Bool = false) throws -> Process {
        let exe = binDirectory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw RunDirectory.SetupError(
                description: "cannot find \(exe); build with `make build` (or `swift build`) first"
            )
        }
        if !append || !FileManager.default.fileExists(atPath: log) {
            FileManager.default.createFile(atPath: log, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}
