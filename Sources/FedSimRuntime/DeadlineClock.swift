/// Where the coordinator's deadlines come from. Every deadline (connecting, a round, a
/// secure sum, a checkpoint) is armed through one clock, so a test can replace the system
/// clock with a manual one and fire deadlines exactly when it advances time, as swift-nio's
/// `EmbeddedEventLoop.advanceTime(by:)` does: no sleeping, no timing slack.
public protocol DeadlineClock: Sendable {
    /// Suspends until `seconds` have passed on this clock.
    func sleep(seconds: Double) async
}

/// The real clock: `Task.sleep`, to the millisecond.
public struct SystemDeadlineClock: DeadlineClock {
    public init() {}

    public func sleep(seconds: Double) async {
        try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
    }
}
