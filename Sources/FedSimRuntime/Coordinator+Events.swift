import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// Event plumbing: the transport's events and deadlines as one stream, replies per phase,
/// the late-reply rule, the handshake and protocol violations.
extension Coordinator {
    // MARK: Event plumbing

    func startForwarding() {
        let events = transport.events
        let sink = inputSink
        forwarder = Task {
            for await e in events { sink.yield(.transport(e)) }
            sink.yield(.transportEnded)
        }
    }

    func armDeadline(seconds: Double) -> Int {
        deadlineCounter += 1
        let id = deadlineCounter
        let sink = inputSink
        let clock = self.clock
        Task {
            await clock.sleep(seconds: seconds)
            sink.yield(.deadline(id))
        }
        return id
    }

    func send(_ m: Message, to c: ConnectionID) async {
        bytesSent += await transport.send(m, to: c)
    }

    /// Handles connection-level events common to every phase. Returns the event if it is a
    /// message from an authenticated process that the current phase must look at.
    func handleControl(_ e: TransportEvent) async -> (process: Int, connection: ConnectionID, message: Message)? {
        switch e {
        case .connected(let c):
            unauthenticated.insert(c)
            return nil
        case .closed(let c, let reason):
            if unauthenticated.remove(c) != nil || reason.hasPrefix("refused on accept") {
                log.warning("connection \(c) closed before its handshake: \(reason)")
            }
            if let p = processOf.removeValue(forKey: c) {
                peers[p] = nil
                enrolledProcesses.remove(p)
                lostReasons[p] = reason
                log.warning("client process \(p) disconnected: \(reason)")
            }
            return nil
        case .received(let c, let m, let bytes):
            bytesReceived += bytes
            if case .update(let u) = m {
                let size = FrameCodec.updateFrameBytes(u)
                denseUploadSurplus += size.dense - size.sent
            }
            if unauthenticated.contains(c) {
                await handshake(c, m)
                return nil
            }
            guard let p = processOf[c] else { return nil }  // already closed
            if scenario.secureAggregation.enabled, !enrolledProcesses.contains(p), case .secagg(let env) = m,
                env.stage == SecAggStage.enroll.rawValue, peers[p] != nil, !inWaitForProcesses
            {
                _ = await enroll(process: p, connection: c, env)  // a process that reconnected mid-run
                return nil
            }
            return (p, c, m)
        }
    }

    func reject(_ c: ConnectionID, _ reason: String) async {
        log.warning("rejecting connection \(c): \(reason)")
        unauthenticated.remove(c)
        await send(.reject(reason: reason), to: c)
        await transport.close(c, reason: reason)
    }

    func handshake(_ c: ConnectionID, _ m: Message) async {
        if case .join(let proof) = m {
            await answerJoin(c, proof: proof)
            return
        }
        guard case .hello(let h) = m else {
            await reject(c, "expected hello as the first message, got \(m.kindName)")
            return
        }
        guard SecureRandom.constantTimeEqual(h.token, token) else {
            await reject(c, "wrong run token")
            return
        }
        let p = Int(h.processIndex)
        guard Int(h.processCount) == processCount, p < processCount else {
            await reject(
                c,
                "process \(h.processIndex) of \(h.processCount) does not fit this run of \(processCount) processes"
            )
            return
        }
        let expected = Sharding.range(process: p, of: processCount, devices: population.devices)
        guard Int(h.firstDevice) == expected.lowerBound, Int(h.deviceCount) == expected.count else {
            await reject(
                c,
                "process \(p) claims devices \(h.firstDevice)..<\(Int(h.firstDevice) + Int(h.deviceCount)), expected \(expected.lowerBound)..<\(expected.upperBound)"
            )
            return
        }
        guard !excludedProcesses.contains(p) else {
            await reject(c, "process \(p) was lost before the checkpoint this run resumed from; it stays out")
            return
        }
        guard peers[p] == nil else {
            await reject(c, "process \(p) is already connected")
            return
        }
        unauthenticated.remove(c)
        peers[p] = Peer(connection: c, range: expected)
        processOf[c] = p
        lostReasons[p] = nil
        log.info("client process \(p) joined with devices \(expected.lowerBound)..<\(expected.upperBound)")
        await send(.welcome(Welcome(processIndex: h.processIndex)), to: c)
    }

    /// A process on another host asks for the run it is to join: with the token, it gets the
    /// setup and the connection closes (it comes back with a hello). Nothing is sent to a peer
    /// without the token but the rejection.
    func answerJoin(_ c: ConnectionID, proof: [UInt8]) async {
        guard SecureRandom.constantTimeEqual(proof, token) else {
            await reject(c, "wrong run token")
            return
        }
        guard let runSetup else {
            await reject(c, "this coordinator does not hand out its setup; start the client with --run-dir")
            return
        }
        unauthenticated.remove(c)
        log.info("connection \(c) asked to join; sent the run's setup")
        await send(.setup(runSetup), to: c)
        await transport.close(c, reason: "setup sent")
    }

    func protocolViolation(_ c: ConnectionID, _ p: Int, _ reason: String) async {
        log.warning("client process \(p): \(reason); closing its connection")
        await send(.reject(reason: reason), to: c)
        await transport.close(c, reason: reason)
    }
}
