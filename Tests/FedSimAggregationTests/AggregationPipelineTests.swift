import FedSimAggregation
import FedSimCore
import Testing

@Suite struct AggregationPipelineTests {
    let layout = ParameterLayout([TensorSpec(name: "rows", rows: 3, columns: 1, group: .shared, weighting: .perRow)])

    func contribution(_ device: Int, _ delta: [Float], _ weights: [Float]) -> Contribution {
        Contribution(
            device: device,
            weightedDelta: SparseFloats(dense: delta),
            weights: SparseFloats(dense: weights),
            examples: 1,
            trainLoss: 0.5
        )
    }

    struct Closed: Error { let device: Int }

    /// Refuses devices above `limit` and halves the rest; counts both.
    struct Gate: AggregationStage {
        let name = "gate"
        let limit: Int
        var refused = 0
        var halved = 0
        mutating func process(_ c: inout Contribution) throws -> String? {
            guard c.device <= limit else {
                refused += 1
                throw Closed(device: c.device)
            }
            c.weightedDelta.scale(by: 0.5)
            halved += 1
            return "halved"
        }
        var measurements: [(name: String, value: Int)] { [("refused", refused), ("halved", halved)] }
    }

    /// Stages run in order before the rule; a refusal keeps the whole contribution out of the
    /// rule; each stage's measurements come back under its own name, the rule's last.
    @Test func stagesTransformRefuseAndReportUnderTheirNames() throws {
        var p = AggregationPipeline(stages: [Gate(limit: 1)], rule: WeightedMeanAggregator(layout: layout))
        #expect(try p.add(contribution(0, [2, 4, 0], [1, 1, 0])) == ["halved"])
        #expect(try p.add(contribution(1, [4, 0, 0], [1, 0, 0])) == ["halved"])
        #expect(throws: Closed.self) { try p.add(self.contribution(2, [100, 100, 100], [1, 1, 1])) }
        #expect(p.contributors == 2 && p.examples == 2)
        #expect(p.aggregate() == [1.5, 2, 0])  // (1 + 2) / 2, 2 / 1, untouched
        let m = p.measurements
        #expect(m.map(\.stage) == ["gate", "rule"])
        #expect(m[0].values.map(\.name) == ["refused", "halved"] && m[0].values.map(\.value) == [1, 2])
        #expect(m[1].values.isEmpty)
    }

    /// FedBuff's staleness weight scales the weighted delta and the weights alike, so a
    /// per-row mean over one device is unchanged and over two is the staleness-weighted mean.
    @Test func stalenessWeightingGivesTheWeightedMean() throws {
        var p = AggregationPipeline(
            stages: [StalenessWeighting(weights: [1: 0.25])],
            rule: WeightedMeanAggregator(layout: layout)
        )
        _ = try p.add(contribution(0, [1, 3, 0], [1, 1, 0]))  // fresh: weight 1
        _ = try p.add(contribution(1, [5, 0, 0], [1, 0, 0]))  // stale: weight 1/4
        let mean = p.aggregate()
        #expect(abs(mean[0] - (1 + 0.25 * 5) / 1.25) < 1e-6 && mean[1] == 3 && mean[2] == 0)
    }

    /// The pipeline's exact sum is the rule's: what a privacy stage releases.
    @Test func theExactSumIsTheRulesAfterTheStages() throws {
        var p = AggregationPipeline(stages: [Gate(limit: 5)], rule: WeightedMeanAggregator(layout: layout))
        _ = try p.add(contribution(0, [2, 4, 0], [1, 1, 0]))
        #expect(p.exactSum == [1, 2, 0])
        let robust = AggregationPipeline(stages: [], rule: RobustAggregator(layout: layout, rule: .median))
        #expect(robust.exactSum == nil)
    }
}
