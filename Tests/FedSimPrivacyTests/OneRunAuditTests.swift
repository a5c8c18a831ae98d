import FedSimCore
import Foundation
import Testing

@testable import FedSimPrivacy

/// The one-run audit's statistics against values from scipy (`scipy.stats.binom`, 1.17) of the
/// formula of Steinke, Nasr, Jagielski 2023 (Theorem 5.2), computed independently in Python.
@Suite struct OneRunAuditTests {
    @Test(arguments: [
        (1000, 100, 90, 1.0, 1e-5, 0.0008412885614385305),
        (1000, 600, 600, 2.0, 1e-5, 0.00022547117595454803),
        (100, 50, 30, 0.5, 0.0, 0.6851519669648669),
        (10000, 2000, 1400, 0.8, 1e-6, 0.17269923715340552),
    ])
    func pValueMatchesScipy(m: Int, r: Int, v: Int, epsilon: Double, delta: Double, expected: Double) {
        let p = OneRunAudit.pValue(canaries: m, guesses: r, correct: v, epsilon: epsilon, delta: delta)
        #expect(abs(p - expected) <= 1e-9 + 1e-7 * expected, "\(p) vs \(expected)")
    }

    @Test(arguments: [
        (1000, 100, 100, 1e-5, 0.05, 3.4653763473033905),
        (1000, 600, 600, 1e-5, 0.05, 5.270399463362992),
        (1000, 200, 150, 1e-6, 0.005, 0.6767697874456644),
        (100, 10, 10, 0.0, 0.05, 1.0518732331693172),
        (1000, 500, 260, 1e-5, 0.05, 0.0),
    ])
    func lowerBoundMatchesScipy(m: Int, r: Int, v: Int, delta: Double, beta: Double, expected: Double) {
        let e = OneRunAudit.epsilonLowerBound(canaries: m, guesses: r, correct: v, delta: delta, beta: beta)
        #expect(abs(e - expected) < 1e-5, "\(e) vs \(expected)")
    }

    /// Perfect guesses give a large bound, chance-level guesses none, and the bound grows with
    /// the evidence.
    @Test func theBoundFollowsTheEvidence() {
        let m = 1000
        let chance = OneRunAudit.epsilonLowerBound(canaries: m, guesses: 200, correct: 100, delta: 1e-6, beta: 0.05)
        let good = OneRunAudit.epsilonLowerBound(canaries: m, guesses: 200, correct: 170, delta: 1e-6, beta: 0.05)
        let perfect = OneRunAudit.epsilonLowerBound(canaries: m, guesses: 200, correct: 200, delta: 1e-6, beta: 0.05)
        #expect(chance == 0)
        #expect(good > 0.5 && good < perfect)
    }

    /// ε-DP randomized response on each canary's bit is the worst case the theorem is built
    /// on: its audit bound must stay below ε, and come reasonably close to it with many canaries.
    @Test func randomizedResponseIsBoundedByItsEpsilon() {
        let epsilon = 2.0
        let m = 20_000
        var rng = Xoshiro256(seed: 3)
        let keep = exp(epsilon) / (1 + exp(epsilon))
        var included: [Bool] = []
        var scores: [Double] = []
        for _ in 0..<m {
            let s = rng.nextUnitDouble() < 0.5
            let reported = rng.nextUnitDouble() < keep ? s : !s
            included.append(s)
            scores.append((reported ? 1 : 0) + rng.nextUnitDouble() * 1e-3)  // ties broken at random
        }
        let r = OneRunAudit.audit(scores: scores, included: included, delta: 0, beta: 0.05)
        #expect(r.epsilonLowerBound <= epsilon, "\(r)")
        #expect(r.epsilonLowerBound > 1.5, "\(r)")
    }

    @Test func guessSetsAreFixedFractionsOfTheCanaries() {
        let g = OneRunAudit.candidateGuesses(canaries: 1000)
        #expect(g.count == 10)
        #expect(g.first == .init(positives: 10, negatives: 0))
        #expect(g.last == .init(positives: 250, negatives: 250))
        #expect(OneRunAudit.candidateGuesses(canaries: 20).allSatisfy { $0.positives >= 1 })
    }
}
