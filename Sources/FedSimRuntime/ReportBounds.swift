import FedSimConfig
import FedSimCore
import FedSimData

/// What a device's reported statistics may claim, from what the coordinator knows without its
/// data: the device's training-set size (`DeviceDirectory`), the split rule (so the largest
/// test set that size allows) and the rating scale.
///
/// A device's statistics enter the run's metrics as sums weighted by its counts. One device
/// claiming 10⁹ ratings with zero error made a run's RMSE 5.6·10⁻⁵; an infinite training loss
/// made the round's loss infinite. Each claim is therefore checked against what an honest
/// device could report, and a report that fails is refused whole (named in the log, counted in
/// the metrics):
///
/// - counts: ratings evaluated ≤ the test set the device's training size allows; training
///   examples and training ratings ≤ its training size;
/// - errors: squared error ≤ count × (rating range)², absolute error ≤ count × range
///   (predictions are clamped to the scale); the rating sums of the global-mean baseline
///   within count × the scale;
/// - rates (HR, NDCG, recall, MRR, AUC, diversity, serendipity) within their ranges;
/// - everything finite; a training loss finite and ≥ 0.
///
/// Within these bounds a device can still misreport its own figures; it moves a round's
/// means by at most its own share of the counts (docs/reliability.md, threat model).
struct ReportBounds: Sendable {
    let directory: DeviceDirectory?
    let testFraction: Double
    /// Leave-one-out holds out exactly one interaction per device.
    let leaveOneOut: Bool
    let ratingMin: Double
    let ratingMax: Double
    /// The validation share carved from training (`data.split.validation`); nil without one.
    let validationFraction: Double?

    init(directory: DeviceDirectory?, split: SplitConfig, population: PopulationInfo) {
        self.directory = directory
        testFraction = split.testFraction
        leaveOneOut = split.method == .leaveOneOut
        validationFraction = split.validation ? split.validationFraction : nil
        ratingMin = Double(population.ratingMin)
        ratingMax = Double(population.ratingMax)
    }

    /// Float sums and rounding on the device: a claim may exceed its bound by this share.
    static let slack = 1 + 1e-6

    /// The device's training-set size, when the coordinator knows it.
    func trainingSize(of device: Int) -> Int? {
        guard let directory, device >= 0, device < directory.count else { return nil }
        return Int(directory.trainSizes[device])
    }

    /// The largest test set a device with `train` training ratings can hold:
    /// t = round(f·(train + t)) at most, so t ≤ (f·train + ½) / (1 − f). A cold-start protocol
    /// only ever withholds ratings, which makes both sets smaller.
    func maxTestCount(of device: Int) -> Int? {
        if leaveOneOut { return 1 }
        guard let train = beforeValidation(of: device), testFraction < 1 else { return nil }
        return Int(((testFraction * Double(train) + 0.5) / (1 - testFraction)).rounded(.down)) + 1
    }

    /// The most the training part can have held before the validation split took its share
    /// v = round(g·n) of n: n ≤ (train + ½) / (1 − g) (+1 for rounding).
    func beforeValidation(of device: Int) -> Int? {
        guard let train = trainingSize(of: device) else { return nil }
        guard let g = validationFraction, !leaveOneOut else { return train + (validationFraction == nil ? 0 : 1) }
        return Int(((Double(train) + 0.5) / (1 - g)).rounded(.down)) + 1
    }

    /// The largest validation part a device with this training size can hold.
    func maxValidationCount(of device: Int) -> Int? {
        if leaveOneOut { return 1 }
        guard let g = validationFraction, let n = beforeValidation(of: device) else { return nil }
        return Int((g * Double(n)).rounded(.up)) + 1
    }

    /// Why a training update's statistics are refused, or nil.
    func refusal(device: Int, examples: Int, trainLoss: Double) -> String? {
        if !trainLoss.isFinite || trainLoss < 0 {
            return "its training loss \(trainLoss) is not a finite non-negative number"
        }
        if let n = trainingSize(of: device), examples > n {
            return "it claims \(examples) training examples; it holds \(n)"
        }
        return nil
    }

    /// Why a cold-start entry is refused, or nil: its query is part of the device's own
    /// ratings (at most its training and largest test set together), scored on the scale.
    func refusal(_ e: ColdStartEntry) -> String? {
        let device = Int(e.device)
        if let n = trainingSize(of: device), let t = maxTestCount(of: device), Int(e.count) > n + t {
            return "it claims \(e.count) query ratings; a device with \(n) training ratings holds at most \(n + t)"
        }
        let count = Double(e.count)
        let range = ratingMax - ratingMin
        if e.squaredError > count * range * range * Self.slack + 1e-9
            || e.absoluteError > count * range * Self.slack + 1e-9
        {
            return
                "its errors (\(e.squaredError), \(e.absoluteError)) exceed what \(e.count) ratings on a scale of width \(range) allow"
        }
        return nil
    }

    /// Why an evaluation entry is refused, or nil.
    func refusal(_ e: DeviceEvaluation, validation: Bool = false) -> String? {
        let count = Double(e.count)
        let range = ratingMax - ratingMin
        let magnitude = max(abs(ratingMin), abs(ratingMax))
        let s = Self.slack
        if let t = validation ? maxValidationCount(of: e.device) : maxTestCount(of: e.device), e.count > t {
            return
                "it claims \(e.count) held-out ratings; a device with \(trainingSize(of: e.device)!) training ratings holds at most \(t)"
        }
        if let n = trainingSize(of: e.device), e.trainCount > n {
            return "it claims \(e.trainCount) training ratings; it holds \(n)"
        }
        func within(_ x: Double, _ lo: Double, _ hi: Double) -> Bool {
            x.isFinite && x >= lo - abs(lo) * (s - 1) - 1e-9 && x <= hi * s + 1e-9
        }
        let errors: [(String, Double, Double)] = [
            ("squared error", e.squaredError, count * range * range),
            ("absolute error", e.absoluteError, count * range),
        ]
        for (name, x, hi) in errors where !within(x, 0, hi) {
            return "its \(name) \(x) is outside [0, \(hi)] for \(e.count) ratings on a scale of width \(range)"
        }
        for (name, x) in [("global-model", e.squaredErrorGlobal), ("local-only", e.squaredErrorLocal)]
        where x != -1 && !within(x, 0, count * range * range) {
            return "its \(name) squared error \(x) is outside [0, \(count * range * range)]"
        }
        let sums: [(String, Double, Double, Double)] = [
            ("held-out rating sum", e.testSum, count * min(ratingMin, 0), count * magnitude),
            ("held-out squared rating sum", e.testSquares, 0, count * magnitude * magnitude),
            (
                "training rating sum", e.trainSum, Double(e.trainCount) * min(ratingMin, 0),
                Double(e.trainCount) * magnitude
            ),
        ]
        for (name, x, lo, hi) in sums where !within(x, lo, hi) {
            return "its \(name) \(x) is outside [\(lo), \(hi)]"
        }
        let rates: [(String, Double, Double, Bool)] = [
            ("hit", e.hit, 1, false), ("ndcg", e.ndcg, 1, false), ("recall", e.recall, 1, false),
            ("mrr", e.mrr, 1, false), ("auc", e.auc, 1, false), ("ild_category", e.ildCategory, 1, false),
            ("ild_embedding", e.ildEmbedding, 2, false), ("sampled hit", e.sampledHit, 1, false),
            ("sampled ndcg", e.sampledNdcg, 1, false), ("popularity hit", e.popularityHit, 1, true),
            ("popularity ndcg", e.popularityNdcg, 1, true), ("serendipity", e.serendipity, 1, true),
            ("sampled popularity hit", e.sampledPopularityHit, 1, true),
            ("sampled popularity ndcg", e.sampledPopularityNdcg, 1, true),
        ]
        for (name, x, hi, absent) in rates where !(absent && x == -1) && !within(x, 0, hi) {
            return "its \(name) \(x) is outside [0, \(hi)]"
        }
        return nil
    }
}
