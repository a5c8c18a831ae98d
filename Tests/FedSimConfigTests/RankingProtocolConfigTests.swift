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
        for kind in ["two_tower", "deepfm"] {
            let e = errors("model: {kind: \(kind)}\ntraining: {local: {loss: bpr}}")
            #expect(e.contains { $0.keyPath == "training.local.loss" && $0.message.contains("needs model.kind: mf") })
        }
        let central = errors("training: {mode: centralized, local: {loss: bpr}}")
        #expect(central.contains { $0.keyPath == "training.local.loss" })
        #expect(errors("model: {kind: mf}\ntraining: {local: {loss: bpr}}").isEmpty)
    }

    @Test func unknownSplitMethodNamesTheNewOne() {
        let e = errors("data: {split: {method: leave_two_out}}")
        #expect(e.map(\.keyPath) == ["data.split.method"])
        #expect(e.first?.message.contains("leave_one_out") == true)
    }
}
