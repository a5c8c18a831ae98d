import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimPrivacy
import FedSimRuntime
import FedSimWire
import Foundation
import NIOCore

/// `fedsim-bench [--markdown]`: measures FedSim end to end and its hot kernels, each figure
/// next to a baseline measured in the same run on the same machine, so the ratio (not the
/// absolute number) is what to compare across machines.
@main
enum Bench {
    struct Row {
        var figure: String
        var value: Double
        var unit: String
        var baselineName: String
        var baseline: Double
        var ratio: Double { baseline != 0 ? value / baseline : .nan }
    }

    static var rows: [Row] = []

    static func fmt(_ x: Double) -> String {
        if !x.isFinite { return "n/a" }
        if abs(x) >= 1e9 { return formatFixed(x / 1e9, 2) + "G" }
        if abs(x) >= 1e6 { return formatFixed(x / 1e6, 2) + "M" }
        if abs(x) >= 1e4 { return formatFixed(x / 1e3, 1) + "k" }
        if abs(x) >= 100 { return formatFixed(x, 0) }
        return formatFixed(x, 3)
    }

    static func add(_ figure: String, _ value: Double, _ unit: String, vs baselineName: String, _ baseline: Double) {
        let r = Row(figure: figure, value: value, unit: unit, baselineName: baselineName, baseline: baseline)
        rows.append(r)
        FileHandle.standardError.write(
            Data(
                "  \(figure): \(fmt(value)) \(unit) (baseline \(baselineName): \(fmt(baseline)), ratio \(formatFixed(r.ratio, 3)))\n"
                    .utf8
            )
        )
    }

    /// An ML-100K-shaped synthetic population: 943 devices, 1,683 items, 20–737 ratings each.
    static func scenario() -> Scenario {
        var s = Scenario()
        s.name = "bench-ml100k-shape"
        s.seed = 1
        s.data.synthetic.devices = 943
        s.data.synthetic.domains = ["a", "b", "c"]
        s.data.synthetic.itemsPerDomain = 561
        s.data.synthetic.minRatings = 20
        s.data.synthetic.maxRatings = 737
        s.data.synthetic.activityExponent = 1.9
        s.model.dim = 16
        s.training.rounds = 40
        s.training.devicesPerRound = 100
        s.training.local.epochs = 5
        s.training.local.batchSize = 8
        s.evaluation.every = 0
        s.runtime.processes = 2
        s.secureAggregation.protocol = .none
        return s
    }

    static func main() throws {
        let markdown = CommandLine.arguments.contains("--markdown")
        // `fedsim-bench pld-check FILE`: every PLD vector in release, per-query time and peak
        // memory, failing on tolerance, 5 s or 500 MB (PLDCheck.swift). Used by `make crosscheck`.
        if let i = CommandLine.arguments.firstIndex(of: "pld-check"), i + 1 < CommandLine.arguments.count {
            setvbuf(stdout, nil, _IOLBF, 0)
            if try !PLDCheck.run(file: CommandLine.arguments[i + 1]) { exit(1) }
            return
        }
        if let i = CommandLine.arguments.firstIndex(of: "pld-one"), i + 3 < CommandLine.arguments.count {
            PLDCheck.one(Array(CommandLine.arguments[(i + 1)...(i + 3)]))
            return
        }
        if CommandLine.arguments.contains("noise") {
            // Exact discrete Gaussian sampling rate (CSPRNG stream), for the DP noise budget.
            for sigma2 in [1.0, 1e4, 1e10] {
                let g = DiscreteGaussian(sigmaSquared: sigma2)
                var r = NoiseRandomness(.secure)
                let n = 300_000
                let t = monotonicSeconds()
                var acc: Int64 = 0
                for _ in 0..<n { acc &+= g.sample(using: &r) }
                let rate = Double(n) / (monotonicSeconds() - t)
                print(
                    "discrete Gaussian σ² = \(sigma2): \(formatFixed(rate / 1e6, 2)) M samples/s (checksum \(acc & 1))"
                )
            }
            NoiseBench.privatize()
            return
        }
        if CommandLine.arguments.contains("chaos") {
            let args = CommandLine.arguments
            try ChaosBench.run(
                write: args.firstIndex(of: "--write").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
            )
            return
        }
        if CommandLine.arguments.contains("scale") {
            let args = CommandLine.arguments
            let doc = args.firstIndex(of: "--write").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
            try ScaleBench.run(markdown: markdown, write: doc, quick: args.contains("--quick"))
            return
        }
        if CommandLine.arguments.contains("x25519") {
            X25519Bench.run(markdown: markdown)
            return
        }
        if CommandLine.arguments.contains("prg") {
            PRGBench.run(markdown: markdown)
            return
        }
        if CommandLine.arguments.contains("secagg") {
            let quick = CommandLine.arguments.contains("--quick")
            let sizes: [(n: Int, d: Int)] =
                quick
                ? [(100, 10_000), (100, 100_000)]
                : [(100, 10_000), (100, 100_000), (1_000, 10_000), (1_000, 100_000), (5_000, 10_000), (5_000, 100_000)]
            try SecAggBench.run(sizes: sizes, markdown: markdown)
            return
        }
        let s = scenario()
        FileHandle.standardError.write(
            Data("fedsim-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores\n".utf8)
        )

        // Baseline 1: local training alone, one core, no processes or sockets.
        let population = try PopulationFactory.make(s.data, seed: s.seed)
        let host = try! DeviceHost(scenario: s, population: population, shard: 0..<population.deviceCount)
        let shared = MatrixFactorization.initialShared(
            items: population.itemCount,
            dim: s.model.dim,
            initStd: 0.1,
            globalBias: 3,
            seed: 1
        )
        var rng = Seeds.rng(s.seed, "bench")
        let devices = (0..<2_000).map { _ in rng.nextBounded(population.deviceCount) }
        for d in Set(devices) { _ = host.data(d) }  // generate data outside the timed loop, as the run's cache does
        let t0 = monotonicSeconds()
        var sink: Float = 0
        for (i, d) in devices.enumerated() { sink += host.train(device: d, round: i, shared: shared).weightedDelta[0] }
        let localRate = Double(devices.count) / (monotonicSeconds() - t0)
        let ownRSS = Launcher.peakRSS(pid: getpid()) ?? 0

        // End to end: coordinator + 2 client processes over the Unix socket.
        let out = NSTemporaryDirectory() + "fedsim-bench-\(getpid())"
        let launcher = Launcher(scenario: s, outParent: out, binDirectory: Launcher.ownBinDirectory())
        var l = launcher
        l.showProgress = false
        let result = try l.launch()
        guard result.exitCode == 0 else {
            throw RunDirectory.SetupError(description: result.error ?? "bench run failed")
        }
        let lines = try String(contentsOfFile: result.directory.metricsFile, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let training = lines.dropLast()  // the last round also runs the final evaluation
        let roundTimes = training.compactMap { $0["round_seconds"] as? Double }.sorted()
        let updates = training.compactMap { $0["finished"] as? Int }.reduce(0, +)
        let e2eRate = Double(updates) / roundTimes.reduce(0, +)
        let bytesUp =
            Double(lines.last?["bytes_received"] as? Int ?? 0)
            / Double(lines.compactMap { $0["finished"] as? Int }.reduce(0, +))
        let payload = Double((host.sharedCount + population.itemCount * 2 + 1) * 4)
        add(
            "device-updates/s end to end (2 client processes)",
            e2eRate,
            "updates/s",
            vs: "local training, 1 core, in-process",
            localRate
        )
        add(
            "round time p50 (100 devices)",
            roundTimes[roundTimes.count / 2],
            "s",
            vs: "100 local trainings, 1 core",
            100 / localRate
        )
        add("round time max", roundTimes.last!, "s", vs: "round time p50", roundTimes[roundTimes.count / 2])
        add("bytes received per device update", bytesUp, "B", vs: "raw f32 payload (delta + weights)", payload)
        add(
            "peak RSS, coordinator + clients",
            Double(result.peakTreeRSSBytes) / 1_048_576,
            "MiB",
            vs: "this bench process after baseline 1",
            Double(ownRSS) / 1_048_576
        )

        // The same workload with SecAgg+ (fewer rounds: each costs the protocol's crypto).
        var secure = s
        secure.secureAggregation.protocol = .secaggPlus
        secure.training.rounds = 8
        var ls = Launcher(scenario: secure, outParent: out, binDirectory: Launcher.ownBinDirectory())
        ls.showProgress = false
        let sres = try ls.launch()
        guard sres.exitCode == 0 else {
            throw RunDirectory.SetupError(description: sres.error ?? "secure bench run failed")
        }
        let slines = try String(contentsOfFile: sres.directory.metricsFile, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.dropLast()
        let sTimes = slines.compactMap { $0["round_seconds"] as? Double }
        let sUpdates = slines.compactMap { $0["finished"] as? Int }.reduce(0, +)
        add(
            "device-updates/s with SecAgg+ (k = \((slines.first?["secagg"] as? [String: Any])?["k"] ?? "?"))",
            Double(sUpdates) / sTimes.reduce(0, +),
            "updates/s",
            vs: "without secure aggregation (above)",
            e2eRate
        )
        add(
            "peak RSS with SecAgg+",
            Double(sres.peakTreeRSSBytes) / 1_048_576,
            "MiB",
            vs: "without secure aggregation",
            Double(result.peakTreeRSSBytes) / 1_048_576
        )

        // Kernels: codec and aggregation beside memcpy and a plain float sum.
        let n = host.sharedCount
        // A realistic update: ~100 touched item rows of 16 + 1 values, the rest zero.
        var delta = [Float](repeating: 0, count: n)
        for r in 0..<100 {
            let row = (r * 16) % population.itemCount
            for f in 0..<s.model.dim { delta[row * s.model.dim + f] = Float(r + f) * 1e-3 }
        }
        let weights = [Float](repeating: 1, count: population.itemCount * 2 + 1)
        let msg = Message.update(
            DeviceUpdate(round: 1, device: 1, examples: 10, trainLoss: 0.5, weightedDelta: delta, weights: weights)
        )
        let reps = 400
        var t = monotonicSeconds()
        var frameBytes = 0
        for _ in 0..<reps {
            var b = FrameCodec.encode(msg)
            frameBytes = b.readableBytes
            if case .update(let u)? = try FrameCodec.decodeFrame(&b, limits: FrameLimits())?.0 {
                sink += u.sparseDelta.values.first ?? 0  // the coordinator reads the runs; no dense copy
            }
        }
        let codecRate = Double(reps * frameBytes) / (monotonicSeconds() - t)
        t = monotonicSeconds()
        var copy = [UInt8](repeating: 0, count: frameBytes)
        let src = [UInt8](repeating: 1, count: frameBytes)
        for i in 0..<reps {
            copy.withUnsafeMutableBytes { d in src.withUnsafeBytes { d.copyMemory(from: $0) } }
            copy[i % frameBytes] &+= 1
            var second = [UInt8](repeating: 0, count: frameBytes)
            second.withUnsafeMutableBytes { d in copy.withUnsafeBytes { d.copyMemory(from: $0) } }
            sink += Float(second[i % frameBytes])
        }
        let memcpyRate = Double(reps * frameBytes) / (monotonicSeconds() - t)
        add(
            "codec encode + decode of an update frame",
            codecRate / 1e9,
            "GB/s",
            vs: "two memcpys + allocation",
            memcpyRate / 1e9
        )

        var fixed = FixedPointSum(count: n)
        t = monotonicSeconds()
        for _ in 0..<reps { try fixed.add(delta) }
        let fixedRate = Double(reps * n) / (monotonicSeconds() - t)
        var plain = [Float](repeating: 0, count: n)
        t = monotonicSeconds()
        for k in 0..<reps {
            plain.withUnsafeMutableBufferPointer { acc in
                delta.withUnsafeBufferPointer { p in for i in 0..<p.count { acc[i] += p[i] } }
            }
            plain[k % n] += 1e-9  // a data dependency between repetitions
        }
        let plainRate = Double(reps * n) / (monotonicSeconds() - t)
        add(
            "aggregation: exact fixed-point sum of a sparse update",
            fixedRate / 1e6,
            "M floats/s",
            vs: "plain Float += (not order-independent)",
            plainRate / 1e6
        )
        sink += plain[3] + Float(fixed.sums[3])

        try? FileManager.default.removeItem(atPath: out)
        if markdown {
            print("| figure | value | baseline (same run) | ratio |")
            print("|---|---|---|---|")
            for r in rows {
                print(
                    "| \(r.figure) | \(fmt(r.value)) \(r.unit) | \(r.baselineName): \(fmt(r.baseline)) | \(formatFixed(r.ratio, 3)) |"
                )
            }
        } else {
            for r in rows {
                print(
                    "\(r.figure): \(fmt(r.value)) \(r.unit) | baseline \(r.baselineName): \(fmt(r.baseline)) | ratio \(formatFixed(r.ratio, 3))"
                )
            }
        }
        if sink == .infinity { print(sink) }  // keep the optimiser from discarding the work
    }
}
