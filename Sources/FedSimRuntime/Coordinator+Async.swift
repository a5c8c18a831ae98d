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
    struct Flight {
        var device: Int
        var version: Int
        var start: Double
        var finish: Double
        var lost: Bool
    }

    func runAsync() async throws {
        let cfg = scenario.training.async
        guard let directory else { throw Failure(description: "asynchronous training needs the device directory") }
        var version = 0
        var snapshots: [Int: [Float]] = [0: model]
        var flights: [Flight] = []
        var inFlight = Set<Int>()
        /// Devices whose update waits in the buffer being filled: a device trains one model
        /// version at a time, so it is not launched again until the buffer is aggregated
        /// (else a fast device could arrive twice in one buffer).
        var buffered = Set<Int>()
        var launches = 0
        let bytes = 4 * layout.count
        let start = monotonicSeconds()

        func launch(at t: Double) {
            var rng = Seeds.rng(scenario.seed, "async.launch", UInt64(launches))
            launches += 1
            let n = population.devices
            for _ in 0..<(64 + 4 * n) {
                let d = rng.nextBounded(n)
                guard !inFlight.contains(d), !buffered.contains(d),
                    peers[Sharding.process(of: d, processes: processCount, devices: n)] != nil,
                    let window = fleet.availableSeconds(d, at: t)
                else { continue }
                let up = Int(lastUploadBytesPerDevice ?? Double(bytes))
                let seconds = fleet.roundSeconds(
                    d,
                    examples: Int(directory.trainSizes[d]),
                    epochs: scenario.training.local.epochs,
                    bytesDown: bytes,
                    bytesUp: up
                )
                flights.append(
                    Flight(device: d, version: version, start: t, finish: t + seconds, lost: seconds > window)
                )
                inFlight.insert(d)
                return
            }
        }

        simulatedClock = 0
        for _ in 0..<cfg.concurrency { launch(at: 0) }
        guard !flights.isEmpty else {
            throw Failure(description: "no device is available to start training; \(aliveSummary())")
        }

        for step in firstRound...max(firstRound, scenario.training.rounds) where step <= scenario.training.rounds {
            let roundStart = monotonicSeconds()
            // Fill the buffer with the next arrivals on the simulated clock.
            var buffer: [Flight] = []
            buffered.removeAll()
            var lost = 0
            while buffer.count < cfg.bufferSize, !flights.isEmpty {
                let i = flights.indices.min {
                    (flights[$0].finish, flights[$0].device) < (flights[$1].finish, flights[$1].device)
                }!
                let f = flights.remove(at: i)
                inFlight.remove(f.device)
                simulatedClock = f.finish
                if f.lost {
                    lost += 1
                } else if cfg.maxStaleness > 0 && version - f.version > cfg.maxStaleness {
                    lost += 1
                } else {
                    buffer.append(f)
                    buffered.insert(f.device)
                }
                launch(at: f.finish)
            }
            // Train the arrivals on the versions they fetched, grouped per process and version.
            var requests: [ConnectionID: [Int: [UInt32]]] = [:]
            var assignments: [ConnectionID: [UInt32]] = [:]
            for f in buffer {
                let p = Sharding.process(of: f.device, processes: processCount, devices: population.devices)
                guard let c = peers[p]?.connection else {
                    lost += 1
                    continue
                }
                requests[c, default: [:]][f.version, default: []].append(UInt32(f.device))
                assignments[c, default: []].append(UInt32(f.device))
            }
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
            let finished = o.finished
            let finishedDevices = o.finishedDevices
            let rejected = o.rejected
            let (failedCount, droppedCount, timedOutCount) = (o.failed, o.dropped, o.timedOut)
            let (examples, trainLoss, measurements, secaggLine) = (
                o.examples, o.trainLoss, o.measurements, o.secaggLine
            )
            if finished > 0 {
                version += 1
                snapshots[version] = model
                let needed = Set(flights.map(\.version)).union([version])
                for v in snapshots.keys where !needed.contains(v) { snapshots[v] = nil }
            }
            deviceUpdates += finished
            participation.record(selected: buffer.map(\.device), finished: finishedDevices)
            var line = roundCounters(
                step,
                sampled: buffer.count,
                finished: finished,
                failed: failedCount,
                dropped: droppedCount,
                timedOut: timedOutCount,
                rejected: rejected,
                examples: examples,
                trainLoss: trainLoss
            )
            line.record(measurements)
            line.secagg = secaggLine
            let st = buffer.map { staleness[$0.device] ?? 0 }
            line.async = AsyncStep(
                modelVersion: version,
                lostInFlight: lost,
                stalenessMean: st.isEmpty ? 0 : Double(st.reduce(0, +)) / Double(st.count),
                stalenessMax: st.max() ?? 0,
                inFlight: flights.count
            )
            line.simSeconds = simulatedClock
            line.communication = Communication(
                bytesUp: bytesReceived - roundBytes.received,
                bytesDown: bytesSent - roundBytes.sent
            )
            if finished > 0 {
                let simulated = bytesReceived - roundBytes.received + denseUploadSurplus - roundBytes.surplus
                lastUploadBytesPerDevice = Double(simulated) / Double(finished)
            }
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
}
