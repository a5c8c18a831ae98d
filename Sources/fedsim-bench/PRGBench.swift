import CFedSimAES
import CFedSimChaCha
import CSodium
import FedSimCore
import FedSimSecAgg
import Foundation

/// `fedsim-bench prg`: the SecAgg+ mask-expansion PRG candidates side by side in one run, at
/// the mask sizes SecAgg+ expands (one stream per seed, 4 bytes per vector word). Issue 24
/// asks what an AES-NI-based PRG would give against the ChaCha20 keystream the protocol uses
/// before choosing. libsodium 1.0.18 exposes AES only as AES-256-GCM (AES-NI + PCLMUL, x86-64
/// only), so the AES figure is GCM encrypting zeros: its ciphertext is the AES-256-CTR
/// keystream, and the GHASH it also computes makes it an upper bound on an AES-CTR PRG's cost
/// (OpenSSL's `speed -evp aes-256-ctr` gives the CTR-only rate; see docs/performance.md).
/// FedSim's own AES-128-CTR (`Sources/CFedSimAES`, the `aes128ctr` mask PRG) is measured with
/// AES-NI and with VAES, and both PRGs also as masking runs them (added into a mask vector).
/// Rounds alternate the candidates so that load from other processes on a shared machine
/// falls on all of them; the best of the rounds is reported (the machine's rate, not its noise).
enum PRGBench {
    struct Candidate {
        var name: String
        /// False where this CPU lacks the instructions (the cell then says n/a).
        var available = true
        /// Fills `count` bytes at `out` (GCM also writes a 16-byte tag after them) from a 32-byte key;
        /// the last argument is `count` zero bytes for the candidates that encrypt.
        var fill: (UnsafeMutablePointer<UInt8>, Int, [UInt8], UnsafePointer<UInt8>) -> Void
    }

    static let candidates: [Candidate] = [
        Candidate(
            name: "ChaCha20-IETF keystream (libsodium; the SecAgg+ PRG without AVX-512)",
            fill: { out, n, key, _ in
                let nonce = [UInt8](repeating: 0, count: 12)
                _ = crypto_stream_chacha20_ietf(out, UInt64(n), nonce, key)
            }
        ),
        Candidate(
            name: "Salsa20 keystream (libsodium)",
            fill: { out, n, key, _ in
                let nonce = [UInt8](repeating: 0, count: 8)
                _ = crypto_stream_salsa20(out, UInt64(n), nonce, key)
            }
        ),
        Candidate(
            name: "AES-256-GCM of zeros (libsodium, AES-NI + PCLMUL; CTR keystream + GHASH)",
            fill: { out, n, key, zeros in
                let nonce = [UInt8](repeating: 0, count: 12)
                var clen: UInt64 = 0
                _ = crypto_aead_aes256gcm_encrypt(out, &clen, zeros, UInt64(n), nil, 0, nil, nonce, key)
            }
        ),
        // What masking now runs where the CPU has AVX-512 (the same keystream as the first).
        Candidate(
            name: "ChaCha20-IETF keystream (FedSim AVX-512, 16 blocks at a time; the same keystream)",
            fill: { out, n, key, _ in
                guard Sodium.wideChaChaAvailable else { return }
                let nonce = [UInt8](repeating: 0, count: 12)
                UnsafeMutableRawPointer(out).withMemoryRebound(to: UInt32.self, capacity: n / 4) {
                    fedsim_chacha20_words($0, n / 4, key, nonce, Int32(FEDSIM_CHACHA_STORE.rawValue))
                }
            }
        ),
        aes("AES-128-CTR keystream (FedSim AES-NI, 8 blocks in flight)", impl: FEDSIM_AES_NI, mode: FEDSIM_AES_STORE),
        aes(
            "AES-128-CTR keystream (FedSim VAES-512, 32 blocks in flight)",
            impl: FEDSIM_AES_VAES512,
            mode: FEDSIM_AES_STORE
        ),
        Candidate(
            name: "masking with ChaCha20: keystream added into the vector (AVX-512)",
            available: Sodium.wideChaChaAvailable,
            fill: { out, n, key, _ in
                let nonce = [UInt8](repeating: 0, count: 12)
                UnsafeMutableRawPointer(out).withMemoryRebound(to: UInt32.self, capacity: n / 4) {
                    fedsim_chacha20_words($0, n / 4, key, nonce, Int32(FEDSIM_CHACHA_ADD.rawValue))
                }
            }
        ),
        aes("masking with AES-128-CTR: keystream added into the vector (fastest AES)", impl: nil, mode: FEDSIM_AES_ADD),
    ]

    /// FedSim's AES-128-CTR with implementation `impl` (nil: the fastest), keyed by the seed's first half.
    static func aes(_ name: String, impl: fedsim_aes_impl?, mode: fedsim_aes_mode) -> Candidate {
        let available = impl.map { fedsim_aes_best() >= Int32($0.rawValue) } ?? MaskPRG.aesAccelerated
        return Candidate(name: name, available: available) { out, n, key, _ in
            guard available else { return }
            let counter = [UInt8](repeating: 0, count: 16)
            UnsafeMutableRawPointer(out).withMemoryRebound(to: UInt32.self, capacity: n / 4) {
                fedsim_aes128ctr_words(
                    $0,
                    n / 4,
                    key,
                    counter,
                    Int32(mode.rawValue),
                    impl.map { Int32($0.rawValue) } ?? -1
                )
            }
        }
    }

    /// Bytes per second of each candidate for a `bytes`-long stream, best of `rounds`.
    static func measure(bytes: Int, rounds: Int, budgetSeconds: Double) -> [Double] {
        var best = [Double](repeating: 0, count: candidates.count)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes + 16)
        let zeros = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes)
        zeros.initialize(repeating: 0, count: bytes)
        defer {
            buffer.deallocate()
            zeros.deallocate()
        }
        var key = [UInt8](repeating: 5, count: 32)
        // Enough repetitions per round for ~budget/rounds/candidates seconds at 1 GB/s.
        let reps = max(1, Int(budgetSeconds / Double(rounds * candidates.count) * 1e9) / bytes)
        for c in candidates { c.fill(buffer, bytes, key, zeros) }  // warm the code and the buffer
        for _ in 0..<rounds {
            for (i, c) in candidates.enumerated() {
                let t = monotonicSeconds()
                for r in 0..<reps {
                    key[0] = UInt8(truncatingIfNeeded: r)
                    c.fill(buffer, bytes, key, zeros)
                }
                best[i] = max(best[i], Double(reps * bytes) / (monotonicSeconds() - t))
            }
        }
        return best
    }

    static func run(markdown: Bool) {
        _ = sodium_init()
        guard crypto_aead_aes256gcm_is_available() == 1 else {
            print("prg: this CPU has no AES-NI + PCLMUL (libsodium's AES-256-GCM is unavailable); ChaCha20 stays")
            return
        }
        // 1,800 words: the quickstart evaluation's exposure vector (2 × 900 items), where the
        // per-stream setup shows; ~30k words: the ML-100K MF update under SecAgg+ (1,682 items ×
        // (16 + bias + count)); 100k and 1M words: the `bench-secagg` model sizes.
        let sizes = [1_800, 30_276, 100_000, 1_000_000]
        var lines = [
            "| mask words (bytes) | " + candidates.map(\.name).joined(separator: " | ")
                + " | AES-GCM ÷ ChaCha20 | AVX-512 ÷ libsodium ChaCha20 | AES-128-CTR ÷ AVX-512 ChaCha20 | masking: AES ÷ ChaCha20 |",
            "|---|" + String(repeating: "---|", count: candidates.count + 4),
        ]
        for words in sizes {
            let rates = measure(bytes: words * 4, rounds: 5, budgetSeconds: 3)
            let ratio = rates[2] / rates[0]
            let wide = Sodium.wideChaChaAvailable ? formatFixed(rates[3] / rates[0], 2) + "×" : "no AVX-512"
            let cells = zip(candidates, rates).map { $0.available ? formatFixed($1 / 1e9, 2) + " GB/s" : "n/a" }
            // The fastest AES this CPU runs against the ChaCha20 masking runs (AVX-512, else libsodium).
            let aesBest = zip(candidates[4...5], rates[4...5]).filter(\.0.available).map(\.1).max()
            let chacha = Sodium.wideChaChaAvailable ? rates[3] : rates[0]
            let aesRatio = aesBest.map { formatFixed($0 / chacha, 2) + "×" } ?? "no AES-NI"
            let masking =
                candidates[6].available && candidates[7].available ? formatFixed(rates[7] / rates[6], 2) + "×" : "n/a"
            lines.append(
                "| \(words) (\(words * 4)) | " + cells.joined(separator: " | ")
                    + " | \(formatFixed(ratio, 2))× | \(wide) | \(aesRatio) | \(masking) |"
            )
            FileHandle.standardError.write(
                Data(
                    "prg \(words) words: \(zip(candidates.map(\.name), cells).map { "\($0): \($1)" }.joined(separator: "; ")); AES-GCM ÷ ChaCha20 \(formatFixed(ratio, 2))×; AES-128-CTR ÷ ChaCha20 \(aesRatio); masking \(masking)\n"
                        .utf8
                )
            )
        }
        if markdown { print(lines.joined(separator: "\n")) }
    }
}
