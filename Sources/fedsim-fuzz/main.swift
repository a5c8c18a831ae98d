import FedSimCore
import FedSimFuzz
import Foundation

// fedsim-fuzz [--inputs N] [--seed S] [--target T ...] [--crash-dir DIR]
// Runs N mutated inputs through each decoder (default: 1,000,000 in total over the targets)
// and exits 0 with a table, or 77 (with the crashing input saved) if a decoder traps.
var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    defer { args.removeSubrange(i...(i + 1)) }
    return args[i + 1]
}
let total = Int(option("--inputs") ?? "") ?? 1_000_000
let seed = UInt64(option("--seed") ?? "") ?? 1
let crashDir = option("--crash-dir") ?? "."
var targets: [Fuzzer.Target] = []
while let t = option("--target") {
    guard let target = Fuzzer.Target(rawValue: t) else {
        FileHandle.standardError.write(
            Data("unknown target \(t); one of \(Fuzzer.Target.allCases.map(\.rawValue))\n".utf8)
        )
        exit(2)
    }
    targets.append(target)
}
if targets.isEmpty { targets = Fuzzer.Target.allCases }
// The text targets are ~100× slower per input than the binary decoders: weight the budget.
let weights: [Fuzzer.Target: Int] = [.frame: 40, .secagg: 40, .directory: 10, .ratings: 8, .log: 8, .scenario: 2]
let weightSum = targets.map { weights[$0]! }.reduce(0, +)
let fuzzer = Fuzzer(seed: seed, crashDirectory: crashDir)
var all = 0
print("| target | inputs | decoded | rejected | inputs/s | distinct rejection reasons |")
print("|---|---|---|---|---|---|")
for t in targets {
    let n = max(1, total * weights[t]! / weightSum)
    let r = fuzzer.run(t, inputs: n)
    all += r.inputs
    print(
        "| \(t.rawValue) | \(r.inputs) | \(r.accepted) | \(r.rejected) | \(Int(Double(r.inputs) / max(r.seconds, 1e-9))) | \(r.reasons.count) |"
    )
}
var peak = 0
if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
{
    peak = Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}
print("\n\(all) inputs, 0 crashes, peak RSS \(peak / 1024) MiB (seed \(seed))")
if peak > 1 << 20 {
    print("peak RSS above 1 GiB: memory is not bounded")
    exit(1)
}
