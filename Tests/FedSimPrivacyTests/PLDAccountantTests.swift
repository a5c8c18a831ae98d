import FedSimPrivacy
import Foundation
import Testing

/// The PLD accountant against dp_accounting's PLDAccountant (1e-4 grid, connect the dots).
/// The debug-build suite runs the cases marked "quick" (FEDSIM_PLD_ALL=1 runs all, slowly); `make crosscheck`
/// runs every case with the release binary (`fedsim-bench pld-check`).
@Suite struct PLDAccountantTests {
    struct Case: Decodable {
        var events: [[Double]]
        var delta: Double
        var epsilon: Double
        var quick: Bool
    }
    struct Vectors: Decodable { var pld: [Case] }

    @Test func matchesDPAccountingWithinOnePercent() throws {
        let path = ProcessInfo.processInfo.environment["FEDSIM_DP_VECTORS"]
            ?? (#filePath as NSString).deletingLastPathComponent + "/dp_accounting_vectors.json"
        let all = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: URL(fileURLWithPath: path))).pld
        let runAll = ProcessInfo.processInfo.environment["FEDSIM_PLD_ALL"] == "1"
        let cases = all.filter { runAll || $0.quick }
        #expect(cases.count >= 10)
        for c in cases {
            var acc = PLDAccountant()
            for e in c.events { acc.compose(rate: e[0], noiseMultiplier: e[1], count: Int(e[2])) }
            let eps = acc.epsilon(delta: c.delta)
            // The issue asks for 1%; connect-the-dots on the same grid agrees to about 1e-6.
            #expect(abs(eps - c.epsilon) / c.epsilon < 1e-4, "events \(c.events): ours \(eps), dp_accounting \(c.epsilon)")
        }
    }

    @Test func pldIsNeverLooserThanRDP() {
        // PLD is the tighter opinion: on the same mechanism its ε is at most RDP's.
        for (q, σ, t) in [(0.01, 1.0, 10), (0.1, 2.0, 10), (0.05, 1.5, 20)] {
            var p = PLDAccountant(), r = RDPAccountant()
            p.compose(rate: q, noiseMultiplier: σ, count: t)
            r.compose(rate: q, noiseMultiplier: σ, count: t)
            #expect(p.epsilon(delta: 1e-5) <= r.epsilon(delta: 1e-5).epsilon)
        }
    }

    @Test func gaussianWithoutSamplingMatchesTheAnalyticCurve() {
        // q = 1: the Gaussian mechanism's exact ε(δ) (Balle & Wang 2018) solves
        // δ = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ); check the PLD's ε reproduces δ.
        var p = PLDAccountant()
        p.compose(rate: 1, noiseMultiplier: 2, count: 1)
        let eps = p.epsilon(delta: 1e-5)
        func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
        let σ = 2.0
        let delta = phi(1 / (2 * σ) - eps * σ) - exp(eps) * phi(-1 / (2 * σ) - eps * σ)
        #expect(abs(delta - 1e-5) / 1e-5 < 1e-3, "δ at the PLD's ε: \(delta)")
    }
}
