import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// A small tmpfs mounted for a test (root only; nil where mounting is not permitted), so a
/// full disk is real: the kernel's ENOSPC, not a simulation.
final class SmallDisk {
    let path: String

    init?(size: String) {
        path = TestSupport.temporaryDirectory("fedsim-disk")
        guard Self.mount(["-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", path]) else {
            rmdir(path)
            return nil
        }
    }

    func grow(to size: String) -> Bool { Self.mount(["-o", "remount,size=\(size)", path]) }

    deinit {
        _ = Self.mount(["-l", path], command: "/bin/umount")
        rmdir(path)
    }

    static func mount(_ args: [String], command: String = "/bin/mount") -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
}

/// Durability (issue 21, class 4): a full disk stops the run with a message, a resumable
/// checkpoint and no torn metric line; it never crashes the coordinator.
@Suite(.serialized) struct DiskFullTests {
    /// /dev/full answers every write with ENOSPC. The old sink (`FileHandle.write`) trapped on it.
    @Test func aMetricsLineThatCannotBeWrittenThrowsInsteadOfCrashing() throws {
        let sink = try FileMetricsSink(path: "/dev/full")
        var line = JSONObject()
        line.add("round", 1)
        #expect {
            try sink.record(line)
        } throws: { error in
            (error as? StorageError)?.isDiskFull == true && "\(error)".contains("/dev/full")
        }
    }

    /// A line that only partly fits is cut back: the file holds whole lines only.
    @Test func aLineThatDoesNotFitLeavesNoPartialLine() throws {
        guard let disk = SmallDisk(size: "64k") else {
            print("note: cannot mount a tmpfs here; skipping")
            return
        }
        let path = disk.path + "/metrics.jsonl"
        let file = try AppendOnlyFile(path: path)
        try file.append("{\"round\":1}")
        // Fill the disk up to about one page.
        let filler = disk.path + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 52 << 10))
        #expect(throws: StorageError.self) {
            try file.append("{\"round\":2,\"pad\":\"" + String(repeating: "x", count: 40_000) + "\"}")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"round\":1}\n")
    }

    /// A 4,000-device population with 33 personal floats each: its device-state snapshots fill
    /// a 1.5 MiB tmpfs by the second checkpoint. The run stops with exit 74 and a message naming
    /// the path and the intact checkpoint; after the disk grows, `fedsim resume` ends with the
    /// model of a run that never ran out of space.
    @Test func aFullDiskStopsTheRunCleanlyAndTheResumeEndsLikeAnUninterruptedRun() throws {
        var s = TestSupport.tinyScenario(devices: 4000, rounds: 8, perRound: 40)
        s.model.dim = 32
        s.evaluation.devices = 50
        s.runtime.checkpointEvery = 2
        let file = MultiProcessTests.scenarioFile(s)
        let reference = try MultiProcessTests.fedsim([
            "run", file, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(reference.status == 0, "\(reference.stderr)")
        guard let disk = SmallDisk(size: "1536k") else {
            print("note: cannot mount a tmpfs here; skipping")
            return
        }
        let full = try MultiProcessTests.fedsim(["run", file, "--out", disk.path, "--quiet"])
        #expect(full.status == 74, "\(full.stderr)")
        #expect(full.stderr.contains("No space left on device"), "\(full.stderr)")
        #expect(full.stderr.contains("fedsim resume"), "\(full.stderr)")
        #expect(!full.stderr.contains("exited with status"))
        let dir = full.runDirectory
        let text = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"))
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count == text.split(separator: "\n").count)
        let ckpt = try CoordinatorCheckpoint.load(dir + "/checkpoint.json")
        #expect(ckpt.round >= 2 && ckpt.round < 8)
        #expect(try TestSupport.summary(dir).status == .failed)

        #expect(disk.grow(to: "64m"))
        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = FileManager.default.contents(atPath: reference.runDirectory + "/model.bin")
        #expect(a != nil && a == FileManager.default.contents(atPath: dir + "/model.bin"))
    }
}

/// Resume (issue 21, classes 3, 7, 8): it continues only from state that checks out, and after
/// a client process is lost it still has a recent checkpoint to continue from.
@Suite(.serialized) struct ResumeIntegrityTests {
    /// A completed run with checkpoints every 2 rounds; `crashAfterTheRun` removes its summary and
    /// model, as if the coordinator had died after its last checkpoint.
    static func completedRun(_ s: Scenario) throws -> (dir: String, model: Data) {
        let r = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let model = try #require(FileManager.default.contents(atPath: r.runDirectory + "/model.bin"))
        return (r.runDirectory, model)
    }

    static func crashAfterTheRun(_ dir: String) {
        unlink(dir + "/summary.json")
        unlink(dir + "/model.bin")
    }

    static func files(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for f in ["checkpoint.json", "metrics.jsonl", "state/process-0.bin", "state/process-1.bin"] {
            out[f] = FileManager.default.contents(atPath: dir + "/" + f)
        }
        return out
    }

    static func scenario() -> Scenario {
        var s = TestSupport.tinyScenario(devices: 120, rounds: 6, perRound: 30)
        s.runtime.checkpointEvery = 2
        return s
    }

    /// Class 8: a corrupt, truncated or symlinked snapshot, a checkpoint with a NaN or a flipped
    /// byte, and an edited seed are each refused with a message naming the file, and leave the
    /// run directory as it was; the untouched directory then resumes to the same model.
    @Test func badStateIsRefusedLoudlyAndNothingIsLost() throws {
        let (dir, model) = try Self.completedRun(Self.scenario())
        Self.crashAfterTheRun(dir)
        let ckptPath = dir + "/checkpoint.json"
        let ckpt = try CoordinatorCheckpoint.load(ckptPath)
        #expect(ckpt.round == 4)
        let snapshot = dir + "/state/process-1.r4.ckpt"
        let good = try #require(FileManager.default.contents(atPath: snapshot))
        let goodCheckpoint = try #require(FileManager.default.contents(atPath: ckptPath))
        let scenarioText = try String(contentsOfFile: dir + "/scenario.json", encoding: .utf8)

        func refused(_ what: String, mentioning words: [String], restore: () throws -> Void) throws {
            let before = Self.files(dir)
            let r = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
            #expect(r.status == 2, "\(what): \(r.stderr)")
            for w in words { #expect(r.stderr.contains(w), "\(what): \(r.stderr)") }
            #expect(Self.files(dir) == before, "\(what) changed the run directory")
            try restore()
        }
        let restoreSnapshot = {
            unlink(snapshot)
            #expect(FileManager.default.createFile(atPath: snapshot, contents: good))
        }
        var corrupt = good
        corrupt[100] ^= 0x01
        _ = FileManager.default.createFile(atPath: snapshot, contents: corrupt)
        try refused("a flipped bit", mentioning: [snapshot, "checksum"], restore: restoreSnapshot)

        _ = FileManager.default.createFile(atPath: snapshot, contents: good.prefix(good.count / 2))
        try refused("a truncated snapshot", mentioning: [snapshot], restore: restoreSnapshot)

        let elsewhere = TestSupport.temporaryDirectory() + "/snapshot"
        _ = FileManager.default.createFile(atPath: elsewhere, contents: good)
        unlink(snapshot)
        symlink(elsewhere, snapshot)
        try refused("a symlinked snapshot", mentioning: [snapshot, "symlink"], restore: restoreSnapshot)

        var nan = ckpt
        var floats = [Float](repeating: 0, count: nan.model.count / 4)
        floats.withUnsafeMutableBytes { _ = nan.model.copyBytes(to: $0) }
        floats[3] = .nan
        nan.model = floats.withUnsafeBytes { Data($0) }
        try nan.save(ckptPath)
        try refused("a NaN in the model", mentioning: ["non-finite", "parameter 3"]) {
            FileManager.default.createFile(atPath: ckptPath, contents: goodCheckpoint)
        }

        var flipped = goodCheckpoint
        let at = try #require(flipped.firstRange(of: Data("\"model\":\"".utf8))).upperBound + 5
        flipped[at] = flipped[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        _ = FileManager.default.createFile(atPath: ckptPath, contents: flipped)
        try refused("a flipped checkpoint byte", mentioning: [ckptPath, "checksum"]) {
            FileManager.default.createFile(atPath: ckptPath, contents: goodCheckpoint)
        }

        let edited = scenarioText.replacingOccurrences(of: "\"seed\" : 7", with: "\"seed\" : 8")
        #expect(edited != scenarioText)
        _ = FileManager.default.createFile(atPath: dir + "/scenario.json", contents: Data(edited.utf8))
        try refused("an edited seed", mentioning: ["scenario.json", "changed"]) {
            FileManager.default.createFile(atPath: dir + "/scenario.json", contents: Data(scenarioText.utf8))
        }

        let r = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: dir + "/model.bin") == model)
    }

    /// Class 3: a client process SIGKILLed in round 3 no longer stops every later checkpoint.
    /// The last one (round 10) records the lost process, and a resume from it continues without
    /// that process to the very model the run ended with.
    @Test func checkpointsContinueAfterAClientIsLostAndResumeFromThem() throws {
        var s = Self.scenario()
        s.training.rounds = 12
        var crash = FaultConfig()
        crash.kind = .crash
        crash.process = 1
        crash.round = 3
        crash.afterUpdates = 2
        s.runtime.faults = [crash]
        let (dir, model) = try Self.completedRun(s)
        let ckpt = try CoordinatorCheckpoint.load(dir + "/checkpoint.json")
        #expect(ckpt.round == 10)
        #expect(ckpt.lostProcesses?.keys.sorted() == [1])
        #expect(try TestSupport.summary(dir).lostProcesses?.reasons.keys.sorted() == [1])
        Self.crashAfterTheRun(dir)
        let r = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: dir + "/model.bin") == model)
        let lines = TestSupport.metricsLines(dir + "/metrics.jsonl")
        #expect(lines.count == 12)
        #expect(lines.suffix(2).allSatisfy { $0["processes_alive"] as? Int == 1 })
    }

    /// Class 7: with compression and a fleet deadline, which devices make the deadline depends
    /// on the measured upload size of the round before; a resume restores it and ends with the
    /// same model.
    @Test func compressionWithAFleetDeadlineResumesBitIdentically() throws {
        var s = Self.scenario()
        s.training.rounds = 12
        s.compression.stages = [.sparseRows, .quantize]
        s.compression.bits = 4
        s.fleet.deadlineSeconds = 3
        s.fleet.network.uploadMbps = 0.01
        s.fleet.network.downloadMbps = 100
        s.fleet.network.latencyMs = 0
        let (dir, model) = try Self.completedRun(s)
        Self.crashAfterTheRun(dir)
        let r = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: dir + "/model.bin") == model)
    }

    /// Class 7: resuming a run that completed re-runs nothing and leaves summary.json as it was.
    @Test func resumingACompletedRunChangesNothing() throws {
        let (dir, _) = try Self.completedRun(Self.scenario())
        let summary = FileManager.default.contents(atPath: dir + "/summary.json")
        let metrics = FileManager.default.contents(atPath: dir + "/metrics.jsonl")
        let r = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("already completed"), "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: dir + "/summary.json") == summary)
        #expect(FileManager.default.contents(atPath: dir + "/metrics.jsonl") == metrics)
    }
}
