import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimPrivacy

extension FedSimCommand.Privacy.Report {
    /// ε for an adversary who knows who was sampled, for whom amplification by subsampling does
    /// not hold: each of a device's participations is a Gaussian release at q = 1, so the most
    /// sampled device's k participations compose to ε_RDP(q = 1, σ, k). Who knows the sample:
    /// the coordinator under distributed DP (it runs the secure sum with the sampled devices),
    /// and any reader of the run directory when participation is logged.
    struct Unamplified {
        var epsilon: Double
        var participations: Int
        var sigma: Double
        var against: String
    }

    static func unamplified(_ p: PrivacyConfig, ledger: [[String: Any]], summary: RunSummary?) -> Unamplified? {
        guard p.enabled else { return nil }
        var against: [String] = []
        if p.mechanism == .distributed {
            against.append("the coordinator, which sees who takes part in each secure sum")
        }
        if p.logParticipation { against.append("anyone who reads participation.jsonl or participation.csv") }
        if !p.secretSample {
            against.append("anyone who knows the seed (privacy.noise: reproducible draws the sample from it)")
        }
        guard !against.isEmpty else { return nil }
        let k = summary?.participation?.maxSelected ?? ledger.count
        let sigma = ledger.compactMap { $0["noise_multiplier"] as? Double }.min() ?? p.noiseMultiplier
        var acc = RDPAccountant()
        if k > 0 { acc.compose(rate: 1, noiseMultiplier: sigma, count: k) }
        let eps = k > 0 ? acc.epsilon(delta: p.delta).epsilon : 0
        return Unamplified(epsilon: eps, participations: k, sigma: sigma, against: against.joined(separator: "; "))
    }

    /// What a DP run releases or keeps beside the model that the guarantee does not cover,
    /// and the trust model it rests on.
    static func sampleAndTrustNotes(_ scenario: Scenario) -> [String] {
        let p = scenario.privacy
        guard p.enabled else { return [] }
        var out: [String] = []
        if p.writesParticipation {
            out.append(
                "participation.jsonl and participation.csv list who was sampled and who finished each round: against their readers amplification by subsampling does not hold (see ε without amplification)"
            )
        }
        out.append(
            "checkpoint.json keeps each device's selection count (for the fairness summary), and summary.json the largest; keep the run directory as private as the data"
        )
        out.append(
            "the popularity baseline's item ranking, sent to devices with evaluation requests, is computed from un-noised training counts"
        )
        if scenario.secureAggregation.enabled {
            out.append(
                "SecAgg+ survivor counts per stage (metrics.jsonl) are released without noise; the coordinator is trusted to be semi-honest: it chooses k, t and the neighbour graph and relays keys as the protocol says, and devices do not check that (a malicious coordinator is not covered)"
            )
        }
        return out
    }
}
