import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimModels
import FedSimWire

/// The first stage of every plain aggregation: what a device claimed is checked against what
/// an honest device can send, before any rule or scaling sees it. Its statistics against
/// `ReportBounds` (a refusal names the claim), its weights against its weighted delta
/// (`UpdateBounds`): each element's Δ = wΔ / w is clipped to the bound, and the stage counts
/// the clipped elements (`bounded_at_coordinator`, reported only when non-zero). The delta
/// stays sparse: only the entries the device sent are checked.
struct Admission: AggregationStage {
    let name = "admission"
    let reportBounds: ReportBounds
    let updateBounds: UpdateBounds
    private(set) var bounded = 0

    init(reportBounds: ReportBounds, updateBounds: UpdateBounds) {
        self.reportBounds = reportBounds
        self.updateBounds = updateBounds
    }

    /// Refused: what a device claimed that no honest device could (a sentence naming it).
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    mutating func process(_ c: inout Contribution) throws -> String? {
        if let why = reportBounds.refusal(device: c.device, examples: c.examples, trainLoss: c.trainLoss) {
            throw Refusal(description: why)
        }
        do {
            let n = try updateBounds.enforce(
                weightedDelta: &c.weightedDelta,
                weights: c.weights,
                trainingExamples: reportBounds.trainingSize(of: c.device)
            )
            bounded += n
            return n > 0
                ? "\(n) elements of its update imply |Δ| > \(updateBounds.maxDelta); clipped at the coordinator" : nil
        } catch let v as UpdateBounds.Violation {
            throw Refusal(description: v.description)
        }
    }

    var measurements: [(name: String, value: Int)] { bounded > 0 ? [("bounded_at_coordinator", bounded)] : [] }
}

/// With central DP and no secure aggregation: a device's own clipping is a promise the
/// coordinator can check, so one device moves the sum by at most C. An update above the
/// clip (flat, or per group) is scaled back to it and counted (`clipped_at_coordinator`,
/// reported every DP round, 0 included). On the sparse form the norms are the dense ones bit
/// for bit (absent entries add +0.0 to a sum of squares, in the same order) and so is the
/// scaling (+0.0 times a positive factor stays +0.0).
struct CoordinatorClip: AggregationStage {
    let name = "clip"
    /// The round's flat clip C (it moves under adaptive clipping).
    let bound: Double
    /// Per-group clips (`privacy.clipping: per_group`): each group's range and bound; nil: flat.
    let groups: [(range: Range<Int>, bound: Double)]?
    private(set) var clipped = 0
    /// Float rounding of an honest device's clip.
    static let slack = 1 + 1e-5

    init(bound: Double, groups: [(range: Range<Int>, bound: Double)]?) {
        self.bound = bound
        self.groups = groups
    }

    mutating func process(_ c: inout Contribution) throws -> String? {
        guard Self.clip(&c.weightedDelta, bound: bound, groups: groups) else { return nil }
        clipped += 1
        return "sent an update above the clip; clipped at the coordinator"
    }

    /// Scales `delta` back to the clip; returns whether it had to.
    static func clip(_ delta: inout SparseFloats, bound: Double, groups: [(range: Range<Int>, bound: Double)]?) -> Bool
    {
        if let groups {
            var dense = delta.dense()
            var changed = false
            for (range, bound) in groups {
                var part = Array(dense[range])
                if L2Clip.norm(part) > bound * slack {
                    _ = L2Clip.clip(&part, to: bound)
                    dense.replaceSubrange(range, with: part)
                    changed = true
                }
            }
            if changed { delta = SparseFloats(dense: dense) }
            return changed
        }
        let norm = L2Clip.norm(delta.values)
        guard norm > bound * slack else { return false }
        if norm > bound && norm > 0 { delta.scale(by: Float(bound / norm)) }
        return true
    }

    var measurements: [(name: String, value: Int)] { [("clipped_at_coordinator", clipped)] }
}

/// The aggregation recipe: the only place that decides a round's stages and rule.
enum AggregationPipelines {
    /// A synchronous plain round: admission; the coordinator's clip when central DP runs
    /// without secure aggregation (`clip` is the round's C, nil without DP); the scenario's rule.
    static func plainRound(
        _ scenario: Scenario,
        layout: ParameterLayout,
        reportBounds: ReportBounds,
        updateBounds: UpdateBounds,
        clip: Double?
    ) -> AggregationPipeline {
        var stages: [any AggregationStage] = [Admission(reportBounds: reportBounds, updateBounds: updateBounds)]
        if let clip {
            let p = scenario.privacy
            let groups =
                p.clipping == .perGroup
                ? p.groupClips.bounds.compactMap { g in layout.range(of: g.tensor).map { ($0, g.bound) } } : nil
            stages.append(CoordinatorClip(bound: clip, groups: groups))
        }
        let rule = UpdateAggregators.make(scenario.training.aggregation, training: scenario.training, layout: layout)
        return AggregationPipeline(stages: stages, rule: rule)
    }

    /// A FedBuff step: admission, then each device's staleness weight, into the weighted mean.
    static func asyncStep(
        _ scenario: Scenario,
        layout: ParameterLayout,
        reportBounds: ReportBounds,
        updateBounds: UpdateBounds,
        stalenessWeights: [Int: Float]
    ) -> AggregationPipeline {
        AggregationPipeline(
            stages: [
                Admission(reportBounds: reportBounds, updateBounds: updateBounds),
                StalenessWeighting(weights: stalenessWeights),
            ],
            rule: WeightedMeanAggregator(layout: layout, shrinkage: scenario.training.itemShrinkage)
        )
    }
}

extension Contribution {
    /// A plain update as it enters the stages.
    init(_ u: DeviceUpdate) {
        self.init(
            device: Int(u.device),
            weightedDelta: u.sparseDelta,
            weights: u.sparseWeights,
            examples: Int(u.examples),
            trainLoss: u.trainLoss
        )
    }
}
