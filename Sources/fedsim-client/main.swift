import FedSimCore
import FedSimRuntime
import Foundation

let usage = """
    usage: fedsim-client --run-dir DIR --index I
           fedsim-client --join tcp://HOST:PORT --secrets DIR [--index I]

    The first form is what `fedsim run` starts on the coordinator's host. The second is for
    cluster launchers (mpirun, srun): the process asks the coordinator at HOST:PORT for the
    run, takes its index from the launcher's rank (OMPI_COMM_WORLD_RANK, PMIX_RANK,
    SLURM_PROCID, PMI_RANK) unless --index is given, and reads the run's token (and
    enrollment.key under SecAgg+) from DIR, a 0700 folder where it also keeps its device
    state. See docs/cluster.md.

    """

/// `--name value` pairs; nil when an option is unknown, repeated or lacks its value.
func options(_ words: ArraySlice<String>) -> [String: String]? {
    var out: [String: String] = [:]
    var rest = words
    while let name = rest.popFirst() {
        guard ["--run-dir", "--index", "--join", "--secrets"].contains(name), out[name] == nil,
            let value = rest.popFirst()
        else { return nil }
        out[name] = value
    }
    return out
}

func fail() -> Never {
    FileHandle.standardError.write(Data(usage.utf8))
    exit(ExitCodes.badInput)
}

guard let opts = options(CommandLine.arguments.dropFirst()) else { fail() }
let index: Int? = opts["--index"].map { text in
    guard let i = Int(text) else { fail() }
    return i
}
signal(SIGPIPE, SIG_IGN)
// Clients leave when the coordinator says so (after it has checkpointed) or when its
// connection closes, so they ignore SIGINT (a Ctrl-C sent to every process by hand, say).
// SIGTERM and SIGKILL still stop them. See Supervision.
signal(SIGINT, SIG_IGN)
if let runDir = opts["--run-dir"], let index, opts["--join"] == nil, opts["--secrets"] == nil {
    exit(await ClientProcess.main(runDirectory: runDir, index: index))
}
guard let join = opts["--join"], let secrets = opts["--secrets"], opts["--run-dir"] == nil else { fail() }
guard let address = TCPAddress(parsing: join), address.port != 0 else {
    FileHandle.standardError.write(Data("fedsim-client: --join \(join) is not tcp://HOST:PORT\n".utf8))
    exit(ExitCodes.badInput)
}
exit(await ClientProcess.main(join: address, secrets: secrets, index: index))
