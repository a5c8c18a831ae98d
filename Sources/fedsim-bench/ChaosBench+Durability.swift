import FedSimCore
import FedSimMetrics
import FedSimRuntime
import Foundation

/// Durability rows of `make chaos` (issue 21, classes 3, 4 and 8). Each row's action injects
/// the fault, checks what must hold at that moment (a clean stop, a loud refusal, a recent
/// checkpoint) and puts things back, and the run is then resumed; the row's usual checks
/// (10 rounds, the ledger, the model against the fault-free run) judge the end. A check that
/// fails inside an action stops `make chaos` with exit 1 and the reason.
extension ChaosBench {
    static func durabilityCases() -> [Case] {
        let mountable = canMountTmpfs()
        return [
            Case(
                name: mountable
                    ? "disk full on a small tmpfs"
                    : "disk full on a small tmpfs (SKIPPED: mounting a tmpfs is not permitted)",
                secure: false,
                action: mountable ? fillTheStateFolder : nil,
                atRound: 3,
                resumeAfter: mountable,
                mustEqualFaultFree: true,
                note: mountable
                    ? "a full 64 KiB tmpfs over state/: the next snapshot fails, the run stops (exit 74) naming the path, on its last checkpoint; space freed, resume ends as the fault-free run"
                    : "not run: this row needs root to mount a tmpfs"
            ),
            Case(
                name: "corrupt snapshot",
                secure: false,
                action: corruptASnapshot,
                atRound: 5,
                resumeAfter: true,
                mustEqualFaultFree: true,
                note:
                    "coordinator SIGKILL, one flipped bit in a device-state snapshot: resume refuses naming the file and changes nothing; with the file restored it ends as the fault-free run"
            ),
            Case(
                name: "client lost then coordinator crash",
                secure: false,
                faults: [fault(.crash, after: 5)],
                action: killAfterTheLoss,
                atRound: 7,
                resumeAfter: true,
                mustEqualFaultFree: false,
                note:
                    "checkpoints go on with the surviving process (the newest one records the lost one); resume continues from it without the lost process"
            ),
        ]
    }

    static func failRow(_ row: String, _ why: String) -> Never {
        FileHandle.standardError.write(Data("chaos: \(row): FAILED: \(why)\n".utf8))
        exit(1)
    }

    static func canMountTmpfs() -> Bool {
        let probe = NSTemporaryDirectory() + "fedsim-chaos-mount-\(getpid())"
        mkdir(probe, 0o700)
        defer { rmdir(probe) }
        guard command("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) else { return false }
        return command("/bin/umount", [probe])
    }

    static func command(_ path: String, _ args: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    static func coordinatorPID(_ dir: String) -> Int32? {
        (try? String(contentsOfFile: dir + "/coordinator.pid", encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// A process's state letter from /proc (R, S, T, Z…), or "" once it is gone.
    static func processState(_ pid: Int32) -> String {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("State:") }) else { return "" }
        return String(line.dropFirst("State:".count).drop { $0 == " " || $0 == "\t" })
    }

    /// Waits until the run's coordinator has exited (or 60 s pass).
    static func waitForCoordinator(_ dir: String) {
        guard let pid = coordinatorPID(dir) else { return }
        let end = monotonicSeconds() + 60
        while monotonicSeconds() < end {
            let state = processState(pid)
            if state.isEmpty || state.hasPrefix("Z") { return }
            usleep(20_000)
        }
    }

    /// Mounts a 64 KiB tmpfs over the run's `state/` (the processes keep their mapped state
    /// files) and fills it: the next checkpoint's snapshots hit ENOSPC. Once the coordinator
    /// has stopped, checks its summary and unmounts, which frees the space.
    static func fillTheStateFolder(_ dir: String) {
        let row = "disk full on a small tmpfs"
        let state = dir + "/state"
        // Freeze the coordinator right after an odd round (checkpoints follow even ones), so
        // no snapshot is half-written across the mount, and fill the tmpfs before it goes on.
        guard let pid = coordinatorPID(dir) else { failRow(row, "no coordinator.pid") }
        while true {
            kill(pid, SIGSTOP)
            let end = monotonicSeconds() + 5
            while !processState(pid).hasPrefix("T") && monotonicSeconds() < end { usleep(1_000) }
            let count = metrics(dir).count
            if count % 2 == 1 && count < 9 { break }
            kill(pid, SIGCONT)
            guard count < 9 else { failRow(row, "the run ended before the disk could be filled") }
            usleep(2_000)
        }
        guard command("/bin/mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", state]) else {
            kill(pid, SIGCONT)
            failRow(row, "cannot mount a tmpfs over \(state)")
        }
        let fd = open(state + "/filler", O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0, count: 4096)
        while fd >= 0 && block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
        kill(pid, SIGCONT)
        waitForCoordinator(dir)
        guard command("/bin/umount", ["-l", state]) else { failRow(row, "cannot unmount \(state)") }
        let summary: RunSummary?
        do { summary = try RunDirectory(path: dir).summary() } catch { failRow(row, "\(error)") }
        guard let summary, summary.status == .failed, let error = summary.error,
            error.contains("No space left on device"), error.contains("fedsim resume")
        else {
            failRow(
                row,
                "the run did not stop with a disk-full message: \(summary.map { "\($0.status): \($0.error ?? "")" } ?? "no summary.json")"
            )
        }
        guard (try? CoordinatorCheckpoint.load(dir + "/checkpoint.json")) != nil else {
            failRow(row, "no intact checkpoint after the stop")
        }
    }

    /// Kills the coordinator, flips one bit of a snapshot of its newest checkpoint, checks that
    /// `fedsim resume` refuses it by name and leaves the run directory as it was, then restores it.
    static func corruptASnapshot(_ dir: String) {
        let row = "corrupt snapshot"
        killCoordinator(dir)
        waitForCoordinator(dir)
        guard let ckpt = try? CoordinatorCheckpoint.load(dir + "/checkpoint.json") else {
            failRow(row, "no checkpoint to resume from")
        }
        let snapshot = dir + "/state/process-0.r\(ckpt.round).ckpt"
        guard let good = FileManager.default.contents(atPath: snapshot) else { failRow(row, "no \(snapshot)") }
        // The interrupted launcher still holds run.lock while its clients leave.
        let end = monotonicSeconds() + 30
        while RunLock.isHeld(RunDirectory(path: dir).launcherLockFile) && monotonicSeconds() < end { usleep(20_000) }
        var bad = good
        bad[bad.count / 2] ^= 0x10
        let watched = ["checkpoint.json", "metrics.jsonl", "state/process-0.bin", "state/process-1.bin"]
        let before = watched.map { FileManager.default.contents(atPath: dir + "/" + $0) }
        guard FileManager.default.createFile(atPath: snapshot, contents: bad) else { failRow(row, "cannot write") }
        do {
            _ = try Launcher.resume(directory: dir, binDirectory: Launcher.ownBinDirectory(), showProgress: false)
            failRow(row, "resume accepted a corrupt snapshot")
        } catch {
            guard "\(error)".contains(snapshot), "\(error)".contains("checksum") else {
                failRow(row, "the refusal does not name the snapshot and its checksum: \(error)")
            }
        }
        guard watched.map({ FileManager.default.contents(atPath: dir + "/" + $0) }) == before else {
            failRow(row, "the refused resume changed the run directory")
        }
        guard FileManager.default.createFile(atPath: snapshot, contents: good) else { failRow(row, "cannot restore") }
    }

    /// Kills the coordinator after client process 1 was lost in round 3; its newest checkpoint
    /// must be from after the loss and record the lost process.
    static func killAfterTheLoss(_ dir: String) {
        let row = "client lost then coordinator crash"
        killCoordinator(dir)
        waitForCoordinator(dir)
        guard let ckpt = try? CoordinatorCheckpoint.load(dir + "/checkpoint.json") else {
            failRow(row, "no checkpoint to resume from")
        }
        guard ckpt.round >= 6, ckpt.lostProcesses?[1] != nil else {
            failRow(row, "the newest checkpoint is of round \(ckpt.round), lost processes \(ckpt.lostProcesses ?? [:])")
        }
    }
}
