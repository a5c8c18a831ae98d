import FedSimConfig
import FedSimTestSupport
import Testing

/// The standard federated-recommendation protocol and MF's ranking loss as scenario keys.
@Suite struct RankingProtocolConfigTests {
    func errors(_ yaml: String) -> [ScenarioError] { TestSupport.scenarioErrors(yaml) }

    @Test func lossIsReadAndDefaultsToSquaredError() throws {
        #expect(Scenario().training.local.loss == .mse)
        let s = try Scenario.load(yaml: "training: {local: {loss: mse+bpr, negatives: 4}}")
        #expect(s.training.local.loss == .mseBpr && s.training.local.negatives == 4)
        #expect(s.training.local.loss.ranks && s.training.local.loss.regresses)
        #expect(errors("training: {local: {loss: hinge}}").map(\.keyPath) == ["training.local.loss"])
        #expect(errors("training: {local: {loss: bpr, negatives: 0}}").map(\.keyPath) == ["training.local.negatives"])
    }

    @Test func rankingLossIsRefusedWhereNoModelImplementsIt() {
        for kind in ["deepfm", "lsttm", "svdpp"] {
            let e = errors("model: {kind: \(kind)}\ntraining: {local: {loss: bpr}}")
            #expect(
                e.contains {
                    $0.keyPath == "training.local.loss" && $0.message.contains("needs model.kind: mf or two_tower")
                },
                "\(kind): \(e)"
            )
        }
        let central = errors("training: {mode: centralized, local: {loss: bpr}}")
        #expect(central.contains { $0.keyPath == "training.local.loss" })
        #expect(errors("model: {kind: mf}\ntraining: {local: {loss: bpr}}").isEmpty)
    }

    @Test func sampledSoftmaxKeysAreRead() throws {
        let s = try Scenario.load(
            yaml:
                "training: {local: {loss: mse+sampled_softmax, negatives: 8, positive_threshold: 4, logq_correction: true}}"
        )
        let local = s.training.local
        #expect(local.loss == .mseSampledSoftmax && local.loss.softmax && local.loss.ranks && local.loss.regresses)
        #expect(local.negatives == 8 && local.positiveThreshold == 4 && local.logqCorrection)
        let plain = try Scenario.load(yaml: "training: {local: {loss: sampled_softmax}}").training.local
        #expect(plain.loss.softmax && !plain.loss.regresses && plain.positiveThreshold == 0 && !plain.logqCorrection)
        #expect(!LocalTrainingConfig.Loss.mseBpr.softmax && LocalTrainingConfig.Loss.mseBpr.regresses)
        #expect(!LocalTrainingConfig.Loss.bpr.regresses)
    }

    /// The ranking term's keys without that term, or out of range, are refused at their line.
    @Test func rankingTermKeysAreRefusedWithoutTheirTerm() {
        let threshold = errors("model: {kind: mf}\ntraining:\n  local:\n    loss: mse\n    positive_threshold: 4\n")
        #expect(threshold.map(\.keyPath) == ["training.local.positive_threshold"])
        #expect(threshold.first?.line == 5)
        #expect(threshold.first?.message.contains("sampled_softmax") == true)
        let logq = errors("training:\n  local: {loss: bpr,\n    logq_correction: true}\n")
        #expect(logq.map(\.keyPath) == ["training.local.logq_correction"])
        #expect(logq.first?.line == 3)
        let negative = errors("training: {local: {loss: bpr, positive_threshold: -1}}")
        #expect(negative.map(\.keyPath) == ["training.local.positive_threshold"])
        #expect(
            errors("training: {local: {loss: bpr, logq_correction: maybe}}").map(\.keyPath) == [
                "training.local.logq_correction"
            ]
        )
        #expect(errors("training: {local: {loss: softmax}}").first?.message.contains("sampled_softmax") == true)
        #expect(
            errors("training: {local: {loss: sampled_softmax, positive_threshold: 4, logq_correction: true}}").isEmpty
        )
        let twoTower = errors(
            "model: {kind: two_tower}\ntraining: {local: {loss: sampled_softmax, logq_correction: true}}"
        )
        #expect(twoTower.isEmpty, "\(twoTower)")
    }

    /// Two-tower trains the ranking terms in its local epochs; what adapts by squared error
    /// (meta-learning's inner loops, FedRecon's reconstruction, cold-start adaptation) is
    /// refused at the loss's key and line, naming the key it conflicts with.
    @Test func twoTowerRankingLossIsRefusedWhereAdaptationFitsRatings() {
        for loss in ["bpr", "mse+bpr", "sampled_softmax", "mse+sampled_softmax"] {
            #expect(errors("model: {kind: two_tower}\ntraining: {local: {loss: \(loss), negatives: 4}}").isEmpty)
        }
        let cases = [
            ("meta: {algorithm: reptile}", "meta.algorithm reptile"),
            ("personalization: {strategy: fedrecon}", "personalization.strategy fedrecon"),
            ("evaluation: {cold_start: {protocol: new_users}}", "evaluation.cold_start"),
        ]
        for (extra, named) in cases {
            let e = errors("model: {kind: two_tower}\n\(extra)\ntraining:\n  local:\n    loss: bpr\n")
            let loss = e.filter { $0.keyPath == "training.local.loss" }
            #expect(loss.count == 1 && loss.first?.line == 5, "\(extra): \(e)")
            #expect(loss.first?.message.contains(named) == true, "\(extra): \(e)")
            #expect(loss.first?.message.contains("squared error") == true)
            let mse = errors("model: {kind: two_tower}\n\(extra)\ntraining: {local: {loss: mse}}")
            #expect(!mse.contains { $0.keyPath == "training.local.loss" }, "\(extra): \(mse)")
        }
    }

    @Test func unknownSplitMethodNamesTheNewOne() {
        let e = errors("data: {split: {method: leave_two_out}}")
        #expect(e.map(\.keyPath) == ["data.split.method"])
        #expect(e.first?.message.contains("leave_one_out") == true)
    }
}
