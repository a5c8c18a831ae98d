import FedSimConfig

/// The rating histogram of `fedsim data stats`, over the population's own scale: one bin per
/// whole rating when the scale is whole numbers at most 20 apart (`1..5`, `1..10`), else ten
/// equal bins. Implicit feedback (scale 1...1) is one bin.
struct RatingHistogram {
    let scale: ClosedRange<Float>
    var counts: [Int]
    let wholeNumbers: Bool

    init(scale: ClosedRange<Float>) {
        self.scale = scale
        let width = scale.upperBound - scale.lowerBound
        wholeNumbers =
            scale.lowerBound == scale.lowerBound.rounded() && scale.upperBound == scale.upperBound.rounded()
            && width <= 20
        counts = [Int](repeating: 0, count: wholeNumbers ? Int(width) + 1 : 10)
    }

    mutating func add(_ r: Float) {
        let x =
            wholeNumbers
            ? (r - scale.lowerBound).rounded() : (r - scale.lowerBound) / (scale.upperBound - scale.lowerBound) * 10
        counts[max(0, min(counts.count - 1, Int(x)))] += 1
    }

    var line: String {
        let lo = Self.format(scale.lowerBound)
        let hi = Self.format(scale.upperBound)
        let label = wholeNumbers ? "\(lo)..\(hi)" : "\(lo)..\(hi) in 10 bins"
        return "rating histogram \(label): \(counts.map(String.init).joined(separator: " "))"
    }

    static func format(_ v: Float) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}

extension DataConfig {
    /// What `fedsim validate` says the data is.
    var summary: String {
        switch source {
        case .synthetic: return "synthetic (\(synthetic.devices) devices)"
        case .movielens: return "movielens at \(path)"
        case .interactions:
            let files = interactions?.files ?? []
            return "interactions from \(files.joined(separator: ", "))"
        case .recbole:
            let stem = recbole?.dataset.map { "\($0) " } ?? ""
            return "recbole \(stem)at \(path)"
        }
    }
}
