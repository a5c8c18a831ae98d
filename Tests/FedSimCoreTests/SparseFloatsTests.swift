import FedSimCore
import Testing

/// `SparseFloats`: runs of the entries that are not +0.0, and back to exactly the same vector.
@Suite struct SparseFloatsTests {
    /// An MF-shaped update: a few scattered rows of 16 touched, the rest +0.0, and some
    /// awkward values inside touched rows (a -0.0, an exact 0, a NaN bit pattern).
    static func mfLike(seed: UInt64, rows: Int = 200, dim: Int = 16, touched: Int = 12) -> [Float] {
        var rng = Xoshiro256(seed: seed)
        var v = [Float](repeating: 0, count: rows * dim + rows + 1)
        for _ in 0..<touched {
            let r = rng.nextBounded(rows)
            for f in 0..<dim { v[r * dim + f] = Float(rng.nextGaussian()) }
            v[rows * dim + r] = Float(rng.nextGaussian())
        }
        v[rows * dim + rows] = 0.25
        return v
    }

    func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    @Test func denseRoundTripIsBitExact() {
        for seed in 0..<20 as Range<UInt64> {
            var v = Self.mfLike(seed: seed)
            v[7] = -0.0
            v[11] = .nan
            let s = SparseFloats(dense: v)
            #expect(bits(s.dense()) == bits(v))
            #expect(s.count == v.count)
        }
        #expect(SparseFloats(dense: []).dense().isEmpty)
        #expect(SparseFloats(dense: [0, 0, 0]).presentCount == 0)
        #expect(bits(SparseFloats(dense: [-0.0]).dense()) == bits([-0.0]))
    }

    /// Rows become runs; gaps of one or two zeros stay inside a run, three split it.
    @Test func runsAndMerging() {
        let s = SparseFloats(dense: [0, 1, 2, 0, 3, 0, 0, 4, 0, 0, 0, 5, 0])
        #expect(s.starts == [1, 11])
        #expect(s.lengths == [7, 1])
        #expect(s.values == [1, 2, 0, 3, 0, 0, 4, 5])
        var seen: [Int] = []
        s.forEachPresent { i, _ in seen.append(i) }
        #expect(seen == [1, 2, 3, 4, 5, 6, 7, 11])
    }

    /// The worst case for runs (isolated entries three apart, or alternating) is never larger
    /// on the wire (8 bytes a run, 4 a value) than the dense vector plus one run.
    @Test func neverLargerThanDense() {
        for pattern in [[1, 0], [1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0, 0], [1]] {
            let v = (0..<999).map { Float(pattern[$0 % pattern.count]) }
            let s = SparseFloats(dense: v)
            #expect(8 * s.starts.count + 4 * s.values.count <= 4 * v.count + 8, "\(pattern)")
            #expect(bits(s.dense()) == bits(v))
        }
    }

    @Test func malformedRunsAreRefused() {
        func refused(_ starts: [UInt32], _ lengths: [UInt32], _ n: Int, count: Int = 10) -> Bool {
            (try? SparseFloats(count: count, starts: starts, lengths: lengths, values: [Float](repeating: 1, count: n)))
                == nil
        }
        #expect(refused([0], [], 0))  // counts differ
        #expect(refused([2], [0], 0))  // empty run
        #expect(refused([0, 2], [3, 1], 4))  // overlap
        #expect(refused([0, 3], [3, 1], 4))  // touching
        #expect(refused([8], [3], 3))  // past the end
        #expect(refused([0], [3], 2))  // values short
        #expect(refused([5, 1], [1, 1], 2))  // out of order
        #expect(!refused([0, 4], [3, 6], 9))
    }
}
