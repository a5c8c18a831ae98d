import CFedSimSystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How `fedsim run` and the processes it starts live and die together.
///
/// Foundation's `Process` puts each child in its own process group, so a terminal's Ctrl-C
/// reaches only the launcher. The launcher therefore catches SIGINT, SIGTERM and SIGHUP and
/// forwards the first one to the coordinator as SIGTERM: the coordinator finishes its round,
/// checkpoints, tells the clients to leave and exits 130 (resumable). A second signal stops
/// everything at once (SIGKILL); the last checkpoint still resumes. If the launcher itself
/// dies (even by SIGKILL), the kernel sends the coordinator SIGTERM (PR_SET_PDEATHSIG), with
/// the same graceful outcome. Clients need no such link: they leave when the coordinator's
/// connection closes.
public enum Supervision {
    /// In the coordinator, when `launcher` started it: a SIGTERM when the launcher dies, and
    /// one now if it already has (it died between spawning us and this call).
    public static func stopWithLauncher(_ launcher: Int32) {
        _ = fedsim_signal_on_parent_death(SIGTERM)
        if getppid() != launcher { kill(getpid(), SIGTERM) }
    }

    /// The launcher's stop requests: counts SIGINT, SIGTERM and SIGHUP while installed.
    final class StopRequests: @unchecked Sendable {
        let count = NSLock()
        var received = 0
        var sources: [DispatchSourceSignal] = []
        let signals = [SIGINT, SIGTERM, SIGHUP]

        init() {
            for sig in signals {
                signal(sig, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler { [self] in
                    count.lock()
                    received += 1
                    count.unlock()
                }
                src.resume()
                sources.append(src)
            }
        }

        var total: Int {
            count.lock()
            defer { count.unlock() }
            return received
        }

        func uninstall() {
            for s in sources { s.cancel() }
            for sig in signals { signal(sig, SIG_DFL) }
        }
    }
}
