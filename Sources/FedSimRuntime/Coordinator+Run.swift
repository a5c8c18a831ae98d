import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// The run: waiting for the client processes, the rounds in order, and each round's metrics line.
extension Coordinator {
    /// Ends a round's metrics line: evaluates when due, adds the totals and timings, and
    /// records it (synchronous rounds and FedBuff steps alike).
    func finishRound(_ r: Int, _ line: RoundMetrics, roundStart: Double, runStart: Double) async throws {
        var line = line
        var stopping = false
        if strategy.evaluates(round: r) {
            if scenario.data.split.validation {
                let (validation, stop) = try await validationStep(round: r)
                line.validation = validation
                if stop {
                    stopping = true
                    finalEvaluation = true
                    restoredRound = await restoreBestRound(after: r)
                    line.evalModelRound = restoredRound
                }
            }
            let summary = try await evaluate(round: r)
            lastEvaluation = summary
            line.eval = lastEvaluationMetrics
            if r == scenario.training.rounds && scenario.evaluation.coldStart.enabled {
                coldStartResults = try await runColdStart(round: r)
                line.coldStart = Self.tree(coldStartResults)
                if !coldStartThirds.isEmpty { line.coldStartThirds = Self.tree(coldStartThirds) }
            }
        }
        line.stepRefused = stepRefusal
        stepRefusal = nil
        roundsCompleted = r
        line.bytesSent = bytesSent
        line.bytesReceived = bytesReceived
        line.roundSeconds = monotonicSeconds() - roundStart
        line.wallSeconds = monotonicSeconds() - runStart
        if let failure = participationLog?.failure { throw failure }
        try metrics.record(line)
        if stopping && r < scenario.training.rounds, let t = validationTracker {
            earlyStopped = true
            stoppedEarly =
                "early stopping: validation \(t.metric.rawValue) did not improve by more than \(t.minDelta) for \(t.patience) evaluations; the model of round \(t.bestRound ?? r) is kept"
            log.info("stopping after round \(r): \(stoppedEarly!)")
        }
    }

    /// The cold-start tables as they go into the round's line: still assembled as JSON objects
    /// (open-ended tables per support size and strategy), read back as a tree.
    static func tree(_ objects: [JSONObject]) -> JSONValue {
        do { return try JSONValue(parsing: "[" + objects.map(\.text).joined(separator: ",") + "]") } catch {
            preconditionFailure("cold-start tables are not JSON: \(error)")
        }
    }

    /// The counters every round's metrics line starts with (docs/metrics.md), in their order.
    func roundCounters(
        _ r: Int,
        sampled: Int,
        finished: Int,
        failed: Int,
        dropped: Int,
        timedOut: Int,
        rejected: Int,
        examples: Int,
        trainLoss: Double
    ) -> RoundMetrics {
        var line = RoundMetrics(round: r)
        line.sampled = sampled
        line.finished = finished
        line.failed = failed
        line.dropped = dropped
        line.timedOut = timedOut
        line.rejected = rejected
        line.processesAlive = peers.count
        line.examples = examples
        line.trainLoss = trainLoss
        return line
    }

    // MARK: Run

    /// Runs every round. Throws `Failure` with a message for the user when the run cannot go on.
    public func run() async throws {
        startForwarding()
        defer { forwarder?.cancel() }
        try await waitForProcesses()
        if scenario.training.async.enabled {
            try await runAsync()
            return try checkFinalModel()
        }
        let start = monotonicSeconds()
        if scenario.training.rounds == 0 {
            // No training: the initial model is evaluated (and cold-start protocols run on it),
            // a no-transfer baseline.
            try await finishRound(0, RoundMetrics(round: 0), roundStart: start, runStart: start)
        }
        for r in firstRound...max(firstRound, scenario.training.rounds) where r <= scenario.training.rounds {
            let roundStart = monotonicSeconds()
            if case .stop(let why) = strategy.configureFit(round: r) {
                stoppedEarly = why
                log.warning("stopping before round \(r): \(why)")
                break
            }
            try await finishRound(r, try await runRound(r), roundStart: roundStart, runStart: start)
            if earlyStopped { break }
            if let why = budgetStop {
                stoppedEarly = why
                log.warning("stopping after round \(r): \(why)")
                break
            }
            let checkpointEvery = scenario.runtime.checkpointEvery
            if interrupt.isSet {
                try await writeCheckpoint(round: r)
                interrupted = true
                stoppedEarly = "interrupted after round \(r); resume with `fedsim resume`"
                log.warning("interrupted: stopping after round \(r)")
                break
            }
            if checkpointEvery > 0 && r % checkpointEvery == 0 && r < scenario.training.rounds {
                try await writeCheckpoint(round: r)
            }
        }
        for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
            await send(.shutdown(reason: "run complete"), to: peer.connection)
        }
        try checkFinalModel()
    }

    /// Tells connected clients to leave after a failure.
    public func abort(reason: String) async {
        for (_, peer) in peers { await send(.shutdown(reason: reason), to: peer.connection) }
    }

    func waitForProcesses() async throws {
        inWaitForProcesses = true
        defer { inWaitForProcesses = false }
        let timeout = scenario.runtime.connectTimeoutSeconds
        let secure = scenario.secureAggregation.enabled
        let expected = processCount - excludedProcesses.count
        var gathering = ProcessGathering(expected: expected, secure: secure)
        try await drive(
            &gathering,
            deadline: armDeadline(seconds: timeout),
            refresh: {
                $0.connected = self.peers.count
                $0.enrolled = self.enrolledProcesses
            },
            perform: { effect, _ in
                switch effect {
                case .enroll(let p, let c, let env):
                    _ = await enroll(process: p, connection: c, env)
                case .timedOut:
                    throw Failure(
                        description:
                            "only \(peers.count) of \(expected) client processes connected\(secure ? " and \(enrolledProcesses.count) enrolled" : "") within \(timeout) s; see \(scenario.runtime.cluster.isRemote ? "logs/clients.log" : "logs/client-*.log")"
                    )
                case .transportEnded:
                    throw Failure(description: "transport closed while waiting for client processes")
                }
                return nil
            }
        )
        log.info(
            "all \(expected) client processes connected"
                + (excludedProcesses.isEmpty
                    ? "" : " (\(excludedProcesses.count) lost before the checkpoint stay out of the run)")
        )
    }

    func aliveSummary() -> String {
        let lost = lostReasons.sorted { $0.key < $1.key }.map { "process \($0.key): \($0.value)" }
        return "\(peers.count) of \(processCount) client processes alive"
            + (lost.isEmpty ? "" : " (lost: " + lost.joined(separator: "; ") + ")")
    }
}
