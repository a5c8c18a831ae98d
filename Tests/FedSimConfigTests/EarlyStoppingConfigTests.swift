import FedSimConfig
import FedSimTestSupport
import Testing

/// The validation split, early stopping and item shrinkage as scenario keys.
@Suite struct EarlyStoppingConfigTests {
    func errors(_ yaml: String) -> [ScenarioError] { TestSupport.scenarioErrors(yaml) }

    @Test func keysAreReadAndOffByDefault() throws {
        let d = Scenario()
        #expect(!d.data.split.validation && !d.training.earlyStopping.enabled && d.training.itemShrinkage == 0)
        let s = try Scenario.load(
            yaml: """
                data: {split: {validation: true, validation_fraction: 0.15}}
                training: {item_shrinkage: 2, early_stopping: {enabled: true, metric: ndcg, patience: 3, min_delta: 0.001}}
                evaluation: {every: 5}
                """
        )
        #expect(s.data.split.validation && s.data.split.validationFraction == 0.15)
        let es = s.training.earlyStopping
        #expect(es.enabled && es.metric == .ndcg && es.patience == 3 && es.minDelta == 0.001)
        #expect(s.training.itemShrinkage == 2)
        // The resolved form (scenario.json) reads back to the same scenario.
        #expect(try Scenario.load(yaml: s.resolvedJSON()) == s)
        // So does a run without validation, and a leave-one-out one with it (every default is
        // written out, validation_fraction included, and must not be refused on reading back).
        for yaml in ["name: plain", "data: {split: {method: leave_one_out, validation: true}}"] {
            let t = try Scenario.load(yaml: yaml)
            #expect(try Scenario.load(yaml: t.resolvedJSON()) == t)
        }
    }

    @Test func badValuesNameTheirKeyAndLine() {
        let e = errors("data:\n  split: {validation: true}\ntraining:\n  early_stopping: {metric: loss, patience: 0}\n")
        #expect(e.map(\.keyPath).sorted() == ["training.early_stopping.metric", "training.early_stopping.patience"])
        #expect(e.allSatisfy { $0.line == 4 })
        #expect(errors("training: {item_shrinkage: -1}").map(\.keyPath) == ["training.item_shrinkage"])
    }

    @Test func earlyStoppingNeedsAValidationSplitAndTheRightProtocol() {
        let noSplit = errors("training:\n  early_stopping: {enabled: true}\n")
        #expect(noSplit.map(\.keyPath) == ["training.early_stopping.enabled"])
        #expect(noSplit.first?.message.contains("data.split.validation") == true)
        #expect(noSplit.first?.line == 2)
        let sampled = errors(
            "data: {split: {validation: true}}\ntraining: {early_stopping: {enabled: true, metric: ndcg_sampled}}"
        )
        #expect(sampled.map(\.keyPath) == ["training.early_stopping.metric"])
        let noEvaluations = errors("data: {split: {validation: true}}\nevaluation: {every: 0}")
        #expect(noEvaluations.map(\.keyPath) == ["data.split.validation"])
        let async = errors("data: {split: {validation: true}}\ntraining: {async: {enabled: true}}")
        #expect(async.map(\.keyPath) == ["data.split.validation"])
    }

    /// The warm-protocol reference would fit on held-out users; cold start has its own baselines.
    @Test func theBiasReferenceStaysOutOfColdStartRuns() {
        let both = errors(
            """
            model: {kind: two_tower}
            evaluation:
              bias_baseline: {enabled: true}
              cold_start: {protocol: new_users}
            """
        )
        #expect(
            both.contains { $0.keyPath == "evaluation.bias_baseline.enabled" && $0.message.contains("cold") },
            "\(both)"
        )
        #expect(errors("evaluation: {bias_baseline: {enabled: true}}\n").isEmpty)
    }

    @Test func validationFractionOnlyWhereItMeansSomething() {
        let loo = errors("data: {split: {method: leave_one_out, validation: true, validation_fraction: 0.2}}")
        #expect(loo.map(\.keyPath) == ["data.split.validation_fraction"])
        #expect(loo.first?.message.contains("second-latest") == true)
        // scenario.json writes every default: a default fraction beside leave_one_out is fine.
        #expect(errors("data: {split: {method: leave_one_out, validation: true, validation_fraction: 0.1}}").isEmpty)
        #expect(errors("data: {split: {validation_fraction: 0.2}}").isEmpty)  // ignored while validation is off
        #expect(
            errors("data: {split: {validation: true, validation_fraction: 0}}").map(\.keyPath) == [
                "data.split.validation_fraction"
            ]
        )
        #expect(
            errors("training: {weighting: uniform, item_shrinkage: 1}").map(\.keyPath) == ["training.item_shrinkage"]
        )
    }
}
