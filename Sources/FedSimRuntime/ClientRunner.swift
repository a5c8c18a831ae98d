import FedSimCore
import FedSimConfig
import FedSimWire

#if canImport(Glibc)
import Glibc
#endif

/// A client process's protocol loop: handshake, then serve train and evaluate requests for
/// its devices until the coordinator says shutdown or the connection ends.
public struct ClientRunner {
    public let host: DeviceHost
    public let processIndex: Int
    public let processCount: Int
    public let token: [UInt8]
    public var log = Log("client")
    /// What a `crash` fault does. A real process SIGKILLs itself; in-memory tests substitute.
    public var crash: () async -> Void = { kill(getpid(), SIGKILL) }

    public init(host: DeviceHost, processIndex: Int, processCount: Int, token: [UInt8]) {
        self.host = host
        self.processIndex = processIndex
        self.processCount = processCount
        self.token = token
        log = Log("client-\(processIndex)")
    }

    public struct Rejected: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs until shutdown. Throws if the coordinator rejects us or the connection breaks.
    public func run(_ conn: some ClientConnection) async throws {
        try await conn.send(.hello(Hello(token: token, processIndex: UInt32(processIndex), processCount: UInt32(processCount),
                                         firstDevice: UInt32(host.shard.lowerBound), deviceCount: UInt32(host.shard.count))))
        let faults = host.scenario.runtime.faults.filter { $0.process == processIndex }
        for try await message in conn.inbound {
            switch message {
            case .welcome:
                log.info("joined: hosting devices \(host.shard.lowerBound)..<\(host.shard.upperBound)")
            case .reject(let reason):
                throw Rejected(description: "coordinator rejected this process: \(reason)")
            case .shutdown(let reason):
                log.info("shutdown: \(reason)")
                await conn.close()
                return
            case .train(let req):
                try await train(req, conn: conn, faults: faults)
            case .evaluate(let req):
                let entries = req.devices.filter { host.hosts(Int($0)) }.map { host.evaluate(device: Int($0), shared: req.shared) }
                try await conn.send(.evaluation(EvaluationReport(round: req.round, entries: entries)))
            case .hello, .update, .failed, .evaluation:
                log.warning("ignoring unexpected \(message.kindName) message from the coordinator")
            }
        }
    }

    func train(_ req: DeviceRequest, conn: some ClientConnection, faults: [FaultConfig]) async throws {
        guard req.shared.count == host.sharedCount else {
            log.error("train request for round \(req.round) carries \(req.shared.count) parameters, expected \(host.sharedCount)")
            for d in req.devices {
                try await conn.send(.failed(DeviceFailure(round: req.round, device: d, reason: "model size mismatch")))
            }
            return
        }
        for (n, d) in req.devices.enumerated() {
            for f in faults where f.round == Int(req.round) && f.afterUpdates == n {
                switch f.kind {
                case .crash:
                    log.warning("fault injection: crashing in round \(req.round) after \(n) updates")
                    await crash()
                case .stall:
                    log.warning("fault injection: stalling \(f.seconds)s in round \(req.round)")
                    try await Task.sleep(for: .milliseconds(Int64(f.seconds * 1000)))
                }
            }
            guard host.hosts(Int(d)) else {
                try await conn.send(.failed(DeviceFailure(round: req.round, device: d, reason: "device not hosted here")))
                continue
            }
            let u = host.train(device: Int(d), round: Int(req.round), shared: req.shared)
            try await conn.send(.update(DeviceUpdate(round: req.round, device: d, examples: UInt32(u.examples),
                                                     trainLoss: u.trainLoss, weightedDelta: u.weightedDelta, weights: u.weights)))
        }
    }
}
