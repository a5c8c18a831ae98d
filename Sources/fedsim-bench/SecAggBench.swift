import CSodium
import FedSimCore
import FedSimSecAgg
import Foundation

/// `fedsim-bench secagg`: SecAgg+ cost per device and for the coordinator, beside the floor
/// measured in the same run: ChaCha20 bytes the protocol must expand × this machine's
/// ChaCha20 rate, plus key agreements and signatures × their measured rates.
enum SecAggBench {
    struct Rates {
        var chachaBytesPerSecond: Double
        var agreementSeconds: Double
        var signSeconds: Double
        var verifySeconds: Double
    }

    static func measureRates() -> Rates {
        let chacha = Sodium.measureRawKeystream()
        let withAdd = Sodium.measureStreamThroughput()
        FileHandle.standardError.write(
            Data(
                "ChaCha20 keystream \(formatFixed(chacha / 1e9, 2)) GB/s; keystream + masked add \(formatFixed(withAdd / 1e9, 2)) GB/s\n"
                    .utf8
            )
        )
        // As a device agrees: one key pair with 40 peers at a time (`Sodium.agreeBatch`, eight
        // X25519s at once where the CPU has AVX-512 IFMA).
        let a = Sodium.AgreementKeyPair.random()
        let peers = (0..<40).map { _ in Sodium.AgreementKeyPair.random().publicKey }
        var t = monotonicSeconds()
        for _ in 0..<50 {
            _ = try? Sodium.agreeBatch(
                secretKey: a.secretKey,
                ownPublicKey: a.publicKey,
                peerPublicKeys: peers,
                context: "x"
            )
        }
        let agree = (monotonicSeconds() - t) / 2_000
        let id = Sodium.SigningKeyPair.random()
        let msg = [UInt8](repeating: 1, count: 100)
        t = monotonicSeconds()
        var sig: [UInt8] = []
        for _ in 0..<2_000 { sig = id.sign(msg) }
        let sign = (monotonicSeconds() - t) / 2_000
        t = monotonicSeconds()
        for _ in 0..<2_000 { _ = Sodium.verify(signature: sig, message: msg, publicKey: id.publicKey) }
        let verify = (monotonicSeconds() - t) / 2_000
        return Rates(chachaBytesPerSecond: chacha, agreementSeconds: agree, signSeconds: sign, verifySeconds: verify)
    }

    static func run(sizes: [(n: Int, d: Int)], markdown: Bool) throws {
        let rates = measureRates()
        FileHandle.standardError.write(
            Data(
                "secagg floor rates: ChaCha20 \(formatFixed(rates.chachaBytesPerSecond / 1e9, 2)) GB/s, X25519+BLAKE2b \(formatFixed(rates.agreementSeconds * 1e6, 1)) µs, Ed25519 sign \(formatFixed(rates.signSeconds * 1e6, 1)) µs, verify \(formatFixed(rates.verifySeconds * 1e6, 1)) µs\n"
                    .utf8
            )
        )
        var lines: [String] = []
        if markdown {
            lines.append(
                "| n | d | k | t | device total (ms) | device floor (ms) | ratio | device masking (ms) | masking floor (ms) | ratio | coordinator (ms) | coordinator floor (ms) | bytes up / device |"
            )
            lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        }
        for (n, d) in sizes {
            let p = SecAggParameters.choose(n: n, dropoutRate: 0.1, corruptionRate: 0.1)
            var rng = Xoshiro256(seed: UInt64(n * 31 + d))
            let devices = (0..<n).map { UInt32($0) }
            let config = SecAggRoundConfig(
                round: 1,
                devices: devices,
                k: p.k,
                t: p.t,
                bits: 32,
                graphSeed: 1,
                length: d
            )
            var ids: [UInt32: Sodium.SigningKeyPair] = [:]
            var inputs: [UInt32: [UInt32]] = [:]
            for u in devices {
                ids[u] = Sodium.SigningKeyPair(
                    seed: Sodium.hash([UInt8](repeating: UInt8(u & 255), count: 4) + le32(u))
                )
                inputs[u] = (0..<d).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            }
            var drops = LocalRound.Dropouts()
            // 5% drop before masking
            for u in devices where rng.nextUnitDouble() < 0.05 { drops.beforeMasked.insert(u) }
            let (_, survivors, timing) = try LocalRound(config: config, identities: ids).run(
                inputs: inputs,
                dropouts: drops
            )
            let k = Double(p.k)
            // Floors per device: (k + 1) streams of 4d bytes; sign once, verify k, agree 2k (share keys, mask seeds).
            let maskFloor = (k + 1) * Double(4 * d) / rates.chachaBytesPerSecond + k * rates.agreementSeconds
            let deviceFloor = maskFloor + rates.signSeconds + k * rates.verifySeconds + k * rates.agreementSeconds
            // Coordinator floor: verify n signatures, expand a self mask per survivor and the pair masks of each dropout.
            let dropped = Double(n - survivors.count - drops.beforeAdvertise.count)
            let coordFloor =
                Double(n) * rates.verifySeconds + Double(survivors.count) * Double(4 * d) / rates.chachaBytesPerSecond
                + dropped * k * (Double(4 * d) / rates.chachaBytesPerSecond + rates.agreementSeconds)
            let dev = timing.deviceSeconds / Double(n)
            let mask = timing.maskingSeconds / Double(survivors.count)  // the devices that masked
            let row = [
                String(n), String(d), String(p.k), String(p.t),
                formatFixed(dev * 1e3, 2), formatFixed(deviceFloor * 1e3, 2), formatFixed(dev / deviceFloor, 2),
                formatFixed(mask * 1e3, 2), formatFixed(maskFloor * 1e3, 2), formatFixed(mask / maskFloor, 2),
                formatFixed(timing.serverSeconds * 1e3, 0), formatFixed(coordFloor * 1e3, 0),
                formatFixed(timing.bytesUpPerDevice, 0),
            ]
            lines.append(
                markdown
                    ? "| " + row.joined(separator: " | ") + " |"
                    : "n=\(n) d=\(d) k=\(p.k) t=\(p.t): device \(row[4]) ms (floor \(row[5]), ×\(row[6])), masking \(row[7]) ms (floor \(row[8]), ×\(row[9])), coordinator \(row[10]) ms (floor \(row[11])), \(row[12]) B up/device"
            )
            FileHandle.standardError.write(Data((lines.last! + "\n").utf8))
        }
        if markdown { print(lines.joined(separator: "\n")) }
    }

    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}
