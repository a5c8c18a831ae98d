import FedSimConfig

/// The objective MF trains on the device (`training.local.loss`): squared error on the ratings,
/// BPR over (interaction, unrated item) pairs, or their sum. The trainer asks it for a batch's
/// gradient and for the rows to step; it never asks which loss it runs.
public struct MFObjective: Sendable {
    public var loss: LocalTrainingConfig.Loss
    /// BPR negatives per interaction per epoch.
    public var negatives: Int

    public init(loss: LocalTrainingConfig.Loss, negatives: Int) {
        self.loss = loss
        self.negatives = max(1, negatives)
    }

    /// This epoch's negatives (local rows) in the order of `order`: interaction `order[j]` gets
    /// `negatives` consecutive entries of the epoch's slice of `drawn`. Empty for mse.
    public func negatives(of order: [Int], epoch: Int, from drawn: [Int32]) -> [Int32] {
        guard loss.ranks, !drawn.isEmpty else { return [] }
        let base = epoch * order.count * negatives
        var out: [Int32] = []
        out.reserveCapacity(order.count * negatives)
        for j in order {
            for s in 0..<negatives { out.append(drawn[base + j * negatives + s]) }
        }
        return out
    }

    /// What one batch steps: the rows touched (user row 0 of the local view) over `range`.
    public struct Step {
        public var loss: Float
        public var users: [Int32]
        public var items: [Int32]
        public var range: Range<Int>
    }

    /// Adds the batch's gradient into `g`. With BPR each interaction j in `range` is paired with
    /// its `negatives` entries of `drawn`; the rows to step are its positives then its negatives.
    public func accumulate(
        _ m: MFBlock<Float>,
        _ batch: MFBatch,
        negatives drawn: [Int32],
        range r: Range<Int>,
        l2: Float,
        into g: inout MFBlock<Float>
    ) -> Step {
        var total: Float = 0
        if loss.regresses { total += MFKernel.accumulateGradient(m, batch, range: r, l2: l2, into: &g) }
        guard loss.ranks, !drawn.isEmpty else {
            return Step(loss: total, users: batch.users, items: batch.items, range: r)
        }
        var positives: [Int32] = []
        var negs: [Int32] = []
        for j in r {
            for s in 0..<negatives {
                positives.append(batch.items[j])
                negs.append(drawn[j * negatives + s])
            }
        }
        let users = [Int32](repeating: 0, count: positives.count)
        let pairs = BPRBatch(users: users, positives: positives, negatives: negs)
        // Per interaction, the mean over its negatives, so the loss scale does not grow with them.
        total += BPRKernel.accumulateGradient(m, pairs, range: 0..<pairs.count, l2: l2, into: &g) / Float(negatives)
        let rows = positives + negs
        return Step(loss: total, users: users + users, items: rows, range: 0..<rows.count)
    }
}

/// Negatives drawn on the device: uniform over the items it never interacted with, so what it
/// trains against says nothing the coordinator could not guess, and no interacted item is ever
/// treated as a negative.
public enum MFNegatives {
    public static func draw(
        count: Int,
        items: Int,
        excluding interacted: [Int32],
        rng: inout some RandomNumberGenerator
    ) -> [Int32] {
        var seen = [Bool](repeating: false, count: items)
        for i in interacted where Int(i) < items { seen[Int(i)] = true }
        let unrated = (0..<items).filter { !seen[$0] }.map { Int32($0) }
        guard !unrated.isEmpty else { return [] }
        return (0..<count).map { _ in unrated[rng.nextBounded(unrated.count)] }
    }
}
