import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// Where the coordinator writes per-round metrics. The file sink appends JSON lines; tests
/// collect them in memory.
public protocol MetricsSink: AnyObject {
    func record(_ line: JSONObject)
}

/// The coordinator's round loop: handshake client processes, then per round sample devices,
/// broadcast the shared model, collect updates until all are in or the deadline passes,
/// aggregate, step the server optimizer, evaluate when due, and record metrics.
///
/// It never trusts a client: every frame is checked against what that connection may send,
/// a bad one closes that connection (its devices count as dropped), and the run carries on
/// while at least `runtime.min_devices_per_round` devices finish each round.
public final class Coordinator {
    public let scenario: Scenario
    public let population: PopulationInfo
    public let processCount: Int
    let token: [UInt8]
    let transport: any CoordinatorTransport
    let metrics: MetricsSink
    public var log = Log("coordinator")

    public internal(set) var model: [Float]
    /// The run's kind of model (`ModelRegistry`): its layout, initial values and server-side hooks.
    public let recommender: any RecommenderModel
    public let layout: ParameterLayout
    /// The server step (`ServerStrategies.make`): the server optimizer, and a model's delayed slice.
    var strategy: any ServerStrategy

    // Connections and processes.
    struct Peer {
        var connection: ConnectionID
        var range: Range<Int>
    }
    var peers: [Int: Peer] = [:]              // process index -> peer
    var processOf: [ConnectionID: Int] = [:]  // authenticated connections
    var unauthenticated: Set<ConnectionID> = []
    var lostReasons: [Int: String] = [:]
    var inWaitForProcesses = false
    // Secure aggregation: enrolled identity public keys (the coordinator's view of the PKI).
    var identityKeys: [UInt32: [UInt8]] = [:]
    var enrolledProcesses: Set<Int> = []
    /// The last unmasked secure sum (Z_{2^bits}), kept for tests that check it bit for bit.
    public internal(set) var lastSecureSum: [UInt32]?
    /// The last evaluation's exposure sum (recommended, then rated, per item), for tests.
    public internal(set) var lastExposureSum: [UInt32]?
    /// Central DP state (accountant, noise); nil when privacy is off.
    public internal(set) var dp: DPState?
    var ledger: PrivacyLedger?
    /// Why the run stopped early, if it did (e.g. the privacy budget).
    public internal(set) var stoppedEarly: String?

    // Populations and the fleet (Sampling/).
    /// Who trains each round (`training.sampling`, or a sampler set before `run`); told what
    /// each round measured.
    public var sampler: any ClientSampler
    let fleet: FleetModel
    let directory: DeviceDirectory?
    /// Simulated seconds since round 1 began.
    public internal(set) var simulatedClock = 0.0
    public internal(set) var participation: Participation
    /// Beyond-accuracy and extra ranking metrics of the last evaluation.
    var lastEvaluationExtras: JSONObject?
    /// Per-cohort metrics of the last evaluation.
    public internal(set) var lastCohorts: JSONObject?
    /// Decoder of compressed updates.
    lazy var codec = UpdateCodec(config: scenario.compression, layout: layout)
    /// Mean bytes a finished device uploaded last round (the fleet's timing model uses it).
    var lastUploadBytesPerDevice: Double?
    /// Devices whose update counted in the last secure round.
    var lastFinished: [Int] = []
    let participationLog: ParticipationLog?

    // Event plumbing: transport events and deadline timers merged into one stream.
    enum Input: Sendable {
        case transport(TransportEvent)
        case deadline(Int)
        case transportEnded
    }
    let inputs: AsyncStream<Input>
    let inputSink: AsyncStream<Input>.Continuation
    var iterator: AsyncStream<Input>.Iterator
    var deadlineCounter = 0
    var forwarder: Task<Void, Never>?

    // Totals.
    public internal(set) var bytesSent = 0
    public internal(set) var bytesReceived = 0
    public internal(set) var deviceUpdates = 0
    public internal(set) var roundsCompleted = 0
    /// The first round to run (after `restore`, the checkpoint's round + 1).
    public internal(set) var firstRound = 1
    /// Device updates done before this process started (restored from a checkpoint).
    public internal(set) var updatesBeforeStart = 0
    /// Where the final evaluation's per-device metrics go (`device-metrics.csv`).
    public var deviceMetricsPath: String?
    /// Where checkpoints go (nil: no checkpoints, e.g. in-memory tests).
    public var checkpointPath: String?
    /// Set from a signal handler: finish the current round, checkpoint, and stop.
    public let interrupt = InterruptFlag()
    /// Whether the run stopped on an interrupt (the process exits 130).
    public internal(set) var interrupted = false
    public internal(set) var lastEvaluation: EvaluationSummary?
    /// Items by how many devices rated them in training, from the last evaluation's counts
    /// (sent with the next evaluation: popularity baseline and serendipity).
    var popularItems: [UInt32] = []
    /// lsttm with `long_term_delay`: the long-term module's aggregated updates waiting for
    /// the round they arrive in (round → its share of the update).
    static let popularListLength = 1000
    /// New users of a `new_users` cold-start protocol: never sampled, never evaluated as warm
    /// users (empty otherwise). The devices derive the rest of the split themselves.
    let newUsers: [Bool]
    /// Cold-start results of the final evaluation (`summary.json` "cold_start").
    public internal(set) var coldStartResults: [JSONObject] = []
    /// Temporal protocol: the periods pooled into early / middle / late thirds.
    public internal(set) var coldStartThirds: [JSONObject] = []

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(scenario: Scenario, population: PopulationInfo, processCount: Int, token: [UInt8],
                transport: any CoordinatorTransport, metrics: MetricsSink, ledgerPath: String? = nil,
                directory: DeviceDirectory? = nil, domainNames: [String] = [], participationPath: String? = nil,
                recommender: (any RecommenderModel)? = nil) throws {
        self.scenario = scenario
        self.population = population
        self.processCount = processCount
        self.token = token
        self.transport = transport
        self.metrics = metrics
        self.recommender = recommender ?? ModelRegistry.make(scenario, population)
        layout = self.recommender.layout
        model = self.recommender.initialShared()
        newUsers = ColdStartSplit.newUsers(scenario.evaluation.coldStart, devices: population.devices, seed: scenario.seed)
        strategy = ServerStrategies.make(scenario, model: self.recommender)
        (inputs, inputSink) = AsyncStream.makeStream(of: Input.self)
        iterator = inputs.makeAsyncIterator()
        if let directory, directory.count != population.devices {
            throw Failure(description: "the device directory lists \(directory.count) devices, the population has \(population.devices)")
        }
        if directory == nil && (scenario.fleet.shapesRounds || ClientSamplers.needsDirectory(scenario.training.sampling)) {
            throw Failure(description: "training.sampling \(scenario.training.sampling.rawValue) and the fleet model need the device directory")
        }
        self.directory = directory
        do {
            sampler = try ClientSamplers.make(config: scenario.training, population: population.devices, directory: directory,
                                              domainNames: domainNames)
        } catch let e as ClientSamplers.Failure {
            throw Failure(description: e.description)
        }
        fleet = FleetModel(config: scenario.fleet, seed: Seeds.derive(scenario.seed, "fleet"))
        participation = Participation(devices: population.devices)
        participationLog = try participationPath.map { try ParticipationLog(path: $0) }
        if scenario.privacy.enabled {
            dp = DPState(config: scenario.privacy, rate: samplingRate, population: population.devices, seed: scenario.seed)
            if let ledgerPath { ledger = try PrivacyLedger(path: ledgerPath) }
        }
    }

    /// Ends a round's metrics line: evaluates when due, adds the totals and timings, and
    /// records it (synchronous rounds and FedBuff steps alike).
    func finishRound(_ r: Int, _ line: JSONObject, roundStart: Double, runStart: Double) async throws {
        var line = line
        let every = scenario.evaluation.every
        if r == scenario.training.rounds || (every > 0 && r % every == 0) {
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
        roundsCompleted = r
        line.add("bytes_sent", bytesSent)
        line.add("bytes_received", bytesReceived)
        line.add("round_seconds", monotonicSeconds() - roundStart)
        line.add("wall_seconds", monotonicSeconds() - runStart)
        metrics.record(line)
    }

    /// The counters every round's metrics line starts with (docs/metrics.md), in their order.
    func roundCounters(_ r: Int, sampled: Int, finished: Int, failed: Int, dropped: Int, timedOut: Int, rejected: Int,
                       examples: Int, trainLoss: Double) -> JSONObject {
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

    /// A compressed update decoded through the run's stages (the rotation seed is public:
    /// derived from the device and round, as on the device).
    func decompress(_ cu: CompressedUpdate) throws -> DeviceUpdate {
        let (delta, weights) = try codec.decode(cu.body, rotationSeed: Seeds.derive(scenario.seed, "rotation", UInt64(cu.device), UInt64(cu.round)))
        return DeviceUpdate(round: cu.round, device: cu.device, examples: cu.examples, trainLoss: cu.trainLoss,
                            weightedDelta: delta, weights: weights, withinClip: cu.withinClip)
    }

    /// With DP and no secure aggregation: scales an update above the clip (flat, or per
    /// group) back to it. Returns whether it had to.
    func enforceClip(_ delta: inout [Float]) -> Bool {
        let p = scenario.privacy
        let slack = 1 + 1e-5  // float rounding of an honest device's clip
        if p.clipping == .perGroup {
            var changed = false
            for (name, bound) in p.groupClips.bounds {
                guard let range = layout.range(of: name) else { continue }
                var part = Array(delta[range])
                if L2Clip.norm(part) > bound * slack {
                    _ = L2Clip.clip(&part, to: bound)
                    delta.replaceSubrange(range, with: part)
                    changed = true
                }
            }
            return changed
        }
        let bound = dp?.clip ?? p.clip
        guard L2Clip.norm(delta) > bound * slack else { return false }
        _ = L2Clip.clip(&delta, to: bound)
        return true
    }

    /// q for Poisson sampling: the expected count per round over the population.
    public var samplingRate: Double { min(1, Double(scenario.training.devicesPerRound) / Double(max(1, population.devices))) }


    // MARK: Event plumbing

    func startForwarding() {
        let events = transport.events
        let sink = inputSink
        forwarder = Task {
            for await e in events { sink.yield(.transport(e)) }
            sink.yield(.transportEnded)
        }
    }

    func armDeadline(seconds: Double) -> Int {
        deadlineCounter += 1
        let id = deadlineCounter
        let sink = inputSink
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            sink.yield(.deadline(id))
        }
        return id
    }

    /// A message the phase in progress does not consume: a late reply (`Message.isReply`) is
    /// logged and ignored, whatever phase it answers; anything else is a protocol violation.
    func unexpected(_ m: Message, from p: Int, on c: ConnectionID, during phase: String) async {
        if m.isReply {
            log.info("process \(p): ignoring a late \(m.kindName) during \(phase)")
        } else {
            await protocolViolation(c, p, "sent \(m.kindName) during \(phase)")
        }
    }

    /// Waits until each connection in `connections` has sent its reply (or the deadline
    /// passes, or the connection closes). `isReply` picks the reply this phase waits for, which
    /// is passed to `consume` once per connection (a second one is ignored with a warning);
    /// anything else goes to `unexpected`.
    func collectReplies(from connections: Set<ConnectionID>, phase: String, isReply: (Message) -> Bool,
                        consume: (Int, ConnectionID, Message) -> Void) async {
        var waiting = connections
        let deadline = armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)
        while !waiting.isEmpty {
            switch await next() {
            case .deadline(let id) where id == deadline:
                log.warning("\(phase): deadline passed with \(waiting.count) processes outstanding")
                waiting.removeAll()
            case .deadline: continue
            case .transportEnded: waiting.removeAll()
            case .transport(let e):
                if case .closed(let c, _) = e { waiting.remove(c) }
                guard let (p, c, m) = await handleControl(e) else { continue }
                guard isReply(m) else {
                    await unexpected(m, from: p, on: c, during: phase)
                    continue
                }
                guard waiting.remove(c) != nil else {
                    log.warning("process \(p) sent a second \(m.kindName) during \(phase); ignored")
                    continue
                }
                consume(p, c, m)
            }
        }
    }

    func next() async -> Input {
        await iterator.next() ?? .transportEnded
    }

    func send(_ m: Message, to c: ConnectionID) async {
        bytesSent += await transport.send(m, to: c)
    }

    /// Handles connection-level events common to every phase. Returns the event if it is a
    /// message from an authenticated process that the current phase must look at.
    func handleControl(_ e: TransportEvent) async -> (process: Int, connection: ConnectionID, message: Message)? {
        switch e {
        case .connected(let c):
            unauthenticated.insert(c)
            return nil
        case .closed(let c, let reason):
            unauthenticated.remove(c)
            if let p = processOf.removeValue(forKey: c) {
                peers[p] = nil
                enrolledProcesses.remove(p)
                lostReasons[p] = reason
                log.warning("client process \(p) disconnected: \(reason)")
            }
            return nil
        case .received(let c, let m, let bytes):
            bytesReceived += bytes
            if unauthenticated.contains(c) {
                await handshake(c, m)
                return nil
            }
            guard let p = processOf[c] else { return nil }  // already closed
            if scenario.secureAggregation.enabled, !enrolledProcesses.contains(p), case .secagg(let env) = m,
               env.stage == SecAggStage.enroll.rawValue, peers[p] != nil, !inWaitForProcesses
            {
                _ = await enroll(process: p, connection: c, env)  // a process that reconnected mid-run
                return nil
            }
            return (p, c, m)
        }
    }

    func reject(_ c: ConnectionID, _ reason: String) async {
        log.warning("rejecting connection \(c): \(reason)")
        unauthenticated.remove(c)
        await send(.reject(reason: reason), to: c)
        await transport.close(c, reason: reason)
    }

    func handshake(_ c: ConnectionID, _ m: Message) async {
        guard case .hello(let h) = m else {
            await reject(c, "expected hello as the first message, got \(m.kindName)")
            return
        }
        guard SecureRandom.constantTimeEqual(h.token, token) else {
            await reject(c, "wrong run token")
            return
        }
        let p = Int(h.processIndex)
        guard Int(h.processCount) == processCount, p < processCount else {
            await reject(c, "process \(h.processIndex) of \(h.processCount) does not fit this run of \(processCount) processes")
            return
        }
        let expected = Sharding.range(process: p, of: processCount, devices: population.devices)
        guard Int(h.firstDevice) == expected.lowerBound, Int(h.deviceCount) == expected.count else {
            await reject(c, "process \(p) claims devices \(h.firstDevice)..<\(Int(h.firstDevice) + Int(h.deviceCount)), expected \(expected.lowerBound)..<\(expected.upperBound)")
            return
        }
        guard peers[p] == nil else {
            await reject(c, "process \(p) is already connected")
            return
        }
        unauthenticated.remove(c)
        peers[p] = Peer(connection: c, range: expected)
        processOf[c] = p
        lostReasons[p] = nil
        log.info("client process \(p) joined with devices \(expected.lowerBound)..<\(expected.upperBound)")
        await send(.welcome(Welcome(processIndex: h.processIndex)), to: c)
    }

    func protocolViolation(_ c: ConnectionID, _ p: Int, _ reason: String) async {
        log.warning("client process \(p): \(reason); closing its connection")
        await send(.reject(reason: reason), to: c)
        await transport.close(c, reason: reason)
    }

    // MARK: Run

    /// Runs every round. Throws `Failure` with a message for the user when the run cannot go on.
    public func run() async throws {
        startForwarding()
        defer { forwarder?.cancel() }
        try await waitForProcesses()
        if scenario.training.async.enabled { return try await runAsync() }
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
                    stoppedEarly = "privacy budget: round \(r) would bring ε to \(formatFixed(eps, 4)) > \(scenario.privacy.budget.epsilon) at δ = \(scenario.privacy.delta)"
                    log.warning("stopping before round \(r): \(stoppedEarly!)")
                    break
                }
            }
            try await finishRound(r, try await runRound(r), roundStart: roundStart, runStart: start)
            let checkpointEvery = scenario.runtime.checkpointEvery
            if interrupt.isSet {
                await writeCheckpoint(round: r)
                interrupted = true
                stoppedEarly = "interrupted after round \(r); resume with `fedsim resume`"
                log.warning("interrupted: stopping after round \(r)")
                break
            }
            if checkpointEvery > 0 && r % checkpointEvery == 0 && r < scenario.training.rounds { await writeCheckpoint(round: r) }
        }
        for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
            await send(.shutdown(reason: "run complete"), to: peer.connection)
        }
    }

    /// Tells connected clients to leave after a failure.
    public func abort(reason: String) async {
        for (_, peer) in peers { await send(.shutdown(reason: reason), to: peer.connection) }
    }

    func waitForProcesses() async throws {
        inWaitForProcesses = true
        defer { inWaitForProcesses = false }
        let timeout = scenario.runtime.connectTimeoutSeconds
        let deadline = armDeadline(seconds: timeout)
        let secure = scenario.secureAggregation.enabled
        while peers.count < processCount || (secure && enrolledProcesses.count < processCount) {
            switch await next() {
            case .deadline(let id) where id == deadline:
                throw Failure(description: "only \(peers.count) of \(processCount) client processes connected\(secure ? " and \(enrolledProcesses.count) enrolled" : "") within \(timeout) s; see logs/client-*.log")
            case .deadline: continue
            case .transportEnded: throw Failure(description: "transport closed while waiting for client processes")
            case .transport(let e):
                if let (p, c, m) = await handleControl(e) {
                    if secure, case .secagg(let env) = m, env.stage == SecAggStage.enroll.rawValue, !enrolledProcesses.contains(p) {
                        _ = await enroll(process: p, connection: c, env)
                    } else {
                        await protocolViolation(c, p, "sent \(m.kindName) before the first round")
                    }
                }
            }
        }
        log.info("all \(processCount) client processes connected")
    }

    func aliveSummary() -> String {
        let lost = lostReasons.sorted { $0.key < $1.key }.map { "process \($0.key): \($0.value)" }
        return "\(peers.count) of \(processCount) client processes alive" + (lost.isEmpty ? "" : " (lost: " + lost.joined(separator: "; ") + ")")
    }

    func runRound(_ r: Int) async throws -> JSONObject {
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
        var tracker = RoundTracker(assignments: assignments)
        var trainLoss: [Int: Double] = [:]  // per finished device, for a feedback sampler
        var aggregator = UpdateAggregators.make(scenario.training.aggregation, training: scenario.training, layout: layout)
        var clippedAtCoordinator = 0
        var compressedBytes = 0
        let roundBytes = (sent: bytesSent, received: bytesReceived)
        for (c, devices) in assignments.sorted(by: { $0.key < $1.key }) {
            await send(.train(DeviceRequest(round: UInt32(r), devices: devices, shared: model, clip: dp?.clip ?? 0)), to: c)
        }
        let deadline = armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)
        var rejected = 0
        var withinClip = 0
        while !tracker.isComplete {
            let input = await next()
            switch input {
            case .deadline(let id) where id == deadline:
                let n = tracker.expire()
                log.warning("round \(r): deadline of \(scenario.runtime.roundDeadlineSeconds) s passed with \(n) devices outstanding")
            case .deadline: continue
            case .transportEnded:
                tracker.expire()
            case .transport(let e):
                if case .closed(let c, _) = e { tracker.drop(connection: c) }
                guard let (p, c, received) = await handleControl(e) else { continue }
                var m = received
                if case .compressedUpdate(let cu) = m {
                    // Decode through the run's stages; a body that does not decode is a failed device.
                    guard scenario.compression.enabled, cu.round == UInt32(r) else {
                        if !scenario.compression.enabled { await protocolViolation(c, p, "sent a compressed update, but this run does not compress") }
                        continue
                    }
                    do {
                        m = .update(try decompress(cu))
                        compressedBytes += cu.body.count
                    } catch {
                        log.warning("round \(r): refusing the compressed update of device \(cu.device) from process \(p): \(error)")
                        if tracker.resolve(cu.device, from: c, as: .failed) == .accepted { rejected += 1 }
                        continue
                    }
                }
                switch m {
                case .update(let u):
                    guard u.round == UInt32(r) else {
                        log.info("ignoring late update of device \(u.device) for round \(u.round)")
                        continue
                    }
                    guard peers[p]?.range.contains(Int(u.device)) == true else {
                        await protocolViolation(c, p, "sent an update for device \(u.device), which it does not host")
                        continue
                    }
                    switch tracker.check(u.device, from: c) {
                    case .accepted:
                        do {
                            var delta = u.weightedDelta
                            if dp != nil && enforceClip(&delta) {
                                // A device's own clipping is a promise; without secure aggregation the
                                // coordinator can check it, so one device moves the sum by at most C.
                                clippedAtCoordinator += 1
                                log.warning("round \(r): device \(u.device) sent an update above the clip; clipped at the coordinator")
                            }
                            try aggregator.add(device: Int(u.device), weightedDelta: delta, weights: u.weights,
                                               examples: Int(u.examples), trainLoss: u.trainLoss)
                            tracker.resolve(u.device, from: c, as: .finished)
                            trainLoss[Int(u.device)] = u.trainLoss
                            withinClip += Int(u.withinClip)
                        } catch {
                            rejected += 1
                            log.warning("round \(r): refusing update of device \(u.device) from process \(p): \(error)")
                            tracker.resolve(u.device, from: c, as: .failed)
                        }
                    case .notPending:
                        log.warning("round \(r): process \(p) sent an update for device \(u.device), which is not pending (duplicate?)")
                    case .wrongConnection:
                        await protocolViolation(c, p, "sent an update for device \(u.device), which was assigned elsewhere")
                    }
                case .failed(let f):
                    guard f.round == UInt32(r) else { continue }
                    if tracker.resolve(f.device, from: c, as: .failed) == .accepted {
                        log.info("round \(r): device \(f.device) failed: \(f.reason)")
                    }
                default:
                    await unexpected(m, from: p, on: c, during: "training round \(r)")
                }
            }
        }
        let finished = tracker.count(.finished)
        let failed = tracker.count(.failed), dropped = tracker.count(.dropped), timedOut = tracker.count(.timedOut)
        if dp == nil && !plan.kept.isEmpty && (finished < scenario.runtime.minDevicesPerRound || finished == 0) {
            throw Failure(description:
                "round \(r): only \(finished) of \(k) sampled devices finished (minimum \(max(1, scenario.runtime.minDevicesPerRound))): "
                + "\(dropped) dropped with their client process, \(timedOut) timed out at the \(scenario.runtime.roundDeadlineSeconds) s deadline, "
                + "\(failed) failed; \(aliveSummary())")
        }
        var privacyLine: JSONObject?
        if dp == nil && plan.kept.isEmpty {
            log.warning("round \(r): no selected device could finish in time; the model is unchanged")
        } else if dp != nil {
            // Validation allows central DP with the weighted mean only: its exact sum is what is noised.
            guard let sum = aggregator.exactSum else { throw Failure(description: "central DP needs training.aggregation: mean") }
            privacyLine = releasePrivately(round: r, sum: sum, sampled: chosen.count, withinClip: withinClip)
        } else {
            step(aggregator.aggregate(), round: r)
        }
        deviceUpdates += finished
        var line = JSONObject()
        line.merge(roundCounters(r, sampled: chosen.count, finished: finished, failed: failed, dropped: dropped, timedOut: timedOut,
                                 rejected: rejected, examples: aggregator.examples, trainLoss: aggregator.meanTrainLoss))
        for (name, value) in aggregator.measurements { line.add(name, value) }
        if dp != nil { line.add("clipped_at_coordinator", clippedAtCoordinator) }
        var comm = JSONObject()
        comm.add("bytes_up", bytesReceived - roundBytes.received)
        comm.add("bytes_down", bytesSent - roundBytes.sent)
        comm.add("bytes_up_per_update", finished > 0 ? Double(bytesReceived - roundBytes.received) / Double(finished) : 0)
        comm.add("raw_bytes_per_update", 4 * (layout.count + layout.weightCount))
        if scenario.compression.enabled {
            comm.add("compressed_body_bytes_per_update", finished > 0 ? Double(compressedBytes) / Double(finished) : 0)
        }
        line.add("communication", comm)
        if finished > 0 { lastUploadBytesPerDevice = Double(bytesReceived - roundBytes.received) / Double(finished) }
        if let privacyLine { line.add("privacy", privacyLine) }
        let finishedDevices = tracker.outcomes.compactMap { $0.value == .finished ? Int($0.key) : nil }.sorted()
        closeRound(r, selected: chosen, plan: plan, finished: finishedDevices, trainLoss: trainLoss, into: &line)
        return line
    }

    /// Central DP release: noise the sum, record the round in the ledger (durably), then step
    /// the model. Returns the metrics fragment.
    func releasePrivately(round r: Int, sum: [Double], sampled: Int, realizedMultiplier: Double? = nil,
                          withinClip: Int = 0) -> JSONObject {
        let distributed = realizedMultiplier != nil
        let roundClip = dp!.clip
        let noisyMean = distributed ? dp!.mean(ofNoisySum: sum) : dp!.privatize(sum: sum)
        var adapted: Double?
        if scenario.privacy.adaptiveClipping.enabled { adapted = dp!.adaptClip(withinCount: withinClip) }
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
        ledger?.append(entry)
        step(noisyMean, round: r)
        var o = JSONObject()
        o.add("epsilon", eps)
        o.add("order", order)
        o.add("delta", scenario.privacy.delta)
        o.add("noise_multiplier", realizedMultiplier ?? scenario.privacy.noiseMultiplier)
        o.add("clip", roundClip)
        return o
    }

    func finishSecureRound(_ r: Int, chosen: [Int], assignments: [ConnectionID: [UInt32]], discard: Set<Int>) async throws -> JSONObject {
        let o = try await runSecureRound(r, chosen: chosen, assignments: assignments, discard: discard)
        lastFinished = o.survivorIDs
        var line = JSONObject()
        line.merge(roundCounters(r, sampled: chosen.count, finished: o.survivors, failed: 0, dropped: chosen.count - o.survivors,
                                 timedOut: 0, rejected: 0, examples: Int(o.examples.rounded()),
                                 trainLoss: o.examples > 0 ? o.lossSum / o.examples : .nan))
        var sa = o.line
        if let why = o.abandoned {
            sa.add("abandoned", why)
            log.warning("round \(r): secure aggregation abandoned: \(why); the model is unchanged")
        }
        line.add("secagg", sa)
        if dp != nil, let sum = o.sum {
            line.add("privacy", releasePrivately(round: r, sum: sum, sampled: chosen.count, realizedMultiplier: o.realizedMultiplier,
                                                 withinClip: o.withinClip))
            deviceUpdates += o.survivors
        } else if let mean = o.mean {
            if o.survivors < scenario.runtime.minDevicesPerRound {
                throw Failure(description: "round \(r): only \(o.survivors) of \(chosen.count) sampled devices finished secure aggregation (minimum \(scenario.runtime.minDevicesPerRound)); \(aliveSummary())")
            }
            step(mean, round: r)
            deviceUpdates += o.survivors
        } else if peers.isEmpty {
            throw Failure(description: "round \(r): secure aggregation abandoned and \(aliveSummary())")
        }
        return line
    }

    func evaluate(round r: Int) async throws -> EvaluationSummary {
        let alive = peers.sorted { $0.key < $1.key }
        var requested: [ConnectionID: Set<UInt32>] = [:]
        let n = scenario.evaluation.devices
        if n == 0 {
            for (_, peer) in alive { requested[peer.connection] = Set(peer.range.map { UInt32($0) }) }
        } else {
            let available = alive.flatMap { Array($0.value.range) }
            var rng = Seeds.rng(scenario.seed, "evaluation.sample", UInt64(r))
            for i in rng.sampleWithoutReplacement(min(n, available.count), from: available.count) {
                let d = available[i]
                let p = Sharding.process(of: d, processes: processCount, devices: population.devices)
                requested[peers[p]!.connection, default: []].insert(UInt32(d))
            }
        }
        if !newUsers.isEmpty {
            // New users have no warm data: they are scored by the cold-start protocol only.
            for c in requested.keys { requested[c] = requested[c]!.filter { !newUsers[Int($0)] } }
        }
        for (c, devices) in requested.sorted(by: { $0.key < $1.key }) {
            var request = DeviceRequest(round: UInt32(r), devices: devices.sorted(), shared: model)
            request.popular = popularItems
            await send(.evaluate(request), to: c)
        }
        var results: [DeviceEvaluation] = []
        var recommended = [Double](repeating: 0, count: population.items)
        var rated = [Double](repeating: 0, count: population.items)
        await collectReplies(from: Set(requested.keys), phase: "evaluation of round \(r)") { m in
            if case .evaluation(let rep) = m { return rep.round == UInt32(r) }
            return false
        } consume: { p, c, m in
            guard case .evaluation(let rep) = m else { return }
            let asked = requested[c] ?? []
            for e in rep.entries {
                guard asked.contains(UInt32(truncatingIfNeeded: e.device)), e.squaredError.isFinite, e.absoluteError.isFinite,
                      e.squaredError >= 0, e.hit.isFinite, e.ndcg.isFinite
                else {
                    log.warning("process \(p): discarding invalid evaluation entry for device \(e.device)")
                    continue
                }
                results.append(e)
            }
            // Exposure and popularity counts: per-process sums, bounded by what it was asked.
            // Under secure aggregation they come only from the secure sum below.
            guard !scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation) else { return }
            for (list, target) in [(rep.recommended, 0), (rep.rated, 1)] {
                for (item, count) in list where Int(item) < population.items && Int(count) <= asked.count {
                    if target == 0 { recommended[Int(item)] += Double(count) } else { rated[Int(item)] += Double(count) }
                }
            }
        }
        if scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation), let sums = try await secureExposure(round: r, evaluated: results.map(\.device)) {
            (recommended, rated) = sums
        }
        if r == scenario.training.rounds, let deviceMetricsPath {
            // The final evaluation per device, for the report's distribution chart.
            var csv = "device,ratings,rmse,mae,ranked,hit,ndcg\n"
            for e in results.sorted(by: { $0.device < $1.device }) where e.count > 0 {
                let n = Double(e.count)
                csv += "\(e.device),\(e.count),\((e.squaredError / n).squareRoot()),\(e.absoluteError / n),\(e.ranked ? 1 : 0),\(e.hit),\(e.ndcg)\n"
            }
            try? RunDirectory.atomicWrite(Array(csv.utf8), path: deviceMetricsPath)
        }
        let summary = EvaluationSummary(results)
        lastEvaluationExtras = beyondAccuracy(summary, recommended: recommended, rated: rated, devices: results.count)
        lastEvaluationExtras?.merge(baselines(results))
        // The next evaluation's popularity ranking: items by how many devices rated them.
        if rated.contains(where: { $0 > 0 }) { popularItems = rated.indices.filter { rated[$0] > 0 }.sorted { (rated[$0], -$0) > (rated[$1], -$1) }.prefix(Self.popularListLength).map { UInt32($0) } }
        if let nt = negativeTransfer(results) { lastEvaluationExtras?.add("negative_transfer", nt) }
        lastCohorts = scenario.evaluation.cohorts ? cohortTable(results) : nil
        return summary
    }

    /// Catalogue coverage, Gini of exposure and novelty from the aggregated counts
    /// (docs/metrics.md has the formulas).
    func beyondAccuracy(_ s: EvaluationSummary, recommended: [Double], rated: [Double], devices n: Int) -> JSONObject {
        let k = scenario.evaluation.k
        var o = JSONObject()
        o.add("recall@\(k)", s.recall)
        o.add("mrr@\(k)", s.mrr)
        o.add("auc", s.auc)
        if scenario.evaluation.sampledNegatives > 0 {
            o.add("hr@\(k)_sampled\(scenario.evaluation.sampledNegatives)", s.sampledHit)
            o.add("ndcg@\(k)_sampled\(scenario.evaluation.sampledNegatives)", s.sampledNdcg)
        }
        let exposures = recommended.reduce(0, +)
        guard exposures > 0 else { return o }
        o.add("coverage@\(k)", ExposureMetrics.coverage(recommended))
        o.add("gini_exposure@\(k)", ExposureMetrics.gini(recommended))
        o.add("novelty@\(k)", ExposureMetrics.novelty(recommended: recommended, rated: rated, devices: n))
        o.add("ild_category@\(k)", s.ildCategory)
        o.add("ild_embedding@\(k)", s.ildEmbedding)
        return o
    }

    /// Per device, the personalized model (shared + its personal parameters) against the
    /// global model (personal parameters as a new device starts them) and a local-only model
    /// (trained on the device's data alone): the share of devices each comparison makes
    /// worse, and by how much (RMSE points, mean over those devices).
    func negativeTransfer(_ results: [DeviceEvaluation]) -> JSONObject? {
        // Device order: sums must not depend on which process reported first.
        let rows = results.sorted { $0.device < $1.device }.filter { $0.count > 0 && $0.squaredErrorGlobal >= 0 && $0.squaredErrorLocal >= 0
            && $0.squaredErrorGlobal.isFinite && $0.squaredErrorLocal.isFinite }
        guard !rows.isEmpty else { return nil }
        func rmse(_ se: Double, _ n: Int) -> Double { (se / Double(n)).squareRoot() }
        var o = JSONObject()
        o.add("devices", rows.count)
        let ratings = Double(rows.reduce(0) { $0 + $1.count })
        o.add("rmse_global_model", (rows.reduce(0.0) { $0 + $1.squaredErrorGlobal } / ratings).squareRoot())
        o.add("rmse_local_only", (rows.reduce(0.0) { $0 + $1.squaredErrorLocal } / ratings).squareRoot())
        for (name, other) in [("personalization_worse_than_global", \DeviceEvaluation.squaredErrorGlobal),
                              ("federation_worse_than_local_only", \DeviceEvaluation.squaredErrorLocal)] {
            let gaps = rows.map { rmse($0.squaredError, $0.count) - rmse($0[keyPath: other], $0.count) }.filter { $0 > 1e-12 }
            var c = JSONObject()
            c.add("share", Double(gaps.count) / Double(rows.count))
            c.add("mean_rmse_loss", gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count))
            o.add(name, c)
        }
        return o
    }

    /// Every metric per cohort: activity quartiles of training-set size, main domain, and
    /// devices that never trained against those that did. The worst cohort by RMSE is named.
    func cohortTable(_ results: [DeviceEvaluation]) -> JSONObject? {
        guard let directory else { return nil }
        let k = scenario.evaluation.k
        var groups: [(String, String, [DeviceEvaluation])] = []
        let sizes = results.map { directory.trainSizes[$0.device] }.sorted()
        if !sizes.isEmpty {
            let cuts = [0.25, 0.5, 0.75].map { sizes[min(sizes.count - 1, Int($0 * Double(sizes.count)))] }
            for q in 0..<4 {
                let lo: UInt32 = q == 0 ? 0 : cuts[q - 1], hi: UInt32 = q == 3 ? .max : cuts[q]
                let members = results.filter { let t = directory.trainSizes[$0.device]; return t >= lo && (q == 3 || t < hi) }
                groups.append(("activity", "Q\(q + 1) (\(lo)–\(q == 3 ? "" : String(hi - 1)) ratings)", members))
            }
        }
        let domains = Set(results.map { directory.mainDomains[$0.device] })
        if domains.count > 1 {
            for d in domains.sorted() { groups.append(("domain", "domain \(d)", results.filter { directory.mainDomains[$0.device] == d })) }
        }
        groups += demographicGroups(results)
        groups += availabilityGroups(results)
        groups.append(("participation", "never trained", results.filter { participation.finished[$0.device] == 0 }))
        groups.append(("participation", "trained", results.filter { participation.finished[$0.device] > 0 }))
        groups = groups.filter { scenario.evaluation.cohortKinds.contains($0.0) }
        var o = JSONObject()
        var worst: (String, Double)?
        var byKind: [String: [String]] = [:]
        for (kind, name, members) in groups where !members.isEmpty {
            let s = EvaluationSummary(members)
            var c = JSONObject()
            c.add("name", name)
            c.add("devices", s.devices)
            c.add("rmse", s.rmse)
            c.add("hr@\(k)", s.hitRate)
            c.add("ndcg@\(k)", s.ndcg)
            c.add("device_rmse_p10_p50_p90", s.deviceRMSE)
            byKind[kind, default: []].append(c.text)
            if s.rmse.isFinite, worst == nil || s.rmse > worst!.1 { worst = ("\(kind): \(name)", s.rmse) }
        }
        for kind in EvaluationConfig.allCohortKinds where byKind[kind] != nil {
            o.add(kind, raw: "[" + byKind[kind]!.joined(separator: ",") + "]")
        }
        if let worst {
            var w = JSONObject()
            w.add("cohort", worst.0)
            w.add("rmse", worst.1)
            o.add("worst_by_rmse", w)
        }
        return o
    }

    static func json(_ s: EvaluationSummary, k: Int) -> JSONObject {
        var o = JSONObject()
        o.add("rmse", s.rmse)
        o.add("mae", s.mae)
        o.add("hr@\(k)", s.hitRate)
        o.add("ndcg@\(k)", s.ndcg)
        o.add("devices", s.devices)
        o.add("ratings", s.ratings)
        o.add("ranked_devices", s.rankedDevices)
        o.add("device_rmse_p10_p50_p90", s.deviceRMSE)
        return o
    }
}
