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

    /// The launcher's stop requests: SIGINT, SIGTERM and SIGHUP received since this run
    /// started. Several runs may supervise at once in one process (`fedsim sweep --jobs`), so
    /// the handlers are installed once, shared, and removed when the last run is done; every
    /// run sees every signal and stops its own coordinator.
    final class StopRequests: @unchecked Sendable {
        let baseline: Int

        init() { baseline = SignalHub.shared.retain() }

        var total: Int { SignalHub.shared.received - baseline }

        func uninstall() { SignalHub.shared.release() }
    }

    /// The process-wide signal handlers behind `StopRequests`.
    final class SignalHub: @unchecked Sendable {
        static let shared = SignalHub()
        let lock = NSLock()
        var users = 0
        var count = 0
        var sources: [DispatchSourceSignal] = []
        let signals = [SIGINT, SIGTERM, SIGHUP]

        /// Installs the handlers for the first user; returns the signal count so far.
        func retain() -> Int {
            lock.lock()
            defer { lock.unlock() }
            users += 1
            if users == 1 {
                for sig in signals {
                    signal(sig, SIG_IGN)
                    let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                    src.setEventHandler { [self] in
                        lock.lock()
                        count += 1
                        lock.unlock()
                    }
                    src.resume()
                    sources.append(src)
                }
            }
            return count
        }

        var received: Int {
            lock.lock()
            defer { lock.unlock() }
            return count
        }

        /// Removes the handlers when the last user is done (default actions again).
        func release() {
            lock.lock()
            defer { lock.unlock() }
            users -= 1
            guard users == 0 else { return }
            for s in sources { s.cancel() }
            sources = []
            for sig in signals { signal(sig, SIG_DFL) }
        }
    }
}
