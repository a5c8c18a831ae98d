import FedSimConfig
import FedSimRuntime
import Foundation

/// Chaos rows for issue 21's hostile and frozen processes: a compromised client with a valid
/// token, a client frozen past a deadline, and a frozen coordinator. Each action also checks,
/// once the run has ended, what the table's columns cannot show (the liar refused every round,
/// nobody evicted), and stops `make chaos` with exit 1 and the reason if it does not hold.
extension ChaosBench {
    static func hostileCases() -> [Case] {
        [
            Case(
                name:
                    "compromised client with a valid token: lying weights, forged evaluation reports, infinite losses",
                secure: false,
                faults: [fault(.lie, round: 1)],
                action: { dir in expectAfterRun(dir, "the lying device refused every round", liarRefused) },
                atRound: 1,
                mustEqualFaultFree: false,
                note:
                    "its update (weights of 1/1000: Δ × 1000, loss +∞, 2³²−1 examples) and its report (10⁹ ratings, no error) are refused every round, naming the device"
            ),
            Case(
                name: "frozen client: SIGSTOP 5 s (past the 3 s deadline), then SIGCONT",
                secure: true,
                action: { dir in
                    freeze(ProcessLookup.clientPID(runDirectory: dir, index: 1), seconds: 5)
                    expectAfterRun(dir, "both client processes alive in every round", nobodyEvicted)
                },
                atRound: 3,
                mustEqualFaultFree: false,
                note:
                    "its devices time out (a SecAgg+ dropout, or an abandoned round); its late replies are ignored and it stays for every later round"
            ),
            Case(
                name: "frozen coordinator: SIGSTOP 4 s, then SIGCONT",
                secure: true,
                action: { dir in
                    freeze(ProcessLookup.coordinatorPID(runDirectory: dir), seconds: 4)
                    expectAfterRun(dir, "both client processes alive in every round", nobodyEvicted)
                },
                atRound: 3,
                mustEqualFaultFree: false,
                note: "the round under way may time out on resume; no client is evicted"
            ),
        ]
    }

    /// Stops a process for `seconds` and lets it go on.
    static func freeze(_ pid: pid_t?, seconds: Double) {
        guard let pid else {
            fail("no process to freeze")
            return
        }
        kill(pid, SIGSTOP)
        usleep(useconds_t(seconds * 1_000_000))
        kill(pid, SIGCONT)
    }

    /// Waits for the run to end (its summary.json), then checks its metrics lines.
    static func expectAfterRun(_ dir: String, _ what: String, _ holds: ([[String: Any]]) -> Bool) {
        let deadline = Date().addingTimeInterval(180)
        while !FileManager.default.fileExists(atPath: dir + "/summary.json") && Date() < deadline { usleep(50_000) }
        if !holds(metrics(dir)) { fail("expected \(what) in \(dir)") }
    }

    static func liarRefused(_ m: [[String: Any]]) -> Bool {
        let final = m.last?["eval"] as? [String: Any]
        return !m.isEmpty && m.allSatisfy { ($0["rejected"] as? Int ?? 0) >= 1 }
            && final?["refused_reports"] as? Int == 1
    }

    static func nobodyEvicted(_ m: [[String: Any]]) -> Bool {
        !m.isEmpty && m.allSatisfy { $0["processes_alive"] as? Int == 2 }
    }

    static func fail(_ why: String) {
        FileHandle.standardError.write(Data("chaos: FAILED: \(why)\n".utf8))
        exit(1)
    }
}
