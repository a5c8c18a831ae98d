import FedSimConfig
import FedSimCore
import FedSimPrivacy

extension Coordinator {
    /// The audit's verdict beside the ε this run claims (`privacy-audit.json`), or nil when
    /// the scenario asked for no audit. `consistent` is false when the empirical lower bound
    /// exceeds the claimed ε: then the implementation or its accounting is wrong, and the
    /// privacy report refuses the run.
    public func auditReport() -> (json: JSONObject, consistent: Bool)? {
        guard let audit, let dp else { return nil }
        let delta = scenario.privacy.delta
        let r = audit.result(delta: delta)
        let (claimed, order) = dp.accountant.epsilon(delta: delta)
        var o = JSONObject()
        o.add("method", "one-run audit (Steinke, Nasr, Jagielski 2023), gradient canaries")
        o.add(
            "adversary",
            scenario.privacy.mechanism == .central
                ? "white-box: sees every released noisy sum and the other devices' clipped sum before noise"
                : "white-box: sees every released noisy sum (the devices' sum before noise stays inside SecAgg+)"
        )
        o.add("canaries", r.canaries)
        o.add("included", r.included)
        o.add("canary_contributions", audit.participations)
        o.add("rounds_audited", audit.rounds)
        o.add("coins", dp.noiseIsPrivate ? "CSPRNG (secret)" : "seeded (reproducible; NOT secret)")
        o.add("guess_sets_tried", r.guessSetsTried)
        o.add("guess_positives", r.guess.positives)
        o.add("guess_negatives", r.guess.negatives)
        o.add("correct", r.correct)
        o.add("confidence", audit.config.confidence)
        o.add("delta", delta)
        o.add("epsilon_lower_bound", r.epsilonLowerBound)
        o.add("claimed_epsilon", claimed)
        o.add("claimed_by", "RDP accountant, Poisson sampling q = \(dp.rate), optimal order \(order)")
        o.add("consistent", r.epsilonLowerBound <= claimed)
        return (o, r.epsilonLowerBound <= claimed)
    }

    /// An audit's canaries and their secret coins live only in the coordinator's memory, so a
    /// resumed audit would score canaries whose inclusion it no longer knows.
    public func checkResumable() throws {
        if scenario.training.earlyStopping.enabled {
            throw Failure(
                description:
                    "an early-stopping run cannot be resumed: the best round's model and the devices' personal parameters of that round were kept in memory only; run it again"
            )
        }
        if audit != nil {
            throw Failure(
                description:
                    "a privacy-audit run cannot be resumed: its canaries' secret coins were lost with the coordinator; run the audit again"
            )
        }
    }

    /// Tests only (no scenario key or CLI flag reaches it): multiplies the central DP noise by
    /// `scale` while the ledger keeps accounting the configured σ, the kind of bug an audit
    /// exists to catch. The audit's own tests plant it to show the audit can fail.
    public func plantNoiseBugForAuditSelfTest(scale: Double) {
        dp?.plantedNoiseScale = scale
    }
}
