import ArgumentParser
import FedSimReports
import FedSimRuntime
import Foundation

extension FedSimCommand {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a run: a terminal summary, report.html (SVG charts, no network) and metrics.csv.",
            discussion:
                "Works on completed, interrupted and failed runs. Exits 2 when the folder is not a run directory."
        )

        @Argument(help: "The run directory.")
        var runDirectory: String

        @Flag(help: "Only the terminal summary; write no files.")
        var noFiles = false

        func run() throws {
            let data: RunData
            do { data = try RunData(path: runDirectory) } catch {
                FileHandle.standardError.write(Data("fedsim: \(error)\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            print(HTMLReport.terminal(data))
            guard !noFiles else { return }
            try RunDirectory.atomicWrite(
                Array(HTMLReport.html(data).utf8),
                path: runDirectory + "/report.html",
                mode: 0o644
            )
            try RunDirectory.atomicWrite(
                Array(data.metricsCSV().utf8),
                path: runDirectory + "/metrics.csv",
                mode: 0o600
            )
            print("report: \(runDirectory)/report.html")
        }
    }

    struct CompareRuns: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare",
            abstract:
                "Final metrics, ε, wall time and throughput of runs side by side; optionally an HTML overlay of their curves."
        )

        @Argument(help: "Run directories.")
        var runDirectories: [String]

        @Option(help: "table, markdown or csv.")
        var format: String = "table"

        @Option(help: "Also write an HTML page overlaying the runs' curves.")
        var html: String?

        func run() throws {
            guard let f = Compare.Format(rawValue: format) else {
                FileHandle.standardError.write(Data("fedsim: --format must be one of table, markdown, csv\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            guard !runDirectories.isEmpty else {
                FileHandle.standardError.write(Data("fedsim: name at least one run directory\n".utf8))
                throw ExitCode(ExitCodes.badInput)
            }
            var runs: [RunData] = []
            for d in runDirectories {
                do { runs.append(try RunData(path: d)) } catch {
                    FileHandle.standardError.write(Data("fedsim: \(error)\n".utf8))
                    throw ExitCode(ExitCodes.badInput)
                }
            }
            print(Compare.render(runs, format: f), terminator: "")
            if let html { try RunDirectory.atomicWrite(Array(Compare.html(runs).utf8), path: html, mode: 0o644) }
        }
    }
}
