import FedSimConfig
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import NIOConcurrencyHelpers
import Testing

/// Deadlines on the injected clock: a round closes exactly when the clock reaches its deadline,
/// not a moment before, whatever the machine's speed.
@Suite struct DeadlineTests {
    /// Polls every 5 ms until `condition` holds, for `seconds` worth of polls. The coordinator
    /// and clients run as tasks, which a loaded machine starves for long stretches (sync
    /// integration tests hold both cooperative threads of a 2-core box while they wait for
    /// their child processes): the budget counts polls, not wall time, so a starved stretch
    /// does not use it up before the tasks under test have run. Returns whether the condition
    /// came true.
    @discardableResult
    static func eventually(_ what: String, within seconds: Double = 180, _ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<Int(seconds / 0.005) {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        guard condition() else {
            Issue.record("timed out waiting for \(what)")
            return false
        }
        return true
    }

    /// On a failed step: let every deadline fire so the run ends instead of waiting forever.
    static func release(_ clock: ManualClock) { clock.advance(by: 1e9) }

    /// Client 1 freezes for 45 s (clock time) before its first update of round 1. The round's
    /// 30 s deadline closes it exactly at 30 s with client 1's devices timed out; at 45 s the
    /// client answers late (ignored), takes round 2 in time, and never leaves the run.
    @Test func aRoundClosesExactlyAtItsDeadline() async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 2, perRound: 40)
        s.runtime.roundDeadlineSeconds = 30
        s.runtime.connectTimeoutSeconds = 100
        let clock = ManualClock()
        let h = CoordinatorHarness(s, clock: clock)
        let froze = NIOLockedValueBox(false)
        let clients = [
            h.client(0),
            h.client(1) { m in
                guard case .update(let u) = m, u.round == 1 else { return nil }
                return froze.withLockedValue { done in
                    defer { done = true }
                    return done ? nil : 45
                }
            },
        ]
        let run = Task { try await h.coordinator.run() }
        // Waiting: the connect timeout (100), round 1's deadline (30) and client 1's freeze (45).
        try await Self.eventually("round 1 in progress with client 1 frozen") { clock.pending == 3 }
        clock.advance(by: 29.999)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.sink.lines.isEmpty, "round 1 closed before its deadline")
        clock.advance(by: 0.002)
        guard try await Self.eventually("round 1 closed at its deadline", { h.sink.lines.count == 1 }) else {
            Self.release(clock)
            _ = try? await run.value
            return
        }
        let first = h.metrics[0]
        let timedOut = first["timed_out"] as? Int ?? 0
        #expect(timedOut > 0 && first["finished"] as? Int == 40 - timedOut)
        clock.advance(by: 15)  // 45 s: client 1 wakes, answers round 1 late, then trains round 2
        if !(try await Self.eventually("round 2 finished before its deadline") { h.sink.lines.count == 2 }) {
            Self.release(clock)
        }
        try await run.value
        for c in clients { #expect(await c.value == nil) }
        let second = try #require(h.metrics.count == 2 ? h.metrics[1] : nil)
        #expect(second["finished"] as? Int == 40 && second["timed_out"] as? Int == 0)
        #expect(h.metrics.allSatisfy { $0["processes_alive"] as? Int == 2 })
    }
}
