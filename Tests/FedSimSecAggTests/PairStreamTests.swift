import FedSimCore
import FedSimSecAgg
import Testing

/// Two devices of one process expand each pairwise mask stream once (`SecAggSharedWork`):
/// the masked vectors, and so the bytes each device sends, must be exactly those of devices
/// that expand every stream themselves.
@Suite struct PairStreamTests {
    @Test func aKeptStreamGivesWhatExpandingAgainGives() {
        var rng = Xoshiro256(seed: 3)
        for n in [1, 7, 1_000, 30_001] {
            let seed = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let u = (0..<n).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            let v = (0..<n).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            var scratch: [UInt32] = []
            var (eu, ev) = (u, v)
            Sodium.addStream(seed: seed, to: &eu, subtract: false, scratch: &scratch)
            Sodium.addStream(seed: seed, to: &ev, subtract: true, scratch: &scratch)
            let work = SecAggSharedWork()
            work.willMask = [2]
            var (su, sv) = (u, v)
            work.addPairStream(seed: seed, partner: 2, to: &su, subtract: false, scratch: &scratch)
            work.willMask = []
            work.addPairStream(seed: seed, partner: 1, to: &sv, subtract: true, scratch: &scratch)
            #expect(su == eu && sv == ev)
            #expect(work.streamExpansions == 1 && work.streamHits == 1 && work.streamBytes == 0)
        }
    }

    @Test func overBudgetOrRemotePartnersExpandTwice() {
        let seed = [UInt8](repeating: 9, count: 32)
        var scratch: [UInt32] = []
        for (budget, pending) in [(0, Set<UInt32>([2])), (64 << 20, Set<UInt32>())] {
            let work = SecAggSharedWork(streamBudgetBytes: budget)
            work.willMask = pending
            var a = [UInt32](repeating: 5, count: 100)
            var b = a
            work.addPairStream(seed: seed, partner: 2, to: &a, subtract: false, scratch: &scratch)
            work.addPairStream(seed: seed, partner: 1, to: &b, subtract: true, scratch: &scratch)
            #expect(work.streamHits == 0 && work.streamExpansions == 2)
            #expect(zip(a, b).allSatisfy { $0 &+ $1 == 10 })  // the pair's masks cancel
        }
    }

    /// A whole round's devices in one process: masking with shared streams, then the same
    /// devices (copies at the same stage) masking on their own, give the same vectors.
    @Test func aProcessSharingStreamsSendsTheSameMaskedInputs() throws {
        let (config, ids, inputs) = SecAggProtocolTests.setup(n: 16, k: 8, t: 5, bits: 24, length: 301, seed: 11)
        let graph = config.graph()
        let work = SecAggSharedWork()
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        var server = SecAggServer(config: config, identityKey: pki)
        var devices: [UInt32: SecAggDevice] = [:]
        for d in config.devices {
            var dev = try SecAggDevice(device: d, identity: ids[d]!, config: config, graph: graph, sharedWork: work)
            try server.receive(try dev.advertise())
            devices[d] = dev
        }
        for d in config.devices {
            try server.receive(
                shares: try devices[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki),
                from: d
            )
        }
        var alone = devices  // copies at the same stage
        var scratch: [UInt32] = []
        work.willMask = Set(config.devices)
        var shared: [UInt32: [UInt32]] = [:]
        for d in config.devices {
            work.willMask.remove(d)
            shared[d] = try devices[d]!.maskedInput(inputs[d]!, sharesForMe: server.shares(for: d), scratch: &scratch)
        }
        #expect(work.streamHits > 0 && work.streamBytes == 0)
        let hits = work.streamHits
        for d in config.devices {
            let y = try alone[d]!.maskedInput(inputs[d]!, sharesForMe: server.shares(for: d), scratch: &scratch)
            #expect(y == shared[d], "device \(d)")
        }
        #expect(work.streamHits == hits)  // the second pass expanded every stream itself
    }
}
