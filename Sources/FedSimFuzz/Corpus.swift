import FedSimConfig
import FedSimCore
import FedSimData
import FedSimSecAgg
import FedSimWire
import Foundation
import NIOCore

/// Valid inputs each target's mutations start from.
enum Corpus {
    static func inputs(for target: Fuzzer.Target) -> [[UInt8]] {
        switch target {
        case .frame: return frames()
        case .secagg: return secagg()
        case .scenario: return scenarios()
        case .directory:
            return [
                DeviceDirectory(trainSizes: [3, 0, 70_000], mainDomains: [0, 2, 1]).encoded(),
                DeviceDirectory(trainSizes: [], mainDomains: []).encoded(),
            ]
        case .ratings:
            return [
                "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t881250949\n2\t20\t3.5\t891717742\n",
                "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n",
            ].map { Array($0.utf8) }
        case .log:
            return [
                "\u{0}user,item,rating,ts\r\n\"smith, \"\"j\"\"\",i1,4,100\r\nu2,\"multi\nline\",3.5,200\r\nu2,i1,2,300\r\n",
                "\u{1}user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t881250949.0\n2\t20\t3.5\t891717742\n",
                "\u{1}user_id:token\titem_id:token\nu1\ti1\nu1\ti2\n",
            ].map { Array($0.utf8) }
        }
    }

    static func encode(_ m: Message) -> [UInt8] {
        var b = FrameCodec.encode(m)
        return b.readBytes(length: b.readableBytes)!
    }

    static func frames() -> [[UInt8]] {
        let token = [UInt8](repeating: 7, count: 32)
        let eval = DeviceEvaluation(
            device: 3,
            count: 4,
            squaredError: 1.5,
            absoluteError: 1,
            ranked: true,
            hit: 1,
            ndcg: 0.5
        )
        let messages: [Message] = [
            .hello(Hello(token: token, processIndex: 0, processCount: 2, firstDevice: 0, deviceCount: 10)),
            .welcome(Welcome(processIndex: 1)),
            .reject(reason: "wrong run token"),
            .train(DeviceRequest(round: 3, devices: [1, 2, 5], shared: [0.5, -1, 2, 0], clip: 0.5)),
            .update(
                DeviceUpdate(
                    round: 3,
                    device: 2,
                    examples: 12,
                    trainLoss: 0.4,
                    weightedDelta: [0.1, 0, -0.2, 1],
                    weights: [1, 0, 2],
                    withinClip: 1
                )
            ),
            .failed(DeviceFailure(round: 3, device: 5, reason: "no data")),
            .evaluate(DeviceRequest(round: 4, devices: [9], shared: [1, 2])),
            .evaluation(EvaluationReport(round: 4, entries: [eval, eval])),
            .shutdown(reason: "run complete"),
            .secagg(SecAggEnvelope(round: 2, stage: 7, body: [1, 0, 0, 0, 2, 0, 0, 0, 9, 9, 9, 9, 8, 8, 8, 8])),
            .checkpoint(round: 10), .checkpointed(round: 10), .keepBest(round: 10), .restoreBest(round: 12),
            .validate(DeviceRequest(round: 10 | 1 << 31, devices: [4, 7], shared: [0.25, 3])),
            .coldStart(DeviceRequest(round: 12, devices: [4, 7], shared: [0.25, 3])),
            .coldStartReport(
                ColdStartReport(
                    round: 12,
                    entries: [
                        ColdStartEntry(
                            device: 4,
                            slot: 2,
                            count: 9,
                            squaredError: 3.5,
                            absoluteError: 2,
                            ranked: true,
                            hit: 1,
                            ndcg: 0.4,
                            auc: 0.7
                        )
                    ]
                )
            ),
            .join(token: [UInt8](repeating: 7, count: 32)),
            .setup(RunSetup(scenarioJSON: "{\"name\": \"x\"}", populationJSON: "{\"devices\": 3}")),
        ]
        let singles = messages.map(encode)
        // Two frames back to back, as they arrive on a socket.
        return singles + [singles[3] + singles[4], singles[8] + singles[0]]
    }

    static func secagg() -> [[UInt8]] {
        let key = [UInt8](repeating: 1, count: 32)
        let sig = [UInt8](repeating: 2, count: 64)
        let adv = AdvertisedKeys(device: 4, encryptionKey: key, maskKey: key, signature: sig)
        let share = EncryptedShare(from: 4, to: 5, ciphertext: [UInt8](repeating: 3, count: 120))
        let payloads: [SecAggPayload] = [
            .enroll([(UInt32(0), key), (UInt32(1), key)]),
            .begin(SecAggRoundConfig(round: 1, devices: [0, 1, 2, 3], k: 3, t: 2, bits: 32, graphSeed: 9, length: 16)),
            .advertise([adv, adv]),
            .keys([(UInt32(4), [adv]), (UInt32(5), [adv, adv])]),
            .shares([share]),
            .relay([(UInt32(5), [share, share])]),
            .masked(device: 4, vector: [1, 2, 3, 4]),
            .maskedDone,
            .unmask(survivors: [1, 2, 3]),
        ]
        return payloads.map { [$0.stage.rawValue] + $0.encoded() }
    }

    static func scenarios() -> [[UInt8]] {
        let texts = [
            "name: q\nseed: 1\ndata: {source: synthetic, synthetic: {devices: 50}}\ntraining: {rounds: 2, devices_per_round: 10}\n",
            "name: x\nprivacy:\n  mechanism: central\n  clip: 0.5\ntraining:\n  sampling: poisson\n  weighting: uniform\n",
            "fleet:\n  availability: {model: diurnal, timezones: [-5, 0, 9]}\n  deadline_seconds: 30\n",
            "base: &b {rounds: 3}\ntraining: *b\nsweep: {grid: {seed: [1, 2]}}\n",
            "data:\n  partition: {method: dirichlet, alpha: 0.1}\nruntime:\n  faults:\n    - {kind: crash, process: 1, round: 2}\n",
            "training:\n  aggregation: {rule: trimmed_mean, fraction: 0.2}\n  sampling: {rule: stratified, by: activity, strata: 3}\n",
        ]
        return texts.map { Array($0.utf8) }
    }
}
