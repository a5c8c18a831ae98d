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
            let stateFile = folder + "/sweep.json"
            var entries: [Entry] = []
            if let d = FileManager.default.contents(atPath: stateFile),
                let old = try? JSONDecoder().decode([Entry].self, from: d)
            {
                entries = old
            }
            func save() throws {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try RunDirectory.atomicWrite(Array(try enc.encode(entries)), path: stateFile)
            }
            var failures = 0
            for (i, overrides) in spec.runs.enumerated() {
                let label = overrides.joined(separator: " ")
                let tag = "[\(i + 1)/\(spec.runs.count)]"
                let dirName = String(format: "%@-%03d", spec.name, i + 1)
                let dirPath = folder + "/" + dirName
                if let e = entries.first(where: { $0.overrides == overrides }), e.status == "completed",
                    (e.base ?? []) == base,
                    (try? RunData(path: e.directory))?.status == "completed"
                {
                    FileHandle.standardError.write(
                        Data("sweep \(spec.name) \(tag) \(label): done earlier, skipped\n".utf8)
                    )
                    continue
                }
                entries.removeAll { $0.overrides == overrides || $0.directory == dirPath }
                FileHandle.standardError.write(Data("sweep \(spec.name) \(tag) \(label)\n".utf8))
                let result: Launcher.Result
                do {
                    if FileManager.default.fileExists(atPath: dirPath + "/checkpoint.json"),
                        (try? RunData(path: dirPath))?.status != "completed"
                    {
                        result = try Launcher.resume(
                            directory: dirPath,
                            binDirectory: Launcher.ownBinDirectory(),
                            showProgress: !quiet
                        )
                    } else {
                        try? FileManager.default.removeItem(atPath: dirPath)
                        let s = try Scenario.load(file: scenario, overrides: base + overrides)
                        var launcher = Launcher(
                            scenario: s,
                            outParent: folder,
                            binDirectory: Launcher.ownBinDirectory()
                        )
                        launcher.showProgress = !quiet
                        launcher.directoryName = dirName
                        result = try launcher.launch()
                    }
                } catch {
                    FileHandle.standardError.write(Data("fedsim: sweep run \(i + 1) (\(label)): \(error)\n".utf8))
                    entries.append(
                        Entry(index: i + 1, overrides: overrides, directory: dirPath, status: "failed", base: base)
                    )
                    try save()
                    failures += 1
                    continue
                }
                let status =
                    result.exitCode == 0
                    ? "completed" : (result.exitCode == ExitCodes.interrupted ? "interrupted" : "failed")
                entries.append(
                    Entry(
                        index: i + 1,
                        overrides: overrides,
                        directory: result.directory.path,
                        status: status,
                        base: base
                    )
                )
                entries.sort { $0.index < $1.index }
                try save()
                if result.exitCode == ExitCodes.interrupted {
                    FileHandle.standardError.write(
                        Data("fedsim: sweep interrupted; run the same command again to continue\n".utf8)
                    )
                    throw ExitCode(ExitCodes.interrupted)
                }
                if result.exitCode != 0 { failures += 1 }
            }
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
