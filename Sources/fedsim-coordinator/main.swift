import FedSimRuntime
import Foundation

// fedsim-coordinator --run-dir DIR   (started by `fedsim run`; see docs/architecture.md)
let args = CommandLine.arguments
guard args.count == 3, args[1] == "--run-dir" else {
    FileHandle.standardError.write(Data("usage: fedsim-coordinator --run-dir DIR\n".utf8))
    exit(ExitCodes.badInput)
}
signal(SIGPIPE, SIG_IGN)
exit(await CoordinatorProcess.main(runDirectory: args[2]))
