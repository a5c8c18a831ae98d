import FedSimCore

/// Beyond-accuracy metrics computed from aggregated counts (no individual top-K list is
/// needed): `recommended[i]` is how many evaluated devices have item i in their top-K list,
/// `rated[i]` how many of them rated it in training, `devices` how many were evaluated.
public enum ExposureMetrics {
    /// Catalogue coverage: share of items recommended to at least one device.
    public static func coverage(_ recommended: [Double]) -> Double {
        recommended.isEmpty ? 0 : Double(recommended.filter { $0 > 0 }.count) / Double(recommended.count)
    }

    /// Gini coefficient of exposure over all items: 0 when every item is recommended equally
    /// often, → 1 when a few items take all recommendations (popularity bias).
    public static func gini(_ counts: [Double]) -> Double {
        let n = counts.count
        let total = counts.reduce(0, +)
        guard n > 0, total > 0 else { return 0 }
        let sorted = counts.sorted()
        var num = 0.0
        for (i, x) in sorted.enumerated() { num += Double(2 * (i + 1) - n - 1) * x }
        return num / (Double(n) * total)
    }

    /// Novelty: mean self-information −log₂ p(i) of recommended items (Zhou et al. 2010), with
    /// p(i) = (rated(i) + 1) / (devices + 1) the smoothed share of devices that rated i.
    public static func novelty(recommended: [Double], rated: [Double], devices: Int) -> Double {
        let exposures = recommended.reduce(0, +)
        guard exposures > 0 else { return .nan }
        var s = 0.0
        for (i, c) in recommended.enumerated() where c > 0 { s += c * -_log2((rated[i] + 1) / (Double(devices) + 1)) }
        return s / exposures
    }
}
