import FedSimConfig
import FedSimCore
import FedSimMetrics

/// Baselines every run is compared against at each evaluation (docs/metrics.md): the global
/// mean rating as a constant predictor, and the popularity ranking; plus serendipity, which
/// is defined against the popularity ranking. Computed from per-device sums only.
extension Coordinator {
    func baselines(_ unordered: [DeviceEvaluation]) -> (serendipity: Double?, baselines: EvaluationBaselines) {
        let results = unordered.sorted { $0.device < $1.device }
        let k = scenario.evaluation.k
        var serendipity: Double?
        var b = EvaluationBaselines()
        // Global mean: c = Σ train ratings / n_train; its held-out squared error is
        // Σ r² − 2cΣ r + n c², from the sums each device reports.
        lastFullBaselines = FullBaselines()
        if let (c, rmse) = Self.globalMean(results) {
            lastFullBaselines?.globalMeanRMSE = rmse
            b.globalMean = EvaluationBaselines.GlobalMean(value: c, rmse: rmse)
        }
        let ranked = results.filter { $0.ranked && $0.popularityHit >= 0 }
        if !ranked.isEmpty {
            let n = Double(ranked.count)
            b.popularity = RankingBaseline(
                k: k,
                hitRate: ranked.reduce(0.0) { $0 + $1.popularityHit } / n,
                ndcg: ranked.reduce(0.0) { $0 + $1.popularityNdcg } / n,
                devices: ranked.count
            )
            lastFullBaselines?.popularity = (
                ranked.reduce(0.0) { $0 + $1.popularityHit } / n, ranked.reduce(0.0) { $0 + $1.popularityNdcg } / n
            )
            serendipity = ranked.reduce(0.0) { $0 + $1.serendipity } / n
        }
        lastSampledBaselines?.add(to: &b, k: k)
        referenceBaselines?.add(to: &b, k: k, sampled: scenario.evaluation.sampledNegatives)
        return (serendipity, b)
    }

    /// The global-mean predictor and its held-out RMSE, from the devices' sums; nil without ratings.
    public static func globalMean(_ results: [DeviceEvaluation]) -> (value: Double, rmse: Double)? {
        let nTrain = results.reduce(0) { $0 + $1.trainCount }
        let nTest = results.reduce(0) { $0 + $1.count }
        guard nTrain > 0 && nTest > 0 else { return nil }
        let c = results.reduce(0.0) { $0 + $1.trainSum } / Double(nTrain)
        let sq = results.reduce(0.0) { $0 + $1.testSquares }
        let sum = results.reduce(0.0) { $0 + $1.testSum }
        return (c, (max(0, sq - 2 * c * sum + Double(nTest) * c * c) / Double(nTest)).squareRoot())
    }

    /// Demographic cohorts: per user feature with at most 12 values among the evaluated
    /// devices (ML-100K age bucket and gender; the synthetic home domain, age, region).
    func demographicGroups(_ results: [DeviceEvaluation]) -> [(String, String, [DeviceEvaluation])] {
        guard let names = population.userFeatureNames else { return [] }
        var out: [(String, String, [DeviceEvaluation])] = []
        for (f, name) in names.enumerated() {
            let values = Set(results.compactMap { f < $0.features.count && $0.features[f] >= 0 ? $0.features[f] : nil })
            guard values.count > 1 && values.count <= 12 else { continue }
            for v in values.sorted() {
                out.append(
                    ("demographic", "\(name)=\(v)", results.filter { f < $0.features.count && $0.features[f] == v })
                )
            }
        }
        return out
    }

    /// Availability classes of the simulated fleet (when the fleet model shapes rounds): devices
    /// with and without a Wi-Fi window, and compute-speed terciles.
    func availabilityGroups(_ results: [DeviceEvaluation]) -> [(String, String, [DeviceEvaluation])] {
        guard scenario.fleet.shapesRounds, !results.isEmpty else { return [] }
        var out: [(String, String, [DeviceEvaluation])] = []
        let devices = results.map { fleet.device($0.device) }  // derived from (seed, device): once each
        func members(_ keep: (FleetModel.Device) -> Bool) -> [DeviceEvaluation] {
            zip(results, devices).filter { keep($1) }.map(\.0)
        }
        if scenario.fleet.availability.model != .always {
            out.append(("availability", "Wi-Fi window", members { $0.hasWifi }))
            out.append(("availability", "no Wi-Fi window", members { !$0.hasWifi }))
        }
        let speeds = devices.map(\.speed).sorted()
        let cuts = [speeds[speeds.count / 3], speeds[2 * speeds.count / 3]]
        for (t, name) in ["slow", "medium", "fast"].enumerated() {
            out.append(
                (
                    "availability", "\(name) compute",
                    members { (t == 0 || $0.speed >= cuts[t - 1]) && (t == 2 || $0.speed < cuts[t]) }
                )
            )
        }
        return out
    }
}
