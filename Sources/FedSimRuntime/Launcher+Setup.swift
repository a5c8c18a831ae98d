import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Launcher {
    /// Writes everything the processes read before the first round: the resolved scenario,
    /// the population's counts, the device directory (with progress: tens of millions of
    /// devices take minutes), the token and the enrollment secret.
    func prepare(_ dir: RunDirectory, scenario: Scenario, population: any Population, setup: SetupGuard) throws {
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
        guard scenario.training.mode == .federated else { return }
        // What the coordinator may know per device (sizes, main domain): built once here.
        let directory = DeviceDirectory.build(
            population,
            splitter: Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split")),
            workers: ProcessInfo.processInfo.activeProcessorCount,
            progress: setup.directoryProgress(total: population.deviceCount)
        )
        setup.endProgress()
        try RunDirectory.atomicWrite(directory.encoded(), path: dir.directoryFile)
        if scenario.evaluation.biasBaseline.enabled {
            try ReferenceBaselines.measure(scenario, population: population).write(to: dir)
        }
        if ColdStartBaselines.applies(scenario) {
            let task = ModelRegistry.make(scenario, info).task
            try ColdStartBaselines.measure(scenario, population: population, ratings: task == .rating).write(to: dir)
        }
        if TemporalBaselines.applies(scenario) {
            try TemporalBaselines.measure(scenario, population: population).write(to: dir)
        }
        _ = try dir.createToken()
        if scenario.secureAggregation.enabled { try dir.createEnrollmentSecret() }
    }

    /// What validation cannot check without the population: faults of processes that do not
    /// exist once `processes: 0` is resolved, and a frame limit below the model's own frames
    /// (which would fail mid-run as "peer closed the connection").
    static func checkFits(_ scenario: Scenario, _ population: any Population) throws {
        var errors: [ScenarioError] = []
        let p = scenario.runtime.processes
        for (i, f) in scenario.runtime.faults.enumerated() where f.process >= p {
            errors.append(
                ScenarioError(
                    keyPath: "runtime.faults[\(i)].process",
                    message: "\(f.process) is not a client process: this run has \(p) (indices 0…\(p - 1))"
                )
            )
        }
        if scenario.training.mode == .federated {
            let parameters = ModelRegistry.make(scenario, PopulationInfo(population)).layout.count
            // A train request carries the dense model; a plain update its weighted delta and weights
            // (as runs: never more than their dense size plus 8 bytes each).
            let dense = scenario.compression.enabled || scenario.secureAggregation.enabled ? 1 : 2
            let needed = dense * parameters * 4 + 4096
            if scenario.runtime.maxFrameBytes < needed {
                errors.append(
                    ScenarioError(
                        keyPath: "runtime.max_frame_bytes",
                        message:
                            "\(scenario.runtime.maxFrameBytes) is below the \(needed) bytes of the frames that carry this model (\(parameters) parameters); raise it to at least \(needed)"
                    )
                )
            }
        }
        if !errors.isEmpty { throw ScenarioErrors(errors: errors) }
    }
}

/// The signal that interrupted a setup (0: none). Set by a plain C handler (async-signal-safe:
/// one store), read by the setup thread.
nonisolated(unsafe) private var setupInterruptedBy: Int32 = 0

/// A run directory while `fedsim run` sets it up. It holds a `setup-incomplete` marker until
/// the processes can start, so an interrupted setup is never mistaken for a run: Ctrl-C (or
/// SIGTERM) or an error removes the directory (nothing had run), and a SIGKILL leaves the
/// marker, which `fedsim resume` names.
///
/// The handler is a plain one, not a Dispatch signal source: libdispatch installs its own
/// handler for a signal only once per process, and the supervision that follows relies on it.
final class SetupGuard: @unchecked Sendable {
    static let marker = "setup-incomplete"
    let dir: RunDirectory
    let showProgress: Bool
    let lock = NSLock()
    var shownPercent = -1
    var progressShown = false
    /// The signal mask before setup: a process started from a thread that blocks SIGINT
    /// (a Dispatch worker's, say) inherits that mask, and the handler would never run.
    var savedMask = sigset_t()

    init(dir: RunDirectory, showProgress: Bool) {
        self.dir = dir
        self.showProgress = showProgress
    }

    func begin() throws {
        try dir.write(
            "fedsim was still setting up this run and did not finish; nothing ran. Delete this folder and start again with `fedsim run`.\n",
            to: Self.marker
        )
        setupInterruptedBy = 0
        for sig in [SIGINT, SIGTERM] { signal(sig) { setupInterruptedBy = $0 } }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, &savedMask)
    }

    /// Leaves (exit 130) after removing the directory if Ctrl-C or SIGTERM came during setup.
    func leaveIfInterrupted() {
        guard setupInterruptedBy != 0 else { return }
        endProgress()
        try? FileManager.default.removeItem(atPath: dir.path)
        fputs("\nfedsim: interrupted while setting up \(dir.path); removed it (nothing had run)\n", stderr)
        exit(ExitCodes.interrupted)
    }

    /// Setup failed: nothing ran, so nothing is kept.
    func abandon() {
        stopHandling()
        endProgress()
        try? FileManager.default.removeItem(atPath: dir.path)
    }

    func finish() {
        leaveIfInterrupted()
        stopHandling()
        unlink(dir.path + "/" + Self.marker)
    }

    func stopHandling() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        pthread_sigmask(SIG_SETMASK, &savedMask, nil)
    }

    /// Progress of the device directory on standard error, in whole percents, for populations
    /// large enough to take a while; each call also leaves if the setup was interrupted.
    func directoryProgress(total: Int) -> @Sendable (Int) -> Void {
        let show = showProgress && total >= 1_000_000
        let tty = isatty(2) != 0
        return { [self] done in
            leaveIfInterrupted()
            guard show else { return }
            let percent = done * 100 / max(total, 1)
            lock.lock()
            defer { lock.unlock() }
            guard percent > shownPercent, tty || percent % 10 == 0 || shownPercent < 0 else { return }
            shownPercent = percent
            progressShown = true
            let text = "building the device directory: \(percent)% of \(total) devices"
            fputs(tty ? "\r\u{1B}[2K" + text : text + "\n", stderr)
        }
    }

    func endProgress() {
        lock.lock()
        defer { lock.unlock() }
        if progressShown && isatty(2) != 0 { fputs("\n", stderr) }
        progressShown = false
    }
}
