import FedSimCore

/// A Fisher–Yates shuffle of 0..<count materialised only where it has been touched, so
/// drawing k of n costs O(k) time and memory.
struct LazyPermutation {
    let count: Int
    var swapped: [Int: Int] = [:]
    var position = 0

    init(count: Int) { self.count = count }

    mutating func next(_ rng: inout Xoshiro256) -> Int? {
        guard position < count else { return nil }
        let j = position + rng.nextBounded(count - position)
        let vj = swapped[j] ?? j
        swapped[j] = swapped[position] ?? position
        position += 1
        return vj
    }

    /// Up to `k` accepted values, in draw order.
    mutating func draw(_ k: Int, rng: inout Xoshiro256, accept: (Int) -> Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(min(k, count))
        while out.count < k, let v = next(&rng) {
            if accept(v) { out.append(v) }
        }
        return out
    }
}

/// Walker's alias method: O(n) to build, O(1) per draw from a discrete distribution.
struct AliasTable: Sendable {
    let probability: [Double]
    let alias: [Int]

    init(_ weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var p = weights.map { $0 * Double(n) / total }
        var alias = [Int](repeating: 0, count: n)
        var small: [Int] = []
        var large: [Int] = []
        for i in 0..<n { if p[i] < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.popLast(), let l = large.popLast() {
            alias[s] = l
            p[l] -= 1 - p[s]
            if p[l] < 1 { small.append(l) } else { large.append(l) }
        }
        for i in small + large { p[i] = 1 }
        probability = p
        self.alias = alias
    }

    func draw(_ rng: inout Xoshiro256) -> Int {
        let i = rng.nextBounded(probability.count)
        return rng.nextUnitDouble() < probability[i] ? i : alias[i]
    }
}
