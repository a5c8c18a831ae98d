import FedSimCore

/// How `fedsim run` starts the client processes (`runtime.cluster`): itself on this host
/// (`local`, the default), or through the cluster's own launcher so that they run on other
/// hosts: Open MPI's `mpirun` with a hostfile, or Slurm's `srun` inside an allocation. The
/// coordinator always runs where `fedsim run` runs; clients on other hosts join it over TCP
/// (`runtime.listen: tcp://…`) and receive the resolved scenario from it. See docs/cluster.md.
public struct ClusterConfig: Codable, Sendable, Equatable {
    public enum Launcher: String, Codable, Sendable, CaseIterable {
        case local, mpirun, srun
    }
    public var launcher = Launcher.local
    /// mpirun's `--hostfile`; empty: mpirun's default (the batch allocation, or this host).
    public var hostfile = ""
    /// The name or address other hosts reach the coordinator by; empty: the listen address's
    /// host, or this host's name when the coordinator listens on every interface (0.0.0.0).
    public var advertise = ""
    /// Extra words for the launcher's command line, placed before the client program (say
    /// `["--mca", "plm_rsh_agent", "ip netns exec"]`, or `["--partition", "cpu"]` for srun).
    public var launcherArguments: [String] = []
    /// The private folder (0700) that holds the run's `token` (and `enrollment.key` under
    /// SecAgg+) at the same path on every host; clients keep their device state there too.
    /// Empty: the run directory itself, which then must be on a file system every host sees.
    public var secrets = ""

    public init() {}

    /// Whether the clients are started by a cluster launcher rather than by `fedsim run`.
    public var isRemote: Bool { launcher != .local }

    init(reading r: ConfigReader, listen: String, processes: Int) {
        self.init()
        launcher = r.choice("launcher", default: launcher)
        hostfile = r.string("hostfile", default: hostfile)
        advertise = r.string("advertise", default: advertise)
        launcherArguments = r.stringList("launcher_arguments", default: launcherArguments)
        secrets = r.string("secrets", default: secrets)
        if isRemote && TCPAddress(parsing: listen) == nil {
            r.fail(
                "launcher",
                "\(launcher.rawValue) starts clients on other hosts, which reach the coordinator over TCP: set runtime.listen: tcp://0.0.0.0:0 (or an address of this host)"
            )
        }
        if isRemote && processes == 0 {
            r.fail(
                "launcher",
                "set runtime.processes to the number of client processes across the hosts (0 means this host's cores)"
            )
        }
        if !hostfile.isEmpty && launcher != .mpirun {
            r.fail("hostfile", "is mpirun's; runtime.cluster.launcher is \(launcher.rawValue)")
        }
        if advertise.contains("/") || advertise.contains(" ") || advertise.contains("://") {
            r.fail("advertise", "\"\(advertise)\" is not a host name or address")
        }
        r.finish()
    }
}
