import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimRuntime
import Foundation

/// Helpers shared by the test targets (as NIOTestUtils is for NIO).
public enum TestSupport {
    /// A fresh private temporary directory.
    public static func temporaryDirectory(_ label: String = "fedsim-test") -> String {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let p = mkdtemp(&template)!
        return String(cString: p)
    }

    public static func write(_ text: String, to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    /// A tiny synthetic federated scenario that trains in well under a second.
    public static func tinyScenario(
        devices: Int = 60,
        rounds: Int = 4,
        perRound: Int = 20,
        processes: Int = 2
    ) -> Scenario {
        var s = Scenario()
        s.name = "tiny"
        s.seed = 7
        s.data.synthetic.devices = devices
        s.data.synthetic.domains = ["a", "b"]
        s.data.synthetic.itemsPerDomain = 40
        s.data.synthetic.minRatings = 8
        s.data.synthetic.maxRatings = 40
        s.model.dim = 4
        s.training.rounds = rounds
        s.training.devicesPerRound = perRound
        s.training.local.epochs = 3
        s.evaluation.every = 0
        s.runtime.processes = processes
        s.runtime.roundDeadlineSeconds = 10
        // generous: under a loaded 2-core CI, tasks of parallel suites can starve for seconds
        // Wall-clock, and only reached when a client never comes: on a 2-core machine the
        // suite's sync tests can hold both cooperative threads for about a minute (they wait
        // for child processes), and a 60 s bound then failed runs whose clients were merely
        // not yet scheduled.
        s.runtime.connectTimeoutSeconds = 300
        s.secureAggregation.protocol = .none
        return s
    }

    /// The folder of the running test binary; SwiftPM puts the package's executables there too.
    public static func binDirectory() -> String {
        if let env = ProcessInfo.processInfo.environment["FEDSIM_BIN_DIR"] { return env }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let path = n > 0 ? String(cString: buf) : CommandLine.arguments[0]
        var dir = (path as NSString).deletingLastPathComponent
        // The XCTest bundle may sit one level down (FedSimPackageTests.xctest/...).
        while !dir.isEmpty && dir != "/" && !FileManager.default.isExecutableFile(atPath: dir + "/fedsim-coordinator") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// Parses metrics.jsonl into dictionaries.
    public static func metricsLines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// A run's summary.json read by the schema (`RunSummary`); throws when it is missing or
    /// outside the schema, so a test fails with the key path.
    public static func summary(_ runDirectory: String) throws -> RunSummary {
        guard let s = try RunDirectory(path: runDirectory).summary() else {
            throw RunSummary.ReadError(description: "\(runDirectory)/summary.json: missing")
        }
        return s
    }

    public static func json(_ path: String) -> [String: Any]? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONSerialization.jsonObject(with: d) as? [String: Any]
    }
}
