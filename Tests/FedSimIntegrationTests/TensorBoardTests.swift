import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// TensorBoard event files, read back by the real `tensorboard` package (PyPI, in
/// .build/tbenv; `make test` creates it): every numeric metric of every round at its step, the
/// scenario as hyperparameters and text, and the privacy report as text.
@Suite struct TensorBoardTests {
    /// The package root: the nearest folder above the test binary that holds Package.swift.
    static func packageRoot() -> String {
        var dir = TestSupport.binDirectory()
        while dir != "/" && !FileManager.default.fileExists(atPath: dir + "/Package.swift") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// Numeric leaves of a metrics line, keys joined with "/" (booleans are not scalars).
    static func leaves(_ node: Any, _ prefix: String = "", into out: inout [String: Double]) {
        if let d = node as? [String: Any] {
            for (k, v) in d { leaves(v, prefix.isEmpty ? k : prefix + "/" + k, into: &out) }
        } else if let n = node as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue.isFinite {
            out[prefix] = n.doubleValue
        }
    }

    @Test func tensorboardReadsBackEveryScalarTheScenarioAndThePrivacyReport() throws {
        let root = Self.packageRoot()
        let python = root + "/.build/tbenv/bin/python"
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "the tensorboard venv is missing: run `make tbenv` (make test does)"
        )
        var s = TestSupport.tinyScenario(devices: 60, rounds: 4, perRound: 20)
        s.evaluation.every = 2
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .central
        s.privacy.noise = .reproducible
        let r = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [root + "/scripts/tensorboard/read_events.py", r.runDirectory + "/tensorboard"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let read = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let scalars = try #require(read["scalars"] as? [String: [[Double]]])
        // Every numeric field of every metrics line, at step = round, to float precision.
        var expected = 0
        for line in TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl") {
            let round = Double(line["round"] as! Int)
            var values: [String: Double] = [:]
            Self.leaves(line, into: &values)
            values["round"] = nil
            for (tag, value) in values {
                expected += 1
                let points = scalars[tag] ?? []
                #expect(
                    points.contains { $0[0] == round && abs($0[1] - value) <= 1e-6 * max(1, abs(value)) },
                    "\(tag) at round \(round): \(value) not in \(points)"
                )
            }
        }
        #expect(expected > 100 && scalars["eval/rmse"]?.map { $0[0] } == [2, 4])
        let text = try #require(read["text"] as? [String: String])
        #expect(text["scenario"]?.contains("\"seed\" : 7") == true || text["scenario"]?.contains("\"seed\": 7") == true)
        #expect(text["privacy"]?.contains("user-level DP") == true, "\(text["privacy"] ?? "none")")
        let hparams = try #require(read["hparams"] as? [String: Any])
        #expect(hparams["seed"] as? Double == 7)
        #expect(hparams["training.rounds"] as? Double == 4)
        #expect(hparams["privacy.mechanism"] as? String == "central")
    }
}
