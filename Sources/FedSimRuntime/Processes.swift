import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire
import Foundation

/// Appends JSON lines to a file (`metrics.jsonl`, `participation.jsonl`): each line whole and
/// fsynced, or not at all (`AppendOnlyFile`), so progress is visible live and a full disk
/// stops the run with an error instead of a crash or a torn line.
public final class FileMetricsSink: MetricsSink {
    let file: AppendOnlyFile
    public init(path: String) throws { file = try AppendOnlyFile(path: path) }
    public func record(_ line: JSONObject) throws { try file.append(line.text) }
}

extension MetricsSink {
    /// Records a round's line of the metrics schema (`RoundMetrics`).
    public func record(_ line: RoundMetrics) throws { try record(JSONObject(encoding: line)) }
}

/// Collects metrics lines in memory (tests).
public final class MemoryMetricsSink: MetricsSink {
    public private(set) var lines: [String] = []
    public init() {}
    public func record(_ line: JSONObject) { lines.append(line.text) }
}

/// Exit codes shared by the executables, so scripts can tell failures apart.
public enum ExitCodes {
    public static let success: Int32 = 0
    public static let runFailed: Int32 = 1
    public static let badInput: Int32 = 2
    /// A file or folder could not be created, written or read (a full disk, a read-only or
    /// missing `--out`, too many open files): sysexits' EX_IOERR. Nothing is wrong with the
    /// scenario; after a full disk the run resumes from its last checkpoint.
    public static let ioError: Int32 = 74
    public static let interrupted: Int32 = 130
}

/// The `fedsim-coordinator` process: binds the socket, runs the rounds, writes the model and
/// the summary. Returns the process exit code.
public enum CoordinatorProcess {
    public static func main(runDirectory: String, resume: Bool = false) async -> Int32 {
        let log = Log("coordinator")
        let dir = RunDirectory(path: runDirectory)
        let started = monotonicSeconds()
        var coordinator: Coordinator?
        // Held until this process exits; a second coordinator in the same directory stops
        // here, before it can touch the live run's files (its summary included).
        let lock: RunLock
        do { lock = try RunLock(dir.coordinatorLockFile, holder: "fedsim-coordinator") } catch {
            log.error("\(error)")
            return ExitCodes.runFailed
        }
        defer { withExtendedLifetime(lock) {} }
        let reserve = SpaceReserve(path: dir.path + "/.space-reserve")
        defer { reserve.release() }
        do {
            try dir.checkPrivate()
            try reserve.hold()
            let scenario = try dir.loadScenario()
            let info = try PopulationInfo.parse(try dir.read("population.json"))
            let token = try dir.readToken()
            let processes = scenario.runtime.resolvedProcesses(cores: ProcessInfo.processInfo.activeProcessorCount)
            let server = try await Transports.listen(scenario.runtime, dir: dir, token: token)
            log.info(
                "listening on \(server.tcpAddress.map { "\($0)" } ?? dir.socketPath) for \(processes) client processes"
            )
            let sink = try FileMetricsSink(path: dir.metricsFile)
            let c = try Coordinator(
                scenario: scenario,
                population: info,
                processCount: processes,
                token: token,
                transport: server,
                metrics: sink,
                ledgerPath: dir.path + "/privacy-ledger.jsonl",
                directory: try dir.loadDirectory(),
                domainNames: info.domains ?? [],
                // Who was sampled is written only when no privacy claim rests on it being secret.
                participationPath: scenario.privacy.writesParticipation ? dir.participationFile : nil
            )
            coordinator = c
            c.checkpointPath = dir.checkpointFile
            c.deviceMetricsPath = dir.path + "/device-metrics.csv"
            if scenario.evaluation.biasBaseline.enabled { c.referenceBaselines = ReferenceBaselines.read(from: dir) }
            if resume {
                try c.checkResumable()
                let ckpt = try CoordinatorCheckpoint.load(dir.checkpointFile)
                try c.restore(ckpt, ledger: PrivacyLedgerReader.entries(dir.path + "/privacy-ledger.jsonl"))
                log.info("resuming after round \(ckpt.round)")
            }
            c.runSetup = RunSetup(
                scenarioJSON: try dir.read("scenario.json"),
                populationJSON: try dir.read("population.json"),
                restoreRound: try Self.restoreRound(dir, resume: resume, remote: scenario.runtime.cluster.isRemote)
            )
            try dir.write("\(getpid())\n", to: "coordinator.pid")
            // SIGINT / SIGTERM: finish the round, checkpoint, tell the clients to leave, exit 130.
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let flag = c.interrupt
            let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler { flag.set() }
                src.resume()
                return src
            }
            defer { for s in sources { s.cancel() } }
            do {
                try await c.run()
            } catch {
                await c.abort(reason: "run failed: \(error)")
                try? await Task.sleep(for: .milliseconds(100))
                await server.shutdown()
                throw error
            }
            try? await Task.sleep(for: .milliseconds(100))
            await server.shutdown()
            try ModelFile.save(c.model, layout: c.layout, in: dir)
            if let audit = c.auditReport() {
                try dir.write(audit.json.text + "\n", to: "privacy-audit.json")
                if !audit.consistent {
                    log.error(
                        "privacy audit: the empirical ε lower bound exceeds the claimed ε; see privacy-audit.json"
                    )
                }
            }
            try writeSummary(dir, scenario: scenario, coordinator: c, seconds: monotonicSeconds() - started, error: nil)
            if c.interrupted {
                log.warning("interrupted after round \(c.roundsCompleted); `fedsim resume \(dir.path)` continues")
                return ExitCodes.interrupted
            }
            log.info("run complete: \(c.roundsCompleted) rounds, \(c.deviceUpdates) device updates")
            return ExitCodes.success
        } catch {
            // A full disk: give back the reserved space so the summary and this message fit.
            reserve.release()
            let storage = error is StorageError || error is PrivacyLedger.WriteError
            let message = storage ? "\(error); " + dir.resumeAdvice() : "\(error)"
            log.error(message)
            if let scenario = try? dir.loadScenario() {
                try? writeSummary(
                    dir,
                    scenario: scenario,
                    coordinator: coordinator,
                    seconds: monotonicSeconds() - started,
                    error: message
                )
            }
            return storage ? ExitCodes.ioError : ExitCodes.runFailed
        }
    }

    /// The round whose snapshots joining processes restore: a resumed cluster run's
    /// checkpoint (on one host the launcher restores them before the clients start).
    static func restoreRound(_ dir: RunDirectory, resume: Bool, remote: Bool) throws -> UInt32 {
        guard resume, remote else { return 0 }
        let ckpt = try CoordinatorCheckpoint.load(dir.checkpointFile)
        return ckpt.clientSnapshots ? UInt32(ckpt.round) : 0
    }

    /// summary.json (`RunSummary`), also after a failure (with its error) and without a
    /// coordinator (the run failed before it started).
    public static func writeSummary(
        _ dir: RunDirectory,
        scenario: Scenario,
        coordinator c: Coordinator?,
        seconds: Double,
        error: String?
    ) throws {
        var s = RunSummary(
            scenario: scenario.name,
            status: error != nil ? .failed : (c?.interrupted == true ? .interrupted : .completed),
            mode: scenario.training.mode.rawValue,
            seed: Int(truncatingIfNeeded: scenario.seed),
            final: finalMetrics(c?.lastEvaluation, k: scenario.evaluation.k)
        )
        s.error = error
        s.rounds = c?.roundsCompleted ?? 0
        s.deviceUpdates = c?.deviceUpdates ?? 0
        s.wallSeconds = seconds
        s.deviceUpdatesPerSecond =
            Double((c?.deviceUpdates ?? 0) - (c?.updatesBeforeStart ?? 0)) / max(seconds, 1e-9)
        if let c, c.firstRound > 1 { s.resumedAfterRound = c.firstRound - 1 }
        if let c, !c.lostReasons.isEmpty { s.lostProcesses = LostProcesses(c.lostReasons) }
        s.bytesSent = c?.bytesSent ?? 0
        s.bytesReceived = c?.bytesReceived ?? 0
        s.final.baselines = c?.finalBaselines()
        s.stoppedEarly = c?.stoppedEarly
        s.validation = c?.validationSummary()
        if let c, scenario.evaluation.coldStart.enabled { coldStart(into: &s, dir, scenario: scenario, coordinator: c) }
        if let c {
            s.participation = c.participation.summary(simulatedSeconds: c.simulatedClock)
            if scenario.privacy.writesParticipation {
                // Checked on success; after a failure the summary (with its error) comes first.
                if error == nil {
                    try dir.write(c.participation.csv(), to: "participation.csv")
                } else {
                    try? dir.write(c.participation.csv(), to: "participation.csv")
                }
            }
        }
        if let dp = c?.dp {
            let (eps, order) = dp.accountant.epsilon(delta: scenario.privacy.delta)
            s.privacy = PrivacySummary(
                mechanism: scenario.privacy.mechanism.rawValue,
                epsilon: eps,
                delta: scenario.privacy.delta,
                rdpOrder: order,
                noise: dp.noiseIsPrivate ? "secure" : "reproducible (NOT private)"
            )
        }
        try dir.write(try MetricsJSON.line(s) + "\n", to: "summary.json")
    }

    /// The cold-start protocol's settings and tables, with the in-run baselines per k
    /// (`ColdStartBaselines`) beside the model's figures.
    static func coldStart(into s: inout RunSummary, _ dir: RunDirectory, scenario: Scenario, coordinator c: Coordinator)
    {
        let adaptation = scenario.personalization.adaptation
        s.coldStartProtocol = ColdStartProtocol(
            name: scenario.evaluation.coldStart.protocol.rawValue,
            initialisation: scenario.meta.enabled
                ? "meta-learned (\(scenario.meta.algorithm.rawValue))"
                : "federated (\(scenario.personalization.strategy.rawValue))",
            adaptationSteps: adaptation.steps,
            adaptationLearningRate: adaptation.learningRate,
            adaptedGroups: adaptation.groups.map(\.rawValue).joined(separator: "+"),
            globalModelFineTuned: ColdStartBaselines.globalFineTuned(scenario)
        )
        let k = scenario.evaluation.k
        let baselines = ColdStartBaselines.applies(scenario) ? ColdStartBaselines.read(from: dir) : nil
        // The temporal protocol's (`TemporalBaselines`), per period and per third.
        let temporal = TemporalBaselines.applies(scenario) ? TemporalBaselines.read(from: dir) : nil
        var entries = baselines?.annotate(c.coldStartResults, k: k) ?? c.coldStartResults
        var thirds = c.coldStartThirds
        if let temporal {
            entries = temporal.annotate(entries, k: k)
            thirds = temporal.annotateThirds(thirds, periods: scenario.evaluation.coldStart.periods, k: k)
        }
        s.coldStart = Coordinator.tree(entries)
        if !thirds.isEmpty { s.coldStartThirds = Coordinator.tree(thirds) }
    }

    /// `final`: the last evaluation's test metrics (NaN, written `null`, when there was none).
    static func finalMetrics(_ e: EvaluationSummary?, k: Int) -> FinalMetrics {
        FinalMetrics(
            k: k,
            rmse: e?.rmse ?? .nan,
            mae: e?.mae ?? .nan,
            hitRate: e?.hitRate ?? .nan,
            ndcg: e?.ndcg ?? .nan
        )
    }
}
