import FedSimCore
import FedSimMetrics

/// Per-device participation over a run: how often each device was selected and how often
/// its update counted. 8 bytes per device. The fairness summary says how many devices never
/// took part, and how unequal participation was (Gini of finished counts).
public struct Participation: Sendable {
    public private(set) var selected: [UInt32]
    public private(set) var finished: [UInt32]

    public init(devices: Int) {
        selected = [UInt32](repeating: 0, count: devices)
        finished = [UInt32](repeating: 0, count: devices)
    }

    public init(selected: [UInt32], finished: [UInt32]) {
        precondition(selected.count == finished.count)
        self.selected = selected
        self.finished = finished
    }

    public mutating func record(selected s: [Int], finished f: [Int]) {
        for d in s where d < selected.count { selected[d] &+= 1 }
        for d in f where d < finished.count { finished[d] &+= 1 }
    }

    /// Gini coefficient of non-negative counts: 0 for equal participation, → 1 when a few
    /// devices do everything.
    public static func gini(_ counts: [UInt32]) -> Double {
        let n = counts.count
        guard n > 0 else { return 0 }
        var c = [Int](repeating: 0, count: Int(counts.max() ?? 0) + 1)
        for x in counts { c[Int(x)] += 1 }
        // Σ_i (2i − n − 1) x_(i) over sorted x, computed from the histogram.
        var rank = 0
        var num = 0.0
        var total = 0.0
        for (value, count) in c.enumerated() where count > 0 {
            // ranks rank+1 … rank+count, all with this value
            let sumRanks = Double(count) * Double(2 * rank + count + 1) / 2
            num += Double(value) * (2 * sumRanks - Double(count) * Double(n + 1))
            total += Double(value) * Double(count)
            rank += count
        }
        return total > 0 ? num / (Double(n) * total) : 0
    }

    /// summary.json's `participation`, with the simulated clock at the end of the run.
    public func summary(simulatedSeconds: Double) -> ParticipationSummary {
        let finishedTotal: Int = finished.reduce(0) { $0 + Int($1) }
        return ParticipationSummary(
            devices: selected.count,
            neverSelected: selected.filter { $0 == 0 }.count,
            neverFinished: finished.filter { $0 == 0 }.count,
            maxSelected: Int(selected.max() ?? 0),
            meanFinished: Double(finishedTotal) / Double(max(1, finished.count)),
            giniFinished: Self.gini(finished),
            simulatedSeconds: simulatedSeconds
        )
    }

    /// `device,selected,finished` rows for every device that took part at least once.
    public func csv() -> String {
        var s = "device,selected,finished\n"
        for d in selected.indices where selected[d] > 0 { s += "\(d),\(selected[d]),\(finished[d])\n" }
        return s
    }
}
