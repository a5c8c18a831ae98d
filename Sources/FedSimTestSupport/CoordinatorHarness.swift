import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
import FedSimModels
import FedSimRuntime
import FedSimSecAgg
import FedSimWire
import Foundation

/// The coordinator and real client loops over the in-memory transport: deterministic, no
/// sockets. `client(_:)` starts one client process's loop as a task.
public struct CoordinatorHarness {
    public let scenario: Scenario
    public let population: any Population
    public let info: PopulationInfo
    public let token = SecureRandom.bytes(32)
    /// The job's enrollment secret (SecAgg+ identities), given to every client.
    public let enrollment = Enrollment(secret: SecureRandom.bytes(32))
    public let transport = InMemoryTransport()
    public let sink = MemoryMetricsSink()
    public let coordinator: Coordinator

    /// Builds the model on every side instead of the registry (a model defined by a test).
    let model: (@Sendable (ModelContext) -> any RecommenderModel)?

    /// `clock`: the clock of every deadline and client freeze. The default is a `ManualClock`
    /// that nothing advances: in-memory clients answer or close their connection, so no
    /// harness run needs a deadline to end a phase, and on a 2-core machine running the whole
    /// suite a wall-clock deadline fired on clients that were only starved (secure sums
    /// abandoned after minutes). A test about deadlines passes its own clock and advances it.
    public init(
        _ scenario: Scenario,
        clock: (any DeadlineClock)? = nil,
        model: (@Sendable (ModelContext) -> any RecommenderModel)? = nil
    ) {
        self.scenario = scenario
        self.model = model
        population = try! PopulationFactory.make(scenario.data, seed: scenario.seed)
        info = PopulationInfo(population)
        let directory = DeviceDirectory.build(
            population,
            splitter: Splitter(scenario.data.split, seed: Seeds.derive(scenario.seed, "split"))
        )
        coordinator = try! Coordinator(
            scenario: scenario,
            population: info,
            processCount: scenario.runtime.processes,
            token: token,
            transport: transport,
            metrics: sink,
            directory: directory,
            domainNames: population.domainNames,
            recommender: model?(ModelContext(scenario: scenario, info: info))
        )
        coordinator.clock = clock ?? ManualClock()
    }

    /// Starts client process `i`. `freeze` (see `FreezingConnection`) holds chosen messages
    /// back before sending them, as a client process that stops responding for a while would.
    public func client(
        _ i: Int,
        token: [UInt8]? = nil,
        freeze: @escaping @Sendable (Message) -> Double? = { _ in nil }
    )
        -> Task<Error?, Never>
    {
        let shard = Sharding.range(process: i, of: scenario.runtime.processes, devices: population.deviceCount)
        let host = try! DeviceHost(scenario: scenario, population: population, shard: shard, makeModel: model)
        var runner = ClientRunner(
            host: host,
            processIndex: i,
            processCount: scenario.runtime.processes,
            token: token ?? self.token,
            enrollment: enrollment
        )
        let endpoint = transport.connect()
        runner.crash = { endpoint.crash() }  // a `crash` fault drops the in-memory connection
        let r = runner
        let connection = FreezingConnection(base: endpoint, clock: coordinator.clock, freeze: freeze)
        return Task {
            do {
                try await r.run(connection)
                return nil
            } catch { return error }
        }
    }

    public var metrics: [[String: Any]] {
        sink.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// The metrics lines as the schema's type, decoded exactly: a key the schema does not
    /// have, or a value it reads back different, throws (`MetricsJSON.decodeExactly`).
    public func rounds() throws -> [RoundMetrics] {
        try sink.lines.map { try MetricsJSON.decodeExactly(RoundMetrics.self, line: $0) }
    }
}

/// A client connection that freezes before sending chosen messages: `freeze(message)` is how
/// many seconds to wait first (nil: send at once). A test holds a reply past the
/// coordinator's deadline this way, then lets it arrive late.
public struct FreezingConnection<Base: ClientConnection>: ClientConnection {
    let base: Base
    let freeze: @Sendable (Message) -> Double?
    /// The clock the freeze is measured on (a test's `ManualClock`, or the system's).
    let clock: any DeadlineClock

    public init(
        base: Base,
        clock: any DeadlineClock = SystemDeadlineClock(),
        freeze: @escaping @Sendable (Message) -> Double?
    ) {
        self.base = base
        self.clock = clock
        self.freeze = freeze
    }

    public var inbound: AsyncThrowingStream<Message, Error> { base.inbound }

    public func send(_ message: Message) async throws {
        if let seconds = freeze(message) { await clock.sleep(seconds: seconds) }
        try await base.send(message)
    }

    public func close() async { await base.close() }
}
