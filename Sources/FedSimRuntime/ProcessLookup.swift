import Foundation

/// Finds a run's client processes by their command line (`fedsim-client --run-dir D --index
/// i`), for tools and tests that act on one (freeze it with SIGSTOP, say). Linux `/proc` only;
/// nil when not found.
public enum ProcessLookup {
    /// Every process's id and command line (`/proc/PID/cmdline`).
    static func commandLines() -> [(pid: pid_t, args: [String])] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            return (pid, raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
        }
    }

    public static func clientPID(runDirectory: String, index: Int) -> pid_t? {
        let want = ["--run-dir", runDirectory, "--index", String(index)]
        for (pid, args) in commandLines() {
            guard let exe = args.first, exe.hasSuffix("fedsim-client"), args.count >= 5 else { continue }
            for i in 1...(args.count - 4) where Array(args[i..<(i + 4)]) == want { return pid }
        }
        return nil
    }

    /// Every coordinator and client still working in `runDirectory`: empty once a run is
    /// over, however it ended (no orphans).
    public static func processes(workingIn runDirectory: String) -> [pid_t] {
        commandLines().compactMap { (pid, args) in
            guard let exe = args.first, exe.hasSuffix("fedsim-coordinator") || exe.hasSuffix("fedsim-client"),
                args.contains(runDirectory)
            else { return nil }
            return pid
        }
    }

    /// The coordinator's process id, from the run directory's `coordinator.pid`.
    public static func coordinatorPID(runDirectory: String) -> pid_t? {
        guard let s = try? String(contentsOfFile: runDirectory + "/coordinator.pid", encoding: .utf8) else {
            return nil
        }
        return pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
