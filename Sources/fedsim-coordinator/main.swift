import FedSimRuntime
import Foundation

// fedsim-coordinator --run-dir DIR [--resume] [--supervisor PID]
// (started by `fedsim run` / `fedsim resume`, which pass their pid; see docs/architecture.md)
var args = Array(CommandLine.arguments.dropFirst())
var supervisor: Int32?
if let i = args.firstIndex(of: "--supervisor"), i + 1 < args.count, let pid = Int32(args[i + 1]) {
    supervisor = pid
    args.removeSubrange(i...(i + 1))
}
guard args.count == 2 || (args.count == 3 && args[2] == "--resume"), args[0] == "--run-dir" else {
    FileHandle.standardError.write(Data("usage: fedsim-coordinator --run-dir DIR [--resume] [--supervisor PID]\n".utf8))
    exit(ExitCodes.badInput)
}
signal(SIGPIPE, SIG_IGN)
if let supervisor { Supervision.stopWithLauncher(supervisor) }
exit(await CoordinatorProcess.main(runDirectory: args[1], resume: args.count == 3))
