import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import Testing

/// `training.local.learning_rate_schedule`: the rule, and MF training with it.
@Suite struct LearningRateScheduleTests {
    @Test func scheduleValues() {
        var c = LocalTrainingConfig()
        c.learningRate = 0.1
        #expect(c.learningRate(round: 50, rounds: 100) == 0.1)
        c.learningRateSchedule = .exponential
        c.learningRateDecay = 0.5
        #expect(c.learningRate(round: 1, rounds: 100) == 0.1)
        #expect(c.learningRate(round: 3, rounds: 100) == 0.025)
        c.learningRateSchedule = .cosine
        #expect(c.learningRate(round: 1, rounds: 100) == 0.1)
        #expect(abs(c.learningRate(round: 51, rounds: 100) - 0.05) < 1e-15)
        #expect(c.learningRate(round: 100, rounds: 100) < 0.0001)
    }

    /// Round 3 under γ = 0.5 trains exactly like a constant η/4: the schedule reaches the device.
    @Test func mfTrainsWithTheRoundsRate() throws {
        var s = Scenario()
        s.data.synthetic.devices = 20
        s.data.synthetic.itemsPerDomain = 30
        s.data.synthetic.domains = ["a"]
        s.data.synthetic.minRatings = 8
        s.data.synthetic.maxRatings = 20
        s.model.dim = 4
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let data = population.deviceData(3, split: Splitter(s.data.split, seed: 1))
        func update(_ configure: (inout Scenario) -> Void) -> [Float] {
            var t = s
            configure(&t)
            let model = MatrixFactorizationModel(ModelContext(scenario: t, info: PopulationInfo(population)))
            var personal = model.initialPersonal(device: 3)
            var rng = Seeds.rng(1, "t")
            return model.train(data, shared: model.initialShared(), personal: &personal, round: 3, rng: &rng)
                .weightedDelta
        }
        let scheduled = update {
            $0.training.local.learningRateSchedule = .exponential
            $0.training.local.learningRateDecay = 0.5
        }
        let quarter = update { $0.training.local.learningRate = s.training.local.learningRate / 4 }
        let constant = update { _ in }
        #expect(scheduled == quarter)
        #expect(scheduled != constant)
    }
}
