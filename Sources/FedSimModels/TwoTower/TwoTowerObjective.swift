import FedSimConfig
import FedSimCore
import FedSimData

/// The objective two-tower's local epochs train (`training.local.loss`): squared error on the
/// ratings (`TwoTowerKernel`), a ranking term over (interaction, items the device never
/// interacted with) — BPR or sampled softmax (`TwoTowerRankingKernel`) — or their sum. The
/// trainer asks it to step a batch; it never asks which loss it runs. Squared error alone
/// steps exactly as before the ranking terms existed (same calls, same order).
public struct TwoTowerObjective: Sendable {
    public var loss: LocalTrainingConfig.Loss
    /// Ranking negatives per interaction per epoch.
    public var negatives: Int
    /// Interactions rated below this are not the ranking term's positives.
    public var positiveThreshold: Float
    /// Sampled softmax's logQ shift of every negative score (0: none).
    public var negativeShift: Float

    /// The objective of `config` on a device with `unrated` items it never interacted with; the
    /// logQ shift is MF's (`MFObjective`), log(unrated / m), so both models mean the same by it.
    public init(_ config: LocalTrainingConfig, unrated: Int) {
        let mf = MFObjective(config, unrated: unrated)
        loss = mf.loss
        negatives = mf.negatives
        positiveThreshold = mf.positiveThreshold
        negativeShift = mf.negativeShift
    }

    var term: TwoTowerRankingKernel.Term { loss.softmax ? .softmax : .bpr }

    /// This epoch's negatives in the order of `order`: example `order[t]` gets its `negatives`
    /// consecutive entries of the epoch's slice of `pool` (epoch-major, `examples` × m per
    /// epoch). A pool drawn for fewer epochs is reused from its start. Empty for mse.
    public func negatives(of order: [Int], epoch: Int, examples n: Int, pool: TwoTowerCandidates) -> TwoTowerCandidates
    {
        let per = n * negatives
        guard loss.ranks, per > 0, pool.count >= per else { return TwoTowerCandidates() }
        let base = (epoch % (pool.count / per)) * per
        var out = TwoTowerCandidates()
        for j in order {
            for s in 0..<negatives {
                let k = base + j * negatives + s
                out.append(pool.item[k], pool.category[k], pool.adapter[k])
            }
        }
        return out
    }

    /// Adds the batch's gradient and steps the groups in `mask`: with a ranking term, each
    /// example t in `range` rated at least `positiveThreshold` is a positive against its
    /// entries of `drawn` (batch positions × m). Returns the batch's loss (Σ ½e², plus Σ of
    /// the ranking term per positive) and the ranking rows it stepped.
    public func step(
        _ m: inout TwoTowerBlock<Float>,
        _ g: inout TwoTowerBlock<Float>,
        _ batch: TwoTowerExamples,
        negatives drawn: TwoTowerCandidates,
        range r: Range<Int>,
        l2: Float,
        offsetL2: Float,
        lr: Float,
        mask: GroupMask
    ) -> (loss: Float, ranked: TwoTowerCandidates) {
        guard loss.ranks else {
            let sum = TwoTowerKernel.accumulateGradient(m, batch, range: r, l2: l2, offsetL2: offsetL2, into: &g)
            TwoTowerKernel.step(&m, &g, batch, range: r, lr: lr, mask: mask)
            return (sum, TwoTowerCandidates())
        }
        var total: Float = 0
        var rows = TwoTowerExamples()
        if loss.regresses {
            total += TwoTowerKernel.accumulateGradient(m, batch, range: r, l2: l2, offsetL2: offsetL2, into: &g)
            rows = batch.subset(r)
        }
        var positives = TwoTowerCandidates()
        var negs = TwoTowerCandidates()
        for t in r where batch.rating[t] >= positiveThreshold && drawn.count > 0 {
            positives.append(batch.item[t], batch.category[t], batch.adapter[t])
            for s in 0..<negatives {
                let (i, c, a) = drawn.rows(t * negatives + s)
                negs.append(Int32(i), Int32(c), Int32(a))
            }
        }
        if positives.count > 0 {
            total += TwoTowerRankingKernel.accumulateGradient(
                m,
                TwoTowerRankingBatch(positives: positives, negatives: negs, perPositive: negatives),
                term,
                l2: l2,
                offsetL2: offsetL2,
                negativeShift: negativeShift,
                into: &g
            )
        }
        // Every row either term touched steps once (a row listed twice steps its gradient once).
        rows.negativeItem = []
        rows.negativeCategory = []
        for k in 0..<(positives.count + negs.count) {
            let (src, q) = k < positives.count ? (positives, k) : (negs, k - positives.count)
            rows.item.append(src.item[q])
            rows.category.append(src.category[q])
            rows.adapter.append(src.adapter[q])
            rows.rating.append(0)
        }
        TwoTowerKernel.step(&m, &g, rows, range: 0..<rows.count, lr: lr, mask: mask)
        negs.item += positives.item
        negs.category += positives.category
        negs.adapter += positives.adapter
        return (total, negs)
    }
}

extension TwoTowerTrainer {
    /// The view local training works on:
    /// - with contrastive alignment (and `alignment`), plus `alignmentNegatives` items of the
    ///   device's second domain (as the alignment pairs them) it never interacted with;
    /// - with a ranking loss, plus the ranking negatives of `rankingEpochs` epochs, drawn on the
    ///   device, uniformly from the items it never interacted with (`MFNegatives`, as MF draws).
    /// Squared error draws nothing, so its generator stream is unchanged.
    func trainingView(
        shared: [Float],
        offset: [Float],
        data: Interactions,
        features: [Int32],
        rankingEpochs: Int,
        alignment: Bool = true,
        rng: inout some RandomNumberGenerator
    ) -> TwoTowerView {
        let plain = view(shared: shared, offset: offset, data: data, features: features)
        var picks: [Int32] = []
        if alignment, alignmentWeight > 0, alignmentNegatives > 0, let (_, b) = TwoTowerAlignment.pair(plain.examples) {
            let domain = plain.domainsTouched[b]
            let seen = Set(data.items)
            let pool = (0..<shape.items).filter {
                $0 < itemDomains.count && itemDomains[$0] == domain && !seen.contains(Int32($0))
            }
            if !pool.isEmpty {
                picks = rng.sampleWithoutReplacement(min(alignmentNegatives, pool.count), from: pool.count).map {
                    Int32(pool[$0])
                }
            }
        }
        let ranked =
            local.loss.ranks && rankingEpochs > 0
            ? MFNegatives.draw(
                count: rankingEpochs * data.count * max(1, local.negatives),
                items: shape.items,
                excluding: data.items,
                rng: &rng
            ) : []
        guard !picks.isEmpty || !ranked.isEmpty else { return plain }
        return TwoTowerView(
            shape: shape,
            shared: shared,
            offset: offset,
            data: data,
            features: features,
            itemCategories: itemCategories,
            itemDomains: itemDomains,
            negatives: picks,
            rankingNegatives: ranked,
            rankingEpochs: rankingEpochs
        )
    }
}
