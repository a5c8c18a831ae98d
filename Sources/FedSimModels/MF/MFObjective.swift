import FedSimConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The objective MF trains on the device (`training.local.loss`): squared error on the ratings,
/// a ranking term over (interaction, unrated items) — BPR or sampled softmax — or their sum.
/// The trainer asks it for a batch's gradient and for the rows to step; it never asks which
/// loss it runs.
public struct MFObjective: Sendable {
    public var loss: LocalTrainingConfig.Loss
    /// Ranking negatives per interaction per epoch.
    public var negatives: Int
    /// Interactions rated below this are not the ranking term's positives.
    public var positiveThreshold: Float
    /// Sampled softmax's shift of every negative score (the logQ correction; 0: none).
    public var negativeShift: Float

    public init(loss: LocalTrainingConfig.Loss, negatives: Int, positiveThreshold: Float = 0, negativeShift: Float = 0)
    {
        self.loss = loss
        self.negatives = max(1, negatives)
        self.positiveThreshold = positiveThreshold
        self.negativeShift = negativeShift
    }

    /// The objective of `config` on a device with `unrated` items it never interacted with:
    /// the logQ correction of uniform sampling is log(unrated / m), known on the device.
    public init(_ config: LocalTrainingConfig, unrated: Int) {
        let m = max(1, config.negatives)
        let shift =
            config.loss.softmax && config.logqCorrection && unrated > 0 ? Float(log(Double(unrated) / Double(m))) : 0
        self.init(
            loss: config.loss,
            negatives: m,
            positiveThreshold: Float(config.positiveThreshold),
            negativeShift: shift
        )
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

    /// Adds the batch's gradient into `g`. With a ranking term each interaction j in `range`
    /// rated at least `positiveThreshold` is paired with its `negatives` entries of `drawn`;
    /// the rows to step are the batch's rated rows, then its positives and negatives.
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
        for j in r where batch.ratings[j] >= positiveThreshold {
            positives.append(batch.items[j])
            for s in 0..<negatives { negs.append(drawn[j * negatives + s]) }
        }
        var rows = loss.regresses ? Array(batch.items[r]) : []
        guard !positives.isEmpty else {
            return Step(
                loss: total,
                users: [Int32](repeating: 0, count: rows.count),
                items: rows,
                range: 0..<rows.count
            )
        }
        total += rankingGradient(m, positives: positives, negatives: negs, l2: l2, into: &g)
        rows += positives + negs
        return Step(loss: total, users: [Int32](repeating: 0, count: rows.count), items: rows, range: 0..<rows.count)
    }

    /// The ranking term's gradient for user row 0; returns its loss per positive, summed.
    func rankingGradient(
        _ m: MFBlock<Float>,
        positives: [Int32],
        negatives negs: [Int32],
        l2: Float,
        into g: inout MFBlock<Float>
    ) -> Float {
        if loss.softmax {
            let users = [Int32](repeating: 0, count: positives.count)
            let b = SoftmaxBatch(users: users, positives: positives, negatives: negs, perPositive: negatives)
            return SampledSoftmaxKernel.accumulateGradient(
                m,
                b,
                range: 0..<b.count,
                l2: l2,
                negativeShift: negativeShift,
                into: &g
            )
        }
        // BPR: one triple per (positive, negative); per positive the mean over its negatives,
        // so the loss scale does not grow with them.
        var pos: [Int32] = []
        pos.reserveCapacity(negs.count)
        for p in positives { pos.append(contentsOf: repeatElement(p, count: negatives)) }
        let pairs = BPRBatch(users: [Int32](repeating: 0, count: pos.count), positives: pos, negatives: negs)
        return BPRKernel.accumulateGradient(m, pairs, range: 0..<pairs.count, l2: l2, into: &g) / Float(negatives)
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
