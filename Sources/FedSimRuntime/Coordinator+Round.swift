import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// One synchronous training round: dispatch, collect, aggregate, release (with DP) and step.
extension Coordinator {
    func runRound(_ r: Int) async throws -> RoundMetrics {
        guard !peers.isEmpty else {
            throw Failure(description: "round \(r): no devices available; \(aliveSummary())")
        }
        let (chosen, plan) = selectDevices(round: r)
        var assignments: [ConnectionID: [UInt32]] = [:]
        // Plain rounds train only the devices whose update will count (a discarded update
        // changes nothing); secure rounds run the protocol with every selected device and
        // drop the late ones' masked inputs, as a real server would.
        let dispatched = scenario.secureAggregation.enabled ? chosen : plan.kept
        for d in dispatched {
            let p = Sharding.process(of: d, processes: processCount, devices: population.devices)
            assignments[peers[p]!.connection, default: []].append(UInt32(d))
        }
        if scenario.secureAggregation.enabled {
            var line = try await finishSecureRound(r, chosen: chosen, assignments: assignments, discard: plan.discarded)
            closeRound(r, selected: chosen, plan: plan, finished: lastFinished, into: &line)
            return line
        }
        let k = plan.kept.count
        var aggregator = UpdateAggregators.make(
            scenario.training.aggregation,
            training: scenario.training,
            layout: layout
        )
        let roundBytes = (sent: bytesSent, received: bytesReceived, surplus: denseUploadSurplus)
        for (c, devices) in assignments.sorted(by: { $0.key < $1.key }) {
            await send(
                .train(DeviceRequest(round: UInt32(r), devices: devices, shared: model, clip: dp?.clip ?? 0)),
                to: c
            )
        }
        var collection = trainingCollection(
            r,
            label: "round \(r)",
            phase: "training round \(r)",
            assignments: assignments
        )
        var counts = PlainRoundCounts()
        var trainLoss: [Int: Double] = [:]  // per finished device, for a feedback sampler
        let compressedBytes = try await collectUpdates(&collection) { u, p in
            var (delta, bounded) = try self.admit(u, from: p)
            counts.boundedAtCoordinator += bounded
            if self.dp != nil && self.enforceClip(&delta) {
                // A device's own clipping is a promise; without secure aggregation the
                // coordinator can check it, so one device moves the sum by at most C.
                counts.clippedAtCoordinator += 1
                self.log.warning(
                    "round \(r): device \(u.device) sent an update above the clip; clipped at the coordinator"
                )
            }
            try aggregator.add(
                device: Int(u.device),
                sparseDelta: delta,
                sparseWeights: u.sparseWeights,
                examples: Int(u.examples),
                trainLoss: u.trainLoss
            )
            trainLoss[Int(u.device)] = u.trainLoss
            counts.withinClip += Int(u.withinClip)
        }
        let tracker = collection.tracker
        let rejected = collection.rejected
        let finished = tracker.count(.finished)
        let failed = tracker.count(.failed)
        let dropped = tracker.count(.dropped)
        let timedOut = tracker.count(.timedOut)
        if dp == nil && !plan.kept.isEmpty && (finished < scenario.runtime.minDevicesPerRound || finished == 0) {
            throw Failure(
                description:
                    "round \(r): only \(finished) of \(k) sampled devices finished (minimum \(max(1, scenario.runtime.minDevicesPerRound))): "
                    + "\(dropped) dropped with their client process, \(timedOut) timed out at the \(scenario.runtime.roundDeadlineSeconds) s deadline, "
                    + "\(failed) failed; \(aliveSummary())"
            )
        }
        var privacyLine: PrivacyRound?
        if dp == nil && plan.kept.isEmpty {
            log.warning("round \(r): no selected device could finish in time; the model is unchanged")
        } else if dp != nil {
            // Validation allows central DP with the weighted mean only: its exact sum is what is noised.
            guard let sum = aggregator.exactSum else {
                throw Failure(description: "central DP needs training.aggregation: mean")
            }
            privacyLine = try releasePrivately(
                round: r,
                sum: sum,
                sampled: chosen.count,
                contributors: finished,
                withinClip: counts.withinClip
            )
        } else {
            try step(aggregator.aggregate(), round: r)
        }
        deviceUpdates += finished
        var line = roundCounters(
            r,
            sampled: chosen.count,
            finished: finished,
            failed: failed,
            dropped: dropped,
            timedOut: timedOut,
            rejected: rejected,
            examples: aggregator.examples,
            trainLoss: aggregator.meanTrainLoss
        )
        for (name, value) in aggregator.measurements { line.record(measurement: name, value) }
        if dp != nil { line.clippedAtCoordinator = counts.clippedAtCoordinator }
        if counts.boundedAtCoordinator > 0 { line.boundedAtCoordinator = counts.boundedAtCoordinator }
        var comm = Communication(bytesUp: bytesReceived - roundBytes.received, bytesDown: bytesSent - roundBytes.sent)
        comm.bytesUpPerUpdate = finished > 0 ? Double(bytesReceived - roundBytes.received) / Double(finished) : 0
        comm.rawBytesPerUpdate = 4 * (layout.count + layout.weightCount)
        if scenario.compression.enabled {
            comm.compressedBodyBytesPerUpdate = finished > 0 ? Double(compressedBytes) / Double(finished) : 0
        }
        line.communication = comm
        if finished > 0 {
            let simulated = bytesReceived - roundBytes.received + denseUploadSurplus - roundBytes.surplus
            lastUploadBytesPerDevice = Double(simulated) / Double(finished)
        }
        line.privacy = privacyLine
        let finishedDevices = tracker.outcomes.compactMap { $0.value == .finished ? Int($0.key) : nil }.sorted()
        closeRound(r, selected: chosen, plan: plan, finished: finishedDevices, trainLoss: trainLoss, into: &line)
        return line
    }

    /// Central DP release: noise the sum, record the round in the ledger (durably), then step
    /// the model. Returns the metrics fragment.
    func releasePrivately(
        round r: Int,
        sum: [Double],
        sampled: Int,
        contributors: Int,
        realizedMultiplier: Double? = nil,
        withinClip: Int = 0
    ) throws -> PrivacyRound {
        let distributed = realizedMultiplier != nil
        let roundClip = dp!.clip
        var released = sum
        audit?.inject(into: &released, norm: roundClip, rate: dp!.rate)
        let noisyMean = distributed ? dp!.mean(ofNoisySum: released) : dp!.privatize(sum: released)
        if audit != nil {
            let expected = dp!.expectedDevices
            audit!.observe(released: noisyMean.map { Double($0) * expected }, honestSum: distributed ? nil : sum)
        }
        var adapted: Double?
        if scenario.privacy.adaptiveClipping.enabled {
            adapted = dp!.adaptClip(withinCount: withinClip, contributors: contributors)
        }
        let (eps, order) = dp!.recordRound(noiseMultiplier: realizedMultiplier)
        var entry = JSONObject()
        entry.add("round", r)
        entry.add("q", dp!.rate)
        entry.add("noise_multiplier", realizedMultiplier ?? scenario.privacy.noiseMultiplier)
        entry.add("mechanism", scenario.privacy.mechanism.rawValue)
        entry.add("clip", roundClip)
        if let adapted {
            entry.add("count_noise", scenario.privacy.adaptiveClipping.countNoise)
            entry.add("update_noise_multiplier", dp!.updateMultiplier)
            entry.add("noised_unclipped_fraction", adapted)
            entry.add("next_clip", dp!.clip)
        }
        entry.add("sampled", sampled)
        entry.add("delta", scenario.privacy.delta)
        entry.add("epsilon_rdp", eps)
        entry.add("rdp_order", order)
        entry.add("noise", dp!.noiseIsPrivate ? "secure" : "reproducible (NOT private)")
        do {
            try ledger?.append(entry)
        } catch {
            // Nothing is released that the ledger does not hold: the model stays as it was.
            throw Failure(description: "round \(r) was not released: \(error)")
        }
        try step(noisyMean, round: r)
        return PrivacyRound(
            epsilon: eps,
            order: order,
            delta: scenario.privacy.delta,
            noiseMultiplier: realizedMultiplier ?? scenario.privacy.noiseMultiplier,
            clip: roundClip
        )
    }

    func finishSecureRound(
        _ r: Int,
        chosen: [Int],
        assignments: [ConnectionID: [UInt32]],
        discard: Set<Int>
    ) async throws -> RoundMetrics {
        let o = try await runSecureRound(r, chosen: chosen, assignments: assignments, discard: discard)
        lastFinished = o.survivorIDs
        var line = roundCounters(
            r,
            sampled: chosen.count,
            finished: o.survivors,
            failed: 0,
            dropped: chosen.count - o.survivors,
            timedOut: 0,
            rejected: 0,
            examples: Int(o.examples.rounded()),
            trainLoss: o.examples > 0 ? o.lossSum / o.examples : .nan
        )
        var sa = o.line
        if let why = o.abandoned {
            sa.abandoned = why
            log.warning("round \(r): secure aggregation abandoned: \(why); the model is unchanged")
        }
        line.secagg = sa
        if dp != nil, let sum = o.sum {
            line.privacy = try releasePrivately(
                round: r,
                sum: sum,
                sampled: chosen.count,
                contributors: o.survivors,
                realizedMultiplier: o.realizedMultiplier,
                withinClip: o.withinClip
            )
            deviceUpdates += o.survivors
        } else if let mean = o.mean {
            if o.survivors < scenario.runtime.minDevicesPerRound {
                throw Failure(
                    description:
                        "round \(r): only \(o.survivors) of \(chosen.count) sampled devices finished secure aggregation (minimum \(scenario.runtime.minDevicesPerRound)); \(aliveSummary())"
                )
            }
            try step(mean, round: r)
            deviceUpdates += o.survivors
        } else if peers.isEmpty {
            throw Failure(description: "round \(r): secure aggregation abandoned and \(aliveSummary())")
        }
        return line
    }

    /// A compressed update decoded through the run's stages (the rotation seed is public:
    /// derived from the device and round, as on the device).
    func decompress(_ cu: CompressedUpdate) throws -> DeviceUpdate {
        let (delta, weights) = try codec.decode(
            cu.body,
            rotationSeed: Seeds.derive(scenario.seed, "rotation", UInt64(cu.device), UInt64(cu.round))
        )
        return DeviceUpdate(
            round: cu.round,
            device: cu.device,
            examples: cu.examples,
            trainLoss: cu.trainLoss,
            weightedDelta: delta,
            weights: weights,
            withinClip: cu.withinClip
        )
    }

    /// With DP and no secure aggregation: scales an update above the clip (flat, or per
    /// group) back to it. Returns whether it had to. On the sparse form the norms are the
    /// dense ones bit for bit (absent entries add +0.0 to a sum of squares, in the same order)
    /// and so is the scaling (+0.0 times a positive factor stays +0.0).
    func enforceClip(_ delta: inout SparseFloats) -> Bool {
        let p = scenario.privacy
        let slack = 1 + 1e-5  // float rounding of an honest device's clip
        if p.clipping == .perGroup {
            var dense = delta.dense()
            var changed = false
            for (name, bound) in p.groupClips.bounds {
                guard let range = layout.range(of: name) else { continue }
                var part = Array(dense[range])
                if L2Clip.norm(part) > bound * slack {
                    _ = L2Clip.clip(&part, to: bound)
                    dense.replaceSubrange(range, with: part)
                    changed = true
                }
            }
            if changed { delta = SparseFloats(dense: dense) }
            return changed
        }
        let bound = dp?.clip ?? p.clip
        let norm = L2Clip.norm(delta.values)
        guard norm > bound * slack else { return false }
        if norm > bound && norm > 0 { delta.scale(by: Float(bound / norm)) }
        return true
    }

    /// q for Poisson sampling: the expected count per round over the population.
    public var samplingRate: Double {
        min(1, Double(scenario.training.devicesPerRound) / Double(max(1, population.devices)))
    }
}
