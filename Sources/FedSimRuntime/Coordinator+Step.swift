import FedSimConfig

extension Coordinator {
    /// Applies round r's aggregated update through the run's server strategy.
    func step(_ update: [Float], round r: Int) {
        strategy.aggregateFit(update, round: r, model: &model)
    }
}
