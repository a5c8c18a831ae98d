import ArgumentParser
import FedSimConfig
import FedSimCore
import FedSimReports
import FedSimRuntime
import Foundation

extension FedSimCommand {
    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every combination of a scenario's sweep: block; resumable.",
            discussion: """
                Runs go to OUT/sweep-NAME/NAME-001 … with sweep.json listing each run's overrides and status. \
                Running the same command again skips finished runs, resumes interrupted ones from their checkpoint \
                and starts the rest. Ends with a comparison table (docs/cli.md).
                """
        )

        @Argument(help: "Scenario file with a sweep: block.")
        var scenario: String

        @Option(help: "Parent folder of the sweep folder.")
        var out: String = "runs"

        @Option(help: "Markdown file whose `<!-- sweep:NAME:begin/end -->` section receives the results table.")
        var writeTable: String?

        @Flag(help: "No per-run progress display.")
        var quiet = false

        @Option(help: "Runs at once (each is a coordinator and its client processes); 1 runs them one by one.")
        var jobs: Int = 1

        @Option(
            name: .customLong("set"),
            help: ArgumentHelp(
                "Override a scenario key in every run of the sweep (repeatable); the sweep's own values win.",
                valueName: "key.path=value"
            )
        )
        var base: [String] = []

        struct Entry: Codable {
            var index: Int
            var overrides: [String]
            var directory: String
            var status: String
            /// The sweep's `--set` values when the run was made (a finished run counts as done
            /// only for the same ones).
            var base: [String]?
        }

        func validate() throws {
            guard jobs >= 1 && jobs <= 64 else { throw ValidationError("--jobs must be between 1 and 64") }
        }

        func run() throws {
            let spec: SweepSpec
            do { spec = try SweepSpec.load(file: scenario).spec } catch let e as ScenarioErrors {
                FileHandle.standardError.write(Data("fedsim: invalid sweep:\n\(e.description)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            do { _ = try Scenario.load(file: scenario, overrides: base) } catch let e as ScenarioErrors {
                FileHandle.standardError.write(Data("fedsim: invalid sweep:\n\(e.description)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            let folder = out + "/sweep-" + spec.name
            try FileManager.default.createDirectory(
                atPath: folder,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let state = SweepState(file: folder + "/sweep.json")
            let parallel = jobs > 1
            let work = spec.runs.enumerated().filter { (i, overrides) in
                let tag = "[\(i + 1)/\(spec.runs.count)]"
                if state.isDone(overrides, base: base) {
                    FileHandle.standardError.write(
                        Data(
                            "sweep \(spec.name) \(tag) \(overrides.joined(separator: " ")): done earlier, skipped\n"
                                .utf8
                        )
                    )
                    return false
                }
                return true
            }
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = max(1, jobs)
            for (i, overrides) in work {
                queue.addOperation {
                    guard !state.interrupted else { return }
                    let label = overrides.joined(separator: " ")
                    let tag = "[\(i + 1)/\(spec.runs.count)]"
                    let dirName = String(format: "%@-%03d", spec.name, i + 1)
                    let dirPath = folder + "/" + dirName
                    FileHandle.standardError.write(Data("sweep \(spec.name) \(tag) \(label)\n".utf8))
                    let result: Launcher.Result
                    do {
                        if FileManager.default.fileExists(atPath: dirPath + "/checkpoint.json"),
                            (try? RunData(path: dirPath))?.status != "completed"
                        {
                            result = try Launcher.resume(
                                directory: dirPath,
                                binDirectory: Launcher.ownBinDirectory(),
                                showProgress: !quiet && !parallel
                            )
                        } else {
                            try? FileManager.default.removeItem(atPath: dirPath)
                            let s = try Scenario.load(file: scenario, overrides: base + overrides)
                            var launcher = Launcher(
                                scenario: s,
                                outParent: folder,
                                binDirectory: Launcher.ownBinDirectory()
                            )
                            launcher.showProgress = !quiet && !parallel
                            launcher.directoryName = dirName
                            result = try launcher.launch()
                        }
                    } catch {
                        FileHandle.standardError.write(
                            Data("fedsim: sweep run \(i + 1) (\(label)): \(error)\n".utf8)
                        )
                        state.record(
                            Entry(index: i + 1, overrides: overrides, directory: dirPath, status: "failed", base: base)
                        )
                        return
                    }
                    let status =
                        result.exitCode == 0
                        ? "completed" : (result.exitCode == ExitCodes.interrupted ? "interrupted" : "failed")
                    if parallel {
                        FileHandle.standardError.write(Data("sweep \(spec.name) \(tag) \(label): \(status)\n".utf8))
                    }
                    state.record(
                        Entry(
                            index: i + 1,
                            overrides: overrides,
                            directory: result.directory.path,
                            status: status,
                            base: base
                        )
                    )
                }
            }
            queue.waitUntilAllOperationsAreFinished()
            if let error = state.saveError { throw error }
            if state.interrupted {
                FileHandle.standardError.write(
                    Data("fedsim: sweep interrupted; run the same command again to continue\n".utf8)
                )
                throw ExitCode(ExitCodes.interrupted)
            }
            let entries = state.entries
            let ranNow = work.map(\.element)
            let failures = entries.filter { e in e.status == "failed" && ranNow.contains(e.overrides) }.count
            let runs = entries.sorted { $0.index < $1.index }.compactMap { try? RunData(path: $0.directory) }
            print(Compare.render(runs, format: .table, targetRMSE: spec.targetRMSE), terminator: "")
            let grouped = Compare.grouped(
                runs,
                overrides: entries.sorted { $0.index < $1.index }.map(\.overrides),
                targetRMSE: spec.targetRMSE
            )
            print(grouped.table)
            let overrides = entries.sorted { $0.index < $1.index }.map(\.overrides)
            if let absolute = Compare.coldStartCurves(runs, overrides: overrides, title: "Cold start: \(spec.name)") {
                try RunDirectory.atomicWrite(Array(absolute.utf8), path: folder + "/cold-start.svg")
            }
            // The figure for the docs: paired differences (absolute RMSE bands mostly show
            // which users each seed made new), or the absolute curves with one configuration.
            let curves =
                Compare.coldStartDeltaCurves(
                    runs,
                    overrides: overrides,
                    title: "Cold start, paired by seed: \(spec.name)"
                )
                ?? Compare.coldStartCurves(runs, overrides: overrides, title: "Cold start: \(spec.name)")
            if let curves {
                try RunDirectory.atomicWrite(Array(curves.utf8), path: folder + "/cold-start-delta.svg")
            }
            if let writeTable {
                var figure = ""
                if let curves {
                    // Next to the Markdown file, so the page shows it.
                    let name = "\(spec.name)-cold-start.svg"
                    try RunDirectory.atomicWrite(
                        Array(curves.utf8),
                        path: ((writeTable as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                            name
                        )
                    )
                    let metric = Compare.coldStartMetric(runs).uppercased()
                    figure =
                        "\n![cold-start \(metric) of each configuration minus the first, paired by seed, with 95% confidence bands](\(name))\n"
                }
                let md =
                    "Generated by `fedsim sweep \(scenario)` on \(Compare.today()).\n\n" + grouped.markdown + figure
                    + "\nEvery run:\n\n" + Compare.render(runs, format: .markdown, targetRMSE: spec.targetRMSE)
                try Compare.replaceSection(named: "sweep:\(spec.name)", in: writeTable, with: md)
                FileHandle.standardError.write(Data("wrote the table into \(writeTable)\n".utf8))
            }
            print(folder)
            if failures > 0 { throw ExitCode(ExitCodes.runFailed) }
        }
    }
}

/// A sweep's `sweep.json`, shared by the runs of a sweep that go at once (`--jobs`): every
/// update is written through (atomically) under one lock, so an interrupted sweep always
/// knows which runs finished.
final class SweepState: @unchecked Sendable {
    typealias Entry = FedSimCommand.Sweep.Entry
    let file: String
    let lock = NSLock()
    private var list: [Entry] = []
    private(set) var interrupted = false
    private(set) var saveError: Error?

    init(file: String) {
        self.file = file
        if let d = FileManager.default.contents(atPath: file),
            let old = try? JSONDecoder().decode([Entry].self, from: d)
        {
            list = old
        }
    }

    var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return list.sorted { $0.index < $1.index }
    }

    /// Finished earlier with the same `--set` values, and its directory still says so.
    func isDone(_ overrides: [String], base: [String]) -> Bool {
        guard let e = entries.first(where: { $0.overrides == overrides }), e.status == "completed",
            (e.base ?? []) == base
        else { return false }
        return (try? RunData(path: e.directory))?.status == "completed"
    }

    func record(_ e: Entry) {
        lock.lock()
        defer { lock.unlock() }
        list.removeAll { $0.overrides == e.overrides || $0.directory == e.directory }
        list.append(e)
        list.sort { $0.index < $1.index }
        if e.status == "interrupted" { interrupted = true }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try RunDirectory.atomicWrite(Array(try enc.encode(list)), path: file)
        } catch {
            saveError = error
        }
    }
}
