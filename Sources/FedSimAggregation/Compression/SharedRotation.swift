import FedSimCore

/// A randomized Hadamard rotation every device of a round applies with the same public seed,
/// so that it commutes with the secure sum: Σ R·x_d = R·Σ x_d, and the coordinator undoes it
/// on the sum. It spreads each update's large entries over the block, which shrinks the
/// per-element range the secure-sum quantizer has to cover (fewer clips at a given width).
/// Full power-of-two blocks of the vector's prefix are rotated; a shorter tail is left as is.
/// Rotation preserves L2 norms, so DP clipping and sensitivity are unchanged.
public struct SharedRotation: Sendable {
    public let blockSize: Int
    public let seed: UInt64

    public init(blockSize: Int, seed: UInt64) {
        precondition(blockSize > 0 && blockSize & (blockSize - 1) == 0)
        self.blockSize = blockSize
        self.seed = seed
    }

    /// Rotates the first ⌊count / blockSize⌋ blocks of v (v ← H·D·v per block).
    public func forward(_ v: inout [Float], count: Int) {
        for b in 0..<(count / blockSize) {
            Hadamard.flipSigns(&v, offset: b * blockSize, count: blockSize, seed: Seeds.mix(seed, UInt64(b)))
            Hadamard.transform(&v, offset: b * blockSize, count: blockSize)
        }
    }

    /// Undoes `forward` (v ← D·H·v per block; both are their own inverses).
    public func inverse(_ v: inout [Float], count: Int) {
        for b in 0..<(count / blockSize) {
            Hadamard.transform(&v, offset: b * blockSize, count: blockSize)
            Hadamard.flipSigns(&v, offset: b * blockSize, count: blockSize, seed: Seeds.mix(seed, UInt64(b)))
        }
    }

    public func inverse(_ v: inout [Double], count: Int) {
        var f = v.map { Float($0) }
        inverse(&f, count: count)
        for i in 0..<count { v[i] = Double(f[i]) }
    }
}
