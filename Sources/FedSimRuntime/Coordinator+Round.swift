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
        var aggregator = AggregationPipelines.plainRound(
            scenario,
            layout: layout,
            reportBounds: reportBounds,
            updateBounds: updateBounds,
            clip: dp?.clip
        )
        let roundBytes = (sent: bytesSent, received: bytesReceived, surplus: denseUploadSurplus)
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
        var withinClip = 0  // devices reporting their update within the DP clip (adaptive clipping)
        var trainLoss: [Int: Double] = [:]  // per finished device, for a feedback sampler
        let compressedBytes = try await collectUpdates(&collection) { u, p in
            for note in try aggregator.add(Contribution(u)) {
                self.log.warning("round \(r): device \(u.device) of process \(p): \(note)")
            }
            trainLoss[Int(u.device)] = u.trainLoss
            withinClip += Int(u.withinClip)
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
            let release = ReleasableSum(
                values: sum,
                sampled: chosen.count,
                contributors: finished,
                withinClip: withinClip
            )
            privacyLine = try step(.sum(release), round: r).privacy
        } else {
            try step(.update(aggregator.aggregate()), round: r)
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
        line.record(aggregator.measurements)
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
