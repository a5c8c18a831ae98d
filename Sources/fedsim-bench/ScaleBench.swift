import FedSimConfig
import FedSimCore
import FedSimPrivacy
import FedSimReports
import FedSimRuntime
import FedSimSecAgg
import Foundation

/// `fedsim-bench scale`: populations of 1k / 10k / 100k synthetic devices, 100 and 1,000
/// sampled a round, MF with dim 32, each with and without secure aggregation and DP, end to
/// end through `fedsim run`'s launcher (one coordinator, 2 client processes, Unix socket).
///
/// Baselines measured in the same run: the 1k-device / 100-a-round plain configuration for
/// throughput and memory, and for secure rounds the crypto floor of that round on this
/// machine's cores (per-device signatures, agreements and ChaCha20 streams at the measured
/// rates, plus the coordinator's share), as `fedsim-bench secagg` defines it.
enum ScaleBench {
    struct Row {
        var devices: Int, perRound: Int, mode: String
        var updatesPerSecond: Double, roundP50: Double, peakMiB: Double, bytesPerRound: Double
        var k: Int?, floorSeconds: Double?
        var epsilon: Double?
    }

    static func scenario(devices: Int, perRound: Int, mode: String, rounds: Int) -> Scenario {
        var s = Scenario()
        s.name =
            "bench-scale-\(devices)-\(perRound)-\(mode.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "+", with: "-"))"
        s.seed = 5
        s.data.synthetic.devices = devices
        s.data.synthetic.domains = ["movies", "music", "shopping"]
        s.data.synthetic.itemsPerDomain = 400
        s.model.dim = 32
        s.training.rounds = rounds
        s.training.devicesPerRound = perRound
        s.training.weighting = .uniform  // what DP needs; every mode uses it so rows compare
        s.evaluation.every = 0
        s.evaluation.devices = 200
        s.evaluation.ranking = false
        s.runtime.processes = 2
        s.runtime.roundDeadlineSeconds = 600
        s.secureAggregation.protocol = mode.contains("SecAgg") ? .secaggPlus : .none
        if mode.contains("DP") {
            s.training.sampling = .poisson
            s.privacy.mechanism = mode.contains("SecAgg") ? .distributed : .central
            s.privacy.clip = 0.5
            s.privacy.noiseMultiplier = 1.0
            s.privacy.delta = 1e-6
        }
        return s
    }

    static func run(markdown: Bool, write docPath: String?, quick: Bool) throws {
        let rates = SecAggBench.measureRates()
        // The exact discrete Gaussian sampler's rate (CSPRNG stream), for the DP rows' floor.
        let noiseRate: Double = {
            let g = DiscreteGaussian(sigmaSquared: 1e10)
            var r = NoiseRandomness(.secure)
            let n = 300_000
            let t = monotonicSeconds()
            var acc: Int64 = 0
            for _ in 0..<n { acc &+= g.sample(using: &r) }
            return Double(n) / (monotonicSeconds() - t) + Double(acc & 0)
        }()
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let populations = quick ? [1_000, 100_000] : [1_000, 10_000, 100_000]
        let perRounds = quick ? [100] : [100, 1_000]
        let modes = ["plain", "DP", "SecAgg+", "SecAgg+ & DP"]
        let out = NSTemporaryDirectory() + "fedsim-bench-scale-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var rows: [Row] = []
        for n in populations {
            for k in perRounds where k <= n {
                for mode in modes {
                    let secure = mode.contains("SecAgg")
                    // Measured rounds exclude the last (it also runs the final evaluation).
                    let rounds = secure ? (k >= 1_000 ? 3 : 5) : (k >= 1_000 ? 6 : 11)
                    var launcher = Launcher(
                        scenario: scenario(devices: n, perRound: k, mode: mode, rounds: rounds),
                        outParent: out,
                        binDirectory: Launcher.ownBinDirectory()
                    )
                    launcher.showProgress = false
                    let started = monotonicSeconds()
                    let result = try launcher.launch()
                    guard result.exitCode == 0 else {
                        throw RunDirectory.SetupError(description: "\(n)/\(k)/\(mode): \(result.error ?? "failed")")
                    }
                    let lines = try String(contentsOfFile: result.directory.metricsFile, encoding: .utf8).split(
                        separator: "\n"
                    )
                    .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    let measured = lines.dropLast()
                    let times = measured.compactMap { $0["round_seconds"] as? Double }.sorted()
                    let updates = measured.compactMap { $0["finished"] as? Int }.reduce(0, +)
                    let last = measured.last ?? [:]
                    let bytes =
                        Double((last["bytes_sent"] as? Int ?? 0) + (last["bytes_received"] as? Int ?? 0))
                        / Double(max(1, measured.count))
                    var row = Row(
                        devices: n,
                        perRound: k,
                        mode: mode,
                        updatesPerSecond: Double(updates) / times.reduce(0, +),
                        roundP50: times[times.count / 2],
                        peakMiB: Double(result.peakTreeRSSBytes) / 1_048_576,
                        bytesPerRound: bytes
                    )
                    if secure, let sa = last["secagg"] as? [String: Any], let kk = sa["k"] as? Int,
                        let masked = (sa["stages"] as? [String: Any])?["masked"] as? [String: Any],
                        let up = masked["bytes_up"] as? Int, let devs = masked["devices"] as? Int, devs > 0
                    {
                        // Vector length from the masked stage's bytes; the floor of one round with
                        // `sampled` devices on this machine's cores.
                        let d = Double(up) / Double(devs) / 4
                        let sampled =
                            Double(measured.compactMap { $0["sampled"] as? Int }.reduce(0, +)) / Double(measured.count)
                        let K = Double(kk)
                        let device =
                            rates.signSeconds + K * rates.verifySeconds + 2 * K * rates.agreementSeconds
                            + (K + 1) * 4 * d / rates.chachaBytesPerSecond
                        let coordinator = sampled * (rates.verifySeconds + 4 * d / rates.chachaBytesPerSecond)
                        row.k = kk
                        row.floorSeconds = sampled * device / cores + coordinator / cores
                    }
                    if let p = last["privacy"] as? [String: Any] { row.epsilon = p["epsilon"] as? Double }
                    if mode == "SecAgg+ & DP", let floor = row.floorSeconds, let sa = last["secagg"] as? [String: Any],
                        let masked = (sa["stages"] as? [String: Any])?["masked"] as? [String: Any],
                        let up = masked["bytes_up"] as? Int, let devs = masked["devices"] as? Int, devs > 0
                    {
                        // Every device draws d exact discrete Gaussian samples before masking.
                        let d = Double(up) / Double(devs) / 4
                        let sampled =
                            Double(measured.compactMap { $0["sampled"] as? Int }.reduce(0, +)) / Double(measured.count)
                        row.floorSeconds = floor + sampled * d / noiseRate / cores
                    }
                    rows.append(row)
                    FileHandle.standardError.write(
                        Data(
                            "  \(n) devices, \(k)/round, \(mode): \(Int(row.updatesPerSecond)) updates/s, round p50 \(formatFixed(row.roundP50, 3)) s\(row.floorSeconds.map { " (floor \(formatFixed($0, 3)) s)" } ?? ""), peak RSS \(Int(row.peakMiB)) MiB, \(formatFixed(row.bytesPerRound / 1e6, 1)) MB/round [\(formatFixed(monotonicSeconds() - started, 0)) s]\n"
                                .utf8
                        )
                    )
                }
            }
        }
        let base = rows.first { $0.devices == populations[0] && $0.perRound == 100 && $0.mode == "plain" }!
        var table = [
            "| devices | per round | mode | updates/s | × baseline | round p50 (s) | floor (s) | × floor | peak RSS, all processes (MiB) | × baseline | MB on the socket / round |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows {
            table.append(
                "| \(r.devices) | \(r.perRound) | \(r.mode)\(r.k.map { " (k = \($0))" } ?? "") | \(Int(r.updatesPerSecond.rounded())) | \(formatFixed(r.updatesPerSecond / base.updatesPerSecond, 2)) | \(formatFixed(r.roundP50, 3)) | \(r.floorSeconds.map { formatFixed($0, 3) } ?? "–") | \(r.floorSeconds.map { formatFixed(r.roundP50 / $0, 2) } ?? "–") | \(Int(r.peakMiB.rounded())) | \(formatFixed(r.peakMiB / base.peakMiB, 2)) | \(formatFixed(r.bytesPerRound / 1e6, 1)) |"
            )
        }
        let header =
            "Measured \(Compare.today()) on \(Int(cores)) cores; baseline = \(base.devices) devices, \(base.perRound) a round, plain, in the same run (\(Int(base.updatesPerSecond.rounded())) updates/s, \(Int(base.peakMiB.rounded())) MiB). Floor rates: ChaCha20 \(formatFixed(rates.chachaBytesPerSecond / 1e9, 2)) GB/s, X25519 + BLAKE2b \(formatFixed(rates.agreementSeconds * 1e6, 1)) µs, Ed25519 sign \(formatFixed(rates.signSeconds * 1e6, 1)) µs, verify \(formatFixed(rates.verifySeconds * 1e6, 1)) µs; exact discrete Gaussian \(formatFixed(noiseRate / 1e6, 2)) M samples/s. Floor of a SecAgg+ round: each sampled device's isolated crypto (1 signature, k verifications, 2k agreements, k + 1 ChaCha20 streams of 4d bytes) plus the coordinator's (a verification and a stream per device), spread over the cores; with distributed DP, plus d noise samples per device."
        let text = header + "\n\n" + table.joined(separator: "\n")
        print(text)
        if let docPath {
            try Compare.replaceSection(named: "bench-scale", in: docPath, with: text)
            FileHandle.standardError.write(Data("wrote the table into \(docPath)\n".utf8))
        }
        _ = markdown
    }
}
