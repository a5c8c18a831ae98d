import FedSimConfig
import FedSimTestSupport
import Foundation
import Testing

/// Running the package's executables as a user would, for every integration suite.
extension MultiProcessTests {
    struct CommandResult {
        var status: Int32
        var stdout: String
        var stderr: String
        var runDirectory: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
    }

    /// `directory`: the working folder (paths inside a scenario are relative to it).
    static func fedsim(_ args: [String], timeout: Double = 120, directory: String? = nil) throws -> CommandResult {
        try command("fedsim", args, timeout: timeout, directory: directory)
    }

    /// Runs one of the package's executables to its end (or `timeout`).
    static func command(
        _ name: String,
        _ args: [String],
        timeout: Double = 120,
        directory: String? = nil,
        environment: [String: String]? = nil
    ) throws -> CommandResult {
        let p = Process()
        if let environment { p.environment = environment }
        p.executableURL = URL(fileURLWithPath: TestSupport.binDirectory() + "/" + name)
        p.arguments = args
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            Issue.record("\(name) \(args) did not finish within \(timeout) s")
        }
        p.waitUntilExit()
        return CommandResult(
            status: p.terminationStatus,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    static func scenarioFile(_ s: Scenario) -> String {
        let dir = TestSupport.temporaryDirectory()
        let path = dir + "/scenario.yaml"
        TestSupport.write(s.resolvedJSON(), to: path)
        return path
    }
}
