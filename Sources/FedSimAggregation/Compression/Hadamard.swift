import FedSimCore

/// The fast Walsh–Hadamard transform, in place, on a power-of-two block, scaled by 1/√n so
/// it is its own inverse (H/√n is orthonormal and symmetric).
public enum Hadamard {
    public static func transform(_ v: inout [Float], offset: Int, count n: Int) {
        precondition(n > 0 && n & (n - 1) == 0)
        var h = 1
        v.withUnsafeMutableBufferPointer { b in
            while h < n {
                var i = 0
                while i < n {
                    for j in (offset + i)..<(offset + i + h) {
                        let a = b[j]
                        let c = b[j + h]
                        b[j] = a + c
                        b[j + h] = a - c
                    }
                    i += 2 * h
                }
                h *= 2
            }
            let s = 1 / Float(n).squareRoot()
            for j in offset..<(offset + n) { b[j] *= s }
        }
    }

    /// Random ±1 signs for a block (the D of HD), from a public seed: both ends derive them.
    public static func flipSigns(_ v: inout [Float], offset: Int, count n: Int, seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        var bits: UInt64 = 0
        for j in 0..<n {
            if j & 63 == 0 { bits = sm.next() }
            if bits & 1 == 1 { v[offset + j] = -v[offset + j] }
            bits >>= 1
        }
    }
}
