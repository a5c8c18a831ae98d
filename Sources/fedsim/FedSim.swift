import FedSimCLI
import Foundation

@main
enum FedSimMain {
    static func main() {
        signal(SIGPIPE, SIG_IGN)
        FedSimCommand.main()
    }
}
