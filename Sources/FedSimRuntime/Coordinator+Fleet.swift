import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels

/// Who trains each round: the sampler picks among eligible devices (their process is alive
/// and, with an availability model, they are charging, on Wi-Fi and reachable at the
/// simulated time), then the fleet's timing model decides whose update arrives in time.
extension Coordinator {
    /// The selected devices and the plan of whose updates will count.
    func selectDevices(round r: Int) -> (selected: [Int], plan: RoundPlan) {
        let t = simulatedClock
        let everyoneAlive = peers.count == processCount
        let alwaysAvailable = scenario.fleet.availability.model == .always
        let target = Int((Double(scenario.training.devicesPerRound) * scenario.fleet.overSelection).rounded(.up))
        let hostAlive: (Int) -> Bool = { [peers, processCount, population] d in
            peers[Sharding.process(of: d, processes: processCount, devices: population.devices)] != nil
        }
        // New users of a cold-start protocol never train.
        let newUsers = self.newUsers
        let selected = sampler.sample(
            round: r,
            target: target,
            allEligible: everyoneAlive && alwaysAvailable && newUsers.isEmpty,
            seed: scenario.seed
        ) { [fleet] d in
            hostAlive(d) && fleet.isAvailable(d, at: t) && (newUsers.isEmpty || !newUsers[d])
        }
        guard let directory else {
            var plan = RoundPlan()
            plan.kept = selected
            return (selected, plan)
        }
        // Simulated finish times; the model travels down, and up what devices sent last round
        // (a dense float32 update before the first round).
        let bytes = 4 * layout.count
        let up = Int(lastUploadBytesPerDevice ?? Double(bytes))
        var finish: [Int: Double] = [:]
        var window: [Int: Double] = [:]
        for d in selected {
            finish[d] = fleet.roundSeconds(
                d,
                examples: Int(directory.trainSizes[d]),
                epochs: scenario.training.local.epochs,
                bytesDown: bytes,
                bytesUp: up
            )
            window[d] = fleet.availableSeconds(d, at: t) ?? 0
        }
        let plan = RoundPlan.make(
            selected: selected,
            finish: finish,
            window: window,
            deadline: scenario.fleet.deadlineSeconds,
            target: sampler.planTarget(selected: selected.count, devicesPerRound: scenario.training.devicesPerRound)
        )
        return (selected, plan)
    }

    /// Records participation and the simulated clock for a finished round.
    func closeRound(
        _ r: Int,
        selected: [Int],
        plan: RoundPlan,
        finished: [Int],
        trainLoss: [Int: Double] = [:],
        into line: inout RoundMetrics
    ) {
        participation.record(selected: selected, finished: finished)
        sampler.observe(RoundFeedback(round: r, selected: selected, finished: finished, trainLoss: trainLoss))
        line.fleet = FleetRound(
            selected: selected.count,
            kept: plan.kept.count,
            missedDeadline: plan.missedDeadline.count,
            wentOffline: plan.wentOffline.count,
            overSelected: plan.overSelected.count,
            simStartSeconds: simulatedClock,
            simRoundSeconds: plan.seconds
        )
        participationLog?.append(round: r, clock: simulatedClock, selected: selected, finished: finished, plan: plan)
        simulatedClock += max(plan.seconds, scenario.fleet.availability.roundIntervalSeconds)
        line.simSeconds = simulatedClock
    }
}

/// `participation.jsonl`: per round, who was selected, who finished, and why the others did
/// not count. One line per round, device indices sorted.
final class ParticipationLog {
    let file: FileMetricsSink  // the same append-only JSON-lines file as metrics.jsonl
    /// The first write that failed; the round's metrics line is not recorded after it
    /// (`finishRound` throws it), so the run stops at the same round in both files.
    var failure: Error?

    init(path: String) throws { file = try FileMetricsSink(path: path) }

    func append(round r: Int, clock: Double, selected: [Int], finished: [Int], plan: RoundPlan) {
        var o = JSONObject()
        o.add("round", r)
        o.add("sim_start_seconds", clock)
        o.add("selected", selected)
        o.add("finished", finished)
        o.add("missed_deadline", plan.missedDeadline)
        o.add("went_offline", plan.wentOffline)
        o.add("over_selected", plan.overSelected)
        do { try file.record(o) } catch { failure = failure ?? error }
    }
}
