/// One device's ratings, stored as parallel contiguous arrays (struct of arrays) so training
/// loops walk plain buffers.
public struct Interactions: Sendable, Equatable {
    public var items: [Int32] = []
    public var ratings: [Float] = []
    public var timestamps: [Int64] = []

    public init() {}
    public init(items: [Int32], ratings: [Float], timestamps: [Int64]) {
        precondition(items.count == ratings.count && items.count == timestamps.count)
        self.items = items
        self.ratings = ratings
        self.timestamps = timestamps
    }

    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty }

    public mutating func append(item: Int32, rating: Float, timestamp: Int64) {
        items.append(item)
        ratings.append(rating)
        timestamps.append(timestamp)
    }

    /// The interactions at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Interactions {
        var out = Interactions()
        out.items.reserveCapacity(indices.count)
        out.ratings.reserveCapacity(indices.count)
        out.timestamps.reserveCapacity(indices.count)
        for i in indices { out.append(item: items[i], rating: ratings[i], timestamp: timestamps[i]) }
        return out
    }

    /// `items` as an exclusion list for ranking (an evaluator reads only the items).
    public static func exclusion(_ items: [Int32]) -> Interactions {
        Interactions(
            items: items,
            ratings: [Float](repeating: 0, count: items.count),
            timestamps: [Int64](repeating: 0, count: items.count)
        )
    }
}

/// What a device holds: its training and held-out ratings and its profile features.
public struct DeviceData: Sendable, Equatable {
    public var device: Int
    public var train: Interactions
    public var test: Interactions
    /// Categorical profile features (meaning given by the population's `userFeatureNames`).
    public var features: [Int32]
    /// The validation part (`data.split.validation`), carved from training; empty without one.
    public var validation = Interactions()

    public init(device: Int, train: Interactions, test: Interactions, features: [Int32]) {
        self.device = device
        self.train = train
        self.test = test
        self.features = features
    }

    /// What an evaluation scores. `.test`: the test part, with the validation part counted as
    /// known history (excluded from the candidates like training items, since the user did
    /// interact with it); `.validation`: the validation part against the training part alone.
    public func scored(on phase: EvaluationPhase) -> DeviceData {
        guard !validation.isEmpty else {
            return phase == .test
                ? self : DeviceData(device: device, train: train, test: Interactions(), features: features)
        }
        switch phase {
        case .validation:
            return DeviceData(device: device, train: train, test: validation, features: features)
        case .test:
            var history = train
            for i in 0..<validation.count {
                history.append(
                    item: validation.items[i],
                    rating: validation.ratings[i],
                    timestamp: validation.timestamps[i]
                )
            }
            return DeviceData(device: device, train: history, test: test, features: features)
        }
    }
}

/// Which held-out part an evaluation scores.
public enum EvaluationPhase: Sendable, Equatable {
    case test
    case validation
}

/// A population of devices (users) over a shared item catalogue. Implementations must be
/// deterministic: the same device index always yields the same interactions, in any process,
/// so client processes can each materialise only their own shard.
public protocol Population: Sendable {
    var name: String { get }
    var deviceCount: Int { get }
    var itemCount: Int { get }
    var ratingScale: ClosedRange<Float> { get }
    /// Domain index of every item (0 when the population has one domain).
    var itemDomains: [Int32] { get }
    var domainNames: [String] { get }
    /// A categorical label of every item (a genre), what non-IID partitioners split over.
    var itemCategories: [Int32] { get }
    var categoryNames: [String] { get }
    var userFeatureNames: [String] { get }
    /// All of a device's interactions, before the train/test split.
    func interactions(of device: Int) -> Interactions
    func userFeatures(of device: Int) -> [Int32]
}

extension Population {
    /// The device's data after the scenario's split.
    public func deviceData(_ device: Int, split: Splitter) -> DeviceData {
        let all = interactions(of: device)
        let (train, validation, test) = split.splitWithValidation(all, device: device)
        var d = DeviceData(device: device, train: train, test: test, features: userFeatures(of: device))
        d.validation = validation
        return d
    }
}
