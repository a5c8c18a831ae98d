import FedSimConfig
import FedSimCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starting the client processes through the cluster's launcher (`runtime.cluster`): one
/// `mpirun` or `srun` process stands in for the P local clients. It starts
/// `fedsim-client --join ADDRESS --secrets DIR` on every rank; each takes its index from the
/// launcher's rank and asks the coordinator for the run. The launcher is told to keep the job
/// going when a rank fails, so a lost host's clients count as dropped, as on one host.
extension Launcher {
    /// The launcher's command line (program first).
    public static func clusterCommand(
        _ cluster: ClusterConfig,
        processes: Int,
        join: TCPAddress,
        secrets: String,
        client: String,
        runningAsRoot: Bool = getuid() == 0
    ) -> [String] {
        let clientWords = [client, "--join", join.description, "--secrets", secrets]
        switch cluster.launcher {
        case .local:
            return clientWords
        case .mpirun:
            // --enable-recovery: a rank that exits or dies leaves the others running (Open MPI
            // aborts the whole job otherwise). --bind-to none: a client is a multi-threaded
            // event loop, not one MPI compute rank. --tag-output: every rank's log lines reach
            // this host, each marked with its rank.
            var words = ["mpirun", "-np", String(processes), "--enable-recovery", "--bind-to", "none", "--tag-output"]
            // Containers often run as root, which Open MPI refuses without this flag.
            if runningAsRoot { words.append("--allow-run-as-root") }
            if !cluster.hostfile.isEmpty { words += ["--hostfile", cluster.hostfile] }
            return words + cluster.launcherArguments + clientWords
        case .srun:
            // --kill-on-bad-exit=0 and --no-kill: one failed task or node does not end the step.
            return ["srun", "--ntasks=\(processes)", "--kill-on-bad-exit=0", "--no-kill", "--label"]
                + cluster.launcherArguments + clientWords
        }
    }

    /// The address clients on other hosts use: `advertise` if set, else the bound address,
    /// with this host's name in place of a wildcard (0.0.0.0, ::).
    public static func advertisedAddress(bound: TCPAddress, cluster: ClusterConfig) -> TCPAddress {
        if !cluster.advertise.isEmpty { return TCPAddress(host: cluster.advertise, port: bound.port) }
        guard ["0.0.0.0", "::", "*"].contains(bound.host) else { return bound }
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        return TCPAddress(host: String(cString: name), port: bound.port)
    }

    /// Where the clients read the run's secrets: `runtime.cluster.secrets` (filled from the
    /// run directory when it is reachable from here), else the run directory itself.
    func clusterSecrets(_ dir: RunDirectory, _ cluster: ClusterConfig) throws -> String {
        guard !cluster.secrets.isEmpty else { return dir.path }
        let folder = cluster.secrets
        try RunDirectory.makeFolders((folder as NSString).deletingLastPathComponent)
        guard mkdir(folder, 0o700) == 0 || errno == EEXIST else { throw StorageError("create", folder) }
        chmod(folder, 0o700)
        let target = RunDirectory(path: folder)
        try target.checkPrivate()
        for name in ["token", "enrollment.key"] where FileManager.default.fileExists(atPath: dir.path + "/" + name) {
            try target.write(try dir.read(name), to: name, mode: 0o600)
        }
        return folder
    }

    /// Waits for the coordinator to bind (its `coordinator.addr`), then starts the cluster
    /// launcher with the address clients are to join. Throws if the coordinator exits first.
    func startClusterClients(
        _ dir: RunDirectory,
        scenario: Scenario,
        coordinator: Process,
        resume: Bool
    ) throws
        -> Process
    {
        let deadline = monotonicSeconds() + scenario.runtime.connectTimeoutSeconds
        var bound: TCPAddress?
        while bound == nil {
            bound = (try? String(contentsOfFile: dir.addressFile, encoding: .utf8)).flatMap {
                TCPAddress(parsing: $0)
            }
            if bound != nil { break }
            guard coordinator.isRunning, monotonicSeconds() < deadline else {
                throw RunDirectory.SetupError(
                    description:
                        "the coordinator did not start listening; see \(dir.logsDir)/coordinator.log"
                )
            }
            usleep(20_000)
        }
        let cluster = scenario.runtime.cluster
        let join = Self.advertisedAddress(bound: bound!, cluster: cluster)
        let words = Self.clusterCommand(
            cluster,
            processes: scenario.runtime.processes,
            join: join,
            secrets: try clusterSecrets(dir, cluster),
            client: binDirectory + "/fedsim-client"
        )
        try dir.write(words.joined(separator: " ") + "\n", to: "launch-command")
        guard let program = Self.which(words[0]) else {
            throw RunDirectory.SetupError(
                description:
                    "runtime.cluster.launcher is \(cluster.launcher.rawValue) but `\(words[0])` is not on PATH (Open MPI: apt-get install openmpi-bin)"
            )
        }
        return try spawn(path: program, Array(words.dropFirst()), log: dir.logsDir + "/clients.log", append: resume)
    }

    /// The executable `name` resolves to on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
