import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a run directory (`flock` on a file inside it), held for the life of
/// the process that took it; the kernel drops it when the process dies, however it dies, so a
/// crash never leaves a stale lock.
///
/// Two locks, because two kinds of process must not overlap: `run.lock` is held by the
/// launcher (`fedsim run`, `fedsim resume`) from before it touches the directory until its
/// coordinator has exited, so two resumes cannot interleave their truncations and runs; and
/// `coordinator.lock` is held by the coordinator itself, so a resume cannot start while a
/// coordinator still works in the directory (for instance one finishing its round after its
/// launcher was killed).
public final class RunLock {
    let fd: Int32
    public let path: String

    public struct Busy: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock or throws `Busy` naming who holds it. `holder` (written into the file)
    /// says who we are, for that message.
    public init(_ path: String, holder: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Busy(description: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let who = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            close(fd)
            throw Busy(
                description:
                    "the run directory \((path as NSString).deletingLastPathComponent) is in use by \(who.map { $0.isEmpty ? "another process" : $0 } ?? "another process"); wait for it to finish, or stop it first"
            )
        }
        let text = Array("\(holder), pid \(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Whether someone holds the lock at `path` now (a probe: takes and drops it).
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    deinit { close(fd) }
}

extension RunDirectory {
    /// Held by `fedsim run` / `fedsim resume` while they prepare and supervise the run.
    public var launcherLockFile: String { path + "/run.lock" }
    /// Held by the coordinator for its whole life.
    public var coordinatorLockFile: String { path + "/coordinator.lock" }
}
