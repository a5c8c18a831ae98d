import ArgumentParser
import FedSimConfig
import FedSimCore
import FedSimRuntime
import Foundation

extension FedSimCommand.Privacy {
    /// `fedsim privacy audit SCENARIO`: runs a DP scenario with one-run audit canaries and
    /// sets the empirical lower bound on ε beside the ε the run claims.
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a DP scenario with audit canaries: an empirical lower bound on ε beside the claimed ε.",
            discussion: """
                One-run auditing (Steinke, Nasr, Jagielski 2023): gradient canaries, each included with \
                probability 1/2 and Poisson-sampled like a device, join the clipped sum; the run scores them \
                against the released noisy sums. Exits 0 when the lower bound is at most the claimed ε, 1 when \
                it exceeds it (the claim is false) or the run failed, 2 for an invalid scenario. The run \
                directory is the last line of standard output; its privacy-audit.json holds the details.
                """
        )

        @OptionGroup var options: ScenarioOptions
        @Option(help: "Number of canaries m (each included with probability 1/2).") var canaries: Int = 1000
        @Option(help: "Confidence of the lower bound, 1 − β.") var confidence: Double = 0.95
        @Option(help: "Parent folder for the run directory.") var out: String = "runs"
        @Flag(help: "No progress display.") var quiet = false
        @Flag(help: "Print one Markdown table row (for `make privacy-audit`) instead of prose.") var markdown = false

        func run() throws {
            guard canaries >= 20 && canaries <= 1_000_000 else {
                throw ValidationError("--canaries must be between 20 and 1000000")
            }
            var withAudit = options
            withAudit.overrides += ["privacy.audit.canaries=\(canaries)", "privacy.audit.confidence=\(confidence)"]
            let scenario = try withAudit.load()
            var launcher = Launcher(scenario: scenario, outParent: out, binDirectory: Launcher.ownBinDirectory())
            launcher.showProgress = !quiet
            let result: Launcher.Result
            do { result = try launcher.launch() } catch {
                FileHandle.standardError.write(Data("fedsim: \(error)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            guard result.exitCode == 0,
                let text = try? result.directory.read("privacy-audit.json"),
                let a = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let lower = a["epsilon_lower_bound"] as? Double, let claimed = a["claimed_epsilon"] as? Double
            else {
                FileHandle.standardError.write(
                    Data("fedsim: the audit run did not finish: \(result.error ?? "no privacy-audit.json")\n".utf8)
                )
                print(result.directory.path)
                throw ExitCode(ExitCodes.runFailed)
            }
            let consistent = lower <= claimed
            if markdown {
                print(Self.row(scenario, a, consistent: consistent))
            } else {
                print(Self.prose(scenario, a, consistent: consistent))
            }
            print(result.directory.path)
            if !consistent { throw ExitCode(ExitCodes.runFailed) }
        }

        static func prose(_ s: Scenario, _ a: [String: Any], consistent: Bool) -> String {
            func d(_ k: String) -> Double { a[k] as? Double ?? .nan }
            func i(_ k: String) -> Int { a[k] as? Int ?? 0 }
            return [
                "privacy audit of \(s.name) (\(s.privacy.mechanism.rawValue) DP, σ = \(s.privacy.noiseMultiplier), \(i("rounds_audited")) rounds):",
                "  claimed:      ε = \(formatFixed(d("claimed_epsilon"), 3)) at δ = \(s.privacy.delta) (\(a["claimed_by"] as? String ?? ""))",
                "  empirical:    ε ≥ \(formatFixed(d("epsilon_lower_bound"), 3)) at \(formatFixed(d("confidence") * 100, 0))% confidence",
                "  evidence:     \(i("canaries")) canaries, \(i("included")) included, \(i("canary_contributions")) contributions; "
                    + "best of \(i("guess_sets_tried")) guess sets (Bonferroni): top \(i("guess_positives")) in, "
                    + "bottom \(i("guess_negatives")) out, \(i("correct")) correct",
                "  adversary:    \(a["adversary"] as? String ?? ""); coins \(a["coins"] as? String ?? "")",
                consistent
                    ? "  verdict:      consistent (the lower bound does not exceed the claim; it is a bound, not an estimate of ε)"
                    : "  verdict:      VIOLATION: the run leaks more than it claims; the noise or the accounting is wrong",
            ].joined(separator: "\n")
        }

        static func row(_ s: Scenario, _ a: [String: Any], consistent: Bool) -> String {
            func d(_ k: String) -> Double { a[k] as? Double ?? .nan }
            func i(_ k: String) -> Int { a[k] as? Int ?? 0 }
            let cells = [
                s.name, s.privacy.mechanism.rawValue, "\(s.privacy.noiseMultiplier)", "\(i("rounds_audited"))",
                "\(i("canaries"))", "\(i("canary_contributions"))",
                "top \(i("guess_positives")) / bottom \(i("guess_negatives")): \(i("correct")) correct",
                formatFixed(d("epsilon_lower_bound"), 3), formatFixed(d("claimed_epsilon"), 3),
                consistent ? "✔" : "✘ VIOLATION",
            ]
            return "| " + cells.joined(separator: " | ") + " |"
        }
    }
}
