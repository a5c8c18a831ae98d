import FedSimConfig
import FedSimRuntime
import FedSimTestSupport
import FedSimWire
import Foundation
import NIOConcurrencyHelpers
import Testing

/// One rule for late messages: a reply that arrives after its phase closed (a client frozen
/// past a deadline, then answering) is logged and ignored in whatever phase it lands, and
/// never closes a healthy connection.
@Suite struct LateReplyTests {
    /// Client 1 freezes before confirming the checkpoint of round 1 for longer than the
    /// deadline; its confirmation lands in round 2's training round (plain aggregation) or
    /// secure-aggregation round (SecAgg+). Both processes must stay for the whole run (how many
    /// devices finish a round depends on the machine's load; who stays connected does not).
    @Test(arguments: [false, true])
    func aLateCheckpointConfirmationKeepsTheClient(secure: Bool) async throws {
        var s = TestSupport.tinyScenario(devices: 80, rounds: 3, perRound: 40)
        s.runtime.roundDeadlineSeconds = 5
        s.runtime.checkpointEvery = 1
        if secure { s.secureAggregation.protocol = .secaggPlus }
        let clock = ManualClock()
        let h = CoordinatorHarness(s, clock: clock)
        let latestRequest = NIOLockedValueBox(UInt32(0))  // the newest round the coordinator asked a client about
        h.transport.recorder = { toCoordinator, m in
            guard !toCoordinator else { return }
            switch m {
            case .train(let r): latestRequest.withLockedValue { $0 = max($0, r.round) }
            case .secagg(let e): latestRequest.withLockedValue { $0 = max($0, e.round) }
            default: break
            }
        }
        h.coordinator.checkpointPath = TestSupport.temporaryDirectory() + "/checkpoint.json"
        let clients = [
            h.client(0),
            h.client(1) { m in
                if case .checkpointed(let r) = m, r == 1 { return 6 }  // past the 5 s deadline
                return nil
            },
        ]
        let run = Task { try await h.coordinator.run() }
        // Asleep on the clock: the connect timeout, round 1's deadline (5; round 1 finished, so it
        // is stale), the checkpoint's deadline (5) and client 1's freeze (6). Pass the checkpoint
        // deadline, then wake the client (clock time, no sleeping).
        try await DeadlineTests.eventually("client 1 frozen in the checkpoint of round 1") { clock.pending == 4 }
        clock.advance(by: 5.001)
        let underWay = try await DeadlineTests.eventually("round 2 under way") {
            latestRequest.withLockedValue { $0 } == 2
        }
        clock.advance(by: 1)
        if !underWay { DeadlineTests.release(clock) }
        try await run.value
        for c in clients { #expect(await c.value == nil) }
        let m = h.metrics
        #expect(m.count == 3)
        #expect(m.allSatisfy { $0["processes_alive"] as? Int == 2 }, "\(m.map { $0["processes_alive"] ?? "?" })")
    }
}
