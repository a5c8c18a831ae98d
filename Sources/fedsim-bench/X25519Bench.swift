import CSodium
import FedSimCore
import FedSimSecAgg
import Foundation

/// `fedsim-bench x25519`: SecAgg+'s key agreements, libsodium one at a time against FedSim's
/// eight-lane AVX-512 IFMA X25519, in one run. Rows: the bare scalar multiplication, and the
/// whole agreement (X25519 + BLAKE2b) as a device makes its k of them with one key pair —
/// k = 20 (ML-100K's training rounds) and k = 48 (the quickstart's secure evaluation). Rounds
/// alternate the two so load from other processes falls on both; the median of the rounds'
/// rates is reported with the best, and the ratio is per round (same-run A/B).
enum X25519Bench {
    struct Row {
        var name: String
        /// Runs `reps` batches of `k` agreements, one way or the other.
        var run: (_ vectorized: Bool, _ reps: Int) -> Void
        var k: Int
    }

    static func rows() -> [Row] {
        var rng = Xoshiro256(seed: 25519)
        func random() -> [UInt8] { (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let scalars = (0..<48).map { _ in random() }
        let peers = (0..<48).map { _ in Sodium.AgreementKeyPair(secretKey: random()).publicKey }
        let own = Sodium.AgreementKeyPair(secretKey: random())
        var rows = [
            Row(
                name: "X25519 alone, 48 independent (scalar, point)",
                run: { v, reps in
                    for _ in 0..<reps { _ = Sodium.scalarMultiply(scalars: scalars, points: peers, vectorized: v) }
                },
                k: 48
            )
        ]
        for k in [8, 20, 48] {
            rows.append(
                Row(
                    name: "agreeBatch (X25519 + BLAKE2b), k = \(k) peers, one key pair",
                    run: { v, reps in
                        for _ in 0..<reps {
                            _ = try! Sodium.agreeBatch(
                                secretKey: own.secretKey,
                                ownPublicKey: own.publicKey,
                                peerPublicKeys: Array(peers.prefix(k)),
                                context: "fedsim-secagg-mask",
                                vectorized: v
                            )
                        }
                    },
                    k: k
                )
            )
        }
        return rows
    }

    static func run(markdown: Bool, rounds: Int = 9) {
        _ = sodium_init()
        guard Sodium.batchX25519Available else {
            print("x25519: this CPU has no AVX-512 IFMA; agreements stay on libsodium")
            return
        }
        var lines = [
            "| agreements | libsodium /s (median, best) | AVX-512 IFMA /s (median, best) | ratio (median of rounds) |",
            "|---|---|---|---|",
        ]
        for row in rows() {
            let reps = max(1, 2_000 / row.k)
            row.run(false, 1)
            row.run(true, 1)
            var narrow: [Double] = []
            var wide: [Double] = []
            for _ in 0..<rounds {
                for v in [false, true] {
                    let t = monotonicSeconds()
                    row.run(v, reps)
                    let rate = Double(reps * row.k) / (monotonicSeconds() - t)
                    if v { wide.append(rate) } else { narrow.append(rate) }
                }
            }
            let ratio = median(zip(wide, narrow).map { $0 / $1 })
            let cells = [narrow, wide].map { "\(Int(median($0).rounded())) (\(Int($0.max()!.rounded())))" }
            lines.append("| \(row.name) | \(cells[0]) | \(cells[1]) | \(formatFixed(ratio, 2))× |")
            FileHandle.standardError.write(
                Data(
                    "x25519 \(row.name): libsodium \(cells[0]), IFMA \(cells[1]), ratio \(formatFixed(ratio, 2))×\n"
                        .utf8
                )
            )
        }
        if markdown { print(lines.joined(separator: "\n")) }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
