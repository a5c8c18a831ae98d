import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// The run: waiting for the client processes, the rounds in order, and each round's metrics line.
extension Coordinator {
    /// Ends a round's metrics line: evaluates when due, adds the totals and timings, and
    /// records it (synchronous rounds and FedBuff steps alike).
    func finishRound(_ r: Int, _ line: JSONObject, roundStart: Double, runStart: Double) async throws {
        var line = line
        let every = scenario.evaluation.every
        var stopping = false
        if r == scenario.training.rounds || (every > 0 && r % every == 0) {
            if scenario.data.split.validation {
                let (validation, stop) = try await validationStep(round: r)
                line.add("validation", validation)
                if stop {
                    stopping = true
                    finalEvaluation = true
                    restoredRound = await restoreBestRound(after: r)
                    if let best = restoredRound { line.add("eval_model_round", best) }
                }
            }
            let summary = try await evaluate(round: r)
            lastEvaluation = summary
            var ev = Self.json(summary, k: scenario.evaluation.k)
            if let extras = lastEvaluationExtras { ev.merge(extras) }
            if let cohorts = lastCohorts { ev.add("cohorts", cohorts) }
            line.add("eval", ev)
            if r == scenario.training.rounds && scenario.evaluation.coldStart.enabled {
                coldStartResults = try await runColdStart(round: r)
                line.add("cold_start", coldStartResults)
                if !coldStartThirds.isEmpty { line.add("cold_start_thirds", coldStartThirds) }
            }
        }
        if let why = stepRefusal {
            line.add("step_refused", why)
            stepRefusal = nil
        }
        roundsCompleted = r
        line.add("bytes_sent", bytesSent)
        line.add("bytes_received", bytesReceived)
        line.add("round_seconds", monotonicSeconds() - roundStart)
        line.add("wall_seconds", monotonicSeconds() - runStart)
        if let failure = participationLog?.failure { throw failure }
        try metrics.record(line)
        if stopping && r < scenario.training.rounds, let t = validationTracker {
            earlyStopped = true
            stoppedEarly =
                "early stopping: validation \(t.metric.rawValue) did not improve by more than \(t.minDelta) for \(t.patience) evaluations; the model of round \(t.bestRound ?? r) is kept"
            log.info("stopping after round \(r): \(stoppedEarly!)")
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
    ) -> JSONObject {
        var line = JSONObject()
        line.add("round", r)
        line.add("sampled", sampled)
        line.add("finished", finished)
        line.add("failed", failed)
        line.add("dropped", dropped)
        line.add("timed_out", timedOut)
        line.add("rejected", rejected)
        line.add("processes_alive", peers.count)
        line.add("examples", examples)
        line.add("train_loss", trainLoss)
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
            var line = JSONObject()
            line.add("round", 0)
            try await finishRound(0, line, roundStart: start, runStart: start)
        }
        for r in firstRound...max(firstRound, scenario.training.rounds) where r <= scenario.training.rounds {
            let roundStart = monotonicSeconds()
            dp?.beginRound(r)
            if let dp, scenario.privacy.budget.epsilon > 0 {
                let (eps, _) = dp.epsilonAfterNextRound()
                if eps > scenario.privacy.budget.epsilon {
                    stoppedEarly =
                        "privacy budget: round \(r) would bring ε to \(formatFixed(eps, 4)) > \(scenario.privacy.budget.epsilon) at δ = \(scenario.privacy.delta)"
                    log.warning("stopping before round \(r): \(stoppedEarly!)")
                    break
                }
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
