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
        return try await runPlainRound(r, chosen: chosen, plan: plan, assignments: assignments)
    }

    /// What a plain round's collection gave: the pipeline holding the admitted updates, and
    /// per-device outcomes and statistics.
    struct PlainCollection {
        var pipeline: AggregationPipeline
        var tracker: RoundTracker
        var rejected: Int
        /// Per finished device, for a feedback sampler.
        var trainLoss: [Int: Double] = [:]
        /// Devices reporting their update within the DP clip (adaptive clipping's count).
        var withinClip = 0
        var compressedBytes = 0
    }

    /// A round without secure aggregation: every update through the aggregation stages, then
    /// the strategy releases (with DP) and steps.
    func runPlainRound(
        _ r: Int,
        chosen: [Int],
        plan: RoundPlan,
        assignments: [ConnectionID: [UInt32]]
    ) async throws -> RoundMetrics {
        let roundBytes = (sent: bytesSent, received: bytesReceived, surplus: denseUploadSurplus)
        var c = try await collectPlainRound(r, assignments: assignments)
        let tracker = c.tracker
        let finished = tracker.count(.finished)
        let (failed, dropped, timedOut) = (tracker.count(.failed), tracker.count(.dropped), tracker.count(.timedOut))
        if dp == nil && !plan.kept.isEmpty && (finished < scenario.runtime.minDevicesPerRound || finished == 0) {
            throw Failure(
                description:
                    "round \(r): only \(finished) of \(plan.kept.count) sampled devices finished (minimum \(max(1, scenario.runtime.minDevicesPerRound))): "
                    + "\(dropped) dropped with their client process, \(timedOut) timed out at the \(scenario.runtime.roundDeadlineSeconds) s deadline, "
                    + "\(failed) failed; \(aliveSummary())"
            )
        }
        var privacyLine: PrivacyRound?
        if dp == nil && plan.kept.isEmpty {
            log.warning("round \(r): no selected device could finish in time; the model is unchanged")
        } else if dp != nil {
            // Validation allows central DP with the weighted mean only: its exact sum is what is noised.
            guard let sum = c.pipeline.exactSum else {
                throw Failure(description: "central DP needs training.aggregation: mean")
            }
            let release = ReleasableSum(
                values: sum,
                sampled: chosen.count,
                contributors: finished,
                withinClip: c.withinClip
            )
            privacyLine = try step(.sum(release), round: r).privacy
        } else {
            try step(.update(c.pipeline.aggregate()), round: r)
        }
        deviceUpdates += finished
        var line = roundCounters(
            r,
            sampled: chosen.count,
            finished: finished,
            failed: failed,
            dropped: dropped,
            timedOut: timedOut,
            rejected: c.rejected,
            examples: c.pipeline.examples,
            trainLoss: c.pipeline.meanTrainLoss
        )
        line.record(c.pipeline.measurements)
        line.communication = plainCommunication(
            since: roundBytes,
            finished: finished,
            compressedBytes: c.compressedBytes
        )
        line.privacy = privacyLine
        let finishedDevices = tracker.outcomes.compactMap { $0.value == .finished ? Int($0.key) : nil }.sorted()
        closeRound(r, selected: chosen, plan: plan, finished: finishedDevices, trainLoss: c.trainLoss, into: &line)
        return line
    }

    /// Sends round r's train requests and collects the updates through the round's
    /// aggregation stages until every device is accounted for or the deadline passes.
    func collectPlainRound(_ r: Int, assignments: [ConnectionID: [UInt32]]) async throws -> PlainCollection {
        var pipeline = AggregationPipelines.plainRound(
            scenario,
            layout: layout,
            reportBounds: reportBounds,
            updateBounds: updateBounds,
            clip: dp?.clip
        )
        for (c, devices) in assignments.sorted(by: { $0.key < $1.key }) {
            await send(
                .train(DeviceRequest(round: UInt32(r), devices: devices, shared: model, clip: strategy.deviceClip)),
                to: c
            )
        }
        var collection = trainingCollection(
            r,
            label: "round \(r)",
            phase: "training round \(r)",
            assignments: assignments
        )
        var trainLoss: [Int: Double] = [:]
        var withinClip = 0
        let compressedBytes = try await collectUpdates(&collection) { u, p in
            for note in try pipeline.add(Contribution(u)) {
                self.log.warning("round \(r): device \(u.device) of process \(p): \(note)")
            }
            trainLoss[Int(u.device)] = u.trainLoss
            withinClip += Int(u.withinClip)
        }
        return PlainCollection(
            pipeline: pipeline,
            tracker: collection.tracker,
            rejected: collection.rejected,
            trainLoss: trainLoss,
            withinClip: withinClip,
            compressedBytes: compressedBytes
        )
    }

    /// A plain round's bytes on the wire since `since`, per update and against dense frames,
    /// and the upload size the fleet's timing model charges next round.
    func plainCommunication(
        since: (sent: Int, received: Int, surplus: Int),
        finished: Int,
        compressedBytes: Int
    ) -> Communication {
        var comm = Communication(bytesUp: bytesReceived - since.received, bytesDown: bytesSent - since.sent)
        comm.bytesUpPerUpdate = finished > 0 ? Double(bytesReceived - since.received) / Double(finished) : 0
        comm.rawBytesPerUpdate = 4 * (layout.count + layout.weightCount)
        if scenario.compression.enabled {
            comm.compressedBodyBytesPerUpdate = finished > 0 ? Double(compressedBytes) / Double(finished) : 0
        }
        if finished > 0 {
            let simulated = bytesReceived - since.received + denseUploadSurplus - since.surplus
            lastUploadBytesPerDevice = Double(simulated) / Double(finished)
        }
        return comm
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
            let release = ReleasableSum(
                values: sum,
                sampled: chosen.count,
                contributors: o.survivors,
                withinClip: o.withinClip,
                realizedMultiplier: o.realizedMultiplier
            )
            line.privacy = try step(.sum(release), round: r).privacy
            deviceUpdates += o.survivors
        } else if let mean = o.mean {
            if o.survivors < scenario.runtime.minDevicesPerRound {
                throw Failure(
                    description:
                        "round \(r): only \(o.survivors) of \(chosen.count) sampled devices finished secure aggregation (minimum \(scenario.runtime.minDevicesPerRound)); \(aliveSummary())"
                )
            }
            try step(.update(mean), round: r)
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

    /// q for Poisson sampling: the expected count per round over the population.
    public var samplingRate: Double { Self.samplingRate(scenario, devices: population.devices) }
}
