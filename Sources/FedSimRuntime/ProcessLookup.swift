import Foundation

/// Finds a run's client processes by their command line (`fedsim-client --run-dir D --index
/// i`), for tools and tests that act on one (freeze it with SIGSTOP, say). Linux `/proc` only;
/// nil when not found.
public enum ProcessLookup {
    public static func clientPID(runDirectory: String, index: Int) -> pid_t? {
        let want = ["--run-dir", runDirectory, "--index", String(index)]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let exe = args.first, exe.hasSuffix("fedsim-client"), args.count >= 5 else { continue }
            for i in 1...(args.count - 4) where Array(args[i..<(i + 4)]) == want { return pid }
        }
        return nil
    }

    /// The coordinator's process id, from the run directory's `coordinator.pid`.
    public static func coordinatorPID(runDirectory: String) -> pid_t? {
        guard let s = try? String(contentsOfFile: runDirectory + "/coordinator.pid", encoding: .utf8) else {
            return nil
        }
        return pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
