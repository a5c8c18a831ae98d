/// The FedAvg family as a round strategy: every round trains, evaluation follows
/// `evaluation.every` (and the last round), and the round's update goes through the server
/// step (`ServerStrategy`: FedAvg, FedAvgM, FedAdam, FedYogi, delayed groups, a schedule).
///
/// It guards the model: a step whose result fails `ModelHealth` is refused, and the model and
/// the server step's state (momentum, moments, delayed slices) stay as they were. The refusal
/// goes into the round's metrics line (`step_refused`); `ModelHealth.maxRefusalsInARow`
/// refusals in a row stop the run, so a run never completes with a non-finite or exploding
/// model, and never spins on one.
public struct FedAvgStrategy: Strategy {
    var step: any ServerStrategy
    /// The run's last round (always evaluated).
    let rounds: Int
    /// `evaluation.every` (0: only the last round).
    let evaluateEvery: Int
    var refusalsInARow = 0

    public init(step: any ServerStrategy, rounds: Int, evaluateEvery: Int) {
        self.step = step
        self.rounds = rounds
        self.evaluateEvery = evaluateEvery
    }

    public mutating func configureFit(round r: Int) -> FitPlan { .train }

    public func evaluates(round r: Int) -> Bool {
        r == rounds || (evaluateEvery > 0 && r % evaluateEvery == 0)
    }

    public mutating func aggregateFit(
        _ aggregate: RoundAggregate,
        round r: Int,
        model: inout [Float]
    ) throws -> FitReport {
        guard case .update(let update) = aggregate else {
            // The recipe puts a privacy stage around any strategy that is handed sums.
            throw StrategyFailure("round \(r): a sum reached the server step without a privacy stage to release it")
        }
        var next = model
        var nextStep = step
        nextStep.aggregateFit(update, round: r, model: &next)
        if let why = ModelHealth.problem(next) {
            refusalsInARow += 1
            if refusalsInARow >= ModelHealth.maxRefusalsInARow {
                throw StrategyFailure(
                    "round \(r): the server step was refused \(refusalsInARow) rounds in a row (\(why)); stopping with the model of the last healthy step"
                )
            }
            return FitReport(refusal: why)
        }
        refusalsInARow = 0
        model = next
        step = nextStep
        return FitReport()
    }

    public var state: StrategyState {
        get { step.state }
        set { step.state = newValue }
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
