import FedSimConfig
import FedSimCore
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// Issue 21, class 10: what the user sees when the environment is wrong. Every error is a
/// sentence naming the path, never a Foundation error dump, with the documented exit code
/// (docs/cli.md): 2 for the scenario or data, 74 for files and system resources.
@Suite(.serialized) struct UserFacingErrorTests {
    static func run(
        _ extra: [String],
        out: String,
        scenario: Scenario = TestSupport.tinyScenario()
    ) throws
        -> MultiProcessTests.CommandResult
    {
        try MultiProcessTests.fedsim(
            ["run", MultiProcessTests.scenarioFile(scenario), "--out", out, "--quiet"] + extra
        )
    }

    static func expectSentence(_ r: MultiProcessTests.CommandResult, status: Int32, mentions: [String]) {
        #expect(r.status == status, "\(r.stderr)")
        #expect(!r.stderr.contains("Error Domain") && !r.stderr.contains("NSError"), "\(r.stderr)")
        for m in mentions { #expect(r.stderr.contains(m), "\(r.stderr)") }
    }

    @Test func anOutThatIsAFileIsAnIOErrorNamingIt() throws {
        let file = TestSupport.temporaryDirectory() + "/not-a-folder"
        TestSupport.write("x", to: file)
        Self.expectSentence(try Self.run([], out: file), status: 74, mentions: [file, "Not a directory"])
    }

    @Test func aReadOnlyOutIsAnIOErrorNamingIt() throws {
        let ro = TestSupport.temporaryDirectory("fedsim-ro")
        guard SmallDisk.mount(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]) else {
            print("note: cannot mount a read-only tmpfs here; skipping")
            return
        }
        defer { _ = SmallDisk.mount(["-l", ro], command: "/bin/umount") }
        Self.expectSentence(try Self.run([], out: ro + "/runs"), status: 74, mentions: [ro + "/runs", "Read-only"])
    }

    @Test func aFrameLimitBelowTheModelIsAScenarioError() throws {
        var s = TestSupport.tinyScenario()
        s.runtime.maxFrameBytes = 4096
        let out = TestSupport.temporaryDirectory()
        Self.expectSentence(try Self.run([], out: out, scenario: s), status: 2, mentions: ["runtime.max_frame_bytes"])
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out)) == [], "a run directory was left behind")
    }

    /// Building the directory of 3 million devices takes a while: progress is shown, and Ctrl-C
    /// removes the half-made run directory; a SIGKILL leaves it marked, and resume says so.
    @Test func anInterruptedSetupShowsProgressAndIsCleanedOrMarked() throws {
        var s = TestSupport.tinyScenario(devices: 3_000_000, rounds: 1, perRound: 10)
        s.name = "huge"
        let file = MultiProcessTests.scenarioFile(s)
        for sig in [SIGINT, SIGKILL] {
            let out = TestSupport.temporaryDirectory()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestSupport.binDirectory() + "/fedsim")
            p.arguments = ["run", file, "--out", out]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Progress comes before the device directory is done (read without blocking, so a
            // fedsim that shows none fails the test instead of hanging it).
            let fd = err.fileHandleForReading.fileDescriptor
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var seen = Data()
            var buf = [UInt8](repeating: 0, count: 4096)
            let end = monotonicSeconds() + 60
            while monotonicSeconds() < end, !String(decoding: seen, as: UTF8.self).contains("device directory") {
                let n = read(fd, &buf, buf.count)
                if n > 0 { seen.append(contentsOf: buf[0..<n]) } else { usleep(20_000) }
            }
            #expect(String(decoding: seen, as: UTF8.self).contains("building the device directory"))
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            if sig == SIGINT {
                #expect(p.terminationStatus == 130)
                #expect(left.isEmpty, "the interrupted setup left \(left)")
            } else {
                let dir = out + "/" + (try #require(left.first))
                #expect(FileManager.default.fileExists(atPath: dir + "/setup-incomplete"))
                let r = try MultiProcessTests.fedsim(["resume", dir])
                #expect(r.status == 2)
                #expect(r.stderr.contains("interrupted while fedsim was setting it up"), "\(r.stderr)")
            }
        }
    }
}
