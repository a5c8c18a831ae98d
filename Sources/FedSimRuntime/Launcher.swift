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
        /// Said to the user when nothing was run (resuming a run that already completed).
        public var note: String?
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
        try Self.checkFits(scenario, population)
        let dir = try RunDirectory.create(parent: outParent, name: scenario.name, exactName: directoryName)
        let lock = try RunLock(dir.launcherLockFile, holder: "fedsim run")
        defer { withExtendedLifetime(lock) {} }
        let setup = SetupGuard(dir: dir, showProgress: showProgress)
        do {
            try setup.begin()
            try prepare(dir, scenario: scenario, population: population, setup: setup)
        } catch {
            setup.abandon()
            throw error
        }
        setup.finish()
        let progress = Progress(total: scenario.training.rounds, enabled: showProgress)
        progress.evaluationEvery = scenario.evaluation.every

        if scenario.training.mode == .centralized {
            let tensorBoard = try? TensorBoardLog(runDirectory: dir, scenario: scenario)
            let tail = MetricsTail(dir.metricsFile)
            func follow() {
                let lines = tail.newLines()
                progress.update(lines)
                tensorBoard?.write(lines)
            }
            do {
                try CentralizedRunner.run(scenario: scenario, population: population, dir: dir) { _ in follow() }
                follow()
                progress.finish()
                return Result(directory: dir, exitCode: ExitCodes.success, error: nil, tensorBoard: tensorBoard)
            } catch {
                progress.finish()
                let code = error is StorageError ? ExitCodes.ioError : ExitCodes.runFailed
                return Result(directory: dir, exitCode: code, error: "\(error)", tensorBoard: tensorBoard)
            }
        }

        return try supervise(dir, scenario: scenario, progress: progress, resume: false)
    }

    /// Starts the coordinator and the client processes (all but `without`: processes a resumed
    /// run goes on without) and waits for the coordinator.
    func supervise(
        _ dir: RunDirectory,
        scenario: Scenario,
        progress: Progress,
        resume: Bool,
        without: Set<Int> = []
    ) throws -> Result {
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
        if scenario.runtime.cluster.isRemote {
            do {
                clients.append(
                    try startClusterClients(dir, scenario: scenario, coordinator: coordinator, resume: resume)
                )
            } catch {
                kill(coordinator.processIdentifier, SIGKILL)
                throw error
            }
        }
        for i in 0..<scenario.runtime.processes where !without.contains(i) && !scenario.runtime.cluster.isRemote {
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
        let tail = MetricsTail(dir.metricsFile)
        func follow() {
            let lines = tail.newLines()
            progress.update(lines)
            tensorBoard?.write(lines)
        }
        // A resumed run's kept rounds are in an earlier event file already; only the rounds
        // from here on (the redone ones included) go into this one.
        if resume { progress.update(tail.newLines()) }
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
            follow()
            progress.tick()
            usleep(200_000)
        }
        samplePeaks()
        follow()
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
        } else if code == ExitCodes.ioError {
            error =
                Self.summaryError(dir)
                ?? "the coordinator could not write to \(dir.path) (is the disk full?); \(dir.resumeAdvice())"
        } else if code != 0 {
            error =
                Self.summaryError(dir)
                ?? "the coordinator exited with status \(code); see \(dir.logsDir)/coordinator.log"
        }
        let exit =
            [ExitCodes.success, ExitCodes.interrupted, ExitCodes.ioError].contains(code) ? code : ExitCodes.runFailed
        return Result(
            directory: dir,
            exitCode: exit,
            error: error,
            peakTreeRSSBytes: peaks.values.reduce(0, +),
            tensorBoard: tensorBoard
        )
    }

    static func summaryError(_ dir: RunDirectory) -> String? {
        (try? dir.summary())?.error
    }

    func spawn(_ name: String, _ args: [String], log: String, append: Bool = false) throws -> Process {
        try spawn(path: binDirectory + "/" + name, args, log: log, append: append)
    }

    func spawn(path exe: String, _ args: [String], log: String, append: Bool = false) throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw RunDirectory.SetupError(
                description: "cannot find \(exe); build with `make build` (or `swift build`) first"
            )
        }
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0o600)
        guard fd >= 0 else { throw StorageError("open the log", log) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            // Foundation's error (an NSError dump) becomes a sentence: EMFILE, EAGAIN, ENOMEM…
            let ns = error as NSError
            var e = StorageError("start", exe, errno: ns.domain == NSPOSIXErrorDomain ? Int32(ns.code) : EIO)
            var limit = rlimit()
            if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < 256 {
                e.hint = "the open-file limit is \(limit.rlim_cur); raise it with `ulimit -n 1024`"
            }
            throw e
        }
        return p
    }
}
