import FedSimRuntime
import Foundation

// fedsim-client --run-dir DIR --index I   (started by `fedsim run`; see docs/architecture.md)
let args = CommandLine.arguments
guard args.count == 5, args[1] == "--run-dir", args[3] == "--index", let index = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: fedsim-client --run-dir DIR --index I\n".utf8))
    exit(ExitCodes.badInput)
}
signal(SIGPIPE, SIG_IGN)
// Clients leave when the coordinator says so (after it has checkpointed) or when its
// connection closes, so they ignore SIGINT (a Ctrl-C sent to every process by hand, say).
// SIGTERM and SIGKILL still stop them. See Supervision.
signal(SIGINT, SIG_IGN)
exit(await ClientProcess.main(runDirectory: args[2], index: index))
