import FedSimConfig
import FedSimRuntime
import Testing

/// Early stopping's rule on its own: best value, patience, min_delta, direction.
@Suite struct ValidationTrackerTests {
    /// Feeds (round, value) pairs; returns which ones counted as a new best.
    func feed(_ t: inout ValidationTracker, _ values: [(Int, Double)]) -> [Bool] {
        values.map { t.observe(round: $0.0, value: $0.1) }
    }

    @Test func lowerIsBetterForRMSEAndPatienceCountsEvaluations() {
        var c = EarlyStoppingConfig()
        c.patience = 2
        c.minDelta = 0.01
        var t = ValidationTracker(c)
        // 0.995 is better, but not by more than min_delta; NaN (a diverged model) never improves.
        #expect(feed(&t, [(5, 1.0), (10, 0.995)]) == [true, false])
        #expect(!t.exhausted)
        #expect(feed(&t, [(15, 0.98)]) == [true])
        #expect(t.bestRound == 15 && t.sinceBest == 0)
        #expect(feed(&t, [(20, .nan), (25, 0.99)]) == [false, false])
        #expect(t.exhausted && t.bestRound == 15 && t.bestValue == 0.98 && t.lastValue == 0.99)
    }

    @Test func higherIsBetterForRankingMetrics() {
        var c = EarlyStoppingConfig()
        c.metric = .ndcgSampled
        var t = ValidationTracker(c)
        #expect(feed(&t, [(1, .nan)]) == [false])  // nothing finite yet: no best
        #expect(t.bestRound == nil)
        #expect(feed(&t, [(2, 0.2), (3, 0.1), (4, 0.3)]) == [true, false, true])
        #expect(t.bestRound == 4)
    }
}
