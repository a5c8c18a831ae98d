import FedSimWire

/// The coordinator's one event loop. Every phase (start-up, a training round, an
/// asynchronous step, an evaluation, a checkpoint, each SecAgg+ stage) is a `PhaseMachine`
/// value; `drive` is the only place that waits on the merged stream of transport events and
/// deadlines. Connection-level work (handshakes, enrolment after a reconnect, disconnect
/// bookkeeping) happens here in `handleControl` for every phase alike, and the late-reply
/// rule lives in `LateReplyRule`, so no phase can forget either.
extension Coordinator {
    /// Runs `machine` until it is complete. `deadline` is the id of the phase's timer
    /// (`armDeadline`); another phase's stale timer is skipped. `perform` carries out the
    /// machine's effects and may return a follow-up event (a decoded compressed update),
    /// which is fed to the machine at once. `refresh` updates the machine from coordinator
    /// state after every event (start-up reads who has connected).
    func drive<M: PhaseMachine>(
        _ machine: inout M,
        deadline: Int,
        refresh: (inout M) -> Void = { _ in },
        perform: (M.Effect, inout M) async throws -> PhaseEvent?
    ) async throws {
        refresh(&machine)
        while !machine.isComplete {
            let event: PhaseEvent
            switch await next() {
            case .deadline(let id) where id == deadline: event = .deadline
            case .deadline: continue
            case .transportEnded: event = .transportEnded
            case .transport(let e):
                let message = await handleControl(e)
                if case .closed(let c, _) = e {
                    event = .closed(c)
                } else if let (p, c, m) = message {
                    event = .message(process: p, connection: c, m)
                } else {
                    refresh(&machine)
                    continue
                }
            }
            var next: PhaseEvent? = event
            while let e = next {
                next = nil
                for action in machine.handle(e) {
                    switch action {
                    case .effect(let effect):
                        if let follow = try await perform(effect, &machine) { next = follow }
                    case .violation(let p, let c, let reason): await protocolViolation(c, p, reason)
                    case .info(let text): log.info(text)
                    case .warning(let text): log.warning(text)
                    }
                }
            }
            refresh(&machine)
        }
    }

    /// Waits until each connection in `connections` has sent its reply (or the deadline
    /// passes, or the connection closes). `isReply` picks the reply this phase waits for, which
    /// is passed to `consume` once per connection (a second one is ignored with a warning);
    /// anything else goes to the late-reply rule.
    func collectReplies(
        from connections: Set<ConnectionID>,
        phase: String,
        isReply: @escaping (Message) -> Bool,
        consume: (Int, ConnectionID, Message) -> Void
    ) async {
        var machine = ReplyCollection(from: connections, phase: phase, isReply: isReply)
        let deadline = armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)
        // Nothing here throws: consuming a reply is bookkeeping.
        try? await drive(&machine, deadline: deadline) { effect, _ in
            if case .consume(let p, let c, let m) = effect { consume(p, c, m) }
            return nil
        }
    }

    func next() async -> Input {
        await iterator.next() ?? .transportEnded
    }
}
