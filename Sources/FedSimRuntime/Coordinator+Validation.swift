import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimModels
import FedSimWire

/// The validation split and early stopping (`data.split.validation`, `training.early_stopping`).
///
/// At every evaluation round the devices first score their validation part. The coordinator
/// tracks the best round by the configured metric; with early stopping on it keeps that
/// round's shared model and tells the devices to keep their personal parameters (`keepBest`).
/// When patience runs out, or at the last round, it puts both back (`restoreBest`) before the
/// test evaluation, so the reported test metrics and `model.bin` are the best round's and the
/// test split never chooses anything.
extension Coordinator {
    /// Validation requests and replies carry the round with this bit set, so a late validation
    /// reply can never be taken for the same round's test evaluation.
    static let validationRoundFlag: UInt32 = 1 << 31

    /// Scores the validation parts of the evaluated devices against the current model.
    func validate(round r: Int) async throws -> EvaluationSummary {
        let requested = evaluationRequests(round: r)
        let tag = UInt32(r) | Self.validationRoundFlag
        for (c, devices) in requested.sorted(by: { $0.key < $1.key }) {
            await send(.validate(DeviceRequest(round: tag, devices: devices.sorted(), shared: model)), to: c)
        }
        var results: [DeviceEvaluation] = []
        var reported = Set<Int>()
        await collectReplies(from: Set(requested.keys), phase: "validation of round \(r)") { m in
            if case .evaluation(let rep) = m { return rep.round == tag }
            return false
        } consume: { p, c, m in
            guard case .evaluation(let rep) = m else { return }
            let asked = requested[c] ?? []
            for e in rep.entries {
                guard asked.contains(UInt32(truncatingIfNeeded: e.device)), reported.insert(e.device).inserted,
                    reportBounds.refusal(e, validation: true) == nil
                else {
                    log.warning("validation of round \(r): refusing the report of device \(e.device) from process \(p)")
                    continue
                }
                results.append(e)
            }
        }
        return EvaluationSummary(results)
    }

    /// Round r's validation: scores it, updates the tracker, keeps the model when it is the
    /// best so far. Returns the metrics line's `validation` object and whether the run stops
    /// here (early stopping on, and patience exhausted or the last round).
    func validationStep(round r: Int) async throws -> (line: ValidationMetrics, stop: Bool) {
        let es = scenario.training.earlyStopping
        var tracker = validationTracker ?? ValidationTracker(es)
        let summary = try await validate(round: r)
        let value = ValidationTracker.value(of: es.metric, in: summary)
        let improved = tracker.observe(round: r, value: value)
        validationTracker = tracker
        if improved && es.enabled {
            bestModel = model
            for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
                await send(.keepBest(round: UInt32(r)), to: peer.connection)
            }
        }
        var evaluation = Self.metrics(summary, k: scenario.evaluation.k)
        addSampled(summary, to: &evaluation)
        let o = ValidationMetrics(
            evaluation: evaluation,
            bestRound: tracker.bestRound ?? 0,
            metric: es.metric.rawValue,
            bestValue: tracker.bestValue
        )
        let stop = es.enabled && (tracker.exhausted || r == scenario.training.rounds)
        return (o, stop)
    }

    /// Puts the best round's shared model and personal parameters back (early stopping).
    /// Returns that round, or nil when the current model already is the best.
    func restoreBestRound(after r: Int) async -> Int? {
        guard let best = validationTracker?.bestRound, best != r, let bestModel else { return nil }
        model = bestModel
        for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
            await send(.restoreBest(round: UInt32(r)), to: peer.connection)
        }
        log.info(
            "early stopping: restored the model of round \(best) (validation \(validationTracker!.metric.rawValue) \(validationTracker!.bestValue))"
        )
        return best
    }

    /// summary.json's `validation` object: the metric, the best round and value, and whether
    /// early stopping restored that round's model.
    func validationSummary() -> ValidationOutcome? {
        guard scenario.data.split.validation, let t = validationTracker else { return nil }
        var o = ValidationOutcome(
            metric: t.metric.rawValue,
            bestRound: t.bestRound ?? 0,
            bestValue: t.bestValue,
            lastValue: t.lastValue,
            earlyStopping: scenario.training.earlyStopping.enabled,
            modelRound: restoredRound ?? roundsCompleted
        )
        o.restoredRound = restoredRound
        return o
    }
}
