/// One device's evaluation, computed on the device. Sums (not means) so the coordinator can
/// weight by examples; per-device RMSE is derivable for the distribution.
public struct DeviceEvaluation: Sendable, Equatable {
    public var device: Int
    public var count: Int
    public var squaredError: Double
    public var absoluteError: Double
    /// False when the device has no relevant held-out item (excluded from ranking means).
    public var ranked: Bool
    public var hit: Double
    public var ndcg: Double

    public init(device: Int, count: Int, squaredError: Double, absoluteError: Double, ranked: Bool, hit: Double, ndcg: Double) {
        self.device = device
        self.count = count
        self.squaredError = squaredError
        self.absoluteError = absoluteError
        self.ranked = ranked
        self.hit = hit
        self.ndcg = ndcg
    }

    public var rmse: Double { count > 0 ? (squaredError / Double(count)).squareRoot() : 0 }
}
