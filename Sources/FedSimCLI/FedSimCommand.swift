import ArgumentParser
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimRuntime
import Foundation

/// The `fedsim` command: run scenarios, validate them, inspect data.
public struct FedSimCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fedsim",
        abstract: "Simulate federated training of recommenders across thousands of devices.",
        discussion: """
            A scenario file (YAML) describes the data, model, training and runtime (docs/scenarios.md). \
            `fedsim run` starts one coordinator and several client processes that exchange model updates \
            over a Unix-domain socket, and writes everything to a run directory under runs/ (docs/cli.md).
            """,
        version: "0.1.0",
        subcommands: [
            Run.self, Resume.self, Report.self, CompareRuns.self, Sweep.self, Validate.self, DataCommand.self,
            Privacy.self,
        ]
    )
    public init() {}
}

/// Options shared by commands that read a scenario.
struct ScenarioOptions: ParsableArguments {
    @Argument(help: "Scenario file (YAML).")
    var scenario: String

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Override a scenario key, e.g. --set training.rounds=5 (repeatable).",
            valueName: "key.path=value"
        )
    )
    var overrides: [String] = []

    @Option(
        help: "Seed for data splits, sampling, initialisation and simulated faults (overrides the scenario's seed)."
    )
    var seed: UInt64?

    func load() throws -> Scenario {
        var all = overrides
        if let seed { all.append("seed=\(seed)") }
        do {
            return try Scenario.load(file: scenario, overrides: all)
        } catch let e as ScenarioErrors {
            FileHandle.standardError.write(Data("fedsim: invalid scenario:\n\(e.description)\n".utf8))
            throw ExitCode(ExitCodes.badInput)
        }
    }
}

extension FedSimCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a scenario; prints the run directory as the last line of standard output.",
            discussion:
                "Exits 0 on success, 1 if the run failed, 2 for an invalid scenario or data, 64 for command-line misuse, 74 when a file cannot be written or read (a full disk: resume once there is space), 130 when interrupted. Progress goes to standard error."
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "Parent folder for the run directory.")
        var out: String = "runs"

        @Flag(help: "No progress display.")
        var quiet = false

        @Option(
            help: ArgumentHelp(
                "Start the client processes with mpirun on the hosts of this Open MPI hostfile (sets runtime.cluster.launcher=mpirun and runtime.cluster.hostfile, and runtime.listen=tcp://0.0.0.0:0 unless it is TCP already; see docs/cluster.md).",
                valueName: "hostfile"
            )
        )
        var hosts: String?

        func run() throws {
            var options = self.options
            if let hosts {
                let plain = try options.load()
                options.overrides =
                    ["runtime.cluster.launcher=mpirun", "runtime.cluster.hostfile=\(hosts)"]
                    + (plain.runtime.tcpListen == nil ? ["runtime.listen=tcp://0.0.0.0:0"] : []) + options.overrides
            }
            let scenario = try options.load()
            if let text = try? String(contentsOfFile: options.scenario, encoding: .utf8),
                text.hasPrefix("sweep:") || text.contains("\nsweep:")
            {
                FileHandle.standardError.write(
                    Data(
                        "fedsim: note: running the base scenario; its sweep: block runs with `fedsim sweep \(options.scenario)`\n"
                            .utf8
                    )
                )
            }
            var launcher = Launcher(scenario: scenario, outParent: out, binDirectory: Launcher.ownBinDirectory())
            launcher.showProgress = !quiet
            let result: Launcher.Result
            do {
                result = try launcher.launch()
            } catch {
                FileHandle.standardError.write(Data("fedsim: \(error)\n".utf8))
                throw ExitCode(error is StorageError ? ExitCodes.ioError : ExitCodes.badInput)
            }
            try Self.report(result, scenario: scenario)
        }

        /// Prints the outcome (summary lines, then the run directory) and sets the exit code.
        static func report(_ result: Launcher.Result, scenario: Scenario) throws {
            let dir = result.directory
            if scenario.privacy.enabled, let tensorBoard = result.tensorBoard {
                tensorBoard.addText("privacy", FedSimCommand.privacyReportText(dir.path), step: 0)
            }
            if let summary = try? dir.summary(), result.exitCode == 0 {
                let final = summary.final
                let fmt = { (v: Double) -> String in v.isFinite ? formatFixed(v, 4) : "n/a" }
                let k = final.k
                let work =
                    scenario.training.mode == .centralized
                    ? "\(summary.rounds) epochs (centralized)"
                    : "\(summary.rounds) rounds, \(summary.deviceUpdates) device updates"
                print("\(scenario.name): \(work) in \(formatFixed(summary.wallSeconds, 1)) s")
                print(
                    "final: rmse \(fmt(final.rmse))  mae \(fmt(final.mae))  hr@\(k) \(fmt(final.hitRate))  ndcg@\(k) \(fmt(final.ndcg))"
                )
            }
            if let error = result.error {
                FileHandle.standardError.write(
                    Data("fedsim: \(result.exitCode == ExitCodes.interrupted ? "" : "run failed: ")\(error)\n".utf8)
                )
            }
            print(dir.path)
            if result.exitCode != 0 { throw ExitCode(result.exitCode) }
        }
    }

    /// `fedsim privacy report` of a run, as Markdown for TensorBoard's Text tab (or why it was
    /// refused): the same command a reviewer runs, so the two never differ.
    static func privacyReportText(_ runDirectory: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Launcher.ownBinDirectory() + "/fedsim")
        p.arguments = ["privacy", "report", runDirectory, "--no-pld"]  // PLD takes seconds; RDP is the headline
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        guard (try? p.run()) != nil else { return "(the privacy report could not be run)" }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return p.terminationStatus == 0 ? "```\n" + text + "```" : "privacy report refused: " + why
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Continue an interrupted or crashed run from its last checkpoint.",
            discussion:
                "Rolls the client processes' device state back to the checkpoint, drops metrics of later rounds (they run again) and keeps every privacy-ledger entry. Refuses (exit 2) a checkpoint or snapshot that is corrupt, truncated, symlinked, of another scenario or with a non-finite model; a run that already completed is left unchanged (exit 0). Exit codes as for `fedsim run`."
        )

        @Argument(help: "The run directory.")
        var runDirectory: String

        @Flag(help: "No progress display.")
        var quiet = false

        func run() throws {
            let result: Launcher.Result
            let scenario: Scenario
            do {
                scenario = try RunDirectory(path: runDirectory).loadScenario()
                result = try Launcher.resume(
                    directory: runDirectory,
                    binDirectory: Launcher.ownBinDirectory(),
                    showProgress: !quiet
                )
            } catch let busy as RunLock.Busy {
                // Not a bad input: the directory is fine, someone else is using it.
                FileHandle.standardError.write(Data("fedsim: cannot resume \(runDirectory): \(busy)\n".utf8))
                throw ExitCode(ExitCodes.runFailed)
            } catch {
                FileHandle.standardError.write(Data("fedsim: cannot resume \(runDirectory): \(error)\n".utf8))
                throw ExitCode(error is StorageError ? ExitCodes.ioError : ExitCodes.badInput)
            }
            if let note = result.note {
                FileHandle.standardError.write(Data("fedsim: \(note)\n".utf8))
                print(result.directory.path)
                return
            }
            try Run.report(result, scenario: scenario)
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a scenario file without running it.",
            discussion:
                "Reports every problem with its key path and line, then loads the dataset (unless --no-data), so ok means the run can start. Exits 0 when valid, 2 otherwise."
        )

        @OptionGroup var options: ScenarioOptions

        @Flag(help: "Print the resolved scenario (every default filled in) as JSON.")
        var resolved = false

        @Flag(name: .customLong("no-data"), help: "Check the scenario only, without loading its dataset.")
        var noData = false

        func run() throws {
            let s = try options.load()
            if !noData && s.data.source != .synthetic {
                // "ok" has to mean the run can start: the dataset is there and parses.
                do {
                    _ = try PopulationFactory.make(s.data, seed: s.seed)
                } catch {
                    FileHandle.standardError.write(
                        Data("fedsim: invalid data for \(options.scenario): \(error)\n".utf8)
                    )
                    throw ExitCode(ExitCodes.badInput)
                }
            }
            if resolved {
                print(s.resolvedJSON(), terminator: "")
            } else {
                let data = s.data.summary
                var extras: [String] = []
                if let model = ModelRegistry.type(of: s.model.kind).summary(s) { extras.append(model) }
                if s.evaluation.coldStart.enabled {
                    extras.append("cold start \(s.evaluation.coldStart.protocol.rawValue)")
                }
                let tail = extras.isEmpty ? "" : "; " + extras.joined(separator: ", ")
                print(
                    "\(options.scenario): ok — \(s.name): \(s.training.mode.rawValue) \(s.model.kind.rawValue) (dim \(s.model.dim)) on \(data), \(s.training.rounds) rounds\(tail)"
                )
            }
        }
    }

    struct DataCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Inspect a scenario's data.",
            subcommands: [Stats.self]
        )

        struct Stats: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print population statistics: devices, items, ratings per device, split sizes."
            )
            @OptionGroup var options: ScenarioOptions

            @Option(help: "Devices to scan (0 = all).")
            var limit: Int = 0

            func run() throws {
                let s = try options.load()
                let population: any Population
                do { population = try PopulationFactory.make(s.data, seed: s.seed) } catch {
                    FileHandle.standardError.write(Data("fedsim: \(error)\n".utf8))
                    throw ExitCode(ExitCodes.badInput)
                }
                let splitter = Splitter(s.data.split, seed: Seeds.derive(s.seed, "split"))
                let n = limit > 0 ? min(limit, population.deviceCount) : population.deviceCount
                var sizes: [Int] = []
                var train = 0
                var test = 0
                var ratingHistogram = RatingHistogram(scale: population.ratingScale)
                for d in 0..<n {
                    let dd = population.deviceData(d, split: splitter)
                    sizes.append(dd.train.count + dd.test.count)
                    train += dd.train.count
                    test += dd.test.count
                    for r in dd.train.ratings + dd.test.ratings { ratingHistogram.add(r) }
                }
                sizes.sort()
                let q = { (p: Double) in
                    sizes.isEmpty ? 0 : sizes[min(sizes.count - 1, Int(p * Double(sizes.count - 1)))]
                }
                print("population: \(population.name)")
                print("devices: \(population.deviceCount)\(n < population.deviceCount ? " (scanned \(n))" : "")")
                print("items: \(population.itemCount) in domains \(population.domainNames.joined(separator: ", "))")
                print("ratings: \(train + test) (train \(train), test \(test), split \(s.data.split.method.rawValue))")
                print("ratings per device: min \(q(0)), p10 \(q(0.1)), median \(q(0.5)), p90 \(q(0.9)), max \(q(1))")
                print(ratingHistogram.line)
                let density = Double(train + test) / Double(max(1, n)) / Double(max(1, population.itemCount))
                print("density: \(formatFixed(100 * density, 3))%")
                if s.data.partition.method != .natural {
                    let p = s.data.partition
                    print(
                        "partition: \(p.method.rawValue) over \(p.label.rawValue)"
                            + (p.method == .dirichlet ? " (α = \(p.alpha))" : "")
                            + (p.method == .shards ? " (\(p.shardsPerDevice) shards per device)" : "")
                    )
                }
                let h = PopulationStats.compute(population, devices: n)
                print("\nsize histogram (interactions per device):")
                let hist = h.sizeHistogram()
                let widest = hist.map(\.count).max() ?? 1
                for (range, count) in hist {
                    let bar = String(
                        repeating: "#",
                        count: Int((40.0 * Double(count) / Double(max(1, widest))).rounded(.up))
                    )
                    print(
                        "  \(range.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(count).leftPadded(7))  \(bar)"
                    )
                }
                if population.domainNames.count > 1 {
                    let shares = h.topDomainShare.sorted()
                    let qs = { (p: Double) in
                        shares.isEmpty ? 0 : shares[min(shares.count - 1, Int(p * Double(shares.count - 1)))]
                    }
                    print(
                        "\ndomain mix per device (\(population.domainNames.count) domains; global \(zip(population.domainNames, h.globalDomains).map { "\($0) \(formatFixed(100 * $1, 1))%" }.joined(separator: ", "))):"
                    )
                    print(
                        "  share of the top domain: p10 \(formatFixed(qs(0.1), 2)), median \(formatFixed(qs(0.5), 2)), p90 \(formatFixed(qs(0.9), 2))"
                    )
                    var byCount = [Int](repeating: 0, count: population.domainNames.count + 1)
                    for c in h.domainsOver10Percent { byCount[min(c, byCount.count - 1)] += 1 }
                    print(
                        "  devices by domains holding ≥ 10% of their ratings: "
                            + byCount.enumerated().dropFirst().map { "\($0.offset): \($0.element)" }.joined(
                                separator: ", "
                            )
                    )
                }
                print("\nheterogeneity (mean over devices, device vs global distribution; 0 = IID):")
                if population.domainNames.count > 1 {
                    print(
                        "  domains:    Jensen–Shannon \(formatFixed(h.domainJS, 4)) bits, total variation (EMD, 0/1 cost) \(formatFixed(h.domainTV, 4))"
                    )
                }
                print(
                    "  categories: Jensen–Shannon \(formatFixed(h.categoryJS, 4)) bits, total variation (EMD, 0/1 cost) \(formatFixed(h.categoryTV, 4))  (\(population.categoryNames.count) categories)"
                )
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
