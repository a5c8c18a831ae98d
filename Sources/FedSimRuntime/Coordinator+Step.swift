import FedSimConfig
import FedSimCore

extension Coordinator {
    /// Applies round r's aggregated update through the run's server strategy, if the model it
    /// gives is healthy (`ModelHealth`). An unhealthy step is refused: the model and the
    /// strategy's state (momentum, moments, delayed slices) stay as they were, the reason is
    /// logged and goes into the round's metrics line (`step_refused`). `ModelHealth.maxRefusalsInARow`
    /// refusals in a row stop the run with that reason: a run never completes with a
    /// non-finite or exploding model, and never spins on one.
    func step(_ update: [Float], round r: Int) throws {
        var next = model
        var nextStrategy = strategy
        nextStrategy.aggregateFit(update, round: r, model: &next)
        if let why = ModelHealth.problem(next) {
            stepRefusalsInARow += 1
            stepRefusal = why
            log.error("round \(r): server step refused, the model stays as it was: \(why)")
            if stepRefusalsInARow >= ModelHealth.maxRefusalsInARow {
                throw Failure(
                    description:
                        "round \(r): the server step was refused \(stepRefusalsInARow) rounds in a row (\(why)); stopping with the model of the last healthy step"
                )
            }
            return
        }
        stepRefusalsInARow = 0
        model = next
        strategy = nextStrategy
    }

    /// Fails the run if the model it would report is unhealthy (a checkpoint restored with a
    /// non-finite value, say): a run never reports "completed" with such a model.
    func checkFinalModel() throws {
        if let why = ModelHealth.problem(model) {
            throw Failure(description: "the final model is unhealthy: \(why)")
        }
    }
}

/// The global model's health after a server step: every parameter finite and within
/// `maxMagnitude`. A recommender's parameters live on the scale of its ratings and logits
/// (units, tens at most); a value past 10⁴ predicts nothing on any scale, and is what a
/// diverging optimizer or an unbounded update gives a few steps before overflow.
public enum ModelHealth {
    public static let maxMagnitude: Float = 10_000
    /// Refused steps in a row that stop the run.
    public static let maxRefusalsInARow = 3

    /// Why `model` is unhealthy, or nil.
    public static func problem(_ model: [Float]) -> String? {
        var largest: Float = 0
        var at = 0
        for (i, x) in model.enumerated() {
            guard x.isFinite else { return "parameter \(i) would be \(x)" }
            if abs(x) > largest {
                largest = abs(x)
                at = i
            }
        }
        guard largest <= maxMagnitude else {
            return "parameter \(at) would be \(model[at]), beyond ±\(maxMagnitude) (exploding)"
        }
        return nil
    }
}
