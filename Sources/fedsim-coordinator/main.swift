import FedSimRuntime
import Foundation

// fedsim-coordinator --run-dir DIR [--resume]   (started by `fedsim run` / `fedsim resume`; see docs/architecture.md)
let args = CommandLine.arguments
guard args.count == 3 || (args.count == 4 && args[3] == "--resume"), args[1] == "--run-dir" else {
    FileHandle.standardError.write(Data("usage: fedsim-coordinator --run-dir DIR [--resume]\n".utf8))
    exit(ExitCodes.badInput)
}
signal(SIGPIPE, SIG_IGN)
exit(await CoordinatorProcess.main(runDirectory: args[2], resume: args.count == 4))
