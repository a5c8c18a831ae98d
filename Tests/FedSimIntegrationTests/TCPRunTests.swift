import FedSimConfig
import FedSimCore
import FedSimTestSupport
import Foundation
import Testing

/// `fedsim run` over TCP on loopback, with the secure channel, against the same scenario over
/// the Unix socket: the final model must be byte-identical (the transport changes nothing a
/// round computes), and the run directory says where the coordinator listened.
@Suite(.serialized) struct TCPRunTests {
    @Test func aRunOverTCPEndsWithTheSameModelAsOverTheUnixSocket() throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 4, perRound: 30)
        s.evaluation.every = 2
        s.secureAggregation.protocol = .secaggPlus
        let out = TestSupport.temporaryDirectory()
        let unix = try MultiProcessTests.fedsim(["run", MultiProcessTests.scenarioFile(s), "--out", out, "--quiet"])
        #expect(unix.status == 0, "\(unix.stderr)")
        s.runtime.listen = "tcp://127.0.0.1:0"
        let tcp = try MultiProcessTests.fedsim(["run", MultiProcessTests.scenarioFile(s), "--out", out, "--quiet"])
        #expect(tcp.status == 0, "\(tcp.stderr)")
        let dir = tcp.runDirectory

        let a = try #require(FileManager.default.contents(atPath: unix.runDirectory + "/model.bin"))
        let b = try #require(FileManager.default.contents(atPath: dir + "/model.bin"))
        #expect(a.count > 0 && a == b)
        // The same rounds, the same devices, the same frame bytes: only the wire differs.
        let mu = TestSupport.metricsLines(unix.runDirectory + "/metrics.jsonl")
        let mt = TestSupport.metricsLines(dir + "/metrics.jsonl")
        #expect(mu.count == 4 && mt.count == 4)
        #expect(mu.map { $0["bytes_received"] as? Int } == mt.map { $0["bytes_received"] as? Int })

        let addr = try String(contentsOfFile: dir + "/coordinator.addr", encoding: .utf8)
        let bound = try #require(TCPAddress(parsing: addr))
        #expect(bound.host == "127.0.0.1" && bound.port != 0)
        var st = stat()
        #expect(stat(dir + "/coordinator.addr", &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(!FileManager.default.fileExists(atPath: dir + "/coordinator.sock"))
        let log = try String(contentsOfFile: dir + "/logs/coordinator.log", encoding: .utf8)
        #expect(log.contains("listening on \(bound)"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: unix.runDirectory + "/coordinator.addr"))
    }

    /// SIGKILL the coordinator of a TCP run, then `fedsim resume`: the new coordinator binds a
    /// free port again and writes it to `coordinator.addr`, the new clients find it there, and
    /// the run ends with the model of the uninterrupted TCP run.
    @Test func aTCPRunResumesOnAFreshPortWithTheSameModel() throws {
        var s = ResumeTests.scenario(privacy: false)
        s.runtime.listen = "tcp://127.0.0.1:0"
        let file = MultiProcessTests.scenarioFile(s)
        let reference = try MultiProcessTests.fedsim([
            "run", file, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(reference.status == 0, "\(reference.stderr)")

        let parent = TestSupport.temporaryDirectory()
        let (proc, _) = try ResumeTests.start(["run", file, "--out", parent, "--quiet"])
        let dir = try #require(ResumeTests.runDirectory(in: parent))
        #expect(ResumeTests.waitForRounds(dir, 5))
        let first = try String(contentsOfFile: dir + "/coordinator.addr", encoding: .utf8)
        kill(try ResumeTests.coordinatorPID(dir), SIGKILL)
        proc.waitUntilExit()
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count < 12, "the run finished before the kill")

        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let second = try String(contentsOfFile: dir + "/coordinator.addr", encoding: .utf8)
        #expect(TCPAddress(parsing: first) != nil && TCPAddress(parsing: second) != nil)
        let a = FileManager.default.contents(atPath: reference.runDirectory + "/model.bin")
        #expect(a != nil && a == FileManager.default.contents(atPath: dir + "/model.bin"))
    }
}
