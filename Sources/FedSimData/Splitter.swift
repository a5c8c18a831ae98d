import FedSimConfig
import FedSimCore

/// Per-device train/test split. Deterministic per (seed, device), so every process agrees.
public struct Splitter: Sendable {
    public var method: SplitConfig.Method
    public var testFraction: Double
    public var minTrain: Int
    public var seed: UInt64
    /// The share of the training part held out for validation; nil: no validation split.
    public var validationFraction: Double?

    public init(_ config: SplitConfig, seed: UInt64) {
        method = config.method
        testFraction = config.testFraction
        minTrain = config.minTrain
        self.seed = seed
        validationFraction = config.validation ? config.validationFraction : nil
    }

    public init(method: SplitConfig.Method, testFraction: Double, minTrain: Int = 1, seed: UInt64) {
        self.method = method
        self.testFraction = testFraction
        self.minTrain = minTrain
        self.seed = seed
    }

    /// Number held out from `n` ratings: round(n · fraction), keeping at least `minTrain`.
    public func testCount(_ n: Int) -> Int {
        let t = Int((Double(n) * testFraction).rounded())
        return max(0, min(t, n - minTrain))
    }

    /// Training and test parts; with a validation split, training is what is left after it.
    public func split(_ all: Interactions, device: Int) -> (train: Interactions, test: Interactions) {
        let s = splitWithValidation(all, device: device)
        return (s.train, s.test)
    }

    /// Test first, then validation from what remains by the same rule (the second-latest
    /// interaction under leave-one-out, a seeded or latest share otherwise) with its own
    /// seed, so the test part is the one a run without validation holds out: the two never
    /// overlap and switching validation on leaves the test split as it was.
    public func splitWithValidation(
        _ all: Interactions,
        device: Int
    ) -> (train: Interactions, validation: Interactions, test: Interactions) {
        let (rest, test) = testSplit(all, device: device)
        guard let fraction = validationFraction else { return (rest, Interactions(), test) }
        var inner = self
        inner.validationFraction = nil
        inner.testFraction = fraction
        inner.seed = Seeds.derive(seed, "validation")
        let (train, validation) = inner.testSplit(rest, device: device)
        return (train, validation, test)
    }

    func testSplit(_ all: Interactions, device: Int) -> (train: Interactions, test: Interactions) {
        switch method {
        case .leaveOneOut: return LeaveOneOutSplit.split(all, device: device, minTrain: minTrain, seed: seed)
        case .random, .latest: return fractionSplit(all, device: device)
        }
    }

    /// The `test_fraction` splits: a seeded random or the latest share of the device's ratings.
    func fractionSplit(_ all: Interactions, device: Int) -> (train: Interactions, test: Interactions) {
        let n = all.count
        let nTest = testCount(n)
        if nTest == 0 { return (all, Interactions()) }
        var order = Array(0..<n)
        switch method {
        case .random:
            var rng = Seeds.rng(seed, "split", UInt64(device))
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextBounded(i + 1)) }
            let test = Array(order[0..<nTest]).sorted()
            let train = Array(order[nTest...]).sorted()
            return (all.subset(train), all.subset(test))
        case .latest:
            // Stable by (timestamp, position): ties keep file order, so the split is well defined.
            order.sort { (all.timestamps[$0], $0) < (all.timestamps[$1], $1) }
            return (all.subset(Array(order[0..<(n - nTest)])), all.subset(Array(order[(n - nTest)...])))
        case .leaveOneOut:
            return LeaveOneOutSplit.split(all, device: device, minTrain: minTrain, seed: seed)
        }
    }
}
