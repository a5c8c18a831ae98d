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
    /// Full ranking, over the device's relevant held-out items R and top-K list L:
    /// Recall@K = |R ∩ L| / min(|R|, K); MRR@K = 1 / rank of the first relevant item in L (0 if
    /// none); AUC = share of (relevant, non-relevant candidate) pairs scored in the right order.
    public var recall = 0.0
    public var mrr = 0.0
    public var auc = 0.0
    /// Intra-list diversity of L: mean pairwise distance over its K(K−1)/2 pairs, by item
    /// category (1 if the categories differ) and by embedding (1 − cosine similarity, in [0, 2]).
    public var ildCategory = 0.0
    public var ildEmbedding = 0.0
    /// The sampled-negatives protocol (NCF style): each relevant held-out item ranked among
    /// `sampled_negatives` items the device never rated; HR@K and NDCG@K averaged over them.
    public var sampledHit = 0.0
    public var sampledNdcg = 0.0
    /// Negative transfer (final evaluation): squared-error sums on the same held-out ratings of
    /// the *global* model (shared parameters, personal ones at their initial values) and of a
    /// *local-only* model (trained on this device's data alone from the initial parameters).
    /// −1 when not computed.
    public var squaredErrorGlobal = -1.0
    public var squaredErrorLocal = -1.0
    /// Sums for the global-mean baseline: its training ratings (count, sum) and held-out
    /// ratings (sum, sum of squares); the coordinator derives the constant predictor's RMSE.
    public var trainCount = 0
    public var trainSum = 0.0
    public var testSum = 0.0
    public var testSquares = 0.0
    /// The popularity baseline's HR@K and NDCG@K on this device (the K most-rated items it has
    /// not rated), and serendipity@K: the share of its list that is relevant and not in that
    /// popularity list (Ge et al. 2010). −1 when no popularity ranking was available.
    public var popularityHit = -1.0
    public var popularityNdcg = -1.0
    public var serendipity = -1.0
    /// The popularity baseline under the sampled-negatives protocol, on the same candidates as
    /// `sampledHit` / `sampledNdcg`. −1 when not computed (no popularity ranking yet, or the
    /// protocol is off); only then is the evaluation frame exactly as before the field existed.
    public var sampledPopularityHit = -1.0
    public var sampledPopularityNdcg = -1.0
    /// The device's profile features (demographic cohorts), sent only with `evaluation.cohorts`.
    public var features: [Int32] = []
    /// The device's top-K list (kept on the client: only per-process counts are sent).
    public var top: [Int32] = []

    public init(
        device: Int,
        count: Int,
        squaredError: Double,
        absoluteError: Double,
        ranked: Bool,
        hit: Double,
        ndcg: Double
    ) {
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

/// One device's cold-start sums for one slot: a support size k (new users, new domain) or a
/// period (temporal). Sums, so the coordinator weights by ratings as for `DeviceEvaluation`.
public struct ColdStartEntry: Equatable, Sendable {
    public var device: UInt32
    public var slot: UInt16
    public var count: UInt32
    public var squaredError: Double
    public var absoluteError: Double
    public var ranked: Bool
    public var hit: Double
    public var ndcg: Double
    public var auc: Double
    public init(
        device: UInt32,
        slot: UInt16,
        count: UInt32,
        squaredError: Double,
        absoluteError: Double,
        ranked: Bool,
        hit: Double,
        ndcg: Double,
        auc: Double
    ) {
        self.device = device
        self.slot = slot
        self.count = count
        self.squaredError = squaredError
        self.absoluteError = absoluteError
        self.ranked = ranked
        self.hit = hit
        self.ndcg = ndcg
        self.auc = auc
    }
}
