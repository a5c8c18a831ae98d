import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// The SecAgg+ driver: one secure sum over the devices of a round (training, or evaluation's
/// exposure counts), stage by stage, with dropouts at any stage.
extension Coordinator {
    /// Runs the four SecAgg+ stages for `chosen` over vectors of `length`, and returns the
    /// survivors' sum. `afterBegin` sends whatever a connection needs right after the round is
    /// announced (training: the model). Used by training rounds and by evaluation's exposure
    /// counts alike, so both go through the same protocol code. `beforeUnmask` is the last
    /// moment to keep the sum masked (nothing has been revealed yet): a reason abandons it.
    func runSecureSum(
        round: UInt32,
        chosen: [Int],
        assignments: [ConnectionID: [UInt32]],
        length: Int,
        graphSeed: UInt64,
        discard: Set<Int> = [],
        beforeUnmask: (Set<UInt32>) -> String? = { _ in nil },
        afterBegin: (ConnectionID, [UInt32]) async -> Void
    ) async throws -> SecureSum {
        let sa = scenario.secureAggregation
        let (k, t) = secAggParameters(n: chosen.count)
        let config = SecAggRoundConfig(
            round: round,
            devices: chosen.map { UInt32($0) },
            k: k,
            t: t,
            bits: sa.bits,
            graphSeed: graphSeed,
            length: length,
            prg: maskPRG
        )
        let keys = identityKeys
        var run = SecureSumRun(
            round: round,
            label: round & Self.evaluationRoundFlag != 0
                ? "evaluation \(round & ~Self.evaluationRoundFlag)" : "\(round)",
            assignments: assignments,
            deadline: armDeadline(seconds: scenario.runtime.roundDeadlineSeconds),
            server: SecAggServer(config: config, identityKey: { keys[$0] }),
            stageStart: (monotonicSeconds(), bytesSent, bytesReceived)
        )
        try await advertiseStage(&run, config: config, afterBegin: afterBegin)
        try await shareStage(&run)
        let survivors = try await maskedStage(&run, discard: discard)
        let line = SecAggRound(protocol: sa.protocol.rawValue, k: k, t: t, bits: sa.bits)
        guard survivors.count >= t else {
            let why = "only \(survivors.count) devices sent masked input; the threshold is \(t)"
            return SecureSum(sum: nil, survivors: [], line: run.finish(line), abandoned: why)
        }
        if let why = beforeUnmask(survivors) {
            return SecureSum(sum: nil, survivors: [], line: run.finish(line), abandoned: why)
        }
        let sum: [UInt32]
        switch try await unmaskStage(&run, survivors: survivors) {
        case .sum(let s): sum = s
        case .failed(let why): return SecureSum(sum: nil, survivors: [], line: run.finish(line), abandoned: why)
        }
        if round & Self.evaluationRoundFlag == 0 { lastSecureSum = sum } else { lastExposureSum = sum }
        return SecureSum(sum: sum, survivors: survivors, line: run.finish(line), abandoned: nil)
    }

    /// The round's mask PRG: the scenario's, or for `auto` the faster one on this machine.
    var maskPRG: MaskPRG {
        switch scenario.secureAggregation.prg {
        case .chacha20: return .chacha20
        case .aes128ctr: return .aes128ctr
        case .auto, nil: return MaskPRG.preferred
        }
    }

    /// Round ids with the top bit set are evaluation rounds (exposure counts), never training.
    static let evaluationRoundFlag: UInt32 = 0x8000_0000

    /// Evaluation under secure aggregation: the evaluated devices' top-K lists and rated items
    /// (one-hot, 2 × items) summed through SecAgg+, so the coordinator learns how often each
    /// item was recommended and rated, never by whom. nil (with a warning) when fewer than
    /// three devices were evaluated or the round fails; the exposure metrics are then omitted
    /// and the evaluation's `exposure_omitted` says why.
    func secureExposure(round r: Int, evaluated: [Int]) async throws -> ExposureSum {
        let chosen = Array(Set(evaluated)).sorted()
        guard chosen.count >= 3 else {
            let why = "\(chosen.count) evaluated devices are too few for a secure exposure sum"
            log.warning("evaluation of round \(r): \(why); exposure metrics omitted")
            return .omitted(why)
        }
        var assignments: [ConnectionID: [UInt32]] = [:]
        for d in chosen {
            let p = Sharding.process(of: d, processes: processCount, devices: population.devices)
            if let peer = peers[p] { assignments[peer.connection, default: []].append(UInt32(d)) }
        }
        let n = population.items
        let s = try await runSecureSum(
            round: Self.evaluationRoundFlag | UInt32(r),
            chosen: chosen,
            assignments: assignments,
            length: 2 * n,
            graphSeed: Seeds.derive(scenario.seed, "secagg.exposure", UInt64(r))
        ) { _, _ in }
        guard let sum = s.sum else {
            let why = "the secure exposure sum failed (\(s.abandoned ?? "?"))"
            log.warning("evaluation of round \(r): \(why); exposure metrics omitted")
            return .omitted(why)
        }
        return .summed(recommended: sum[0..<n].map { Double($0) }, rated: sum[n..<(2 * n)].map { Double($0) })
    }

    /// An evaluation's secure exposure sum: per item, how often it was recommended and rated;
    /// or why there is none.
    enum ExposureSum {
        case summed(recommended: [Double], rated: [Double])
        case omitted(String)
    }
}
