import FedSimRuntime
import NIOConcurrencyHelpers

/// A clock that moves only when the test says so (`advance(by:)`), for exact deadline tests:
/// a sleeper wakes when the clock reaches its deadline, never before, and never by accident
/// of a slow machine.
public final class ManualClock: DeadlineClock, @unchecked Sendable {
    struct Sleeper {
        let wake: Double
        let continuation: CheckedContinuation<Void, Never>
    }

    let lock = NIOLock()
    var now = 0.0
    var sleepers: [Sleeper] = []

    public init() {}

    /// Seconds since the clock started.
    public var seconds: Double { lock.withLock { now } }

    /// Sleepers not yet woken.
    public var pending: Int { lock.withLock { sleepers.count } }

    public func sleep(seconds: Double) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let due: Bool = lock.withLock {
                if seconds <= 0 { return true }
                sleepers.append(Sleeper(wake: now + seconds, continuation: c))
                return false
            }
            if due { c.resume() }
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by seconds: Double) {
        let due: [Sleeper] = lock.withLock {
            now += seconds
            let due = sleepers.filter { $0.wake <= now }.sorted { $0.wake < $1.wake }
            sleepers.removeAll { $0.wake <= now }
            return due
        }
        for s in due { s.continuation.resume() }
    }
}
