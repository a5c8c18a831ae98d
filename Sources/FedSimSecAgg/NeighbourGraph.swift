import FedSimCore

#if canImport(Glibc)
import Glibc
#endif

/// The SecAgg+ communication graph of one round (Bell et al. 2020): each sampled device shares
/// keys and masks only with its k neighbours. k = n − 1 is the complete graph, which is the
/// original SecAgg of Bonawitz et al. 2017.
///
/// The graph is a Harary graph H(k, n) (each node joined to the k/2 nearest on each side of
/// a ring) laid over a random permutation of the devices. It is k-regular, and the
/// permutation comes from public randomness derived from the run seed and the round, so every
/// party computes the same graph and the coordinator cannot pick it.
public struct NeighbourGraph: Sendable, Equatable {
    /// The sampled devices, in ascending order; node i is `devices[i]`.
    public let devices: [UInt32]
    public let k: Int
    let position: [Int]  // node -> ring position
    let atPosition: [Int]  // ring position -> node

    public init(devices: [UInt32], k requested: Int, seed: UInt64) {
        self.devices = devices.sorted()
        let n = devices.count
        k = min(max(requested, 0), max(n - 1, 0))
        var perm = Array(0..<n)
        var rng = Xoshiro256(seed: seed)
        for i in stride(from: n - 1, to: 0, by: -1) { perm.swapAt(i, rng.nextBounded(i + 1)) }
        atPosition = perm
        var pos = [Int](repeating: 0, count: n)
        for (p, node) in perm.enumerated() { pos[node] = p }
        position = pos
    }

    public var count: Int { devices.count }
    public var isComplete: Bool { k >= devices.count - 1 }

    public func node(of device: UInt32) -> Int? {
        var lo = 0
        var hi = devices.count
        while lo < hi {
            let m = (lo + hi) / 2
            if devices[m] < device { lo = m + 1 } else { hi = m }
        }
        return lo < devices.count && devices[lo] == device ? lo : nil
    }

    /// Neighbour nodes of `node`, ascending.
    public func neighbours(of node: Int) -> [Int] {
        let n = devices.count
        if isComplete { return (0..<n).filter { $0 != node } }
        var out = Set<Int>()
        let p = position[node]
        for d in 1...(k / 2) {
            out.insert(atPosition[(p + d) % n])
            out.insert(atPosition[(p - d + n) % n])
        }
        if k % 2 == 1 { out.insert(atPosition[(p + n / 2) % n]) }  // odd k (needs even n): the antipode
        out.remove(node)
        return out.sorted()
    }

    /// The Shamir evaluation point of a node: its index + 1 (never 0).
    public static func point(of node: Int) -> UInt32 { UInt32(node + 1) }
}

/// Chooses the neighbour count k and threshold t for n sampled devices.
///
/// - Security (no double reveal): the server plus γk corrupted neighbours must not gather t
///   shares of *both* the self-mask seed and the mask key of an honest device. Honest
///   neighbours reveal one kind each, so t > (1 + γ)k / 2 suffices: t = ⌊(1 + γ)k/2⌋ + 1.
/// - Correctness: every needed secret must keep ≥ t live holders. With independent dropouts
///   at rate δ, a device's live neighbours ~ Binomial(k, 1 − δ). We take the smallest even
///   k ≥ 2⌈log₂ n⌉ (Bell et al. need k = Ω(log n) for the graph's security) with
///   n · P[Binomial(k, 1 − δ) < t] ≤ 2^-η, where η = 20 by default.
/// - If no k < n − 1 qualifies, the complete graph (SecAgg) is used.
public struct SecAggParameters: Sendable, Equatable {
    public var k: Int
    public var t: Int
    public var failureBound: Double

    public static func choose(
        n: Int,
        dropoutRate δ: Double,
        corruptionRate γ: Double,
        eta: Double = 20
    ) -> SecAggParameters {
        func threshold(_ k: Int) -> Int { min(k, Int(((1 + γ) * Double(k) / 2).rounded(.down)) + 1) }
        func tail(_ k: Int, _ t: Int) -> Double {  // P[Bin(k, 1 − δ) < t]
            if δ <= 0 { return 0 }
            if δ >= 1 { return 1 }
            var s = 0.0
            for j in 0..<t {
                let lg = lgamma(Double(k + 1)) - lgamma(Double(j + 1)) - lgamma(Double(k - j + 1))
                s += exp(lg + Double(j) * log(1 - δ) + Double(k - j) * log(δ))
            }
            return s
        }
        let full = max(n - 1, 1)
        let minK = max(2, 2 * Int(ceil(log2(Double(max(n, 2))))))
        var k = minK + (minK % 2)
        let target = pow(2, -eta)
        while k < full {
            let t = threshold(k)
            let bound = Double(n) * tail(k, t)
            if bound <= target { return SecAggParameters(k: k, t: t, failureBound: bound) }
            k += 2
        }
        let t = threshold(full)
        return SecAggParameters(k: full, t: t, failureBound: Double(n) * tail(full, t))
    }
}
