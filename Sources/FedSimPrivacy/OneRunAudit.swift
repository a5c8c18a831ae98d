import Foundation

/// One-run privacy auditing (Steinke, Nasr, Jagielski, "Privacy Auditing with One (1) Training
/// Run", NeurIPS 2023): an empirical *lower* bound on ε from a single run.
///
/// m canaries are each included independently with probability ½ (S_j ∈ {−1, +1}). After the
/// run, an auditor scores every canary, guesses "included" for the r₊ highest scores and
/// "excluded" for the r₋ lowest, and counts the v correct guesses out of r = r₊ + r₋. If the
/// mechanism is (ε, δ)-DP in each canary, v is dominated by Binomial(r, eᵋ/(1 + eᵋ)) up to a
/// δ term (their Theorem 5.2), so a v that would be improbable under the claimed ε is evidence
/// against the claim. The largest ε rejected at level β is the lower bound; it must stay below
/// the ε the run reports, or the implementation (or its analysis) is wrong.
///
/// Why guesses at several counts, and Bonferroni: the best r₊ is not known in advance, and
/// picking it after seeing the scores would invalidate the test; each of k candidate guess
/// sets is tested at β/k, so the reported bound holds at confidence 1 − β overall.
public enum OneRunAudit {
    /// P[v or more correct of r guesses] if the mechanism were (ε, δ)-DP in each of m canaries:
    /// P[Binomial(r, p) ≥ v] + 2mδ·max_{1 ≤ i ≤ v} P[v − i ≤ Binomial(r, p) < v] / i, with
    /// p = eᵋ/(1 + eᵋ) (Theorem 5.2 of the paper; the δ term is its α·2mδ).
    public static func pValue(canaries m: Int, guesses r: Int, correct v: Int, epsilon: Double, delta: Double) -> Double
    {
        precondition(0 <= v && v <= r && r <= m && epsilon >= 0 && delta >= 0)
        let p = 1 / (1 + exp(-epsilon))
        let tail = binomialTail(atLeast: v, trials: r, p: p)
        var alpha = 0.0
        var below = 0.0
        if delta > 0 {
            for i in stride(from: 1, through: v, by: 1) {
                below += binomialPMF(v - i, trials: r, p: p)
                alpha = max(alpha, below / Double(i))
            }
        }
        return min(1, tail + alpha * 2 * Double(m) * delta)
    }

    /// The largest ε (to 1e-6) that v correct guesses of r reject at level β: the mechanism
    /// is not (ε, δ)-DP for any smaller ε, with confidence 1 − β. 0 when nothing is rejected.
    public static func epsilonLowerBound(
        canaries m: Int,
        guesses r: Int,
        correct v: Int,
        delta: Double,
        beta: Double
    )
        -> Double
    {
        guard r > 0 else { return 0 }
        func rejects(_ e: Double) -> Bool {
            pValue(canaries: m, guesses: r, correct: v, epsilon: e, delta: delta) < beta
        }
        guard rejects(0) else { return 0 }
        var lo = 0.0
        var hi = 1.0
        while rejects(hi) {
            lo = hi
            hi *= 2
            if hi > 1e3 { return lo }
        }
        while hi - lo > 1e-6 {
            let mid = (lo + hi) / 2
            if rejects(mid) { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// One candidate guess: the r₊ highest scores guessed in, the r₋ lowest guessed out.
    public struct Guess: Sendable, Equatable, Codable {
        public var positives: Int
        public var negatives: Int
        public init(positives: Int, negatives: Int) {
            self.positives = positives
            self.negatives = negatives
        }
    }

    /// The guess sets tried for m canaries: r₊ ∈ {1%, 2%, 5%, 10%, 25%} of m, each alone and
    /// with as many negatives; sizes below 1 are dropped. Fixed before any score is seen.
    public static func candidateGuesses(canaries m: Int) -> [Guess] {
        var out: [Guess] = []
        for fraction in [0.01, 0.02, 0.05, 0.1, 0.25] {
            let k = Int((Double(m) * fraction).rounded(.down))
            guard k >= 1 else { continue }
            out.append(Guess(positives: k, negatives: 0))
            out.append(Guess(positives: k, negatives: k))
        }
        return out
    }

    public struct Result: Sendable, Equatable, Codable {
        public var canaries: Int
        public var included: Int
        /// The guess set that gave the bound, and its correct count.
        public var guess: Guess
        public var correct: Int
        public var guessSetsTried: Int
        public var beta: Double
        public var delta: Double
        /// ε lower bound at confidence 1 − β (Bonferroni over the guess sets).
        public var epsilonLowerBound: Double
    }

    /// Scores canaries (higher = more likely included), tries every candidate guess set at
    /// β / (number of sets), and keeps the largest bound.
    public static func audit(scores: [Double], included: [Bool], delta: Double, beta: Double) -> Result {
        precondition(scores.count == included.count)
        let m = scores.count
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        let guesses = candidateGuesses(canaries: m)
        let level = beta / Double(max(1, guesses.count))
        // Starts below any bound, so the first guess set is kept; with none, the bound is 0.
        var best = Result(
            canaries: m,
            included: included.filter { $0 }.count,
            guess: Guess(positives: 0, negatives: 0),
            correct: 0,
            guessSetsTried: guesses.count,
            beta: beta,
            delta: delta,
            epsilonLowerBound: -1
        )
        for g in guesses {
            let top = order.prefix(g.positives).filter { included[$0] }.count
            let bottom = order.suffix(g.negatives).filter { !included[$0] }.count
            let v = top + bottom
            let e = epsilonLowerBound(
                canaries: m,
                guesses: g.positives + g.negatives,
                correct: v,
                delta: delta,
                beta: level
            )
            if e > best.epsilonLowerBound {
                best.guess = g
                best.correct = v
                best.epsilonLowerBound = e
            }
        }
        best.epsilonLowerBound = max(0, best.epsilonLowerBound)
        return best
    }

    // MARK: Binomial in log space (r up to millions without overflow)

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n) + 1) - lgamma(Double(k) + 1) - lgamma(Double(n - k) + 1)
    }

    static func binomialPMF(_ k: Int, trials n: Int, p: Double) -> Double {
        guard k >= 0 && k <= n else { return 0 }
        if p >= 1 { return k == n ? 1 : 0 }
        if p <= 0 { return k == 0 ? 1 : 0 }
        return exp(logChoose(n, k) + Double(k) * log(p) + Double(n - k) * log1p(-p))
    }

    /// P[Binomial(n, p) ≥ k], summed from the smaller side for accuracy.
    static func binomialTail(atLeast k: Int, trials n: Int, p: Double) -> Double {
        if k <= 0 { return 1 }
        if k > n { return 0 }
        let mean = Double(n) * p
        if Double(k) > mean {
            var s = 0.0
            for i in k...n { s += binomialPMF(i, trials: n, p: p) }
            return min(1, s)
        }
        var below = 0.0
        for i in 0..<k { below += binomialPMF(i, trials: n, p: p) }
        return max(0, 1 - below)
    }
}
