import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimPrivacy
import Foundation

extension FedSimCommand.Privacy.Report {
    /// Why a report is refused: the run's records do not add up to one guarantee.
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// The report fails closed. Before saying anything about a DP run it checks that the
    /// ledger, the metrics and the summary tell one story, and it recomputes ε from the ledger
    /// instead of trusting any stored figure:
    ///
    /// - every ledger line is an entry (round, q, σ, and the ε recorded with it);
    /// - composing the entries in order gives, entry by entry, the ε each one recorded (an
    ///   edited or reordered ledger fails here);
    /// - every round that `metrics.jsonl` shows as released has a ledger entry (a deleted or
    ///   truncated ledger fails here; redone rounds after a resume may add entries, never
    ///   remove them);
    /// - the summary's ε, when there is one, is the recomputed ε.
    ///
    /// Returns the recomputed (ε, order). Any mismatch is a `Refusal`, never a smaller ε.
    static func verify(
        _ p: PrivacyConfig,
        ledgerText: String,
        metricsText: String?,
        summary: RunSummary?
    ) throws -> (epsilon: Double, order: Double) {
        var acc = RDPAccountant()
        var result = (epsilon: 0.0, order: 0.0)
        var ledgerRounds = Set<Int>()
        for (i, line) in ledgerText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let e = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let round = e["round"] as? Int, let q = e["q"] as? Double, let z = e["noise_multiplier"] as? Double,
                let recorded = e["epsilon_rdp"] as? Double, (0...1).contains(q), z >= 0
            else { throw Refusal(description: "line \(i + 1) of privacy-ledger.jsonl is not a ledger entry") }
            acc.compose(rate: q, noiseMultiplier: z)
            result = acc.epsilon(delta: p.delta)
            guard Self.same(result.epsilon, recorded) else {
                throw Refusal(
                    description:
                        "privacy-ledger.jsonl line \(i + 1) (round \(round)) records ε = \(recorded), but composing the entries up to it gives \(result.epsilon)"
                )
            }
            ledgerRounds.insert(round)
        }
        guard let metricsText else {
            throw Refusal(
                description: "metrics.jsonl is missing: the ledger cannot be checked against the released rounds"
            )
        }
        for (i, line) in metricsText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            // Fails closed: a line that is not the metrics schema could hide a released round.
            let m: RoundMetrics
            do { m = try MetricsJSON.decode(RoundMetrics.self, line: line) } catch {
                throw Refusal(
                    description: "line \(i + 1) of metrics.jsonl is not a metrics line: \(MetricsJSON.describe(error))"
                )
            }
            guard m.privacy != nil else { continue }
            let round = m.round
            guard ledgerRounds.contains(round) else {
                throw Refusal(
                    description:
                        "round \(round) was released (metrics.jsonl) but privacy-ledger.jsonl has no entry for it: the ledger is missing or truncated"
                )
            }
        }
        // summary.json writes a non-finite ε as `null`, which reads back as NaN.
        if let stored = summary?.privacy?.epsilon,
            stored.isNaN ? result.epsilon.isFinite : !Self.same(stored, result.epsilon)
        {
            throw Refusal(description: "summary.json says ε = \(stored), the ledger composes to \(result.epsilon)")
        }
        return result
    }

    /// The audit's line for an audit run (`privacy-audit.json`), or nil for an ordinary run.
    /// An empirical lower bound above the claimed ε means the claim is false: a `Refusal`.
    static func auditLine(_ p: PrivacyConfig, auditText: String?, epsilon: Double) throws -> String? {
        guard p.audit != nil else { return nil }
        guard let auditText,
            let a = try? JSONSerialization.jsonObject(with: Data(auditText.utf8)) as? [String: Any],
            let lower = a["epsilon_lower_bound"] as? Double, let canaries = a["canaries"] as? Int,
            let confidence = a["confidence"] as? Double
        else {
            return "privacy audit: none recorded (the run did not finish its audit)"
        }
        guard lower <= epsilon else {
            throw Refusal(
                description:
                    "the privacy audit found ε ≥ \(formatFixed(lower, 3)) at \(confidence * 100)% confidence, above the claimed ε = \(formatFixed(epsilon, 3)): the noise or the accounting is wrong (privacy-audit.json)"
            )
        }
        return
            "privacy audit: empirical ε ≥ \(formatFixed(lower, 3)) at \(formatFixed(confidence * 100, 0))% confidence "
            + "(one-run audit, \(canaries) gradient canaries; \(a["adversary"] as? String ?? "")), "
            + "below the claimed ε = \(formatFixed(epsilon, 3)); a lower bound, not an estimate"
    }

    /// Equal up to the last bits of the JSON round trip.
    static func same(_ a: Double, _ b: Double) -> Bool {
        a == b || (a.isFinite && b.isFinite && abs(a - b) <= 1e-9 * max(1, abs(a), abs(b)))
    }
}
