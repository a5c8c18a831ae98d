import FedSimCore
import FedSimMetrics
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The progress display: reads the newest metrics line and renders round, devices, ETA, the
/// latest evaluation and ε. On a terminal, a round that takes a while says what it is doing
/// (training, or training then evaluating) and for how long, so a long evaluation does not
/// look like a hang.
final class Progress {
    let total: Int
    let enabled: Bool
    /// Rounds that end with an evaluation (`evaluation.every`; the last round always does).
    var evaluationEvery = 0
    var lastLineAt = monotonicSeconds()
    var lastLine = ""
    let tty = isatty(2) != 0
    let started = monotonicSeconds()
    var lastRound = 0
    var latestMetric = ""
    var epsilon = ""
    var drewLine = false

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    /// Renders new metrics lines (from `MetricsTail`).
    func update(_ lines: [RoundMetrics]) {
        guard enabled else { return }
        for obj in lines {
            let round = obj.round
            lastRound = round
            if let e = obj.eval {
                // Click models have no RMSE (NaN): their line shows the hit rate alone.
                latestMetric =
                    (e.rmse.isFinite ? "rmse \(formatFixed(e.rmse, 4)) " : "")
                    + "hr@\(e.k) \(formatFixed(e.hitRate, 4))"
            }
            if let p = obj.privacy {
                epsilon = " · ε \(formatFixed(p.epsilon, 2))"
            }
            let elapsed = monotonicSeconds() - started
            let eta = Double(total - round) * elapsed / Double(max(round, 1))
            let devices = obj.finished.map { " · \($0)/\(obj.sampled ?? 0) devices" } ?? ""
            let line =
                "round \(round)/\(total)\(devices) · ETA \(formatFixed(eta, 0))s"
                + (latestMetric.isEmpty ? "" : " · " + latestMetric) + epsilon
            lastLine = line
            lastLineAt = monotonicSeconds()
            if tty {
                fputs("\r\u{1B}[2K" + line, stderr)
                drewLine = true
            } else if obj.eval != nil || round == total {
                fputs(line + "\n", stderr)
            }
        }
    }

    /// Called between metrics lines: after 3 s without one, the terminal line says what the
    /// next round is doing and for how long.
    func tick() {
        guard enabled, tty, lastRound < total else { return }
        let waited = monotonicSeconds() - lastLineAt
        guard waited >= 3 else { return }
        let next = lastRound + 1
        let evaluates = next == total || (evaluationEvery > 0 && next % evaluationEvery == 0)
        let doing = evaluates ? "training, then evaluating" : "training"
        let head = lastLine.isEmpty ? "" : lastLine + " · "
        fputs("\r\u{1B}[2K" + head + "round \(next): \(doing)… \(Int(waited))s", stderr)
        drewLine = true
    }

    func finish() {
        if tty && drewLine { fputs("\n", stderr) }
    }

    /// A message between progress lines (shown even with progress off: the user asked).
    func note(_ text: String) {
        if tty && drewLine { fputs("\n", stderr) }
        drewLine = false
        fputs("fedsim: \(text)\n", stderr)
    }
}
