import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimWire

/// FedBuff (Nguyen et al. 2022) on the simulated clock: `concurrency` devices are always
/// training, each on the model version it fetched when it started; devices finish at
/// start + their simulated round time (the fleet model: compute, network, heavy tails), and
/// every `buffer_size` arrivals the coordinator applies one update, each arrival weighted
/// by (1 + staleness)^(−a). A device that would leave its availability window before
/// finishing never arrives; a replacement starts at once.
///
/// The training itself happens when the device "arrives": the coordinator asks its client
/// process to train it on the version it fetched (kept until no flight needs it), so the
/// result is exactly what the device would have sent, and deterministic.
extension Coordinator {
    func runAsync() async throws {
        let cfg = scenario.training.async
        guard let directory else { throw Failure(description: "asynchronous training needs the device directory") }
        var version = 0
        var snapshots: [Int: [Float]] = [0: model]
        var schedule = FlightSchedule(seed: scenario.seed, devices: population.devices)
        let bytes = 4 * layout.count
        let start = monotonicSeconds()
        let timing: FlightSchedule.Timing = { d, t in
            guard
                self.peers[Sharding.process(of: d, processes: self.processCount, devices: self.population.devices)]
                    != nil,
                let window = self.fleet.availableSeconds(d, at: t)
            else { return nil }
            let seconds = self.fleet.roundSeconds(
                d,
                examples: Int(directory.trainSizes[d]),
                epochs: self.scenario.training.local.epochs,
                bytesDown: bytes,
                bytesUp: Int(self.lastUploadBytesPerDevice ?? Double(bytes))
            )
            return (seconds, window)
        }

        simulatedClock = 0
        for _ in 0..<cfg.concurrency { schedule.launch(at: 0, version: version, timing: timing) }
        guard !schedule.flights.isEmpty else {
            throw Failure(description: "no device is available to start training; \(aliveSummary())")
        }

        for step in firstRound...max(firstRound, scenario.training.rounds) where step <= scenario.training.rounds {
            let roundStart = monotonicSeconds()
            // Fill the buffer with the next arrivals on the simulated clock.
            let filled = schedule.fillBuffer(
                size: cfg.bufferSize,
                version: version,
                maxStaleness: cfg.maxStaleness,
                timing: timing
            )
            let buffer = filled.buffer
            var lost = filled.lost  // plus arrivals whose process is gone
            if let clock = filled.clock { simulatedClock = clock }
            let (requests, assignments, orphaned) = asyncRequests(buffer)
            lost += orphaned
            let staleness = Dictionary(uniqueKeysWithValues: buffer.map { ($0.device, version - $0.version) })
            let roundBytes = (sent: bytesSent, received: bytesReceived, surplus: denseUploadSurplus)
            let job = AsyncStepJob(
                step: step,
                requests: requests,
                assignments: assignments,
                staleness: staleness,
                snapshots: snapshots,
                version: version
            )
            let o =
                scenario.secureAggregation.enabled
                ? try await secureAsyncStep(job, chosen: buffer.map(\.device).sorted())
                : try await plainAsyncStep(job)
            if o.finished > 0 {
                version += 1
                snapshots[version] = model
                let needed = Set(schedule.flights.map(\.version)).union([version])
                for v in snapshots.keys where !needed.contains(v) { snapshots[v] = nil }
            }
            deviceUpdates += o.finished
            participation.record(selected: buffer.map(\.device), finished: o.finishedDevices)
            var line = roundCounters(
                step,
                sampled: buffer.count,
                finished: o.finished,
                failed: o.failed,
                dropped: o.dropped,
                timedOut: o.timedOut,
                rejected: o.rejected,
                examples: o.examples,
                trainLoss: o.trainLoss
            )
            line.record(o.measurements)
            line.secagg = o.secaggLine
            let st = buffer.map { staleness[$0.device] ?? 0 }
            line.async = AsyncStep(
                modelVersion: version,
                lostInFlight: lost,
                stalenessMean: st.isEmpty ? 0 : Double(st.reduce(0, +)) / Double(st.count),
                stalenessMax: st.max() ?? 0,
                inFlight: schedule.flights.count
            )
            line.simSeconds = simulatedClock
            closeTraffic(of: &line, since: roundBytes, finished: o.finished)
            try await finishRound(step, line, roundStart: roundStart, runStart: start)
            if interrupt.isSet {
                interrupted = true
                stoppedEarly =
                    "interrupted after step \(step) (asynchronous runs do not checkpoint their in-flight devices; rerun)"
                break
            }
        }
        for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
            await send(.shutdown(reason: "run complete"), to: peer.connection)
        }
    }

    /// A buffer's train requests, grouped per connection and model version, and how many
    /// arrivals have no live process to train them (lost).
    func asyncRequests(
        _ buffer: [FlightSchedule.Flight]
    ) -> (requests: [ConnectionID: [Int: [UInt32]]], assignments: [ConnectionID: [UInt32]], orphaned: Int) {
        var requests: [ConnectionID: [Int: [UInt32]]] = [:]
        var assignments: [ConnectionID: [UInt32]] = [:]
        var orphaned = 0
        for f in buffer {
            let p = Sharding.process(of: f.device, processes: processCount, devices: population.devices)
            guard let c = peers[p]?.connection else {
                orphaned += 1
                continue
            }
            requests[c, default: [:]][f.version, default: []].append(UInt32(f.device))
            assignments[c, default: []].append(UInt32(f.device))
        }
        return (requests, assignments, orphaned)
    }

    /// A FedBuff step's bytes on the wire since `since`, and the upload size the fleet's
    /// timing model charges the next launches.
    func closeTraffic(of line: inout RoundMetrics, since: (sent: Int, received: Int, surplus: Int), finished: Int) {
        line.communication = Communication(bytesUp: bytesReceived - since.received, bytesDown: bytesSent - since.sent)
        if finished > 0 {
            let simulated = bytesReceived - since.received + denseUploadSurplus - since.surplus
            lastUploadBytesPerDevice = Double(simulated) / Double(finished)
        }
    }
}
