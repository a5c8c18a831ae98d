import ArgumentParser
import FedSimCore
import FedSimPrivacy
import FedSimRuntime
import Foundation

extension FedSimCommand {
    struct Privacy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Privacy accounting: compute ε for a plan, or calibrate the noise for a budget.",
            subcommands: [Compute.self, Calibrate.self, Report.self, Audit.self]
        )

        static let accountantDescription =
            "RDP accountant of the Poisson-subsampled Gaussian (Mironov et al. 2019), add-or-remove-one neighbouring, "
            + "dp_accounting's default orders (1.1–10.9 by 0.1, 11–63, 128, 256, 512, 1024), "
            + "conversion of Canonne–Kamath–Steinke 2020 Prop. 12"

        static let pldDescription =
            "PLD accountant of the Poisson-subsampled Gaussian, add-or-remove-one (max of both directions), "
            + "pessimistic connect-the-dots discretisation on a grid sized to the plan (about 2^18 points across the composed loss), "
            + "FFT self-composition with 1e-15 pessimistic tail truncation (dp_accounting's PLDAccountant algorithm)"

        /// The largest noise multiplier a scenario accepts (`privacy.noise_multiplier`).
        static let maximumNoiseMultiplier = 90.0

        /// ε for people: "∞" when unbounded (σ = 0, or δ below the mass at infinite loss).
        static func epsilonText(_ x: Double, _ digits: Int) -> String { x == .infinity ? "∞" : formatFixed(x, digits) }

        /// ε for scripts: the number, or the string "inf" when unbounded (never `null`; docs/privacy.md).
        static func epsilonJSON(_ x: Double) -> String { x.isFinite ? "\(x)" : (x > 0 ? "\"inf\"" : "null") }

        /// How two opinions compare, said only after comparing them.
        static func comparison(pld: Double, rdp: Double) -> String {
            pld < rdp
                ? "below RDP's \(epsilonText(rdp, 4))"
                : pld > rdp ? "above RDP's \(epsilonText(rdp, 4))" : "equal to RDP's"
        }

        struct Compute: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract:
                    "ε spent by T rounds of Poisson sampling at rate q with noise multiplier σ (like TensorFlow Privacy's compute_dp_sgd_privacy)."
            )

            @Option(help: "Poisson sampling rate q per round, in [0, 1].") var rate: Double
            @Option(help: "Noise multiplier σ (noise std / clipping norm), ≥ 0.") var noise: Double
            @Option(help: "Number of rounds T.") var steps: Int
            @Option(help: "Target δ.") var delta: Double = 1e-5
            @Flag(help: "Print JSON for scripts.") var json = false
            @Flag(name: .customLong("no-pld"), help: "Skip the PLD accountant.") var noPLD = false

            func validate() throws {
                guard (0...1).contains(rate) else { throw ValidationError("--rate must be in [0, 1]") }
                guard noise >= 0 else { throw ValidationError("--noise must be ≥ 0") }
                guard steps >= 0 else { throw ValidationError("--steps must be ≥ 0") }
                guard delta > 0 && delta < 1 else { throw ValidationError("--delta must be in (0, 1)") }
            }

            func run() throws {
                var acc = RDPAccountant()
                acc.compose(rate: rate, noiseMultiplier: noise, count: steps)
                let (eps, order) = acc.epsilon(delta: delta)
                var pldEps: Double?
                var pldGrid: Double?  // nil when there is no grid: ε = ∞ for σ = 0
                if !noPLD && steps > 0 {
                    var p = PLDAccountant(planning: [(rate, noise, steps)])
                    p.compose(rate: rate, noiseMultiplier: noise, count: steps)
                    pldGrid = p.unbounded ? nil : p.h
                    pldEps = p.epsilon(delta: delta)
                }
                if json {
                    var rdp = JSONObject()
                    rdp.add("epsilon", raw: Privacy.epsilonJSON(eps))
                    rdp.add("order", order)
                    var o = JSONObject()
                    o.add("rate", rate)
                    o.add("noise_multiplier", noise)
                    o.add("steps", steps)
                    o.add("delta", delta)
                    o.add("sampling", "poisson")
                    o.add("rdp", raw: rdp.text)
                    o.add("accountant", Privacy.accountantDescription)
                    if let pldEps {
                        var p = JSONObject()
                        p.add("epsilon", raw: Privacy.epsilonJSON(pldEps))
                        if let pldGrid { p.add("discretization", pldGrid) }
                        p.add("accountant", Privacy.pldDescription)
                        o.add("pld", p)
                    } else {
                        o.add("pld", raw: "null")
                    }
                    print(o.text)
                } else {
                    print(
                        "RDP accountant: (ε = \(Privacy.epsilonText(eps, 4)), δ = \(delta)) for \(steps) rounds of Poisson sampling at q = \(rate) with noise multiplier σ = \(noise)"
                    )
                    print("optimal RDP order: \(order)")
                    if let pldEps {
                        print(
                            "PLD accountant: ε = \(Privacy.epsilonText(pldEps, 4))"
                                + (pldGrid.map { " (grid h = \($0))" } ?? "")
                                + ", \(Privacy.comparison(pld: pldEps, rdp: eps))"
                        )
                    }
                    print("accountant: \(Privacy.accountantDescription)")
                }
            }
        }

        struct Calibrate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "The smallest noise multiplier σ whose T rounds at rate q stay within (ε, δ)."
            )

            @Option(help: "Privacy budget ε.") var epsilon: Double
            @Option(help: "Target δ.") var delta: Double = 1e-5
            @Option(help: "Number of rounds T.") var rounds: Int
            @Option(help: "Poisson sampling rate q per round.") var rate: Double
            @Flag(help: "Print JSON for scripts.") var json = false

            func validate() throws {
                guard epsilon > 0 else { throw ValidationError("--epsilon must be > 0") }
                guard (0...1).contains(rate) && rate > 0 else { throw ValidationError("--rate must be in (0, 1]") }
                guard rounds > 0 else { throw ValidationError("--rounds must be > 0") }
                guard delta > 0 && delta < 1 else { throw ValidationError("--delta must be in (0, 1)") }
            }

            func run() throws {
                // Only a σ a scenario can use is an answer (privacy.noise_multiplier ≤ 90).
                guard let σ = RDPAccountant.calibrate(epsilon: epsilon, delta: delta, rounds: rounds, rate: rate),
                    σ <= Privacy.maximumNoiseMultiplier
                else {
                    FileHandle.standardError.write(
                        Data(
                            "fedsim: no noise multiplier up to \(Int(Privacy.maximumNoiseMultiplier)) (the most privacy.noise_multiplier accepts) meets ε = \(epsilon), δ = \(delta) over \(rounds) rounds at q = \(rate)\n"
                                .utf8
                        )
                    )
                    throw ExitCode(ExitCodes.runFailed)
                }
                var acc = RDPAccountant()
                acc.compose(rate: rate, noiseMultiplier: σ, count: rounds)
                let (eps, order) = acc.epsilon(delta: delta)
                if json {
                    var o = JSONObject()
                    o.add("noise_multiplier", σ)
                    o.add("epsilon", eps)
                    o.add("order", order)
                    o.add("delta", delta)
                    o.add("rounds", rounds)
                    o.add("rate", rate)
                    o.add("accountant", Privacy.accountantDescription)
                    print(o.text)
                } else {
                    print(
                        "noise multiplier σ = \(formatFixed(σ, 4)) gives ε = \(formatFixed(eps, 4)) (order \(order)) at δ = \(delta) over \(rounds) rounds at q = \(rate)"
                    )
                    print("accountant: \(Privacy.accountantDescription)")
                }
            }
        }
    }
}
