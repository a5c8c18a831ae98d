import FedSimCore
import FedSimPrivacy
import Foundation

/// `fedsim-bench pld-check FILE`: every PLD vector of FILE (the committed vectors format, key
/// "pld") against our accountant in release mode. Each query (one plan at one discretisation,
/// all its δ) runs in a child process (`fedsim-bench pld-one …`) so its wall time and peak RSS
/// (getrusage ru_maxrss) are its own. Prints them beside dp_accounting's time and peak RSS for
/// the same query, measured by the generator, and returns false if any ε is more than 1% (+10⁻⁹) away
/// from dp_accounting's, any query takes more than 5 s or 500 MB, or our planned grid is more
/// than one 1-2-5 step from the one the generator planned.
enum PLDCheck {
    static let maxSeconds = 5.0
    static let maxMegabytes = 500.0

    static func run(file: String) throws -> Bool {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let root = try JSONSerialization.jsonObject(with: data)
        let rows = (root as? [String: Any])?["pld"] as? [[String: Any]] ?? []
        // Group rows into queries: same events and discretisation, several δ.
        var order: [String] = []
        var groups: [String: [[String: Any]]] = [:]
        for r in rows {
            let events = (r["events"] as! [[Double]]).map { "\($0[0]):\($0[1]):\(Int($0[2]))" }.joined(separator: ",")
            let h = (r["rule"] as? String) == "auto" ? "auto" : "\(r["discretization"] as? Double ?? 1e-4)"
            let key = h + " " + events
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(r)
        }
        var ok = true
        var worst = 0.0
        var slowest = 0.0
        var heaviest = 0.0
        var slowestRef = 0.0
        var heaviestRef = 0.0
        for key in order {
            let g = groups[key]!
            let parts = key.split(separator: " ").map(String.init)
            let deltas = g.map { "\($0["delta"] as! Double)" }.joined(separator: ",")
            let out = try child([parts[0], parts[1], deltas])
            // Child output: "h eps1,eps2,… seconds maxrssKB"
            let f = out.split(separator: " ").map(String.init)
            guard f.count == 4, let h = Double(f[0]), let secs = Double(f[2]), let kb = Double(f[3]) else {
                print("\(key): child failed: \(out)")
                ok = false
                continue
            }
            let eps = f[1].split(separator: ",").map { Double($0)! }
            let mb = kb / 1024
            let refSecs = g[0]["seconds"] as? Double ?? .nan
            let refMB = g[0]["peak_mb"] as? Double ?? .nan
            slowest = max(slowest, secs)
            heaviest = max(heaviest, mb)
            slowestRef = max(slowestRef, refSecs.isNaN ? 0 : refSecs)
            heaviestRef = max(heaviestRef, refMB.isNaN ? 0 : refMB)
            var line = "\(parts[1]) h=\(h)"
            if let recorded = g[0]["discretization"] as? Double, recorded != h {
                // Near a 1-2-5 boundary the two planners can round the window apart; ε is then
                // compared across adjacent grids, which the tolerance still has to absorb.
                line += " (dp_accounting ran h=\(recorded))"
                if !(h / recorded > 0.39 && h / recorded < 2.6) {
                    ok = false
                    line += " PLANNED GRID DIFFERS"
                }
            }
            for (r, e) in zip(g, eps) {
                let ref = r["epsilon"] as! Double
                let rel = ref > 0 ? abs(e - ref) / ref : abs(e - ref)
                if abs(e - ref) > 0.01 * ref + 1e-9 {
                    ok = false
                    line += " FAIL"
                }
                if !(ref == 0 && e == 0) { worst = max(worst, ref > 0 ? rel : 0) }
                line +=
                    " | δ=\(r["delta"]!) ours \(formatFixed(e, 6)) dp_accounting \(formatFixed(ref, 6)) rel \(String(format: "%.1e", rel))"
            }
            if secs > maxSeconds || mb > maxMegabytes {
                ok = false
                line += " TOO SLOW OR LARGE"
            }
            print(
                line
                    + " | ours \(formatFixed(secs, 3)) s \(formatFixed(mb, 0)) MB, dp_accounting \(formatFixed(refSecs, 3)) s \(formatFixed(refMB, 0)) MB"
            )
        }
        print(
            "\(order.count) queries, \(rows.count) vectors: worst relative ε difference \(String(format: "%.2e", worst)); "
                + "slowest query \(formatFixed(slowest, 3)) s (dp_accounting's slowest \(formatFixed(slowestRef, 3)) s); "
                + "largest peak RSS \(formatFixed(heaviest, 0)) MB (dp_accounting's \(formatFixed(heaviestRef, 0)) MB)"
        )
        return ok
    }

    static func child(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["pld-one"] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `pld-one H EVENTS DELTAS`: H a discretisation or "auto" (planned, timed with the
    /// query); EVENTS "q:σ:T,…"; DELTAS "δ,…". Prints "h ε,… seconds maxrssKB".
    static func one(_ args: [String]) {
        let events: [PLDAccountant.Event] = args[1].split(separator: ",").map {
            let x = $0.split(separator: ":")
            return (rate: Double(x[0])!, noiseMultiplier: Double(x[1])!, count: Int(x[2])!)
        }
        let deltas = args[2].split(separator: ",").map { Double($0)! }
        let t = monotonicSeconds()
        var acc = args[0] == "auto" ? PLDAccountant(planning: events) : PLDAccountant(discretization: Double(args[0])!)
        for e in events { acc.compose(rate: e.rate, noiseMultiplier: e.noiseMultiplier, count: e.count) }
        let eps = deltas.map { acc.epsilon(delta: $0) }
        let secs = monotonicSeconds() - t
        var ru = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &ru)  // ru_maxrss in KiB
        #else
        getrusage(RUSAGE_SELF, &ru)
        #endif
        print("\(acc.h) \(eps.map { "\($0)" }.joined(separator: ",")) \(secs) \(ru.ru_maxrss)")
    }
}
