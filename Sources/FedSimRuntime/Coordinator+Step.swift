import FedSimConfig
import FedSimCore

extension Coordinator {
    /// Hands round r's aggregate to the run's strategy (`Strategy.aggregateFit`): a privacy
    /// stage releases a sum and books it, the FedAvg family steps the model unless its health
    /// guard refuses the step. A refusal is logged and goes into the round's metrics line
    /// (`step_refused`); a strategy that stops the run becomes the run's failure.
    @discardableResult
    func step(_ aggregate: RoundAggregate, round r: Int) throws -> FitReport {
        let report: FitReport
        do {
            report = try strategy.aggregateFit(aggregate, round: r, model: &model)
        } catch let e as StrategyFailure {
            throw Failure(description: e.description)
        }
        if let why = report.refusal {
            stepRefusal = why
            log.error("round \(r): server step refused, the model stays as it was: \(why)")
        }
        return report
    }

    /// Fails the run if the model it would report is unhealthy (a checkpoint restored with a
    /// non-finite value, say): a run never reports "completed" with such a model.
    func checkFinalModel() throws {
        if let why = ModelHealth.problem(model) {
            throw Failure(description: "the final model is unhealthy: \(why)")
        }
    }
}
