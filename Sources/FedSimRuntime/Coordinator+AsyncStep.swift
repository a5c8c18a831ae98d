import FedSimAggregation
import FedSimCore
import FedSimMetrics
import FedSimWire

/// One FedBuff step's training: the buffer's devices, each on the version it fetched.
struct AsyncStepJob {
    var step: Int
    /// Per connection, the devices to train on each version.
    var requests: [ConnectionID: [Int: [UInt32]]]
    var assignments: [ConnectionID: [UInt32]]
    /// Per device, how many versions behind the current one its fetched version is.
    var staleness: [Int: Int]
    var snapshots: [Int: [Float]]
    var version: Int
}

/// What a FedBuff step's training gave, for its metrics line.
struct AsyncStepOutcome {
    var finished = 0
    var failed = 0
    var dropped = 0
    var timedOut = 0
    var rejected = 0
    /// The aggregation stages' measurements (plain steps).
    var measurements: [(stage: String, values: [(name: String, value: Int)])] = []
    var examples = 0
    var trainLoss = Double.nan
    var finishedDevices: [Int] = []
    var secaggLine: SecAggRound?
}

extension Coordinator {
    /// FedBuff's staleness weight (1 + s)^(−a).
    func stalenessWeight(_ s: Int) -> Float {
        Float(1 / _pow(1 + Double(s), scenario.training.async.stalenessExponent))
    }

    /// The step through one SecAgg+ round, then the server step on its mean.
    func secureAsyncStep(_ job: AsyncStepJob, chosen: [Int]) async throws -> AsyncStepOutcome {
        let (step, requests, assignments, snapshots, version) = (
            job.step, job.requests, job.assignments, job.snapshots, job.version
        )
        var o = AsyncStepOutcome()
        // One SecAgg+ round over the buffer: each device weights its own update by its
        // staleness before quantizing and masking; the coordinator only sees the sum.
        var trainRequests: [ConnectionID: [DeviceRequest]] = [:]
        for (c, byVersion) in requests.sorted(by: { $0.key < $1.key }) {
            for (v, devices) in byVersion.sorted(by: { $0.key < $1.key }) {
                trainRequests[c, default: []].append(
                    DeviceRequest(
                        round: UInt32(step),
                        devices: devices,
                        shared: snapshots[v]!,
                        scale: stalenessWeight(version - v)
                    )
                )
            }
        }
        let r = try await runSecureRound(
            step,
            chosen: chosen,
            assignments: assignments,
            trainRequests: trainRequests
        )
        var sa = r.line
        if let why = r.abandoned { sa.abandoned = why }
        o.secaggLine = sa
        if let mean = r.mean {
            try self.step(.update(mean), round: step)
            o.finished = r.survivors
            o.finishedDevices = r.survivorIDs
            o.examples = Int(r.examples.rounded())
            o.trainLoss = r.examples > 0 ? r.lossSum / r.examples : .nan
        }
        o.dropped = chosen.count - o.finished
        return o
    }

    /// The step through plain updates: collected, weighted by staleness at the coordinator,
    /// averaged, then the server step.
    func plainAsyncStep(_ job: AsyncStepJob) async throws -> AsyncStepOutcome {
        let (step, requests, assignments, snapshots, staleness) = (
            job.step, job.requests, job.assignments, job.snapshots, job.staleness
        )
        var o = AsyncStepOutcome()
        for (c, byVersion) in requests.sorted(by: { $0.key < $1.key }) {
            for (v, devices) in byVersion.sorted(by: { $0.key < $1.key }) {
                await send(
                    .train(DeviceRequest(round: UInt32(step), devices: devices, shared: snapshots[v]!)),
                    to: c
                )
            }
        }
        var aggregator = AggregationPipelines.asyncStep(
            scenario,
            layout: layout,
            reportBounds: reportBounds,
            updateBounds: updateBounds,
            stalenessWeights: staleness.mapValues { self.stalenessWeight($0) }
        )
        var collection = trainingCollection(
            step,
            label: "async step \(step)",
            phase: "asynchronous step \(step)",
            assignments: assignments
        )
        _ = try await collectUpdates(&collection) { u, p in
            for note in try aggregator.add(Contribution(u)) {
                self.log.warning("async step \(step): device \(u.device) of process \(p): \(note)")
            }
        }
        o.measurements = aggregator.measurements
        let tracker = collection.tracker
        o.rejected = collection.rejected
        o.finished = tracker.count(.finished)
        o.failed = tracker.count(.failed)
        o.dropped = tracker.count(.dropped)
        o.timedOut = tracker.count(.timedOut)
        o.examples = aggregator.examples
        o.trainLoss = aggregator.meanTrainLoss
        o.finishedDevices = collection.finishedDevices
        if o.finished > 0 { try self.step(.update(aggregator.aggregate()), round: step) }
        return o
    }
}
