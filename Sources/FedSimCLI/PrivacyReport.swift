import ArgumentParser
import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimModels
import FedSimPrivacy
import FedSimRuntime
import Foundation

extension FedSimCommand.Privacy {
    /// `fedsim privacy report RUN_DIR`: what a privacy reviewer needs, from the run's ledger.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The privacy guarantee of a run: one sentence, the per-round ledger, and what is not covered."
        )

        @Argument(help: "Run directory.") var runDirectory: String
        @Flag(help: "Print JSON for scripts.") var json = false
        @Flag(
            name: .customLong("no-pld"),
            help: "Skip the PLD accountant's second opinion (it takes seconds for long ledgers)."
        )
        var noPLD = false

        func run() throws {
            let dir = RunDirectory(path: runDirectory)
            let scenario: Scenario
            do { scenario = try dir.loadScenario() } catch {
                FileHandle.standardError.write(Data("fedsim: cannot read \(dir.scenarioFile): \(error)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            let p = scenario.privacy
            let modelNotes = ModelRegistry.type(of: scenario.model.kind).privacyNotes(scenario)
            let ledgerText =
                (try? String(contentsOfFile: runDirectory + "/privacy-ledger.jsonl", encoding: .utf8)) ?? ""
            let ledger = ledgerText.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            // A summary.json outside the schema is refused, not skipped: its ε is checked below.
            let summary: RunSummary?
            do { summary = try dir.summary() } catch {
                FileHandle.standardError.write(Data("fedsim: no privacy report for \(runDirectory): \(error)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            let rounds = ledger.count
            let last = ledger.last
            var eps = 0.0
            var order = 0.0
            var auditLine: String?
            if p.enabled {
                do {
                    (eps, order) = try Self.verify(
                        p,
                        ledgerText: ledgerText,
                        metricsText: try? String(contentsOfFile: dir.metricsFile, encoding: .utf8),
                        summary: summary
                    )
                    auditLine = try Self.auditLine(
                        p,
                        auditText: try? String(contentsOfFile: runDirectory + "/privacy-audit.json", encoding: .utf8),
                        epsilon: eps
                    )
                } catch {
                    FileHandle.standardError.write(
                        Data("fedsim: no privacy report for \(runDirectory): \(error)\n".utf8)
                    )
                    throw ExitCode(ExitCodes.badInput)
                }
            }
            let q = last?["q"] as? Double ?? 0
            let notPrivate = p.enabled && p.noise == .reproducible
            // PLD, a second accountant beside RDP: per round when the ledger is short, else for
            // the total; its grid is planned from the whole ledger.
            var pldPerRound: [Double] = []
            var pldTotal: Double?
            if p.enabled && !ledger.isEmpty && !noPLD {
                var plan: [PLDAccountant.Event] = []  // runs of identical rounds, as composed below
                for e in ledger {
                    let eq = e["q"] as? Double ?? 0
                    let es = e["noise_multiplier"] as? Double ?? 1
                    if let l = plan.last, l.rate == eq, l.noiseMultiplier == es {
                        plan[plan.count - 1].count += 1
                    } else {
                        plan.append((eq, es, 1))
                    }
                }
                var acc = PLDAccountant(planning: plan)
                let perRound = ledger.count <= 200
                var pending: (q: Double, σ: Double, n: Int)?
                for e in ledger {
                    let eq = e["q"] as? Double ?? 0
                    let es = e["noise_multiplier"] as? Double ?? 1
                    if perRound {
                        acc.compose(rate: eq, noiseMultiplier: es)
                        pldPerRound.append(acc.epsilon(delta: p.delta))
                    } else if let pd = pending, pd.q == eq, pd.σ == es {
                        pending = (eq, es, pd.n + 1)
                    } else {
                        if let pd = pending { acc.compose(rate: pd.q, noiseMultiplier: pd.σ, count: pd.n) }
                        pending = (eq, es, 1)
                    }
                }
                if let pd = pending { acc.compose(rate: pd.q, noiseMultiplier: pd.σ, count: pd.n) }
                pldTotal = acc.epsilon(delta: p.delta)
            }
            let secure = scenario.secureAggregation.enabled

            var lines: [String] = []
            if notPrivate {
                lines.append(
                    "NOT PRIVATE: this run used reproducible (seeded) noise for debugging; the figures below describe the mechanism, not a guarantee."
                )
            }
            let guarantee: String
            if !p.enabled {
                guarantee =
                    "No differential-privacy guarantee: privacy.mechanism is none"
                    + (secure
                        ? " (secure aggregation hides individual updates from the coordinator, but the released model is not noised)."
                        : ".")
            } else {
                let realized = ledger.compactMap { $0["noise_multiplier"] as? Double }
                let sigmaText =
                    p.mechanism == .distributed
                    ? "realized noise multiplier σ ≥ \(formatFixed(realized.min() ?? p.noiseMultiplier, 3)) (target \(p.noiseMultiplier))"
                    : "noise multiplier σ=\(p.noiseMultiplier)"
                let trust =
                    p.mechanism == .distributed
                    ? "distributed discrete Gaussian: each device adds its share of the noise before SecAgg+ masking, so the coordinator "
                        + "sees only the noised sum; devices trusted to add their noise (a device's own noise is not counted towards its own protection)."
                    : "coordinator trusted to add the noise (central DP)"
                        + (secure
                            ? "; SecAgg+ hides individual updates from the coordinator, which sees only the sum it noises."
                            : ".")
                let released = modelNotes.released
                guarantee =
                    "(ε=\(formatFixed(eps, 2)), δ=\(p.delta)) user-level DP for the shared model "
                    + "(\(released)) after \(rounds) rounds, Poisson sampling q=\(formatFixed(q, 4)), "
                    + "\(sigmaText), clip C=\(p.clip), RDP accountant (optimal order \(order))"
                    + (pldTotal.map { ", PLD accountant ε=\(FedSimCommand.Privacy.epsilonText($0, 2))" } ?? "") + "; "
                    + trust
            }
            lines.append(guarantee)
            if let auditLine { lines.append(auditLine) }
            let unamplified = Self.unamplified(p, ledger: ledger, summary: summary)
            if let u = unamplified {
                lines.append(
                    "without amplification: ε=\(FedSimCommand.Privacy.epsilonText(u.epsilon, 2)) at δ=\(p.delta) after the most sampled "
                        + "device's \(u.participations) participations (q = 1 each, σ=\(formatFixed(u.sigma, 3)), RDP), "
                        + "against \(u.against)"
                )
            }
            if p.budget.epsilon > 0 {
                lines.append(
                    "budget: ε ≤ \(p.budget.epsilon) at δ = \(p.delta)"
                        + (summary?.stoppedEarly.map { "; the run stopped early: \($0)" }
                            ?? "; not reached")
                )
            }
            lines.append(
                "accountant: \(FedSimCommand.Privacy.accountantDescription); sampling assumption: Poisson (checked against the run's sampler at load time)"
            )
            if noPLD {
                lines.append("PLD accountant (second opinion): skipped (--no-pld)")
            } else {
                lines.append(
                    "PLD accountant (second opinion; the guarantee's ε is RDP's"
                        + (pldTotal.map { ", PLD's is " + FedSimCommand.Privacy.comparison(pld: $0, rdp: eps) } ?? "")
                        + "): \(FedSimCommand.Privacy.pldDescription)"
                )
            }
            if !ledger.isEmpty {
                lines.append("")
                lines.append("round      q        σ     clip  sampled   ε (RDP)   order   ε (PLD)")
                for (idx, e) in ledger.enumerated() {
                    func d(_ k: String) -> Double { e[k] as? Double ?? .nan }
                    let pldCell =
                        idx < pldPerRound.count
                        ? "  " + FedSimCommand.Privacy.epsilonText(pldPerRound[idx], 4) : "  (total only)"
                    let r = e["round"] as? Int ?? 0
                    let n = e["sampled"] as? Int ?? 0
                    lines.append(
                        String(repeating: " ", count: max(0, 5 - String(r).count))
                            + "\(r)  \(formatFixed(d("q"), 4))  \(formatFixed(d("noise_multiplier"), 3))  \(formatFixed(d("clip"), 2))  "
                            + String(repeating: " ", count: max(0, 7 - String(n).count))
                            + "\(n)  \(formatFixed(d("epsilon_rdp"), 4))  \(formatFixed(d("rdp_order"), 1))" + pldCell
                    )
                }
            }
            var notCovered = [
                "personal parameters (\(modelNotes.personal)) never leave the device and are not part of the guarantee",
                "evaluation metrics (RMSE, HR@K, …) and the per-round training loss and example counts are released without noise",
                "per-round participation counts (the `sampled` column) are released without noise",
                "hyperparameters chosen by looking at results are not accounted",
            ]
            if scenario.evaluation.coldStart.enabled {
                notCovered.append(
                    "cold-start results (per k or period) are released without noise; devices adapt on their own data, which never leaves them"
                )
            }
            if scenario.evaluation.cohorts {
                notCovered.append(
                    "per-cohort metrics are released without noise, and devices send their profile features with evaluation results to form demographic cohorts"
                )
            }
            notCovered += modelNotes.notCovered
            notCovered += Self.sampleAndTrustNotes(scenario)
            lines.append("")
            lines.append("not covered:")
            for n in notCovered { lines.append("- " + n) }

            if json {
                var o = JSONObject()
                o.add("private", p.enabled && !notPrivate ? "yes" : "no")
                o.add("guarantee", guarantee)
                o.add("mechanism", p.mechanism.rawValue)
                o.add("epsilon", raw: FedSimCommand.Privacy.epsilonJSON(p.enabled ? eps : .infinity))
                o.add("delta", p.delta)
                o.add("rdp_order", order)
                o.add("rounds", rounds)
                o.add("sampling", scenario.training.sampling.kind.rawValue)
                o.add("noise", p.noise.rawValue)
                o.add("accountant", FedSimCommand.Privacy.accountantDescription)
                if let auditLine { o.add("audit", auditLine) }
                if let pldTotal { o.add("epsilon_pld", raw: FedSimCommand.Privacy.epsilonJSON(pldTotal)) }
                if let u = unamplified {
                    var w = JSONObject()
                    w.add("epsilon", raw: FedSimCommand.Privacy.epsilonJSON(u.epsilon))
                    w.add("participations", u.participations)
                    w.add("noise_multiplier", u.sigma)
                    w.add("against", u.against)
                    o.add("without_amplification", w)
                }
                o.add(
                    "pld_per_round",
                    raw: "[" + pldPerRound.map(FedSimCommand.Privacy.epsilonJSON).joined(separator: ",") + "]"
                )
                o.add("ledger", raw: "[" + ledgerText.split(separator: "\n").joined(separator: ",") + "]")
                o.add("not_covered", raw: "[" + notCovered.map { JSONObject.quote($0) }.joined(separator: ",") + "]")
                print(o.text)
            } else {
                print(lines.joined(separator: "\n"))
            }
        }
    }
}
