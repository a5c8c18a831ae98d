import FedSimConfig
import FedSimCore
import FedSimReports
import FedSimRuntime
import FedSimWire
import Foundation
import NIOCore

/// `fedsim-bench chaos`: every fault class against real processes on the loopback socket,
/// each beside a fault-free run of the same scenario and seed. Reports rounds completed,
/// rounds abandoned, devices lost, whether the final model equals the fault-free one (and
/// whether the design says it must), and whether the privacy ledger accounts every round.
/// All runs use central DP with reproducible noise, so model comparisons are exact.
enum ChaosBench {
    struct Case {
        var name: String
        var secure: Bool
        var faults: [FaultConfig] = []
        /// Something done to the running system once `atRound` rounds are recorded.
        var action: ((String) -> Void)? = nil
        var atRound = 3
        var resumeAfter = false
        /// Runs the case itself (scenario, parent folder) instead of an in-process launch.
        var runner: ((Scenario, String) throws -> Launcher.Result)? = nil
        var mustEqualFaultFree: Bool
        var note: String
    }

    struct Outcome {
        var rounds = 0, abandoned = 0, lost = 0
        var equal = false
        var ledgerComplete = false
        var ledgerEntries = 0
        var exit: Int32 = 0
    }

    static func scenario(secure: Bool) -> Scenario {
        var s = Scenario()
        s.name = "chaos"
        s.seed = 11
        s.data.synthetic.devices = 400
        s.data.synthetic.domains = ["a", "b"]
        s.data.synthetic.itemsPerDomain = 100
        s.data.synthetic.maxRatings = 80
        s.model.dim = 8
        s.training.rounds = 10
        s.training.devicesPerRound = 60
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .central
        s.privacy.noise = .reproducible
        s.privacy.clip = 0.5
        s.privacy.noiseMultiplier = 0.7
        s.evaluation.every = 0
        s.evaluation.devices = 100
        s.runtime.processes = 2
        s.runtime.roundDeadlineSeconds = 3
        s.runtime.checkpointEvery = 2
        s.secureAggregation.protocol = secure ? .secaggPlus : .none
        s.secureAggregation.assumedDropout = 0.3
        return s
    }

    static func fault(
        _ kind: FaultConfig.Kind,
        process: Int = 1,
        round: Int = 3,
        after: Int = 0,
        seconds: Double = 0,
        scale: Double = 1000,
        probability: Double = 0.5
    ) -> FaultConfig {
        var f = FaultConfig()
        f.kind = kind
        f.process = process
        f.round = round
        f.afterUpdates = after
        f.seconds = seconds
        f.scale = scale
        f.probability = probability
        return f
    }

    static func cases() -> [Case] {
        [
            Case(
                name: "client SIGKILL while training",
                secure: false,
                faults: [fault(.crash, after: 5)],
                mustEqualFaultFree: false,
                note: "its devices drop; later rounds sample from the surviving process"
            ),
            Case(
                name: "client SIGKILL during SecAgg+ masked inputs",
                secure: true,
                faults: [fault(.crash, after: 3)],
                mustEqualFaultFree: false,
                note: "survivors' sum is exact, or the round is abandoned below the threshold"
            ),
            Case(
                name: "client stalls past the round deadline",
                secure: false,
                faults: [fault(.stall, after: 2, seconds: 4)],
                mustEqualFaultFree: false,
                note: "late devices time out at runtime.round_deadline_seconds"
            ),
            Case(
                name: "update frames dropped (p = 0.5)",
                secure: false,
                faults: [fault(.drop)],
                mustEqualFaultFree: false,
                note: "lost updates time out; the round closes with the rest"
            ),
            Case(
                name: "update frames delayed 20 ms",
                secure: false,
                faults: [fault(.delay, seconds: 0.02)],
                mustEqualFaultFree: true,
                note: "slower, nothing lost"
            ),
            Case(
                name: "client disconnects and reconnects",
                secure: false,
                faults: [fault(.disconnect, after: 4, seconds: 0.3)],
                mustEqualFaultFree: false,
                note: "devices of that round drop; the process re-joins with its state"
            ),
            Case(
                name: "client disconnects during SecAgg+ and reconnects",
                secure: true,
                faults: [fault(.disconnect, seconds: 0.3)],
                mustEqualFaultFree: false,
                note: "a SecAgg+ dropout (or an abandoned round); re-enrols with the same identity keys"
            ),
            Case(
                name: "coordinator SIGKILL, then fedsim resume",
                secure: true,
                action: killCoordinator,
                atRound: 5,
                resumeAfter: true,
                mustEqualFaultFree: true,
                note: "resumes from the last checkpoint; ledger keeps redone rounds"
            ),
            Case(
                name: "poisoned updates (×1000), no secure aggregation",
                secure: false,
                faults: [fault(.poison)],
                mustEqualFaultFree: false,
                note: "re-clipped at the coordinator: each device moves the sum by ≤ C"
            ),
            Case(
                name: "poisoned updates (×1000) under SecAgg+",
                secure: true,
                faults: [fault(.poison)],
                mustEqualFaultFree: false,
                note: "bounded per element by the quantizer's public range; clipping is the client's promise"
            ),
            Case(
                name: "hostile peer: garbage, oversized frame, wrong token, stolen process index",
                secure: false,
                action: attack,
                atRound: 2,
                mustEqualFaultFree: true,
                note: "each connection refused with a logged reason; the run is untouched"
            ),
        ] + connectionCases() + lifecycleCases() + hostileCases() + durabilityCases()
    }

    static func killCoordinator(_ dir: String) {
        if let pid = try? String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8),
            let p = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(p, SIGKILL)
        }
    }

    /// Connects to the run's socket four times: bytes that are no frame, a frame claiming
    /// 2 GB, a hello with a wrong token, and a hello with the real token for a process index
    /// that is already connected.
    static func attack(_ dir: String) {
        let run = RunDirectory(path: dir)
        let token = (try? run.readToken()) ?? []
        func frame(_ m: Message) -> [UInt8] {
            var b = FrameCodec.encode(m)
            return b.readBytes(length: b.readableBytes)!
        }
        let payloads: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\n\r\n".utf8),
            [0xF0, 0xFF, 0xFF, 0x7F, 1, 4, 0, 0],
            frame(
                .hello(
                    Hello(
                        token: [UInt8](repeating: 0, count: 32),
                        processIndex: 0,
                        processCount: 2,
                        firstDevice: 0,
                        deviceCount: 200
                    )
                )
            ),
            frame(.hello(Hello(token: token, processIndex: 0, processCount: 2, firstDevice: 0, deviceCount: 200))),
        ]
        for p in payloads {
            let fd = rawConnection(run.socketPath)
            if fd >= 0 {
                _ = p.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                var buf = [UInt8](repeating: 0, count: 512)
                var tv = timeval(tv_sec: 1, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                _ = read(fd, &buf, buf.count)  // the reject frame, or EOF
                close(fd)
            }
        }
    }

    static func metrics(_ dir: String) -> [[String: Any]] {
        guard let t = try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8) else { return [] }
        return t.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func launch(_ s: Scenario, out: String, action: ((String) -> Void)?, atRound: Int) throws -> Launcher.Result
    {
        var launcher = Launcher(scenario: s, outParent: out, binDirectory: Launcher.ownBinDirectory())
        launcher.showProgress = false
        let l = launcher
        guard let action else { return try l.launch() }
        // Launch in the background; act once `atRound` rounds are on disk.
        let box = ResultBox()
        let thread = Thread { box.result = Result { try l.launch() } }
        thread.start()
        let deadline = monotonicSeconds() + 60
        var acted = false
        while box.result == nil && monotonicSeconds() < deadline {
            if !acted,
                let d = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter({
                    $0.hasPrefix(s.name + "-")
                }).sorted().last,
                metrics(out + "/" + d).count >= atRound
            {
                action(out + "/" + d)
                acted = true
            }
            usleep(5_000)
        }
        while box.result == nil { usleep(10_000) }
        return try box.result!.get()
    }

    final class ResultBox: @unchecked Sendable { var result: Result<Launcher.Result, Error>? }

    static func run(write docPath: String?) throws {
        let out = NSTemporaryDirectory() + "fedsim-chaos-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var reference: [Bool: Data] = [:]
        for secure in [false, true] {
            let r = try launch(scenario(secure: secure), out: out + "/ref", action: nil, atRound: 0)
            guard r.exitCode == 0 else {
                throw RunDirectory.SetupError(description: "fault-free run failed: \(r.error ?? "")")
            }
            reference[secure] = FileManager.default.contents(atPath: r.directory.path + "/model.bin")
        }
        var rows: [String] = []
        var failures = 0
        // FEDSIM_CHAOS_ONLY=text runs the rows whose name contains it (the table is not written).
        let only = ProcessInfo.processInfo.environment["FEDSIM_CHAOS_ONLY"]
        for c in cases() where only == nil || c.name.contains(only!) {
            var s = scenario(secure: c.secure)
            s.runtime.faults = c.faults
            let parent = out + "/" + String(rows.count)
            var result =
                try c.runner?(s, parent) ?? launch(s, out: parent, action: c.action, atRound: c.atRound)
            if c.resumeAfter {
                result = try Launcher.resume(
                    directory: result.directory.path,
                    binDirectory: Launcher.ownBinDirectory(),
                    showProgress: false
                )
            }
            let m = metrics(result.directory.path)
            var o = Outcome()
            o.exit = result.exitCode
            o.rounds = m.count
            o.abandoned = m.filter { ($0["secagg"] as? [String: Any])?["abandoned"] != nil }.count
            o.lost = m.map { line in ["dropped", "failed", "timed_out"].compactMap { line[$0] as? Int }.reduce(0, +) }
                .reduce(0, +)
            o.equal = FileManager.default.contents(atPath: result.directory.path + "/model.bin") == reference[c.secure]
            o.ledgerEntries =
                (try? String(contentsOfFile: result.directory.path + "/privacy-ledger.jsonl", encoding: .utf8))?
                .split(separator: "\n").count ?? 0
            // Every released round is accounted: one entry per round that produced a model
            // (abandoned SecAgg+ rounds release nothing), more after a crash and resume.
            let released = o.rounds - o.abandoned
            o.ledgerComplete = c.resumeAfter ? o.ledgerEntries >= released : o.ledgerEntries == released
            let ok =
                o.exit == 0 && o.rounds == s.training.rounds && o.ledgerComplete && (!c.mustEqualFaultFree || o.equal)
            if !ok { failures += 1 }
            let row =
                "| \(c.name) | \(c.secure ? "SecAgg+" : "plain") | 1 | \(o.rounds)/\(s.training.rounds) | \(o.abandoned) | \(o.lost) | \(c.mustEqualFaultFree ? "must be equal" : "may differ") | \(o.equal ? "equal" : "differs") | \(o.ledgerEntries) for \(released) released \(o.ledgerComplete ? "✔" : "✘") | \(ok ? "✔" : "✘") | \(c.note) |"
            FileHandle.standardError.write(Data((row + "\n").utf8))
            rows.append(row)
        }
        let header =
            "| fault | aggregation | runs | rounds completed | rounds abandoned | device updates lost | design says the final model | final model vs fault-free | privacy ledger entries | pass | what happens |\n|---|---|---|---|---|---|---|---|---|---|---|"
        let text =
            "Measured \(Compare.today()) with `make chaos` (loopback Unix socket, 2 client processes, 400 devices, 10 rounds of about 60, central DP with reproducible noise so models compare bit for bit). \(failures == 0 ? "Every fault class passed." : "\(failures) fault classes FAILED.")\n\n"
            + header + "\n" + rows.joined(separator: "\n")
        print(text)
        if let docPath, only == nil {
            try Compare.replaceSection(named: "chaos", in: docPath, with: text)
        }
        if failures > 0 { exit(1) }
    }
}
