import FedSimCore
import Testing

@Suite struct RandomTests {
    @Test func splitMixMatchesTheReferenceSequence() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var r = SplitMix64(seed: 0)
        #expect(r.next() == 0xE220_A839_7B1D_CDAF)
        #expect(r.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(r.next() == 0x06C4_5D18_8009_454F)
    }

    @Test func seedDerivationSeparatesStreams() {
        #expect(Seeds.derive(1, "sample", 3) == Seeds.derive(1, "sample", 3))
        let values = [
            Seeds.derive(1, "sample", 3), Seeds.derive(1, "sample", 4), Seeds.derive(2, "sample", 3),
            Seeds.derive(1, "split", 3), Seeds.derive(1, "sample", 3, 0), Seeds.derive(1, "sample", 3, 1),
        ]
        #expect(Set(values).count == values.count)
        // Tags hash with FNV-1a 64, stable across processes (reference value for "a").
        #expect(Seeds.tag("a") == 0xAF63_DC4C_8601_EC8C)
    }

    @Test func unitFloatsAreInRangeWithTheRightMean() {
        var r = Xoshiro256(seed: 11)
        var sum = 0.0
        for _ in 0..<100_000 {
            let f = r.nextUnitFloat()
            #expect(f >= 0 && f < 1)
            sum += Double(f)
        }
        #expect(abs(sum / 100_000 - 0.5) < 0.005)
    }

    @Test func gaussianMoments() {
        var r = Xoshiro256(seed: 5)
        let n = 200_000
        var s1 = 0.0
        var s2 = 0.0
        for _ in 0..<n {
            let x = r.nextGaussian()
            s1 += x
            s2 += x * x
        }
        #expect(abs(s1 / Double(n)) < 0.01)
        #expect(abs(s2 / Double(n) - 1) < 0.02)
    }

    @Test func gammaMean() {
        var r = Xoshiro256(seed: 6)
        for shape in [0.3, 1.0, 4.5] {
            var s = 0.0
            for _ in 0..<50_000 { s += r.nextGamma(shape: shape) }
            #expect(abs(s / 50_000 - shape) < 0.05 * max(1, shape), "shape \(shape)")
        }
    }

    @Test(arguments: [(5, 10), (3, 1000), (1000, 1000), (0, 4)])
    func samplingWithoutReplacementIsDistinctAndInRange(k: Int, n: Int) {
        var r = Xoshiro256(seed: UInt64(k * 7 + n))
        let s = r.sampleWithoutReplacement(k, from: n)
        #expect(s.count == k && Set(s).count == k && s.allSatisfy { $0 >= 0 && $0 < n })
    }

    @Test(arguments: [4, 100])  // dense (Fisher–Yates) and sparse (Floyd) paths
    func samplingIsUniform(k: Int) {
        var r = Xoshiro256(seed: 99)
        let n = 200
        let trials = 20_000
        var hits = [Int](repeating: 0, count: n)
        for _ in 0..<trials { for i in r.sampleWithoutReplacement(k, from: n) { hits[i] += 1 } }
        let expected = Double(trials * k) / Double(n)
        // Chi-square with 199 degrees of freedom: the 99.9th percentile is about 268.
        let chi2 = hits.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        #expect(chi2 < 268, "chi2 \(chi2)")
    }

    @Test func boundedIntegersCoverTheRange() {
        var r = Xoshiro256(seed: 1)
        var seen = Set<Int>()
        for _ in 0..<1_000 { seen.insert(r.nextBounded(7)) }
        #expect(seen == Set(0..<7))
    }
}

@Suite struct SecureRandomTests {
    @Test func bytesDifferAndHaveTheRightLength() {
        let a = SecureRandom.bytes(32)
        let b = SecureRandom.bytes(32)
        #expect(a.count == 32 && a != b)
        #expect(SecureRandom.bytes(0).isEmpty)
    }

    @Test func constantTimeEquality() {
        let a = SecureRandom.bytes(32)
        var b = a
        #expect(SecureRandom.constantTimeEqual(a, b))
        b[31] ^= 1
        #expect(!SecureRandom.constantTimeEqual(a, b))
        #expect(!SecureRandom.constantTimeEqual(a, Array(a.prefix(31))))
    }

    @Test func hexRoundTrips() {
        let a = SecureRandom.bytes(17)
        #expect(Hex.decode(Hex.encode(a)) == a)
        #expect(Hex.encode([0, 255, 16]) == "00ff10")
        #expect(Hex.decode("0g") == nil && Hex.decode("abc") == nil)
    }
}

@Suite struct ParameterLayoutTests {
    @Test func offsetsAndWeightSlots() {
        let l = ParameterLayout([
            TensorSpec(name: "rows", rows: 2, columns: 3, group: .shared, weighting: .perRow),
            TensorSpec(name: "bias", rows: 2, columns: 1, group: .shared, weighting: .perRow),
            TensorSpec(name: "mu", rows: 1, columns: 1, group: .shared),
            TensorSpec(name: "me", rows: 1, columns: 4, group: .personal),
        ])
        #expect(l.count == 13 && l.weightCount == 6)
        #expect(l.offsets == [0, 6, 8, 9] && l.weightOffsets == [0, 2, 4, 5])
        #expect(l.range(of: "bias") == 6..<8)
        #expect(Array(l.elementWeightSlots()[0..<9]) == [0, 0, 0, 1, 1, 1, 2, 3, 4])
        let shared = l.filter { $0.group.leavesDevice }
        #expect(shared.count == 9 && shared.index(of: "me") == nil)
        #expect(!ParameterGroup.personal.leavesDevice && ParameterGroup.domain("music").leavesDevice)
    }

    @Test func fixedFormatting() {
        #expect(formatFixed(3.14159, 2) == "3.14")
        #expect(formatFixed(-0.0004, 3) == "0.000")
        #expect(formatFixed(-2.5, 1) == "-2.5")
        #expect(formatFixed(.nan, 2) == "nan")
        #expect(formatFixed(12, 0) == "12")
    }
}
