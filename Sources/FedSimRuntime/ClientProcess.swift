import FedSimConfig
import FedSimCore
import FedSimData
import FedSimSecAgg
import FedSimWire
import Foundation

/// The `fedsim-client` process: loads its shard of the population and serves its devices.
///
/// Two ways to start one. `fedsim run` starts it on the coordinator's host with the run
/// directory, which holds the scenario. A cluster launcher (mpirun, srun) starts it on any
/// host with only the coordinator's address and a folder holding the run's secrets: the
/// process asks the coordinator for the run (`join`), takes its index from the launcher's
/// rank, and rebuilds its devices from the scenario's seed (or reads the data path, which
/// every host must see).
public enum ClientProcess {
    /// Started by `fedsim run` on the coordinator's host.
    public static func main(runDirectory: String, index: Int) async -> Int32 {
        var log = Log("client-\(index)")
        let dir = RunDirectory(path: runDirectory)
        do {
            let scenario = try dir.loadScenario()
            let token = try dir.readToken()
            let processes = scenario.runtime.resolvedProcesses(cores: ProcessInfo.processInfo.activeProcessorCount)
            guard index >= 0 && index < processes else {
                log.error("process index \(index) is outside 0..<\(processes)")
                return ExitCodes.badInput
            }
            try await serve(
                scenario: scenario,
                runtime: scenario.runtime,
                dir: dir,
                token: token,
                processes: processes,
                index: index,
                log: log
            )
            return ExitCodes.success
        } catch {
            log.minimum = .debug
            log.error("\(error)")
            return ExitCodes.runFailed
        }
    }

    /// Started by a cluster launcher: joins the coordinator at `address`. `secrets` is a
    /// private folder (0700) with the run's `token` (and `enrollment.key` under SecAgg+),
    /// where this process also keeps its device state; `index` nil: the launcher's rank.
    ///
    /// Exits like a local client (0 once the coordinator says shutdown, 1 on an error, 2 for a
    /// bad setup); `fedsim run` starts mpirun with `--enable-recovery`, so one failed rank
    /// does not tear down the others.
    public static func main(join address: TCPAddress, secrets: String, index: Int?) async -> Int32 {
        var log = Log("client-\(index.map(String.init) ?? "?")")
        let dir = RunDirectory(path: secrets)
        do {
            try dir.checkPrivate()
            let token = try dir.readToken()
            let rank = try index.map { LauncherRank(index: $0, size: nil) } ?? LauncherRank.fromEnvironment()
            log = Log("client-\(rank.index)")
            let setup = try await fetchSetup(address, dir: dir, token: token)
            // Unchanged: its digest is what the checkpoints and state snapshots are bound to.
            let scenario = try Scenario.load(yaml: setup.scenarioJSON, file: "the coordinator's scenario")
            var runtime = scenario.runtime
            runtime.connect = address.description
            let processes = scenario.runtime.processes
            if let size = rank.size, size != processes {
                throw RunDirectory.SetupError(
                    description:
                        "the launcher started \(size) ranks but the run has \(processes) client processes (runtime.processes)"
                )
            }
            guard rank.index >= 0 && rank.index < processes else {
                throw RunDirectory.SetupError(
                    description: "process index \(rank.index) is outside 0..<\(processes) (runtime.processes)"
                )
            }
            log.info("joined \(address) as process \(rank.index) of \(processes)")
            if setup.restoreRound > 0 {
                let info = try PopulationInfo.parse(setup.populationJSON)
                try Launcher.restoreOwnSnapshot(
                    state: try dir.stateFile(process: rank.index),
                    round: Int(setup.restoreRound),
                    devices: Sharding.range(process: rank.index, of: processes, devices: info.devices).count,
                    digest: ScenarioDigest.of(scenario)
                )
                log.info("restored this process's device state to the checkpoint of round \(setup.restoreRound)")
            }
            try await serve(
                scenario: scenario,
                runtime: runtime,
                dir: dir,
                token: token,
                processes: processes,
                index: rank.index,
                log: log
            )
        } catch {
            log.minimum = .debug
            log.error("\(error)")
            return error is RunDirectory.SetupError ? ExitCodes.badInput : ExitCodes.runFailed
        }
        return ExitCodes.success
    }

    /// Asks the coordinator for the run (`join` → `setup`) on a connection of its own. The
    /// coordinator may still be starting: the connection is retried for up to 120 s.
    static func fetchSetup(_ address: TCPAddress, dir: RunDirectory, token: [UInt8]) async throws -> RunSetup {
        var runtime = RuntimeConfig()
        runtime.listen = address.description
        runtime.connect = address.description
        runtime.connectTimeoutSeconds = 120
        let conn = try await Transports.connect(runtime, dir: dir, token: token)
        try await conn.send(.join(token: token))
        defer { Task { await conn.close() } }
        for try await message in conn.inbound {
            switch message {
            case .setup(let s): return s
            case .reject(let reason):
                throw RunDirectory.SetupError(description: "the coordinator at \(address) refused to join: \(reason)")
            default:
                throw RunDirectory.SetupError(description: "expected the run's setup, got \(message.kindName)")
            }
        }
        throw RunDirectory.SetupError(description: "the coordinator at \(address) closed before sending the run")
    }

    /// Builds this process's devices and serves them until the coordinator says shutdown;
    /// `runtime` says where to connect.
    static func serve(
        scenario: Scenario,
        runtime: RuntimeConfig,
        dir: RunDirectory,
        token: [UInt8],
        processes: Int,
        index: Int,
        log: Log
    ) async throws {
        let population = try PopulationFactory.make(scenario.data, seed: scenario.seed)
        let shard = Sharding.range(process: index, of: processes, devices: population.deviceCount)
        let host = try DeviceHost(
            scenario: scenario,
            population: population,
            shard: shard,
            statePath: try dir.stateFile(process: index)
        )
        let enrollment = scenario.secureAggregation.enabled ? Enrollment(secret: try dir.readEnrollmentSecret()) : nil
        var fired: Set<Int> = []
        while true {
            let conn = try await Transports.connect(runtime, dir: dir, token: token)
            var runner = ClientRunner(
                host: host,
                processIndex: index,
                processCount: processes,
                token: token,
                enrollment: enrollment
            )
            runner.log = log
            runner.firedFaults = fired
            do {
                try await runner.run(conn)
                return
            } catch let r as ClientRunner.Reconnect {
                // A `disconnect` fault: come back with the same devices and their state.
                for (i, f) in scenario.runtime.faults.enumerated() where f.process == index && f.kind == .disconnect {
                    fired.insert(i)
                }
                try await Task.sleep(for: .milliseconds(Int64(r.seconds * 1000)))
                log.info("reconnecting")
            }
        }
    }
}

/// A client's index (and the job's size) as a cluster launcher gives it: Open MPI
/// (`OMPI_COMM_WORLD_RANK`), PMIx (`PMIX_RANK`), Slurm's srun (`SLURM_PROCID`) or another
/// PMI launcher (`PMI_RANK`), first found wins.
public struct LauncherRank: Equatable, Sendable {
    public var index: Int
    /// The number of ranks, when the launcher says (to check against `runtime.processes`).
    public var size: Int?

    public init(index: Int, size: Int?) {
        self.index = index
        self.size = size
    }

    static let variables: [(rank: String, size: String)] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMIX_RANK", "PMIX_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
        ("PMI_RANK", "PMI_SIZE"),
    ]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LauncherRank {
        for (rankName, sizeName) in variables {
            guard let text = environment[rankName] else { continue }
            guard let index = Int(text), index >= 0 else {
                throw RunDirectory.SetupError(description: "\(rankName)=\(text) is not a rank")
            }
            return LauncherRank(index: index, size: environment[sizeName].flatMap { Int($0) })
        }
        throw RunDirectory.SetupError(
            description:
                "no --index and no launcher rank in the environment (\(variables.map(\.rank).joined(separator: ", ")))"
        )
    }
}
