import FedSimConfig
import FedSimCore
import FedSimMetrics

/// Differential privacy as a wrapper around any strategy (Flower's server-side DP wrappers):
/// the inner strategy never sees a sum, only the released noisy mean.
///
/// Central DP (DP-FedAvg, McMahan et al. 2018) noises the exact sum of the clipped updates
/// itself (`DPState.privatize`); distributed DP receives a sum the devices already noised
/// inside the secure sum and only divides it. Either way each release is accounted and
/// written to the privacy ledger *before* the inner strategy steps the model: nothing is
/// released that the ledger does not hold. Before each round it checks the budget, and for a
/// distributed-DP secure round it refuses to unmask a sum whose realized noise would take ε
/// past the budget.
public struct DifferentialPrivacy: Strategy {
    var inner: any Strategy
    var dp: DPState
    var config: PrivacyConfig { dp.config }
    /// The durable ledger (nil in in-memory tests).
    let ledger: PrivacyLedger?
    public private(set) var audit: CanaryAudit?

    public init(_ inner: any Strategy, state: DPState, ledger: PrivacyLedger?, audit: CanaryAudit?) {
        self.inner = inner
        dp = state
        self.ledger = ledger
        self.audit = audit
    }

    public mutating func configureFit(round r: Int) -> FitPlan {
        dp.beginRound(r)
        if config.budget.epsilon > 0 {
            let (eps, _) = dp.epsilonAfterNextRound()
            if eps > config.budget.epsilon {
                return .stop(
                    "privacy budget: round \(r) would bring ε to \(formatFixed(eps, 4)) > \(config.budget.epsilon) at δ = \(config.delta)"
                )
            }
        }
        return inner.configureFit(round: r)
    }

    public func evaluates(round r: Int) -> Bool { inner.evaluates(round: r) }

    public func refusesRelease(round r: Int, noiseMultiplier z: Double, survivors: Int) -> String? {
        let budget = config.budget.epsilon
        guard budget > 0 else { return nil }
        let eps = dp.epsilon(composing: z)
        guard eps > budget else { return nil }
        return "privacy budget: round \(r) with \(survivors) survivors (noise multiplier \(formatFixed(z, 3))) "
            + "would bring ε to \(formatFixed(eps, 4)) > \(budget) at δ = \(config.delta); its sum was not unmasked"
    }

    public mutating func aggregateFit(
        _ aggregate: RoundAggregate,
        round r: Int,
        model: inout [Float]
    ) throws -> FitReport {
        guard case .sum(let sum) = aggregate else {
            // The coordinator hands a privacy stage sums only; an unnoised update must not pass.
            throw StrategyFailure("round \(r): an update reached the privacy stage without its sum; nothing released")
        }
        let roundClip = dp.clip
        let noisyMean = release(sum)
        let adapted =
            config.adaptiveClipping.enabled
            ? dp.adaptClip(withinCount: sum.withinClip, contributors: sum.contributors) : nil
        let (eps, order) = dp.recordRound(noiseMultiplier: sum.realizedMultiplier)
        let multiplier = sum.realizedMultiplier ?? config.noiseMultiplier
        var entry = JSONObject()
        entry.add("round", r)
        entry.add("q", dp.rate)
        entry.add("noise_multiplier", multiplier)
        entry.add("mechanism", config.mechanism.rawValue)
        entry.add("clip", roundClip)
        if let adapted {
            entry.add("count_noise", config.adaptiveClipping.countNoise)
            entry.add("update_noise_multiplier", dp.updateMultiplier)
            entry.add("noised_unclipped_fraction", adapted)
            entry.add("next_clip", dp.clip)
        }
        entry.add("sampled", sum.sampled)
        entry.add("delta", config.delta)
        entry.add("epsilon_rdp", eps)
        entry.add("rdp_order", order)
        entry.add("noise", dp.noiseIsPrivate ? "secure" : "reproducible (NOT private)")
        do {
            try ledger?.append(entry)
        } catch {
            // Nothing is released that the ledger does not hold: the model stays as it was.
            throw StrategyFailure("round \(r) was not released: \(error)")
        }
        var report = try inner.aggregateFit(.update(noisyMean), round: r, model: &model)
        report.privacy = PrivacyRound(
            epsilon: eps,
            order: order,
            delta: config.delta,
            noiseMultiplier: multiplier,
            clip: roundClip
        )
        return report
    }

    /// The noisy mean of `sum` (the audit's canaries, when it runs one, go in first and are
    /// scored on what is released).
    mutating func release(_ sum: ReleasableSum) -> [Float] {
        let distributed = sum.realizedMultiplier != nil
        var released = sum.values
        audit?.inject(into: &released, norm: dp.clip, rate: dp.rate)
        let noisyMean = distributed ? dp.mean(ofNoisySum: released) : dp.privatize(sum: released)
        if audit != nil {
            let expected = dp.expectedDevices
            audit!.observe(released: noisyMean.map { Double($0) * expected }, honestSum: distributed ? nil : sum.values)
        }
        return noisyMean
    }

    public var state: StrategyState {
        get { inner.state }
        set { inner.state = newValue }
    }

    public var privacy: DPState? {
        get { dp }
        set { if let newValue { dp = newValue } }
    }
}
